//! Consumer groups, coordinated in process: membership, generations, assignment and the
//! hand-over of partitions between members.
//!
//! When members join, leave, change their subscription, stop polling or a subscribed topic
//! changes, the group starts a new generation and computes every member's *target*
//! partitions with the group's assignor. A member takes a target partition only once its
//! previous owner has let it go, and an owner lets a partition go at its next `poll`, after
//! committing its position when auto-commit is on. So a partition is never read by two
//! members at once, and the new owner starts exactly where the old one committed.

pub(crate) mod assignor;
mod member;

pub use member::{GroupMember, JoinGroup, MemberAssignment};

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::AssignmentStrategy;
use crate::log::notify::Waiter;
use crate::metrics::GroupMetrics;
use crate::record::TopicPartition;
use assignor::{Assignment, Member};

/// A consumer group as [`Broker::describe_group`](crate::Broker::describe_group) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group's id.
    pub group_id: String,
    /// The current generation (0 if no member ever joined in this run).
    pub generation: u64,
    /// The members, by member id.
    pub members: Vec<MemberDescription>,
    /// Every partition the group has committed or been assigned, in order.
    pub partitions: Vec<PartitionLag>,
}

/// One member of a [`GroupDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member's id, e.g. `consumer-location-group-3`.
    pub member_id: String,
    /// Its partitions in the current generation.
    pub assignment: Vec<TopicPartition>,
}

/// A partition's committed offset and lag, in a [`GroupDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The partition.
    pub topic_partition: TopicPartition,
    /// The committed offset (the next to read), as stored, even if below the log start.
    pub committed: Option<u64>,
    /// The first offset still in the log.
    pub log_start_offset: u64,
    /// The next offset to be written.
    pub high_watermark: u64,
    /// Records not yet consumed: high watermark minus the committed offset, or minus the log
    /// start when nothing is committed or the commit fell below it. Never negative.
    pub lag: u64,
}

/// Who a consumer is in its group, as [`Consumer::group_metadata`](crate::Consumer::group_metadata)
/// reports it (Kafka's `ConsumerGroupMetadata`): what a commit made on the member's behalf
/// names, so that a member the group has moved on from can be told apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupMetadata {
    /// The group's id.
    pub group_id: String,
    /// The generation whose assignment the member holds; 0 before it first joined.
    pub generation: u64,
    /// The member's id; empty before it first joined.
    pub member_id: String,
}

/// Partition counts of the named topics that exist.
pub(crate) type PartitionCounts<'a> = &'a dyn Fn(&[String]) -> BTreeMap<String, u32>;

/// Every group of a broker.
#[derive(Debug, Default)]
pub(crate) struct Coordinator {
    groups: Mutex<HashMap<String, Arc<Group>>>,
    next_member: AtomicU64,
}

impl Coordinator {
    /// Wakes every member of every group: the broker closes, and a member waiting with no
    /// partition (whose log would wake it) would otherwise go on waiting.
    pub(crate) fn wake_all(&self) {
        let groups: Vec<Arc<Group>> = self.groups.lock().values().cloned().collect();
        for group in groups {
            for member in group.state.lock().members.values() {
                if let Some(waiter) = &member.waiter {
                    waiter.wake();
                }
            }
        }
    }

    /// The group named `id`, created empty if needed.
    pub(crate) fn group(&self, id: &str) -> Arc<Group> {
        Arc::clone(
            self.groups
                .lock()
                .entry(id.to_string())
                .or_insert_with(|| Arc::new(Group::new(id))),
        )
    }

    /// The group named `id`, if it exists.
    pub(crate) fn existing(&self, id: &str) -> Option<Arc<Group>> {
        self.groups.lock().get(id).map(Arc::clone)
    }

    /// Ids of the groups that exist in this process: those with members, and those kept
    /// empty after their last member left or their last offsets were deleted.
    pub(crate) fn active_groups(&self) -> Vec<String> {
        self.groups
            .lock()
            .values()
            .filter(|g| g.is_listed())
            .map(|g| g.id.clone())
            .collect()
    }

