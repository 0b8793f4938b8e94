"""CreateTopics with names Kafka refuses (empty, ".", "..", 250 characters, characters outside
[a-zA-Z0-9._-]) and the longest it takes (249); then which of them metadata lists."""

from common import NAME, confluent_admin, create_topics, emit, step, wait_for_topic

names = {
    "empty": "",
    "dot": ".",
    "dotdot": "..",
    "chars_250": (NAME + "-" + "x" * 250)[:250],
    "chars_249": (NAME + "-" + "y" * 249)[:249],
    "slash": NAME + "/a",
    "space": NAME + " a",
    "colon": NAME + ":a",
    "unicode": NAME + "-\u00e9",
}
step("create")
out = {}
for label, name in names.items():
    out[label] = create_topics([(name, 1, {})]).get(name, "no answer")
wait_for_topic(names["chars_249"], 1)
listed = sorted(t for t in confluent_admin().list_topics(timeout=10).topics if t.startswith(NAME))
emit({"created": out, "listed": [len(t) for t in listed]})
