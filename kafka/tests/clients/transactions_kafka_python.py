"""Transactions with kafka-python 3: a transactional producer commits 10 records, aborts 10,
commits 5; a kafka-python read_committed consumer sees the 15 committed ones and a
read_uncommitted one all 25, at Kafka's offsets (each marker takes one); end_offsets under
each isolation level; a read-process-write round with send_offsets_to_transaction."""

from common import check, check_eq, name, start, step, summary, Deadline
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

bootstrap, _ = start()
topic = name("txn")
tp = TopicPartition(topic, 0)

step("commit, abort, commit")
p = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=name("txn-id"))
p.init_transactions()
for label, n, commit in (("committed", 10, True), ("aborted", 10, False), ("later", 5, True)):
    p.begin_transaction()
    for i in range(n):
        p.send(topic, value=f"{label}-{i}".encode(), partition=0)
    if commit:
        p.commit_transaction()
    else:
        p.flush(timeout=30)
        p.abort_transaction()


def read(isolation, want, group=None):
    c = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation, group_id=group,
                      enable_auto_commit=False, auto_offset_reset="earliest",
                      fetch_max_wait_ms=100)
    c.assign([tp])
    got = []
    d = Deadline(30)
    while len(got) < want and d.left():
        for msgs in c.poll(timeout_ms=300).values():
            got.extend((m.offset, m.value) for m in msgs)
    end = c.end_offsets([tp])[tp]
    c.close()
    return got, end


committed = ([(i, f"committed-{i}".encode()) for i in range(10)]
             + [(22 + i, f"later-{i}".encode()) for i in range(5)])
everything = ([(i, f"committed-{i}".encode()) for i in range(10)]
              + [(11 + i, f"aborted-{i}".encode()) for i in range(10)]
              + [(22 + i, f"later-{i}".encode()) for i in range(5)])
got, end = read("read_committed", 15)
check_eq(got, committed, "read_committed records (offset, value)")
check_eq(end, 28, "read_committed end offset")
got, end = read("read_uncommitted", 25)
check_eq(got, everything, "read_uncommitted records (offset, value)")
check_eq(end, 28, "read_uncommitted end offset")

step("read-process-write")
group = name("rpw-group")
sink = name("sink")
p.begin_transaction()
for offset, value in committed:
    p.send(sink, value=value.upper(), partition=0)
p.send_offsets_to_transaction({tp: OffsetAndMetadata(28, "", -1)}, group)
p.commit_transaction()
p.close(timeout=10)
c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
check_eq(c.committed(tp), 28, "the group's offset committed by the transaction")
c.close()
c = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                  enable_auto_commit=False, auto_offset_reset="earliest")
c.assign([TopicPartition(sink, 0)])
out = []
d = Deadline(30)
while len(out) < 15 and d.left():
    for msgs in c.poll(timeout_ms=300).values():
        out.extend(m.value for m in msgs)
check_eq(out, [v.upper() for _, v in committed], "the output, read_committed")
c.close()

summary(committed=15, aborted=10, markers_take_offsets=True, send_offsets_to_transaction=True)
