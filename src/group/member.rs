//! Group members driven from outside the process, as a Kafka-protocol server drives one
//! for each remote consumer: join, sync, heartbeat, commit, leave (Kafka's classic group
//! protocol), in the same groups as in-process consumers.
//!
//! A remote member is never the group's leader: the group's assignor computes every
//! member's partitions, as for in-process members, and the member learns its own at
//! [`GroupMember::sync`]. A partition moves to it only once its previous owner let it go,
//! so a remote member and an in-process consumer never read a partition at once.
//!
//! Unlike an in-process consumer's, a remote member's join starts a new generation only
//! when the group's assignment must change: a member that rejoins because it learnt of a
//! rebalance (Kafka clients rejoin at every generation) joins the generation that
//! rebalance started, as in Kafka, where every member rejoins into one generation.
//! Otherwise two remote members would start a generation each time the other rejoined.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Group, GroupState, MemberState, PartitionCounts};
use crate::broker::Inner;
use crate::config::AssignmentStrategy;
use crate::error::{Error, MembershipError, Result};
use crate::offsets::{check_metadata, OffsetAndMetadata};
use crate::record::TopicPartition;

/// A request to join a consumer group as a member driven from outside the process, given
/// to [`Broker::join_group`](crate::Broker::join_group) (Kafka's `JoinGroup`).
///
/// ```
/// use std::time::Duration;
/// use strom::{AssignmentStrategy, JoinGroup, TopicPartition};
///
/// let request = JoinGroup::new(["payments"])
///     .member_id("consumer-billing-1")
///     .owned([TopicPartition::new("payments", 0)])
///     .session_timeout(Duration::from_secs(10))
///     .strategy(AssignmentStrategy::CooperativeSticky);
/// assert_eq!(request.topics, ["payments"]);
/// assert_eq!(request.member_id.as_deref(), Some("consumer-billing-1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JoinGroup {
    /// The member's id, as an earlier join returned it; `None` (or an empty id, which
    /// Kafka clients send) for a new member, which gets an id made in Kafka's style.
    pub member_id: Option<String>,
    /// The topics it subscribes to. Those that do not exist get no partitions until they
    /// are created.
    pub topics: Vec<String>,
    /// Partitions the member still holds and keeps through the rejoin (cooperative
    /// clients list them; eager clients revoked everything and list none). Everything else
    /// it held is released at the join, for the members the group gave it to.
    pub owned: Vec<TopicPartition>,
    /// Kafka's session timeout: the member is removed from the group when nothing (no
    /// heartbeat, sync, commit or join) came from it for this long; its partitions move
    /// without a commit. 45 s by default, as in Kafka.
    pub session_timeout: Duration,
    /// Its assignment strategy; the group uses its first member's, as for in-process
    /// consumers. [`AssignmentStrategy::Range`] by default.
    pub strategy: AssignmentStrategy,
}

