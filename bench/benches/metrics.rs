//! The hot paths with the `metrics` feature on and no recorder installed, to compare with
//! the same build without the feature: the claim is that the two cost the same (every
//! handle is a no-op then, and what the hot paths add is a call and a test per handle, per
//! batch appended or partition polled).
//!
//! - `append/single`: `send` of one 100-byte record (one batch each);
//! - `append/batch=100`: `send_batch` of 100 such records;
//! - `read/catch_up`: a consumer reading 100 000 records written in batches of 1000;
//! - `read/single_sends`: the same, written by single sends (one batch per record, read on
//!   through as runs).
//!
//! Run the pair on a quiet machine, the second compared with the first:
//!
//! ```text
//! cargo bench -p strom-bench --bench metrics -- --save-baseline without
//! cargo bench -p strom-bench --bench metrics --features metrics -- --baseline without
//! ```
//!
//! (`-p strom-bench` alone builds strom without the feature: the library's own tests turn
//! it on only when they are built.)

#![expect(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use strom::{Broker, ConsumerConfig, OffsetReset, Record, TopicConfig, TopicPartition};

const VALUE_BYTES: usize = 100;
const READ_RECORDS: u64 = 100_000;

/// A broker with one topic in a fresh directory.
fn open() -> (tempfile::TempDir, Broker) {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path()).expect("open");
    broker
        .create_topic("bench", TopicConfig::default().segment_bytes(256 << 20))
        .expect("topic");
    (dir, broker)
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group.measurement_time(Duration::from_secs(5));
    let value = vec![b'x'; VALUE_BYTES];
    let (_dir, broker) = open();
    let producer = broker.producer();
    group.throughput(Throughput::Elements(1));
    group.bench_function("single", |b| {
        b.iter_batched(
            || Record::new(value.as_slice()),
            |record| black_box(producer.send("bench", record).expect("send")),
            BatchSize::SmallInput,
        );
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("batch=100", |b| {
        b.iter_batched(
            || -> Vec<Record> { (0..100).map(|_| Record::new(value.as_slice())).collect() },
            |records| black_box(producer.send_batch("bench", records).expect("send")),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn read(c: &mut Criterion) {
    let mut group = c.benchmark_group("read");
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(20);
    group.throughput(Throughput::Elements(READ_RECORDS));
    let value = vec![b'x'; VALUE_BYTES];
    for (name, batch) in [("catch_up", 1000), ("single_sends", 1)] {
        let (_dir, broker) = open();
        let producer = broker.producer();
        for _ in 0..READ_RECORDS / batch {
            let records = (0..batch).map(|_| Record::new(value.as_slice()));
            producer.send_batch("bench", records).expect("send");
        }
        let tp = TopicPartition::new("bench", 0);
        let mut consumer = broker.consumer(
            ConsumerConfig::default()
                .auto_offset_reset(OffsetReset::Earliest)
                .max_poll_records(10_000),
        );
        consumer.assign(std::slice::from_ref(&tp)).expect("assign");
        group.bench_function(name, |b| {
            b.iter(|| {
                consumer.seek(&tp, 0).expect("seek");
                let mut n = 0u64;
                while n < READ_RECORDS {
                    n += consumer.poll(Duration::ZERO).expect("poll").len() as u64;
                }
                n
            });
        });
    }
    group.finish();
}

criterion_group!(benches, append, read);
criterion_main!(benches);