    /// Keeps group `id`, which has lost its last committed offset, as an empty group.
    pub(crate) fn keep_emptied(&self, id: &str) {
        self.group(id).state.lock().listed = true;
    }

    /// Whether group `id` exists in this process, with members or kept empty.
    pub(crate) fn is_listed(&self, id: &str) -> bool {
        self.existing(id).is_some_and(|g| g.is_listed())
    }

    /// Forgets group `id` (it was deleted, and has no members); whether it was listed.
    pub(crate) fn forget_emptied(&self, id: &str) -> bool {
        self.existing(id)
            .is_some_and(|g| std::mem::replace(&mut g.state.lock().listed, false))
    }

    /// A member id, unique in this broker, in the style of Kafka's.
    pub(crate) fn new_member_id(&self, group_id: &str) -> String {
        let n = self.next_member.fetch_add(1, Ordering::Relaxed) + 1;
        format!("consumer-{group_id}-{n}")
    }

    /// A topic was created, deleted or grew: groups subscribed to it rebalance.
    pub(crate) fn topic_changed(&self, topic: &str, counts: PartitionCounts<'_>) {
        let groups: Vec<Arc<Group>> = self.groups.lock().values().map(Arc::clone).collect();
        for group in groups {
            let mut state = group.state.lock();
            if state
                .members
                .values()
                .any(|m| m.topics.iter().any(|t| t == topic))
            {
                state.rebalance(&group.id, "a subscribed topic changed", counts);
            }
        }
    }

    /// Removes members that stopped polling, in every group.
    pub(crate) fn expire_members(&self, now: Instant, counts: PartitionCounts<'_>) {
        let groups: Vec<Arc<Group>> = self.groups.lock().values().map(Arc::clone).collect();
        for group in groups {
            let mut state = group.state.lock();
            state.expire(&group.id, now, counts);
        }
    }
}

/// What a member learns when it checks in with its group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sync {
    /// The member was removed (it did not poll within `max_poll_interval`) and must rejoin.
    Removed,
    /// The member's target partitions in the current generation.
    Current {
        /// The generation.
        generation: u64,
        /// Its target partitions, sorted.
        target: Vec<TopicPartition>,
    },
}

/// One consumer group.
#[derive(Debug)]
pub(crate) struct Group {
    id: String,
    state: Mutex<GroupState>,
}

#[derive(Debug)]
struct GroupState {
    generation: u64,
    members: BTreeMap<String, MemberState>,
    target: Assignment,
    /// Who holds each partition now (a member keeps it until it releases it).
    owners: HashMap<TopicPartition, String>,
    /// Whether the group exists for listing and describing: set when a member joins, and
    /// kept when the last one leaves, as Kafka keeps an empty group (until its offsets
    /// expire) rather than forgetting it; cleared when the group is deleted. In memory only.
    listed: bool,
    /// Its counters (empty without the `metrics` feature).
    metrics: GroupMetrics,
}

#[derive(Debug)]
struct MemberState {
    topics: Vec<String>,
    strategy: AssignmentStrategy,
    last_poll: Instant,
    max_poll_interval: Duration,
    waiter: Option<Arc<Waiter>>,
    /// Whether the member's `recv` is waiting for records: as alive as a thread blocked
    /// in `poll`, which checks in while it waits. Always false without feature `async`.
    waiting: bool,
    /// Whether a caller outside the process drives it (a [`GroupMember`]): it checks in by
    /// heartbeats and is looked up by id; an in-process consumer's id is not.
    remote: bool,
    /// The generation of its latest join.
    joined: u64,
}

/// A member's settings, given when it joins.
#[derive(Debug, Clone)]
pub(crate) struct JoinRequest {
    /// The member's id.
    pub(crate) member_id: String,
    /// The topics it subscribes to.
    pub(crate) topics: Vec<String>,
    /// Its assignment strategy (the group uses its first member's).
    pub(crate) strategy: AssignmentStrategy,
    /// How long it may go without polling.
    pub(crate) max_poll_interval: Duration,
}

