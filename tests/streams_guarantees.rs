//! Processing guarantees across a close and reopen in the middle of a stream: under
//! `ExactlyOnce` every result is visible to `ReadCommitted` readers exactly once and the
//! store's counts are exact; under `AtLeastOnce` every result is there.

mod common;

use std::collections::BTreeMap;
use std::thread;
use std::time::Duration;

use strom::streams::{
    Codec, ProcessingGuarantee, Streams, StreamsBuilder, StreamsConfig, Topology,
};
use strom::{Broker, Record, Result, TopicConfig};

const WAIT: Duration = Duration::from_secs(60);
const RECORDS: u32 = 2_000;

/// Doubles every value to `doubled` and counts records per key into `"seen"`, through a
/// repartition topic (the key is changed first).
fn topology() -> Result<Topology> {
    let builder = StreamsBuilder::new();
    let input = builder.stream::<String, u64>("numbers");
    input.map_values(|v| v * 2).to("doubled");
    input
        .select_key(|_, v| format!("mod-{}", v % 5))
        .group_by_key()
        .count("seen");
    builder.build()
}

fn run(guarantee: ProcessingGuarantee) -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("numbers", TopicConfig::default().partitions(3))?;
    broker.create_topic("doubled", TopicConfig::default().partitions(3))?;
    let config = StreamsConfig::new("doubler")
        .processing_guarantee(guarantee)
        .num_threads(2)
        .commit_interval(Duration::from_millis(5));
    let writer = {
        let broker = broker.clone();
        thread::spawn(move || -> Result<()> {
            let producer = broker.producer();
            for i in 0..u64::from(RECORDS) {
                let mut value = Vec::new();
                i.encode(&mut value);
                let record = Record::new(value).key(format!("k{}", i % 11));
                producer.send("numbers", record)?;
            }
            Ok(())
        })
    };
    let mut app = Streams::new(&broker, topology()?, config.clone())?;
    app.start()?;
    // Close in the middle: once some offsets are committed.
    while broker
        .describe_group("doubler")
        .map_or(true, |g| g.partitions.iter().all(|p| p.committed.is_none()))
    {
        thread::yield_now();
    }
    app.close()?;
    writer.join().expect("writer")?;
    let mut app = Streams::new(&broker, topology()?, config)?;
    app.start()?;
    assert!(app.wait_until_caught_up(WAIT)?);
    let counts: BTreeMap<String, u64> = app
        .store::<String, u64>("seen")?
        .all()
        .into_iter()
        .collect();
    app.close()?;

    let mut doubled = common::read_committed_u64(&broker, "doubled")?;
    doubled.sort_unstable();
    let want: Vec<u64> = (0..u64::from(RECORDS)).map(|i| i * 2).collect();
    let mut want_counts = BTreeMap::new();
    for i in 0..u64::from(RECORDS) {
        *want_counts.entry(format!("mod-{}", i % 5)).or_insert(0) += 1;
    }
    match guarantee {
        ProcessingGuarantee::ExactlyOnce => {
            assert_eq!(doubled, want, "each result exactly once");
            assert_eq!(counts, want_counts);
        }
        ProcessingGuarantee::AtLeastOnce => {
            doubled.dedup();
            assert_eq!(doubled, want, "each result at least once");
            assert_eq!(
                counts.keys().collect::<Vec<_>>(),
                want_counts.keys().collect::<Vec<_>>()
            );
            assert!(counts.iter().all(|(k, n)| *n >= want_counts[k]));
        }
    }
    Ok(())
}

#[test]
fn exactly_once_across_close_and_reopen_mid_stream() -> Result<()> {
    run(ProcessingGuarantee::ExactlyOnce)
}

#[test]
fn at_least_once_keeps_every_result_across_close_and_reopen() -> Result<()> {
    run(ProcessingGuarantee::AtLeastOnce)
}
