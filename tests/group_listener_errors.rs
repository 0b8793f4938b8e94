//! A `RebalanceListener` that fails does not hold up its group, as in Kafka's Java client:
//! the rebalance completes — revoked partitions go to the member the group gave them to,
//! which reads them, and new partitions stay assigned — and the `poll` or `close` that ran
//! the listener returns the listener's first error. The next `poll` goes on as usual.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strom::{
    Broker, Consumer, ConsumerConfig, Error, OffsetReset, RebalanceListener, Record, Result,
    Revoked, TopicConfig, TopicPartition,
};

const TOPIC: &str = "orders";
const GROUP: &str = "billing";
const PARTITIONS: u32 = 4;
/// Records sent to each partition before the members start.
const PER_PARTITION: u64 = 5;
const POLL: Duration = Duration::from_millis(20);
/// Bounds every wait loop; only a broken hand-over comes near it.
const DEADLINE: Duration = Duration::from_secs(30);

/// What a listener was told, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Told {
    Revoked(Vec<TopicPartition>),
    Assigned(Vec<TopicPartition>),
}

type Log = Arc<Mutex<Vec<Told>>>;

/// Adds to `log`. A failed assertion that held the lock must not turn the listener call in
/// the consumer's drop into a second panic, which would abort the test binary.
fn record(log: &Log, told: Told) {
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(told);
}

/// Commits the positions of revoked partitions, as the `RebalanceListener` docs show, and
/// passes the commit's error on.
struct CommitOnRevoke {
    told: Log,
}

impl RebalanceListener for CommitOnRevoke {
    fn on_partitions_revoked(&mut self, revoked: &mut Revoked<'_>) -> Result<()> {
        record(&self.told, Told::Revoked(revoked.partitions().to_vec()));
        let done: Vec<(TopicPartition, u64)> = revoked
            .partitions()
            .iter()
            .filter_map(|tp| revoked.position(tp).map(|p| (tp.clone(), p)))
            .collect();
        revoked.commit_offsets(&done)
    }

    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        record(&self.told, Told::Assigned(partitions.to_vec()));
        Ok(())
    }
}

/// Fails both callbacks with errors of its own, which say which callback returned them.
struct AlwaysFails {
    told: Log,
}

fn own_error(callback: &str) -> Error {
    Error::InvalidConfig {
        reason: format!("{callback} failed"),
    }
}

impl RebalanceListener for AlwaysFails {
    fn on_partitions_revoked(&mut self, revoked: &mut Revoked<'_>) -> Result<()> {
        record(&self.told, Told::Revoked(revoked.partitions().to_vec()));
        Err(own_error("on_partitions_revoked"))
    }

    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        record(&self.told, Told::Assigned(partitions.to_vec()));
        Err(own_error("on_partitions_assigned"))
    }
}

fn setup(dir: &Path) -> Result<Broker> {
    let broker = Broker::open(dir)?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    let producer = broker.producer();
    for p in 0..PARTITIONS {
        for i in 0..PER_PARTITION {
            producer.send(TOPIC, Record::new(format!("order {p}-{i}")).partition(p))?;
        }
    }
    Ok(broker)
}

/// No automatic commits: the listener's are the only ones.
fn config() -> ConsumerConfig {
    ConsumerConfig::default()
        .group_id(GROUP)
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false)
}

/// Makes every commit of `group` fail, as a disk that refuses the write would: a directory
/// now stands where the group's offsets file (`__consumer_offsets/<group id in hex>.json`)
/// is renamed into place. Returns that path, which the commit's `Error::Io` names.
fn block_commits(dir: &Path, group: &str) -> PathBuf {
    let mut hex = String::new();
    for b in group.bytes() {
        write!(hex, "{b:02x}").expect("write to a String");
    }
    let path = dir.join("__consumer_offsets").join(format!("{hex}.json"));
    std::fs::create_dir_all(&path).expect("block the offsets file");
    path
}

fn all_partitions() -> BTreeSet<TopicPartition> {
    (0..PARTITIONS)
        .map(|p| TopicPartition::new(TOPIC, p))
        .collect()
}

fn held(consumer: &Consumer) -> BTreeSet<TopicPartition> {
    consumer.assignment().into_iter().collect()
}

/// Polls until `consumer` has read every record of `partitions`; returns the (partition,
/// offset) of each record it read.
fn read_all_of(
    consumer: &mut Consumer,
    partitions: &BTreeSet<TopicPartition>,
) -> Result<BTreeSet<(u32, u64)>> {
    let wanted: BTreeSet<(u32, u64)> = partitions
        .iter()
        .flat_map(|tp| (0..PER_PARTITION).map(move |o| (tp.partition, o)))
        .collect();
    let mut read = BTreeSet::new();
    let until = Instant::now() + DEADLINE;
    while !wanted.is_subset(&read) {
        assert!(
            Instant::now() < until,
            "read {read:?} of {wanted:?}; holds {:?}",
            consumer.assignment()
        );
        for r in &consumer.poll(POLL)? {
            read.insert((r.partition(), r.offset()));
        }
    }
    Ok(read)
}

