//! A member that stops polling for longer than its `max_poll_interval` (without closing) is removed from its group: the member that keeps polling takes over every partition, `describe_group` no longer lists the stale one, and when the stale member polls again it rejoins under a new member id and the partitions are shared again. A member that polls in time, or is blocked inside `poll`, is not removed.
//!
//! The tests wait for states (`describe_group`, assignments), each wait bounded by a
//! generous deadline, and never on a sleep. Intervals are seconds long, so that a member
//! that polls every few milliseconds could only miss one if the machine stopped it for
//! that long, however loaded it is.

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};

use strom::{Broker, Consumer, ConsumerConfig, OffsetReset, Result, TopicConfig, TopicPartition};

const TOPIC: &str = "sensors";
const GROUP: &str = "alerts";
const PARTITIONS: u32 = 4;
/// The interval of a member that is meant to go stale.
const STALE_AFTER: Duration = Duration::from_secs(2);
/// The interval of the members that must stay: the test runs past it, while they poll far
/// more often (or wait in `poll`, which checks in at half of it).
const INTERVAL: Duration = Duration::from_secs(4);
/// The interval of a member whose expiry is not under test.
const NEVER_STALE: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(20);
/// Bounds every wait loop; only a broken group comes near it.
const DEADLINE: Duration = Duration::from_secs(30);

fn all_partitions() -> BTreeSet<TopicPartition> {
    (0..PARTITIONS)
        .map(|p| TopicPartition::new(TOPIC, p))
        .collect()
}

/// A member of `GROUP`. No automatic commits: a group with committed offsets is still
/// described after its last member went, and when an auto-commit fell due would depend on
/// how fast the test runs.
fn member(broker: &Broker, max_poll_interval: Duration) -> Result<Consumer> {
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .group_id(GROUP)
            .auto_offset_reset(OffsetReset::Earliest)
            .enable_auto_commit(false)
            .max_poll_interval(max_poll_interval),
    );
    consumer.subscribe([TOPIC])?;
    Ok(consumer)
}

/// Both members hold partitions, no partition twice, all of them together.
fn shared_fairly(a: &Consumer, b: &Consumer) -> bool {
    let (a, b) = (a.assignment(), b.assignment());
    let union: BTreeSet<TopicPartition> = a.iter().chain(&b).cloned().collect();
    !a.is_empty() && !b.is_empty() && a.len() + b.len() == union.len() && union == all_partitions()
}

/// Polls both in turn until they share the partitions.
fn settle(a: &mut Consumer, b: &mut Consumer) -> Result<()> {
    let until = Instant::now() + DEADLINE;
    while !shared_fairly(a, b) {
        assert!(
            Instant::now() < until,
            "the members do not share the partitions: {:?} and {:?}",
            a.assignment(),
            b.assignment()
        );
        a.poll(POLL)?;
        b.poll(POLL)?;
    }
    Ok(())
}

fn listed(broker: &Broker) -> Result<BTreeSet<String>> {
    Ok(broker
        .describe_group(GROUP)?
        .members
        .into_iter()
        .map(|m| m.member_id)
        .collect())
}

fn id(consumer: &Consumer) -> String {
    consumer.member_id().expect("subscribed").to_string()
}

/// The group still lists `ids` and is still in `generation`: nobody was removed.
fn unchanged(broker: &Broker, ids: &BTreeSet<String>, generation: u64) -> Result<()> {
    let desc = broker.describe_group(GROUP)?;
    let now: BTreeSet<String> = desc.members.iter().map(|m| m.member_id.clone()).collect();
    assert_eq!(&now, ids, "a member was removed: {desc:?}");
    assert_eq!(desc.generation, generation, "a rebalance: {desc:?}");
    Ok(())
}

