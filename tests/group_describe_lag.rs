//! `describe_group` reports a group's generation, members and their assignments, and for every partition it committed or is assigned the committed offset, log start, high watermark and lag (high watermark minus the commit, or minus the log start without a commit, never negative); `groups()` lists exactly the groups with commits or members; an unknown group is `Error::UnknownGroup`.

use std::collections::BTreeSet;
use std::time::Duration;

use strom::{
    Broker, Consumer, ConsumerConfig, Error, OffsetReset, PartitionLag, Record, Result,
    TopicConfig, TopicPartition,
};

const TOPIC: &str = "trades";
const WAIT: Duration = Duration::from_secs(5);
/// Records in partitions 0, 1 and 2.
const COUNTS: [u64; 3] = [10, 20, 30];

fn tp(partition: u32) -> TopicPartition {
    TopicPartition::new(TOPIC, partition)
}

fn fixture(dir: &std::path::Path) -> Result<Broker> {
    let broker = Broker::open(dir)?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(3))?;
    for (p, n) in (0..).zip(COUNTS) {
        let records = (0..n).map(|i| Record::new(format!("{p}-{i}")).partition(p));
        broker.producer().send_batch(TOPIC, records)?;
    }
    Ok(broker)
}

fn consumer(broker: &Broker, group: &str) -> Consumer {
    broker.consumer(
        ConsumerConfig::default()
            .group_id(group)
            .auto_offset_reset(OffsetReset::Earliest)
            .enable_auto_commit(false)
            .max_poll_records(5),
    )
}

fn lag(tp: TopicPartition, committed: Option<u64>, high_watermark: u64, lag: u64) -> PartitionLag {
    PartitionLag {
        topic_partition: tp,
        committed,
        log_start_offset: 0,
        high_watermark,
        lag,
    }
}

fn assert_unknown(broker: &Broker, group: &str) {
    match broker.describe_group(group) {
        Err(Error::UnknownGroup { group_id }) => assert_eq!(group_id, group),
        other => panic!("describe_group({group:?}) should be UnknownGroup: {other:?}"),
    }
}

#[test]
fn members_assignments_and_lag() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = fixture(dir.path())?;
    assert_unknown(&broker, "g");
    assert!(broker.groups().is_empty());

    let mut member = consumer(&broker, "g");
    member.subscribe([TOPIC])?;
    let records = member.poll(WAIT)?;
    assert_eq!(records.len(), 5, "one poll of max_poll_records");
    let id = member.member_id().expect("subscribed").to_string();
    let desc = broker.describe_group("g")?;
    assert_eq!(desc.group_id, "g");
    assert!(desc.generation >= 1, "{desc:?}");
    assert_eq!(desc.members.len(), 1);
    assert_eq!(desc.members[0].member_id, id);
    assert_eq!(desc.members[0].assignment, [tp(0), tp(1), tp(2)]);
    assert_eq!(member.assignment(), [tp(0), tp(1), tp(2)]);
    // Nothing committed: the lag counts from the log start, whatever was polled.
    assert_eq!(
        desc.partitions,
        [
            lag(tp(0), None, 10, 10),
            lag(tp(1), None, 20, 20),
            lag(tp(2), None, 30, 30)
        ]
    );
    assert_eq!(broker.groups(), ["g"], "a group with members");

    member.commit_offsets(&[(tp(0), 4), (tp(1), 20)])?;
    // An offset beyond the high watermark is stored as given; the lag does not go negative.
    member.commit_offsets(&[(tp(2), 100)])?;
    let desc = broker.describe_group("g")?;
    assert_eq!(
        desc.partitions,
        [
            lag(tp(0), Some(4), 10, 6),
            lag(tp(1), Some(20), 20, 0),
            lag(tp(2), Some(100), 30, 0)
        ]
    );
    // The lag follows the high watermark.
    broker
        .producer()
        .send(TOPIC, Record::new("more").partition(1))?;
    let desc = broker.describe_group("g")?;
    assert_eq!(desc.partitions[1], lag(tp(1), Some(20), 21, 1));

    // Committed but without members: still a group, with its partitions and no members.
    let generation = desc.generation;
    member.close()?;
    assert_eq!(broker.groups(), ["g"]);
    let desc = broker.describe_group("g")?;
    assert!(desc.members.is_empty(), "{desc:?}");
    assert!(desc.generation > generation, "leaving starts a generation");
    assert_eq!(desc.partitions.len(), 3);
    broker.close()
}

