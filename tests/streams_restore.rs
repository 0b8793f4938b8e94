//! What a reopened `Streams` restores: a table read from a topic comes back from its
//! changelog, and stream time comes back with the windowed stores, so that a record for a
//! window that had closed before the restart is still dropped.

mod common;

use std::time::Duration;

use strom::streams::{Streams, StreamsBuilder, StreamsConfig, TimeWindows, Windowed};
use strom::{Broker, Record, Result, TopicConfig};

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn a_table_is_restored_with_its_deletes() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("locations", TopicConfig::default().partitions(2))?;
    common::send_at(&broker, "locations", "driver-1", "north", 1)?;
    common::send_at(&broker, "locations", "driver-2", "south", 2)?;
    common::send_at(&broker, "locations", "driver-1", "east", 3)?;
    broker
        .producer()
        .send("locations", Record::tombstone("driver-2"))?;
    let topology = || {
        let builder = StreamsBuilder::new();
        builder.table::<String, String>("locations", "latest-location");
        builder.build()
    };
    let mut app = Streams::new(&broker, topology()?, StreamsConfig::new("where"))?;
    app.start()?;
    assert!(app.wait_until_caught_up(WAIT)?);
    let want = vec![("driver-1".to_string(), "east".to_string())];
    assert_eq!(app.store::<String, String>("latest-location")?.all(), want);
    app.close()?;

    let mut app = Streams::new(&broker, topology()?, StreamsConfig::new("where"))?;
    app.start()?;
    assert!(app.wait_until_caught_up(WAIT)?);
    assert_eq!(app.store::<String, String>("latest-location")?.all(), want);
    app.close()
}

#[test]
fn stream_time_survives_a_restart() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("clicks", TopicConfig::default())?;
    let topology = || {
        let builder = StreamsBuilder::new();
        builder
            .stream::<String, String>("clicks")
            .group_by_key()
            .windowed_by(TimeWindows::of(Duration::from_secs(60)))
            .count("per-minute");
        builder.build()
    };
    // Stream time reaches 10 minutes: the first minute's window is closed (no grace).
    common::send_at(&broker, "clicks", "ann", "c", 1_000)?;
    common::send_at(&broker, "clicks", "ann", "c", 600_000)?;
    let mut app = Streams::new(&broker, topology()?, StreamsConfig::new("minutes"))?;
    app.start()?;
    assert!(app.wait_until_caught_up(WAIT)?);
    app.close()?;

    common::send_at(&broker, "clicks", "ann", "c", 2_000)?; // late: its window closed before the restart
    common::send_at(&broker, "clicks", "ann", "c", 601_000)?;
    let mut app = Streams::new(&broker, topology()?, StreamsConfig::new("minutes"))?;
    app.start()?;
    assert!(app.wait_until_caught_up(WAIT)?);
    let counts = app.store::<Windowed<String>, u64>("per-minute")?;
    let window = |start_ms| Windowed {
        key: "ann".to_string(),
        start_ms,
        end_ms: start_ms + 60_000,
    };
    assert_eq!(counts.get(&window(600_000)), Some(2));
    // Closed before the restart: evicted on restore, and the late record dropped.
    assert_eq!(counts.get(&window(0)), None);
    assert_eq!(app.dropped_records(), 1);
    app.close()
}
