"""Every codec (gzip, snappy, lz4, zstd, none) from confluent-kafka and kafka-python, read back
by both; and a topic whose compression.type is zstd taking gzip batches."""

from common import BOOTSTRAP, create_topics, emit, produce_all, producer, read_back, step, topic, \
    wait_for_topic
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

codecs = ["none", "gzip", "snappy", "lz4", "zstd"]
create_topics([(topic(c), 1, {}) for c in codecs] + [(topic("topic-zstd"), 1,
                                                      {"compression.type": "zstd"})])
for c in codecs + ["topic-zstd"]:
    wait_for_topic(topic(c), 1)
out = {}
for codec in codecs + ["topic-zstd"]:
    step(codec)
    client_codec = "gzip" if codec == "topic-zstd" else codec
    values = [(f"{codec}-{i}-" + "x" * (i * 37)).encode() for i in range(20)]
    p = producer(**{"compression.type": client_codec, "linger.ms": 50})
    produced = produce_all(p, topic(codec), [(b"k%d" % i, v, 0, None, None)
                                             for i, v in enumerate(values)])
    kp = KafkaProducer(bootstrap_servers=BOOTSTRAP,
                       compression_type=None if client_codec == "none" else client_codec,
                       linger_ms=50)
    futures = [kp.send(topic(codec), key=b"p%d" % i, value=v, partition=0)
               for i, v in enumerate(values)]
    kp.flush()
    kp_offsets = [f.get(timeout=30).offset for f in futures]
    kp.close()
    read = read_back(topic(codec), 0, 0, 40)
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False,
                      consumer_timeout_ms=20000)
    c.assign([TopicPartition(topic(codec), 0)])
    c.seek(TopicPartition(topic(codec), 0), 0)
    kafka_python = []
    for msg in c:
        kafka_python.append([msg.offset, msg.key.decode(), len(msg.value)])
        if len(kafka_python) == 40:
            break
    c.close()
    expected = [[i, f"{'k' if i < 20 else 'p'}{i % 20}", len(values[i % 20])] for i in range(40)]
    out[codec] = {
        "produced": [r[1] for r in produced] + kp_offsets,
        "confluent_read": [[r["offset"], r["key"], len(r["value"])] for r in read] == expected,
        "kafka_python_read": kafka_python == expected,
        "values_match": [r["value"].encode() for r in read] == values + values,
    }
emit(out)
