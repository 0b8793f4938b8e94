//! Data written by every format version stays readable: `tests/fixtures/v1/orders` and
//! `tests/fixtures/v2/orders` (Kafka's `RecordBatch`) are data directories committed as
//! strom wrote them, holding the same records (two partitions, keys, headers, a tombstone,
//! explicit timestamps, a group's committed offsets, a clean shutdown). Every later version
//! must open them and read back exactly these records; a change to the on-disk format that
//! breaks this test needs a new format version, not a new fixture.
//!
//! The newest fixture was made by `cargo test --test format_fixtures -- --ignored`, which
//! writes `tests/fixtures/v<FORMAT_VERSION>`; only run it when adding the fixture of a new
//! format version.

use std::fs;
use std::path::{Path, PathBuf};

use strom::storage::batch;
use strom::{
    Broker, ConsumerConfig, ConsumerRecord, Error, OffsetReset, Record, Result, TopicConfig,
    TopicPartition,
};

mod common;

use common::copy_dir;

const TOPIC: &str = "orders";
const GROUP: &str = "audit";

fn fixture(version: u8) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/v{version}/orders"))
}

/// What the fixture holds: (partition, offset, timestamp, key, value, headers).
type Expected = (
    u32,
    u64,
    i64,
    Option<&'static str>,
    Option<&'static str>,
    &'static [(&'static str, &'static str)],
);

const RECORDS: [Expected; 6] = [
    (
        0,
        0,
        1_700_000_000_000,
        Some("user-1"),
        Some(r#"{"amount":12.5}"#),
        &[],
    ),
    (
        0,
        1,
        1_700_000_000_500,
        Some("user-2"),
        Some(r#"{"amount":950}"#),
        &[("source", "atm"), ("region", "eu")],
    ),
    (0, 2, 1_700_000_001_000, Some("user-1"), None, &[]),
    (1, 0, 1_700_000_002_000, None, Some("keyless"), &[]),
    (
        1,
        1,
        1_700_000_002_000,
        Some(""),
        Some(""),
        &[("empty", "")],
    ),
    (
        1,
        2,
        1_700_000_003_000,
        Some("user-3"),
        Some("ünïcödé ✓"),
        &[],
    ),
];

fn record(e: &Expected) -> Record {
    let (partition, _, timestamp, key, value, headers) = *e;
    let mut record = match (key, value) {
        (Some(k), None) => Record::tombstone(k),
        (key, value) => {
            let r = Record::new(value.unwrap_or_default());
            match key {
                Some(k) => r.key(k),
                None => r,
            }
        }
    };
    for (name, value) in headers {
        record = record.header(*name, *value);
    }
    record.timestamp(timestamp).partition(partition)
}

fn read_all(broker: &Broker) -> Result<Vec<ConsumerRecord>> {
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new(TOPIC, 0), TopicPartition::new(TOPIC, 1)])?;
    let mut all = Vec::new();
    loop {
        let records = consumer.poll(std::time::Duration::ZERO)?;
        if records.is_empty() {
            break;
        }
        all.extend(records);
    }
    all.sort_by_key(|r| (r.partition(), r.offset()));
    Ok(all)
}

fn assert_matches(read: &[ConsumerRecord]) {
    assert_eq!(read.len(), RECORDS.len());
    assert_matches_prefix(read);
}

/// Each record read equals the record the fixture holds at its partition and offset.
fn assert_matches_prefix(read: &[ConsumerRecord]) {
    for r in read {
        let e = RECORDS
            .iter()
            .find(|e| (e.0, e.1) == (r.partition(), r.offset()))
            .expect("a record the fixture holds");
        let (partition, offset, timestamp, key, value, headers) = *e;
        assert_eq!(
            (r.partition(), r.offset(), r.timestamp()),
            (partition, offset, timestamp)
        );
        assert_eq!(r.key(), key.map(str::as_bytes));
        assert_eq!(r.is_tombstone(), value.is_none());
        assert_eq!(r.value(), value.unwrap_or_default().as_bytes());
        let got: Vec<(&str, &[u8])> = r.headers().collect();
        let want: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
        assert_eq!(got, want);
    }
}

/// Opens a copy of the fixture of `version` and checks every record, the ends and the
/// committed offsets, and that the log goes on.
fn opens_and_reads_back_exactly(version: u8) -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&fixture(version), dir.path());
    let broker = Broker::open(dir.path())?;
    assert_eq!(broker.topics(), vec![TOPIC.to_string()]);
    let description = broker.describe_topic(TOPIC)?;
    let ends: Vec<u64> = description
        .partitions
        .iter()
        .map(|p| p.high_watermark)
        .collect();
    assert_eq!(ends, vec![3, 3]);
    assert_matches(&read_all(&broker)?);
    let consumer = broker.consumer(ConsumerConfig::default().group_id(GROUP));
    assert_eq!(consumer.committed(&TopicPartition::new(TOPIC, 0))?, Some(2));
    assert_eq!(consumer.committed(&TopicPartition::new(TOPIC, 1))?, Some(3));
    drop(consumer);
    // The log goes on from where the fixture left it.
    let next = broker
        .producer()
        .send(TOPIC, Record::new("after").partition(0))?;
    assert_eq!(next.offset, 3);
    broker.close()
}

