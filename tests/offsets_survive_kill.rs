//! A group member killed with SIGKILL while it consumes and commits in a loop loses no commit that returned: after reopening, `committed()` is at least the last offset the child printed once `commit()` had returned, for every partition, and the next member (the child run again, then a member with `Latest`) resumes exactly at the committed offsets.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use strom::{Broker, ConsumerConfig, OffsetReset, Record, Result, TopicConfig, TopicPartition};

mod common;

const CHILD_ENV: &str = "STROM_OFFSETS_KILL_DIR";
const TOPIC: &str = "events";
const GROUP: &str = "indexer";
const PARTITIONS: u32 = 3;
const PER_PARTITION: u64 = 20_000;
/// Commits the parent waits for before it kills the child, per round.
const COMMITS: usize = 30;
const ROUNDS: usize = 3;

/// Partition → offset.
type Offsets = BTreeMap<u32, u64>;

fn tp(partition: u32) -> TopicPartition {
    TopicPartition::new(TOPIC, partition)
}

fn format_offsets(offsets: &Offsets) -> String {
    offsets
        .iter()
        .map(|(p, o)| format!("{p}:{o}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse_offsets(text: &str) -> Offsets {
    text.split_whitespace()
        .map(|pair| {
            let (p, o) = pair.split_once(':').expect("partition:offset");
            (p.parse().expect("partition"), o.parse().expect("offset"))
        })
        .collect()
}

/// The child process: consumes a few records at a time and commits after each poll,
/// printing `START` with the first offset it read per partition and `COMMITTED` with the
/// positions it committed, each once the call has returned.
#[test]
fn offsets_kill_child() -> Result<()> {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return Ok(());
    };
    let broker = Broker::open(&dir)?;
    let config = ConsumerConfig::default()
        .group_id(GROUP)
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false)
        .max_poll_records(7);
    let mut consumer = broker.consumer(config);
    consumer.subscribe([TOPIC])?;
    let mut started = Offsets::new();
    let mut out = std::io::stdout().lock();
    // On a line of its own: the test harness has printed "test offsets_kill_child ... ".
    writeln!(out).expect("stdout");
    // A bound in case the parent never kills this process.
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        let records = consumer.poll(Duration::from_millis(100))?;
        for r in &records {
            if let std::collections::btree_map::Entry::Vacant(e) = started.entry(r.partition()) {
                e.insert(r.offset());
                writeln!(out, "START {}:{}", r.partition(), r.offset()).expect("stdout");
            }
        }
        consumer.commit()?;
        let committed: Offsets = consumer
            .assignment()
            .iter()
            .filter_map(|tp| consumer.position(tp).map(|o| (tp.partition, o)))
            .collect();
        writeln!(out, "COMMITTED {}", format_offsets(&committed)).expect("stdout");
        out.flush().expect("stdout");
    }
    Ok(())
}

/// What one run of the child printed before it was killed.
#[derive(Debug, Default)]
struct Run {
    started: Offsets,
    /// The last committed offset printed per partition.
    committed: Offsets,
    commits: usize,
}

fn run_child(dir: &Path) -> Run {
    let mut run = Run::default();
    let envs = [(CHILD_ENV, dir.as_os_str())];
    let (killed, status) = common::run_child_until_killed("offsets_kill_child", &envs, |text| {
        if let Some(rest) = text.strip_prefix("START ") {
            run.started.extend(parse_offsets(rest));
        } else if let Some(rest) = text.strip_prefix("COMMITTED ") {
            run.committed.extend(parse_offsets(rest));
            run.commits += 1;
        }
        run.commits >= COMMITS
    });
    assert!(
        killed,
        "the child stopped after {} commits ({status})",
        run.commits
    );
    run
}

/// The group's committed offsets, read back by a fresh consumer.
fn committed(broker: &Broker) -> Result<Offsets> {
    let consumer = broker.consumer(ConsumerConfig::default().group_id(GROUP));
    let mut offsets = Offsets::new();
    for p in 0..PARTITIONS {
        if let Some(o) = consumer.committed(&tp(p))? {
            offsets.insert(p, o);
        }
    }
    Ok(offsets)
}

#[test]
fn commits_that_returned_survive_sigkill() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    for p in 0..PARTITIONS {
        let records = (0..PER_PARTITION).map(|i| Record::new(format!("{p}-{i}")).partition(p));
        broker.producer().send_batch(TOPIC, records)?;
    }
    broker.close()?;

    let mut before = Offsets::new();
    for round in 0..ROUNDS {
        let run = run_child(dir.path());
        // The child read every partition, starting where the group had committed.
        for p in 0..PARTITIONS {
            let expected = before.get(&p).copied().unwrap_or(0);
            assert_eq!(
                run.started.get(&p),
                Some(&expected),
                "round {round}: where the child started {TOPIC}-{p}"
            );
        }
        let broker = Broker::open(dir.path())?;
        let after = committed(&broker)?;
        for (p, printed) in &run.committed {
            let stored = after.get(p).copied();
            assert!(
                stored.is_some_and(|s| s >= *printed && s <= PER_PARTITION),
                "round {round}: {TOPIC}-{p} committed {stored:?} after the child printed {printed} (run: {run:?})"
            );
        }
        assert_eq!(
            run.committed.len(),
            PARTITIONS as usize,
            "round {round}: the child committed every partition"
        );
        assert!(
            after.values().sum::<u64>() > before.values().sum::<u64>(),
            "round {round}: the child made progress"
        );
        broker.close()?;
        before = after;
    }

    // A new member that would start at the end without commits resumes at them instead.
    let broker = Broker::open(dir.path())?;
    let mut member = broker.consumer(
        ConsumerConfig::default()
            .group_id(GROUP)
            .auto_offset_reset(OffsetReset::Latest)
            .enable_auto_commit(false)
            .max_poll_records(100_000),
    );
    member.subscribe([TOPIC])?;
    let mut first = Offsets::new();
    for _ in 0..20 {
        let records = member.poll(Duration::from_millis(100))?;
        for r in &records {
            first.entry(r.partition()).or_insert(r.offset());
        }
        if first.len() == PARTITIONS as usize {
            break;
        }
    }
    assert_eq!(
        first, before,
        "the new member starts at the committed offsets"
    );
    member.close()?;
    broker.close()
}
