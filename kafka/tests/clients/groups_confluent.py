"""confluent-kafka consumers in one group: see group_scenario.py (split, rebalance on leave,
resume at committed offsets)."""

from common import check, start, summary
from confluent_kafka import Consumer, TopicPartition
import group_scenario


class Client:
    def __init__(self, topic, group):
        self.topic, self.group = topic, group

    def config(self):
        return {"bootstrap.servers": bootstrap, "group.id": self.group,
                "enable.auto.commit": False, "auto.offset.reset": "earliest",
                "session.timeout.ms": 10000, "heartbeat.interval.ms": 500,
                "fetch.wait.max.ms": 200}

    def open(self):
        consumer = Consumer(self.config())
        consumer.subscribe([self.topic])
        return consumer

    def poll(self, consumer):
        out = []
        for m in consumer.consume(num_messages=100, timeout=0.2):
            if m.error():
                raise RuntimeError(f"consume error: {m.error()}")
            out.append((m.partition(), m.offset(), m.value()))
        return out

    def commit(self, consumer):
        consumer.commit(asynchronous=False)

    def assignment(self, consumer):
        return {tp.partition for tp in consumer.assignment()}

    def close(self, consumer):
        consumer.close()

    def committed(self, partitions):
        consumer = Consumer(self.config())
        tps = consumer.committed([TopicPartition(self.topic, p) for p in range(partitions)],
                                 timeout=20)
        consumer.close()
        for tp in tps:
            check(tp.error is None, f"committed offset of partition {tp.partition}: {tp.error}")
        return {tp.partition: tp.offset for tp in tps}


bootstrap, _ = start()
summary(client="confluent-kafka", **group_scenario.run(bootstrap, Client))
