"""CreatePartitions: more partitions (then produced to), the same count, fewer, and for an
unknown topic."""

from common import confluent_admin, create_topics, emit, error_name, produce_all, producer, step, \
    topic, wait_for_topic
from confluent_kafka.admin import NewPartitions

create_topics([(topic(), 1, {})])
wait_for_topic(topic(), 1)
admin = confluent_admin()


def grow(name, count):
    try:
        list(admin.create_partitions([NewPartitions(name, count)]).values())[0].result(timeout=30)
        return None
    except Exception as e:
        return error_name(e)


out = {}
step("grow")
out["to_3"] = grow(topic(), 3)
wait_for_topic(topic(), 3)
out["same_3"] = grow(topic(), 3)
out["to_2"] = grow(topic(), 2)
out["unknown"] = grow(topic("missing"), 2)
out["partitions"] = sorted(admin.list_topics(timeout=10).topics[topic()].partitions)
step("produce to the new ones")
out["produced"] = produce_all(producer(), topic(), [(b"k", b"v", p, None, None) for p in range(3)])
emit(out)
