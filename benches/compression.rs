//! Compression per codec (none, gzip, snappy, lz4, zstd) on JSON records like the tutorials'
//! (weather readings keyed by city as `examples/weather` sends them, card transactions
//! keyed by user as `examples/fraud` sends them): bytes on disk, `send_batch` throughput and
//! catch-up read throughput. Run: `cargo bench --bench compression` (or a subset:
//! `cargo bench --bench compression -- append/lz4`).
//!
//! Bytes on disk are not a timing: they are measured once at the start, on 10,000 records
//! of each kind per codec sent in batches of 100, one per `send`, and one per `send` then
//! rebatched by maintenance (`rebatch_sealed`, 256 KiB segments), and printed to stderr
//! as a markdown table with each codec's ratio to none.
//!
//! `compression/append/<codec>` times `send_batch` of 100 weather readings per call, each
//! sample in a fresh data directory (as in `append.rs`), with the records made ahead of the
//! clock. `compression/read/<codec>` times a consumer reading 1,000,000 weather readings,
//! written in batches of 100, from offset 0 to the end.

#![expect(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde::Serialize;
use strom::{
    Broker, Compression, ConsumerConfig, OffsetReset, Record, TopicConfig, TopicPartition,
};

mod weather;

use weather::thousands;

const TOPIC: &str = "bench";
/// Records per `send_batch`.
const BATCH: usize = 100;
/// Records of each kind written per codec to measure bytes on disk.
const SIZE_RECORDS: usize = 10_000;
/// Distinct weather readings the append samples cycle through.
const POOL_RECORDS: usize = 10_000;
/// Records read back per iteration of a read sample.
const READ_RECORDS: u64 = 1_000_000;

/// Opens a broker with one topic compressed with `codec`, in a fresh directory.
fn open(codec: Compression) -> (tempfile::TempDir, Broker) {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path()).expect("open");
    let config = TopicConfig::default()
        .segment_bytes(256 << 20)
        .compression(codec);
    broker.create_topic(TOPIC, config).expect("topic");
    (dir, broker)
}

/// A record to be made: what the examples' producers put in one.
struct Draft {
    key: String,
    value: Vec<u8>,
    /// Event time, when the producer sets one (the fraud example does; the weather example
    /// leaves it to strom's clock).
    timestamp: Option<i64>,
}

impl Draft {
    fn record(&self) -> Record {
        let record = Record::new(self.value.as_slice()).key(self.key.as_str());
        match self.timestamp {
            Some(ms) => record.timestamp(ms),
            None => record,
        }
    }
}

/// Weather readings (`benches/weather`) without end, as records to be made.
fn weather() -> impl Iterator<Item = Draft> {
    weather::readings().map(|reading| Draft {
        key: reading.city,
        value: reading.json,
        timestamp: None,
    })
}

// ---------------------------------------------------------------------------------------
// Card transactions, as `examples/fraud` generates and sends them.

/// `SplitMix64`, the fraud example's seeded generator.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        f64::from((self.next_u64() >> 32) as u32) / 4_294_967_296.0
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The fraud example's cities.
const FRAUD_CITIES: [&str; 16] = [
    "Amsterdam",
    "Rotterdam",
    "London",
    "Paris",
    "Berlin",
    "Madrid",
    "New York",
    "Toronto",
    "Chicago",
    "Mumbai",
    "Pune",
    "Delhi",
    "Nairobi",
    "Singapore",
    "Tokyo",
    "Sydney",
];

/// The example's `Transaction`, field for field.
#[derive(Serialize)]
struct Transaction {
    tx_id: String,
    user_id: u32,
    kind: &'static str,
    amount: f64,
    location: String,
    timestamp: i64,
}

