"""The consumer-group scenario both clients run (groups_kafka_python.py, groups_confluent.py):

1. consumer A joins group G of a 4-partition topic alone and is given all 4 partitions; B joins
   and the group splits them, 2 and 2, disjoint;
2. 400 records produced; A and B each read only their partitions, commit after every poll, and
   together read every record exactly once;
3. B closes (leaves the group): A is given all 4 partitions, and reads the next 200 records,
   starting at B's committed offsets (nothing of B's read again);
4. A closes; the group's committed offsets are the end of every partition; 100 more records;
   a new consumer C of the group reads exactly those 100 (it resumes at the committed offsets,
   though auto_offset_reset is earliest), which is what a restart of the server must keep.
"""

import threading
import time

from common import check, check_eq, fail, lock, name, step, wait_until
from kafka import KafkaAdminClient, KafkaProducer

PARTITIONS = 4


class Member(threading.Thread):
    """One consumer of the group, polling in its own thread (a join blocks until every member
    rejoins, so members must not share a thread)."""

    def __init__(self, label, client, seen):
        super().__init__(daemon=True, name=label)
        self.label, self.client, self.seen = label, client, seen
        self.assigned = set()
        self.got = []
        self.stopping = threading.Event()
        self.closed = threading.Event()
        self.error = None

    def run(self):
        try:
            consumer = self.client.open()
            while not self.stopping.is_set():
                records = self.client.poll(consumer)
                if records:
                    # Commit before counting, so that a count seen by the test is committed.
                    self.client.commit(consumer)
                assigned = self.client.assignment(consumer)
                with lock:
                    self.assigned = assigned
                    for p, o, v in records:
                        if (p, o) in self.seen:
                            self.error = (f"{self.label} read {p}/{o} that "
                                          f"{self.seen[(p, o)]} had read")
                        if p not in assigned:
                            self.error = f"{self.label} read {p}/{o} outside {sorted(assigned)}"
                        self.seen[(p, o)] = self.label
                        self.got.append((p, o, v))
            self.client.close(consumer)
        except Exception as e:  # reported by the test thread, with the member's name
            self.error = f"{self.label}: {type(e).__name__}: {e}"
        finally:
            self.closed.set()

    def stop(self, seconds=30):
        self.stopping.set()
        if not self.closed.wait(seconds):
            fail(f"{self.label} did not close within {seconds} s")
        check(self.error is None, str(self.error))


def run(bootstrap, client_factory):
    topic = name("orders")
    group = name("group")
    step("creating the topic")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
    admin.create_topics({topic: {"num_partitions": PARTITIONS, "replication_factor": 1}},
                        wait_for_metadata=True)
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    produced = []

    def produce(n):
        start = len(produced)
        futures = [producer.send(topic, value=f"r{i}".encode(), partition=i % PARTITIONS)
                   for i in range(start, start + n)]
        producer.flush(timeout=30)
        for i, f in zip(range(start, start + n), futures):
            md = f.get(timeout=30)
            produced.append((md.partition, md.offset, f"r{i}".encode()))

    seen = {}
    members = []

    def member(label):
        m = Member(label, client_factory(topic, group), seen)
        m.start()
        members.append(m)
        return m

    def errors():
        for m in members:
            check(m.error is None, str(m.error))

    def assigned(m):
        errors()
        with lock:
            return set(m.assigned)

    def total():
        errors()
        with lock:
            return len(seen)

    all_partitions = set(range(PARTITIONS))
    step("A joining alone")
    a = member("A")
    wait_until(lambda: assigned(a) == all_partitions, 60, "A alone assigned all 4 partitions")
    step("B joining")
    b = member("B")
    wait_until(lambda: assigned(b) and assigned(a) | assigned(b) == all_partitions
               and not assigned(a) & assigned(b), 60, "A and B splitting the partitions")
    check_eq((len(assigned(a)), len(assigned(b))), (2, 2), "partitions per member")
    split = (sorted(assigned(a)), sorted(assigned(b)))

    step("A and B reading 400 records")
    produce(400)
    wait_until(lambda: total() >= 400, 60, "400 records read by A and B")
    with lock:
        check(a.got and b.got, f"both members read: A {len(a.got)}, B {len(b.got)}")
        check_eq({p for p, _, _ in a.got}, set(split[0]), "A's records' partitions")
        check_eq({p for p, _, _ in b.got}, set(split[1]), "B's records' partitions")
        check_eq(sorted(a.got + b.got), sorted(produced), "the records A and B read together")

    step("B leaving")
    b.stop()
    wait_until(lambda: assigned(a) == all_partitions, 60, "A assigned all 4 after B left")
    step("A reading 200 more")
    a_before = len(a.got)
    produce(200)
    wait_until(lambda: total() >= 600, 60, "600 records read")
    with lock:
        check_eq(sorted(a.got[a_before:]), sorted(produced[400:]), "what A read after B left")
    a.stop()

    step("the group's committed offsets")
    committed = client_factory(topic, group).committed(PARTITIONS)
    check_eq(committed, {p: 150 for p in range(PARTITIONS)}, "committed offsets after A closed")

    step("C resuming at the committed offsets")
    produce(100)
    c = member("C")
    wait_until(lambda: total() >= 700, 60, "C reading the 100 new records")
    c.stop()
    check_eq(sorted(c.got), sorted(produced[600:]), "what C read (only the records after the "
             "committed offsets)")
    check_eq(sorted((p, o) for p, o in seen), sorted((p, o) for p, o, _ in produced),
             "every record read exactly once")
    producer.close(timeout=10)
    return {"records": len(produced), "split": split, "committed_after_leave": committed,
            "members": ["A", "B", "C"]}
