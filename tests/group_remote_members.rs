//! Group members driven from outside the process (`Broker::join_group`, as a
//! Kafka-protocol server drives one per remote consumer): two remote members converge to
//! one generation and split the partitions, eager or cooperative; a rejoin with the same
//! subscription starts no generation while a changed subscription, a new member, a leave
//! and a new subscribed topic do; a remote member and an in-process consumer split a topic
//! and see each other's commits; a silent remote member is removed after its session
//! timeout and its partitions move; refused calls carry the kind a Kafka error code maps.
//!
//! Each remote member is driven by `Client`, a model of a Kafka client's group loop
//! (join, sync until assigned, heartbeat, rejoin when told of a rebalance), one step at a
//! time. Waits are on states, bounded by a deadline; no assertion rests on a sleep.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use strom::{
    AssignmentStrategy, Broker, Consumer, ConsumerConfig, Error, GroupMember, JoinGroup,
    MembershipError, OffsetReset, Record, Result, TopicConfig, TopicPartition,
};

const TOPIC: &str = "sensors";
const GROUP: &str = "alerts";
const PARTITIONS: u32 = 4;
/// Bounds every wait loop; only a broken group comes near it.
const DEADLINE: Duration = Duration::from_secs(30);
/// A session that does not run out during a test.
const LONG_SESSION: Duration = Duration::from_secs(300);

fn all_partitions() -> BTreeSet<TopicPartition> {
    (0..PARTITIONS)
        .map(|p| TopicPartition::new(TOPIC, p))
        .collect()
}

fn broker_with_topic() -> Result<(tempfile::TempDir, Broker)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    Ok((dir, broker))
}

fn kind(result: Result<impl std::fmt::Debug>) -> MembershipError {
    match result {
        Err(Error::Membership { kind, group_id, .. }) => {
            assert_eq!(group_id, GROUP, "the error names the group");
            kind
        }
        other => panic!("expected a membership error, got {other:?}"),
    }
}

/// A Kafka client's group loop, one step at a time.
struct Client {
    broker: Broker,
    strategy: AssignmentStrategy,
    session: Duration,
    member: Option<GroupMember>,
    /// The partitions it reads: its assignment once synced; an eager client drops them all
    /// when it rejoins, a cooperative one keeps them until its next assignment.
    assignment: Vec<TopicPartition>,
    synced: bool,
    /// How many times it joined.
    joins: usize,
}

impl Client {
    fn new(broker: &Broker, strategy: AssignmentStrategy, session: Duration) -> Self {
        Self {
            broker: broker.clone(),
            strategy,
            session,
            member: None,
            assignment: Vec::new(),
            synced: false,
            joins: 0,
        }
    }

    fn eager(&self) -> bool {
        self.strategy != AssignmentStrategy::CooperativeSticky
    }

    fn join(&mut self) -> Result<()> {
        let mut request = JoinGroup::new([TOPIC])
            .session_timeout(self.session)
            .strategy(self.strategy);
        if let Some(member) = &self.member {
            request = request.member_id(member.member_id());
        }
        if self.eager() {
            // Eager clients revoke everything before they rejoin.
            self.assignment.clear();
        } else {
            request = request.owned(self.assignment.clone());
        }
        match self.broker.join_group(GROUP, request) {
            Ok(member) => self.member = Some(member),
            Err(Error::Membership {
                kind: MembershipError::UnknownMember,
                ..
            }) => {
                // Removed: join again as a new member, holding nothing.
                self.member = None;
                self.assignment.clear();
                return self.join();
            }
            Err(e) => return Err(e),
        }
        self.synced = false;
        self.joins += 1;
        Ok(())
    }

