//! Append throughput: `send` one record at a time and `send_batch` of 100 and 1000, for
//! 100-byte and 1 KiB values, under each sync policy. Run: `cargo bench --bench append`
//! (or a subset: `cargo bench --bench append -- sync=never`).
//!
//! Each sample appends to a fresh data directory that is deleted afterwards, so the
//! figures measure strom and the page cache rather than how far the disk's write-back has
//! fallen behind after gigabytes of earlier samples.

#![expect(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use strom::{Broker, BrokerConfig, Record, SyncPolicy, TopicConfig};

/// Opens a broker with one topic in a fresh directory.
fn open(sync: SyncPolicy) -> (tempfile::TempDir, Broker) {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open_with(dir.path(), BrokerConfig::default().sync(sync)).expect("open");
    broker
        .create_topic("bench", TopicConfig::default().segment_bytes(256 << 20))
        .expect("topic");
    (dir, broker)
}

/// Times `iters` calls that each append `batch` records of `size` bytes.
fn run(iters: u64, size: usize, batch: usize, sync: SyncPolicy) -> Duration {
    let (_dir, broker) = open(sync);
    let producer = broker.producer();
    let value = vec![b'x'; size];
    let mut batches: Vec<Vec<Record>> = (0..iters)
        .map(|_| (0..batch).map(|_| Record::new(value.as_slice())).collect())
        .collect();
    // Results are kept and dropped after the clock stops, as criterion's `iter` would.
    if batch == 1 {
        let singles: Vec<Record> = batches.drain(..).flatten().collect();
        let mut results = Vec::with_capacity(singles.len());
        let start = Instant::now();
        for record in singles {
            results.push(producer.send("bench", record).expect("send"));
        }
        let elapsed = start.elapsed();
        black_box(results);
        elapsed
    } else {
        let mut results = Vec::with_capacity(batches.len());
        let start = Instant::now();
        for records in batches.drain(..) {
            results.push(producer.send_batch("bench", records).expect("send"));
        }
        let elapsed = start.elapsed();
        black_box(results);
        elapsed
    }
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group.measurement_time(Duration::from_secs(3));
    let policies = [
        ("never", SyncPolicy::Never),
        ("interval", SyncPolicy::Interval(Duration::from_millis(100))),
        ("always", SyncPolicy::Always),
    ];
    for (name, sync) in policies {
        // An fsync per call makes `Always` slow; fewer samples keep the run short.
        group.sample_size(if sync == SyncPolicy::Always { 10 } else { 30 });
        for size in [100usize, 1024] {
            for batch in [1usize, 100, 1000] {
                group.throughput(Throughput::Elements(batch as u64));
                let id = format!("size={size}/batch={batch}/sync={name}");
                group.bench_function(&id, |b| {
                    b.iter_custom(|iters| run(iters, size, batch, sync));
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
