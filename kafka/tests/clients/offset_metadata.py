"""The metadata string committed with an offset (OffsetCommit's committed_metadata), read back
by OffsetFetch: kafka-python's `commit({tp: OffsetAndMetadata(offset, metadata, -1)})` and
`committed(tp, metadata=True)`, confluent-kafka's `TopicPartition(..., metadata=...)`; a later
commit without metadata leaves ""; metadata over 4096 bytes is refused
(OffsetMetadataTooLargeError) and the partition keeps what it had."""

from common import check, check_eq, name, start, step, summary
from confluent_kafka import Consumer, TopicPartition
from kafka import KafkaAdminClient, KafkaConsumer
from kafka import TopicPartition as KTopicPartition
from kafka.errors import OffsetMetadataTooLargeError
from kafka.structs import OffsetAndMetadata

bootstrap, _ = start()
topic = name("offsets")
group = name("group")
step("creating the topic")
admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
admin.create_topics({topic: {"num_partitions": 2, "replication_factor": 1}},
                    wait_for_metadata=True)

step("kafka-python commit with metadata")
kc = KafkaConsumer(group_id=group, bootstrap_servers=bootstrap, enable_auto_commit=False,
                   request_timeout_ms=20000)
tp0, tp1 = KTopicPartition(topic, 0), KTopicPartition(topic, 1)
kc.assign([tp0, tp1])
kc.commit({tp0: OffsetAndMetadata(5, "resume at 9000", -1),
           tp1: OffsetAndMetadata(3, "", -1)})
got = kc.committed(tp0, metadata=True)
check_eq((got.offset, got.metadata), (5, "resume at 9000"), "kafka-python committed(tp0)")
got = kc.committed(tp1, metadata=True)
check_eq((got.offset, got.metadata), (3, ""), "kafka-python committed(tp1)")

step("kafka-python metadata too large")
try:
    kc.commit({tp0: OffsetAndMetadata(6, "m" * 4097, -1)})
    check(False, "a commit with 4097 bytes of metadata was accepted")
except OffsetMetadataTooLargeError:
    pass
got = kc.committed(tp0, metadata=True)
check_eq((got.offset, got.metadata), (5, "resume at 9000"), "committed(tp0) after the refusal")

step("admin list_group_offsets")
listed = admin.list_group_offsets({group: None})[group]
check_eq((listed[tp0].offset, listed[tp0].metadata), (5, "resume at 9000"),
         "admin list_group_offsets")
admin.close()

step("confluent-kafka reads and replaces it")
cc = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
[fetched] = cc.committed([TopicPartition(topic, 0)], timeout=20)
check_eq((fetched.offset, fetched.metadata), (5, "resume at 9000"), "confluent committed(0)")
cc.commit(offsets=[TopicPartition(topic, 1, 4, metadata="from librdkafka")], asynchronous=False)
cc.commit(offsets=[TopicPartition(topic, 0, 7)], asynchronous=False)
cc.close()

step("kafka-python sees confluent-kafka's commits")
got = kc.committed(tp1, metadata=True)
# confluent-kafka-python hands librdkafka the metadata with its C string's terminating NUL
# counted in, and a broker stores the bytes it is sent.
check_eq((got.offset, got.metadata.rstrip("\x00")), (4, "from librdkafka"),
         "committed(tp1) from librdkafka")
got = kc.committed(tp0, metadata=True)
check_eq((got.offset, got.metadata), (7, ""), "committed(tp0) after a commit without metadata")
kc.close()

summary(clients=["kafka-python", "confluent-kafka"],
        checked=["round trip", "too large", "admin list_group_offsets", "replaced without metadata", "across clients"])
