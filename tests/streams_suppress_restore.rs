//! A suppressed windowed count stopped while it holds windows back (closed, or its process
//! killed with SIGKILL): after the restart, the held windows come back from the buffer's
//! changelog, so that each window's final result appears once (`ExactlyOnce`, read
//! `ReadCommitted`) or at least once with its final value (`AtLeastOnce`).

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::time::Duration;

use strom::streams::{
    ProcessingGuarantee, Streams, StreamsBuilder, StreamsConfig, TimeWindows, Topology,
};
use strom::{Broker, Result, TopicConfig};

const CHILD_DIR_ENV: &str = "STROM_SUPPRESS_CHILD_DIR";
const CHILD_GUARANTEE_ENV: &str = "STROM_SUPPRESS_CHILD_GUARANTEE";
const WAIT: Duration = Duration::from_secs(60);

/// Clicks counted per user and minute; only each minute's final count goes to `finals`,
/// keyed `user@start`.
fn topology() -> Result<Topology> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("clicks")
        .group_by_key()
        .windowed_by(TimeWindows::of(Duration::from_secs(60)))
        .count("per-minute")
        .suppress_until_window_closes()
        .to_stream()
        .map(|w, n| (format!("{}@{}", w.key, w.start_ms), *n))
        .to("finals");
    builder.build()
}

fn config(guarantee: ProcessingGuarantee) -> StreamsConfig {
    StreamsConfig::new("suppressed")
        .processing_guarantee(guarantee)
        .commit_interval(Duration::from_millis(20))
}

fn guarantee_named(name: &str) -> ProcessingGuarantee {
    if name == "exactly-once" {
        ProcessingGuarantee::ExactlyOnce
    } else {
        ProcessingGuarantee::AtLeastOnce
    }
}

/// The first run's input: the first minute closes during the run (its results are
/// forwarded then), the second minute's are held back when the run stops.
fn first_input(broker: &Broker) -> Result<()> {
    broker.create_topic("clicks", TopicConfig::default())?;
    broker.create_topic("finals", TopicConfig::default())?;
    for (user, at) in [
        ("ann", 1_000),
        ("bob", 2_000),
        ("ann", 61_000),
        ("ann", 62_000),
        ("bob", 90_000),
    ] {
        common::send_at(broker, "clicks", user, "click", at)?;
    }
    Ok(())
}

/// After the restart: a click that closes the second minute (its own minute stays held).
fn second_input(broker: &Broker) -> Result<()> {
    common::send_at(broker, "clicks", "cid", "click", 200_000)
}

fn want() -> BTreeMap<String, u64> {
    [
        ("ann@0", 1),
        ("bob@0", 1),
        ("ann@60000", 2),
        ("bob@60000", 1),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect()
}

/// Runs the application again over the second input and checks the final results.
fn restart_and_check(broker: &Broker, guarantee: ProcessingGuarantee) -> Result<()> {
    second_input(broker)?;
    let mut app = Streams::new(broker, topology()?, config(guarantee))?;
    app.start()?;
    assert!(app.wait_until_caught_up(WAIT)?);
    app.close()?;
    let finals = common::read_committed_keyed_u64(broker, "finals")?;
    let want = want();
    if guarantee == ProcessingGuarantee::ExactlyOnce {
        let mut got = finals.clone();
        got.sort();
        let want: Vec<(String, u64)> = want.into_iter().collect();
        assert_eq!(got, want, "each window's final result exactly once");
    } else {
        for (window, count) in &want {
            assert!(
                finals.contains(&(window.clone(), *count)),
                "{window}'s final count {count} in {finals:?}"
            );
        }
        for (window, count) in &finals {
            assert_eq!(
                want.get(window),
                Some(count),
                "only final results: {finals:?}"
            );
        }
    }
    Ok(())
}

fn closed_while_buffered(guarantee: ProcessingGuarantee) -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    first_input(&broker)?;
    let mut app = Streams::new(&broker, topology()?, config(guarantee))?;
    app.start()?;
    assert!(app.wait_until_caught_up(WAIT)?);
    app.close()?;
    // Only the first minute's results are out: the second minute's are held.
    let mut before = common::read_committed_keyed_u64(&broker, "finals")?;
    before.sort();
    assert_eq!(before, [("ann@0".to_string(), 1), ("bob@0".to_string(), 1)]);
    restart_and_check(&broker, guarantee)
}

#[test]
fn held_results_survive_a_close_exactly_once() -> Result<()> {
    closed_while_buffered(ProcessingGuarantee::ExactlyOnce)
}

#[test]
fn held_results_survive_a_close_at_least_once() -> Result<()> {
    closed_while_buffered(ProcessingGuarantee::AtLeastOnce)
}

/// The child of the kill tests: runs the application until it has caught up with its
/// input, says so, and waits to be killed.
#[test]
fn streams_suppress_kill_child() -> Result<()> {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return Ok(());
    };
    let guarantee = guarantee_named(&std::env::var(CHILD_GUARANTEE_ENV).unwrap_or_default());
    let broker = Broker::open(&dir)?;
    // On a line of its own: the test harness has printed "test … ".
    println!();
    let mut app = Streams::new(&broker, topology()?, config(guarantee))?;
    app.start()?;
    assert!(app.wait_until_caught_up(WAIT)?);
    println!("CAUGHT-UP");
    loop {
        std::thread::park();
    }
}

fn killed_while_buffered(name: &str) -> Result<()> {
    let guarantee = guarantee_named(name);
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let broker = Broker::open(dir.path())?;
        first_input(&broker)?;
        broker.close()?;
    }
    let envs = [
        (CHILD_DIR_ENV, dir.path().as_os_str()),
        (CHILD_GUARANTEE_ENV, OsStr::new(name)),
    ];
    let (killed, status) =
        common::run_child_until_killed("streams_suppress_kill_child", &envs, |line| {
            line == "CAUGHT-UP"
        });
    assert!(killed, "the child stopped by itself: {status}");
    let broker = Broker::open(dir.path())?;
    restart_and_check(&broker, guarantee)
}

#[test]
fn held_results_survive_a_kill_exactly_once() -> Result<()> {
    killed_while_buffered("exactly-once")
}

#[test]
fn held_results_survive_a_kill_at_least_once() -> Result<()> {
    killed_while_buffered("at-least-once")
}
