//! Transactions of record batches encoded elsewhere, as a Kafka-protocol server drives a
//! transactional producer for a remote client (`InitProducerId` is
//! `Broker::transactional_producer`, `AddPartitionsToTxn` is `add_partitions`, `Produce` is
//! `append_batch`, `EndTxn` is commit or abort): committed batches are visible to
//! `ReadCommitted` consumers and aborted ones are not; a second `InitProducerId` fences the
//! first; batches with another producer id or epoch are refused; offsets sent with the
//! transaction become the group's when it commits; the transaction timeout aborts and
//! fences a producer whose handle stays alive.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use strom::storage::batch::{self, Entry, Origin};
use strom::{
    Broker, BrokerConfig, ConsumerConfig, Error, GroupMetadata, IsolationLevel, JoinGroup,
    OffsetReset, Result, TopicConfig, TopicPartition, TransactionalProducer,
};

const TOPIC: &str = "payments";
/// Bounds every wait loop.
const DEADLINE: Duration = Duration::from_secs(30);

fn tp(partition: u32) -> TopicPartition {
    TopicPartition::new(TOPIC, partition)
}

fn open(config: BrokerConfig) -> Result<(tempfile::TempDir, Broker)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open_with(dir.path(), config)?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(2))?;
    Ok((dir, broker))
}

/// A batch of `values` as a Kafka client encodes it for `origin`.
fn encoded(origin: Origin, values: &[&str]) -> Vec<u8> {
    let entries: Vec<Entry<'_>> = values
        .iter()
        .map(|v| Entry {
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(v.as_bytes()),
            headers: &[],
        })
        .collect();
    let mut buf = vec![0; batch::encoded_len(&entries)];
    let len = batch::encode_with(&mut buf, 0, origin, &entries).expect("encode");
    buf.truncate(len);
    buf
}

/// A transactional batch of `producer`'s, with sequence numbers from `sequence`.
fn batch_of(producer: &TransactionalProducer, sequence: i32, values: &[&str]) -> Vec<u8> {
    let origin = Origin {
        base_sequence: sequence,
        ..Origin::transactional(producer.producer_id(), producer.epoch())
    };
    encoded(origin, values)
}

/// What a `ReadCommitted` consumer reads of `partition`, up to its last stable offset.
fn read_committed(broker: &Broker, partition: u32) -> Result<Vec<String>> {
    let stable = broker.describe_topic(TOPIC)?.partitions[partition as usize].last_stable_offset;
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .isolation_level(IsolationLevel::ReadCommitted),
    );
    consumer.assign(&[tp(partition)])?;
    let mut values = Vec::new();
    let until = Instant::now() + DEADLINE;
    while consumer.position(&tp(partition)).is_none_or(|p| p < stable) {
        assert!(Instant::now() < until, "never reached offset {stable}");
        for record in &consumer.poll(Duration::from_millis(10))? {
            values.push(String::from_utf8_lossy(record.value()).into_owned());
        }
    }
    Ok(values)
}

#[test]
fn committed_batches_are_read_committed_and_aborted_ones_are_not() -> Result<()> {
    let (_dir, broker) = open(BrokerConfig::default())?;
    let producer = broker.transactional_producer("remote-writer")?;

    // Committed, over two partitions; the transaction opens with its first partitions.
    producer.add_partitions(&[tp(0), tp(1)])?;
    let first = producer.append_batch(&tp(0), &batch_of(&producer, 0, &["a", "b"]))?;
    assert_eq!(
        (first.base_offset, first.last_offset, first.duplicate),
        (0, 1, false)
    );
    let second = producer.append_batch(&tp(1), &batch_of(&producer, 0, &["c"]))?;
    assert_eq!((second.base_offset, second.last_offset), (0, 0));
    // Not visible before the commit.
    assert!(read_committed(&broker, 0)?.is_empty());
    producer.commit_transaction()?;

    // Aborted.
    producer.add_partitions(&[tp(0)])?;
    let aborted = producer.append_batch(&tp(0), &batch_of(&producer, 2, &["x", "y"]))?;
    assert_eq!(aborted.base_offset, 3, "after the commit marker");
    producer.abort_transaction()?;

    // Committed again, after the aborted one.
    producer.add_partitions(&[tp(0)])?;
    producer.append_batch(&tp(0), &batch_of(&producer, 4, &["d"]))?;
    producer.commit_transaction()?;

    assert_eq!(read_committed(&broker, 0)?, ["a", "b", "d"]);
    assert_eq!(read_committed(&broker, 1)?, ["c"]);
    Ok(())
}

