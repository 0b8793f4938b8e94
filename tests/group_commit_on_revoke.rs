//! When a second member joins, the first commits the partitions it gives up before letting them go — by auto-commit on revoke, or by its `RebalanceListener` through `Revoked::commit_offsets` — so the new owner starts exactly at the committed offset: the listener hears of the revocation before the other member reads the partition, and no record is processed twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use strom::{
    Broker, Consumer, ConsumerConfig, OffsetReset, RebalanceListener, Record, Result, Revoked,
    TopicConfig, TopicPartition,
};

mod common;

use common::{assert_processed_once, StopOnDrop};

const TOPIC: &str = "clicks";
const GROUP: &str = "sessions";
const PARTITIONS: u32 = 4;
const RECORDS: usize = 20_000;
/// Sent before the first member starts; the rest is sent once the second member reads.
const BEFORE: usize = 2_000;
/// Records the first member processes before the second joins.
const JOIN_AFTER: usize = 1_000;
const POLL: Duration = Duration::from_millis(50);
/// Bounds every wait and every member loop, so that nothing hangs.
const DEADLINE: Duration = Duration::from_secs(30);

/// What the listeners and the processing loops saw, in one order.
#[derive(Debug, Clone)]
enum Event {
    Assigned {
        member: usize,
        partitions: Vec<TopicPartition>,
    },
    Revoked {
        member: usize,
        partitions: Vec<TopicPartition>,
        positions: Vec<Option<u64>>,
        /// The group's committed offsets once the listener is done with them.
        committed: Vec<Option<u64>>,
    },
    /// The first record a member processed from a partition.
    First {
        member: usize,
        partition: u32,
        offset: u64,
    },
}

#[derive(Default)]
struct Shared {
    events: Mutex<Vec<Event>>,
    /// Every record processed: (member, partition, offset).
    processed: Mutex<Vec<(usize, u32, u64)>>,
    /// Per member, after its latest poll: its assignment.
    assignments: Mutex<BTreeMap<usize, Vec<TopicPartition>>>,
    stop: AtomicBool,
    /// Members that stopped polling: none closes before both have, so that a close
    /// rebalances no member still polling (closing is not what these tests are about).
    stopped: AtomicUsize,
}

/// Records what it is told; with `processed`, commits those positions on revoke.
struct Recorder {
    member: usize,
    shared: Arc<Shared>,
    broker: Broker,
    /// Positions processed (next offset to read), kept by the member's loop.
    processed: Option<Arc<Mutex<BTreeMap<TopicPartition, u64>>>>,
}

impl RebalanceListener for Recorder {
    fn on_partitions_revoked(&mut self, revoked: &mut Revoked<'_>) -> Result<()> {
        let partitions = revoked.partitions().to_vec();
        let positions = partitions.iter().map(|tp| revoked.position(tp)).collect();
        if let Some(processed) = &self.processed {
            let done: Vec<(TopicPartition, u64)> = {
                let processed = processed.lock().expect("lock");
                partitions
                    .iter()
                    .filter_map(|tp| processed.get(tp).map(|&o| (tp.clone(), o)))
                    .collect()
            };
            revoked.commit_offsets(&done)?;
        }
        let committed = committed_now(&self.broker, &partitions);
        self.shared
            .events
            .lock()
            .expect("lock")
            .push(Event::Revoked {
                member: self.member,
                partitions,
                positions,
                committed,
            });
        Ok(())
    }

    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.shared
            .events
            .lock()
            .expect("lock")
            .push(Event::Assigned {
                member: self.member,
                partitions: partitions.to_vec(),
            });
        Ok(())
    }
}

fn committed_now(broker: &Broker, partitions: &[TopicPartition]) -> Vec<Option<u64>> {
    let lags = broker
        .describe_group(GROUP)
        .map(|d| d.partitions)
        .unwrap_or_default();
    partitions
        .iter()
        .map(|tp| {
            lags.iter()
                .find(|l| l.topic_partition == *tp)
                .and_then(|l| l.committed)
        })
        .collect()
}

/// Processes `records`, as an application would; returns how many.
fn process(
    consumer: &mut Consumer,
    member: usize,
    shared: &Shared,
    firsts: &mut BTreeSet<u32>,
    positions: Option<&Mutex<BTreeMap<TopicPartition, u64>>>,
) -> Result<usize> {
    let records = consumer.poll(POLL)?;
    for r in &records {
        if firsts.insert(r.partition()) {
            shared.events.lock().expect("lock").push(Event::First {
                member,
                partition: r.partition(),
                offset: r.offset(),
            });
        }
        shared
            .processed
            .lock()
            .expect("lock")
            .push((member, r.partition(), r.offset()));
        if let Some(positions) = positions {
            positions.lock().expect("lock").insert(
                TopicPartition::new(r.topic(), r.partition()),
                r.offset() + 1,
            );
        }
    }
    shared
        .assignments
        .lock()
        .expect("lock")
        .insert(member, consumer.assignment());
    Ok(records.len())
}

