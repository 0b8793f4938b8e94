"""confluent-kafka (librdkafka) creates a topic and fills it, for a test that then copies it
elsewhere and compares both sides with `read_topic.py`:

    python produce_records.py BOOTSTRAP TOPIC PARTITIONS COUNT [FIRST]

Records FIRST (default 0) to FIRST + COUNT - 1 go to TOPIC, created with PARTITIONS partitions
unless it exists, from an idempotent producer, in batches of several records, the second half
lz4-compressed: record i has key `station-{i % 7}`
(none for every fifth), value `reading {i}` (none, a tombstone, for every eleventh), headers
`unit` and `seq`, and CreateTime timestamp 1700000000000 + 13 i. Every partition gets records:
record i goes to partition i % PARTITIONS. Prints `{"produced": COUNT, ...}` once each record is
acknowledged; exits 1 with `FAIL produce_records: <what>` otherwise.
"""

import sys

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

import common


def main():
    bootstrap, _ = common.start()
    if len(sys.argv) not in (5, 6):
        print("usage: produce_records.py BOOTSTRAP TOPIC PARTITIONS COUNT [FIRST]",
              file=sys.stderr)
        sys.exit(2)
    topic, partitions, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    first = int(sys.argv[5]) if len(sys.argv) == 6 else 0

    common.step(f"creating {topic}")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, partitions, 1)],
                                 operation_timeout=20).values():
        try:
            f.result(timeout=30)
        except KafkaException as e:
            common.check(e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS,
                         f"creating {topic}: {e}")

    failures = []

    def delivered(err, _msg):
        if err is not None:
            failures.append(err)

    half = first + count // 2
    for start, end, codec in [(first, half, "none"), (half, first + count, "lz4")]:
        common.step(f"producing records {start}..{end} ({codec})")
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                             "compression.type": codec, "linger.ms": 20,
                             "message.timeout.ms": 30000})
        for i in range(start, end):
            producer.produce(
                topic,
                key=None if i % 5 == 0 else f"station-{i % 7}".encode(),
                value=None if i % 11 == 0 else f"reading {i}".encode(),
                headers=[("unit", b"celsius"), ("seq", str(i).encode())],
                timestamp=1_700_000_000_000 + 13 * i,
                partition=i % partitions,
                on_delivery=delivered)
        common.check_eq(producer.flush(30), 0, "records still unsent after flush")
    common.check(not failures, f"records not delivered: {failures[:3]}")
    common.summary(produced=count, topic=topic, partitions=partitions)


if __name__ == "__main__":
    main()
