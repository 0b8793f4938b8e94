"""Committed offsets and records across a restart of the broker, in two runs with the same
PREFIX: `restart_resume.py BOOTSTRAP PREFIX before`, restart the broker on the same data, then
`restart_resume.py BOOTSTRAP PREFIX after`.

before: 100 records (keys, headers, timestamps) over 2 partitions; group G reads them and
        commits offsets 30 and 20 (as if it had processed that far); a transaction is committed
        and another aborted.
after:  the records, the end offsets (markers included), G's committed offsets and the
        transactions' outcome are all as they were: a new member of G resumes at 30 and 20
        and reads exactly the rest; read_committed still hides the aborted records; new
        records continue at the old end offsets.
"""

import sys
import time

from common import check, check_eq, fail, name, start, step, summary, Deadline
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition, OFFSET_BEGINNING
from kafka import KafkaAdminClient

bootstrap, _ = start()
phase = sys.argv[3] if len(sys.argv) > 3 else fail("usage: restart_resume.py BOOTSTRAP PREFIX "
                                                   "before|after")
topic, txn_topic, group = name("data"), name("txn"), name("group")
# Fixed timestamps (November 2023), so that both runs expect the same records.
base = 1_700_000_000_000
records = [(i % 2, f"k{i}".encode(), f"v{i}".encode(), base + i) for i in range(100)]
expected = {0: [r for r in records if r[0] == 0], 1: [r for r in records if r[0] == 1]}
COMMITTED = {0: 30, 1: 20}


def consumer(**extra):
    config = {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
              "auto.offset.reset": "earliest"}
    config.update(extra)
    return Consumer(config)


def read(c, want, seconds=30):
    got = []
    d = Deadline(seconds)
    while len(got) < want and d.left():
        for m in c.consume(num_messages=500, timeout=0.3):
            check(m.error() is None, f"consume error: {m.error()}")
            got.append(m)
    return got


RETRIABLE = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
             KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.NOT_COORDINATOR}


def retrying(call):
    """`call()`'s answer. For a moment after a restart Kafka answers retriable errors
    (NOT_LEADER_FOR_PARTITION while it takes leadership of its partitions again, NOT_COORDINATOR
    while it loads its groups); clients retry those, and so does this, within a deadline."""
    d = Deadline(30)
    while True:
        try:
            return call()
        except KafkaException as e:
            if e.args[0].code() not in RETRIABLE or not d.left():
                raise
        time.sleep(0.1)


def check_record(m, what):
    p, key, value, ts = expected[m.partition()][m.offset()]
    check_eq((m.key(), m.value(), m.headers(), m.timestamp()[1]),
             (key, value, [("n", value)], ts), f"{what}: record {m.partition()}/{m.offset()}")


if phase == "before":
    step("producing")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
    admin.create_topics({topic: {"num_partitions": 2, "replication_factor": 1}},
                        wait_for_metadata=True)
    admin.close()
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for part, key, value, ts in records:
        p.produce(topic, key=key, value=value, headers=[("n", value)], timestamp=ts,
                  partition=part)
    check_eq(p.flush(30), 0, "records unsent")
    step("transactions")
    tx = Producer({"bootstrap.servers": bootstrap, "transactional.id": name("txn-id")})
    tx.init_transactions(30)
    for label, commit in (("kept", True), ("dropped", False)):
        tx.begin_transaction()
        for i in range(3):
            tx.produce(txn_topic, value=f"{label}-{i}".encode(), partition=0)
        if commit:
            tx.commit_transaction(30)
        else:
            tx.flush(30)
            tx.abort_transaction(30)
    step("the group reading and committing")
    c = consumer()
    c.subscribe([topic])
    got = read(c, 100)
    check_eq(len(got), 100, "records read before the restart")
    for m in got:
        check_record(m, "before the restart")
    c.commit(offsets=[TopicPartition(topic, p, o) for p, o in COMMITTED.items()],
             asynchronous=False)
    c.close()
    summary(phase=phase, records=100, committed=COMMITTED)

step("after the restart: offsets")
probe = consumer()


def watermarks(t, p):
    return retrying(lambda: probe.get_watermark_offsets(TopicPartition(t, p), timeout=20,
                                                        cached=False))


for p in (0, 1):
    check_eq(watermarks(topic, p), (0, 50), f"watermarks of {topic}/{p} after the restart")
check_eq(watermarks(txn_topic, 0), (0, 8),
         f"watermarks of {txn_topic}/0 (6 records, 2 markers) after the restart")
committed = {tp.partition: tp.offset for tp in retrying(
    lambda: probe.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=20))}
check_eq(committed, COMMITTED, "the group's committed offsets after the restart")
probe.close()
step("after the restart: resuming")
c = consumer()
c.subscribe([topic])
got = read(c, 50)
check_eq(sorted((m.partition(), m.offset()) for m in got),
         sorted([(0, o) for o in range(30, 50)] + [(1, o) for o in range(20, 50)]),
         "what a new member of the group reads after the restart")
for m in got:
    check_record(m, "after the restart")
c.close()
step("after the restart: transactions")
rc = consumer(**{"group.id": name("rc"), "isolation.level": "read_committed"})
rc.assign([TopicPartition(txn_topic, 0, OFFSET_BEGINNING)])
check_eq([(m.offset(), m.value()) for m in read(rc, 3)],
         [(i, f"kept-{i}".encode()) for i in range(3)], "read_committed after the restart")
rc.close()
step("after the restart: appending")
p = Producer({"bootstrap.servers": bootstrap})
offsets = []
p.produce(topic, value=b"new", partition=1,
          on_delivery=lambda err, msg: offsets.append((err, msg.offset())))
check_eq(p.flush(30), 0, "the new record unsent")
check_eq(offsets, [(None, 50)], "a new record's offset after the restart")
summary(phase=phase, resumed_at=COMMITTED, read_after=50, transactions_kept=True)