/// One member: subscribes with a `Recorder`, polls until told to stop, closes.
fn member(broker: &Broker, member: usize, auto_commit: bool, shared: &Arc<Shared>) -> Result<()> {
    let config = ConsumerConfig::default()
        .group_id(GROUP)
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(auto_commit)
        // Only revocations (and close) commit.
        .auto_commit_interval(Duration::from_secs(3600))
        .max_poll_records(50);
    let positions = (!auto_commit).then(|| Arc::new(Mutex::new(BTreeMap::new())));
    let mut consumer = broker.consumer(config);
    consumer.subscribe_with_listener(
        [TOPIC],
        Recorder {
            member,
            shared: Arc::clone(shared),
            broker: broker.clone(),
            processed: positions.clone(),
        },
    )?;
    let mut firsts = BTreeSet::new();
    let until = Instant::now() + DEADLINE;
    let mut result = Ok(0);
    while result.is_ok() && !shared.stop.load(Ordering::Acquire) && Instant::now() < until {
        result = process(
            &mut consumer,
            member,
            shared,
            &mut firsts,
            positions.as_deref(),
        );
    }
    shared.stopped.fetch_add(1, Ordering::AcqRel);
    while shared.stopped.load(Ordering::Acquire) < 2 && Instant::now() < until {
        thread::sleep(Duration::from_millis(1));
    }
    let closed = consumer.close();
    result?;
    closed
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < until, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

fn send(broker: &Broker, from: usize, to: usize) -> Result<()> {
    let records =
        (from..to).map(|i| Record::new(format!("click {i}")).key(format!("session-{}", i % 500)));
    broker.producer().send_batch(TOPIC, records)?;
    Ok(())
}

/// Runs the first member, lets the second join half-way, and returns what happened.
fn run(auto_commit: bool) -> Result<Arc<Shared>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    let shared = Arc::new(Shared::default());
    let stop = StopOnDrop(&shared.stop);
    send(&broker, 0, BEFORE)?;
    let spawn = |index: usize| {
        let (broker, shared) = (broker.clone(), Arc::clone(&shared));
        thread::spawn(move || member(&broker, index, auto_commit, &shared))
    };
    let first = spawn(0);
    wait_until("the first member has processed records", || {
        shared.processed.lock().expect("lock").len() >= JOIN_AFTER
    });
    let second = spawn(1);
    wait_until("the second member holds partitions", || {
        shared
            .assignments
            .lock()
            .expect("lock")
            .get(&1)
            .is_some_and(|a| !a.is_empty())
    });
    for from in (BEFORE..RECORDS).step_by(500) {
        send(&broker, from, from + 500)?;
        thread::sleep(Duration::from_millis(1));
    }
    wait_until("every record is processed", || {
        let processed = shared.processed.lock().expect("lock");
        let unique: BTreeSet<(u32, u64)> = processed.iter().map(|&(_, p, o)| (p, o)).collect();
        unique.len() >= RECORDS
    });
    drop(stop);
    first.join().expect("first member")?;
    second.join().expect("second member")?;
    broker.close()?;
    Ok(shared)
}

/// Every record processed once; each partition the second member read was revoked from the
/// first (and committed at its position) before the second read it from exactly there.
fn check(shared: &Shared) {
    let processed = shared.processed.lock().expect("lock").clone();
    let events = shared.events.lock().expect("lock").clone();
    let seen = assert_processed_once(&processed);
    assert_eq!(seen.len(), RECORDS, "every record processed");
    let taken: BTreeSet<u32> = processed.iter().filter(|r| r.0 == 1).map(|r| r.1).collect();
    assert!(!taken.is_empty(), "the second member processed records");
    for p in taken {
        let tp = TopicPartition::new(TOPIC, p);
        let (b_first, b_offset) = events
            .iter()
            .enumerate()
            .find_map(|(i, e)| match e {
                Event::First {
                    member: 1,
                    partition,
                    offset,
                } if *partition == p => Some((i, *offset)),
                _ => None,
            })
            .expect("the second member's first record");
        let revoke = events[..b_first].iter().rev().find_map(|e| match e {
            Event::Revoked {
                member: 0,
                partitions,
                positions,
                committed,
            } => partitions
                .iter()
                .position(|t| *t == tp)
                .map(|i| (positions[i], committed[i])),
            _ => None,
        });
        let Some((position, committed)) = revoke else {
            panic!("the first member's listener was not told of revoking {tp:?} before the second member read it: {events:?}");
        };
        assert_eq!(
            committed, position,
            "{tp:?}: committed by the time the listener is done"
        );
        assert_eq!(
            Some(b_offset),
            position,
            "{tp:?}: the second member starts at the committed offset"
        );
        assert!(
            events[..b_first].iter().any(|e| matches!(e,
                Event::Assigned { member: 1, partitions } if partitions.contains(&tp))),
            "{tp:?}: the second member's listener heard of it before it read it"
        );
        let first_read_after = processed
            .iter()
            .filter(|r| r.0 == 0 && r.1 == p)
            .map(|r| r.2)
            .max();
        assert!(
            first_read_after.is_none_or(|o| Some(o + 1) == position),
            "{tp:?}: the first member stopped at its revoked position"
        );
    }
}

