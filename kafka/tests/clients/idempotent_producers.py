"""Idempotent producers: confluent-kafka with enable.idempotence and kafka-python (idempotent by
default in 3.x) each send 1,000 records over 4 partitions, many in flight at once; every record
is stored exactly once, in the order sent per partition, at consecutive offsets."""

from common import check, check_eq, name, start, step, summary, Deadline
from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
from kafka import KafkaAdminClient, KafkaProducer

bootstrap, _ = start()
N, PARTITIONS = 1000, 4
step("creating the topics")
admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
topics = {"confluent-kafka": name("ck"), "kafka-python": name("kp")}
admin.create_topics({t: {"num_partitions": PARTITIONS, "replication_factor": 1}
                     for t in topics.values()}, wait_for_metadata=True)
admin.close()

step("confluent-kafka producing idempotently")
p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
              "linger.ms": 2, "batch.num.messages": 50,
              "max.in.flight.requests.per.connection": 5})
errors = []


def delivered(err, _msg):
    if err is not None:
        errors.append(str(err))


for i in range(N):
    p.produce(topics["confluent-kafka"], value=f"{i}".encode(), partition=i % PARTITIONS,
              on_delivery=delivered)
    p.poll(0)
check_eq(p.flush(30), 0, "records unsent after flush")
check_eq(errors, [], "delivery errors")

step("kafka-python producing idempotently")
kp = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=2,
                   batch_size=2048, max_in_flight_requests_per_connection=5)
futures = [kp.send(topics["kafka-python"], value=f"{i}".encode(), partition=i % PARTITIONS)
           for i in range(N)]
kp.flush(timeout=30)
for i, f in enumerate(futures):
    md = f.get(timeout=30)
    check_eq((md.partition, md.offset), (i % PARTITIONS, i // PARTITIONS), f"record {i}'s place")
kp.close(timeout=10)

c = Consumer({"bootstrap.servers": bootstrap, "group.id": name("reader"),
              "enable.auto.commit": False})
for producer_name, topic in topics.items():
    step(f"reading what {producer_name} produced")
    c.assign([TopicPartition(topic, q, OFFSET_BEGINNING) for q in range(PARTITIONS)])
    got = {q: [] for q in range(PARTITIONS)}
    d = Deadline(30)
    while sum(map(len, got.values())) < N and d.left():
        for m in c.consume(num_messages=1000, timeout=0.5):
            check(m.error() is None, f"consume error: {m.error()}")
            got[m.partition()].append((m.offset(), m.value()))
    for q in range(PARTITIONS):
        want = [(k, f"{i}".encode()) for k, i in enumerate(range(q, N, PARTITIONS))]
        check_eq(got[q], want, f"{producer_name}'s records in {topic}/{q}")
c.close()

summary(records_per_producer=N, partitions=PARTITIONS,
        producers=["confluent-kafka enable.idempotence", "kafka-python enable_idempotence"])
