//! Append throughput: `send` one record at a time and `send_batch`, by record size and
//! sync policy. Run: `cargo bench --bench append`.

#![expect(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use strom::{Broker, BrokerConfig, Record, SyncPolicy, TopicConfig};

fn open(sync: SyncPolicy) -> (tempfile::TempDir, Broker) {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open_with(dir.path(), BrokerConfig::default().sync(sync)).expect("open");
    broker
        .create_topic("bench", TopicConfig::default().segment_bytes(256 << 20))
        .expect("topic");
    (dir, broker)
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group.measurement_time(Duration::from_secs(3));
    for size in [100usize, 1024] {
        for batch in [1usize, 100, 1000] {
            let (_dir, broker) = open(SyncPolicy::Never);
            let producer = broker.producer();
            let value = vec![b'x'; size];
            group.throughput(Throughput::Elements(batch as u64));
            let id = format!("size={size}/batch={batch}/sync=never");
            if batch == 1 {
                group.bench_function(&id, |b| {
                    b.iter(|| {
                        producer
                            .send("bench", Record::new(value.as_slice()))
                            .expect("send")
                    });
                });
            } else {
                group.bench_function(&id, |b| {
                    b.iter_batched(
                        || {
                            (0..batch)
                                .map(|_| Record::new(value.as_slice()))
                                .collect::<Vec<_>>()
                        },
                        |records| black_box(producer.send_batch("bench", records).expect("send")),
                        BatchSize::SmallInput,
                    );
                });
            }
        }
    }
    let (_dir, broker) = open(SyncPolicy::Always);
    let producer = broker.producer();
    group.throughput(Throughput::Elements(1));
    group.bench_function("size=100/batch=1/sync=always", |b| {
        b.iter(|| {
            producer
                .send("bench", Record::new(vec![b'x'; 100]))
                .expect("send")
        });
    });
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
