//! A member that `close()`s half-way (auto-commit on, so it commits as it leaves) hands its partitions to the remaining members, which start consuming them promptly and exactly at the committed offsets: consumption goes on, every record is processed, and none is processed twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use strom::{Broker, ConsumerConfig, OffsetReset, Record, Result, TopicConfig, TopicPartition};

mod common;

use common::{Rendezvous, StopOnDrop};

const TOPIC: &str = "payments";
const GROUP: &str = "ledger";
const PARTITIONS: u32 = 6;
const MEMBERS: usize = 3;
/// The member that leaves.
const LEAVER: usize = 1;
/// How many records the leaving member processes before it closes.
const LEAVE_AFTER: usize = 500;
/// Sent before the member leaves, and as many again after.
const HALF: usize = 15_000;
const POLL: Duration = Duration::from_millis(50);
/// How promptly another member processes a record of each partition the leaving member
/// held, counted in that member's polls that start after the leaver's `close()` returned,
/// not in time, which a loaded machine stretches. (It takes milliseconds: the issue asks
/// for less than a second.) The new owner takes the partition at the first of those
/// polls, and each poll returns at most `max_poll_records` from its partitions in turn,
/// starting one further each time, so it reads the partition within as many polls as it
/// holds partitions. A hand-over that waited for a timer instead would take many polls.
const TAKE_OVER_POLLS: usize = PARTITIONS as usize;
/// Bounds every wait and every member loop, so that nothing hangs.
const DEADLINE: Duration = Duration::from_secs(30);

/// A processed record: which member, when, where.
#[derive(Debug, Clone, Copy)]
struct Processed {
    member: usize,
    /// When the poll that returned it started, and when it returned.
    poll_started: Instant,
    at: Instant,
    partition: u32,
    offset: u64,
}

/// The leaving member's last assignment and when its `close()` started and returned.
#[derive(Debug, Clone)]
struct Left {
    member_id: String,
    assignment: Vec<TopicPartition>,
    close_called: Instant,
    close_returned: Instant,
}

/// A member's id and assignment, as it sees them.
type MemberView = (String, Vec<TopicPartition>);

/// What the members share with the test thread.
#[derive(Default)]
struct Shared {
    /// Per member, after its latest poll: its member id and assignment.
    seen: Mutex<Vec<Option<MemberView>>>,
    processed: Mutex<Vec<Processed>>,
    /// Per member, when each of its polls started.
    poll_starts: Mutex<BTreeMap<usize, Vec<Instant>>>,
    left: Mutex<Option<Left>>,
    stop: AtomicBool,
}

fn poll_loop(
    consumer: &mut strom::Consumer,
    index: usize,
    shared: &Shared,
    leave_after: Option<usize>,
) -> Result<()> {
    consumer.subscribe([TOPIC])?;
    let until = Instant::now() + DEADLINE;
    let mut count = 0;
    while !shared.stop.load(Ordering::Acquire) && Instant::now() < until {
        let poll_started = Instant::now();
        let records = consumer.poll(POLL)?;
        let at = Instant::now();
        shared
            .poll_starts
            .lock()
            .expect("lock")
            .entry(index)
            .or_default()
            .push(poll_started);
        count += records.len();
        shared
            .processed
            .lock()
            .expect("lock")
            .extend(records.iter().map(|r| Processed {
                member: index,
                poll_started,
                at,
                partition: r.partition(),
                offset: r.offset(),
            }));
        let id = consumer.member_id().expect("subscribed").to_string();
        shared.seen.lock().expect("lock")[index] = Some((id, consumer.assignment()));
        if leave_after.is_some_and(|n| count >= n) {
            break;
        }
    }
    Ok(())
}

/// A member that stays: polls until told to stop, waits for the other stayer, closes.
fn stayer(broker: &Broker, index: usize, shared: &Shared, stopped: &Rendezvous) -> Result<()> {
    let mut consumer = broker.consumer(config());
    let result = poll_loop(&mut consumer, index, shared, None);
    stopped.arrive_and_wait();
    let closed = consumer.close();
    result?;
    closed
}

