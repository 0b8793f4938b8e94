//! End-to-end latency: from `send` on one thread to a `poll` waiting on another, and the
//! time `send` itself takes — idle, and while a large compacted topic is being compacted
//! next to it. Custom timing (criterion reports means; latency wants percentiles).
//!
//! Run: `cargo bench --bench e2e_latency`. `STROM_BENCH_COMPACT_MIB` sets the size of the
//! topic compacted meanwhile (default 1024).

#![expect(
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    reason = "percentiles of latencies in nanoseconds, far below 2^52"
)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use strom::{
    Broker, CleanupPolicy, ConsumerConfig, OffsetReset, Record, TopicConfig, TopicPartition,
};

const SAMPLES: usize = 5_000;

/// Latencies in ns: send to receive, and the send call alone.
struct Samples {
    e2e: Vec<u64>,
    send: Vec<u64>,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0) as f64 / 1000.0
}

/// Sends `SAMPLES` records, each after a short pause, and times them.
fn measure(broker: &Broker, stop_early: &AtomicBool) -> Samples {
    let base = Instant::now();
    let consumer_broker = broker.clone();
    let receiver = thread::spawn(move || {
        let mut consumer = consumer_broker
            .consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Latest));
        consumer
            .assign(&[TopicPartition::new("latency", 0)])
            .expect("assign");
        let mut out = Vec::with_capacity(SAMPLES);
        while out.len() < SAMPLES {
            for record in consumer.poll(Duration::from_secs(5)).expect("poll") {
                let sent = u64::from_le_bytes(record.value().try_into().expect("8 bytes"));
                out.push(base.elapsed().as_nanos() as u64 - sent);
            }
        }
        out
    });
    thread::sleep(Duration::from_millis(50));
    let producer = broker.producer();
    let mut send = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        if stop_early.load(Ordering::Relaxed) {
            break;
        }
        let now = base.elapsed().as_nanos() as u64;
        producer
            .send("latency", Record::new(now.to_le_bytes().to_vec()))
            .expect("send");
        send.push(base.elapsed().as_nanos() as u64 - now);
        thread::sleep(Duration::from_micros(200));
    }
    let remaining = SAMPLES - send.len();
    for _ in 0..remaining {
        let now = base.elapsed().as_nanos() as u64;
        producer
            .send("latency", Record::new(now.to_le_bytes().to_vec()))
            .expect("send");
    }
    let mut e2e = receiver.join().expect("receiver");
    e2e.sort_unstable();
    send.sort_unstable();
    Samples { e2e, send }
}

fn main() {
    let mib: u64 = std::env::var("STROM_BENCH_COMPACT_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path()).expect("open");
    broker
        .create_topic("latency", TopicConfig::default())
        .expect("topic");
    broker
        .create_topic(
            "big",
            TopicConfig::default()
                .cleanup_policy(CleanupPolicy::Compact)
                .segment_bytes(16 << 20),
        )
        .expect("topic");
    let producer = broker.producer();
    let value = vec![b'v'; 100];
    let records = mib * (1 << 20) / 150;
    eprintln!("filling a {mib} MiB compacted topic ({records} records, 10,000 keys)...");
    for chunk in 0..records / 1000 {
        producer
            .send_batch(
                "big",
                (0..1000).map(|i| {
                    Record::new(value.as_slice())
                        .key(format!("key-{}", (chunk * 1000 + i) % 10_000))
                }),
            )
            .expect("fill");
    }
    // One record in a fresh segment, so that everything above is sealed.
    broker
        .alter_topic(
            "big",
            TopicConfig::default()
                .cleanup_policy(CleanupPolicy::Compact)
                .segment_bytes(64 << 20),
        )
        .expect("alter");

    let never = AtomicBool::new(false);
    let idle = measure(&broker, &never);

    let compacting = Arc::new(AtomicBool::new(true));
    let done = Arc::clone(&compacting);
    let compactor_broker = broker.clone();
    let compactor = thread::spawn(move || {
        let start = Instant::now();
        compactor_broker.run_maintenance().expect("compaction");
        done.store(false, Ordering::Release);
        start.elapsed()
    });
    thread::sleep(Duration::from_millis(20));
    let finished = AtomicBool::new(false);
    let busy = measure(&broker, &finished);
    let still_compacting = compacting.load(Ordering::Acquire);
    let took = compactor.join().expect("compactor");
    let after = broker.describe_topic("big").expect("describe").partitions[0].size_bytes;

    println!("| latency (µs) | idle p50 | idle p99 | idle p99.9 | compacting p50 | compacting p99 | compacting p99.9 | p99 ratio |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, a, b) in [
        ("send → waiting poll", &idle.e2e, &busy.e2e),
        ("send call", &idle.send, &busy.send),
    ] {
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2}× |",
            percentile(a, 0.5),
            percentile(a, 0.99),
            percentile(a, 0.999),
            percentile(b, 0.5),
            percentile(b, 0.99),
            percentile(b, 0.999),
            percentile(b, 0.99) / percentile(a, 0.99).max(0.001),
        );
    }
    println!(
        "\ncompaction of {mib} MiB took {:.1} s (down to {} MiB){}",
        took.as_secs_f64(),
        after >> 20,
        if still_compacting {
            "; it outlasted the measurement"
        } else {
            "; it ended during the measurement"
        }
    );
    broker.close().expect("close");
}