#[test]
fn a_second_init_producer_id_fences_the_first() -> Result<()> {
    let (_dir, broker) = open(BrokerConfig::default())?;
    let old = broker.transactional_producer("remote-writer")?;
    old.add_partitions(&[tp(0)])?;
    let stale_batch = batch_of(&old, 0, &["from the old one"]);
    old.append_batch(&tp(0), &stale_batch)?;

    let new = broker.transactional_producer("remote-writer")?;
    assert_eq!(new.producer_id(), old.producer_id());
    assert_eq!(new.epoch(), old.epoch() + 1);
    // The old handle is fenced, and so is a batch of the old epoch sent through the new.
    assert!(matches!(
        old.append_batch(&tp(0), &stale_batch),
        Err(Error::Fenced { .. })
    ));
    assert!(matches!(
        old.add_partitions(&[tp(1)]),
        Err(Error::Fenced { .. })
    ));
    assert!(matches!(
        old.commit_transaction(),
        Err(Error::Fenced { .. })
    ));
    new.add_partitions(&[tp(0)])?;
    assert!(matches!(
        new.append_batch(&tp(0), &stale_batch),
        Err(Error::Fenced { transactional_id }) if transactional_id == "remote-writer"
    ));
    new.append_batch(&tp(0), &batch_of(&new, 0, &["from the new one"]))?;
    new.commit_transaction()?;
    // The old transaction was aborted when the new producer came.
    assert_eq!(read_committed(&broker, 0)?, ["from the new one"]);
    Ok(())
}

#[test]
fn batches_that_are_not_this_transactions_are_refused() -> Result<()> {
    let (_dir, broker) = open(BrokerConfig::default())?;
    let producer = broker.transactional_producer("remote-writer")?;
    let good = batch_of(&producer, 0, &["ok"]);

    // No transaction open, then a partition not added.
    assert!(matches!(
        producer.append_batch(&tp(0), &good),
        Err(Error::TransactionState(_))
    ));
    producer.add_partitions(&[tp(0)])?;
    match producer.append_batch(&tp(1), &good) {
        Err(Error::TransactionState(reason)) => assert!(reason.contains("payments-1"), "{reason}"),
        other => panic!("expected TransactionState, got {other:?}"),
    }

    let refused = |bytes: &[u8], why: &str| match producer.append_batch(&tp(0), bytes) {
        Err(Error::InvalidRecord { topic, reason }) => {
            assert_eq!(topic, TOPIC);
            assert!(
                reason.contains("payments-0"),
                "names the partition: {reason}"
            );
            assert!(reason.contains(why), "{reason}");
        }
        other => panic!("expected InvalidRecord for {why}, got {other:?}"),
    };
    let other_producer = Origin {
        base_sequence: 0,
        ..Origin::transactional(producer.producer_id() + 7, producer.epoch())
    };
    refused(&encoded(other_producer, &["x"]), "producer id");
    let newer_epoch = Origin {
        base_sequence: 0,
        ..Origin::transactional(producer.producer_id(), producer.epoch() + 1)
    };
    refused(&encoded(newer_epoch, &["x"]), "producer epoch");
    let idempotent_only = Origin {
        transactional: false,
        ..Origin::transactional(producer.producer_id(), producer.epoch())
    };
    refused(&encoded(idempotent_only, &["x"]), "transactional");
    let mut marker = [0; batch::CONTROL_BATCH_BYTES];
    let commit = batch::ControlRecord {
        kind: batch::ControlType::Commit,
        coordinator_epoch: 0,
    };
    let origin = Origin::transactional(producer.producer_id(), producer.epoch());
    batch::encode_control(&mut marker, 0, origin, commit, 1).expect("marker");
    refused(&marker, "transactional data batches only");
    refused(b"not a batch at all", "not a record batch");
    // A damaged batch of the right producer fails its checks.
    let mut damaged = good.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    assert!(matches!(
        producer.append_batch(&tp(0), &damaged),
        Err(Error::Encode { .. })
    ));

    // Nothing of it was stored; the good batch still goes in.
    assert_eq!(
        broker.describe_topic(TOPIC)?.partitions[0].high_watermark,
        0
    );
    assert_eq!(producer.append_batch(&tp(0), &good)?.base_offset, 0);
    producer.commit_transaction()?;
    assert_eq!(read_committed(&broker, 0)?, ["ok"]);
    Ok(())
}

