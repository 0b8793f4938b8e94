"""Produce requests Kafka refuses, hand-built (Produce v7 of v2 batches): a bad CRC, an unknown
magic byte, a record count that does not match the records, acks=2, a batch over the topic's
max.message.bytes, one larger than the topic's segments, a partition the topic does not have,
a topic name Kafka refuses. The error
each is answered with (or whether the connection is closed), and what the log then holds."""

import struct

from common import KEEP, batches_in, Connection, create_topics, emit, error_code_name, fetch_v4, \
    produce_v7, record_batch, step, topic, wait_for_topic

create_topics([(topic(), 1, {**KEEP, "max.message.bytes": "2000"}),
               # A batch larger than the topic's segments: Kafka refuses it.
               (topic("small-segments"), 1, {**KEEP, "segment.bytes": "1048576",
                                             "max.message.bytes": "3000000"})])
wait_for_topic(topic(), 1)
wait_for_topic(topic("small-segments"), 1)


def good(value=b"v"):
    return record_batch([(b"k", value)], base_timestamp=1700000000000)


def with_byte(batch, at, value):
    b = bytearray(batch)
    b[at] = value
    return bytes(b)


def count_of(batch, n):
    """The batch with its record count (bytes 57..61) changed; the CRC made right again."""
    from kafka.record.util import calc_crc32c
    b = bytearray(batch)
    b[57:61] = struct.pack(">i", n)
    b[17:21] = struct.pack(">I", calc_crc32c(bytes(b[21:])))
    return bytes(b)


cases = [
    ("good", topic(), 0, good(), -1),
    ("bad_crc", topic(), 0, with_byte(good(), 17, good()[17] ^ 0xFF), -1),
    ("magic_3", topic(), 0, with_byte(good(), 16, 3), -1),
    ("count_too_high", topic(), 0, count_of(good(), 2), -1),
    ("count_zero", topic(), 0, count_of(good(), 0), -1),
    ("acks_2", topic(), 0, good(), 2),
    ("too_large", topic(), 0, good(b"x" * 5000), -1),
    ("no_such_partition", topic(), 3, good(), -1),
    ("bad_topic_name", topic() + "/x", 0, good(), -1),
    ("larger_than_a_segment", topic("small-segments"), 0, good(b"s" * 1_500_000), -1),
    ("good_after", topic(), 0, good(), -1),
]
out = {}
for label, name, partition, batch, acks in cases:
    step(label)
    conn = Connection()
    answer = produce_v7(conn, name, partition, batch, acks=acks)
    conn.close()
    out[label] = answer if isinstance(answer, str) else [error_code_name(answer[0]), answer[1]]
step("read back")
error, hw, records = fetch_v4(Connection(), topic(), 0, 0)
out["log"] = [error_code_name(error), hw, [b[:2] for b in batches_in(records)]]
emit(out)
