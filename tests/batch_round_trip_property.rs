//! Property: any mix of `send` and `send_batch` of arbitrary records (keys, empty values, tombstones, UTF-8 headers, explicit timestamps) reads back with every field intact, at the offsets the producer returned.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;
use strom::{
    Broker, ConsumerConfig, ConsumerRecord, OffsetReset, Record, RecordMetadata, Result,
    TopicConfig, TopicPartition,
};

const TOPIC: &str = "prop";
const PARTITIONS: u32 = 3;

/// A record to send, kept to compare with what comes back.
#[derive(Debug, Clone)]
struct Spec {
    key: Option<Vec<u8>>,
    /// `None`: a tombstone.
    value: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
    timestamp: Option<i64>,
    partition: Option<u32>,
}

impl Spec {
    fn record(&self) -> Record {
        let mut record = match (&self.value, &self.key) {
            (None, Some(key)) => Record::tombstone(key.clone()),
            (Some(value), Some(key)) => Record::new(value.clone()).key(key.clone()),
            (Some(value), None) => Record::new(value.clone()),
            (None, None) => unreachable!("a tombstone always has a key"),
        };
        for (name, value) in &self.headers {
            record = record.header(name.clone(), value.clone());
        }
        if let Some(ts) = self.timestamp {
            record = record.timestamp(ts);
        }
        if let Some(p) = self.partition {
            record = record.partition(p);
        }
        record
    }
}

#[derive(Debug, Clone)]
enum Op {
    Send(Spec),
    Batch(Vec<Spec>),
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

fn spec() -> impl Strategy<Value = Spec> {
    let header_name = vec(any::<char>(), 0..8).prop_map(|c| c.into_iter().collect::<String>());
    (
        proptest::option::of(bytes(12)),
        proptest::option::weighted(0.8, bytes(48)),
        vec((header_name, bytes(8)), 0..=3),
        proptest::option::of(prop_oneof![
            0..2_000_000_000_000_i64,
            Just(0),
            Just(i64::MAX)
        ]),
        proptest::option::weighted(0.2, 0..PARTITIONS),
    )
        .prop_map(|(key, value, headers, timestamp, partition)| Spec {
            // A tombstone needs a key; give a keyless one the empty key.
            key: if value.is_none() {
                Some(key.unwrap_or_default())
            } else {
                key
            },
            value,
            headers,
            timestamp,
            partition,
        })
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    vec(
        prop_oneof![
            spec().prop_map(Op::Send),
            vec(spec(), 0..12).prop_map(Op::Batch),
        ],
        1..12,
    )
}

/// Sends every op; returns each record with its metadata, in the order sent.
fn send_all(broker: &Broker, ops: &[Op]) -> Result<Vec<(Spec, RecordMetadata)>> {
    let producer = broker.producer();
    let mut sent = Vec::new();
    for op in ops {
        match op {
            Op::Send(spec) => {
                let meta = producer.send(TOPIC, spec.record())?;
                sent.push((spec.clone(), meta));
            }
            Op::Batch(specs) => {
                let metas = producer.send_batch(TOPIC, specs.iter().map(Spec::record))?;
                assert_eq!(metas.len(), specs.len(), "one metadata per record");
                sent.extend(specs.iter().cloned().zip(metas));
            }
        }
    }
    Ok(sent)
}

/// Checks the metadata: explicit partitions and timestamps are honoured, offsets are
/// contiguous per partition in the order the sends returned. Returns the high watermarks.
fn check_metadata(sent: &[(Spec, RecordMetadata)]) -> Vec<u64> {
    let mut next = vec![0_u64; PARTITIONS as usize];
    for (spec, meta) in sent {
        assert_eq!(meta.topic, TOPIC);
        assert!(meta.partition < PARTITIONS, "{meta:?}");
        if let Some(p) = spec.partition {
            assert_eq!(meta.partition, p, "explicit partition ignored");
        }
        if let Some(ts) = spec.timestamp {
            assert_eq!(meta.timestamp, ts, "explicit timestamp changed");
        }
        let slot = &mut next[meta.partition as usize];
        assert_eq!(
            meta.offset, *slot,
            "offsets of partition {} not contiguous",
            meta.partition
        );
        *slot += 1;
    }
    next
}

/// Reads every partition from the start until `n` records have come.
fn read_all(broker: &Broker, n: usize) -> Result<Vec<ConsumerRecord>> {
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .max_poll_records(64),
    );
    let tps: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(TOPIC, p))
        .collect();
    consumer.assign(&tps)?;
    let mut read = Vec::new();
    while read.len() < n {
        let records = consumer.poll(Duration::from_secs(5))?;
        assert!(!records.is_empty(), "read {} of {n}", read.len());
        read.extend(records);
    }
    assert!(
        consumer.poll(Duration::ZERO)?.is_empty(),
        "more records than sent"
    );
    assert_eq!(read.len(), n);
    Ok(read)
}

fn check(ops: &[Op]) -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    let sent = send_all(&broker, ops)?;
    let watermarks = check_metadata(&sent);
    let desc = broker.describe_topic(TOPIC)?;
    let described: Vec<u64> = desc.partitions.iter().map(|p| p.high_watermark).collect();
    assert_eq!(described, watermarks);

    let mut expected: BTreeMap<(u32, u64), &(Spec, RecordMetadata)> = sent
        .iter()
        .map(|s| ((s.1.partition, s.1.offset), s))
        .collect();
    let mut last_offset: BTreeMap<u32, u64> = BTreeMap::new();
    for r in &read_all(&broker, sent.len())? {
        let at = (r.partition(), r.offset());
        if let Some(prev) = last_offset.insert(r.partition(), r.offset()) {
            assert!(
                prev < r.offset(),
                "partition {} read out of order",
                r.partition()
            );
        }
        let (spec, meta) = expected
            .remove(&at)
            .unwrap_or_else(|| panic!("record at {at:?} read twice or never sent"));
        assert_eq!(r.topic(), TOPIC);
        assert_eq!(r.key(), spec.key.as_deref(), "key at {at:?}");
        assert_eq!(
            r.is_tombstone(),
            spec.value.is_none(),
            "tombstone at {at:?}"
        );
        assert_eq!(
            r.value(),
            spec.value.as_deref().unwrap_or_default(),
            "value at {at:?}"
        );
        let headers: Vec<(String, Vec<u8>)> = r
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect();
        assert_eq!(headers, spec.headers, "headers at {at:?}");
        assert_eq!(r.timestamp(), meta.timestamp, "timestamp at {at:?}");
        if let Some(ts) = spec.timestamp {
            assert_eq!(r.timestamp(), ts, "explicit timestamp at {at:?}");
        }
    }
    assert!(expected.is_empty(), "never read back: {expected:?}");
    broker.close()
}

proptest! {
    #![proptest_config(Config {
        cases: 32,
        // Do not write regression files into the source tree.
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn records_round_trip_through_send_and_send_batch(ops in ops()) {
        check(&ops).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}
