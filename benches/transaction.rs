//! Transactional throughput: transactions of 1, 10, 100 and 1000 records of 100 bytes (one
//! `send_batch` each, then `commit_transaction`), `SyncPolicy::Never` otherwise; and, as the
//! baseline measured in the same run, what a transaction's commit has to cost at least:
//! the same 100 records sent plainly and made durable with one `flush` (the copy plus one
//! fsync); and a consume-transform-produce step, 100 records with the input's offsets, alone
//! and 4 and 16 at once.
//! Run: `cargo bench --bench transaction`.

#![expect(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use strom::{Broker, GroupMetadata, Record, TopicConfig, TopicPartition};

const TOPIC: &str = "bench";

fn open() -> (tempfile::TempDir, Broker) {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path()).expect("open");
    broker
        .create_topic(TOPIC, TopicConfig::default().segment_bytes(256 << 20))
        .expect("topic");
    (dir, broker)
}

fn records(n: usize) -> Vec<Record> {
    (0..n).map(|_| Record::new(vec![b'x'; 100])).collect()
}

fn transactions(c: &mut Criterion) {
    let mut group = c.benchmark_group("transaction");
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(20);
    for n in [1usize, 10, 100, 1000] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("commit", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let (_dir, broker) = open();
                let producer = broker.transactional_producer("bench").expect("producer");
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    let batch = records(n);
                    let start = Instant::now();
                    producer.begin_transaction().expect("begin");
                    black_box(producer.send_batch(TOPIC, batch).expect("send"));
                    producer.commit_transaction().expect("commit");
                    elapsed += start.elapsed();
                }
                elapsed
            });
        });
    }
    // A consume-transform-produce step: 100 records and the input offsets, committed
    // together; then 4 and 16 such steps at once, each with its own producer and input
    // partition, as detector threads would run them: their commits share fsyncs (the
    // group commit), so each costs a fraction of one. One iteration is one step each.
    for producers in [1, 4, 16] {
        group.throughput(Throughput::Elements(100 * producers));
        let name = if producers == 1 {
            "commit_with_offsets/100".to_string()
        } else {
            format!("concurrent_commits_with_offsets/{producers}x100")
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (_dir, broker) = open();
                let start = Instant::now();
                std::thread::scope(|s| {
                    for p in 0..producers {
                        let broker = &broker;
                        s.spawn(move || copy_steps(broker, p, iters));
                    }
                });
                start.elapsed()
            });
        });
    }
    // The floor for a transaction of 100: the same records, one fsync.
    group.throughput(Throughput::Elements(100));
    group.bench_function("plain_send_and_flush/100", |b| {
        b.iter_custom(|iters| {
            let (_dir, broker) = open();
            let producer = broker.producer();
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let batch = records(100);
                let start = Instant::now();
                black_box(producer.send_batch(TOPIC, batch).expect("send"));
                producer.flush().expect("flush");
                elapsed += start.elapsed();
            }
            elapsed
        });
    });
    group.finish();
}

/// `steps` consume-transform-produce steps of 100 records by producer `p`.
fn copy_steps(broker: &Broker, p: u64, steps: u64) {
    let producer = broker
        .transactional_producer(&format!("bench-{p}"))
        .expect("producer");
    let group = GroupMetadata {
        group_id: "copiers".into(),
        generation: 0,
        member_id: String::new(),
    };
    let input = TopicPartition::new("input", u32::try_from(p).expect("partition"));
    for i in 0..steps {
        let batch = records(100);
        producer.begin_transaction().expect("begin");
        black_box(producer.send_batch(TOPIC, batch).expect("send"));
        producer
            .send_offsets_to_transaction(&[(input.clone(), (i + 1) * 100)], &group)
            .expect("offsets");
        producer.commit_transaction().expect("commit");
    }
}

criterion_group!(benches, transactions);
criterion_main!(benches);
