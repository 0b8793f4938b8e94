"""Unknown topics: produced to (the broker creates them, auto.create.topics.enable being on in
both), a consumer that does not allow auto-creation (confluent's allow.auto.create.topics=false)
and Metadata v4 asking with and without allow_auto_topic_creation."""

from confluent_kafka import Consumer

from common import BOOTSTRAP, array, confluent_admin, Connection, emit, error_code_name, i8, \
    produce_all, producer, Reader, step, string, topic, wait_for_topic


def metadata(name, allow):
    conn = Connection()
    answer = conn.call(3, 4, array([string(name)]) + i8(1 if allow else 0))
    conn.close()
    r = Reader(answer)
    r.i32()
    r.array(lambda r: (r.i32(), r.string(), r.i32(), r.string()))
    r.string()
    r.i32()
    topics = r.array(lambda r: (r.i16(), r.string(), r.i8(), r.array(
        lambda r: (r.i16(), r.i32(), r.i32(), r.array(lambda r: r.i32()),
                   r.array(lambda r: r.i32())))))
    error, _, internal, partitions = topics[0]
    return [error_code_name(error), len(partitions)]


out = {}
step("produce")
out["produced"] = produce_all(producer(), topic("produced"), [(None, b"v", None, None, None)])
step("metadata")
out["metadata_not_allowed"] = metadata(topic("asked"), False)
out["metadata_allowed"] = metadata(topic("asked"), True)
wait_for_topic(topic("asked"), 1)
out["metadata_after"] = metadata(topic("asked"), False)
step("consumer without auto-create")
c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": topic("group"),
              "allow.auto.create.topics": False})
md = c.list_topics(topic("consumed"), timeout=10)
t = md.topics[topic("consumed")]
out["consumer_metadata"] = [t.error.name() if t.error else None, len(t.partitions)]
c.close()
out["listed"] = sorted(n for n in confluent_admin().list_topics(timeout=10).topics
                       if n.startswith(topic()))
emit(out)
