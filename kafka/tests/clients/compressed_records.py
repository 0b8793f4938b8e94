"""Every codec (none, gzip, snappy, lz4, zstd) from each client: kafka-python and confluent-kafka
each produce a batch-sized run of compressible records with keys and headers in each codec, and
each client reads every topic back exactly (so each reads what the other compressed).

(Not named compression.py: kafka-python imports Python 3.14's `compression` package, which
a file of that name beside it would shadow.)"""

from common import base_timestamp, check, check_eq, name, start, step, summary, Deadline
from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTopicPartition

bootstrap, _ = start()
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
N = 200
base = base_timestamp()


def payload(producer_name, codec, i):
    # Repetitive text compresses; the index keeps every record distinct.
    return (f"{producer_name}/{codec}/{i:05d} " + "the quick brown fox " * (i % 20)).encode()


topics = {}
for codec in CODECS:
    step(f"kafka-python producing {codec}")
    topic = name(f"kp-{codec}")
    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=50, batch_size=65536,
                      compression_type=None if codec == "none" else codec)
    futures = [p.send(topic, key=str(i).encode(), value=payload("kp", codec, i),
                      headers=[("codec", codec.encode())], timestamp_ms=base + i)
               for i in range(N)]
    p.flush(timeout=30)
    offsets = [f.get(timeout=30).offset for f in futures]
    check_eq(offsets, list(range(N)), f"kafka-python {codec} offsets")
    p.close(timeout=10)
    topics[topic] = ("kp", codec)

for codec in CODECS:
    step(f"confluent-kafka producing {codec}")
    topic = name(f"ck-{codec}")
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "compression.type": codec,
                  "batch.size": 65536})
    errors = []
    for i in range(N):
        p.produce(topic, key=str(i).encode(), value=payload("ck", codec, i),
                  headers=[("codec", codec.encode())], timestamp=base + i,
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
        p.poll(0)
    check_eq(p.flush(30), 0, f"confluent-kafka {codec} records unsent")
    check_eq(errors, [], f"confluent-kafka {codec} delivery errors")
    topics[topic] = ("ck", codec)


def check_records(reader, topic, got):
    who, codec = topics[topic]
    check_eq(len(got), N, f"{reader} reading {topic}: record count")
    for i, (offset, key, value, headers, ts) in enumerate(got):
        where = f"{reader} reading {topic} offset {offset}"
        check_eq(offset, i, f"{where}: offset")
        check_eq(key, str(i).encode(), f"{where}: key")
        check_eq(value, payload(who, codec, i), f"{where}: value")
        check_eq(headers, [("codec", codec.encode())], f"{where}: headers")
        check_eq(ts, base + i, f"{where}: timestamp")


step("kafka-python reading every topic")
kc = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                   auto_offset_reset="earliest", fetch_max_wait_ms=200)
for topic in topics:
    kc.assign([KTopicPartition(topic, 0)])
    kc.seek_to_beginning()
    got = []
    d = Deadline(30)
    while len(got) < N and d.left():
        for msgs in kc.poll(timeout_ms=500).values():
            got.extend((m.offset, m.key, m.value, list(m.headers), m.timestamp) for m in msgs)
    check_records("kafka-python", topic, got)
kc.close()

step("confluent-kafka reading every topic")
cc = Consumer({"bootstrap.servers": bootstrap, "group.id": name("reader"),
               "enable.auto.commit": False})
for topic in topics:
    cc.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = []
    d = Deadline(30)
    while len(got) < N and d.left():
        for m in cc.consume(num_messages=500, timeout=0.5):
            check(m.error() is None, f"consume error on {topic}: {m.error()}")
            got.append((m.offset(), m.key(), m.value(), m.headers(), m.timestamp()[1]))
    check_records("confluent-kafka", topic, got)
cc.close()

summary(codecs=CODECS, producers=["kafka-python", "confluent-kafka"],
        readers=["kafka-python", "confluent-kafka"], records_per_topic=N, topics=len(topics))
