//! Measurements of the runtime, not timed tests (machines differ): run them by hand in
//! release and read the figures they print:
//!
//! ```text
//! cargo test --release --test streams_measure -- --ignored --nocapture
//! ```
//!
//! - how long restoring a store of 1 M keys takes: a count per key over 1 M distinct
//!   keys, closed, then reopened until its store is back;
//! - records per second through filter → map → to under each guarantee.

use std::time::{Duration, Instant};

use strom::streams::{Streams, StreamsBuilder, StreamsConfig, Topology};
use strom::{Broker, Result, TopicConfig};

const KEYS: u32 = 1_000_000;

fn topology() -> Result<Topology> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("events")
        .group_by_key()
        .count("per-key");
    builder.build()
}

#[test]
#[ignore = "a measurement: run by hand in release"]
fn restore_one_million_keys() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("events", TopicConfig::default())?;
    let mut batch = broker.producer().batch("events")?;
    for i in 0..KEYS {
        batch.push(Some(format!("key-{i:07}").as_bytes()), b"e")?;
        if batch.len() == 10_000 {
            batch.send()?;
        }
    }
    if !batch.is_empty() {
        batch.send()?;
    }
    let config = StreamsConfig::new("sizes").commit_interval(Duration::from_secs(1));
    let started = Instant::now();
    let mut app = Streams::new(&broker, topology()?, config.clone())?;
    app.start()?;
    assert!(app.wait_until_caught_up(Duration::from_secs(600))?);
    println!("processed {KEYS} records in {:?}", started.elapsed());
    app.close()?;

    let started = Instant::now();
    let mut app = Streams::new(&broker, topology()?, config)?;
    app.start()?;
    assert!(app.wait_until_caught_up(Duration::from_secs(600))?);
    let restored = started.elapsed();
    let store = app.store::<String, u64>("per-key")?;
    assert_eq!(store.len(), KEYS as usize);
    println!("restored {} keys in {restored:?}", store.len());
    app.close()
}

/// Records per second through filter → map → to, one thread, under each guarantee, from a
/// backlog of 1 M records (100 ms commit interval).
#[test]
#[ignore = "a measurement: run by hand in release"]
fn filter_map_to_throughput() -> Result<()> {
    use strom::streams::ProcessingGuarantee;
    for guarantee in [
        ProcessingGuarantee::AtLeastOnce,
        ProcessingGuarantee::ExactlyOnce,
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let broker = Broker::open(dir.path())?;
        broker.create_topic("events", TopicConfig::default())?;
        broker.create_topic("out", TopicConfig::default())?;
        let mut batch = broker.producer().batch("events")?;
        for i in 0..KEYS {
            batch.push(Some(format!("key-{}", i % 10_000).as_bytes()), b"value")?;
            if batch.len() == 10_000 {
                batch.send()?;
            }
        }
        let builder = StreamsBuilder::new();
        builder
            .stream::<String, String>("events")
            .filter(|k, _| !k.ends_with('7'))
            .map(|k, v| (k.clone(), format!("{v}!")))
            .to("out");
        let config = StreamsConfig::new("through").processing_guarantee(guarantee);
        let started = Instant::now();
        let mut app = Streams::new(&broker, builder.build()?, config)?;
        app.start()?;
        assert!(app.wait_until_caught_up(Duration::from_secs(600))?);
        let elapsed = started.elapsed();
        app.close()?;
        println!(
            "{guarantee:?}: {KEYS} records in {elapsed:?}, {:.0} records/s",
            f64::from(KEYS) / elapsed.as_secs_f64()
        );
    }
    Ok(())
}