impl JoinGroup {
    /// A new member subscribing to `topics`, with Kafka's default session timeout (45 s)
    /// and the range strategy.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let request = strom::JoinGroup::new(["clicks", "views"]);
    /// assert_eq!(request.member_id, None);
    /// assert_eq!(request.session_timeout, Duration::from_secs(45));
    /// ```
    pub fn new(topics: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            member_id: None,
            topics: topics.into_iter().map(Into::into).collect(),
            owned: Vec::new(),
            session_timeout: Duration::from_secs(45),
            strategy: AssignmentStrategy::Range,
        }
    }

    /// Rejoins as the existing member `id`.
    ///
    /// ```
    /// let request = strom::JoinGroup::new(["clicks"]).member_id("consumer-web-3");
    /// assert_eq!(request.member_id.as_deref(), Some("consumer-web-3"));
    /// ```
    #[must_use]
    pub fn member_id(mut self, id: impl Into<String>) -> Self {
        self.member_id = Some(id.into());
        self
    }

    /// The partitions the member keeps through the rejoin.
    ///
    /// ```
    /// use strom::TopicPartition;
    ///
    /// let request = strom::JoinGroup::new(["clicks"]).owned([TopicPartition::new("clicks", 1)]);
    /// assert_eq!(request.owned, [TopicPartition::new("clicks", 1)]);
    /// ```
    #[must_use]
    pub fn owned(mut self, partitions: impl IntoIterator<Item = TopicPartition>) -> Self {
        self.owned = partitions.into_iter().collect();
        self
    }

    /// The session timeout.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let request = strom::JoinGroup::new(["clicks"]).session_timeout(Duration::from_secs(6));
    /// assert_eq!(request.session_timeout, Duration::from_secs(6));
    /// ```
    #[must_use]
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    /// The assignment strategy.
    ///
    /// ```
    /// use strom::AssignmentStrategy;
    ///
    /// let request = strom::JoinGroup::new(["clicks"]).strategy(AssignmentStrategy::RoundRobin);
    /// assert_eq!(request.strategy, AssignmentStrategy::RoundRobin);
    /// ```
    #[must_use]
    pub fn strategy(mut self, strategy: AssignmentStrategy) -> Self {
        self.strategy = strategy;
        self
    }
}

/// A member's partitions in a generation, as [`GroupMember::sync`] returns them (what
/// Kafka's `SyncGroup` response carries).
///
/// ```
/// use strom::{MemberAssignment, TopicPartition};
///
/// let assignment = MemberAssignment { generation: 3, partitions: vec![TopicPartition::new("clicks", 0)] };
/// assert_eq!(assignment.partitions.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemberAssignment {
    /// The generation.
    pub generation: u64,
    /// The member's partitions, sorted; all of them held by the member.
    pub partitions: Vec<TopicPartition>,
}

/// A member of a consumer group driven by a caller outside the process — a
/// Kafka-protocol connection — rather than by a [`Consumer`](crate::Consumer)'s `poll`.
/// Made by [`Broker::join_group`](crate::Broker::join_group), found again by id with
/// [`Broker::group_member`](crate::Broker::group_member).
///
/// It is a handle naming a group, a member id and the generation of the join that made
/// it: `Clone + Send + Sync` and cheap to clone. Remote members and in-process consumers
/// of one group id are members of the same group: they split the partitions and see each
/// other's committed offsets.
///
/// ```
/// use std::time::Duration;
/// use strom::{Broker, ConsumerConfig, JoinGroup, TopicConfig, TopicPartition};
///
/// let dir = tempfile::tempdir()?;
/// let broker = Broker::open(dir.path())?;
/// broker.create_topic("payments", TopicConfig::default().partitions(2))?;
///
/// // JoinGroup, then SyncGroup: the member's share of the partitions.
/// let member = broker.join_group("billing", JoinGroup::new(["payments"]))?;
/// let assignment = member.sync()?.expect("no other member holds a partition");
/// assert_eq!(assignment.partitions.len(), 2);
///
/// // Heartbeat, OffsetCommit (with the generation), and LeaveGroup.
/// member.heartbeat(member.generation())?;
/// member.commit(member.generation(), &[(TopicPartition::new("payments", 0), 7)])?;
/// member.leave()?;
///
/// // The commit is the group's, for in-process consumers too.
/// let consumer = broker.consumer(ConsumerConfig::default().group_id("billing"));
/// assert_eq!(consumer.committed(&TopicPartition::new("payments", 0))?, Some(7));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct GroupMember {
    inner: Arc<Inner>,
    group: Arc<Group>,
    group_id: Arc<str>,
    member_id: Arc<str>,
    generation: u64,
}