    /// One request: join, sync or heartbeat, whichever the client is at.
    fn step(&mut self) -> Result<()> {
        let Some(member) = self.member.clone() else {
            return self.join();
        };
        if !self.synced {
            match member.sync() {
                Ok(Some(assignment)) => {
                    assert_eq!(assignment.generation, member.generation());
                    let revoked = self
                        .assignment
                        .iter()
                        .any(|tp| !assignment.partitions.contains(tp));
                    self.assignment = assignment.partitions;
                    self.synced = true;
                    if revoked {
                        // A cooperative client gives up what it lost, then rejoins.
                        self.join()?;
                    }
                }
                Ok(None) => {}
                Err(Error::Membership { .. }) => self.join()?,
                Err(e) => return Err(e),
            }
            return Ok(());
        }
        match member.heartbeat(member.generation()) {
            Ok(()) => Ok(()),
            Err(Error::Membership { .. }) => self.join(),
            Err(e) => Err(e),
        }
    }

    /// Synced, and the group is still at its generation.
    fn settled(&self) -> bool {
        self.synced
            && self.member.as_ref().is_some_and(|m| {
                self.broker
                    .describe_group(GROUP)
                    .is_ok_and(|d| d.generation == m.generation())
            })
    }

    fn member(&self) -> &GroupMember {
        self.member.as_ref().expect("joined")
    }
}

fn disjoint(a: &[TopicPartition], b: &[TopicPartition]) -> bool {
    a.iter().all(|tp| !b.contains(tp))
}

fn split(a: &[TopicPartition], b: &[TopicPartition]) -> bool {
    let union: BTreeSet<TopicPartition> = a.iter().chain(b).cloned().collect();
    !a.is_empty() && !b.is_empty() && disjoint(a, b) && union == all_partitions()
}

/// Steps both clients in turn until they split the partitions and are settled; checks at
/// every step that no partition is read by both. Returns the steps it took.
fn converge(a: &mut Client, b: &mut Client) -> Result<usize> {
    let mut steps = 0;
    while !(a.settled() && b.settled() && split(&a.assignment, &b.assignment)) {
        assert!(steps < 200, "no convergence after {steps} steps");
        a.step()?;
        b.step()?;
        assert!(
            disjoint(&a.assignment, &b.assignment),
            "a partition read by both: {:?} and {:?}",
            a.assignment,
            b.assignment
        );
        steps += 1;
    }
    Ok(steps)
}

fn two_remote_members_converge(strategy: AssignmentStrategy) -> Result<()> {
    let (_dir, broker) = broker_with_topic()?;
    let mut a = Client::new(&broker, strategy, LONG_SESSION);
    let mut b = Client::new(&broker, strategy, LONG_SESSION);
    // A alone takes everything, then B joins.
    while !a.settled() {
        a.step()?;
    }
    assert_eq!(
        a.assignment.iter().cloned().collect::<BTreeSet<_>>(),
        all_partitions()
    );
    let steps = converge(&mut a, &mut b)?;
    assert!(steps <= 10, "converged only after {steps} steps");
    let generation = broker.describe_group(GROUP)?.generation;
    assert_eq!(a.member().generation(), generation);
    assert_eq!(b.member().generation(), generation);
    assert_eq!(a.assignment.len(), 2);
    assert_eq!(b.assignment.len(), 2);

    // Stable: heartbeats go on, nobody rejoins, the generation stays.
    let joins = (a.joins, b.joins);
    for _ in 0..50 {
        a.step()?;
        b.step()?;
    }
    assert_eq!(
        (a.joins, b.joins),
        joins,
        "a member rejoined with nothing changing"
    );
    assert_eq!(broker.describe_group(GROUP)?.generation, generation);

    // What describe_group reports is what the members hold.
    let described = broker.describe_group(GROUP)?;
    let mut members: Vec<(String, Vec<TopicPartition>)> = described
        .members
        .into_iter()
        .map(|m| (m.member_id, m.assignment))
        .collect();
    members.sort();
    let mut expected = vec![
        (a.member().member_id().to_string(), a.assignment.clone()),
        (b.member().member_id().to_string(), b.assignment.clone()),
    ];
    expected.sort();
    assert_eq!(members, expected);
    Ok(())
}

