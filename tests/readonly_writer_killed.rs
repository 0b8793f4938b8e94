//! A reader follows a writer process that is `SIGKILL`ed mid-append, again and again, each
//! next writer recovering the directory: the reader goes on across the restarts, and every
//! record it returned is in the log that recovery kept, with the same value — it never saw
//! a torn batch or one that recovery later cut.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{checked_body, checksummed};
use strom::{
    Broker, BrokerConfig, ConsumerConfig, OffsetReset, Record, Result, TopicConfig, TopicPartition,
};

const CHILD_ENV: &str = "STROM_READONLY_KILLED_DIR";
const KILLS: u32 = 4;
const WAIT: Duration = Duration::from_secs(120);

#[test]
fn readonly_killed_writer_child() -> Result<()> {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return Ok(());
    };
    let broker = Broker::open(&dir)?;
    println!();
    let producer = broker.producer();
    let mut batch = producer.batch("t")?;
    let pad = "x".repeat(700);
    for round in 0u64.. {
        // Large batches (about 35 KB): the kill lands inside a copy often.
        for i in 0..50 {
            let body = format!("{round}-{i}-{pad}");
            batch.push(
                Some(format!("k{i}").as_bytes()),
                checksummed(&body).as_bytes(),
            )?;
        }
        batch.send()?;
        println!("SENT {round}");
    }
    Ok(())
}

#[test]
fn a_reader_never_sees_what_recovery_of_a_killed_writer_removes() -> Result<()> {
    let tmp = tempfile::tempdir().expect("dir");
    let dir = tmp.path().to_path_buf();
    {
        let broker = Broker::open(&dir)?;
        broker.create_topic("t", TopicConfig::default().segment_bytes(256 << 10))?;
        broker.close()?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let reader = {
        let (dir, stop, progress) = (dir.clone(), Arc::clone(&stop), Arc::clone(&progress));
        thread::spawn(move || -> Result<BTreeMap<u64, Vec<u8>>> {
            let broker = Broker::open_with(&dir, BrokerConfig::default().read_only(true))?;
            let mut consumer =
                broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
            consumer.assign(&[TopicPartition::new("t", 0)])?;
            let mut seen = BTreeMap::new();
            let mut next = 0;
            while !stop.load(Ordering::Acquire) {
                assert!(started.elapsed() < WAIT, "the test ran too long");
                for r in consumer.poll(Duration::from_millis(20))? {
                    assert_eq!(r.offset(), next, "offsets are contiguous");
                    assert!(checked_body(r.value()).is_some(), "torn value at {next}");
                    seen.insert(r.offset(), r.value().to_vec());
                    next += 1;
                }
                progress.store(next, Ordering::Release);
            }
            broker.close()?;
            Ok(seen)
        })
    };
    let mut rng = common::SplitMix64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(7, |d| u64::from(d.subsec_nanos())),
    );
    for kill in 0..KILLS {
        let after = rng.range(3, 30);
        let mut lines = 0;
        let (killed, status) = common::run_child_until_killed(
            "readonly_killed_writer_child",
            &[(CHILD_ENV, OsStr::new(dir.as_os_str()))],
            |line| {
                if line.starts_with("SENT") {
                    lines += 1;
                }
                lines >= after
            },
        );
        assert!(
            killed,
            "kill {kill}: the writer stopped by itself: {status:?}"
        );
    }
    // What the last writer left, as recovery keeps it (the reader sees it all too).
    let broker = Broker::open(&dir)?;
    let kept = common::read_partition(&broker, "t", 0)?;
    let end = broker.describe_topic("t")?.partitions[0].high_watermark;
    broker.close()?;
    // The reader follows the recovered log to its end, then stops.
    while progress.load(Ordering::Acquire) < end {
        assert!(
            started.elapsed() < WAIT,
            "the reader stopped short of the recovered end"
        );
        thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Release);
    let seen = reader.join().expect("reader")?;
    assert_eq!(
        seen.len() as u64,
        end,
        "the reader read past the recovered end"
    );
    assert!(!seen.is_empty(), "the reader followed the writers");
    let kept: BTreeMap<u64, Vec<u8>> = kept
        .into_iter()
        .map(|r| (r.offset(), r.value().to_vec()))
        .collect();
    for (offset, value) in &seen {
        assert_eq!(
            kept.get(offset),
            Some(value),
            "the reader returned offset {offset}, which recovery did not keep as it was"
        );
    }
    println!(
        "reader saw {} records across {KILLS} killed writers; the recovered log holds {}",
        seen.len(),
        kept.len()
    );
    Ok(())
}

/// The same, made certain: a batch cut half way at the end of the last segment (as a kill
/// inside its copy leaves it, its base offset the next one, its checksum valid once whole)
/// is never returned; after the next writer's recovery cut it, the reader returns what that
/// writer appends at those offsets.
#[test]
fn a_torn_batch_at_the_end_is_never_returned() -> Result<()> {
    let tmp = tempfile::tempdir().expect("dir");
    let dir = tmp.path();
    {
        let writer = Broker::open(dir)?;
        writer.create_topic("t", TopicConfig::default())?;
        for i in 0..10 {
            writer
                .producer()
                .send("t", Record::new(format!("old-{i}")))?;
        }
        writer.close()?;
    }
    let log = common::segment_logs(dir, "t", 0).pop().expect("a segment");
    let mut bytes = std::fs::read(&log).expect("read");
    let last = *common::batch_spans(&bytes).last().expect("a batch");
    let mut torn: Vec<u8> = bytes[last.start as usize..last.end as usize].to_vec();
    // Kafka's checksum leaves the base offset out: with the next offset this is a valid
    // batch, the continuation of the log; cut, it is the copy a kill interrupted.
    // The base offset is the first 8 bytes, big-endian (Kafka's v2 header).
    torn[..8].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 10]);
    torn.truncate(torn.len() / 2);
    bytes.extend_from_slice(&torn);
    std::fs::write(&log, &bytes).expect("write");

    let reader = Broker::open_with(dir, BrokerConfig::default().read_only(true))?;
    let mut consumer =
        reader.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new("t", 0)])?;
    let mut values = Vec::new();
    while values.len() < 10 {
        for r in consumer.poll(Duration::from_secs(5))? {
            values.push(String::from_utf8_lossy(r.value()).into_owned());
        }
    }
    assert!(
        consumer.poll(Duration::from_millis(200))?.is_empty(),
        "nothing past the torn batch"
    );
    assert_eq!(reader.describe_topic("t")?.partitions[0].high_watermark, 10);

    // The next writer recovers (cutting the torn batch) and appends at offset 10.
    let writer = Broker::open(dir)?;
    writer.producer().send("t", Record::new("new-10"))?;
    writer.producer().send("t", Record::new("new-11"))?;
    let deadline = Instant::now() + WAIT;
    while values.len() < 12 {
        assert!(
            Instant::now() < deadline,
            "the reader did not see the new records"
        );
        for r in consumer.poll(Duration::from_millis(100))? {
            assert_eq!(r.offset(), values.len() as u64);
            values.push(String::from_utf8_lossy(r.value()).into_owned());
        }
    }
    assert_eq!(values[10..], ["new-10", "new-11"]);
    writer.close()?;
    reader.close()?;
    Ok(())
}
