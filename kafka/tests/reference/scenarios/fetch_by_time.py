"""ListOffsets by timestamp (offsets_for_times) from both clients, on records with their own
timestamps out of order; earliest and latest."""

from common import BOOTSTRAP, KEEP, create_topics, emit, produce_all, producer, step, topic, \
    wait_for_topic
from confluent_kafka import Consumer, TopicPartition as CTP
from kafka import KafkaConsumer, TopicPartition

create_topics([(topic(), 1, KEEP)])
wait_for_topic(topic(), 1)
stamps = [1000, 2000, 3000, 2500, 5000, 4000]
step("produce")
p = producer(**{"linger.ms": 0})
for i, ts in enumerate(stamps):
    produce_all(p, topic(), [(None, b"v%d" % i, 0, None, 1700000000000 + ts)])
asked = [0, 1000, 1500, 2600, 3000, 4500, 5000, 5001]
step("confluent")
c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": topic("group")})
# One partition per call: librdkafka merges repeated partitions of one request.
confluent = [c.offsets_for_times([CTP(topic(), 0, 1700000000000 + t)], timeout=30)[0].offset
             for t in asked]
low, high = c.get_watermark_offsets(CTP(topic(), 0), timeout=30)
c.close()
step("kafka-python")
kc = KafkaConsumer(bootstrap_servers=BOOTSTRAP)
tp = TopicPartition(topic(), 0)
kafka_python = []
for t in asked:
    r = kc.offsets_for_times({tp: 1700000000000 + t})[tp]
    kafka_python.append(None if r is None else [r.offset, r.timestamp - 1700000000000])
kc.close()
emit({"confluent": confluent, "kafka_python": kafka_python, "watermarks": [low, high]})
