"""Headers (repeated keys, null and empty values, none at all), null and empty keys and values
(tombstones), read back by confluent-kafka and kafka-python."""

from common import BOOTSTRAP, KEEP, create_topics, emit, produce_all, producer, read_back, step, \
    topic, wait_for_topic
from kafka import KafkaConsumer, TopicPartition

create_topics([(topic(), 1, KEEP)])
wait_for_topic(topic(), 1)
records = [
    (b"k1", b"v1", 0, [("trace", b"abc"), ("trace", b"def"), ("empty", b""), ("null", None)],
     1700000000000),
    (None, None, 0, None, 1700000000001),
    (b"", b"", 0, [], 1700000000002),
    (b"k4", None, 0, [("\u00e9t\u00e9", "\u00e9".encode())], 1700000000003),
]
step("produce")
produced = produce_all(producer(), topic(), records)
step("read back")
confluent = read_back(topic(), 0, 0, len(records))
c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False,
                  consumer_timeout_ms=20000)
c.assign([TopicPartition(topic(), 0)])
c.seek(TopicPartition(topic(), 0), 0)
kafka_python = []
for msg in c:
    kafka_python.append({"offset": msg.offset, "key": msg.key, "value": msg.value,
                         "headers": [[k, v] for k, v in msg.headers]})
    if len(kafka_python) == len(records):
        break
c.close()
for r in kafka_python:
    for f in ("key", "value"):
        r[f] = None if r[f] is None else r[f].decode()
    r["headers"] = [[k, None if v is None else v.decode()] for k, v in r["headers"]]
emit({"produced": produced, "confluent": confluent, "kafka_python": kafka_python})