impl Group {
    fn new(id: &str) -> Self {
        Self {
            id: id.to_string(),
            state: Mutex::new(GroupState {
                generation: 0,
                members: BTreeMap::new(),
                target: Assignment::default(),
                owners: HashMap::new(),
                listed: false,
                metrics: GroupMetrics::new(id),
            }),
        }
    }

    /// Whether the group exists for listing: it has members, or is kept empty.
    pub(crate) fn is_listed(&self) -> bool {
        let state = self.state.lock();
        state.listed || !state.members.is_empty()
    }

    /// Whether a member subscribes to `topic`.
    pub(crate) fn subscribes_to(&self, topic: &str) -> bool {
        self.state
            .lock()
            .members
            .values()
            .any(|m| m.topics.iter().any(|t| t == topic))
    }

    /// Adds a member, or changes its subscription, and rebalances.
    pub(crate) fn join(
        &self,
        request: JoinRequest,
        waiter: Arc<Waiter>,
        counts: PartitionCounts<'_>,
    ) {
        let mut state = self.state.lock();
        state.listed = true;
        state.members.insert(
            request.member_id,
            MemberState {
                topics: request.topics,
                strategy: request.strategy,
                last_poll: Instant::now(),
                max_poll_interval: request.max_poll_interval,
                waiter: Some(waiter),
                waiting: false,
                remote: false,
                joined: 0,
            },
        );
        state.rebalance(&self.id, "a member joined", counts);
    }

    /// Removes a member, releases what it held, and rebalances.
    pub(crate) fn leave(&self, member_id: &str, counts: PartitionCounts<'_>) {
        let mut state = self.state.lock();
        if state.members.remove(member_id).is_some() {
            state.owners.retain(|_, owner| owner != member_id);
            state.rebalance(&self.id, "a member left", counts);
        }
    }

    /// Records that `member_id` polled and tells it its target partitions. Members of this
    /// group that stopped polling are removed on the way.
    pub(crate) fn sync(
        &self,
        member_id: &str,
        waiter: &Arc<Waiter>,
        counts: PartitionCounts<'_>,
    ) -> Sync {
        let now = Instant::now();
        let mut state = self.state.lock();
        match state.members.get_mut(member_id) {
            Some(member) => {
                member.last_poll = now;
                if !member
                    .waiter
                    .as_ref()
                    .is_some_and(|w| Arc::ptr_eq(w, waiter))
                {
                    member.waiter = Some(Arc::clone(waiter));
                }
            }
            None => return Sync::Removed,
        }
        state.expire(&self.id, now, counts);
        Sync::Current {
            generation: state.generation,
            target: state.target.get(member_id).cloned().unwrap_or_default(),
        }
    }

    /// Marks `member_id` as waiting in `recv` (it is not expired meanwhile), or as done
    /// waiting (which counts as a poll).
    #[cfg(feature = "async")]
    pub(crate) fn set_waiting(&self, member_id: &str, waiting: bool) {
        if let Some(member) = self.state.lock().members.get_mut(member_id) {
            member.waiting = waiting;
            member.last_poll = Instant::now();
        }
    }

    /// Takes those of `wanted` that nobody else holds; returns them.
    pub(crate) fn acquire(
        &self,
        member_id: &str,
        wanted: &[TopicPartition],
    ) -> Vec<TopicPartition> {
        let mut state = self.state.lock();
        if !state.members.contains_key(member_id) {
            return Vec::new();
        }
        let mut taken = Vec::new();
        for tp in wanted {
            match state.owners.get(tp) {
                Some(owner) if owner != member_id => {}
                _ => {
                    state.owners.insert(tp.clone(), member_id.to_string());
                    taken.push(tp.clone());
                }
            }
        }
        taken
    }

    /// Whether `member_id` is a member holding the assignment of `generation`, the
    /// current one: a member that was removed, or that has not yet taken part in the
    /// group's latest rebalance, must not commit (Kafka's `ILLEGAL_GENERATION` and
    /// `UNKNOWN_MEMBER_ID`). Returns why not.
    pub(crate) fn check_generation(&self, member_id: &str, generation: u64) -> Result<(), String> {
        let state = self.state.lock();
        if !state.members.contains_key(member_id) {
            return Err(format!("member {member_id:?} is not in the group"));
        }
        if state.generation != generation {
            return Err(format!(
                "generation {generation} is stale: the group is at generation {}",
                state.generation
            ));
        }
        Ok(())
    }

