"""Fetching past the end: auto.offset.reset earliest, latest and none (the error each client
reports), and a raw Fetch's error; and fetching before the start of a partition."""

from common import BOOTSTRAP, Connection, create_topics, emit, error_code_name, error_name, \
    fetch_v4, produce_all, producer, size, step, topic, wait_for_topic
from confluent_kafka import Consumer, TopicPartition as CTP
from kafka import KafkaConsumer, TopicPartition

create_topics([(topic(), 1, {})])
wait_for_topic(topic(), 1)
p = producer(**{"linger.ms": 0})
produce_all(p, topic(), [(None, b"v%d" % i, 0, None, None) for i in range(5)])
out = {}
for reset in ("earliest", "error"):
    step(f"confluent {reset}")
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": topic(reset),
                  "auto.offset.reset": reset, "enable.auto.commit": False})
    c.assign([CTP(topic(), 0, 100)])
    seen = None
    for i in range(300):
        msg = c.poll(0.1)
        if msg is None:
            continue
        seen = msg.error().name() if msg.error() else [msg.offset(), msg.value().decode()]
        break
    out[f"confluent_{reset}"] = seen
    c.close()
for reset in ("earliest", "latest", "none"):
    step(f"kafka-python {reset}")
    kc = KafkaConsumer(bootstrap_servers=BOOTSTRAP, auto_offset_reset=reset,
                       enable_auto_commit=False, consumer_timeout_ms=3000)
    tp = TopicPartition(topic(), 0)
    kc.assign([tp])
    kc.seek(tp, 100)
    try:
        # Until the consumer has left offset 100: reset, or told why not.
        got = []
        for _ in range(300):
            records = kc.poll(timeout_ms=100)
            got += [[r.offset, r.value.decode()] for r in records.get(tp, [])]
            # earliest: until the first record; latest and none: until the reset (or error).
            if got or (reset != "earliest" and kc.position(tp) != 100):
                break
        out[f"kafka_python_{reset}"] = [got[:1], kc.position(tp) if reset == "latest" else None]
    except Exception as e:
        out[f"kafka_python_{reset}"] = error_name(e)
    kc.close()
step("raw")
conn = Connection()
error, hw, records = fetch_v4(conn, topic(), 0, 100)
out["raw_past_end"] = [error_code_name(error), hw, size(records)]
error, hw, records = fetch_v4(conn, topic(), 0, -5)
out["raw_negative"] = [error_code_name(error), hw, size(records)]
emit(out)
