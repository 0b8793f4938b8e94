"""A topic's configs as given at creation, read back with DescribeConfigs: kafka-python's
describe_configs (by default only the configs set on the topic) and confluent-kafka's
describe_configs (every config, with where its value comes from). Then each client's
alter_configs (the AlterConfigs API), which replaces the topic's whole set of configs: the
keys not given go back to their defaults."""

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

step("kafka-python alter_configs")
ka = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
# AlterConfigs forced: the client reads the topic's own configs first and sends them along.
ka.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                 configs={"retention.ms": "7200000"})],
                incremental=False)
configs = ka.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
check_eq({k: v["value"] for k, v in configs["topic"][topic].items()},
         {"retention.ms": "7200000", "cleanup.policy": "compact"},
         "the config given, and the one the client carried along")
ka.close()

step("confluent-kafka alter_configs")
[f] = ca.alter_configs([CResource("topic", topic,
                                  set_config={"segment.bytes": "2000000"})]).values()
f.result(timeout=30)
[f] = ca.describe_configs([CResource("topic", topic)]).values()
entries = f.result(timeout=30)
check_eq(entries["segment.bytes"].value, "2000000", "segment.bytes set")
check(entries["retention.ms"].is_default, "retention.ms back to its default")
check_eq(entries["cleanup.policy"].value, "delete", "cleanup.policy back to its default")
summary(configs={"retention.ms": "3600000", "cleanup.policy": "compact"},
        altered=["kafka-python", "confluent-kafka"],
        clients=["kafka-python", "confluent-kafka"])
