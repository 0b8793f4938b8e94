"""One remote member of a consumer group whose other member runs elsewhere (in strom's tests,
an in-process strom consumer; against Kafka, a second copy of this program, see
group_two_members.py).

    group_member.py BOOTSTRAP PREFIX TOPIC GROUP MEMBERS PER_PARTITION

It joins GROUP (confluent-kafka) on TOPIC, an existing topic with no records yet, and once it
holds its share of the partitions (partitions / MEMBERS) prints `{"assigned": [...]}`; the
other side then produces PER_PARTITION records to every partition. It reads its partitions'
records, commits, and prints its summary line with what it read; it keeps its partitions
(stays in the group) until its standard input closes, then leaves."""

import json
import sys

from common import check, check_eq, fail, start, step, Deadline
from confluent_kafka import Consumer

bootstrap, prefix = start()
if len(sys.argv) != 7:
    fail("usage: group_member.py BOOTSTRAP PREFIX TOPIC GROUP MEMBERS PER_PARTITION")
topic, group, members, per_partition = sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])

c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
              "auto.offset.reset": "earliest", "session.timeout.ms": 10000,
              "heartbeat.interval.ms": 500, "fetch.wait.max.ms": 100})
partitions = len(c.list_topics(topic, timeout=20).topics[topic].partitions)
check(partitions % members == 0, f"{partitions} partitions do not split over {members} members")
c.subscribe([topic])
step("joining")
got = {}
d = Deadline(60)
announced = None
while d.left():
    for m in c.consume(num_messages=500, timeout=0.2):
        check(m.error() is None, f"consume error: {m.error()}")
        check(announced is not None, f"record {m.partition()}/{m.offset()} before the split")
        check(m.partition() in announced,
              f"record {m.partition()}/{m.offset()} outside {announced}")
        got.setdefault(m.partition(), []).append((m.offset(), m.value().decode()))
    assigned = sorted(tp.partition for tp in c.assignment())
    if announced is None and len(assigned) == partitions // members:
        announced = assigned
        step("reading")
        print(json.dumps({"assigned": assigned}), flush=True)
    if announced is not None:
        check_eq(assigned, announced, "this member's partitions (no rebalance once split)")
        if all(len(got.get(p, [])) >= per_partition for p in announced):
            break
else:
    d.expired(f"the split and {per_partition} records in each of this member's partitions")
for p in announced:
    check_eq([o for o, _ in got[p]], list(range(per_partition)), f"offsets read in {topic}/{p}")
c.commit(asynchronous=False)
print(json.dumps({"program": "group_member", "ok": True, "assigned": announced,
                  "read": {str(p): [v for _, v in got[p]] for p in announced}}), flush=True)
step("holding the partitions until stdin closes")
sys.stdin.read()
c.close()
