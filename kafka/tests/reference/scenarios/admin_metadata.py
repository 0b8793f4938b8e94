"""Metadata of the scenario's topics as both admin clients see them: partitions, leaders
(one per partition, among the brokers listed), replicas, internal flags; kafka-python's
describe_topics; a list_topics of one topic."""

from common import BOOTSTRAP, NAME, confluent_admin, create_topics, emit, step, topic, \
    wait_for_topic
from kafka.admin import KafkaAdminClient

create_topics([(topic("a"), 1, {}), (topic("b"), 4, {}), (topic("c"), 2, {})])
for name, n in ((topic("a"), 1), (topic("b"), 4), (topic("c"), 2)):
    wait_for_topic(name, n)
step("confluent")
md = confluent_admin().list_topics(timeout=10)
brokers = set(md.brokers)
confluent = {}
for name, t in sorted(md.topics.items()):
    if name.startswith(NAME):
        confluent[name] = [[p.id, p.leader in brokers, len(p.replicas), len(p.isrs)]
                           for p in sorted(t.partitions.values(), key=lambda p: p.id)]
one = confluent_admin().list_topics(topic("b"), timeout=10).topics
step("kafka-python")
admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
described = admin.describe_topics([topic("a"), topic("b"), topic("c")])
kafka_python = {d["name"]: [d["error_code"], d["is_internal"],
                            sorted([p["partition_index"], p["error_code"], p["replica_nodes"] ==
                                    [p["leader_id"]]] for p in d["partitions"])]
                for d in described}
admin.close()
emit({"confluent": confluent, "one_topic": sorted(one), "kafka_python": kafka_python,
      "brokers": len(brokers)})
