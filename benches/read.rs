//! Catch-up read throughput: a consumer reading a partition from the start.
//! Run: `cargo bench --bench read`.

#![expect(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use strom::{Broker, ConsumerConfig, OffsetReset, Record, TopicConfig, TopicPartition};

const RECORDS: u64 = 1_000_000;

fn read(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path()).expect("open");
    broker
        .create_topic("bench", TopicConfig::default().segment_bytes(64 << 20))
        .expect("topic");
    let producer = broker.producer();
    let value = vec![b'x'; 100];
    for _ in 0..RECORDS / 1000 {
        producer
            .send_batch("bench", (0..1000).map(|_| Record::new(value.as_slice())))
            .expect("send");
    }
    let tp = TopicPartition::new("bench", 0);
    let mut group = c.benchmark_group("read");
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(10);
    group.throughput(Throughput::Elements(RECORDS));
    group.bench_function("size=100/catch_up", |b| {
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
    group.finish();
}

criterion_group!(benches, read);
criterion_main!(benches);
