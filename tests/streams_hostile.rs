//! Hostile input to a running `Streams`: an undecodable record stops its partition and the
//! error surfaces (or is skipped with `skip_undecodable`); a deleted input topic and a
//! closed broker end the application with an error, never a hang.

use std::time::Duration;

use strom::streams::{Codec, Streams, StreamsBuilder, StreamsConfig, Topology};
use strom::{Broker, Error, Record, Result, TopicConfig};

const WAIT: Duration = Duration::from_secs(30);

/// Counts `u64` values per key into the store `"totals"`.
fn counting() -> Result<Topology> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, u64>("numbers")
        .group_by_key()
        .count("totals");
    builder.build()
}

/// A `u64` as the streams' codec (and Kafka's `LongSerializer`) writes it.
fn encoded(n: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    n.encode(&mut bytes);
    bytes
}

fn setup() -> Result<(tempfile::TempDir, Broker)> {
    let dir = tempfile::tempdir().map_err(|source| Error::Io {
        path: "tempdir".into(),
        source,
    })?;
    let broker = Broker::open(dir.path())?;
    broker.create_topic("numbers", TopicConfig::default())?;
    let producer = broker.producer();
    producer.send("numbers", Record::new(encoded(7)).key("a"))?;
    // Three bytes are no u64: offset 1 does not decode.
    producer.send("numbers", Record::new(&b"bad"[..]).key("a"))?;
    producer.send("numbers", Record::new(encoded(9)).key("a"))?;
    Ok((dir, broker))
}

#[test]
fn an_undecodable_record_stops_its_partition_with_the_error() -> Result<()> {
    let (_dir, broker) = setup()?;
    let mut app = Streams::new(&broker, counting()?, StreamsConfig::new("strict"))?;
    app.start()?;
    let err = app
        .wait_until_caught_up(WAIT)
        .expect_err("the undecodable record is an error");
    assert!(matches!(err, Error::Serde { .. }), "{err}");
    assert!(format!("{err:?}").contains("numbers-0@1"), "{err:?}");
    // Nothing after it in its partition: only the first record counted.
    assert_eq!(
        app.store::<String, u64>("totals")?.get(&"a".to_string()),
        Some(1)
    );
    app.close()?;
    // Its committed offset stays at the bad record, for a fixed application to resume.
    let group = broker.describe_group("strict")?;
    assert_eq!(group.partitions[0].committed, Some(1));
    Ok(())
}

#[test]
fn the_error_comes_from_close_when_not_waited_for() -> Result<()> {
    let (_dir, broker) = setup()?;
    let mut app = Streams::new(&broker, counting()?, StreamsConfig::new("strict-close"))?;
    app.start()?;
    // Once the bad record's offset is committed, the error is recorded.
    while broker
        .describe_group("strict-close")
        .ok()
        .and_then(|g| g.partitions.first().and_then(|p| p.committed))
        != Some(1)
    {
        std::thread::yield_now();
    }
    let err = app.close().expect_err("close returns the error");
    assert!(matches!(err, Error::Serde { .. }), "{err}");
    Ok(())
}

#[test]
fn skip_undecodable_goes_on_past_the_record() -> Result<()> {
    let (_dir, broker) = setup()?;
    let config = StreamsConfig::new("lenient").skip_undecodable(true);
    let mut app = Streams::new(&broker, counting()?, config)?;
    app.start()?;
    assert!(app.wait_until_caught_up(WAIT)?);
    assert_eq!(
        app.store::<String, u64>("totals")?.get(&"a".to_string()),
        Some(2)
    );
    assert_eq!(app.skipped_records(), 1);
    app.close()
}

#[test]
fn a_deleted_input_topic_ends_the_application_with_an_error() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("numbers", TopicConfig::default())?;
    broker
        .producer()
        .send("numbers", Record::new(encoded(1)).key("a"))?;
    let mut app = Streams::new(&broker, counting()?, StreamsConfig::new("deleted"))?;
    app.start()?;
    assert!(app.wait_until_caught_up(WAIT)?);
    broker.delete_topic("numbers")?;
    let err = app
        .wait_until_caught_up(WAIT)
        .expect_err("the input is gone");
    assert!(matches!(err, Error::UnknownTopic { .. }), "{err}");
    // Closing does not hang; the thread's own error may come from it too.
    let _ = app.close();
    Ok(())
}

#[test]
fn a_closed_broker_ends_the_application_with_an_error() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("numbers", TopicConfig::default())?;
    broker
        .producer()
        .send("numbers", Record::new(encoded(1)).key("a"))?;
    let mut app = Streams::new(&broker, counting()?, StreamsConfig::new("closed"))?;
    app.start()?;
    assert!(app.wait_until_caught_up(WAIT)?);
    broker.close()?;
    let err = app
        .wait_until_caught_up(WAIT)
        .expect_err("the broker is closed");
    assert!(matches!(err, Error::Closed), "{err}");
    let _ = app.close();
    Ok(())
}

#[test]
fn missing_topics_and_unequal_joined_partitions_are_refused() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    let err = Streams::new(&broker, counting()?, StreamsConfig::new("none")).expect_err("missing");
    assert!(matches!(err, Error::UnknownTopic { .. }), "{err}");
    broker.create_topic("left", TopicConfig::default().partitions(2))?;
    broker.create_topic("right", TopicConfig::default().partitions(3))?;
    broker.create_topic("joined", TopicConfig::default())?;
    let builder = StreamsBuilder::new();
    let table = builder.table::<String, String>("right", "right-table");
    builder
        .stream::<String, String>("left")
        .join_table(&table, |l, r| format!("{l}/{r}"))
        .to("joined");
    let err = Streams::new(&broker, builder.build()?, StreamsConfig::new("joining"))
        .expect_err("not co-partitioned");
    assert!(matches!(err, Error::InvalidTopology { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("left has 2") && message.contains("right has 3"),
        "{message}"
    );
    Ok(())
}

/// Only joined inputs must be co-partitioned (Kafka's rule): two counts over inputs of
/// different partition counts run, each store complete.
#[test]
fn unjoined_inputs_of_different_partition_counts_run() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("left", TopicConfig::default().partitions(2))?;
    broker.create_topic("right", TopicConfig::default().partitions(3))?;
    let producer = broker.producer();
    for i in 0..30_u64 {
        let key = format!("k{}", i % 10);
        producer.send("left", Record::new(encoded(i)).key(key.as_str()))?;
        producer.send("right", Record::new(encoded(i)).key(key.as_str()))?;
        producer.send("right", Record::new(encoded(i)).key(key.as_str()))?;
    }
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, u64>("left")
        .group_by_key()
        .count("left-counts");
    builder
        .stream::<String, u64>("right")
        .group_by_key()
        .count("right-counts");
    let mut app = Streams::new(&broker, builder.build()?, StreamsConfig::new("apart"))?;
    app.start()?;
    assert!(app.wait_until_caught_up(WAIT)?);
    let left = app.store::<String, u64>("left-counts")?;
    let right = app.store::<String, u64>("right-counts")?;
    assert_eq!(left.len(), 10);
    assert_eq!(right.len(), 10);
    for i in 0..10 {
        let key = format!("k{i}");
        assert_eq!(left.get(&key), Some(3), "{key}");
        assert_eq!(right.get(&key), Some(6), "{key}");
    }
    app.close()
}
