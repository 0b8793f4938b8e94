//! `Broker::list_transactions`: each transactional id's producer and epoch, and where its
//! transaction is — as a transaction begins, writes, commits, aborts, and as a new producer
//! with the same id fences the old one.

use strom::{Broker, Record, Result, TopicConfig, TopicPartition, TransactionState};

#[test]
fn transactions_are_listed_with_their_state_partitions_and_producer() -> Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path())?;
    broker.create_topic("payments", TopicConfig::default().partitions(3))?;
    assert!(broker.list_transactions()?.is_empty());

    let first = broker.transactional_producer("ledger")?;
    let listed = broker.list_transactions()?;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].transactional_id, "ledger");
    assert_eq!(listed[0].producer_id, first.producer_id());
    assert_eq!(listed[0].epoch, first.epoch());
    assert_eq!(listed[0].state, TransactionState::Empty);
    assert_eq!(listed[0].start_ms, None);

    // Begun but nothing written: still Empty, as in Kafka; written: Ongoing.
    first.begin_transaction()?;
    assert_eq!(
        broker.list_transactions()?[0].state,
        TransactionState::Empty
    );
    assert!(broker.list_transactions()?[0].start_ms.is_some());
    first.send("payments", Record::new("a").partition(2))?;
    first.send("payments", Record::new("b").partition(0))?;
    let ongoing = &broker.list_transactions()?[0];
    assert_eq!(ongoing.state, TransactionState::Ongoing);
    assert_eq!(
        ongoing.partitions,
        [
            TopicPartition::new("payments", 0),
            TopicPartition::new("payments", 2)
        ]
    );
    first.commit_transaction()?;
    let done = &broker.list_transactions()?[0];
    assert_eq!(done.state, TransactionState::CompleteCommit);
    assert!(done.partitions.is_empty());
    // The last one's start, as Kafka describes a finished transaction.
    assert!(done.start_ms.is_some());
    // As Kafka: the last end is the state until the next transaction writes.
    first.begin_transaction()?;
    assert_eq!(
        broker.list_transactions()?[0].state,
        TransactionState::CompleteCommit
    );
    first.send("payments", Record::new("x").partition(1))?;
    first.abort_transaction()?;
    assert_eq!(
        broker.list_transactions()?[0].state,
        TransactionState::CompleteAbort
    );

    // A second producer with the id fences the first (a higher epoch), aborting what it
    // left open; a second id is listed beside it, in order.
    first.begin_transaction()?;
    first.send("payments", Record::new("c").partition(1))?;
    let second = broker.transactional_producer("ledger")?;
    let other = broker.transactional_producer("audit")?;
    let listed = broker.list_transactions()?;
    let ids: Vec<&str> = listed.iter().map(|t| t.transactional_id.as_str()).collect();
    assert_eq!(ids, ["audit", "ledger"]);
    assert_eq!(listed[0].producer_id, other.producer_id());
    assert_eq!(listed[1].epoch, second.epoch());
    assert!(listed[1].epoch > first.epoch());
    assert_eq!(listed[1].state, TransactionState::Empty);
    assert_eq!(
        listed[1].timeout,
        strom::BrokerConfig::default().transaction_timeout
    );
    drop((first, second, other));
    broker.close()
}

#[test]
fn how_the_last_transaction_ended_survives_a_restart() -> Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path())?;
    broker.create_topic("payments", TopicConfig::default())?;
    let committer = broker.transactional_producer("committer")?;
    committer.begin_transaction()?;
    committer.send("payments", Record::new("a"))?;
    committer.commit_transaction()?;
    let aborter = broker.transactional_producer("aborter")?;
    aborter.begin_transaction()?;
    aborter.send("payments", Record::new("b"))?;
    aborter.abort_transaction()?;
    drop((committer, aborter));
    broker.close()?;

    let broker = Broker::open(dir.path())?;
    let states: Vec<(String, TransactionState)> = broker
        .list_transactions()?
        .into_iter()
        .map(|t| (t.transactional_id, t.state))
        .collect();
    assert_eq!(
        states,
        [
            ("aborter".to_string(), TransactionState::CompleteAbort),
            ("committer".to_string(), TransactionState::CompleteCommit),
        ]
    );
    broker.close()
}
