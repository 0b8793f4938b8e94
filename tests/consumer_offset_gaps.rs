//! A batch may cover offsets after its last record (Kafka's compaction leaves such gaps, and
//! version 2 batches keep them): a consumer's position moves past the whole batch, so it
//! reaches the high watermark, a poll that waits parks instead of reading the batch again,
//! and the next append is read where it lands.

#![expect(
    clippy::big_endian_bytes,
    reason = "version 2 batches (Kafka's RecordBatch) are big-endian"
)]

use std::fs;
use std::time::{Duration, Instant};

use strom::storage::batch::{self, Entry};
use strom::{Broker, ConsumerConfig, OffsetReset, Record, Result, TopicConfig, TopicPartition};

const TOPIC: &str = "gaps";

fn encode(base_offset: u64, values: &[&[u8]]) -> Vec<u8> {
    let entries: Vec<Entry<'_>> = values
        .iter()
        .map(|v| Entry {
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(v),
            headers: &[],
        })
        .collect();
    let mut out = vec![0; batch::encoded_len(&entries)];
    batch::encode(&mut out, base_offset, &entries).expect("encode");
    out
}

/// A copy of a version 2 batch with its `last_offset_delta` (big-endian at byte 23) set to
/// `delta` and its CRC-32C (big-endian at 17, of bytes 21 on) recomputed.
fn with_last_offset_delta(batch: &[u8], delta: u32) -> Vec<u8> {
    let mut out = batch.to_vec();
    out[23..27].copy_from_slice(&delta.to_be_bytes());
    let crc = crc_fast::crc32_iscsi(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

#[test]
fn a_batch_ending_in_a_gap_moves_the_position_to_the_high_watermark() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(1))?;
    broker.close()?;
    // Offsets 0 and 1, then a batch at 2 whose one record is followed by 3..=6 without
    // records; an unclean stop, so that the segment is scanned and its index rebuilt.
    let gapped = with_last_offset_delta(&encode(2, &[b"c"]), 4);
    assert_eq!(batch::check(&gapped).map(|h| h.next_offset()), Ok(7));
    let log = dir
        .path()
        .join(TOPIC)
        .join("0")
        .join("00000000000000000000");
    fs::write(
        log.with_extension("log"),
        [encode(0, &[b"a", b"b"]), gapped].concat(),
    )
    .expect("write segment");
    for ext in ["index", "timeindex"] {
        let _ = fs::remove_file(log.with_extension(ext));
    }
    let _ = fs::remove_file(dir.path().join(".clean"));

    let broker = Broker::open(dir.path())?;
    let tp = TopicPartition::new(TOPIC, 0);
    assert_eq!(
        broker.describe_topic(TOPIC)?.partitions[0].high_watermark,
        7
    );
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(std::slice::from_ref(&tp))?;
    let records = consumer.poll(Duration::ZERO)?;
    let got: Vec<(u64, &[u8])> = records.iter().map(|r| (r.offset(), r.value())).collect();
    assert_eq!(got, [(0, &b"a"[..]), (1, b"b"), (2, b"c")]);
    assert_eq!(consumer.position(&tp), Some(7), "past the gap");

    // Nothing to read: the poll waits out its timeout.
    let started = Instant::now();
    assert!(consumer.poll(Duration::from_millis(20))?.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(20));

    let sent = broker
        .producer()
        .send(TOPIC, Record::new("d").partition(0))?;
    assert_eq!(sent.offset, 7);
    let records = consumer.poll(Duration::from_secs(5))?;
    let got: Vec<u64> = records.iter().map(strom::ConsumerRecord::offset).collect();
    assert_eq!(got, [7]);
    assert_eq!(consumer.position(&tp), Some(8));
    broker.close()
}
