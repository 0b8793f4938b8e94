"""confluent-kafka (librdkafka) fills a topic with plain and transactional writes, for a test
that imports it and holds the copy against `read_committed.py`:

    python produce_transactions.py BOOTSTRAP TOPIC PARTITIONS COUNT

TOPIC is created with PARTITIONS partitions. Records 0 to COUNT - 1 come from an idempotent,
lz4-compressing producer in batches of several records (linger), record i to partition
i % PARTITIONS, with key `station-{i % 7}` (none for every fifth), value `reading {i}` (none, a
tombstone, for every eleventh), headers `unit` and `seq`, and CreateTime timestamp
1700000000000 + 13 i. Halfway through, a transactional producer writes 4 records to every
partition in a transaction it commits, then 4 to every partition in one it aborts, so that the
committed records are COUNT + 4 PARTITIONS. Prints `{"committed": N, ...}` once all is
acknowledged; exits 1 with `FAIL produce_transactions: <what>` otherwise.
"""

import sys

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

import common


def main():
    bootstrap, _ = common.start()
    if len(sys.argv) != 5:
        print("usage: produce_transactions.py BOOTSTRAP TOPIC PARTITIONS COUNT", file=sys.stderr)
        sys.exit(2)
    topic, partitions, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

    common.step(f"creating {topic}")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(timeout=30)

    failures = []

    def delivered(err, _msg):
        if err is not None:
            failures.append(err)

    plain = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                      "compression.type": "lz4", "linger.ms": 20,
                      "message.timeout.ms": 30000})

    def produce(start, end):
        common.step(f"producing records {start}..{end}")
        for i in range(start, end):
            plain.produce(
                topic,
                key=None if i % 5 == 0 else f"station-{i % 7}".encode(),
                value=None if i % 11 == 0 else f"reading {i}".encode(),
                headers=[("unit", b"celsius"), ("seq", str(i).encode())],
                timestamp=1_700_000_000_000 + 13 * i,
                partition=i % partitions,
                on_delivery=delivered)
            # A full local queue is drained rather than refused.
            plain.poll(0)
        common.check_eq(plain.flush(30), 0, "records still unsent after flush")

    produce(0, count // 2)
    common.step("a committed and an aborted transaction")
    t = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"{topic}-txn",
                  "compression.type": "lz4"})
    t.init_transactions(30)
    for outcome in ("commit", "abort"):
        t.begin_transaction()
        for p in range(partitions):
            for i in range(4):
                t.produce(topic, key=f"station-{i}".encode(), value=f"{outcome} {p} {i}".encode(),
                          headers=[("outcome", outcome.encode())],
                          timestamp=1_700_000_100_000 + i, partition=p)
        if outcome == "commit":
            t.commit_transaction(30)
        else:
            t.flush(30)
            t.abort_transaction(30)
    produce(count // 2, count)
    common.check(not failures, f"records not delivered: {failures[:3]}")
    common.summary(committed=count + 4 * partitions, topic=topic, partitions=partitions)


if __name__ == "__main__":
    main()
