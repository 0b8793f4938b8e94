"""The writer of a source cluster that `strom_kafka::Import` reads (kafka/tests/clients.rs
`import_from_a_confluent_producer`): confluent-kafka (librdkafka) produces to a topic of 3
partitions

1. 30 keyed records with headers and timestamps, lz4-compressed, partitioned by librdkafka's
   own murmur2 partitioner (`consistent_random` would differ from Kafka's Java client);
2. a transaction of 6 records that commits and one of 6 that aborts.

It prints the topic's name and what a read_committed reader must find: 36 records.
"""

from common import base_timestamp, name, start, step, summary
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, _ = start()
topic = name("readings")

step("create the topic")
admin = AdminClient({"bootstrap.servers": bootstrap})
admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(timeout=30)

step("produce lz4 batches")
p = Producer({"bootstrap.servers": bootstrap, "compression.type": "lz4",
              "partitioner": "murmur2_random", "linger.ms": 20, "enable.idempotence": True})
base = base_timestamp()
for i in range(30):
    p.produce(topic, key=f"station-{i % 7}".encode(), value=f"reading {i}".encode(),
              headers=[("unit", b"celsius"), ("seq", str(i).encode())], timestamp=base + i)
p.flush(30)

step("a committed and an aborted transaction")
t = Producer({"bootstrap.servers": bootstrap, "transactional.id": name("txn"),
              "partitioner": "murmur2_random"})
t.init_transactions(30)
for outcome in ("commit", "abort"):
    t.begin_transaction()
    for i in range(6):
        t.produce(topic, key=f"station-{i}".encode(), value=f"{outcome} {i}".encode(),
                  timestamp=base + 100 + i)
    if outcome == "commit":
        t.commit_transaction(30)
    else:
        t.flush(30)
        t.abort_transaction(30)

summary(topic=topic, committed=36)