#[test]
fn two_eager_remote_members_converge_to_one_generation_and_split_the_topic() -> Result<()> {
    two_remote_members_converge(AssignmentStrategy::Range)
}

#[test]
fn two_cooperative_remote_members_converge_to_one_generation_and_split_the_topic() -> Result<()> {
    two_remote_members_converge(AssignmentStrategy::CooperativeSticky)
}

#[test]
fn only_a_change_starts_a_generation() -> Result<()> {
    let (_dir, broker) = broker_with_topic()?;
    let generation = || broker.describe_group(GROUP).map(|d| d.generation);
    let a = broker.join_group(GROUP, JoinGroup::new([TOPIC]))?;
    let g = a.generation();
    assert_eq!(generation()?, g);

    // The same subscription: the same generation, as often as it rejoins.
    for _ in 0..3 {
        let again = broker.join_group(GROUP, JoinGroup::new([TOPIC]).member_id(a.member_id()))?;
        assert_eq!((again.generation(), again.member_id()), (g, a.member_id()));
    }
    assert_eq!(generation()?, g);

    // A changed subscription (a topic that does not exist yet counts).
    let changed = broker.join_group(
        GROUP,
        JoinGroup::new([TOPIC, "later"]).member_id(a.member_id()),
    )?;
    assert_eq!(changed.generation(), g + 1);
    // The subscribed topic appears.
    broker.create_topic("later", TopicConfig::default())?;
    assert_eq!(generation()?, g + 2);
    // A new member.
    let b = broker.join_group(GROUP, JoinGroup::new([TOPIC]))?;
    assert_eq!(b.generation(), g + 3);
    assert_ne!(b.member_id(), a.member_id());
    // A leave.
    b.leave()?;
    assert_eq!(generation()?, g + 4);
    // An id that is not a member's is refused, not taken as a new member.
    let unknown = broker.join_group(GROUP, JoinGroup::new([TOPIC]).member_id(b.member_id()));
    assert_eq!(kind(unknown), MembershipError::UnknownMember);
    assert_eq!(generation()?, g + 4);
    // An empty id is a new member, as Kafka clients send it.
    let c = broker.join_group(GROUP, JoinGroup::new([TOPIC]).member_id(""))?;
    assert_eq!(c.generation(), g + 5);
    Ok(())
}

/// An in-process member of `GROUP`, committing only when told.
fn in_process(broker: &Broker) -> Result<Consumer> {
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .group_id(GROUP)
            .auto_offset_reset(OffsetReset::Earliest)
            .enable_auto_commit(false)
            .max_poll_interval(LONG_SESSION),
    );
    consumer.subscribe([TOPIC])?;
    Ok(consumer)
}