#[test]
fn offsets_sent_with_the_transaction_are_committed_with_it() -> Result<()> {
    let (_dir, broker) = open(BrokerConfig::default())?;
    // The consuming side is a remote member of "billing".
    let member = broker.join_group("billing", JoinGroup::new([TOPIC]))?;
    member.sync()?.expect("alone in the group");
    let metadata = GroupMetadata {
        group_id: "billing".into(),
        generation: member.generation(),
        member_id: member.member_id().into(),
    };
    let producer = broker.transactional_producer("remote-writer")?;
    producer.add_partitions(&[tp(1)])?;
    producer.append_batch(&tp(1), &batch_of(&producer, 0, &["out"]))?;
    // AddOffsetsToTxn (a transaction is open: nothing more), then TxnOffsetCommit.
    producer.add_partitions(&[])?;
    producer.send_offsets_to_transaction(&[(tp(0), 12)], &metadata)?;
    let committed = |broker: &Broker| -> Result<Option<u64>> {
        Ok(broker
            .describe_group("billing")?
            .partitions
            .iter()
            .find(|l| l.topic_partition == tp(0))
            .and_then(|l| l.committed))
    };
    assert_eq!(committed(&broker)?, None, "not before the commit");
    producer.commit_transaction()?;
    assert_eq!(committed(&broker)?, Some(12));

    // AddOffsetsToTxn opens a transaction when none is open; offsets alone commit.
    producer.add_partitions(&[])?;
    producer.send_offsets_to_transaction(&[(tp(0), 15)], &metadata)?;
    producer.commit_transaction()?;
    assert_eq!(committed(&broker)?, Some(15));

    // A member the group moved on from cannot commit through a transaction.
    broker.join_group("billing", JoinGroup::new([TOPIC]))?;
    producer.add_partitions(&[])?;
    assert!(matches!(
        producer.send_offsets_to_transaction(&[(tp(0), 20)], &metadata),
        Err(Error::CommitFailed { .. })
    ));
    assert_eq!(committed(&broker)?, Some(15));
    Ok(())
}

#[test]
fn the_transaction_timeout_aborts_and_fences_a_producer_whose_handle_stays_alive() -> Result<()> {
    // Long enough that the steps before the wait never outlast it, however loaded the
    // machine.
    let config = BrokerConfig::default()
        .transaction_timeout(Duration::from_secs(2))
        .maintenance_interval(Duration::from_millis(10));
    let (_dir, broker) = open(config)?;
    // As the server keeps them: by transactional id, alive between requests.
    let mut producers: HashMap<String, TransactionalProducer> = HashMap::new();
    producers.insert(
        "remote-writer".into(),
        broker.transactional_producer("remote-writer")?,
    );
    let producer = &producers["remote-writer"];
    producer.add_partitions(&[tp(0)])?;
    producer.append_batch(&tp(0), &batch_of(producer, 0, &["never committed"]))?;
    assert_eq!(
        broker.describe_topic(TOPIC)?.partitions[0].last_stable_offset,
        0
    );

    // The maintenance thread aborts it: the abort marker makes the partition stable.
    let until = Instant::now() + DEADLINE;
    loop {
        let partition = &broker.describe_topic(TOPIC)?.partitions[0];
        if partition.high_watermark == 2 && partition.last_stable_offset == 2 {
            break;
        }
        assert!(Instant::now() < until, "never aborted: {partition:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(matches!(
        producer.commit_transaction(),
        Err(Error::Fenced { .. })
    ));
    assert!(read_committed(&broker, 0)?.is_empty());
    Ok(())
}