#[test]
fn auto_commit_on_revoke_hands_over_without_duplicates() -> Result<()> {
    let shared = run(true)?;
    check(&shared);
    Ok(())
}

#[test]
fn listener_commit_on_revoke_hands_over_without_duplicates() -> Result<()> {
    let shared = run(false)?;
    check(&shared);
    Ok(())
}

/// Kafka calls `onPartitionsRevoked` when a member leaves by `close()` too, so a listener
/// that commits on revoke (auto-commit off) loses nothing when its member closes.
#[test]
fn listener_commits_when_its_member_closes() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    let shared = Arc::new(Shared::default());
    let mut members = Vec::new();
    let mut positions = Vec::new();
    for index in 0..2 {
        let config = ConsumerConfig::default()
            .group_id(GROUP)
            .auto_offset_reset(OffsetReset::Earliest)
            .enable_auto_commit(false)
            .max_poll_records(50);
        let mine = Arc::new(Mutex::new(BTreeMap::new()));
        let mut consumer = broker.consumer(config);
        consumer.subscribe_with_listener(
            [TOPIC],
            Recorder {
                member: index,
                shared: Arc::clone(&shared),
                broker: broker.clone(),
                processed: Some(Arc::clone(&mine)),
            },
        )?;
        members.push(consumer);
        positions.push(mine);
    }
    let mut firsts = [BTreeSet::new(), BTreeSet::new()];
    let mut poll_both = |members: &mut [Consumer], rounds: usize| -> Result<()> {
        for _ in 0..rounds {
            for (i, m) in members.iter_mut().enumerate() {
                process(m, i, &shared, &mut firsts[i], Some(&*positions[i]))?;
            }
        }
        Ok(())
    };
    poll_both(&mut members, 3)?;
    assert!(
        members.iter().all(|m| !m.assignment().is_empty()),
        "both members hold partitions"
    );
    send(&broker, 0, 2_000)?;
    poll_both(&mut members, 30)?;
    assert_eq!(shared.processed.lock().expect("lock").len(), 2_000);
    send(&broker, 2_000, 4_000)?;
    // The first member processes one batch of the new records, then leaves.
    let mut firsts0 = BTreeSet::new();
    process(
        &mut members[0],
        0,
        &shared,
        &mut firsts0,
        Some(&*positions[0]),
    )?;
    let leaving = members[0].assignment();
    let events_before = shared.events.lock().expect("lock").len();
    members.remove(0).close()?;
    let told: Vec<Event> = shared.events.lock().expect("lock")[events_before..].to_vec();
    let revoked: BTreeSet<&TopicPartition> = told
        .iter()
        .filter_map(|e| match e {
            Event::Revoked {
                member: 0,
                partitions,
                ..
            } => Some(partitions),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        revoked,
        leaving.iter().collect(),
        "close() tells the listener that the member's partitions are revoked"
    );
    let until = Instant::now() + DEADLINE;
    let mut firsts1 = BTreeSet::new();
    // Reads until a poll comes back empty: all there is to read has been read.
    while Instant::now() < until {
        if process(
            &mut members[0],
            1,
            &shared,
            &mut firsts1,
            Some(&*positions[1]),
        )? == 0
        {
            break;
        }
    }
    let processed = shared.processed.lock().expect("lock").clone();
    let unique: BTreeSet<(u32, u64)> = processed.iter().map(|&(_, p, o)| (p, o)).collect();
    assert_eq!(unique.len(), 4_000, "every record processed");
    assert_eq!(
        processed.len(),
        4_000,
        "no record processed twice: the listener commits on close"
    );
    Ok(())
}
