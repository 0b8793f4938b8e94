"""ListOffsets through confluent's admin client: earliest, latest, the record with the largest
timestamp (max_timestamp), by timestamp (before, between, after the records), with both
isolation levels; an unknown partition's error."""

from common import KEEP, confluent_admin, create_topics, emit, error_name, produce_all, producer, \
    step, topic, wait_for_topic
from confluent_kafka import IsolationLevel, TopicPartition
from confluent_kafka.admin import OffsetSpec

create_topics([(topic(), 2, KEEP)])
wait_for_topic(topic(), 2)
base = 1700000000000
step("produce")
p = producer(**{"linger.ms": 0})
for ts in (1000, 5000, 3000, 5000, 2000):
    produce_all(p, topic(), [(None, b"v", 0, None, base + ts)])
admin = confluent_admin()


def listed(partition, spec, isolation=IsolationLevel.READ_UNCOMMITTED):
    tp = TopicPartition(topic(), partition)
    try:
        info = admin.list_offsets({tp: spec}, isolation_level=isolation)[tp].result(timeout=30)
        return [info.offset, info.timestamp - base if info.timestamp >= 0 else info.timestamp]
    except Exception as e:
        return error_name(e)


out = {}
for label, spec in [("earliest", OffsetSpec.earliest()), ("latest", OffsetSpec.latest()),
                    ("max_timestamp", OffsetSpec.max_timestamp()),
                    ("at_0", OffsetSpec.for_timestamp(base)),
                    ("at_2500", OffsetSpec.for_timestamp(base + 2500)),
                    ("at_5000", OffsetSpec.for_timestamp(base + 5000)),
                    ("after", OffsetSpec.for_timestamp(base + 9000))]:
    step(label)
    out[label] = listed(0, spec)
    out[label + "_read_committed"] = listed(0, spec, IsolationLevel.READ_COMMITTED)
    out[label + "_empty_partition"] = listed(1, spec)
out["unknown_partition"] = listed(7, OffsetSpec.latest())
emit(out)
