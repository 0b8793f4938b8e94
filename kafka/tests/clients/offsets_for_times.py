"""ListOffsets by timestamp (`offsets_for_times`) from kafka-python and confluent-kafka against
produced CreateTime timestamps: an exact timestamp finds its record, one between two records
the later, one before all the first, one after all none; with timestamps out of order, the
first offset whose timestamp is at least the target. Earliest and latest offsets as well."""

from common import base_timestamp, check, check_eq, name, start, step, summary
from confluent_kafka import Consumer, TopicPartition
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTopicPartition

bootstrap, _ = start()
topic = name("times")
base = base_timestamp()
step("creating the topic")
admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
admin.create_topics({topic: {"num_partitions": 2, "replication_factor": 1}},
                    wait_for_metadata=True)
admin.close()

# Partition 0: ten records, 1 s apart, each sent alone (a batch each). Partition 1: timestamps
# out of order, as a producer may stamp them: the lookup is by offset order, not time order.
ordered = [base + i * 1000 for i in range(10)]
unordered = [base + d for d in (0, 5000, 2000, 7000, 3000, 9000)]
step("producing")
producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
for p, stamps in ((0, ordered), (1, unordered)):
    for i, ts in enumerate(stamps):
        md = producer.send(topic, value=f"{p}-{i}".encode(), partition=p,
                           timestamp_ms=ts).get(timeout=30)
        check_eq(md.offset, i, f"offset of record {i} in partition {p}")
producer.close(timeout=10)

# (partition, target timestamp) -> expected (offset, timestamp of that record) or None.
cases = {
    (0, ordered[4]): (4, ordered[4]),            # exact
    (0, ordered[4] + 1): (5, ordered[5]),        # between: the next record
    (0, base - 60000): (0, ordered[0]),          # before all: the first
    (0, ordered[-1] + 1): None,                  # after all: none
    (1, base + 2000): (1, base + 5000),          # first offset with a timestamp >= target
    (1, base + 6000): (3, base + 7000),
    (1, base + 9000): (5, base + 9000),
    (1, base + 9001): None,
}

step("kafka-python offsets_for_times")
kc = KafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=20000)
for (p, ts), want in cases.items():
    got = kc.offsets_for_times({KTopicPartition(topic, p): ts})[KTopicPartition(topic, p)]
    got = None if got is None else (got.offset, got.timestamp)
    check_eq(got, want, f"kafka-python offsets_for_times partition {p} at base+{ts - base} ms")
tps = [KTopicPartition(topic, p) for p in (0, 1)]
check_eq(kc.beginning_offsets(tps), {tps[0]: 0, tps[1]: 0}, "kafka-python beginning_offsets")
check_eq(kc.end_offsets(tps), {tps[0]: 10, tps[1]: 6}, "kafka-python end_offsets")
kc.close()

step("confluent-kafka offsets_for_times")
cc = Consumer({"bootstrap.servers": bootstrap, "group.id": name("reader")})
for (p, ts), want in cases.items():
    [tp] = cc.offsets_for_times([TopicPartition(topic, p, ts)], timeout=20)
    check(tp.error is None, f"confluent offsets_for_times partition {p}: {tp.error}")
    # librdkafka reports "no such record" as offset -1 (the end, OFFSET_END).
    check_eq(tp.offset, -1 if want is None else want[0],
             f"confluent-kafka offsets_for_times partition {p} at base+{ts - base} ms")
for p, n in ((0, 10), (1, 6)):
    check_eq(cc.get_watermark_offsets(TopicPartition(topic, p), timeout=20, cached=False), (0, n),
             f"confluent-kafka watermarks of partition {p}")
cc.close()

summary(cases=len(cases), clients=["kafka-python", "confluent-kafka"],
        checked=["exact", "between", "before all", "after all", "out-of-order timestamps",
                 "earliest", "latest"])
