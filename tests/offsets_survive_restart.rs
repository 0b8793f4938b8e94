//! Committed offsets (`commit`, `commit_offsets`, read back by `committed`) survive closing and reopening the broker, a new member of the group resumes from them rather than from `auto_offset_reset`, groups on one topic keep independent offsets, and `auto_offset_reset` (Earliest, Latest, None) applies only where nothing is committed or the commit is out of range.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use strom::{
    Broker, Consumer, ConsumerConfig, Error, OffsetReset, Record, Result, TopicConfig,
    TopicPartition,
};

const TOPIC: &str = "accounts";
const PARTITIONS: u32 = 2;
/// Records per partition.
const PER_PARTITION: u64 = 10;
const WAIT: Duration = Duration::from_secs(5);
/// For polls that must come back empty.
const BRIEF: Duration = Duration::from_millis(50);

fn tp(partition: u32) -> TopicPartition {
    TopicPartition::new(TOPIC, partition)
}

/// Opens a broker on `dir` with the topic and `PER_PARTITION` records in each partition.
fn fixture(dir: &Path, partitions: u32) -> Result<Broker> {
    let broker = Broker::open(dir)?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(partitions))?;
    for p in 0..partitions {
        let records = (0..PER_PARTITION).map(|i| Record::new(format!("p{p}-{i}")).partition(p));
        broker.producer().send_batch(TOPIC, records)?;
    }
    Ok(broker)
}

fn config(group: &str, reset: OffsetReset) -> ConsumerConfig {
    ConsumerConfig::default()
        .group_id(group)
        .auto_offset_reset(reset)
        .enable_auto_commit(false)
        .max_poll_records(1000)
}

/// Subscribes and reads what there is: the first offset read per partition.
fn first_offsets(consumer: &mut Consumer) -> Result<BTreeMap<u32, u64>> {
    consumer.subscribe([TOPIC])?;
    let mut first = BTreeMap::new();
    for _ in 0..20 {
        let records = consumer.poll(BRIEF)?;
        if records.is_empty() && !consumer.assignment().is_empty() {
            break;
        }
        for r in &records {
            first.entry(r.partition()).or_insert(r.offset());
        }
    }
    Ok(first)
}

#[test]
fn commits_are_read_back_and_survive_reopen() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = fixture(dir.path(), PARTITIONS)?;
    let mut consumer = broker.consumer(config("g", OffsetReset::Earliest).max_poll_records(3));
    consumer.subscribe([TOPIC])?;
    assert_eq!(consumer.committed(&tp(0))?, None, "nothing committed yet");
    let records = consumer.poll(WAIT)?;
    assert_eq!(records.len(), 3);
    consumer.commit()?;
    let mut positions = BTreeMap::new();
    for tp in consumer.assignment() {
        let position = consumer.position(&tp);
        assert_eq!(
            consumer.committed(&tp)?,
            position,
            "commit() stores the position"
        );
        positions.insert(tp.partition, position);
    }
    assert_eq!(positions.len(), PARTITIONS as usize);
    assert!(
        positions.values().any(|&p| p == Some(3)),
        "one partition was read to 3: {positions:?}"
    );
    consumer.commit_offsets(&[(tp(1), 7)])?;
    assert_eq!(consumer.committed(&tp(1))?, Some(7));
    assert_eq!(consumer.committed(&tp(0))?, positions[&0], "untouched");
    consumer.close()?;
    let expected = [(0, positions[&0]), (1, Some(7))];
    broker.close()?;

    let broker = Broker::open(dir.path())?;
    let consumer = broker.consumer(config("g", OffsetReset::Earliest));
    for (p, offset) in expected {
        assert_eq!(
            consumer.committed(&tp(p))?,
            offset,
            "{TOPIC}-{p} after reopen"
        );
    }
    assert_eq!(broker.groups(), ["g"]);
    let desc = broker.describe_group("g")?;
    let committed: Vec<(u32, Option<u64>)> = desc
        .partitions
        .iter()
        .map(|l| (l.topic_partition.partition, l.committed))
        .collect();
    assert_eq!(committed, expected);
    drop(consumer);
    broker.close()
}

#[test]
fn a_new_member_resumes_from_the_committed_offsets() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = fixture(dir.path(), PARTITIONS)?;
    let mut consumer = broker.consumer(config("g", OffsetReset::Earliest));
    consumer.commit_offsets(&[(tp(0), 4), (tp(1), 9)])?;
    drop(consumer);
    broker.close()?;

    // Neither reset policy matters where the group has committed: both start at 4 and 9.
    for reset in [
        OffsetReset::Latest,
        OffsetReset::Earliest,
        OffsetReset::None,
    ] {
        let broker = Broker::open(dir.path())?;
        let mut member = broker.consumer(config("g", reset));
        let first = first_offsets(&mut member)?;
        assert_eq!(first, BTreeMap::from([(0, 4), (1, 9)]), "{reset:?}");
        member.close()?;
        broker.close()?;
    }
    Ok(())
}

