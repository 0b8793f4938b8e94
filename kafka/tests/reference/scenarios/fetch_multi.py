"""One Fetch v4 over several partitions of two topics and an unknown one: a partition with
records, an empty one, one the topic does not have, one fetched past its end. Each is answered
on its own: error, high watermark, batches."""

from common import KEEP, Connection, Reader, array, batches_in, create_topics, emit, \
    error_code_name, i8, i32, i64, producer, produce_all, size, step, string, topic, \
    wait_for_topic

create_topics([(topic("a"), 2, KEEP), (topic("b"), 1, KEEP)])
wait_for_topic(topic("a"), 2)
wait_for_topic(topic("b"), 1)
step("produce")
p = producer(**{"linger.ms": 0})
for i in range(3):
    produce_all(p, topic("a"), [(None, b"a%d" % i, 0, None, 1700000000000 + i)])
produce_all(p, topic("b"), [(None, b"b", 0, None, 1700000000000)])
asked = [(topic("a"), [(0, 1), (1, 0), (5, 0)]), (topic("b"), [(0, 100)]),
         (topic("missing"), [(0, 0)])]
body = (i32(-1) + i32(0) + i32(0) + i32(1 << 20) + i8(0) + array([
    string(name) + array([i32(part) + i64(offset) + i32(1 << 20) for part, offset in parts])
    for name, parts in asked]))
step("fetch")
conn = Connection()
conn.send(1, 4, body)
r = Reader(conn.receive())
r.i32()
topics = r.array(lambda r: [r.string(), r.array(
    lambda r: [r.i32(), error_code_name(r.i16()), r.i64(), r.i64(),
               r.array(lambda r: (r.i64(), r.i64())), r.bytes()])])
# Keyed by topic and partition: the protocol leaves the order of the answer's entries open
# (Kafka puts partitions it cannot serve after the others).
emit({f"{name}/{part}": [error, hw, size(records), [b[:2] for b in batches_in(records)]]
      for name, parts in topics for part, error, hw, _, _, records in parts})
