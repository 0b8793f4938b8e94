"""DeleteTopics: a topic with records deleted, then listed, described, deleted again and
produced to (created anew); an unknown topic deleted."""

from common import NAME, confluent_admin, create_topics, emit, error_name, produce_all, producer, \
    step, topic, wait_for_topic
from confluent_kafka.admin import ConfigResource

create_topics([(topic(), 2, {}), (topic("kept"), 1, {})])
wait_for_topic(topic(), 2)
wait_for_topic(topic("kept"), 1)
produce_all(producer(), topic(), [(b"k", b"v", 0, None, None)])
admin = confluent_admin()


def delete(name):
    try:
        list(admin.delete_topics([name], operation_timeout=30).values())[0].result(timeout=60)
        return None
    except Exception as e:
        return error_name(e)


out = {}
step("delete")
out["delete"] = delete(topic())
wait_for_topic(topic(), present=False)
out["listed"] = sorted(t for t in admin.list_topics(timeout=10).topics if t.startswith(NAME))
out["again"] = delete(topic())
out["unknown"] = delete(topic("never"))
step("describe configs")
try:
    list(admin.describe_configs([ConfigResource("topic", topic())]).values())[0].result(timeout=30)
    out["describe"] = None
except Exception as e:
    out["describe"] = error_name(e)
step("produce to the deleted topic")
# Auto-creation is on in both brokers: the topic comes back, new and empty, with the default
# partition count.
out["produced_after"] = produce_all(producer(), topic(), [(b"k", b"again", None, None, None)])
wait_for_topic(topic(), 1)
out["partitions_after"] = len(admin.list_topics(timeout=10).topics[topic()].partitions)
emit(out)
