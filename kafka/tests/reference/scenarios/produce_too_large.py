"""A record over the topic's max.message.bytes, from both clients (whose own size limits are
raised so that the broker decides): the error each sees; the records around it still written."""

from common import BOOTSTRAP, create_topics, emit, error_name, produce_all, producer, read_back, \
    step, topic, wait_for_topic
from kafka import KafkaProducer

create_topics([(topic(), 1, {"max.message.bytes": "2000"})])
wait_for_topic(topic(), 1)
out = {}
step("confluent")
p = producer(**{"message.max.bytes": 10_000_000, "linger.ms": 0})
out["confluent"] = produce_all(p, topic(), [(None, b"small", 0, None, None)])
out["confluent"] += produce_all(p, topic(), [(None, b"x" * 5000, 0, None, None)])
out["confluent"] += produce_all(p, topic(), [(None, b"small", 0, None, None)])
step("kafka-python")
kp = KafkaProducer(bootstrap_servers=BOOTSTRAP, max_request_size=10_000_000, retries=0)
try:
    kp.send(topic(), value=b"y" * 5000, partition=0).get(timeout=30)
    out["kafka_python"] = None
except Exception as e:
    out["kafka_python"] = error_name(e)
kp.close()
step("compressed, small once compressed")
p = producer(**{"message.max.bytes": 10_000_000, "compression.type": "gzip"})
out["compressed_small"] = produce_all(p, topic(), [(None, b"z" * 5000, 0, None, None)])
out["read"] = [[r["offset"], len(r["value"])] for r in read_back(topic(), 0, 0, 3)]
emit(out)