impl GroupMember {
    /// Joins `group_id` as `request` says.
    pub(crate) fn join(inner: &Arc<Inner>, group_id: &str, request: JoinGroup) -> Result<Self> {
        inner.check_open()?;
        // Group membership is kept by the writer's process, as for `subscribe`.
        inner.check_writable("join_group")?;
        if group_id.is_empty() {
            return Err(Error::InvalidConfig {
                reason: "join_group needs a non-empty group id".into(),
            });
        }
        let mut topics = request.topics;
        topics.sort();
        topics.dedup();
        let group = inner.coordinator().group(group_id);
        let counts = |t: &[String]| inner.partition_counts(t);
        let (member_id, generation) = match request.member_id.filter(|id| !id.is_empty()) {
            None => {
                let id = inner.coordinator().new_member_id(group_id);
                let member = MemberState {
                    topics,
                    strategy: request.strategy,
                    last_poll: Instant::now(),
                    max_poll_interval: request.session_timeout,
                    waiter: None,
                    waiting: false,
                    remote: true,
                    joined: 0,
                };
                let generation = group.join_remote(&id, member, &counts);
                (id, generation)
            }
            Some(id) => {
                let rejoin = Rejoin {
                    topics,
                    strategy: request.strategy,
                    owned: &request.owned,
                    session_timeout: request.session_timeout,
                };
                let generation = group
                    .rejoin_remote(&id, rejoin, &counts)
                    .map_err(|kind| refused(group_id, &id, kind))?;
                (id, generation)
            }
        };
        Ok(Self {
            inner: Arc::clone(inner),
            group,
            group_id: group_id.into(),
            member_id: member_id.into(),
            generation,
        })
    }

    /// The remote member `member_id` of `group_id`, at the generation of its latest join.
    pub(crate) fn find(inner: &Arc<Inner>, group_id: &str, member_id: &str) -> Result<Self> {
        inner.check_open()?;
        let unknown = || refused(group_id, member_id, MembershipError::UnknownMember);
        let group = inner.coordinator().existing(group_id).ok_or_else(unknown)?;
        let generation = group.joined_remote(member_id).ok_or_else(unknown)?;
        Ok(Self {
            inner: Arc::clone(inner),
            group,
            group_id: group_id.into(),
            member_id: member_id.into(),
            generation,
        })
    }

