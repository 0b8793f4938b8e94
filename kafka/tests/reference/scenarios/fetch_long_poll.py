"""Long poll: a Fetch waiting at the end of the log (min_bytes 1, a long max_wait) is answered
with a record produced while it waits; one that finds nothing answers empty after max_wait."""

from common import array, batches_in, Connection, create_topics, emit, error_code_name, fetch_v4, \
    i32, i64, i8, parse_fetch_v4, produce_all, producer, size, step, string, topic, \
    wait_for_topic
from confluent_kafka import Consumer, TopicPartition

from common import BOOTSTRAP

create_topics([(topic(), 1, {})])
wait_for_topic(topic(), 1)
p = producer(**{"linger.ms": 0})
produce_all(p, topic(), [(None, b"before", 0, None, None)])
out = {}
step("empty wait")
conn = Connection()
error, hw, records = fetch_v4(conn, topic(), 0, 1, max_wait_ms=200, min_bytes=1)
out["nothing_arrives"] = [error_code_name(error), hw, size(records)]
step("waiting fetch")
body = (i32(-1) + i32(60000) + i32(1) + i32(1 << 20) + i8(0) +
        array([string(topic()) + array([i32(0) + i64(1) + i32(1 << 20)])]))
conn.send(1, 4, body)
# Whether the fetch is already waiting or not yet read by the broker, its answer must hold the
# record: there is nothing to wait for but the answer itself.
produced = produce_all(p, topic(), [(None, b"during", 0, None, None)])
error, hw, records = parse_fetch_v4(conn.receive())
out["woken"] = [error_code_name(error), hw, [b[:2] for b in batches_in(records)], produced]
step("confluent consumer waiting")
c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": topic("g"),
              "fetch.wait.max.ms": 30000, "fetch.min.bytes": 1})
c.assign([TopicPartition(topic(), 0, 2)])
msg = None
for i in range(300):
    msg = c.poll(0.1)
    if msg is not None:
        break
    if i == 0:
        produce_all(p, topic(), [(None, b"for the consumer", 0, None, None)])
out["consumer"] = [msg.offset(), msg.value().decode()] if msg is not None else None
c.close()
emit(out)