#[test]
fn partitions_listed_are_those_committed_or_assigned() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = fixture(dir.path())?;
    broker.create_topic("other", TopicConfig::default().partitions(2))?;
    // Committed without ever being a member: one partition of each topic.
    let mut outsider = consumer(&broker, "g");
    outsider.commit_offsets(&[(tp(1), 3), (TopicPartition::new("other", 1), 0)])?;
    let desc = broker.describe_group("g")?;
    assert!(desc.members.is_empty());
    let listed: Vec<&TopicPartition> = desc.partitions.iter().map(|l| &l.topic_partition).collect();
    assert_eq!(listed, [&TopicPartition::new("other", 1), &tp(1)]);
    assert_eq!(desc.partitions[0].lag, 0, "an empty partition has no lag");
    assert_eq!(desc.partitions[1], lag(tp(1), Some(3), 20, 17));

    // A member of `trades` adds the partitions it is assigned.
    let mut member = consumer(&broker, "g");
    member.subscribe([TOPIC])?;
    member.poll(WAIT)?;
    let desc = broker.describe_group("g")?;
    let listed: BTreeSet<TopicPartition> = desc
        .partitions
        .iter()
        .map(|l| l.topic_partition.clone())
        .collect();
    assert_eq!(
        listed,
        BTreeSet::from([TopicPartition::new("other", 1), tp(0), tp(1), tp(2)])
    );
    let sorted: Vec<&TopicPartition> = desc.partitions.iter().map(|l| &l.topic_partition).collect();
    assert!(
        sorted.windows(2).all(|w| w[0] < w[1]),
        "in order: {sorted:?}"
    );
    member.close()?;
    drop(outsider);
    broker.close()
}

#[test]
fn groups_lists_groups_with_commits_or_members() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = fixture(dir.path())?;
    let mut committer = consumer(&broker, "committed");
    committer.commit_offsets(&[(tp(0), 1)])?;
    let mut a = consumer(&broker, "active");
    a.subscribe([TOPIC])?;
    let mut b = consumer(&broker, "active");
    b.subscribe([TOPIC])?;
    // A consumer with a group id that neither subscribed nor committed makes no group.
    let idle = consumer(&broker, "idle");
    assert_eq!(idle.committed(&tp(0))?, None);
    assert_eq!(broker.groups(), ["active", "committed"]);
    assert_unknown(&broker, "idle");
    let desc = broker.describe_group("active")?;
    let ids: BTreeSet<&str> = desc.members.iter().map(|m| m.member_id.as_str()).collect();
    let expected: BTreeSet<&str> = [a.member_id(), b.member_id()]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(ids.len(), 2);
    let union: BTreeSet<&TopicPartition> =
        desc.members.iter().flat_map(|m| &m.assignment).collect();
    let total: usize = desc.members.iter().map(|m| m.assignment.len()).sum();
    assert_eq!(union.len(), 3, "{desc:?}");
    assert_eq!(total, 3, "no partition is assigned twice: {desc:?}");

    // With its members gone and nothing committed, the group stays, empty, as Kafka keeps
    // it; it is not written down, so a restart forgets it.
    a.close()?;
    assert_eq!(broker.groups(), ["active", "committed"], "one member left");
    b.close()?;
    assert_eq!(broker.groups(), ["active", "committed"]);
    assert!(broker.describe_group("active")?.members.is_empty());
    // Committed offsets outlive a restart; the group is still listed.
    drop((committer, idle));
    broker.close()?;
    let broker = Broker::open(dir.path())?;
    assert_eq!(broker.groups(), ["committed"]);
    assert_unknown(&broker, "active");
    let desc = broker.describe_group("committed")?;
    assert_eq!(desc.generation, 0, "no member joined since the restart");
    assert_eq!(desc.partitions, [lag(tp(0), Some(1), 10, 9)]);
    assert_unknown(&broker, "active");
    broker.close()
}

/// Retention moved the log start past the commit: `committed` is reported as stored and
/// the lag counts from the log start.
#[test]
fn a_commit_below_the_log_start_counts_from_the_log_start() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    let config = TopicConfig::default()
        .segment_bytes(4096)
        .retention_bytes(8192);
    broker.create_topic("short", config)?;
    let producer = broker.producer();
    for i in 0..300 {
        producer.send("short", Record::new(format!("{i:0>100}")))?;
    }
    let short = TopicPartition::new("short", 0);
    let mut member = consumer(&broker, "g");
    member.commit_offsets(&[(short.clone(), 1)])?;
    broker.run_maintenance()?;
    let partition = broker.describe_topic("short")?.partitions[0].clone();
    assert!(
        partition.log_start_offset > 1,
        "retention deleted segments: {partition:?}"
    );
    assert_eq!(partition.high_watermark, 300);
    let desc = broker.describe_group("g")?;
    assert_eq!(
        desc.partitions,
        [PartitionLag {
            topic_partition: short,
            committed: Some(1),
            log_start_offset: partition.log_start_offset,
            high_watermark: 300,
            lag: 300 - partition.log_start_offset,
        }]
    );
    broker.close()
}
