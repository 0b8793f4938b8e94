"""Keyed records into six partitions from both clients: the partition each key lands on
(murmur2, as Kafka's Java client), repeated keys on one partition, null keys spread but read
back."""

from common import BOOTSTRAP, create_topics, emit, produce_all, producer, step, topic, \
    wait_for_topic
from kafka import KafkaProducer

create_topics([(topic(), 6, {})])
wait_for_topic(topic(), 6)
keys = [f"user-{i}".encode() for i in range(12)] + [b"", b"user-1", b"user-1"]
step("confluent")
p = producer(partitioner="murmur2_random")
confluent = produce_all(p, topic(), [(k, b"c", None, None, None) for k in keys])
nulls = produce_all(p, topic(), [(None, b"n", None, None, None) for _ in range(5)])
step("kafka-python")
kp = KafkaProducer(bootstrap_servers=BOOTSTRAP)
futures = [kp.send(topic(), key=k, value=b"k") for k in keys]
kp.flush()
kafka_python = [f.get(timeout=30).partition for f in futures]
kp.close()
emit({
    "confluent_partitions": [r[0] for r in confluent],
    "kafka_python_partitions": kafka_python,
    "null_keys_delivered": sum(1 for r in nulls if isinstance(r, list)),
    "offsets_per_partition": sorted(
        [p_, max(r[1] for r in confluent if r[0] == p_)] for p_ in {r[0] for r in confluent}),
})
