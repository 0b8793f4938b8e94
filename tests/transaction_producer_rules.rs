//! The transactional producer's rules: calls out of order are `TransactionState`; a newer
//! producer with the same id fences the older one and aborts what it left open; dropping a
//! producer aborts its transaction; a transaction open past `transaction_timeout` is
//! aborted and its producer fenced.

use std::time::{Duration, Instant};

use strom::{
    Broker, BrokerConfig, ConsumerConfig, Error, IsolationLevel, OffsetReset, Record, Result,
    TopicConfig, TopicPartition,
};

const TOPIC: &str = "alerts";

fn committed_values(broker: &Broker) -> Result<Vec<String>> {
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .isolation_level(IsolationLevel::ReadCommitted),
    );
    consumer.assign(&[TopicPartition::new(TOPIC, 0)])?;
    let mut out = Vec::new();
    loop {
        let records = consumer.poll(Duration::ZERO)?;
        if records.is_empty() {
            return Ok(out);
        }
        out.extend(
            records
                .iter()
                .map(|r| String::from_utf8_lossy(r.value()).into_owned()),
        );
    }
}

fn open(dir: &std::path::Path) -> Result<Broker> {
    let broker = Broker::open(dir)?;
    if broker.topics().is_empty() {
        broker.create_topic(TOPIC, TopicConfig::default())?;
    }
    Ok(broker)
}

#[test]
fn calls_out_of_order_are_transaction_state_errors() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    let p = broker.transactional_producer("rules")?;
    let state = |r: Result<()>| matches!(r, Err(Error::TransactionState(_)));
    assert!(matches!(
        p.send(TOPIC, Record::new("x")),
        Err(Error::TransactionState(_))
    ));
    assert!(state(p.commit_transaction()));
    assert!(state(p.abort_transaction()));
    let group = strom::GroupMetadata {
        group_id: "g".into(),
        generation: 0,
        member_id: String::new(),
    };
    assert!(state(p.send_offsets_to_transaction(&[], &group)));
    p.begin_transaction()?;
    assert!(state(p.begin_transaction()));
    p.commit_transaction()?;
    assert!(matches!(
        broker.transactional_producer(""),
        Err(Error::InvalidConfig { .. })
    ));
    // Unknown topics and bad partitions are the producer's usual errors.
    p.begin_transaction()?;
    assert!(matches!(
        p.send("nope", Record::new("x")),
        Err(Error::UnknownTopic { .. })
    ));
    assert!(matches!(
        p.send(TOPIC, Record::new("x").partition(9)),
        Err(Error::InvalidPartition { .. })
    ));
    p.abort_transaction()?;
    Ok(())
}

#[test]
fn a_newer_producer_fences_the_older_and_aborts_its_transaction() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    let old = broker.transactional_producer("detector-1")?;
    old.begin_transaction()?;
    old.send(TOPIC, Record::new("zombie"))?;

    let new = broker.transactional_producer("detector-1")?;
    for call in [
        old.send(TOPIC, Record::new("late")).map(|_| ()),
        old.commit_transaction(),
        old.abort_transaction(),
        old.begin_transaction(),
    ] {
        assert!(
            matches!(&call, Err(Error::Fenced { transactional_id }) if transactional_id == "detector-1"),
            "{call:?}"
        );
    }
    let tp = &broker.describe_topic(TOPIC)?.partitions[0];
    assert_eq!(
        (tp.last_stable_offset, tp.high_watermark),
        (2, 2),
        "the zombie's transaction was aborted: record and marker"
    );
    new.begin_transaction()?;
    new.send(TOPIC, Record::new("fresh"))?;
    new.commit_transaction()?;
    drop(old); // a fenced producer's drop leaves the new one's work alone
    assert_eq!(committed_values(&broker)?, ["fresh"]);
    // Other ids are independent.
    let other = broker.transactional_producer("detector-2")?;
    other.begin_transaction()?;
    new.begin_transaction()?;
    new.commit_transaction()?;
    other.commit_transaction()?;
    Ok(())
}

#[test]
fn dropping_a_producer_aborts_its_open_transaction() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    {
        let p = broker.transactional_producer("short-lived")?;
        p.begin_transaction()?;
        p.send(TOPIC, Record::new("never committed"))?;
    }
    let tp = &broker.describe_topic(TOPIC)?.partitions[0];
    assert_eq!((tp.last_stable_offset, tp.high_watermark), (2, 2));
    assert!(committed_values(&broker)?.is_empty());
    Ok(())
}

#[test]
fn a_transaction_open_past_the_timeout_is_aborted_and_its_producer_fenced() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = BrokerConfig::default()
        .transaction_timeout(Duration::from_millis(50))
        .maintenance_interval(Duration::from_millis(10));
    let broker = Broker::open_with(dir.path(), config)?;
    broker.create_topic(TOPIC, TopicConfig::default())?;
    let p = broker.transactional_producer("slow")?;
    p.begin_transaction()?;
    p.send(TOPIC, Record::new("too slow"))?;
    // The background thread aborts it: wait for the marker (a state), not for a time.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tp = &broker.describe_topic(TOPIC)?.partitions[0];
        if tp.last_stable_offset == tp.high_watermark {
            assert_eq!(tp.high_watermark, 2);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the transaction was never aborted"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(matches!(p.commit_transaction(), Err(Error::Fenced { .. })));
    assert!(committed_values(&broker)?.is_empty());
    // A new producer with the id works.
    let p = broker.transactional_producer("slow")?;
    p.begin_transaction()?;
    p.send(TOPIC, Record::new("quick"))?;
    p.commit_transaction()?;
    assert_eq!(committed_values(&broker)?, ["quick"]);
    Ok(())
}

#[test]
fn sends_of_a_transaction_keep_producer_semantics() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(3))?;
    let p = broker.transactional_producer("keys")?;
    p.begin_transaction()?;
    let plain = broker
        .producer()
        .send(TOPIC, Record::new("k").key("user-42"))?;
    let meta = p.send(TOPIC, Record::new("v").key("user-42"))?;
    assert_eq!(meta.partition, plain.partition, "Kafka's partitioner");
    let batch = p.send_batch(
        TOPIC,
        (0..6).map(|i| Record::new(format!("{i}")).key(format!("u{i}"))),
    )?;
    assert_eq!(batch.len(), 6);
    let json = p.send_json(TOPIC, Some("user-42"), &serde_json::json!({"amount": 950}))?;
    assert_eq!(json.partition, plain.partition);
    p.commit_transaction()?;
    // Every partition the transaction wrote got exactly one marker after its records.
    let described = broker.describe_topic(TOPIC)?;
    for part in &described.partitions {
        assert_eq!(part.last_stable_offset, part.high_watermark);
    }
    Ok(())
}