#[test]
fn groups_on_one_topic_are_independent() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = fixture(dir.path(), PARTITIONS)?;
    let mut a = broker.consumer(config("a", OffsetReset::Earliest));
    let mut b = broker.consumer(config("b", OffsetReset::Earliest));
    a.commit_offsets(&[(tp(0), 5)])?;
    b.commit_offsets(&[(tp(0), 2), (tp(1), 8)])?;
    assert_eq!(a.committed(&tp(0))?, Some(5));
    assert_eq!(a.committed(&tp(1))?, None);
    assert_eq!(b.committed(&tp(0))?, Some(2));
    drop((a, b));
    broker.close()?;

    let broker = Broker::open(dir.path())?;
    let mut a = broker.consumer(config("a", OffsetReset::Earliest));
    let mut b = broker.consumer(config("b", OffsetReset::Earliest));
    let mut c = broker.consumer(config("c", OffsetReset::Earliest));
    // Members of different groups each get every partition, each from their own group's offsets.
    assert_eq!(first_offsets(&mut a)?, BTreeMap::from([(0, 5), (1, 0)]));
    assert_eq!(first_offsets(&mut b)?, BTreeMap::from([(0, 2), (1, 8)]));
    assert_eq!(first_offsets(&mut c)?, BTreeMap::from([(0, 0), (1, 0)]));
    a.commit()?;
    assert_eq!(a.committed(&tp(0))?, Some(PER_PARTITION));
    assert_eq!(b.committed(&tp(0))?, Some(2), "a's commit leaves b alone");
    assert_eq!(c.committed(&tp(0))?, None, "and c");
    assert_eq!(broker.groups(), ["a", "b", "c"]);
    drop((a, b, c));
    broker.close()
}

#[test]
fn reset_applies_only_where_nothing_is_committed() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = fixture(dir.path(), PARTITIONS)?;
    // Nothing committed for these groups.
    let mut earliest = broker.consumer(config("early", OffsetReset::Earliest));
    assert_eq!(
        first_offsets(&mut earliest)?,
        BTreeMap::from([(0, 0), (1, 0)])
    );
    let mut latest = broker.consumer(config("late", OffsetReset::Latest));
    assert_eq!(first_offsets(&mut latest)?, BTreeMap::new(), "nothing old");
    broker
        .producer()
        .send(TOPIC, Record::new("new").partition(1))?;
    let records = latest.poll(WAIT)?;
    let got: Vec<(u32, u64)> = records
        .iter()
        .map(|r| (r.partition(), r.offset()))
        .collect();
    assert_eq!(got, [(1, PER_PARTITION)], "only the record sent since");
    let mut none = broker.consumer(config("strict", OffsetReset::None));
    none.subscribe([TOPIC])?;
    let err = none.poll(BRIEF).expect_err("no position and no reset");
    assert!(
        matches!(err, Error::OffsetOutOfRange { ref topic, offset: None, .. } if topic == TOPIC),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn reset_applies_where_the_commit_is_out_of_range() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = fixture(dir.path(), 1)?;
    let beyond = PER_PARTITION + 1000;
    for group in ["early", "late", "strict"] {
        broker
            .consumer(config(group, OffsetReset::Earliest))
            .commit_offsets(&[(tp(0), beyond)])?;
    }
    broker.close()?;
    let broker = Broker::open(dir.path())?;

    let mut earliest = broker.consumer(config("early", OffsetReset::Earliest));
    assert_eq!(earliest.committed(&tp(0))?, Some(beyond));
    assert_eq!(
        first_offsets(&mut earliest)?,
        BTreeMap::from([(0, 0)]),
        "from the log start"
    );
    let mut latest = broker.consumer(config("late", OffsetReset::Latest));
    assert_eq!(first_offsets(&mut latest)?, BTreeMap::new());
    assert_eq!(
        latest.position(&tp(0)),
        Some(PER_PARTITION),
        "at the high watermark"
    );
    let meta = broker.producer().send(TOPIC, Record::new("new"))?;
    let records = latest.poll(WAIT)?;
    assert_eq!(
        records
            .iter()
            .map(strom::ConsumerRecord::offset)
            .collect::<Vec<_>>(),
        [meta.offset]
    );
    let mut strict = broker.consumer(config("strict", OffsetReset::None));
    strict.subscribe([TOPIC])?;
    let err = strict.poll(BRIEF).expect_err("the commit is out of range");
    assert!(
        matches!(err, Error::OffsetOutOfRange { offset: Some(o), partition: 0, .. } if o == beyond),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn reset_applies_where_the_commit_fell_below_the_log_start() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    let topic = TopicConfig::default()
        .segment_bytes(4096)
        .retention_bytes(8192);
    broker.create_topic(TOPIC, topic)?;
    for i in 0..300 {
        broker
            .producer()
            .send(TOPIC, Record::new(format!("{i:0>100}")))?;
    }
    for group in ["early", "late", "strict"] {
        broker
            .consumer(config(group, OffsetReset::Earliest))
            .commit_offsets(&[(tp(0), 1)])?;
    }
    broker.run_maintenance()?;
    let log_start = broker.describe_topic(TOPIC)?.partitions[0].log_start_offset;
    assert!(log_start > 1, "retention deleted segments");
    broker.close()?;
    let broker = Broker::open(dir.path())?;

    let mut earliest = broker.consumer(config("early", OffsetReset::Earliest));
    assert_eq!(earliest.committed(&tp(0))?, Some(1), "kept as committed");
    assert_eq!(
        first_offsets(&mut earliest)?,
        BTreeMap::from([(0, log_start)]),
        "from the log start"
    );
    let mut latest = broker.consumer(config("late", OffsetReset::Latest));
    assert_eq!(first_offsets(&mut latest)?, BTreeMap::new());
    assert_eq!(latest.position(&tp(0)), Some(300), "at the high watermark");
    let mut strict = broker.consumer(config("strict", OffsetReset::None));
    strict.subscribe([TOPIC])?;
    let err = strict.poll(BRIEF).expect_err("the commit is out of range");
    assert!(
        matches!(err, Error::OffsetOutOfRange { offset: Some(1), log_start_offset, .. } if log_start_offset == log_start),
        "{err:?}"
    );
    Ok(())
}