    /// The member's id: what the Kafka client sends with every later request.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// let member = broker.join_group("billing", strom::JoinGroup::new(["payments"]))?;
    /// assert_eq!(broker.group_member("billing", member.member_id())?.member_id(), member.member_id());
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The group's id.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// let member = broker.join_group("billing", strom::JoinGroup::new(["payments"]))?;
    /// assert_eq!(member.group_id(), "billing");
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The generation of the group when the join completed (what Kafka's `JoinGroup`
    /// response carries).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// let member = broker.join_group("billing", strom::JoinGroup::new(["payments"]))?;
    /// assert_eq!(member.generation(), broker.describe_group("billing")?.generation);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Kafka's `SyncGroup`: the member's partitions in the current generation, once it
    /// holds them all — a partition that is free is taken now. `Ok(None)` while some are
    /// still held by members that have not let them go yet (an in-process consumer lets go
    /// at its next `poll`, a remote one when it rejoins or leaves): call again a little
    /// later, until the rebalance timeout.
    ///
    /// A member that still holds partitions the group gave to others (a cooperative client
    /// lists them in [`JoinGroup::owned`]) gets those of its partitions it holds at once,
    /// without the ones still held elsewhere: as in Kafka's cooperative protocol, the
    /// client lets go of what it lost and rejoins, and the rest comes at the sync after
    /// that rejoin (which starts no new generation). So two members that each hold what
    /// the other is given never wait for each other.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("payments", strom::TopicConfig::default().partitions(2))?;
    /// use strom::{JoinGroup, TopicPartition};
    ///
    /// let first = broker.join_group("billing", JoinGroup::new(["payments"]))?;
    /// assert_eq!(first.sync()?.map(|a| a.partitions.len()), Some(2));
    ///
    /// // A second member: the first is told at its heartbeat, rejoins (an eager client
    /// // lets go of everything), and both then get one partition.
    /// let second = broker.join_group("billing", JoinGroup::new(["payments"]))?;
    /// assert_eq!(second.sync()?, None, "the first member still holds its share");
    /// assert!(first.heartbeat(first.generation()).is_err());
    /// let first = broker.join_group("billing", JoinGroup::new(["payments"]).member_id(first.member_id()))?;
    /// assert_eq!(first.generation(), second.generation(), "rejoined into the same generation");
    /// assert_eq!(first.sync()?.map(|a| a.partitions.len()), Some(1));
    /// assert_eq!(second.sync()?.map(|a| a.partitions.len()), Some(1));
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Membership`] with [`MembershipError::UnknownMember`] if the member left or
    /// was removed, [`MembershipError::RebalanceInProgress`] if the group started a new
    /// generation since this handle's join (rejoin); [`Error::Closed`].
    pub fn sync(&self) -> Result<Option<MemberAssignment>> {
        self.inner.check_open()?;
        let counts = |t: &[String]| self.inner.partition_counts(t);
        let partitions = self
            .group
            .sync_remote(&self.member_id, self.generation, &counts)
            .map_err(|kind| self.refused(kind))?;
        Ok(partitions.map(|partitions| MemberAssignment {
            generation: self.generation,
            partitions,
        }))
    }

    /// Kafka's `Heartbeat`: keeps the member in the group for another session timeout,
    /// and tells whether the group is still at `generation`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// use strom::{Error, JoinGroup, MembershipError};
    ///
    /// let member = broker.join_group("billing", JoinGroup::new(["payments"]))?;
    /// member.heartbeat(member.generation())?;
    /// broker.join_group("billing", JoinGroup::new(["payments"]))?; // a rebalance
    /// let told = member.heartbeat(member.generation());
    /// assert!(matches!(told, Err(Error::Membership { kind: MembershipError::RebalanceInProgress, .. })));
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Membership`] with [`MembershipError::RebalanceInProgress`] when the group
    /// moved past `generation` (the member must rejoin), [`MembershipError::IllegalGeneration`]
    /// for a generation the group never reached, [`MembershipError::UnknownMember`] if the
    /// member left or was removed; [`Error::Closed`].
    pub fn heartbeat(&self, generation: u64) -> Result<()> {
        self.inner.check_open()?;
        let counts = |t: &[String]| self.inner.partition_counts(t);
        self.group
            .heartbeat_remote(&self.member_id, generation, &counts)
            .map_err(|kind| self.refused(kind))
    }