#[test]
fn a_member_that_stops_polling_is_removed_and_rejoins_when_it_polls_again() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    let mut stale = member(&broker, STALE_AFTER)?;
    let mut alive = member(&broker, NEVER_STALE)?;
    settle(&mut stale, &mut alive)?;
    let (stale_id, alive_id) = (id(&stale), id(&alive));
    assert_eq!(
        listed(&broker)?,
        BTreeSet::from([stale_id.clone(), alive_id.clone()])
    );

    // `stale` stops polling; `alive` goes on until the group has only it, holding everything.
    let until = Instant::now() + DEADLINE;
    while listed(&broker)? != BTreeSet::from([alive_id.clone()])
        || alive.assignment().into_iter().collect::<BTreeSet<_>>() != all_partitions()
    {
        assert!(
            Instant::now() < until,
            "the stale member was not removed, or the polling one did not take over: {:?}; it holds {:?}",
            broker.describe_group(GROUP)?,
            alive.assignment()
        );
        alive.poll(POLL)?;
    }
    assert_eq!(id(&alive), alive_id, "the live member kept its id");

    // Polling again, the stale member rejoins under a new id and gets a share back.
    stale.poll(POLL)?;
    let rejoined_id = id(&stale);
    assert_ne!(
        rejoined_id, stale_id,
        "a removed member rejoins with a new id"
    );
    assert_eq!(
        listed(&broker)?,
        BTreeSet::from([rejoined_id.clone(), alive_id.clone()])
    );
    settle(&mut stale, &mut alive)?;
    assert_eq!(id(&stale), rejoined_id);
    let desc = broker.describe_group(GROUP)?;
    for m in &desc.members {
        let mine = if m.member_id == rejoined_id {
            stale.assignment()
        } else {
            alive.assignment()
        };
        assert_eq!(
            m.assignment.iter().collect::<BTreeSet<_>>(),
            mine.iter().collect::<BTreeSet<_>>(),
            "describe_group agrees with {}",
            m.member_id
        );
    }
    Ok(())
}

/// Two members polled in turn, every few tens of milliseconds, for longer than their
/// interval: neither is removed, and no rebalance happens.
#[test]
fn a_member_that_polls_in_time_stays() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    let mut a = member(&broker, INTERVAL)?;
    let mut b = member(&broker, INTERVAL)?;
    settle(&mut a, &mut b)?;
    let ids = BTreeSet::from([id(&a), id(&b)]);
    let generation = broker.describe_group(GROUP)?.generation;
    // Past the interval, so that a member whose polls did not count would be gone.
    let until = Instant::now() + INTERVAL + INTERVAL / 2;
    while Instant::now() < until {
        a.poll(POLL)?;
        b.poll(POLL)?;
        unchanged(&broker, &ids, generation)?;
    }
    assert_eq!(BTreeSet::from([id(&a), id(&b)]), ids);
    assert!(shared_fairly(&a, &b));
    Ok(())
}

/// A member blocked in a `poll` longer than its `max_poll_interval` is polling, not stale:
/// while it waits, the group keeps it and does not rebalance.
#[test]
fn a_member_blocked_in_a_long_poll_stays() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    let mut waiting = member(&broker, INTERVAL)?;
    let mut other = member(&broker, NEVER_STALE)?;
    settle(&mut waiting, &mut other)?;
    let waiting_id = id(&waiting);
    let ids = BTreeSet::from([waiting_id.clone(), id(&other)]);
    let generation = broker.describe_group(GROUP)?.generation;
    let blocked = thread::spawn(move || -> Result<Consumer> {
        // No record arrives and the group does not change: the poll lasts its whole
        // timeout, half as long again as the interval.
        let records = waiting.poll(INTERVAL + INTERVAL / 2)?;
        assert!(records.is_empty());
        Ok(waiting)
    });
    // The other member polls on, and would remove a stale member at its next poll.
    while !blocked.is_finished() {
        other.poll(POLL)?;
        unchanged(&broker, &ids, generation)?;
    }
    let waiting = blocked.join().expect("polling thread")?;
    assert_eq!(id(&waiting), waiting_id, "never removed");
    unchanged(&broker, &ids, generation)?;
    assert!(shared_fairly(&waiting, &other));
    Ok(())
}

/// Expiry does not wait for another member to poll: as in Kafka, where the stale client
/// leaves its group once `max.poll.interval.ms` has passed, a lone member that stops polling
/// is gone from `describe_group` after its interval (the broker's maintenance thread
/// removes it).
#[test]
fn a_lone_member_that_stops_polling_is_removed() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    let mut lone = member(&broker, STALE_AFTER)?;
    lone.poll(POLL)?;
    assert_eq!(lone.assignment().len(), PARTITIONS as usize);
    let lone_id = id(&lone);
    assert_eq!(listed(&broker)?, BTreeSet::from([lone_id.clone()]));
    // With no member and no commit left, the group stays, empty, as Kafka keeps it.
    let until = Instant::now() + DEADLINE;
    while !listed(&broker)?.is_empty() {
        assert!(
            Instant::now() < until,
            "a member that stopped polling is still listed: {:?}",
            broker.describe_group(GROUP)?
        );
        thread::sleep(POLL);
    }
    assert_eq!(broker.groups(), [GROUP]);
    lone.poll(POLL)?;
    let listed = listed(&broker)?;
    assert_eq!(listed.len(), 1, "it rejoins when it polls again");
    assert!(!listed.contains(&lone_id), "under a new id: {listed:?}");
    Ok(())
}
