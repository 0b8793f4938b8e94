//! Misuse of groups fails with the right error and changes nothing: subscribe, commit and committed without a group id are `InvalidConfig`; subscribing to an unknown topic is `UnknownTopic` and joins nothing; `assign` and `subscribe` exclude each other (`IllegalState`, as Kafka's `IllegalStateException`) until undone, and `poll` without either is `IllegalState` too; `unsubscribe` leaves the group and its partitions go to the other members.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use strom::{
    Broker, Consumer, ConsumerConfig, Error, OffsetReset, Result, TopicConfig, TopicPartition,
};

const TOPIC: &str = "jobs";
const PARTITIONS: u32 = 4;
const POLL: Duration = Duration::from_millis(20);
/// Bounds every wait loop.
const DEADLINE: Duration = Duration::from_secs(10);

fn tp(partition: u32) -> TopicPartition {
    TopicPartition::new(TOPIC, partition)
}

fn open(dir: &std::path::Path) -> Result<Broker> {
    let broker = Broker::open(dir)?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    Ok(broker)
}

fn member_config() -> ConsumerConfig {
    ConsumerConfig::default()
        .group_id("workers")
        .auto_offset_reset(OffsetReset::Earliest)
}

fn assert_invalid_config<T: std::fmt::Debug>(result: Result<T>, what: &str) {
    match result {
        Err(Error::InvalidConfig { reason }) => assert!(!reason.is_empty(), "{what}"),
        other => panic!("{what}: expected InvalidConfig, got {other:?}"),
    }
}

fn assert_illegal_state<T: std::fmt::Debug>(result: Result<T>, what: &str) {
    match result {
        Err(Error::IllegalState { reason }) => assert!(!reason.is_empty(), "{what}"),
        other => panic!("{what}: expected IllegalState, got {other:?}"),
    }
}

#[test]
fn group_operations_need_a_group_id() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    let mut consumer = broker.consumer(ConsumerConfig::default());
    assert_invalid_config(consumer.subscribe([TOPIC]), "subscribe without group_id");
    assert_eq!(consumer.member_id(), None);
    assert_invalid_config(consumer.commit(), "commit without group_id");
    assert_invalid_config(
        consumer.commit_offsets(&[(tp(0), 1)]),
        "commit_offsets without group_id",
    );
    assert_invalid_config(consumer.committed(&tp(0)), "committed without group_id");
    // An empty group id is no group id.
    let mut empty = broker.consumer(ConsumerConfig::default().group_id(""));
    assert_invalid_config(empty.subscribe([TOPIC]), "subscribe with group_id \"\"");
    assert_invalid_config(empty.commit(), "commit with group_id \"\"");
    assert!(broker.groups().is_empty());
    // Manual assignment works without a group.
    consumer.assign(&[tp(0)])?;
    assert_eq!(consumer.assignment(), [tp(0)]);
    Ok(())
}

#[test]
fn subscribing_to_an_unknown_topic_fails_and_joins_nothing() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    let mut consumer = broker.consumer(member_config());
    for topics in [vec!["missing"], vec![TOPIC, "missing"]] {
        match consumer.subscribe(&topics) {
            Err(Error::UnknownTopic { topic }) => assert_eq!(topic, "missing"),
            other => panic!("subscribe({topics:?}): expected UnknownTopic, got {other:?}"),
        }
        assert_eq!(consumer.member_id(), None, "not a member");
        assert!(broker.groups().is_empty(), "no group was joined");
    }
    // The consumer is still usable.
    consumer.subscribe([TOPIC])?;
    assert!(consumer.member_id().is_some());
    Ok(())
}

#[test]
fn assign_and_subscribe_exclude_each_other() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;

    let mut subscribed = broker.consumer(member_config());
    subscribed.subscribe([TOPIC])?;
    subscribed.poll(POLL)?;
    let held = subscribed.assignment();
    assert_eq!(held.len(), PARTITIONS as usize);
    assert_illegal_state(subscribed.assign(&[tp(0)]), "assign after subscribe");
    assert_eq!(subscribed.assignment(), held, "unchanged");
    assert!(subscribed.member_id().is_some(), "still a member");

    let mut assigned = broker.consumer(member_config());
    assigned.assign(&[tp(1)])?;
    assert_illegal_state(assigned.subscribe([TOPIC]), "subscribe after assign");
    assert_eq!(assigned.assignment(), [tp(1)], "unchanged");
    assert_eq!(assigned.member_id(), None, "not a member");
    let members = broker.describe_group("workers")?.members;
    assert_eq!(members.len(), 1, "only the subscribed consumer is a member");
    // An empty assignment undoes `assign`.
    assigned.assign(&[])?;
    assigned.subscribe([TOPIC])?;
    assert!(assigned.member_id().is_some());
    Ok(())
}

/// Kafka's `unsubscribe()` also clears partitions given by `assign`: afterwards the consumer
/// may subscribe.
#[test]
fn unsubscribe_clears_a_manual_assignment() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    let mut consumer = broker.consumer(member_config());
    consumer.assign(&[tp(1)])?;
    consumer.unsubscribe()?;
    assert!(
        consumer.assignment().is_empty(),
        "unsubscribe clears the manual assignment: {:?}",
        consumer.assignment()
    );
    consumer.subscribe([TOPIC])?;
    assert!(consumer.member_id().is_some());
    Ok(())
}

/// Polls the subscribed consumers in turn until `done` says so.
fn poll_until(
    consumers: &mut [&mut Consumer],
    done: impl Fn(&[&mut Consumer]) -> bool,
) -> Result<()> {
    let until = Instant::now() + DEADLINE;
    while !done(consumers) {
        assert!(Instant::now() < until, "timed out");
        for c in consumers.iter_mut() {
            if c.member_id().is_some() {
                c.poll(POLL)?;
            }
        }
    }
    Ok(())
}

#[test]
fn unsubscribe_hands_the_partitions_to_the_other_members() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    let mut a = broker.consumer(member_config());
    let mut b = broker.consumer(member_config());
    a.subscribe([TOPIC])?;
    b.subscribe([TOPIC])?;
    poll_until(&mut [&mut a, &mut b], |c| {
        c.iter().all(|c| !c.assignment().is_empty())
            && c.iter().map(|c| c.assignment().len()).sum::<usize>() == PARTITIONS as usize
    })?;
    let a_id = a.member_id().expect("subscribed").to_string();
    let b_id = b.member_id().expect("subscribed").to_string();
    a.unsubscribe()?;
    assert!(
        a.assignment().is_empty(),
        "unsubscribe drops the partitions"
    );
    assert_eq!(a.member_id(), None, "and the membership");
    let desc = broker.describe_group("workers")?;
    let ids: Vec<&str> = desc.members.iter().map(|m| m.member_id.as_str()).collect();
    assert_eq!(ids, [b_id.as_str()]);
    assert_eq!(desc.members[0].assignment.len(), PARTITIONS as usize);
    poll_until(&mut [&mut a, &mut b], |c| {
        c[1].assignment().len() == PARTITIONS as usize
    })?;
    let held: BTreeSet<TopicPartition> = b.assignment().into_iter().collect();
    assert_eq!(held, (0..PARTITIONS).map(tp).collect());
    // A consumer that unsubscribed may poll no more, but may subscribe again, as a new member.
    assert_illegal_state(a.poll(POLL), "poll after unsubscribe");
    a.subscribe([TOPIC])?;
    assert!(a.member_id().is_some_and(|id| id != a_id));
    poll_until(&mut [&mut a, &mut b], |c| {
        c.iter().all(|c| !c.assignment().is_empty())
    })?;
    Ok(())
}
