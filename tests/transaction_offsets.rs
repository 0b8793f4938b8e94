//! Offsets sent to a transaction become the group's committed offsets exactly when it
//! commits; an abort commits none; a member the group has moved on from cannot commit
//! (`CommitFailed`, the transaction aborted).

use std::time::Duration;

use strom::{
    Broker, Consumer, ConsumerConfig, Error, IsolationLevel, OffsetReset, Record, Result,
    TopicConfig, TopicPartition,
};

const INPUT: &str = "transactions";
const OUTPUT: &str = "fraud_alerts";
const GROUP: &str = "detectors";

fn setup(dir: &std::path::Path) -> Result<Broker> {
    let broker = Broker::open(dir)?;
    broker.create_topic(INPUT, TopicConfig::default())?;
    broker.create_topic(OUTPUT, TopicConfig::default())?;
    let producer = broker.producer();
    for i in 0..10 {
        producer.send(INPUT, Record::new(format!("tx-{i}")))?;
    }
    Ok(broker)
}

fn member(broker: &Broker) -> Result<Consumer> {
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .group_id(GROUP)
            .enable_auto_commit(false)
            .auto_offset_reset(OffsetReset::Earliest)
            .isolation_level(IsolationLevel::ReadCommitted),
    );
    consumer.subscribe([INPUT])?;
    Ok(consumer)
}

fn input() -> TopicPartition {
    TopicPartition::new(INPUT, 0)
}

#[test]
fn offsets_commit_with_the_transaction_and_not_with_an_abort() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = setup(dir.path())?;
    let mut consumer = member(&broker)?;
    let producer = broker.transactional_producer("copier")?;

    let records = consumer.poll(Duration::from_secs(5))?;
    assert_eq!(records.len(), 10);
    producer.begin_transaction()?;
    for r in records.iter().take(4) {
        producer.send(OUTPUT, Record::new(r.value().to_vec()))?;
    }
    producer.send_offsets_to_transaction(&[(input(), 4)], &consumer.group_metadata()?)?;
    assert_eq!(consumer.committed(&input())?, None, "not before the commit");
    producer.commit_transaction()?;
    assert_eq!(consumer.committed(&input())?, Some(4));

    producer.begin_transaction()?;
    producer.send(OUTPUT, Record::new("lost"))?;
    producer.send_offsets_to_transaction(&[(input(), 10)], &consumer.group_metadata()?)?;
    producer.abort_transaction()?;
    assert_eq!(consumer.committed(&input())?, Some(4));

    // Offsets alone, without records, commit too.
    producer.begin_transaction()?;
    producer.send_offsets_to_transaction(&[(input(), 6)], &consumer.group_metadata()?)?;
    producer.commit_transaction()?;
    consumer.close()?;
    drop(producer);
    broker.close()?;

    let broker = Broker::open(dir.path())?;
    let consumer = member(&broker)?;
    assert_eq!(
        consumer.committed(&input())?,
        Some(6),
        "durable across reopen"
    );
    Ok(())
}

#[test]
fn a_zombie_member_cannot_commit_and_its_transaction_is_aborted() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = setup(dir.path())?;
    let mut first = member(&broker)?;
    let producer = broker.transactional_producer("detector-a")?;
    let records = first.poll(Duration::from_secs(5))?;
    assert!(!records.is_empty());
    let stale = first.group_metadata()?;
    assert!(stale.generation > 0 && !stale.member_id.is_empty());

    producer.begin_transaction()?;
    producer.send(OUTPUT, Record::new("from a zombie"))?;
    // Another member joins: the group moves to a new generation, and `first` has not
    // polled since.
    let mut second = member(&broker)?;
    let _ = second.poll(Duration::ZERO)?;
    let result = producer
        .send_offsets_to_transaction(&[(input(), 10)], &stale)
        .and_then(|()| producer.commit_transaction());
    assert!(
        matches!(&result, Err(Error::CommitFailed { group_id, .. }) if group_id == GROUP),
        "{result:?}"
    );
    assert_eq!(first.committed(&input())?, None);
    let out = &broker.describe_topic(OUTPUT)?.partitions[0];
    assert_eq!(
        (out.last_stable_offset, out.high_watermark),
        (2, 2),
        "aborted: the record and its abort marker"
    );
    // The same check at commit time: the group moves on between sending the offsets and
    // committing.
    let _ = second.poll(Duration::ZERO)?;
    let current = second.group_metadata()?;
    producer.begin_transaction()?;
    producer.send(OUTPUT, Record::new("also aborted"))?;
    producer.send_offsets_to_transaction(&[(input(), 3)], &current)?;
    let _third = member(&broker)?;
    assert!(matches!(
        producer.commit_transaction(),
        Err(Error::CommitFailed { .. })
    ));
    assert_eq!(second.committed(&input())?, None);
    let out = &broker.describe_topic(OUTPUT)?.partitions[0];
    assert_eq!((out.last_stable_offset, out.high_watermark), (4, 4));
    Ok(())
}

