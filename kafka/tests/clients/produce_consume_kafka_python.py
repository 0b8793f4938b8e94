"""kafka-python: records with keys, headers and CreateTime timestamps produced to a 3-partition
topic and to an auto-created one, read back exactly (topic, partition, offset, key, value,
headers, timestamp and its type), from the start and from a seeked offset."""

from common import (base_timestamp, check, check_eq, fail, name, start, step, summary,
                    Deadline)
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

bootstrap, _ = start()
topic = name("keyed")
auto_topic = name("auto")
base = base_timestamp()

step("creating the topic")
admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
admin.create_topics({topic: {"num_partitions": 3, "replication_factor": 1}},
                    wait_for_metadata=True)
admin.close()

# The records: keys (one null), values (one empty, one null, one binary, one of 100 KiB),
# headers (none, several, a repeated name, an empty value), each with its own timestamp.
records = []
for i in range(30):
    key = None if i == 7 else f"key-{i % 5}".encode()
    if i == 3:
        value = b""
    elif i == 11:
        value = None
    elif i == 12:
        value = bytes(range(256))
    elif i == 20:
        value = b"x" * 102400
    else:
        value = f"value-{i}".encode()
    headers = [] if i % 4 == 0 else [("idx", str(i).encode()), ("h", b""), ("h", b"again")]
    partition = i % 3 if i % 2 == 0 else None  # half placed by hand, half by the partitioner
    records.append(dict(key=key, value=value, headers=headers, timestamp_ms=base + i * 1000,
                        partition=partition))

step("producing")
producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_request_size=2097152,
                         request_timeout_ms=20000)
futures = [producer.send(topic, key=r["key"], value=r["value"], headers=r["headers"],
                         timestamp_ms=r["timestamp_ms"], partition=r["partition"])
           for r in records]
auto_future = producer.send(auto_topic, key=b"k", value=b"first", timestamp_ms=base)
producer.flush(timeout=30)
expected = {}
next_offset = {}
for r, f in zip(records, futures):
    md = f.get(timeout=30)
    check_eq(md.topic, topic, "the produced record's topic")
    if r["partition"] is not None:
        check_eq(md.partition, r["partition"], "the partition a record was sent to")
    # Offsets in one partition are consecutive from 0 in the order sent.
    check_eq(md.offset, next_offset.get(md.partition, 0), f"offset in partition {md.partition}")
    next_offset[md.partition] = md.offset + 1
    check_eq(md.timestamp, r["timestamp_ms"], "the timestamp the produce answer reports")
    expected[(md.partition, md.offset)] = r
check(len(next_offset) == 3, f"records in every partition: {next_offset}")
# The same key always lands in the same partition (the partitioner is the client's).
by_key = {}
for (p, _), r in expected.items():
    if r["partition"] is None and r["key"] is not None:
        by_key.setdefault(r["key"], set()).add(p)
check(all(len(ps) == 1 for ps in by_key.values()), f"one partition per key: {by_key}")
auto_md = auto_future.get(timeout=30)
check_eq((auto_md.partition, auto_md.offset), (0, 0), "the first record of an auto-created topic")
producer.close(timeout=10)

step("consuming from the beginning")
consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                         auto_offset_reset="earliest", request_timeout_ms=20000,
                         fetch_max_wait_ms=200, consumer_timeout_ms=1000)
parts = [TopicPartition(topic, p) for p in range(3)]
consumer.assign(parts)
check_eq(consumer.beginning_offsets(parts), {tp: 0 for tp in parts}, "the beginning offsets")
check_eq(consumer.end_offsets(parts), {TopicPartition(topic, p): n for p, n in next_offset.items()},
         "the end offsets")
seen = {}
d = Deadline(30)
while len(seen) < len(records) and d.left():
    for tp, msgs in consumer.poll(timeout_ms=500).items():
        for m in msgs:
            check((m.partition, m.offset) not in seen, f"record {m.partition}/{m.offset} twice")
            seen[(m.partition, m.offset)] = m
if len(seen) < len(records):
    d.expired(f"all {len(records)} records read back ({len(seen)} read)")
for (p, o), m in sorted(seen.items()):
    r = expected.get((p, o))
    check(r is not None, f"an unexpected record at {p}/{o}")
    where = f"record {topic}/{p}/{o}"
    check_eq(m.topic, topic, f"{where} topic")
    check_eq(m.key, r["key"], f"{where} key")
    check_eq(m.value, r["value"], f"{where} value")
    check_eq(list(m.headers), r["headers"], f"{where} headers")
    check_eq(m.timestamp, r["timestamp_ms"], f"{where} timestamp")
    check_eq(m.timestamp_type, 0, f"{where} timestamp type (0 = CreateTime)")
# In each partition the records come in offset order.
step("seeking")
consumer.seek(TopicPartition(topic, 0), 2)
consumer.pause(TopicPartition(topic, 1), TopicPartition(topic, 2))
got = []
d = Deadline(20)
while len(got) < next_offset[0] - 2 and d.left():
    for msgs in consumer.poll(timeout_ms=500).values():
        got.extend((m.partition, m.offset) for m in msgs)
check_eq(got, [(0, o) for o in range(2, next_offset[0])], "records after seeking partition 0 to 2")
check_eq(consumer.position(TopicPartition(topic, 0)), next_offset[0], "the position at the end")
consumer.close()

step("reading the auto-created topic")
consumer = KafkaConsumer(auto_topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                         enable_auto_commit=False, consumer_timeout_ms=20000)
first = next(iter(consumer), None)
check(first is not None, f"the record in {auto_topic}")
check_eq((first.key, first.value, first.timestamp), (b"k", b"first", base),
         "the auto-created topic's record")
consumer.close()

summary(records=len(records), partitions=3, checked=["key", "value", "headers", "timestamp",
        "timestamp_type", "partition", "offset", "seek", "beginning/end offsets",
        "auto-created topic"])