/// `count` transactions of one day, 08:00 to 20:00 UTC, by about `count / 10` customers:
/// the example's legitimate traffic (a quarter cash withdrawals in multiples of 20, the
/// rest purchases, mostly small; one customer in ten travelling). The frauds it plants,
/// under 1% of its records, are left out: they look the same.
fn transactions(count: usize) -> Vec<Draft> {
    const HOUR_MS: i64 = 3_600_000;
    // 2024-03-01 08:00 UTC.
    let start = 19_783 * 24 * HOUR_MS + 8 * HOUR_MS;
    let mut rng = Rng(0xf4a0_d000_0000_0001);
    let customers: Vec<(u32, usize)> = (0..(count / 10).clamp(20, 4_000))
        .map(|_| {
            let id = 1_000 + u32::try_from(rng.below(4_001)).expect("small");
            (id, rng.below(FRAUD_CITIES.len()))
        })
        .collect();
    let gap = 12 * HOUR_MS / i64::try_from(count.max(1)).expect("count");
    let mut clock = start;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        clock += i64::try_from(rng.next_u64() % (2 * gap.max(1)).unsigned_abs()).expect("ms");
        let who = rng.below(customers.len());
        let (user_id, home) = customers[who];
        let city = if who % 10 == 9 && rng.unit() < 0.2 {
            rng.below(FRAUD_CITIES.len())
        } else {
            home
        };
        let (kind, amount) = if rng.unit() < 0.25 {
            (
                "withdrawal",
                f64::from(20 * (1 + rng.next_u64() % 20) as u32),
            )
        } else if rng.unit() < 0.003 {
            ("purchase", cents(950.0 + 1_500.0 * rng.unit()))
        } else {
            ("purchase", cents(2.0 * 200f64.powf(rng.unit())))
        };
        let transaction = Transaction {
            tx_id: format!("20240301-{i:05}"),
            user_id,
            kind,
            amount,
            location: FRAUD_CITIES[city].to_string(),
            timestamp: clock,
        };
        out.push(Draft {
            key: user_id.to_string(),
            value: serde_json::to_vec(&transaction).expect("json"),
            timestamp: Some(clock),
        });
    }
    out
}

fn cents(amount: f64) -> f64 {
    (amount * 100.0).round() / 100.0
}

// ---------------------------------------------------------------------------------------
// Bytes on disk.

/// How records reach the topic whose size is measured.
#[derive(Clone, Copy)]
enum Sending {
    /// `send_batch` of this many.
    Batches(usize),
    /// One `send` each.
    Singles,
    /// One `send` each, to a topic of 256 KiB segments with `rebatch_sealed`, measured after
    /// a maintenance round.
    SinglesRebatched,
}

/// The log's bytes after `drafts` are sent to a topic compressed with `codec`.
fn bytes_on_disk(codec: Compression, drafts: &[Draft], sending: Sending) -> u64 {
    let (_dir, broker) = open(codec);
    if let Sending::SinglesRebatched = sending {
        let config = broker.describe_topic(TOPIC).expect("describe").config;
        broker.delete_topic(TOPIC).expect("delete");
        let config = config
            .segment_bytes(256 << 10)
            .retention_ms(-1)
            .rebatch_sealed(true);
        broker.create_topic(TOPIC, config).expect("topic");
    }
    let producer = broker.producer();
    let batch = match sending {
        Sending::Batches(n) => n,
        Sending::Singles | Sending::SinglesRebatched => 1,
    };
    if batch == 1 {
        for draft in drafts {
            producer.send(TOPIC, draft.record()).expect("send");
        }
    } else {
        for chunk in drafts.chunks(batch) {
            let records = chunk.iter().map(Draft::record);
            producer.send_batch(TOPIC, records).expect("send_batch");
        }
    }
    broker.run_maintenance().expect("maintenance");
    let topic = broker.describe_topic(TOPIC).expect("describe");
    topic.partitions.iter().map(|p| p.size_bytes).sum()
}

