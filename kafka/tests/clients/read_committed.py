"""Reads a whole topic with confluent-kafka (librdkafka) at `isolation.level=read_committed`
and prints each record as one line of JSON, in read_topic.py's shape, so that a test can hold
what a broker holds against what it expects with a reader that shares no code with strom or
with kafka-python:

    python read_committed.py BOOTSTRAP TOPIC

    {"partitions": 3, "topic": "orders"}
    {"partition": 0, "offset": 0, "timestamp": 1700000000000, "key": "6b31", "value": "7631",
     "headers": [["unit", "63"]]}

Keys, values and header values are hex (`null` for none); lines come partition by partition,
in offset order. Every partition is read from offset 0 until librdkafka reports its end
(`enable.partition.eof`), which under read_committed is the last stable offset: records of
aborted transactions and transaction markers are never printed, and a transaction still open
would hold the end back. Exits 1 with `FAIL read_committed: <what>` if the topic is unknown
or a partition's end is not reached within the program's deadline.
"""

import json
import sys

from confluent_kafka import Consumer, KafkaError, TopicPartition

import common


def hex_or_none(data):
    return None if data is None else data.hex()


def main():
    bootstrap, _ = common.start()
    if len(sys.argv) != 3:
        print("usage: read_committed.py BOOTSTRAP TOPIC", file=sys.stderr)
        sys.exit(2)
    topic = sys.argv[2]
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "read-committed",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "isolation.level": "read_committed",
                         "client.id": "read_committed"})
    common.step(f"asking for {topic}'s partitions")
    metadata = consumer.list_topics(topic, timeout=30).topics.get(topic)
    common.check(metadata is not None and metadata.error is None and metadata.partitions,
                 f"no topic {topic} at {bootstrap}")
    partitions = sorted(metadata.partitions)
    # assign(), not subscribe(): no group coordination, each partition from offset 0.
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    read = {p: [] for p in partitions}
    ended = set()
    common.step(f"reading {topic} to the end of its {len(partitions)} partitions")
    while len(ended) < len(partitions):
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                ended.add(msg.partition())
                continue
            common.fail(f"reading {topic}[{msg.partition()}]: {msg.error()}")
        # A record after the partition's end was reported: the end moved (it must not, as
        # nothing writes while this reads), so it is read again.
        ended.discard(msg.partition())
        read[msg.partition()].append({
            "partition": msg.partition(),
            "offset": msg.offset(),
            "timestamp": msg.timestamp()[1],
            "key": hex_or_none(msg.key()),
            "value": hex_or_none(msg.value()),
            "headers": [[k, hex_or_none(v)] for k, v in (msg.headers() or [])],
        })
    consumer.close()
    print(json.dumps({"topic": topic, "partitions": len(partitions)}, sort_keys=True))
    for partition in partitions:
        for line in read[partition]:
            print(json.dumps(line, sort_keys=True))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