#[test]
fn a_failed_commit_on_revoke_is_returned_by_poll_and_the_partitions_move_on() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = setup(dir.path())?;
    let blocked = block_commits(dir.path(), GROUP);
    let told = Log::default();
    let mut first = broker.consumer(config());
    first.subscribe_with_listener(
        [TOPIC],
        CommitOnRevoke {
            told: Arc::clone(&told),
        },
    )?;
    // Alone in the group, it gets (and reads) everything.
    let read = read_all_of(&mut first, &all_partitions())?;
    assert_eq!(read.len() as u64, u64::from(PARTITIONS) * PER_PARTITION);
    assert_eq!(
        *told.lock().expect("lock"),
        [Told::Assigned(all_partitions().into_iter().collect())]
    );

    // A second member joins: at its next poll the first is told that its partitions are
    // revoked, and its listener's commit fails.
    let mut second = broker.consumer(config());
    second.subscribe([TOPIC])?;
    match first.poll(POLL) {
        Err(Error::Io { path, .. }) => assert_eq!(path, blocked),
        other => panic!("poll should return the listener's failed commit, got {other:?}"),
    }
    // The rebalance went through all the same: the first member keeps its share, was told
    // so, and let the rest go.
    let kept = held(&first);
    let moved: BTreeSet<TopicPartition> = all_partitions().difference(&kept).cloned().collect();
    assert!(!kept.is_empty() && !moved.is_empty(), "kept {kept:?}");
    assert_eq!(
        *told.lock().expect("lock"),
        [
            Told::Assigned(all_partitions().into_iter().collect()),
            Told::Revoked(all_partitions().into_iter().collect()),
            Told::Assigned(kept.iter().cloned().collect()),
        ],
        "eager rebalance: everything revoked, the share kept assigned again"
    );

    // The second member takes what moved and reads it from the start: nothing was committed.
    let read = read_all_of(&mut second, &moved)?;
    let expected: BTreeSet<(u32, u64)> = moved
        .iter()
        .flat_map(|tp| (0..PER_PARTITION).map(move |o| (tp.partition, o)))
        .collect();
    assert_eq!(read, expected);
    assert_eq!(held(&second), moved);
    let desc = broker.describe_group(GROUP)?;
    assert_eq!(desc.members.len(), 2, "{desc:?}");
    for p in &desc.partitions {
        assert_eq!(
            p.committed, None,
            "the failed commit stored nothing: {desc:?}"
        );
    }

    // The error was reported once; the first member goes on.
    let sent = broker.producer().send(
        TOPIC,
        Record::new("late").partition(kept.first().expect("kept").partition),
    )?;
    let until = Instant::now() + DEADLINE;
    loop {
        let records: Vec<(u32, u64)> = first
            .poll(POLL)?
            .iter()
            .map(|r| (r.partition(), r.offset()))
            .collect();
        if !records.is_empty() {
            assert_eq!(records, [(sent.partition, sent.offset)]);
            break;
        }
        assert!(Instant::now() < until, "the record sent late never came");
    }
    assert_eq!(held(&first), kept);
    assert_eq!(told.lock().expect("lock").len(), 3, "no further rebalance");

    // Closing runs the listener again, which fails again: `close` returns that error and
    // the member has left all the same, so the second member takes everything.
    match first.close() {
        Err(Error::Io { path, .. }) => assert_eq!(path, blocked),
        other => panic!("close should return the listener's failed commit, got {other:?}"),
    }
    assert_eq!(
        told.lock().expect("lock").last(),
        Some(&Told::Revoked(kept.iter().cloned().collect()))
    );
    let until = Instant::now() + DEADLINE;
    while held(&second) != all_partitions() {
        assert!(
            Instant::now() < until,
            "the second member holds {:?}",
            second.assignment()
        );
        second.poll(POLL)?;
    }
    assert_eq!(broker.describe_group(GROUP)?.members.len(), 1);
    second.close()?;
    broker.close()
}

