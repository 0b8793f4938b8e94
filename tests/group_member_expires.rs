//! A member that stops polling for longer than its `max_poll_interval` (without closing) is removed from its group: the member that keeps polling takes over every partition, `describe_group` no longer lists the stale one, and when the stale member polls again it rejoins under a new member id and the partitions are shared again. A member that polls in time, or is blocked inside `poll`, is not removed.

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};

use strom::{Broker, Consumer, ConsumerConfig, OffsetReset, Result, TopicConfig, TopicPartition};

const TOPIC: &str = "sensors";
const GROUP: &str = "alerts";
const PARTITIONS: u32 = 4;
const STALE_AFTER: Duration = Duration::from_millis(300);
const POLL: Duration = Duration::from_millis(20);
/// Bounds every wait loop.
const DEADLINE: Duration = Duration::from_secs(10);

fn all_partitions() -> BTreeSet<TopicPartition> {
    (0..PARTITIONS)
        .map(|p| TopicPartition::new(TOPIC, p))
        .collect()
}

fn member(broker: &Broker, max_poll_interval: Duration) -> Result<Consumer> {
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .group_id(GROUP)
            .auto_offset_reset(OffsetReset::Earliest)
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

#[test]
fn a_member_that_stops_polling_is_removed_and_rejoins_when_it_polls_again() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    let mut stale = member(&broker, STALE_AFTER)?;
    let mut alive = member(&broker, Duration::from_secs(300))?;
    settle(&mut stale, &mut alive)?;
    let stale_id = stale.member_id().expect("subscribed").to_string();
    let alive_id = alive.member_id().expect("subscribed").to_string();
    assert_eq!(
        listed(&broker)?,
        BTreeSet::from([stale_id.clone(), alive_id.clone()])
    );

    // `stale` stops polling; `alive` goes on and ends up with everything.
    let until = Instant::now() + DEADLINE;
    while alive.assignment().iter().cloned().collect::<BTreeSet<_>>() != all_partitions() {
        assert!(
            Instant::now() < until,
            "the polling member never took over: it holds {:?}",
            alive.assignment()
        );
        alive.poll(POLL)?;
    }
    assert_eq!(listed(&broker)?, BTreeSet::from([alive_id.clone()]));
    assert_eq!(
        alive.member_id(),
        Some(alive_id.as_str()),
        "the live member kept its id"
    );

    // Polling again, the stale member rejoins under a new id and gets a share back.
    stale.poll(POLL)?;
    let rejoined_id = stale.member_id().expect("still subscribed").to_string();
    assert_ne!(
        rejoined_id, stale_id,
        "a removed member rejoins with a new id"
    );
    assert_eq!(
        listed(&broker)?,
        BTreeSet::from([rejoined_id.clone(), alive_id.clone()])
    );
    settle(&mut stale, &mut alive)?;
    assert_eq!(stale.member_id(), Some(rejoined_id.as_str()));
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

#[test]
fn a_member_that_polls_in_time_stays() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    // 300 ms allowed between polls, polled about every 40 ms: far inside the limit.
    let mut a = member(&broker, STALE_AFTER)?;
    let mut b = member(&broker, STALE_AFTER)?;
    settle(&mut a, &mut b)?;
    let ids = listed(&broker)?;
    let generation = broker.describe_group(GROUP)?.generation;
    let until = Instant::now() + 4 * STALE_AFTER;
    while Instant::now() < until {
        a.poll(POLL)?;
        b.poll(POLL)?;
    }
    assert_eq!(listed(&broker)?, ids);
    assert_eq!(
        broker.describe_group(GROUP)?.generation,
        generation,
        "no rebalance"
    );
    assert!(shared_fairly(&a, &b));
    Ok(())
}

/// A member blocked in a `poll` longer than its `max_poll_interval` is polling, not stale.
#[test]
fn a_member_blocked_in_a_long_poll_stays() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    let interval = Duration::from_secs(1);
    let mut waiting = member(&broker, interval)?;
    let mut other = member(&broker, interval)?;
    settle(&mut waiting, &mut other)?;
    let id = waiting.member_id().expect("subscribed").to_string();
    let generation = broker.describe_group(GROUP)?.generation;
    let blocked = thread::spawn(move || -> Result<Consumer> {
        // No record arrives: the poll lasts its whole timeout, three times the interval.
        let records = waiting.poll(3 * interval)?;
        assert!(records.is_empty());
        Ok(waiting)
    });
    let until = Instant::now() + 3 * interval;
    while Instant::now() < until {
        other.poll(POLL)?;
    }
    let waiting = blocked.join().expect("polling thread")?;
    assert_eq!(waiting.member_id(), Some(id.as_str()), "never removed");
    assert_eq!(
        broker.describe_group(GROUP)?.generation,
        generation,
        "no rebalance"
    );
    assert!(shared_fairly(&waiting, &other));
    Ok(())
}

/// Expiry does not wait for another member to poll: as in Kafka, where the stale client
/// leaves its group once `max.poll.interval.ms` has passed, a lone member that stops polling
/// is gone from `describe_group` soon after its interval.
#[test]
fn a_lone_member_that_stops_polling_is_removed() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    let mut lone = member(&broker, STALE_AFTER)?;
    lone.poll(POLL)?;
    assert_eq!(lone.assignment().len(), PARTITIONS as usize);
    let id = lone.member_id().expect("subscribed").to_string();
    assert_eq!(listed(&broker)?, BTreeSet::from([id]));
    // A generous bound: ten times the interval.
    let until = Instant::now() + 10 * STALE_AFTER;
    // With no member and no commit left, the group is unknown.
    while !matches!(
        broker.describe_group(GROUP),
        Err(strom::Error::UnknownGroup { .. })
    ) {
        assert!(
            Instant::now() < until,
            "a member that stopped polling {STALE_AFTER:?} ago is still listed: {:?}",
            broker.describe_group(GROUP)?
        );
        thread::sleep(POLL);
    }
    assert!(broker.groups().is_empty());
    lone.poll(POLL)?;
    assert_eq!(listed(&broker)?.len(), 1, "it rejoins when it polls again");
    Ok(())
}
