"""Reading from a given offset, with confluent-kafka (assign at an offset, then seek back) and
kafka-python (seek), and with a raw Fetch v4: the records and the high watermark."""

from common import BOOTSTRAP, KEEP, batches_in, Connection, create_topics, emit, error_code_name, \
    fetch_v4, produce_all, producer, read_back, size, step, topic, wait_for_topic
from kafka import KafkaConsumer, TopicPartition

create_topics([(topic(), 2, KEEP)])
wait_for_topic(topic(), 2)
step("produce")
p = producer(**{"linger.ms": 0})
for i in range(10):
    produce_all(p, topic(), [(b"k%d" % i, b"v%d" % i, 1, None, 1700000000000 + i)])
out = {}
step("confluent")
out["confluent_from_5"] = [[r["offset"], r["value"]] for r in read_back(topic(), 1, 5, 5)]
out["confluent_from_0"] = [[r["offset"], r["value"]] for r in read_back(topic(), 1, 0, 2)]
step("kafka-python")
c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False,
                  consumer_timeout_ms=20000)
tp = TopicPartition(topic(), 1)
c.assign([tp])
c.seek(tp, 7)
got = []
for msg in c:
    got.append([msg.offset, msg.value.decode()])
    if len(got) == 3:
        break
out["kafka_python_from_7"] = got
out["kafka_python_positions"] = [c.beginning_offsets([tp])[tp], c.end_offsets([tp])[tp]]
c.close()
step("raw")
conn = Connection()
error, hw, records = fetch_v4(conn, topic(), 1, 9)
out["raw_from_9"] = [error_code_name(error), hw, [b[:2] for b in batches_in(records)]]
error, hw, records = fetch_v4(conn, topic(), 1, 10)
out["raw_at_end"] = [error_code_name(error), hw, size(records)]
error, hw, records = fetch_v4(conn, topic(), 0, 0)
out["raw_empty_partition"] = [error_code_name(error), hw, size(records)]
error, hw, records = fetch_v4(conn, topic(), 5, 0)
out["raw_no_such_partition"] = [error_code_name(error), hw, size(records)]
emit(out)
