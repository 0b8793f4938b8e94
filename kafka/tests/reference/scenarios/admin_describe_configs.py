"""DescribeConfigs of a topic with one config of its own: the value, whether it is the default,
and the source of the topic's common keys; an unknown topic's error."""

from common import confluent_admin, create_topics, emit, error_name, step, topic, wait_for_topic
from confluent_kafka.admin import ConfigResource

create_topics([(topic(), 1, {"retention.ms": "3600000"})])
wait_for_topic(topic(), 1)
admin = confluent_admin()
keys = ["retention.ms", "retention.bytes", "cleanup.policy", "compression.type",
        "max.message.bytes", "message.timestamp.type", "segment.bytes", "segment.ms",
        "min.compaction.lag.ms", "delete.retention.ms"]
step("describe")
entries = admin.describe_configs([ConfigResource("topic", topic())])
entries = list(entries.values())[0].result(timeout=30)
described = {k: {"value": entries[k].value, "default": entries[k].is_default,
                 "source": entries[k].source, "sensitive": entries[k].is_sensitive}
             for k in keys if k in entries}
step("describe unknown")
try:
    list(admin.describe_configs([ConfigResource("topic", topic("missing"))]).values())[0] \
        .result(timeout=30)
    unknown = None
except Exception as e:
    unknown = error_name(e)
emit({"described": described, "missing_keys": [k for k in keys if k not in entries],
      "unknown_topic": unknown})
