//! Resident memory against the number of records stored: the anonymous (heap) part of
//! the process's resident set, which must not grow with the log. The log's own pages are
//! file-backed page cache, reported apart. Linux only (reads `/proc/self/status`).
//!
//! Run: `cargo bench --bench memory`.

use std::time::Duration;

use strom::{Broker, ConsumerConfig, OffsetReset, Record, TopicConfig, TopicPartition};

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path()).expect("open");
    broker
        .create_topic("log", TopicConfig::default().partitions(4))
        .expect("topic");
    let producer = broker.producer();
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .max_poll_records(10_000),
    );
    let tps: Vec<TopicPartition> = (0..4).map(|p| TopicPartition::new("log", p)).collect();
    consumer.assign(&tps).expect("assign");
    let value = vec![b'x'; 100];
    println!(
        "| records stored | heap resident (RssAnon, KiB) | file pages resident (RssFile, MiB) |"
    );
    println!("|---|---|---|");
    let mut stored = 0u64;
    for target in [1_000_000u64, 4_000_000, 16_000_000] {
        while stored < target {
            producer
                .send_batch("log", (0..1000).map(|_| Record::new(value.as_slice())))
                .expect("send");
            stored += 1000;
            // Read as we go, as a consumer would.
            let _ = consumer.poll(Duration::ZERO).expect("poll");
        }
        while !consumer.poll(Duration::ZERO).expect("poll").is_empty() {}
        println!(
            "| {} M | {} | {} |",
            stored / 1_000_000,
            status_kib("RssAnon:"),
            status_kib("RssFile:") / 1024
        );
    }
    broker.close().expect("close");
}
