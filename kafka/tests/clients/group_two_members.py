"""group_member.py proven against a broker: two copies of it in one group split a 4-partition
topic, 2 partitions each, each reads exactly its partitions' records, and together every
record once (strom's tests play the second member with an in-process consumer)."""

import json
import os
import subprocess
import sys

from common import check, check_eq, fail, name, start, step, summary
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, prefix = start()
topic, group = name("split"), name("group")
PARTITIONS, PER_PARTITION = 4, 25
step("creating the topic")
admin = AdminClient({"bootstrap.servers": bootstrap})
for f in admin.create_topics([NewTopic(topic, PARTITIONS, 1)], operation_timeout=20).values():
    f.result(timeout=30)
here = os.path.dirname(os.path.abspath(__file__))
step("starting two members")
procs = [subprocess.Popen([sys.executable, os.path.join(here, "group_member.py"), bootstrap,
                           prefix, topic, group, "2", str(PER_PARTITION)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
         for _ in range(2)]


def line(proc):
    out = proc.stdout.readline()  # bounded: each member ends itself at its own deadline
    if not out:
        fail(f"member {proc.pid} exited ({proc.wait()}) without a line")
    return json.loads(out)


step("waiting for the split")
assigned = [line(p)["assigned"] for p in procs]
check_eq(sorted(assigned[0] + assigned[1]), list(range(PARTITIONS)), "the members' partitions")
step("producing")
producer = Producer({"bootstrap.servers": bootstrap})
for p in range(PARTITIONS):
    for i in range(PER_PARTITION):
        producer.produce(topic, value=f"{p}-{i}".encode(), partition=p)
check_eq(producer.flush(30), 0, "records unsent")
step("the members' reads")
reads = [line(p) for p in procs]
for p in procs:
    p.stdin.close()
for p in procs:
    check_eq(p.wait(timeout=60), 0, f"member {p.pid}'s exit status")
read = {}
for r in reads:
    check_eq(sorted(int(p) for p in r["read"]), sorted(r["assigned"]), "partitions read")
    read.update(r["read"])
check_eq({int(p): v for p, v in read.items()},
         {p: [f"{p}-{i}" for i in range(PER_PARTITION)] for p in range(PARTITIONS)},
         "every record read once, by the member holding its partition")
summary(split=assigned, records=PARTITIONS * PER_PARTITION)