#[test]
fn a_consumer_without_membership_commits_as_a_standalone_one() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = setup(dir.path())?;
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .group_id(GROUP)
            .enable_auto_commit(false)
            .auto_offset_reset(OffsetReset::Earliest),
    );
    consumer.assign(&[input()])?;
    let producer = broker.transactional_producer("manual")?;
    producer.begin_transaction()?;
    producer.send_offsets_to_transaction(&[(input(), 7)], &consumer.group_metadata()?)?;
    producer.commit_transaction()?;
    assert_eq!(consumer.committed(&input())?, Some(7));
    Ok(())
}

/// Offsets a transaction committed are held by the transaction log and applied again at
/// every open: a plain commit made after them still wins, a later transaction's wins over
/// that, and deleting the topic forgets them for good.
#[test]
fn transactional_offsets_at_reopen_respect_later_commits_and_deleted_topics() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let commit_in_transaction = |broker: &Broker, consumer: &Consumer, offset| -> Result<()> {
        let producer = broker.transactional_producer("copier")?;
        producer.begin_transaction()?;
        producer.send(OUTPUT, Record::new(format!("upto-{offset}")))?;
        producer.send_offsets_to_transaction(&[(input(), offset)], &consumer.group_metadata()?)?;
        producer.commit_transaction()
    };
    {
        let broker = setup(dir.path())?;
        let mut consumer = member(&broker)?;
        assert_eq!(consumer.poll(Duration::from_secs(5))?.len(), 10);
        commit_in_transaction(&broker, &consumer, 8)?;
        consumer.commit_offsets(&[(input(), 3)])?;
        consumer.close()?;
        broker.close()?;
    }
    {
        let broker = Broker::open(dir.path())?;
        let mut consumer = member(&broker)?;
        assert_eq!(
            consumer.committed(&input())?,
            Some(3),
            "the later plain commit"
        );
        assert_eq!(consumer.poll(Duration::from_secs(5))?.len(), 7);
        commit_in_transaction(&broker, &consumer, 9)?;
        consumer.close()?;
        broker.close()?;
    }
    {
        let broker = Broker::open(dir.path())?;
        let consumer = member(&broker)?;
        assert_eq!(
            consumer.committed(&input())?,
            Some(9),
            "the later transaction"
        );
        drop(consumer);
        broker.delete_topic(INPUT)?;
        broker.create_topic(INPUT, TopicConfig::default())?;
        broker.close()?;
    }
    let broker = Broker::open(dir.path())?;
    let consumer = member(&broker)?;
    assert_eq!(consumer.committed(&input())?, None, "gone with the topic");
    Ok(())
}

/// Offsets an open transaction holds are pending for their group, and only theirs, until
/// the transaction commits, aborts, or is fenced by a new producer with its id (which
/// aborts it): what Kafka's `OffsetFetch` with `require_stable` answers as unstable.
#[test]
fn offsets_held_by_an_open_transaction_are_pending_until_it_ends() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = setup(dir.path())?;
    let standalone = |group_id: &str| strom::GroupMetadata {
        group_id: group_id.to_string(),
        generation: 0,
        member_id: String::new(),
    };
    for how in ["commit", "abort"] {
        let producer = broker.transactional_producer("copier")?;
        producer.begin_transaction()?;
        producer.send(OUTPUT, Record::new("alert"))?;
        producer.send_offsets_to_transaction(&[(input(), 3)], &standalone(GROUP))?;
        assert_eq!(
            broker.pending_transactional_offsets(GROUP)?,
            [input()],
            "{how}"
        );
        assert!(broker.pending_transactional_offsets("others")?.is_empty());
        if how == "commit" {
            producer.commit_transaction()?;
        } else {
            producer.abort_transaction()?;
        }
        assert!(
            broker.pending_transactional_offsets(GROUP)?.is_empty(),
            "{how}"
        );
    }
    let zombie = broker.transactional_producer("copier")?;
    zombie.begin_transaction()?;
    zombie.send_offsets_to_transaction(&[(input(), 5)], &standalone(GROUP))?;
    assert_eq!(broker.pending_transactional_offsets(GROUP)?, [input()]);
    let _successor = broker.transactional_producer("copier")?;
    assert!(broker.pending_transactional_offsets(GROUP)?.is_empty());
    assert_eq!(broker.committed_offsets(GROUP)?, [(input(), 3)]);
    Ok(())
}
