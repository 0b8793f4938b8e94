//! Append throughput: `send` one record at a time and `send_batch` of 100 and 1000, for
//! 100-byte and 1 KiB values, under each sync policy; beside `send_batch` of 1000 100-byte
//! records, a reused `BatchBuilder` pushing and sending as many (`.../batch=1000/builder/...`).
//! Run: `cargo bench --bench append` (or a subset: `cargo bench --bench append -- sync=never`,
//! or the two of 1000 side by side: `-- 'size=100/batch=1000.*sync=never'`).
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

/// Records made ahead of the clock at a time: about 2 MiB of them.
///
/// Making all of a sample's records first (hundreds of thousands of calls, gigabytes of
/// heap) would time reading them back from main memory, which no producer that builds a
/// record just before sending it pays; a few megabytes stay in cache, as they would.
const CHUNK_BYTES: usize = 2 << 20;

/// Times `iters` calls that each append `batch` records of `size` bytes.
fn run(iters: u64, size: usize, batch: usize, sync: SyncPolicy) -> Duration {
    let (_dir, broker) = open(sync);
    let producer = broker.producer();
    let value = vec![b'x'; size];
    let per_chunk = (CHUNK_BYTES / (size * batch)).max(1) as u64;
    let mut elapsed = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let calls = per_chunk.min(iters - done);
        let batches: Vec<Vec<Record>> = (0..calls)
            .map(|_| (0..batch).map(|_| Record::new(value.as_slice())).collect())
            .collect();
        // Results are kept and dropped after the clock stops, as criterion's `iter` would.
        if batch == 1 {
            let singles: Vec<Record> = batches.into_iter().flatten().collect();
            let mut results = Vec::with_capacity(singles.len());
            let start = Instant::now();
            for record in singles {
                results.push(producer.send("bench", record).expect("send"));
            }
            elapsed += start.elapsed();
            black_box(results);
        } else {
            let mut results = Vec::with_capacity(batches.len());
            let start = Instant::now();
            for records in batches {
                results.push(producer.send_batch("bench", records).expect("send"));
            }
            elapsed += start.elapsed();
            black_box(results);
        }
        done += calls;
    }
    elapsed
}

/// Times `iters` calls of a reused `BatchBuilder` that each push `batch` records of `size`
/// bytes and send them.
///
/// The pushes are timed: they are the copy that replaces making `Record`s, which [`run`]
/// leaves out of its time, so this row pays for more of the work than `send_batch`'s does.
fn run_builder(iters: u64, size: usize, batch: usize, sync: SyncPolicy) -> Duration {
    let (_dir, broker) = open(sync);
    let mut builder = broker.producer().batch("bench").expect("builder");
    let value = vec![b'x'; size];
    let mut results = Vec::with_capacity(usize::try_from(iters).unwrap_or(0));
    let start = Instant::now();
    for _ in 0..iters {
        for _ in 0..batch {
            builder.push(None, &value).expect("push");
        }
        results.push(builder.send().expect("send"));
    }
    let elapsed = start.elapsed();
    black_box(results);
    elapsed
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
                if size == 100 && batch == 1000 {
                    let id = format!("size={size}/batch={batch}/builder/sync={name}");
                    group.bench_function(&id, |b| {
                        b.iter_custom(|iters| run_builder(iters, size, batch, sync));
                    });
                }
            }
        }
    }
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