    /// The partitions `member_id` holds.
    pub(crate) fn owned_by(&self, member_id: &str) -> Vec<TopicPartition> {
        self.state
            .lock()
            .owners
            .iter()
            .filter(|(_, owner)| *owner == member_id)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Lets go of partitions, so that their new owners can take them, and wakes the
    /// members so that they look.
    pub(crate) fn release(&self, member_id: &str, partitions: &[TopicPartition]) {
        let mut state = self.state.lock();
        for tp in partitions {
            if state.owners.get(tp).is_some_and(|owner| owner == member_id) {
                state.owners.remove(tp);
            }
        }
        for member in state.members.values() {
            if let Some(waiter) = &member.waiter {
                waiter.wake();
            }
        }
    }

    /// The generation, and each member's target partitions.
    pub(crate) fn describe(&self) -> (u64, Vec<(String, Vec<TopicPartition>)>) {
        let state = self.state.lock();
        let members = state
            .members
            .keys()
            .map(|id| {
                (
                    id.clone(),
                    state.target.get(id).cloned().unwrap_or_default(),
                )
            })
            .collect();
        (state.generation, members)
    }
}

impl GroupState {
    /// Wakes every member, so that it looks at the group again.
    fn wake_members(&self) {
        for member in self.members.values() {
            if let Some(waiter) = &member.waiter {
                waiter.wake();
            }
        }
    }

    /// Removes members that have not polled within their `max_poll_interval`; what they held
    /// is released without a commit, as in Kafka.
    fn expire(&mut self, group_id: &str, now: Instant, counts: PartitionCounts<'_>) {
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| now.saturating_duration_since(m.last_poll) > m.max_poll_interval)
            .filter(|(_, m)| !m.waiting)
            .map(|(id, _)| id.clone())
            .collect();
        if expired.is_empty() {
            return;
        }
        for id in &expired {
            if let Some(member) = self.members.remove(id) {
                tracing::warn!(
                    group_id,
                    member_id = %id,
                    max_poll_interval = ?member.max_poll_interval,
                    "removed a member that did not poll within max_poll_interval; its partitions move without a commit"
                );
            }
        }
        self.owners.retain(|_, owner| !expired.contains(owner));
        self.rebalance(group_id, "a member stopped polling", counts);
    }

    /// Starts a new generation: computes the targets and wakes every member.
    fn rebalance(&mut self, group_id: &str, reason: &str, counts: PartitionCounts<'_>) {
        let mut topics: Vec<String> = self
            .members
            .values()
            .flat_map(|m| m.topics.clone())
            .collect();
        topics.sort();
        topics.dedup();
        let partitions = counts(&topics);
        let members: Vec<Member> = self
            .members
            .iter()
            .map(|(id, m)| Member {
                id: id.clone(),
                topics: m.topics.clone(),
                owned: self
                    .owners
                    .iter()
                    .filter(|(_, owner)| *owner == id)
                    .map(|(tp, _)| tp.clone())
                    .collect(),
            })
            .collect();
        // Like Kafka, the group uses the strategy its members were configured with; with
        // mixed configurations, the first member's.
        let strategy = self
            .members
            .values()
            .next()
            .map_or(AssignmentStrategy::Range, |m| m.strategy);
        self.target = match strategy {
            AssignmentStrategy::Range => assignor::range(&members, &partitions),
            AssignmentStrategy::RoundRobin => assignor::round_robin(&members, &partitions),
            AssignmentStrategy::CooperativeSticky => assignor::sticky(&members, &partitions),
            AssignmentStrategy::CoPartitioned => assignor::co_partitioned(&members, &partitions),
        };
        self.generation += 1;
        self.metrics.rebalanced();
        tracing::info!(
            group_id,
            generation = self.generation,
            members = self.members.len(),
            reason,
            "consumer group rebalanced"
        );
        for member in self.members.values() {
            if let Some(waiter) = &member.waiter {
                waiter.wake();
            }
        }
    }
}