/// The member that leaves once it has processed `LEAVE_AFTER` records.
fn leaver(broker: &Broker, index: usize, shared: &Shared) -> Result<()> {
    let mut consumer = broker.consumer(config());
    let result = poll_loop(&mut consumer, index, shared, Some(LEAVE_AFTER));
    let member_id = consumer.member_id().unwrap_or_default().to_string();
    let assignment = consumer.assignment();
    let close_called = Instant::now();
    let closed = consumer.close();
    let close_returned = Instant::now();
    *shared.left.lock().expect("lock") = Some(Left {
        member_id,
        assignment,
        close_called,
        close_returned,
    });
    result?;
    closed
}

fn config() -> ConsumerConfig {
    ConsumerConfig::default()
        .group_id(GROUP)
        .auto_offset_reset(OffsetReset::Earliest)
        .max_poll_records(100)
}

/// Sends `HALF` keyed records; returns every (partition, offset) acknowledged.
fn produce(broker: &Broker, first: usize) -> Result<Vec<(u32, u64)>> {
    let producer = broker.producer();
    let mut sent = Vec::new();
    for chunk in (first..first + HALF).step_by(1000) {
        let records = (chunk..chunk + 1000)
            .map(|i| Record::new(format!("payment {i}")).key(format!("account-{i}")));
        sent.extend(
            producer
                .send_batch(TOPIC, records)?
                .into_iter()
                .map(|m| (m.partition, m.offset)),
        );
    }
    Ok(sent)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < until, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Every member has a non-empty assignment and the three of them cover the topic.
fn all_assigned(shared: &Shared) -> bool {
    let seen = shared.seen.lock().expect("lock");
    let mut union = BTreeSet::new();
    for s in seen.iter() {
        match s {
            Some((_, a)) if !a.is_empty() => union.extend(a.iter().cloned()),
            _ => return false,
        }
    }
    union.len() == PARTITIONS as usize
}

fn check_take_over(
    left: &Left,
    processed: &[Processed],
    poll_starts: &BTreeMap<usize, Vec<Instant>>,
) {
    assert!(
        !left.assignment.is_empty(),
        "the leaving member held partitions when it closed"
    );
    for tp in &left.assignment {
        let p = tp.partition;
        let early: Vec<_> = processed
            .iter()
            .filter(|r| r.partition == p && r.member != LEAVER && r.at < left.close_called)
            .collect();
        assert!(
            early.is_empty(),
            "{tp:?} was read by another member while the leaver still held it: {:?}",
            &early[..early.len().min(5)]
        );
        let first = processed
            .iter()
            .filter(|r| r.partition == p && r.member != LEAVER)
            .min_by_key(|r| r.at)
            .unwrap_or_else(|| panic!("nobody took over {tp:?}"));
        // The new owner starts exactly where the leaver stopped: its commit on close.
        let resumed = processed
            .iter()
            .filter(|r| r.partition == p && r.member != LEAVER)
            .map(|r| r.offset)
            .min();
        let stopped = processed
            .iter()
            .filter(|r| r.partition == p && r.member == LEAVER)
            .map(|r| r.offset + 1)
            .max()
            .unwrap_or(0);
        assert_eq!(
            resumed,
            Some(stopped),
            "{tp:?}: where the new owner started"
        );
        let polls = poll_starts.get(&first.member).map_or(0, |starts| {
            starts
                .iter()
                .filter(|&&s| s >= left.close_returned && s <= first.poll_started)
                .count()
        });
        assert!(
            polls <= TAKE_OVER_POLLS,
            "{tp:?}: member {} read it first in poll {polls} after close() returned ({:?} later)",
            first.member,
            first.at.saturating_duration_since(left.close_returned)
        );
    }
}

#[test]
fn a_closing_member_hands_its_partitions_over_at_its_committed_offsets() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    let shared = Arc::new(Shared {
        seen: Mutex::new(vec![None; MEMBERS]),
        ..Shared::default()
    });
    let stopped = Arc::new(Rendezvous::new(MEMBERS - 1, DEADLINE));
    let members: Vec<_> = (0..MEMBERS)
        .map(|index| {
            let (broker, shared, stopped) =
                (broker.clone(), Arc::clone(&shared), Arc::clone(&stopped));
            thread::spawn(move || {
                if index == LEAVER {
                    leaver(&broker, index, &shared)
                } else {
                    stayer(&broker, index, &shared, &stopped)
                }
            })
        })
        .collect();
    let stop = StopOnDrop(&shared.stop);

    wait_until("all three members share the partitions", || {
        all_assigned(&shared)
    });
    let mut sent = produce(&broker, 0)?;
    wait_until("the member has left", || {
        shared.left.lock().expect("lock").is_some()
    });
    let left_id = shared
        .left
        .lock()
        .expect("lock")
        .as_ref()
        .map(|l| l.member_id.clone())
        .expect("left");
    let desc = broker.describe_group(GROUP)?;
    assert_eq!(desc.members.len(), MEMBERS - 1, "{desc:?}");
    assert!(
        desc.members.iter().all(|m| m.member_id != left_id),
        "{left_id} is gone: {desc:?}"
    );
    // Consumption goes on after the hand-over.
    sent.extend(produce(&broker, HALF)?);
    let expected: BTreeSet<(u32, u64)> = sent.iter().copied().collect();
    assert_eq!(expected.len(), 2 * HALF);
    wait_until("every record is processed", || {
        let processed = shared.processed.lock().expect("lock");
        let unique: BTreeSet<(u32, u64)> =
            processed.iter().map(|r| (r.partition, r.offset)).collect();
        unique.len() >= expected.len()
    });
    drop(stop);
    for m in members {
        m.join().expect("member thread")?;
    }

    let processed = shared.processed.lock().expect("lock").clone();
    let left = shared.left.lock().expect("lock").clone().expect("left");
    let poll_starts = shared.poll_starts.lock().expect("lock").clone();
    check_take_over(&left, &processed, &poll_starts);
    let mut by_record: BTreeMap<(u32, u64), Vec<usize>> = BTreeMap::new();
    for r in &processed {
        by_record
            .entry((r.partition, r.offset))
            .or_default()
            .push(r.member);
    }
    let seen: BTreeSet<(u32, u64)> = by_record.keys().copied().collect();
    let missing: Vec<_> = expected.difference(&seen).collect();
    assert!(missing.is_empty(), "never processed: {missing:?}");
    let duplicates: Vec<_> = by_record.iter().filter(|(_, m)| m.len() > 1).collect();
    assert!(
        duplicates.is_empty(),
        "{} records processed more than once (commit on close should prevent any), e.g. {:?}",
        duplicates.len(),
        &duplicates[..duplicates.len().min(10)]
    );
    let leaver_count = processed.iter().filter(|r| r.member == LEAVER).count();
    assert!((LEAVE_AFTER..2 * HALF).contains(&leaver_count));
    Ok(())
}

