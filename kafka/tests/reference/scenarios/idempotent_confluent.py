"""confluent-kafka's idempotent producer (enable.idempotence) into three partitions: every
record once, in order, offsets without gaps."""

from common import create_topics, emit, produce_all, producer, read_back, step, topic, \
    wait_for_topic

create_topics([(topic(), 3, {})])
wait_for_topic(topic(), 3)
step("produce")
p = producer(**{"enable.idempotence": True, "linger.ms": 5, "acks": "all"})
sent = produce_all(p, topic(), [(None, b"%d" % i, i % 3, None, None) for i in range(300)])
out = {"delivered": sum(1 for r in sent if isinstance(r, list))}
for partition in range(3):
    step(f"read {partition}")
    read = read_back(topic(), partition, 0, 100)
    out[f"partition_{partition}"] = {
        "offsets": [r["offset"] for r in read] == list(range(100)),
        "values": [int(r["value"]) for r in read] == list(range(partition, 300, 3)),
    }
emit(out)
