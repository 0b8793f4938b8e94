"""Metadata v4 by hand: all topics (a null list), no topics (an empty list), the scenario's
topics by name with an unknown one and an invalid name among them; what each answer lists."""

from common import Connection, NAME, Reader, array, create_topics, emit, error_code_name, i8, \
    i32, step, string, topic, wait_for_topic


def metadata(names, allow=False):
    body = (i32(-1) if names is None else array([string(n) for n in names])) + i8(allow)
    conn = Connection()
    r = Reader(conn.call(3, 4, body))
    conn.close()
    r.i32()
    brokers = r.array(lambda r: (r.i32(), r.string(), r.i32(), r.string()))
    r.string()
    controller = r.i32()
    topics = r.array(lambda r: (r.i16(), r.string(), r.i8(), r.array(
        lambda r: (r.i16(), r.i32(), r.i32(), r.array(lambda r: r.i32()),
                   r.array(lambda r: r.i32())))))
    ids = {b[0] for b in brokers}
    return {
        "brokers": len(brokers),
        "controller_listed": controller in ids,
        "topics": sorted([error_code_name(e), name, internal,
                          sorted([p[1], error_code_name(p[0]), p[2] in ids, len(p[3]), len(p[4])]
                                 for p in parts)]
                         for e, name, internal, parts in topics
                         if name is not None and name.startswith(NAME)),
        "internal_listed": sorted(name for _, name, internal, _ in topics if internal),
    }


create_topics([(topic("a"), 2, {}), (topic("b"), 1, {})])
wait_for_topic(topic("a"), 2)
wait_for_topic(topic("b"), 1)
out = {}
step("all")
out["all"] = metadata(None)
# Internal topics exist in Kafka only once a group or transaction made them: not compared.
out["all"].pop("internal_listed")
step("none")
out["none"] = metadata([])
step("named")
out["named"] = metadata([topic("b"), topic("missing"), topic("a"), topic("bad name!")])
emit(out)
