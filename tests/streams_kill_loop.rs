//! An `ExactlyOnce` stream application killed again and again (SIGKILL) while it works
//! through its input: each iteration runs a child process (this test binary re-executed)
//! that opens the broker and runs the application until the parent kills it at a random
//! moment; after the last, the output is read `ReadCommitted` and must hold every result
//! exactly once, and the restored store's counts must be exact.
//!
//! Before each iteration the parent appends more input, so that every child has work to
//! be killed in. `STROM_STREAMS_KILLS` sets the number of iterations (8 by default).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::time::Duration;

use strom::streams::{
    Codec, ProcessingGuarantee, Streams, StreamsBuilder, StreamsConfig, Topology,
};
use strom::{Broker, Result, TopicConfig};

mod common;

use common::{env_number, SplitMix64};

const CHILD_ENV: &str = "STROM_STREAMS_KILL_DIR";
const KILLS_ENV: &str = "STROM_STREAMS_KILLS";
/// Input records appended before each iteration.
const CHUNK: u64 = 1_500;
const WAIT: Duration = Duration::from_secs(60);

/// Doubles every value into `doubled` and counts records per `value % 7` into `"seen"`,
/// through a repartition topic.
fn topology() -> Result<Topology> {
    let builder = StreamsBuilder::new();
    let input = builder.stream::<String, u64>("numbers");
    input.map_values(|v| v * 2).to("doubled");
    input
        .select_key(|_, v| format!("mod-{}", v % 7))
        .group_by_key()
        .count("seen")
        .to_stream()
        .to("seen-updates");
    builder.build()
}

fn config() -> StreamsConfig {
    StreamsConfig::new("killed")
        .processing_guarantee(ProcessingGuarantee::ExactlyOnce)
        .num_threads(2)
        .commit_interval(Duration::from_millis(5))
}

#[test]
fn streams_kill_loop_child() -> Result<()> {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return Ok(());
    };
    let broker = Broker::open(&dir)?;
    // On a line of its own: the test harness has printed "test … ".
    println!();
    let mut app = Streams::new(&broker, topology()?, config())?;
    app.start()?;
    loop {
        let done = app.wait_until_caught_up(Duration::from_millis(10))?;
        println!("{}", if done { "DONE" } else { "WORKING" });
        if done {
            break;
        }
    }
    app.close()
}

#[test]
fn exactly_once_results_survive_a_kill_loop() -> Result<()> {
    let kills: u32 = env_number(KILLS_ENV).unwrap_or(8);
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let broker = Broker::open(dir.path())?;
        broker.create_topic("numbers", TopicConfig::default().partitions(3))?;
        broker.create_topic("doubled", TopicConfig::default().partitions(3))?;
        broker.create_topic("seen-updates", TopicConfig::default().partitions(3))?;
        broker.close()?;
    }
    let append = |from: u64| -> Result<()> {
        let broker = Broker::open(dir.path())?;
        let mut batch = broker.producer().batch("numbers")?;
        for i in from..from + CHUNK {
            let mut value = Vec::new();
            i.encode(&mut value);
            batch.push(Some(format!("k{}", i % 13).as_bytes()), &value)?;
        }
        batch.send()?;
        broker.close()
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| u64::from(d.subsec_nanos()));
    println!("seed {seed}");
    let mut rng = SplitMix64(seed);
    let envs = [(CHILD_ENV, dir.path().as_os_str())];
    let mut records = 0;
    for iteration in 0..kills {
        append(records)?;
        records += CHUNK;
        let after = rng.range(1, 8);
        let mut lines = 0;
        let mut finished = false;
        let (killed, _) = common::run_child_until_killed(
            "streams_kill_loop_child",
            &envs.map(|(k, v)| (k, OsStr::new(v))),
            |line| {
                match line {
                    "WORKING" => lines += 1,
                    "DONE" => finished = true,
                    _ => {}
                }
                lines >= after && !finished
            },
        );
        println!("iteration {iteration}: killed {killed} after {lines} lines, finished {finished}");
    }

    let broker = Broker::open(dir.path())?;
    let mut app = Streams::new(&broker, topology()?, config())?;
    app.start()?;
    assert!(app.wait_until_caught_up(WAIT)?);
    let counts: BTreeMap<String, u64> = app
        .store::<String, u64>("seen")?
        .all()
        .into_iter()
        .collect();
    app.close()?;
    let mut want_counts = BTreeMap::new();
    for i in 0..records {
        *want_counts.entry(format!("mod-{}", i % 7)).or_insert(0) += 1;
    }
    assert_eq!(
        counts, want_counts,
        "counts exact after the kills (seed {seed})"
    );
    // The counts went through the record cache (on by default): flushed in the commits'
    // transactions, each key's committed updates rise strictly (none twice, none from an
    // aborted run) and end at its exact count.
    let mut updates: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (key, count) in common::read_committed_keyed_u64(&broker, "seen-updates")? {
        updates.entry(key).or_default().push(count);
    }
    for (key, want) in &want_counts {
        let got = updates.get(key).map(Vec::as_slice).unwrap_or_default();
        assert!(
            got.windows(2).all(|w| w[0] < w[1]) && got.last() == Some(want),
            "updates of {key} (seed {seed}): {got:?}, final count {want}"
        );
    }
    let mut doubled = common::read_committed_u64(&broker, "doubled")?;
    doubled.sort_unstable();
    let want: Vec<u64> = (0..records).map(|i| i * 2).collect();
    assert!(
        doubled == want,
        "each result exactly once (seed {seed}): {} results for {} inputs",
        doubled.len(),
        want.len()
    );
    Ok(())
}
