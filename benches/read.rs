//! Catch-up read throughput: a consumer reading a partition from the start, written in
//! batches of 1000 (`catch_up`) and one record per `send` (`catch_up_single_sends`, where
//! each record is a batch of its own and the batch header's size and checks count most).
//! Run: `cargo bench --bench read`.

#![expect(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use strom::{Broker, ConsumerConfig, OffsetReset, Record, TopicConfig, TopicPartition};

const RECORDS: u64 = 1_000_000;

fn read(c: &mut Criterion) {
    let mut group = c.benchmark_group("read");
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(10);
    group.throughput(Throughput::Elements(RECORDS));
    for (name, batch) in [("catch_up", 1000), ("catch_up_single_sends", 1)] {
        let dir = tempfile::tempdir().expect("temp dir");
        let broker = Broker::open(dir.path()).expect("open");
        broker
            .create_topic("bench", TopicConfig::default().segment_bytes(256 << 20))
            .expect("topic");
        let producer = broker.producer();
        let value = vec![b'x'; 100];
        for _ in 0..RECORDS / batch {
            if batch == 1 {
                producer
                    .send("bench", Record::new(value.as_slice()))
                    .expect("send");
            } else {
                producer
                    .send_batch("bench", (0..batch).map(|_| Record::new(value.as_slice())))
                    .expect("send");
            }
        }
        let tp = TopicPartition::new("bench", 0);
        group.bench_function(format!("size=100/{name}"), |b| {
            let mut consumer = broker.consumer(
                ConsumerConfig::default()
                    .auto_offset_reset(OffsetReset::Earliest)
                    .max_poll_records(10_000),
            );
            consumer.assign(std::slice::from_ref(&tp)).expect("assign");
            b.iter(|| {
                consumer.seek(&tp, 0).expect("seek");
                let mut n = 0u64;
                let mut bytes = 0usize;
                while n < RECORDS {
                    let records = consumer.poll(Duration::ZERO).expect("poll");
                    for r in &records {
                        bytes += r.value().len();
                    }
                    n += records.len() as u64;
                }
                bytes
            });
        });
    }
    group.finish();
}

criterion_group!(benches, read);
criterion_main!(benches);
