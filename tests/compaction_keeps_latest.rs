//! Compaction keeps exactly the latest record of each key, at its original offset; old
//! tombstones go, recent ones stay; the result survives a reopen, and a compaction
//! interrupted before its swap leaves the old segment.

use std::collections::BTreeMap;
use std::thread;
use std::time::Duration;

use strom::{
    Broker, CleanupPolicy, ConsumerConfig, OffsetReset, Record, Result, TopicConfig, TopicPartition,
};

mod common;

use common::{now_ms, DAY_MS};

/// Every record as (offset, key, value or None for a tombstone).
fn read_all(broker: &Broker) -> Result<Vec<(u64, String, Option<String>)>> {
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new("balances", 0)])?;
    let mut out = Vec::new();
    loop {
        let records = consumer.poll(Duration::from_millis(20))?;
        if records.is_empty() {
            return Ok(out);
        }
        for r in &records {
            let key = String::from_utf8_lossy(r.key().unwrap_or_default()).into_owned();
            let value =
                (!r.is_tombstone()).then(|| String::from_utf8_lossy(r.value()).into_owned());
            out.push((r.offset(), key, value));
        }
    }
}

#[test]
fn only_the_latest_value_of_each_key_remains() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(
        "balances",
        TopicConfig::default()
            .cleanup_policy(CleanupPolicy::Compact)
            .segment_bytes(4096)
            .segment_ms(100)
            .delete_retention_ms(DAY_MS),
    )?;
    let producer = broker.producer();
    let mut latest: BTreeMap<String, (u64, Option<String>)> = BTreeMap::new();
    for round in 0..40 {
        for account in 0..10 {
            let key = format!("account-{account}");
            let value = format!("{}", round * 100 + account);
            let meta = producer.send("balances", Record::new(value.clone()).key(key.clone()))?;
            latest.insert(key, (meta.offset, Some(value)));
        }
    }
    // An old tombstone goes with its key; a recent one stays to tell readers.
    let old = producer.send(
        "balances",
        Record::tombstone("account-3").timestamp(now_ms() - 2 * DAY_MS),
    )?;
    latest.remove("account-3");
    let recent = producer.send("balances", Record::tombstone("account-4"))?;
    latest.insert("account-4".into(), (recent.offset, None));
    assert!(old.offset < recent.offset);
    let before = broker.describe_topic("balances")?.partitions[0].clone();

    // Let the active segment age past segment_ms, so it is rolled and compacted too.
    thread::sleep(Duration::from_millis(150));
    broker.run_maintenance()?;

    let expected: Vec<(u64, String, Option<String>)> = {
        let mut v: Vec<_> = latest
            .iter()
            .map(|(k, (o, val))| (*o, k.clone(), val.clone()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(read_all(&broker)?, expected);
    let after = broker.describe_topic("balances")?.partitions[0].clone();
    assert_eq!(after.high_watermark, before.high_watermark);
    assert!(
        after.size_bytes < before.size_bytes / 10,
        "{before:?} -> {after:?}"
    );
    // Appends continue after the gaps.
    assert_eq!(
        producer
            .send("balances", Record::new("1").key("account-0"))?
            .offset,
        before.high_watermark
    );
    broker.close()?;

    let broker = Broker::open(dir.path())?;
    let mut again = expected.clone();
    again.push((before.high_watermark, "account-0".into(), Some("1".into())));
    assert_eq!(read_all(&broker)?, again);
    broker.close()
}

#[test]
fn an_unfinished_compaction_leaves_the_old_segment() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(
        "balances",
        TopicConfig::default()
            .cleanup_policy(CleanupPolicy::Compact)
            .segment_bytes(4096),
    )?;
    let producer = broker.producer();
    for i in 0..200 {
        producer.send(
            "balances",
            Record::new(format!("{i}")).key(format!("k{}", i % 7)),
        )?;
    }
    let before = read_all(&broker)?;
    broker.close()?;
    // What a crash in the middle of writing a compacted segment leaves behind.
    let partition = dir.path().join("balances").join("0");
    std::fs::write(
        partition.join("00000000000000000000.cleaned"),
        b"half a compacted segment",
    )
    .expect("write");
    let broker = Broker::open(dir.path())?;
    assert_eq!(read_all(&broker)?, before);
    assert!(!partition.join("00000000000000000000.cleaned").exists());
    broker.close()
}
