"""Fetch size limits: a first batch larger than max_bytes or partition_max_bytes still comes
whole (so a consumer always progresses); small limits return whole batches only."""

from common import KEEP, batches_in, Connection, create_topics, emit, error_code_name, fetch_v4, \
    produce_all, producer, read_back, step, topic, wait_for_topic

create_topics([(topic(), 1, KEEP)])
wait_for_topic(topic(), 1)
step("produce")
p = producer(**{"linger.ms": 0})
for i in range(4):
    produce_all(p, topic(), [(None, bytes([65 + i]) * 3000, 0, None, 1700000000000)])
conn = Connection()
out = {}
for label, max_bytes, partition_max in [("max_bytes_1", 1, 1 << 20),
                                        ("partition_max_1", 1 << 20, 1),
                                        ("both_100", 100, 100),
                                        ("room_for_two", 1 << 20, 6300),
                                        ("all", 1 << 20, 1 << 20)]:
    step(label)
    error, hw, records = fetch_v4(conn, topic(), 0, 1, max_bytes=max_bytes,
                                  partition_max_bytes=partition_max)
    whole = batches_in(records)
    out[label] = {"error": error_code_name(error), "high_watermark": hw,
                  "first_batch": whole[0][:2] if whole else None,
                  "whole_batches": len(whole)}
step("confluent with small limits")
read = read_back(topic(), 0, 0, 4, **{"fetch.max.bytes": 1000,
                                      "max.partition.fetch.bytes": 100,
                                      "message.max.bytes": 1000})
out["confluent_small_limits"] = [[r["offset"], len(r["value"])] for r in read]
emit(out)
