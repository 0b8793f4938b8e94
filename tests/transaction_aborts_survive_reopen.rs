//! A partition's aborted transactions stay aborted across a reopen: `ReadCommitted`
//! readers of the reopened directory never see their records. (Opening a partition used to
//! take its `aborted.txnindex` for an index file without its segment, because the name
//! ends with `index`, and delete it.) An index file without its segment is still removed.

use std::path::Path;
use std::time::Duration;

use strom::{
    Broker, ConsumerConfig, IsolationLevel, OffsetReset, Record, Result, TopicConfig,
    TopicPartition,
};

/// The values of `payments`-0 as a reader with `isolation` sees them, from the start.
fn values(broker: &Broker, isolation: IsolationLevel) -> Result<Vec<String>> {
    let config = ConsumerConfig::default()
        .isolation_level(isolation)
        .auto_offset_reset(OffsetReset::Earliest);
    let mut consumer = broker.consumer(config);
    consumer.assign(&[TopicPartition::new("payments", 0)])?;
    let mut values = Vec::new();
    loop {
        let records = consumer.poll(Duration::from_millis(50))?;
        if records.is_empty() {
            return Ok(values);
        }
        values.extend(
            records
                .iter()
                .map(|r| String::from_utf8_lossy(r.value()).into_owned()),
        );
    }
}

fn check(dir: &Path, when: &str) -> Result<()> {
    let broker = Broker::open(dir)?;
    let committed = values(&broker, IsolationLevel::ReadCommitted)?;
    assert_eq!(committed, ["kept 1", "kept 2"], "ReadCommitted, {when}");
    let all = values(&broker, IsolationLevel::ReadUncommitted)?;
    assert_eq!(
        all,
        ["aborted 1", "kept 1", "aborted 2", "kept 2"],
        "ReadUncommitted, {when}"
    );
    broker.close()
}

#[test]
fn aborted_records_stay_hidden_after_a_reopen() -> Result<()> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    {
        let broker = Broker::open(dir.path())?;
        broker.create_topic("payments", TopicConfig::default())?;
        let producer = broker.transactional_producer("payments-writer")?;
        for (aborted, kept) in [("aborted 1", "kept 1"), ("aborted 2", "kept 2")] {
            producer.begin_transaction()?;
            producer.send("payments", Record::new(aborted))?;
            producer.abort_transaction()?;
            producer.begin_transaction()?;
            producer.send("payments", Record::new(kept))?;
            producer.commit_transaction()?;
        }
        drop(producer);
        broker.close()?;
    }
    let partition = dir.path().join("payments").join("0");
    assert!(partition.join("aborted.txnindex").exists());
    let orphan = partition.join("00000000000000000099.index");
    std::fs::write(&orphan, b"").expect("an index file without its segment");
    check(dir.path(), "after a reopen")?;
    assert!(
        partition.join("aborted.txnindex").exists(),
        "the aborted-transaction index is kept"
    );
    assert!(!orphan.exists(), "the orphan index file is removed");
    check(dir.path(), "after a second reopen")
}