/// After the leave, `describe_group` lists only the two remaining members, whose
/// assignments cover the topic.
#[test]
fn the_group_forgets_a_closed_member() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    let mut members: Vec<strom::Consumer> =
        (0..MEMBERS).map(|_| broker.consumer(config())).collect();
    for m in &mut members {
        m.subscribe([TOPIC])?;
    }
    let ids: Vec<String> = members
        .iter()
        .map(|m| m.member_id().expect("subscribed").to_string())
        .collect();
    let desc = broker.describe_group(GROUP)?;
    let listed: BTreeSet<&str> = desc.members.iter().map(|m| m.member_id.as_str()).collect();
    assert_eq!(listed, ids.iter().map(String::as_str).collect());
    let generation = desc.generation;

    members.remove(LEAVER).close()?;
    let desc = broker.describe_group(GROUP)?;
    assert!(
        desc.generation > generation,
        "leaving starts a new generation"
    );
    let listed: BTreeSet<&str> = desc.members.iter().map(|m| m.member_id.as_str()).collect();
    let remaining: BTreeSet<&str> = ids
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != LEAVER)
        .map(|(_, id)| id.as_str())
        .collect();
    assert_eq!(listed, remaining);
    let union: BTreeSet<TopicPartition> = desc
        .members
        .iter()
        .flat_map(|m| m.assignment.iter().cloned())
        .collect();
    assert_eq!(union.len(), PARTITIONS as usize, "{desc:?}");
    // The remaining members take everything at their next polls.
    let until = Instant::now() + DEADLINE;
    loop {
        for m in &mut members {
            m.poll(Duration::from_millis(10))?;
        }
        let held: BTreeSet<TopicPartition> = members
            .iter()
            .flat_map(strom::Consumer::assignment)
            .collect();
        let total: usize = members.iter().map(|m| m.assignment().len()).sum();
        if held.len() == PARTITIONS as usize {
            assert_eq!(total, PARTITIONS as usize, "no partition is held twice");
            break;
        }
        assert!(
            Instant::now() < until,
            "the remaining members hold {held:?}"
        );
    }
    Ok(())
}
