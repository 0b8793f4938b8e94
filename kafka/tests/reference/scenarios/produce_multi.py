"""One Produce v7 request carrying batches for two topics and several partitions, one of
them refused (a partition the topic does not have, a corrupt batch): every partition is
answered on its own, and the good ones are written."""

from common import KEEP, Connection, Reader, array, batches_in, create_topics, emit, \
    error_code_name, fetch_v4, i16, i32, nbytes, record_batch, step, string, topic, \
    wait_for_topic

create_topics([(topic("a"), 2, KEEP), (topic("b"), 1, KEEP)])
wait_for_topic(topic("a"), 2)
wait_for_topic(topic("b"), 1)


def batch(n, corrupt=False):
    b = bytearray(record_batch([(None, b"v%d" % i) for i in range(n)],
                               base_timestamp=1700000000000))
    if corrupt:
        b[-1] ^= 0xFF
    return bytes(b)


step("produce")
body = (string(None) + i16(-1) + i32(30000) + array([
    string(topic("a")) + array([i32(1) + nbytes(batch(2)), i32(0) + nbytes(batch(3)),
                                i32(9) + nbytes(batch(1))]),
    string(topic("b")) + array([i32(0) + nbytes(batch(1, corrupt=True))]),
]))
conn = Connection()
r = Reader(conn.call(0, 7, body))
answered = r.array(lambda r: [r.string(), r.array(
    lambda r: [r.i32(), error_code_name(r.i16()), r.i64(), r.i64(), r.i64()])])
# Keyed by topic and partition: the protocol leaves the order of the answer's entries open.
out = {"answered": {f"{name}/{part}": [error, base_offset]
                    for name, parts in answered for part, error, base_offset, _, _ in parts}}
step("read back")
for name, partition in ((topic("a"), 0), (topic("a"), 1), (topic("b"), 0)):
    error, hw, records = fetch_v4(conn, name, partition, 0)
    out[f"{name}/{partition}"] = [error_code_name(error), hw,
                                  [b[:2] for b in batches_in(records)]]
emit(out)
