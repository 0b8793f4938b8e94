//! Timestamp seeks while a producer appends and rolls: every seek lands exactly on the first
//! acknowledged record at or after the timestamp. A time lookup checks its index entry
//! against the active segment's bytes, which the writer is filling at that moment; the
//! reader must only ever look at published bytes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use strom::{Broker, ConsumerConfig, OffsetReset, Record, Result, TopicConfig, TopicPartition};

mod common;

use common::{env_number, SplitMix64, StopOnDrop};

const BASE_TS: i64 = 1_700_000_000_000;
/// Record `n` has timestamp `BASE_TS + n * STEP_MS`.
const STEP_MS: u64 = 10;

/// The timestamp of record `n`, less `before` milliseconds.
fn ts_of(n: u64, before: u64) -> i64 {
    BASE_TS + i64::try_from(n * STEP_MS - before).expect("small")
}

#[test]
fn timestamp_seeks_race_appends_and_rolls() -> Result<()> {
    let records: u64 = env_number("STROM_SEEK_RACE_RECORDS").unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    // Small segments and a dense index: many rolls, and time lookups that land on index
    // entries near the end of the active segment.
    broker.create_topic(
        "t",
        TopicConfig::default()
            .segment_bytes(64 << 10)
            .index_interval_bytes(256),
    )?;
    let acked = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let producer = broker.producer();
        let (acked, done) = (Arc::clone(&acked), Arc::clone(&done));
        thread::spawn(move || -> Result<()> {
            let _done = StopOnDrop(&done);
            for n in 0..records {
                let ts = ts_of(n, 0);
                let meta = producer.send("t", Record::new(vec![b'v'; 60]).timestamp(ts))?;
                assert_eq!(meta.offset, n);
                acked.store(n + 1, Ordering::Release);
            }
            Ok(())
        })
    };
    let readers: Vec<_> = (0..2u64)
        .map(|seed| {
            let broker = broker.clone();
            let (acked, done) = (Arc::clone(&acked), Arc::clone(&done));
            thread::spawn(move || -> Result<u64> {
                let tp = TopicPartition::new("t", 0);
                let mut consumer = broker
                    .consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
                consumer.assign(std::slice::from_ref(&tp))?;
                let mut rng = SplitMix64(seed + 1);
                let mut seeks = 0;
                while !done.load(Ordering::Acquire) {
                    let n = acked.load(Ordering::Acquire);
                    if n == 0 {
                        thread::yield_now();
                        continue;
                    }
                    // Mostly near the end, where the writer is.
                    let k = if rng.below(4) == 0 {
                        rng.below(n)
                    } else {
                        n - 1 - rng.below(n.min(64))
                    };
                    let ts = ts_of(k, rng.below(STEP_MS).min(k * STEP_MS));
                    consumer.seek_to_timestamp(ts)?;
                    assert_eq!(
                        consumer.position(&tp),
                        Some(k),
                        "seek to {ts} with {n} acked"
                    );
                    let first = consumer.poll(Duration::from_secs(10))?;
                    let first = first.iter().next().expect("the record just sought");
                    assert_eq!((first.offset(), first.timestamp()), (k, ts_of(k, 0)));
                    // Past everything acknowledged: never before it.
                    let past = ts_of(n, 0);
                    consumer.seek_to_timestamp(past)?;
                    assert!(consumer.position(&tp).is_some_and(|p| p >= n));
                    seeks += 1;
                }
                Ok(seeks)
            })
        })
        .collect();
    writer.join().expect("writer")?;
    let mut seeks = 0;
    for reader in readers {
        seeks += reader.join().expect("reader")?;
    }
    assert!(seeks > 0);
    assert!(broker.describe_topic("t")?.partitions[0].segments > 10);
    Ok(())
}