/// Flips a byte of partition 0's segment where `damage_at` says and reads it back.
fn damaged_segment_is_reported_not_misread(
    version: u8,
    damage_at: fn(&[u8]) -> usize,
) -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&fixture(version), dir.path());
    let segment = dir.path().join(TOPIC).join("0/00000000000000000000.log");
    let mut bytes = fs::read(&segment).expect("segment");
    // The damage: its batch's checksum no longer matches.
    let at = damage_at(&bytes);
    bytes[at] ^= 0x20;
    fs::write(&segment, &bytes).expect("damage");
    let broker = Broker::open(dir.path())?;
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new(TOPIC, 0)])?;
    let mut seen = Vec::new();
    let error = loop {
        match consumer.poll(std::time::Duration::ZERO) {
            Ok(records) if records.is_empty() => break None,
            Ok(records) => seen.extend(records),
            Err(e) => break Some(e),
        }
    };
    // Either recovery cut the damaged tail (the segment was the active one), or the read
    // names the file: never a wrong byte handed out.
    match error {
        Some(Error::Corrupt { path, .. }) => assert!(path.ends_with("00000000000000000000.log")),
        Some(other) => panic!("unexpected error {other}"),
        None => assert!(seen.len() < 3, "the damaged record was read"),
    }
    // What was read is what was written.
    assert_matches_prefix(&seen);
    broker.close()
}

#[test]
fn a_version_1_directory_opens_and_reads_back_exactly() -> Result<()> {
    opens_and_reads_back_exactly(1)
}

#[test]
fn a_version_2_directory_opens_and_reads_back_exactly() -> Result<()> {
    opens_and_reads_back_exactly(2)
}

#[test]
fn a_damaged_version_1_segment_is_reported_not_misread() -> Result<()> {
    // A byte inside the second record's value: the batch's CRC no longer matches.
    damaged_segment_is_reported_not_misread(1, |bytes| bytes.len() - 10)
}

#[test]
fn a_damaged_version_2_segment_is_reported_not_misread() -> Result<()> {
    // A byte inside the second record's value: the batch's CRC no longer matches.
    damaged_segment_is_reported_not_misread(2, |bytes| {
        let value = br#"{"amount":950}"#;
        bytes
            .windows(value.len())
            .position(|w| w == value)
            .expect("the second record's value")
            + 3
    })
}

/// Every batch of the fixture's segments is a version 2 batch (magic 2 at byte 16), one per
/// record as `send` wrote them, back to back up to the end of the file, each with a valid
/// checksum and Kafka's "none" producer fields.
#[test]
fn the_segments_hold_version_2_batches() {
    for partition in 0..2 {
        let segment = fixture(2)
            .join(TOPIC)
            .join(partition.to_string())
            .join("00000000000000000000.log");
        let bytes = fs::read(&segment).expect("segment");
        let mut pos = 0;
        let mut offsets = Vec::new();
        while pos < bytes.len() {
            assert_eq!(bytes[pos + 16], 2, "magic at byte 16 of the batch at {pos}");
            let header = batch::check(&bytes[pos..]).expect("a valid batch");
            assert_eq!(header.version, 2);
            assert_eq!(header.origin, batch::Origin::NONE);
            assert_eq!(header.attributes, 0);
            assert_eq!(header.partition_leader_epoch, 0);
            offsets.push(header.base_offset);
            pos += header.length as usize;
        }
        assert_eq!(
            pos,
            bytes.len(),
            "partition {partition}: batches fill the file"
        );
        assert_eq!(
            offsets,
            [0, 1, 2],
            "partition {partition}: one batch per record"
        );
    }
}

/// Writes the fixture. Run only to create the fixture of a new format version.
#[test]
#[ignore = "writes tests/fixtures/v<FORMAT_VERSION>; run by hand for a new format version only"]
fn write_the_fixture() -> Result<()> {
    let target = fixture(batch::FORMAT_VERSION);
    if target.exists() {
        fs::remove_dir_all(&target).expect("remove the old fixture");
    }
    fs::create_dir_all(&target).expect("fixture dir");
    let broker = Broker::open(&target)?;
    // Kept for ever: the records' timestamps are in 2023, and time-based retention would
    // otherwise delete them once a segment rolls.
    broker.create_topic(TOPIC, TopicConfig::default().partitions(2).retention_ms(-1))?;
    let producer = broker.producer();
    for e in &RECORDS {
        let meta = producer.send(TOPIC, record(e))?;
        assert_eq!((meta.partition, meta.offset), (e.0, e.1));
    }
    let mut consumer = broker.consumer(ConsumerConfig::default().group_id(GROUP));
    consumer.commit_offsets(&[
        (TopicPartition::new(TOPIC, 0), 2),
        (TopicPartition::new(TOPIC, 1), 3),
    ])?;
    drop(consumer);
    broker.close()?;
    // The lock file is the broker's, not data.
    let _ = fs::remove_file(target.join(".lock"));
    Ok(())
}