    /// Kafka's `OffsetCommit` from this member: commits `offsets` (each the next offset to
    /// read) for the group, durably, checked against the generation and the membership.
    /// Accepted at the group's current generation for partitions no other member holds,
    /// and at the generation of the member's join for the partitions it still holds (an
    /// eager client commits what it read before it rejoins, after the group moved on).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("payments", strom::TopicConfig::default())?;
    /// use strom::{JoinGroup, TopicPartition};
    ///
    /// let member = broker.join_group("billing", JoinGroup::new(["payments"]))?;
    /// member.sync()?;
    /// member.commit(member.generation(), &[(TopicPartition::new("payments", 0), 3)])?;
    /// assert_eq!(broker.describe_group("billing")?.partitions[0].committed, Some(3));
    /// assert!(member.commit(member.generation() + 1, &[(TopicPartition::new("payments", 0), 4)]).is_err());
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Membership`] with [`MembershipError::UnknownMember`] if the member left or
    /// was removed, [`MembershipError::IllegalGeneration`] otherwise when the commit is
    /// refused; [`Error::UnknownTopic`] or [`Error::InvalidPartition`] for a partition that
    /// does not exist; [`Error::Io`]; [`Error::Closed`].
    pub fn commit(&self, generation: u64, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        self.inner.check_open()?;
        self.inner.check_writable("commit")?;
        for (tp, _) in offsets {
            self.inner
                .existing_topic(&tp.topic)?
                .partition(tp.partition)?;
        }
        self.group
            .commit_remote(&self.member_id, generation, offsets, || {
                self.inner.commit_offsets(&self.group_id, offsets)
            })
            .map_err(|kind| self.refused(kind))?
    }

    /// [`commit`](Self::commit) with a metadata string for each offset (Kafka's
    /// `OffsetCommit` with `committed_metadata`): the same checks, and each partition's
    /// metadata replaces what was committed with its previous offset.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("payments", strom::TopicConfig::default())?;
    /// use strom::{JoinGroup, OffsetAndMetadata, TopicPartition};
    ///
    /// let member = broker.join_group("billing", JoinGroup::new(["payments"]))?;
    /// member.sync()?;
    /// let tp = TopicPartition::new("payments", 0);
    /// let done = OffsetAndMetadata::with_metadata(3, "invoice 17");
    /// member.commit_with_metadata(member.generation(), &[(tp.clone(), done.clone())])?;
    /// assert_eq!(broker.committed_offsets_with_metadata("billing")?, [(tp, done)]);
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::OffsetMetadataTooLarge`], and nothing committed, for metadata longer than
    /// [`OffsetAndMetadata::MAX_METADATA_BYTES`]; otherwise as [`commit`](Self::commit).
    pub fn commit_with_metadata(
        &self,
        generation: u64,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<()> {
        self.inner.check_open()?;
        self.inner.check_writable("commit")?;
        check_metadata(&self.group_id, offsets)?;
        for (tp, _) in offsets {
            self.inner
                .existing_topic(&tp.topic)?
                .partition(tp.partition)?;
        }
        // The group checks partitions only; the offsets it is handed are not looked at.
        let partitions: Vec<(TopicPartition, u64)> = offsets
            .iter()
            .map(|(tp, o)| (tp.clone(), o.offset))
            .collect();
        self.group
            .commit_remote(&self.member_id, generation, &partitions, || {
                self.inner
                    .commit_offsets_with_metadata(&self.group_id, offsets)
            })
            .map_err(|kind| self.refused(kind))?
    }

    /// Kafka's `LeaveGroup`: lets go of the member's partitions and rebalances the group.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// let member = broker.join_group("billing", strom::JoinGroup::new(["payments"]))?;
    /// member.leave()?;
    /// assert!(broker.group_member("billing", member.member_id()).is_err());
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Membership`] with [`MembershipError::UnknownMember`] if the member had
    /// already left or been removed; [`Error::Closed`].
    pub fn leave(&self) -> Result<()> {
        self.inner.check_open()?;
        let counts = |t: &[String]| self.inner.partition_counts(t);
        self.group
            .leave_remote(&self.member_id, &counts)
            .map_err(|kind| self.refused(kind))
    }

    fn refused(&self, kind: MembershipError) -> Error {
        refused(&self.group_id, &self.member_id, kind)
    }
}

/// The error of a refused call of `member_id`.
fn refused(group_id: &str, member_id: &str, kind: MembershipError) -> Error {
    Error::Membership {
        group_id: group_id.to_string(),
        member_id: member_id.to_string(),
        kind,
    }
}

/// What a rejoining member says.
struct Rejoin<'a> {
    topics: Vec<String>,
    strategy: AssignmentStrategy,
    owned: &'a [TopicPartition],
    session_timeout: Duration,
}

impl Group {
    /// Adds a new remote member and rebalances; returns the new generation.
    fn join_remote(&self, id: &str, member: MemberState, counts: PartitionCounts<'_>) -> u64 {
        let mut state = self.state.lock();
        state.expire(&self.id, Instant::now(), counts);
        state.listed = true;
        state.members.insert(id.to_string(), member);
        state.rebalance(&self.id, "a member joined", counts);
        let generation = state.generation;
        if let Some(member) = state.members.get_mut(id) {
            member.joined = generation;
        }
        generation
    }

    /// Rejoins the remote member `id`: lets go of what it no longer holds, and rebalances
    /// only if its subscription changed. Returns the generation it joined.
    fn rejoin_remote(
        &self,
        id: &str,
        rejoin: Rejoin<'_>,
        counts: PartitionCounts<'_>,
    ) -> Result<u64, MembershipError> {
        let now = Instant::now();
        let mut state = self.state.lock();
        let member = state.remote_mut(id, now)?;
        member.max_poll_interval = rejoin.session_timeout;
        let changed = member.topics != rejoin.topics || member.strategy != rejoin.strategy;
        member.topics = rejoin.topics;
        member.strategy = rejoin.strategy;
        let held = state.owners.len();
        state
            .owners
            .retain(|tp, owner| owner != id || rejoin.owned.contains(tp));
        if state.owners.len() != held {
            state.wake_members();
        }
        state.expire(&self.id, now, counts);
        if changed {
            state.rebalance(&self.id, "a member changed its subscription", counts);
        }
        let generation = state.generation;
        state.remote_mut(id, now)?.joined = generation;
        Ok(generation)
    }

    /// The generation of the remote member `id`'s latest join, if it is a member.
    fn joined_remote(&self, id: &str) -> Option<u64> {
        let state = self.state.lock();
        state.members.get(id).filter(|m| m.remote).map(|m| m.joined)
    }

    /// The remote member `id`'s partitions in `generation`, the current one, once it holds
    /// them all; it takes those that are free.
    fn sync_remote(
        &self,
        id: &str,
        generation: u64,
        counts: PartitionCounts<'_>,
    ) -> Result<Option<Vec<TopicPartition>>, MembershipError> {
        let mut state = self.state.lock();
        state.check_in(&self.id, id, counts)?;
        state.check_current(generation)?;
        let target = state.target.get(id).cloned().unwrap_or_default();
        let mut held = Vec::with_capacity(target.len());
        for tp in &target {
            match state.owners.get(tp) {
                Some(owner) if owner != id => {}
                Some(_) => held.push(tp.clone()),
                None => {
                    state.owners.insert(tp.clone(), id.to_string());
                    held.push(tp.clone());
                }
            }
        }
        if held.len() == target.len() {
            return Ok(Some(target));
        }
        // It still holds partitions the group gave to others (a cooperative client listed
        // them as owned): it gets what it holds of its target now, lets go of the rest and
        // rejoins, and gets the rest at the sync after that, as in Kafka's cooperative
        // protocol. Waiting for all would wait forever should two members each hold what
        // the other is given.
        let giving_up = state
            .owners
            .iter()
            .any(|(tp, owner)| owner == id && !target.contains(tp));
        Ok(giving_up.then_some(held))
    }

    /// Keeps the remote member `id` alive; tells whether the group is at `generation`.
    fn heartbeat_remote(
        &self,
        id: &str,
        generation: u64,
        counts: PartitionCounts<'_>,
    ) -> Result<(), MembershipError> {
        let mut state = self.state.lock();
        state.check_in(&self.id, id, counts)?;
        state.check_current(generation)
    }

    /// Runs `commit` if the remote member `id` may commit `offsets` in `generation`
    /// (see [`GroupMember::commit`]). Under the group's lock, so that no partition moves
    /// between the check and the commit.
    fn commit_remote<T>(
        &self,
        id: &str,
        generation: u64,
        offsets: &[(TopicPartition, u64)],
        commit: impl FnOnce() -> T,
    ) -> Result<T, MembershipError> {
        let now = Instant::now();
        let mut state = self.state.lock();
        let joined = state.remote_mut(id, now)?.joined;
        let held_here = |tp: &TopicPartition| state.owners.get(tp).is_some_and(|o| o == id);
        let allowed = if generation == state.generation {
            offsets
                .iter()
                .all(|(tp, _)| state.owners.get(tp).is_none_or(|o| o == id))
        } else {
            generation == joined && offsets.iter().all(|(tp, _)| held_here(tp))
        };
        if !allowed {
            return Err(MembershipError::IllegalGeneration);
        }
        Ok(commit())
    }

    /// Removes the remote member `id`, lets go of what it held, and rebalances.
    fn leave_remote(&self, id: &str, counts: PartitionCounts<'_>) -> Result<(), MembershipError> {
        let mut state = self.state.lock();
        state.remote_mut(id, Instant::now())?;
        state.members.remove(id);
        state.owners.retain(|_, owner| owner != id);
        state.rebalance(&self.id, "a member left", counts);
        Ok(())
    }
}

impl GroupState {
    /// The remote member `id`, marked alive at `now`.
    fn remote_mut(&mut self, id: &str, now: Instant) -> Result<&mut MemberState, MembershipError> {
        let member = self
            .members
            .get_mut(id)
            .filter(|m| m.remote)
            .ok_or(MembershipError::UnknownMember)?;
        member.last_poll = now;
        Ok(member)
    }

    /// Marks the remote member `id` alive and removes the members that are not.
    fn check_in(
        &mut self,
        group_id: &str,
        id: &str,
        counts: PartitionCounts<'_>,
    ) -> Result<(), MembershipError> {
        let now = Instant::now();
        self.remote_mut(id, now)?;
        self.expire(group_id, now, counts);
        Ok(())
    }

    /// Whether `generation` is the current one.
    fn check_current(&self, generation: u64) -> Result<(), MembershipError> {
        match generation.cmp(&self.generation) {
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Less => Err(MembershipError::RebalanceInProgress),
            std::cmp::Ordering::Greater => Err(MembershipError::IllegalGeneration),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn tp(partition: u32) -> TopicPartition {
        TopicPartition::new("t", partition)
    }

    fn remote(topics: &[&str]) -> MemberState {
        MemberState {
            topics: topics.iter().map(ToString::to_string).collect(),
            strategy: AssignmentStrategy::Range,
            last_poll: Instant::now(),
            max_poll_interval: Duration::from_secs(300),
            waiter: None,
            waiting: false,
            remote: true,
            joined: 0,
        }
    }

    fn rejoin(owned: &[TopicPartition]) -> Rejoin<'_> {
        Rejoin {
            topics: vec!["t".into()],
            strategy: AssignmentStrategy::Range,
            owned,
            session_timeout: Duration::from_secs(300),
        }
    }

    #[test]
    fn members_holding_each_others_partitions_get_what_they_hold_then_the_rest() {
        let counts = |_: &[String]| BTreeMap::from([("t".to_string(), 4)]);
        let group = Group::new("g");
        let generation = group.join_remote("a", remote(&["t"]), &counts);
        let generation = generation.max(group.join_remote("b", remote(&["t"]), &counts));
        assert_eq!(group.describe().1[0].1, [tp(0), tp(1)]);
        // Each holds one of the other's target (as after an earlier generation).
        {
            let mut state = group.state.lock();
            state.owners.clear();
            state.owners.insert(tp(0), "b".into());
            state.owners.insert(tp(2), "a".into());
        }
        // Neither waits for the other: each gets what it holds of its target.
        assert_eq!(
            group.sync_remote("a", generation, &counts),
            Ok(Some(vec![tp(1)]))
        );
        assert_eq!(
            group.sync_remote("b", generation, &counts),
            Ok(Some(vec![tp(3)]))
        );
        // Both let go of what they lost as they rejoin, in the same generation; then
        // each gets all of its target.
        assert_eq!(
            group.rejoin_remote("a", rejoin(&[tp(1)]), &counts),
            Ok(generation)
        );
        assert_eq!(
            group.sync_remote("a", generation, &counts),
            Ok(None),
            "b still holds 0 and gives up nothing it holds of a's"
        );
        assert_eq!(
            group.rejoin_remote("b", rejoin(&[tp(3)]), &counts),
            Ok(generation)
        );
        assert_eq!(
            group.sync_remote("a", generation, &counts),
            Ok(Some(vec![tp(0), tp(1)]))
        );
        assert_eq!(
            group.sync_remote("b", generation, &counts),
            Ok(Some(vec![tp(2), tp(3)]))
        );
    }
}
