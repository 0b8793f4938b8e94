"""Transactions with confluent-kafka:

1. a transactional producer commits 10 records, aborts 10, commits 5: a read_committed consumer
   sees the 15 committed ones, a read_uncommitted one all 25; the offsets are Kafka's, where
   each commit or abort marker takes one offset (0-9, 11-20, 22-26; the end is 28);
2. while a transaction is open, read_committed's end (the last stable offset) stays at its
   first record, read_uncommitted's end moves past it, and only read_uncommitted reads it;
3. read-process-write: a consumer of group G and a transactional producer copy 20 records
   in transactions that carry G's offsets (send_offsets_to_transaction); one transaction is
   aborted and its input read again; the output, read_committed, is each input once, and G's
   committed offset is the input's end.
"""

from common import check, check_eq, name, start, step, summary, Deadline, wait_until
from confluent_kafka import (Consumer, KafkaException, Producer, TopicPartition,
                             OFFSET_BEGINNING)

bootstrap, _ = start()
topic = name("txn")


def producer(txn_id):
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id,
                  "transaction.timeout.ms": 60000})
    p.init_transactions(30)
    return p


def consumer(isolation, group=None, **extra):
    config = {"bootstrap.servers": bootstrap, "group.id": group or name(f"reader-{isolation}"),
              "enable.auto.commit": False, "isolation.level": isolation,
              "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100}
    config.update(extra)
    return Consumer(config)


def read(c, tps, want, seconds=30):
    """Reads from `tps` until `want` records (or the deadline): [(offset, value)]."""
    c.assign(tps)
    got = []
    d = Deadline(seconds)
    while len(got) < want and d.left():
        for m in c.consume(num_messages=500, timeout=0.3):
            check(m.error() is None, f"consume error: {m.error()}")
            got.append((m.offset(), m.value()))
    return got


step("commit, abort, commit")
p = producer(name("txn-id"))
for label, n, commit in (("committed", 10, True), ("aborted", 10, False), ("later", 5, True)):
    p.begin_transaction()
    for i in range(n):
        p.produce(topic, value=f"{label}-{i}".encode(), partition=0)
    if commit:
        p.commit_transaction(30)
    else:
        p.flush(30)  # stored before the abort, so read_uncommitted has them to read
        p.abort_transaction(30)

committed = ([(i, f"committed-{i}".encode()) for i in range(10)]
             + [(22 + i, f"later-{i}".encode()) for i in range(5)])
everything = ([(i, f"committed-{i}".encode()) for i in range(10)]
              + [(11 + i, f"aborted-{i}".encode()) for i in range(10)]
              + [(22 + i, f"later-{i}".encode()) for i in range(5)])
rc = consumer("read_committed")
ru = consumer("read_uncommitted")
tp0 = [TopicPartition(topic, 0, OFFSET_BEGINNING)]
check_eq(read(rc, tp0, 15), committed, "read_committed records (offset, value)")
check_eq(read(ru, tp0, 25), everything, "read_uncommitted records (offset, value)")
for c, label in ((rc, "read_committed"), (ru, "read_uncommitted")):
    check_eq(c.get_watermark_offsets(TopicPartition(topic, 0), timeout=20, cached=False), (0, 28),
             f"{label} watermarks after three transactions (markers take offsets)")

step("an open transaction")
p.begin_transaction()
for i in range(3):
    p.produce(topic, value=f"open-{i}".encode(), partition=0)
p.flush(30)
check_eq(read(ru, [TopicPartition(topic, 0, 28)], 3),
         [(28 + i, f"open-{i}".encode()) for i in range(3)], "read_uncommitted reads open records")
check_eq(ru.get_watermark_offsets(TopicPartition(topic, 0), timeout=20, cached=False), (0, 31),
         "read_uncommitted's end (the high watermark) with a transaction open")
check_eq(rc.get_watermark_offsets(TopicPartition(topic, 0), timeout=20, cached=False), (0, 28),
         "read_committed's end (the last stable offset) with a transaction open")
p.commit_transaction(30)
check_eq(read(rc, [TopicPartition(topic, 0, 28)], 3),
         [(28 + i, f"open-{i}".encode()) for i in range(3)], "read_committed after the commit")
check_eq(rc.get_watermark_offsets(TopicPartition(topic, 0), timeout=20, cached=False), (0, 32),
         "read_committed's end after the commit")

step("read-process-write")
source, sink, group = name("source"), name("sink"), name("rpw-group")
plain = Producer({"bootstrap.servers": bootstrap})
for i in range(20):
    plain.produce(source, key=str(i).encode(), value=f"in-{i}".encode())
check_eq(plain.flush(30), 0, "source records unsent")
worker = consumer("read_committed", group=group)
worker.subscribe([source])
tx = producer(name("rpw-id"))
rounds = aborted = 0
done = set()
d = Deadline(60)
while len(done) < 20 and d.left():
    msgs = [m for m in worker.consume(num_messages=7, timeout=0.3)]
    if not msgs:
        continue
    for m in msgs:
        check(m.error() is None, f"consume error: {m.error()}")
    tx.begin_transaction()
    for m in msgs:
        tx.produce(sink, key=m.key(), value=m.value().replace(b"in-", b"out-"))
    tx.send_offsets_to_transaction(worker.position(worker.assignment()),
                                   worker.consumer_group_metadata(), 30)
    rounds += 1
    if rounds == 2 and not aborted:
        # The second round fails: abort, and read its input again from the group's offsets.
        # Flushed first, so that its records are in the log for read_uncommitted to see:
        # librdkafka purges what it has not sent yet at an abort, and whether the linger
        # outlasted the offsets' round trips is a matter of the broker's speed.
        tx.flush(30)
        tx.abort_transaction(30)
        aborted = len(msgs)
        tps = worker.committed(worker.assignment(), timeout=20)
        for tp in tps:
            worker.seek(TopicPartition(tp.topic, tp.partition,
                                       tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))
        continue
    tx.commit_transaction(30)
    done.update(int(m.key()) for m in msgs)
if len(done) < 20:
    d.expired(f"20 source records processed ({len(done)})")
check(aborted > 0, "a round was aborted")
worker.close()
out_committed = read(consumer("read_committed"), [TopicPartition(sink, 0, OFFSET_BEGINNING)], 20)
check_eq(sorted(v for _, v in out_committed), sorted(f"out-{i}".encode() for i in range(20)),
         "the output read_committed: each input once")
out_all = read(consumer("read_uncommitted"), [TopicPartition(sink, 0, OFFSET_BEGINNING)],
               20 + aborted)
check_eq(len(out_all), 20 + aborted, "the output read_uncommitted: the aborted round too")
probe = consumer("read_committed", group=group)
[tp] = probe.committed([TopicPartition(source, 0)], timeout=20)
check_eq(tp.offset, 20, "the group's committed offset, committed by the transactions")
probe.close()

summary(committed=15, aborted=10, markers_take_offsets=True, open_transaction_lso=28,
        read_process_write={"records": 20, "rounds": rounds, "aborted_round_records": aborted})
