"""CreateTime and LogAppendTime topics: the timestamp type read back, the producer's timestamp
kept for CreateTime and replaced by the broker's clock for LogAppendTime."""

import time

from common import KEEP, create_topics, emit, produce_all, producer, read_back, step, topic, \
    wait_for_topic

created = create_topics([(topic("create"), 1, {**KEEP, "message.timestamp.type": "CreateTime"}),
                         (topic("append"), 1, {**KEEP, "message.timestamp.type": "LogAppendTime"})])
sent = [1600000000000, 1600000000500, 1500000000000]
out = {"created": created}
for kind in ("create", "append"):
    if created[topic(kind)] is not None:
        continue
    wait_for_topic(topic(kind), 1)
    step(kind)
    before = int(time.time() * 1000)
    produced = produce_all(producer(), topic(kind),
                           [(None, b"v", 0, None, ts) for ts in sent])
    read = read_back(topic(kind), 0, 0, len(sent))
    after = int(time.time() * 1000)
    out[kind] = {
        "produced": produced,
        "types": [r["timestamp_type"] for r in read],
        "kept": [r["timestamp"] == ts for r, ts in zip(read, sent)],
        # LogAppendTime: the broker's clock while the scenario ran.
        "broker_clock": [before - 1000 <= r["timestamp"] <= after + 1000 for r in read],
        "created_values": [r["timestamp"] for r in read] if kind == "create" else None,
    }
emit(out)
