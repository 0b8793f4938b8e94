//! Records per second through a real `Streams` (one thread, a temp-dir broker, a 100 ms
//! commit interval): filter → map → to, a windowed count per key over 10 k keys, and a
//! stream-table join, each under `AtLeastOnce` and `ExactlyOnce`; and, as the baseline, the
//! same windowed count written by hand on a `Consumer` with a `HashMap`.
//!
//! Each sample opens a fresh broker and fills the input outside the timed part; the time
//! is from `start` until `wait_until_caught_up` returns (for the hand-written loop, from
//! its first poll until its committed offset reaches the end), so that it covers what an
//! application waits for: processing, producing the results and committing.
//!
//! Run: `cargo bench --bench streams`.

#![expect(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use strom::streams::{ProcessingGuarantee, Streams, StreamsBuilder, StreamsConfig, TimeWindows};
use strom::{Broker, ConsumerConfig, OffsetReset, Record, TopicConfig, TopicPartition};

/// Input records per sample.
const RECORDS: u64 = 200_000;
/// Distinct keys.
const KEYS: u64 = 10_000;
/// Milliseconds between two input records' timestamps: 200 k records span about 33
/// minutes, so the 5-minute windows roll about 7 times.
const STEP_MS: i64 = 10;
const WINDOW: Duration = Duration::from_secs(300);
const COMMIT: Duration = Duration::from_millis(100);
const WAIT: Duration = Duration::from_secs(600);

fn key(i: u64) -> String {
    format!("key-{:05}", i % KEYS)
}

/// A 100-byte record: a 9-byte key and a 91-byte value.
fn value(i: u64) -> String {
    format!("{i:>91}")
}

/// A fresh broker with `events` filled (and `table` with a value per key), plus `out`.
fn broker_with_input(table: bool) -> (tempfile::TempDir, Broker) {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path()).expect("open");
    for topic in ["events", "out", "table"] {
        broker
            .create_topic(topic, TopicConfig::default())
            .expect("topic");
    }
    let producer = broker.producer();
    if table {
        let mut batch = producer.batch("table").expect("batch");
        for i in 0..KEYS {
            batch
                .push_record(
                    &Record::new(format!("region-{}", i % 17))
                        .key(key(i))
                        .timestamp(0),
                )
                .expect("push");
        }
        batch.send().expect("send");
    }
    let mut batch = producer.batch("events").expect("batch");
    for i in 0..RECORDS {
        let ts = i64::try_from(i).expect("small") * STEP_MS + 1;
        batch
            .push_record(&Record::new(value(i)).key(key(i)).timestamp(ts))
            .expect("push");
        if batch.len() == 10_000 {
            batch.send().expect("send");
        }
    }
    if !batch.is_empty() {
        batch.send().expect("send");
    }
    (dir, broker)
}

#[derive(Clone, Copy)]
enum Shape {
    FilterMapTo,
    WindowedCount,
    TableJoin,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Self::FilterMapTo => "filter_map_to",
            Self::WindowedCount => "windowed_count",
            Self::TableJoin => "table_join",
        }
    }
}

/// One run of `shape` over a fresh input: the time from `start` to caught up.
fn run_streams(shape: Shape, guarantee: ProcessingGuarantee) -> Duration {
    let (_dir, broker) = broker_with_input(matches!(shape, Shape::TableJoin));
    let builder = StreamsBuilder::new();
    match shape {
        Shape::FilterMapTo => {
            builder
                .stream::<String, String>("events")
                .filter(|k, _| !k.ends_with('7'))
                .map(|k, v| (k.clone(), format!("{v}!")))
                .to("out");
        }
        Shape::WindowedCount => {
            builder
                .stream::<String, String>("events")
                .group_by_key()
                .windowed_by(TimeWindows::of(WINDOW))
                .count("per-key")
                .to_stream()
                .to("out");
        }
        Shape::TableJoin => {
            let table = builder.table::<String, String>("table", "regions");
            builder
                .stream::<String, String>("events")
                .join_table(&table, |v, region| format!("{region}:{}", v.len()))
                .to("out");
        }
    }
    let config = StreamsConfig::new("bench")
        .num_threads(1)
        .commit_interval(COMMIT)
        .processing_guarantee(guarantee);
    let mut app = Streams::new(&broker, builder.build().expect("topology"), config).expect("new");
    let started = Instant::now();
    app.start().expect("start");
    assert!(app.wait_until_caught_up(WAIT).expect("run"), "caught up");
    let elapsed = started.elapsed();
    app.close().expect("close");
    elapsed
}

/// The windowed count by hand: poll, count per (key, window start) in a `HashMap`, send
/// each update to `out` as the streams app does (key and window start, count as `u64`),
/// and commit the offset every `COMMIT`.
#[expect(
    clippy::big_endian_bytes,
    reason = "Kafka's encoding of window starts and counts, as the streams codec writes them"
)]
fn run_by_hand() -> Duration {
    let (_dir, broker) = broker_with_input(false);
    let window_ms = i64::try_from(WINDOW.as_millis()).expect("small");
    let tp = TopicPartition::new("events", 0);
    let started = Instant::now();
    // From the earliest offset, as the streams application starts: the default (latest)
    // would find nothing to read.
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .group_id("by-hand")
            .auto_offset_reset(OffsetReset::Earliest),
    );
    consumer.assign(std::slice::from_ref(&tp)).expect("assign");
    let producer = broker.producer();
    let mut counts: HashMap<(String, i64), u64> = HashMap::new();
    let mut last_commit = Instant::now();
    let mut committed = 0;
    while committed < RECORDS {
        let records = consumer.poll(Duration::from_millis(10)).expect("poll");
        let mut batch = producer.batch("out").expect("batch");
        for r in &records {
            let Ok(k) = std::str::from_utf8(r.key().unwrap_or_default()) else {
                continue;
            };
            let start = r.timestamp() - r.timestamp().rem_euclid(window_ms);
            let count = counts.entry((k.to_string(), start)).or_insert(0);
            *count += 1;
            let mut out_key = k.as_bytes().to_vec();
            out_key.extend_from_slice(&start.to_be_bytes());
            batch
                .push_record(
                    &Record::new(count.to_be_bytes().to_vec())
                        .key(out_key)
                        .timestamp(r.timestamp()),
                )
                .expect("push");
        }
        if !batch.is_empty() {
            batch.send().expect("send");
        }
        let position = consumer.position(&tp).expect("assigned");
        if last_commit.elapsed() >= COMMIT || position >= RECORDS {
            consumer
                .commit_offsets(&[(tp.clone(), position)])
                .expect("commit");
            committed = position;
            last_commit = Instant::now();
        }
    }
    started.elapsed()
}

fn streams(c: &mut Criterion) {
    let mut group = c.benchmark_group("streams");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .sampling_mode(criterion::SamplingMode::Flat)
        .throughput(Throughput::Elements(RECORDS));
    for shape in [Shape::FilterMapTo, Shape::WindowedCount, Shape::TableJoin] {
        for (name, guarantee) in [
            ("at_least_once", ProcessingGuarantee::AtLeastOnce),
            ("exactly_once", ProcessingGuarantee::ExactlyOnce),
        ] {
            group.bench_function(BenchmarkId::new(shape.name(), name), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| run_streams(shape, guarantee)).sum());
            });
        }
    }
    group.bench_function(BenchmarkId::new("windowed_count", "by_hand"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run_by_hand()).sum());
    });
    group.finish();
}

criterion_group!(benches, streams);
criterion_main!(benches);
