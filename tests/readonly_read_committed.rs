//! A reader of a directory opened read-only isolates committed data as a consumer of the
//! writer's own process would: a `ReadCommitted` consumer gets nothing of a transaction still
//! open (the last stable offset holds it back) nor of an aborted one, and gets a committed
//! one once its marker is written; a `ReadUncommitted` consumer gets everything at once.

use std::time::{Duration, Instant};

use strom::{
    Broker, BrokerConfig, ConsumerConfig, IsolationLevel, OffsetReset, Record, Result, TopicConfig,
    TopicPartition,
};

fn values(consumer: &mut strom::Consumer, want: usize) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < want && Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(50))? {
            out.push(String::from_utf8_lossy(r.value()).into_owned());
        }
    }
    Ok(out)
}

#[test]
fn read_committed_readers_see_only_committed_transactions() -> Result<()> {
    let tmp = tempfile::tempdir().expect("dir");
    let dir = tmp.path();
    let writer = Broker::open(dir)?;
    writer.create_topic("t", TopicConfig::default())?;
    let reader = Broker::open_with(dir, BrokerConfig::default().read_only(true))?;
    let tp = TopicPartition::new("t", 0);
    let consumer = |isolation| -> Result<strom::Consumer> {
        let mut c = reader.consumer(
            ConsumerConfig::default()
                .auto_offset_reset(OffsetReset::Earliest)
                .isolation_level(isolation),
        );
        c.assign(std::slice::from_ref(&tp))?;
        Ok(c)
    };
    let mut committed = consumer(IsolationLevel::ReadCommitted)?;
    let mut uncommitted = consumer(IsolationLevel::ReadUncommitted)?;

    writer.producer().send("t", Record::new("plain-1"))?;
    let tx = writer.transactional_producer("tx")?;
    tx.begin_transaction()?;
    tx.send("t", Record::new("aborted"))?;
    tx.abort_transaction()?;
    tx.begin_transaction()?;
    tx.send("t", Record::new("committed"))?;
    writer.producer().send("t", Record::new("plain-2"))?;

    // Open: the reader's last stable offset stops at the transaction's first record.
    assert_eq!(
        values(&mut uncommitted, 4)?,
        ["plain-1", "aborted", "committed", "plain-2"]
    );
    assert_eq!(values(&mut committed, 1)?, ["plain-1"]);
    assert!(
        committed.poll(Duration::from_millis(200))?.is_empty(),
        "nothing at or past the open transaction"
    );
    let desc = reader.describe_topic("t")?;
    assert!(desc.partitions[0].last_stable_offset < desc.partitions[0].high_watermark);

    tx.commit_transaction()?;
    assert_eq!(values(&mut committed, 2)?, ["committed", "plain-2"]);
    let desc = reader.describe_topic("t")?;
    assert_eq!(
        desc.partitions[0].last_stable_offset,
        desc.partitions[0].high_watermark
    );
    writer.close()?;
    reader.close()?;
    Ok(())
}

/// Offsets a transaction commits are a group's committed offsets for a reader too (the
/// writer keeps them in its transaction log, not in the group's file, until its next plain
/// commit).
#[test]
fn offsets_committed_by_transactions_are_read() -> Result<()> {
    let tmp = tempfile::tempdir().expect("dir");
    let dir = tmp.path();
    let writer = Broker::open(dir)?;
    writer.create_topic("in", TopicConfig::default())?;
    writer.create_topic("out", TopicConfig::default())?;
    for i in 0..5 {
        writer
            .producer()
            .send("in", Record::new(format!("in-{i}")))?;
    }
    let mut member = writer.consumer(
        ConsumerConfig::default()
            .group_id("copier")
            .enable_auto_commit(false)
            .auto_offset_reset(OffsetReset::Earliest),
    );
    member.subscribe(["in"])?;
    let mut copied = 0;
    while copied < 5 {
        copied += member.poll(Duration::from_secs(5))?.len();
    }
    let reader = Broker::open_with(dir, BrokerConfig::default().read_only(true))?;
    assert!(matches!(
        reader.describe_group("copier"),
        Err(strom::Error::UnknownGroup { .. })
    ));

    let tx = writer.transactional_producer("copier-1")?;
    tx.begin_transaction()?;
    tx.send("out", Record::new("copied"))?;
    let tp = TopicPartition::new("in", 0);
    tx.send_offsets_to_transaction(&[(tp.clone(), 5)], &member.group_metadata()?)?;
    tx.commit_transaction()?;

    let group = reader.describe_group("copier")?;
    assert_eq!(group.partitions.len(), 1);
    assert_eq!(group.partitions[0].committed, Some(5));
    assert_eq!(group.partitions[0].lag, 0);
    assert_eq!(reader.groups(), ["copier"]);
    let reading = reader.consumer(ConsumerConfig::default().group_id("copier"));
    assert_eq!(reading.committed(&tp)?, Some(5));
    // A plain commit after it wins, as in the writer.
    member.commit_offsets(&[(tp.clone(), 3)])?;
    assert_eq!(
        reader.describe_group("copier")?.partitions[0].committed,
        Some(3)
    );
    assert_eq!(reading.committed(&tp)?, Some(3));
    member.close()?;
    writer.close()?;
    reader.close()?;
    Ok(())
}
