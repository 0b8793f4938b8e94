//! `Broker::describe_producers` and `Broker::abort_transaction`: what a partition knows of
//! its producers (Kafka's `DescribeProducers`), and an administrator's abort marker for a
//! transaction left open in one partition (Kafka's `WriteTxnMarkers`), which readers of
//! committed data then skip.

use strom::storage::batch::{self, Entry, Origin};
use strom::{
    AbortTransactionSpec, Broker, Error, IsolationLevel, Record, Result, TopicConfig,
    TopicPartition,
};

/// A batch of one record as an idempotent Kafka client encodes it.
fn idempotent_batch(producer_id: i64, base_sequence: i32, timestamp: i64) -> Vec<u8> {
    let entries = [Entry {
        key: None,
        value: Some(b"v"),
        headers: &[],
        timestamp,
    }];
    let mut bytes = vec![0; batch::encoded_len(&entries)];
    let origin = Origin {
        producer_id,
        producer_epoch: 0,
        base_sequence,
        transactional: false,
    };
    batch::encode_with(&mut bytes, 0, origin, &entries).unwrap();
    bytes
}

#[test]
fn producers_are_described_with_sequence_timestamp_and_open_transaction() -> Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path())?;
    broker.create_topic("payments", TopicConfig::default())?;
    let tp = TopicPartition::new("payments", 0);
    assert!(broker.describe_producers(&tp)?.is_empty());
    // A plain producer has no producer id: not listed.
    broker.producer().send("payments", Record::new("plain"))?;
    assert!(broker.describe_producers(&tp)?.is_empty());

    let idempotent = broker.init_producer_id()?.producer_id;
    broker.append_batch(&tp, &idempotent_batch(idempotent, 0, 1_000))?;
    broker.append_batch(&tp, &idempotent_batch(idempotent, 1, 2_000))?;
    let txn = broker.transactional_producer("ledger")?;
    txn.begin_transaction()?;
    let first = txn.send("payments", Record::new("open").timestamp(3_000))?;

    let described = broker.describe_producers(&tp)?;
    assert_eq!(described.len(), 2, "{described:?}");
    let of = |id: i64| described.iter().find(|p| p.producer_id == id).unwrap();
    let plain = of(idempotent);
    assert_eq!((plain.producer_epoch, plain.last_sequence), (0, 1));
    assert_eq!(plain.last_timestamp, 2_000);
    assert_eq!(plain.coordinator_epoch, None);
    assert_eq!(plain.current_transaction_start_offset, None);
    let open = of(txn.producer_id());
    assert_eq!(open.producer_epoch, txn.epoch());
    assert_eq!(open.last_sequence, -1);
    assert_eq!(open.last_timestamp, 3_000);
    assert_eq!(open.current_transaction_start_offset, Some(first.offset));

    // Committed: no transaction open, and the marker's coordinator epoch.
    txn.commit_transaction()?;
    let after = broker.describe_producers(&tp)?;
    let ended = after
        .iter()
        .find(|p| p.producer_id == txn.producer_id())
        .unwrap();
    assert_eq!(ended.current_transaction_start_offset, None);
    assert_eq!(ended.coordinator_epoch, Some(0));
    drop(txn);
    broker.close()?;

    // Rebuilt at open from the segment's batch headers.
    let broker = Broker::open(dir.path())?;
    let reopened = broker.describe_producers(&tp)?;
    assert_eq!(reopened, after);
    assert!(matches!(
        broker.describe_producers(&TopicPartition::new("payments", 5)),
        Err(Error::InvalidPartition { .. })
    ));
    broker.close()
}

#[test]
fn an_abort_marker_ends_the_transaction_open_in_a_partition() -> Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path())?;
    broker.create_topic("payments", TopicConfig::default())?;
    let tp = TopicPartition::new("payments", 0);
    let txn = broker.transactional_producer("ledger")?;
    txn.begin_transaction()?;
    txn.send("payments", Record::new("hanging"))?;
    let committed = |broker: &Broker| -> Result<u64> {
        Ok(broker
            .fetch_batches(&tp, 0, 1 << 20, IsolationLevel::ReadCommitted)?
            .last_stable_offset)
    };
    assert_eq!(committed(&broker)?, 0);

    // An older epoch than the partition knows is refused, and writes nothing.
    let stale = AbortTransactionSpec::new(tp.clone(), txn.producer_id(), txn.epoch() - 1);
    assert!(matches!(
        broker.abort_transaction(&stale),
        Err(Error::InvalidProducerEpoch { .. })
    ));
    let spec = AbortTransactionSpec::new(tp.clone(), txn.producer_id(), txn.epoch());
    assert_eq!(broker.abort_transaction(&spec)?, 1);
    let fetched = broker.fetch_batches(&tp, 0, 1 << 20, IsolationLevel::ReadCommitted)?;
    assert_eq!(fetched.last_stable_offset, 2);
    assert_eq!(fetched.aborted.len(), 1);
    assert_eq!(fetched.aborted[0].producer_id, txn.producer_id());
    assert_eq!(fetched.aborted[0].first_offset, 0);
    let producers = broker.describe_producers(&tp)?;
    assert_eq!(producers[0].current_transaction_start_offset, None);

    // As in Kafka, a producer with nothing open here gets its marker all the same.
    let unknown = AbortTransactionSpec::new(tp.clone(), 999, 0);
    assert_eq!(broker.abort_transaction(&unknown)?, 2);
    assert!(broker
        .describe_producers(&tp)?
        .iter()
        .any(|p| p.producer_id == 999 && p.coordinator_epoch == Some(0)));
    // The coordinator goes on with its transaction; it ends without another marker here.
    txn.abort_transaction()?;
    assert_eq!(
        broker.describe_topic("payments")?.partitions[0].high_watermark,
        3
    );
    drop(txn);
    broker.close()
}