/// Measures bytes on disk per codec and prints them to stderr as a markdown table. Not a
/// benchmark: it is first in `criterion_group!` so that it runs once, before the timings,
/// whatever filter the run is given.
#[expect(clippy::cast_precision_loss, reason = "ratios of sizes far below 2^52")]
fn sizes(_: &mut Criterion) {
    let weather: Vec<Draft> = weather().take(SIZE_RECORDS).collect();
    let fraud = transactions(SIZE_RECORDS);
    let rows = [
        (
            "weather readings, batches of 100",
            &weather,
            Sending::Batches(BATCH),
        ),
        (
            "weather readings, one per `send`",
            &weather,
            Sending::Singles,
        ),
        (
            "weather readings, one per `send`, rebatched",
            &weather,
            Sending::SinglesRebatched,
        ),
        (
            "fraud transactions, batches of 100",
            &fraud,
            Sending::Batches(BATCH),
        ),
        (
            "fraud transactions, one per `send`",
            &fraud,
            Sending::Singles,
        ),
        (
            "fraud transactions, one per `send`, rebatched",
            &fraud,
            Sending::SinglesRebatched,
        ),
    ];
    let names: Vec<String> = Compression::ALL.iter().map(ToString::to_string).collect();
    eprintln!(
        "\nbytes on disk of {} records (ratio to none):\n",
        thousands(SIZE_RECORDS as u64)
    );
    eprintln!("| records | JSON values | {} |", names.join(" | "));
    eprintln!("|---|---|{}", "---|".repeat(names.len()));
    for (name, drafts, sending) in rows {
        let json: usize = drafts.iter().map(|d| d.value.len()).sum();
        let sizes: Vec<u64> = Compression::ALL
            .iter()
            .map(|&codec| bytes_on_disk(codec, drafts, sending))
            .collect();
        let none = sizes[0] as f64;
        let cells: Vec<String> = sizes
            .iter()
            .map(|&size| format!("{} ({:.2}×)", thousands(size), size as f64 / none))
            .collect();
        eprintln!(
            "| {name} | {} | {} |",
            thousands(json as u64),
            cells.join(" | ")
        );
    }
    eprintln!();
}

// ---------------------------------------------------------------------------------------
// Throughput.

/// Records made ahead of the clock at a time: about 2 MiB of them (see `append.rs`).
const CHUNK_BYTES: usize = 2 << 20;

/// Times `iters` calls that each `send_batch` 100 readings of `pool` to a topic compressed
/// with `codec`.
fn run_append(iters: u64, codec: Compression, pool: &[Draft]) -> Duration {
    let (_dir, broker) = open(codec);
    let producer = broker.producer();
    let record_bytes = pool
        .iter()
        .map(|d| d.key.len() + d.value.len())
        .sum::<usize>()
        / pool.len();
    let per_chunk = (CHUNK_BYTES / (record_bytes * BATCH)).max(1) as u64;
    let mut readings = pool.iter().cycle();
    let mut elapsed = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let calls = per_chunk.min(iters - done);
        let batches: Vec<Vec<Record>> = (0..calls)
            .map(|_| readings.by_ref().take(BATCH).map(Draft::record).collect())
            .collect();
        // Results are kept and dropped after the clock stops, as criterion's `iter` would.
        let mut results = Vec::with_capacity(batches.len());
        let start = Instant::now();
        for records in batches {
            results.push(producer.send_batch(TOPIC, records).expect("send_batch"));
        }
        elapsed += start.elapsed();
        black_box(results);
        done += calls;
    }
    elapsed
}

fn append(c: &mut Criterion) {
    let pool: Vec<Draft> = weather().take(POOL_RECORDS).collect();
    let mut group = c.benchmark_group("compression/append");
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(30);
    group.throughput(Throughput::Elements(BATCH as u64));
    for codec in Compression::ALL {
        group.bench_function(codec.to_string(), |b| {
            b.iter_custom(|iters| run_append(iters, codec, &pool));
        });
    }
    group.finish();
}

fn read(c: &mut Criterion) {
    let mut group = c.benchmark_group("compression/read");
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(10);
    group.throughput(Throughput::Elements(READ_RECORDS));
    for codec in Compression::ALL {
        let (_dir, broker) = open(codec);
        let producer = broker.producer();
        let mut readings = weather();
        for _ in 0..READ_RECORDS / BATCH as u64 {
            let records = readings.by_ref().take(BATCH).map(|d| d.record());
            producer.send_batch(TOPIC, records).expect("send_batch");
        }
        let tp = TopicPartition::new(TOPIC, 0);
        group.bench_function(codec.to_string(), |b| {
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
                while n < READ_RECORDS {
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

criterion_group!(benches, sizes, append, read);
criterion_main!(benches);