#[test]
fn an_error_from_on_partitions_assigned_leaves_the_partitions_assigned() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = setup(dir.path())?;
    let told = Log::default();
    let mut member = broker.consumer(config());
    member.subscribe_with_listener(
        [TOPIC],
        AlwaysFails {
            told: Arc::clone(&told),
        },
    )?;
    match member.poll(POLL) {
        Err(Error::InvalidConfig { reason }) => assert_eq!(reason, "on_partitions_assigned failed"),
        other => panic!("poll should return the listener's error, got {other:?}"),
    }
    assert_eq!(held(&member), all_partitions());
    // The next polls read the partitions; the listener is not asked again.
    let read = read_all_of(&mut member, &all_partitions())?;
    assert_eq!(read.len() as u64, u64::from(PARTITIONS) * PER_PARTITION);
    assert_eq!(
        *told.lock().expect("lock"),
        [Told::Assigned(all_partitions().into_iter().collect())]
    );
    drop(member);
    broker.close()
}

/// When both callbacks fail in one rebalance, `poll` returns the first error, and the
/// second callback was still called.
#[test]
fn the_first_listener_error_is_returned() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = setup(dir.path())?;
    let told = Log::default();
    let mut first = broker.consumer(config());
    first.subscribe_with_listener(
        [TOPIC],
        AlwaysFails {
            told: Arc::clone(&told),
        },
    )?;
    assert!(first.poll(POLL).is_err(), "on_partitions_assigned failed");
    let mut second = broker.consumer(config());
    second.subscribe([TOPIC])?;
    match first.poll(POLL) {
        Err(Error::InvalidConfig { reason }) => assert_eq!(reason, "on_partitions_revoked failed"),
        other => panic!("poll should return the revoke error, got {other:?}"),
    }
    let kept = held(&first);
    assert_eq!(
        *told.lock().expect("lock"),
        [
            Told::Assigned(all_partitions().into_iter().collect()),
            Told::Revoked(all_partitions().into_iter().collect()),
            Told::Assigned(kept.iter().cloned().collect()),
        ]
    );
    let moved: BTreeSet<TopicPartition> = all_partitions().difference(&kept).cloned().collect();
    read_all_of(&mut second, &moved)?;
    assert_eq!(held(&second), moved);
    // Dropping the member runs the listener too; its error has nowhere to go, and the
    // member leaves.
    drop(first);
    let until = Instant::now() + DEADLINE;
    while held(&second) != all_partitions() {
        assert!(Instant::now() < until, "{:?}", second.assignment());
        second.poll(POLL)?;
    }
    drop(second);
    broker.close()
}

/// A member whose auto-commit before a rebalance fails does not keep the partitions it
/// lost, as in Kafka: `poll` returns the commit's error, the partitions move on, and their
/// new owner starts at the last committed offset.
#[test]
fn a_failed_auto_commit_before_a_rebalance_does_not_hold_up_the_partitions() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = setup(dir.path())?;
    let auto = config().enable_auto_commit(true);
    let mut first = broker.consumer(auto.clone());
    first.subscribe([TOPIC])?;
    read_all_of(&mut first, &all_partitions())?;
    let blocked = block_commits(dir.path(), GROUP);
    let mut second = broker.consumer(auto);
    second.subscribe([TOPIC])?;
    match first.poll(POLL) {
        Err(Error::Io { path, .. }) => assert_eq!(path, blocked),
        other => panic!("poll should return the failed auto-commit, got {other:?}"),
    }
    let kept = held(&first);
    let moved: BTreeSet<TopicPartition> = all_partitions().difference(&kept).cloned().collect();
    assert!(!kept.is_empty() && !moved.is_empty(), "kept {kept:?}");
    // Nothing was committed, so the new owner reads the moved partitions from the start.
    let read = read_all_of(&mut second, &moved)?;
    assert_eq!(read.len() as u64, moved.len() as u64 * PER_PARTITION);
    assert_eq!(held(&second), moved);
    drop(first);
    drop(second);
    broker.close()
}

/// The periodic auto-commit failing does not hold up the group either: the `poll` that ran
/// it still hands over partitions, then returns the error.
#[test]
fn a_failing_periodic_auto_commit_still_hands_partitions_over() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = setup(dir.path())?;
    // Due at every poll.
    let auto = config()
        .enable_auto_commit(true)
        .auto_commit_interval(Duration::ZERO);
    let mut first = broker.consumer(auto.clone());
    first.subscribe([TOPIC])?;
    read_all_of(&mut first, &all_partitions())?;
    let blocked = block_commits(dir.path(), GROUP);
    let mut second = broker.consumer(auto.enable_auto_commit(false));
    second.subscribe([TOPIC])?;
    match first.poll(POLL) {
        Err(Error::Io { path, .. }) => assert_eq!(path, blocked),
        other => panic!("poll should return the failed auto-commit, got {other:?}"),
    }
    let moved: BTreeSet<TopicPartition> = all_partitions()
        .difference(&held(&first))
        .cloned()
        .collect();
    assert!(!moved.is_empty(), "the first member let nothing go");
    read_all_of(&mut second, &moved)?;
    assert_eq!(held(&second), moved);
    drop(first);
    drop(second);
    broker.close()
}
