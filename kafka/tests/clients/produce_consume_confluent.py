"""confluent-kafka (librdkafka): records with keys, headers and CreateTime timestamps produced
to a 3-partition topic, read back exactly (partition, offset, key, value, headers, timestamp
and its type), from the start and from a given offset; the watermarks."""

from common import (base_timestamp, check, check_eq, name, start, step, summary, Deadline)
from confluent_kafka import (Consumer, Producer, TopicPartition, TIMESTAMP_CREATE_TIME,
                             OFFSET_BEGINNING)
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, _ = start()
topic = name("keyed")
base = base_timestamp()

step("creating the topic")
admin = AdminClient({"bootstrap.servers": bootstrap})
for f in admin.create_topics([NewTopic(topic, 3, 1)], operation_timeout=20).values():
    f.result(timeout=30)

records = []
for i in range(30):
    key = None if i == 7 else f"key-{i % 5}".encode()
    value = {3: b"", 11: None, 12: bytes(range(256)), 20: b"y" * 102400}.get(
        i, f"value-{i}".encode())
    headers = None if i % 4 == 0 else [("idx", str(i).encode()), ("h", b""), ("h", b"again"),
                                       ("null", None)]
    partition = i % 3 if i % 2 == 0 else None
    records.append(dict(key=key, value=value, headers=headers, timestamp=base + i * 1000,
                        partition=partition))

step("producing")
producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                     "message.timeout.ms": 30000})
reports = {}


def delivered(index):
    def callback(err, msg):
        reports[index] = (err, msg)
    return callback


for i, r in enumerate(records):
    kwargs = dict(key=r["key"], value=r["value"], timestamp=r["timestamp"],
                  on_delivery=delivered(i))
    if r["headers"] is not None:
        kwargs["headers"] = r["headers"]
    if r["partition"] is not None:
        kwargs["partition"] = r["partition"]
    producer.produce(topic, **kwargs)
check_eq(producer.flush(30), 0, "records still unsent after flush")
expected = {}
next_offset = {}
for i, r in enumerate(records):
    err, msg = reports[i]
    check(err is None, f"record {i} not delivered: {err}")
    if r["partition"] is not None:
        check_eq(msg.partition(), r["partition"], "the partition a record was sent to")
    check_eq(msg.offset(), next_offset.get(msg.partition(), 0),
             f"offset in partition {msg.partition()}")
    next_offset[msg.partition()] = msg.offset() + 1
    expected[(msg.partition(), msg.offset())] = r
check(len(next_offset) == 3, f"records in every partition: {next_offset}")

step("consuming from the beginning")
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": name("reader"),
                     "enable.auto.commit": False, "fetch.wait.max.ms": 200})
for p in range(3):
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=20,
                                               cached=False)
    check_eq((low, high), (0, next_offset[p]), f"the watermarks of partition {p}")
consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(3)])
seen = {}
d = Deadline(30)
while len(seen) < len(records) and d.left():
    for m in consumer.consume(num_messages=100, timeout=0.5):
        check(m.error() is None, f"consume error: {m.error()}")
        check((m.partition(), m.offset()) not in seen, f"record {m.partition()}/{m.offset()} twice")
        seen[(m.partition(), m.offset())] = m
if len(seen) < len(records):
    d.expired(f"all {len(records)} records read back ({len(seen)} read)")
for (p, o), m in sorted(seen.items()):
    r = expected.get((p, o))
    check(r is not None, f"an unexpected record at {p}/{o}")
    where = f"record {topic}/{p}/{o}"
    check_eq(m.topic(), topic, f"{where} topic")
    check_eq(m.key(), r["key"], f"{where} key")
    check_eq(m.value(), r["value"], f"{where} value")
    check_eq(m.headers(), r["headers"], f"{where} headers")
    check_eq(m.timestamp(), (TIMESTAMP_CREATE_TIME, r["timestamp"]), f"{where} timestamp")

step("reading from an offset")
consumer.assign([TopicPartition(topic, 1, 3)])
got = []
d = Deadline(20)
while len(got) < next_offset[1] - 3 and d.left():
    for m in consumer.consume(num_messages=100, timeout=0.5):
        check(m.error() is None, f"consume error: {m.error()}")
        got.append((m.partition(), m.offset()))
check_eq(got, [(1, o) for o in range(3, next_offset[1])], "records of partition 1 from 3")
consumer.close()

summary(records=len(records), partitions=3, checked=["key", "value", "headers (null value)",
        "timestamp", "timestamp_type", "partition", "offset", "assign at offset", "watermarks"])
