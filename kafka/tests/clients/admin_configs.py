"""A topic's configs as given at creation, read back with DescribeConfigs: kafka-python's
describe_configs (by default only the configs set on the topic) and confluent-kafka's
describe_configs (every config, with where its value comes from)."""

from common import check, check_eq, name, start, step, summary
from confluent_kafka.admin import AdminClient, ConfigResource as CResource, NewTopic
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

bootstrap, _ = start()
topic = name("configs")
step("creating the topic")
ka = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
ka.create_topics({topic: {"num_partitions": 1, "replication_factor": 1,
                          "configs": {"retention.ms": "3600000",
                                      "cleanup.policy": "compact"}}}, wait_for_metadata=True)
step("kafka-python describe_configs")
result = ka.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
configs = result["topic"][topic]
check_eq({k: v["value"] for k, v in configs.items()},
         {"retention.ms": "3600000", "cleanup.policy": "compact"},
         "the topic's own configs (config_filter='modified')")
check_eq(configs["retention.ms"]["config_source"], "DYNAMIC_TOPIC_CONFIG", "retention.ms source")
ka.close()

step("confluent-kafka describe_configs")
ca = AdminClient({"bootstrap.servers": bootstrap})
[f] = ca.describe_configs([CResource("topic", topic)]).values()
entries = f.result(timeout=30)
check_eq(entries["retention.ms"].value, "3600000", "retention.ms")
check_eq(entries["cleanup.policy"].value, "compact", "cleanup.policy")
check(not entries["retention.ms"].is_default, "retention.ms is not a default")
check("segment.bytes" in entries, "every config described, segment.bytes among them")
summary(configs={"retention.ms": "3600000", "cleanup.policy": "compact"},
        clients=["kafka-python", "confluent-kafka"])
