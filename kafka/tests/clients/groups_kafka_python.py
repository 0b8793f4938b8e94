"""kafka-python consumers in one group: see group_scenario.py (split, rebalance on leave,
resume at committed offsets)."""

from common import start, summary
from kafka import KafkaConsumer, TopicPartition
import group_scenario


class Client:
    def __init__(self, topic, group):
        self.topic, self.group = topic, group
        self.bootstrap = bootstrap

    def open(self):
        return KafkaConsumer(self.topic, group_id=self.group, bootstrap_servers=self.bootstrap,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             session_timeout_ms=10000, heartbeat_interval_ms=500,
                             fetch_max_wait_ms=200, request_timeout_ms=20000)

    def poll(self, consumer):
        return [(m.partition, m.offset, m.value)
                for msgs in consumer.poll(timeout_ms=200).values() for m in msgs]

    def commit(self, consumer):
        consumer.commit()

    def assignment(self, consumer):
        return {tp.partition for tp in consumer.assignment()}

    def close(self, consumer):
        consumer.close()

    def committed(self, partitions):
        consumer = KafkaConsumer(group_id=self.group, bootstrap_servers=self.bootstrap,
                                 enable_auto_commit=False)
        result = {p: consumer.committed(TopicPartition(self.topic, p)) for p in range(partitions)}
        consumer.close()
        return result


bootstrap, _ = start()
summary(client="kafka-python", **group_scenario.run(bootstrap, Client))
