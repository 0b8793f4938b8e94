"""Reads a whole topic and prints each record as one line of JSON, so that a test can compare
what a broker holds with what it expects, field by field, with no strom code on the reading side:

    python read_topic.py BOOTSTRAP TOPIC

    {"partitions": 3, "topic": "readings"}
    {"partition": 0, "offset": 0, "timestamp": 1700000000000, "key": "6b31", "value": "7631",
     "headers": [["unit", "63"], ["none", null]]}

The first line gives the topic's partition count, each further line one record. Keys, values and header values are hex (`null` for none); lines come partition by partition,
in offset order. kafka-python reads every partition from offset 0, without asking the broker
for its earliest or latest offsets (ListOffsets, which some Kafka-compatible brokers answer
wrongly), and stops once its position in each partition has reached the high watermark that
the broker's fetch responses report. Exits 1 with `FAIL read_topic: <what>` if the topic is
unknown or the end is not reached within the program's deadline.
"""

import json
import sys

from kafka import KafkaConsumer, TopicPartition

import common


def hex_or_none(data):
    return None if data is None else data.hex()


def main():
    bootstrap, _ = common.start()
    if len(sys.argv) != 3:
        print("usage: read_topic.py BOOTSTRAP TOPIC", file=sys.stderr)
        sys.exit(2)
    topic = sys.argv[2]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, client_id="read_topic")
    common.step(f"asking for {topic}'s partitions")
    partitions = consumer.partitions_for_topic(topic)
    common.check(partitions, f"no topic {topic} at {bootstrap}")
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, 0)
    read = {tp.partition: [] for tp in tps}

    def at_end():
        # highwater() is None until a fetch response for the partition has come.
        return all(consumer.highwater(tp) is not None
                   and consumer.position(tp) >= consumer.highwater(tp) for tp in tps)

    common.step(f"reading {topic} to the end of its {len(tps)} partitions")
    while not at_end():
        for tp, records in consumer.poll(timeout_ms=500).items():
            for r in records:
                read[tp.partition].append({
                    "partition": tp.partition,
                    "offset": r.offset,
                    "timestamp": r.timestamp,
                    "key": hex_or_none(r.key),
                    "value": hex_or_none(r.value),
                    "headers": [[k, hex_or_none(v)] for k, v in r.headers],
                })
    consumer.close()
    print(json.dumps({"topic": topic, "partitions": len(tps)}, sort_keys=True))
    for partition in sorted(read):
        for line in read[partition]:
            print(json.dumps(line, sort_keys=True))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
