"""CreateTopics with a partition count and configs, and with the broker's default count; what
metadata and DescribeConfigs then show for them."""

from common import confluent_admin, create_topics, emit, step, topic, wait_for_topic
from confluent_kafka.admin import ConfigResource

step("create")
created = create_topics([
    (topic("configured"), 3, {"retention.ms": "86400000", "cleanup.policy": "compact",
                              "max.message.bytes": "500000"}),
    (topic("defaults"), -1, {}),
])
wait_for_topic(topic("configured"), 3)
wait_for_topic(topic("defaults"), 1)
admin = confluent_admin()
md = admin.list_topics(timeout=10).topics
step("describe configs")
keys = ["retention.ms", "cleanup.policy", "max.message.bytes"]
resources = [ConfigResource("topic", topic("configured")), ConfigResource("topic", topic("defaults"))]
configs = {}
for resource, future in admin.describe_configs(resources).items():
    entries = future.result(timeout=30)
    configs[resource.name] = {k: [entries[k].value, entries[k].is_default] for k in keys}
emit({
    "created": created,
    "partitions": {t: sorted(md[t].partitions) for t in (topic("configured"), topic("defaults"))},
    "leaders_known": all(p.leader >= 0 for t in (topic("configured"), topic("defaults"))
                         for p in md[t].partitions.values()),
    "configs": configs,
})