#[test]
fn a_remote_member_and_an_in_process_consumer_split_the_topic_and_see_each_others_commits(
) -> Result<()> {
    let (_dir, broker) = broker_with_topic()?;
    let producer = broker.producer();
    for p in 0..PARTITIONS {
        for i in 0..10 {
            producer.send(TOPIC, Record::new(format!("{p}-{i}")).partition(p))?;
        }
    }
    let mut consumer = in_process(&broker)?;
    let mut remote = Client::new(&broker, AssignmentStrategy::Range, LONG_SESSION);
    let until = Instant::now() + DEADLINE;
    while !(remote.settled() && split(&consumer.assignment(), &remote.assignment)) {
        assert!(
            Instant::now() < until,
            "never split: {:?} and {:?}",
            consumer.assignment(),
            remote.assignment
        );
        consumer.poll(Duration::from_millis(5))?;
        remote.step()?;
        assert!(disjoint(&consumer.assignment(), &remote.assignment));
    }

    // Each commits for its partitions; each sees the other's.
    let generation = remote.member().generation();
    let remote_commits: Vec<(TopicPartition, u64)> =
        remote.assignment.iter().map(|tp| (tp.clone(), 7)).collect();
    remote.member().commit(generation, &remote_commits)?;
    let mine: Vec<(TopicPartition, u64)> = consumer
        .assignment()
        .into_iter()
        .map(|tp| (tp, 3))
        .collect();
    consumer.commit_offsets(&mine)?;
    for (tp, offset) in &remote_commits {
        assert_eq!(consumer.committed(tp)?, Some(*offset));
    }
    let described = broker.describe_group(GROUP)?;
    for (tp, offset) in mine.iter().chain(&remote_commits) {
        let lag = described
            .partitions
            .iter()
            .find(|p| &p.topic_partition == tp)
            .expect("described");
        assert_eq!(lag.committed, Some(*offset), "{tp}");
    }

    // The remote member leaves: the in-process consumer takes its partitions and reads them
    // from the remote member's commit.
    remote.member().leave()?;
    let mut first_read = std::collections::BTreeMap::new();
    let until = Instant::now() + DEADLINE;
    while first_read.len() < remote_commits.len() {
        assert!(Instant::now() < until, "never read {first_read:?}");
        for record in &consumer.poll(Duration::from_millis(5))? {
            let tp = TopicPartition::new(TOPIC, record.partition());
            first_read.entry(tp).or_insert(record.offset());
        }
        first_read.retain(|tp, _| remote_commits.iter().any(|(r, _)| r == tp));
    }
    for (tp, offset) in &remote_commits {
        assert_eq!(
            first_read.get(tp),
            Some(offset),
            "{tp} resumed at the remote commit"
        );
    }
    assert_eq!(
        consumer.assignment().into_iter().collect::<BTreeSet<_>>(),
        all_partitions()
    );
    Ok(())
}

#[test]
fn a_remote_member_waits_for_an_in_process_owner_to_let_go() -> Result<()> {
    let (_dir, broker) = broker_with_topic()?;
    let mut consumer = in_process(&broker)?;
    consumer.poll(Duration::from_millis(5))?;
    assert_eq!(consumer.assignment().len(), PARTITIONS as usize);
    let member = broker.join_group(GROUP, JoinGroup::new([TOPIC]))?;
    // The consumer has not polled since: it still holds the partitions.
    assert_eq!(member.sync()?, None);
    consumer.poll(Duration::from_millis(5))?;
    let assignment = member.sync()?.expect("let go at the poll");
    assert!(!assignment.partitions.is_empty());
    assert!(disjoint(&assignment.partitions, &consumer.assignment()));
    Ok(())
}

#[test]
fn a_silent_remote_member_is_removed_after_its_session_timeout() -> Result<()> {
    let (_dir, broker) = broker_with_topic()?;
    let mut silent = Client::new(&broker, AssignmentStrategy::Range, Duration::from_secs(1));
    let mut alive = Client::new(&broker, AssignmentStrategy::Range, LONG_SESSION);
    converge(&mut silent, &mut alive)?;
    let gone = silent.member().clone();

    // Only `alive` goes on; its calls expire the silent member once its session is over.
    let until = Instant::now() + DEADLINE;
    loop {
        assert!(
            Instant::now() < until,
            "the silent member was never removed"
        );
        alive.step()?;
        let described = broker.describe_group(GROUP)?;
        let ids: Vec<&str> = described
            .members
            .iter()
            .map(|m| m.member_id.as_str())
            .collect();
        if ids == [alive.member().member_id()] {
            break;
        }
        assert!(ids.contains(&gone.member_id()), "{ids:?}");
    }
    // Its partitions move to the member that stayed.
    let until = Instant::now() + DEADLINE;
    while !(alive.settled() && alive.assignment.len() == PARTITIONS as usize) {
        assert!(
            Instant::now() < until,
            "never took over: {:?}",
            alive.assignment
        );
        alive.step()?;
    }
    // The removed member's calls are refused as an unknown member's.
    assert_eq!(
        kind(gone.heartbeat(gone.generation())),
        MembershipError::UnknownMember
    );
    assert_eq!(kind(gone.sync()), MembershipError::UnknownMember);
    assert_eq!(
        kind(broker.group_member(GROUP, gone.member_id())),
        MembershipError::UnknownMember
    );
    Ok(())
}

