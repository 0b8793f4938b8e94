"""Topic administration from kafka-python's KafkaAdminClient and confluent-kafka's AdminClient:
create (partitions and a retention.ms config; validate_only creates nothing), list, describe,
Kafka's errors for a duplicate, a bad partition count and a bad name, delete, and the error for
deleting a topic that does not exist."""

from common import check, check_eq, fail, name, start, step, summary, wait_until
from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient
from kafka import errors as kerrors

bootstrap, _ = start()


def raises(fn, error, what):
    try:
        fn()
    except error:
        return
    except Exception as e:
        fail(f"{what}: expected {error.__name__}, got {type(e).__name__}: {e}")
    fail(f"{what}: expected {error.__name__}, got no error")


step("kafka-python: create")
ka = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
t1 = name("kp")
result = ka.create_topics({t1: {"num_partitions": 3, "replication_factor": 1,
                                "configs": {"retention.ms": "3600000"}}})
check_eq([(t["name"], t["error_code"]) for t in result["topics"]], [(t1, 0)], "create answer")
ka.wait_for_topics([t1], timeout_ms=20000)
check(t1 in ka.list_topics(), f"{t1} in list_topics")
[described] = ka.describe_topics([t1])
check_eq(described["error_code"], 0, "describe error code")
check_eq(sorted(p["partition_index"] for p in described["partitions"]), [0, 1, 2],
         f"{t1}'s partitions")
check(all(p["leader_id"] >= 0 and p["error_code"] == 0 for p in described["partitions"]),
      f"every partition of {t1} has a leader: {described['partitions']}")
step("kafka-python: validate_only")
t_validate = name("kp-validate")
ka.create_topics({t_validate: {"num_partitions": 1, "replication_factor": 1}},
                 validate_only=True)
check(t_validate not in ka.list_topics(), f"validate_only created {t_validate}")
step("kafka-python: errors")
raises(lambda: ka.create_topics({t1: {"num_partitions": 1, "replication_factor": 1}}),
       kerrors.TopicAlreadyExistsError, "creating an existing topic")
raises(lambda: ka.create_topics({name("zero"): {"num_partitions": 0, "replication_factor": 1}}),
       kerrors.InvalidPartitionsError, "creating a topic of 0 partitions")
raises(lambda: ka.create_topics({"bad name!": {"num_partitions": 1, "replication_factor": 1}}),
       kerrors.InvalidTopicError, "creating a topic named 'bad name!'")
step("kafka-python: delete")
result = ka.delete_topics([t1])
check_eq([(t["name"], t["error_code"]) for t in result["topics"]], [(t1, 0)], "delete answer")
wait_until(lambda: t1 not in ka.list_topics(), 30, f"{t1} gone from list_topics")
raises(lambda: ka.delete_topics([name("never")]), kerrors.UnknownTopicOrPartitionError,
       "deleting a topic that does not exist")
ka.close()

step("confluent-kafka: create")
ca = AdminClient({"bootstrap.servers": bootstrap})
t2 = name("ck")
for f in ca.create_topics([NewTopic(t2, 2, 1, config={"retention.ms": "7200000"})],
                          operation_timeout=20).values():
    f.result(timeout=30)
wait_until(lambda: t2 in ca.list_topics(timeout=20).topics, 20, f"{t2} in list_topics")
md = ca.list_topics(topic=t2, timeout=20).topics[t2]
check(md.error is None, f"{t2} metadata error: {md.error}")
check_eq(sorted(md.partitions), [0, 1], f"{t2}'s partitions in metadata")
desc = ca.describe_topics(TopicCollection([t2]))[t2].result(timeout=30)
check_eq(desc.name, t2, "describe_topics name")
check_eq([p.id for p in desc.partitions], [0, 1], "describe_topics partitions")
check(all(p.leader is not None for p in desc.partitions), "every partition has a leader")
step("confluent-kafka: errors")


def create_error(topic, partitions):
    try:
        ca.create_topics([NewTopic(topic, partitions, 1)])[topic].result(timeout=30)
    except KafkaException as e:
        return e.args[0].code()
    return None


check_eq(create_error(t2, 1), KafkaError.TOPIC_ALREADY_EXISTS, "creating an existing topic")
check_eq(create_error("bad name!", 1), KafkaError.TOPIC_EXCEPTION, "creating 'bad name!'")
step("confluent-kafka: delete")
for f in ca.delete_topics([t2], operation_timeout=20).values():
    f.result(timeout=30)
wait_until(lambda: t2 not in ca.list_topics(timeout=20).topics, 30, f"{t2} gone")
try:
    ca.delete_topics([name("never")])[name("never")].result(timeout=30)
    fail("deleting a topic that does not exist: no error")
except KafkaException as e:
    check_eq(e.args[0].code(), KafkaError.UNKNOWN_TOPIC_OR_PART, "deleting an unknown topic")

summary(clients=["kafka-python KafkaAdminClient", "confluent-kafka AdminClient"],
        checked=["create with partitions and retention.ms", "validate_only", "list",
                 "describe", "TopicAlreadyExists", "InvalidPartitions", "InvalidTopic",
                 "delete", "UnknownTopicOrPartition on delete"])
