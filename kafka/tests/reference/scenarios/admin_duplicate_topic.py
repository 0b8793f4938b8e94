"""Creating a topic that exists: from confluent's admin, from kafka-python's, and validated
only; the topic keeps its partitions."""

from common import BOOTSTRAP, confluent_admin, create_topics, emit, error_name, step, topic, \
    wait_for_topic
from kafka.admin import KafkaAdminClient, NewTopic

step("create")
first = create_topics([(topic(), 2, {})])
wait_for_topic(topic(), 2)
again = create_topics([(topic(), 4, {})])
validated = create_topics([(topic(), 4, {})], validate_only=True)
step("kafka-python")
admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
try:
    admin.create_topics([NewTopic(topic(), 1, 1)])
    kafka_python = None
except Exception as e:
    kafka_python = error_name(e)
admin.close()
md = confluent_admin().list_topics(timeout=10).topics
emit({"first": first[topic()], "again": again[topic()], "validate_only": validated[topic()],
      "kafka_python": kafka_python, "partitions": len(md[topic()].partitions)})