#[test]
fn refused_calls_carry_the_kind_of_refusal() -> Result<()> {
    let (_dir, broker) = broker_with_topic()?;
    let p = |n| TopicPartition::new(TOPIC, n);
    let a = broker.join_group(GROUP, JoinGroup::new([TOPIC]))?;
    let g = a.generation();
    assert_eq!(a.sync()?.map(|x| x.partitions.len()), Some(4));
    a.commit(g, &[(p(0), 1)])?;
    assert_eq!(
        kind(a.heartbeat(g + 10)),
        MembershipError::IllegalGeneration
    );
    assert_eq!(
        kind(a.commit(g + 10, &[(p(0), 2)])),
        MembershipError::IllegalGeneration
    );

    // B joins: A learns of it at its heartbeat and at a sync of the old generation.
    let b = broker.join_group(GROUP, JoinGroup::new([TOPIC]))?;
    assert_eq!(b.generation(), g + 1);
    assert_eq!(kind(a.heartbeat(g)), MembershipError::RebalanceInProgress);
    assert_eq!(kind(a.sync()), MembershipError::RebalanceInProgress);
    // A still holds every partition: it may commit them at its old generation, as an eager
    // client does before it rejoins; B may not commit what A holds.
    a.commit(g, &[(p(0), 2), (p(3), 2)])?;
    assert_eq!(
        kind(b.commit(g + 1, &[(p(3), 9)])),
        MembershipError::IllegalGeneration
    );
    assert_eq!(b.sync()?, None, "A holds B's partitions");

    // A rejoins, letting go of everything: its old generation is over.
    let a = broker.join_group(GROUP, JoinGroup::new([TOPIC]).member_id(a.member_id()))?;
    assert_eq!(a.generation(), g + 1);
    assert_eq!(
        kind(a.commit(g, &[(p(0), 3)])),
        MembershipError::IllegalGeneration
    );
    let b_share = b.sync()?.expect("free now").partitions;
    b.commit(g + 1, &[(b_share[0].clone(), 9)])?;
    assert_eq!(
        broker
            .describe_group(GROUP)?
            .partitions
            .iter()
            .find(|l| l.topic_partition == b_share[0])
            .and_then(|l| l.committed),
        Some(9)
    );
    // The found handle is the member, at its latest join.
    let found = broker.group_member(GROUP, a.member_id())?;
    assert_eq!((found.generation(), found.group_id()), (g + 1, GROUP));
    found.heartbeat(g + 1)?;

    // Left: every call is an unknown member's, and so is a consumer's id or another group.
    a.leave()?;
    assert_eq!(
        kind(a.commit(g + 2, &[(p(0), 4)])),
        MembershipError::UnknownMember
    );
    assert_eq!(kind(a.heartbeat(g + 2)), MembershipError::UnknownMember);
    assert_eq!(kind(a.leave()), MembershipError::UnknownMember);
    assert_eq!(
        kind(broker.group_member(GROUP, a.member_id())),
        MembershipError::UnknownMember
    );
    let consumer = in_process(&broker)?;
    let consumer_id = consumer.member_id().expect("subscribed").to_string();
    assert_eq!(
        kind(broker.group_member(GROUP, &consumer_id)),
        MembershipError::UnknownMember
    );
    assert!(matches!(
        broker.group_member("another", b.member_id()),
        Err(Error::Membership {
            kind: MembershipError::UnknownMember,
            ..
        })
    ));
    // A commit for a partition that does not exist names it.
    assert!(matches!(
        b.commit(b.generation(), &[(p(9), 1)]),
        Err(Error::InvalidPartition { partition: 9, .. })
    ));
    Ok(())
}
