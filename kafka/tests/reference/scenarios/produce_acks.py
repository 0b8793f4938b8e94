"""Produce with acks 0, 1 and all, from confluent-kafka and kafka-python: the offsets each
delivery reports, then the records read back."""

from common import BOOTSTRAP, create_topics, emit, produce_all, producer, read_back, step, topic, \
    wait_for_topic
from kafka import KafkaProducer

create_topics([(topic(), 1, {})])
wait_for_topic(topic(), 1)
out = {"confluent": {}, "kafka_python": {}}
for acks in ("0", "1", "all"):
    step(f"confluent acks={acks}")
    p = producer(**{"acks": acks, "linger.ms": 0})
    out["confluent"][acks] = produce_all(
        p, topic(), [(None, f"c{acks}-{i}".encode(), 0, None, None) for i in range(3)])
for acks in (0, 1, "all"):
    step(f"kafka-python acks={acks}")
    p = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks=acks)
    futures = [p.send(topic(), value=f"k{acks}-{i}".encode(), partition=0) for i in range(3)]
    p.flush()
    # With acks=0 nothing is answered: kafka-python makes up offsets from its own batching.
    out["kafka_python"][str(acks)] = [f.get(timeout=30).offset if acks != 0 else f.succeeded()
                                      for f in futures]
    p.close()
step("read back")
out["read"] = [[r["offset"], r["value"]] for r in read_back(topic(), 0, 0, 18)]
emit(out)
