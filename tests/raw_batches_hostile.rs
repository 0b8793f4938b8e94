//! Property: whatever bytes reach `Broker::append_batch` (random ones, or a valid batch
//! with bytes flipped, cut, lengthened or its checksum made right again after the damage),
//! it never panics, and what it accepts is a whole valid batch: the partition moves by the
//! batch's record count and a consumer reads every record back.

use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;
use strom::storage::batch::{self, Compression, Entry};
use strom::{Broker, ConsumerConfig, IsolationLevel, OffsetReset, TopicConfig, TopicPartition};

const TOPIC: &str = "hostile";

/// A damage done to a valid batch.
#[derive(Debug, Clone)]
enum Damage {
    Flip { at: usize, mask: u8 },
    Cut(usize),
    Extend(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| Damage::Flip { at, mask }),
        any::<usize>().prop_map(Damage::Cut),
        vec(any::<u8>(), 1..16).prop_map(Damage::Extend),
    ]
}

/// CRC-32C (Castagnoli), bitwise: the test's own.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Makes the checksum of a damaged batch right again, so that the checks behind it run.
#[expect(
    clippy::big_endian_bytes,
    reason = "Kafka's batch header is big-endian"
)]
fn fix_crc(bytes: &mut [u8]) {
    if bytes.len() > 21 {
        let crc = crc32c(&bytes[21..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    }
}

fn valid_batch(values: &[Vec<u8>], codec: Compression) -> Vec<u8> {
    let entries: Vec<Entry<'_>> = values
        .iter()
        .map(|v| Entry {
            timestamp: 1_000,
            key: Some(&v[..v.len().min(3)]),
            value: Some(v),
            headers: &[],
        })
        .collect();
    let mut plain = vec![0; batch::encoded_len(&entries)];
    batch::encode(&mut plain, 0, &entries).expect("encode");
    batch::compress(&plain, codec).expect("compress")
}

/// Every record of the partition, read by a consumer: (offset, value).
fn read_back(broker: &Broker) -> strom::Result<Vec<(u64, Vec<u8>)>> {
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new(TOPIC, 0)])?;
    let mut out = Vec::new();
    loop {
        let records = consumer.poll(Duration::ZERO)?;
        if records.is_empty() {
            return Ok(out);
        }
        out.extend(records.iter().map(|r| (r.offset(), r.value().to_vec())));
    }
}

fn check_append(broker: &Broker, bytes: &[u8]) -> Result<(), TestCaseError> {
    let tp = TopicPartition::new(TOPIC, 0);
    let before = broker.describe_topic(TOPIC).expect("describe").partitions[0].high_watermark;
    match broker.append_batch(&tp, bytes) {
        Ok(appended) => {
            let header = batch::check(bytes).expect("only valid batches are accepted");
            prop_assert_eq!(appended.base_offset, before);
            prop_assert_eq!(
                appended.last_offset,
                before + u64::from(header.record_count) - 1
            );
            let fetched = broker
                .fetch_batches(&tp, before, usize::MAX, IsolationLevel::ReadUncommitted)
                .expect("fetch");
            let stored = batch::check(&fetched.bytes).expect("stored batch checks");
            prop_assert_eq!(stored.length as usize, fetched.bytes.len());
            let read = read_back(broker).expect("every record reads back");
            prop_assert_eq!(read.len() as u64, appended.last_offset + 1);
        }
        Err(_) => {
            let after =
                broker.describe_topic(TOPIC).expect("describe").partitions[0].high_watermark;
            prop_assert_eq!(after, before, "a refused batch stores nothing");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: 200, ..Config::default() })]

    #[test]
    fn random_bytes_never_panic_nor_append(bytes in vec(any::<u8>(), 0..300)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let broker = Broker::open(dir.path()).expect("open");
        broker.create_topic(TOPIC, TopicConfig::default()).expect("topic");
        check_append(&broker, &bytes)?;
    }

    #[test]
    fn damaged_batches_never_panic_nor_append_garbage(
        values in vec(vec(any::<u8>(), 0..40), 1..8),
        codec in prop::sample::select(Compression::ALL.to_vec()),
        damages in vec(damage(), 1..4),
        crc_fixed in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let broker = Broker::open(dir.path()).expect("open");
        broker.create_topic(TOPIC, TopicConfig::default()).expect("topic");
        let mut bytes = valid_batch(&values, codec);
        for d in damages {
            match d {
                Damage::Flip { at, mask } => {
                    let at = at % bytes.len().max(1);
                    if let Some(b) = bytes.get_mut(at) {
                        *b ^= mask;
                    }
                }
                Damage::Cut(at) => bytes.truncate(at % (bytes.len() + 1)),
                Damage::Extend(more) => bytes.extend(more),
            }
        }
        if crc_fixed {
            fix_crc(&mut bytes);
        }
        check_append(&broker, &bytes)?;
        // A valid batch after it is still taken: the partition is not left broken.
        let good = valid_batch(&[b"after".to_vec()], Compression::None);
        broker.append_batch(&TopicPartition::new(TOPIC, 0), &good).expect("a valid batch");
    }
}
