//! A consumer as a member of a group: subscribe, hand partitions over on rebalance, commit.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use super::{Assigned, Consumer};
use crate::broker::Inner;
use crate::config::AssignmentStrategy;
use crate::error::{Error, Result};
use crate::group::{Group, GroupMetadata, JoinRequest, Sync};
use crate::record::TopicPartition;

/// Told when partitions leave or join a group member, so that the application can commit
/// or save its state first (Kafka's `ConsumerRebalanceListener`).
///
/// Both methods run inside [`Consumer::poll`], on the consumer's thread, and
/// `on_partitions_revoked` also inside [`Consumer::close`], [`Consumer::unsubscribe`] and
/// the consumer's drop. With auto-commit on, the positions of revoked partitions are
/// already committed when `on_partitions_revoked` runs.
///
/// # Errors
///
/// An error from either method does not stop the rebalance, as in Kafka's Java client: the
/// revoked partitions are still let go, so that other members can take them, the new ones
/// are still taken, and `on_partitions_assigned` is still called. Then the call that ran
/// the listener (`poll`, `close` or `unsubscribe`) returns the first error the listener
/// returned; the next `poll` goes on as usual. A revoked partition whose commit failed
/// (the listener's, or the auto-commit before it) moves on all the same: its new owner
/// starts at the last offset that was committed.
/// When a consumer is dropped, a listener error is lost.
///
/// ```
/// use strom::{RebalanceListener, Revoked, TopicPartition};
///
/// struct SaveOnRevoke;
///
/// impl RebalanceListener for SaveOnRevoke {
///     fn on_partitions_revoked(&mut self, revoked: &mut Revoked<'_>) -> strom::Result<()> {
///         // Commit exactly what was processed before the partitions move on; if that
///         // fails, `poll` returns the error.
///         let done: Vec<(TopicPartition, u64)> = revoked
///             .partitions()
///             .iter()
///             .filter_map(|tp| revoked.position(tp).map(|p| (tp.clone(), p)))
///             .collect();
///         revoked.commit_offsets(&done)
///     }
///
///     fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) -> strom::Result<()> {
///         println!("now reading {partitions:?}");
///         Ok(())
///     }
/// }
/// ```
pub trait RebalanceListener: Send {
    /// Partitions are about to leave this consumer. By default, nothing.
    ///
    /// # Errors
    /// Whatever the application returns; the partitions are let go all the same (see
    /// [`RebalanceListener`]).
    fn on_partitions_revoked(&mut self, revoked: &mut Revoked<'_>) -> Result<()> {
        let _ = revoked;
        Ok(())
    }

    /// Partitions became this consumer's; reading them starts at their committed offsets.
    /// By default, nothing.
    ///
    /// # Errors
    /// Whatever the application returns; the partitions stay assigned all the same (see
    /// [`RebalanceListener`]).
    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        let _ = partitions;
        Ok(())
    }
}

/// The partitions a [`RebalanceListener`] is about to lose, with their positions and a way
/// to commit offsets for them before they move.
pub struct Revoked<'a> {
    partitions: &'a [TopicPartition],
    positions: Vec<Option<u64>>,
    inner: &'a Inner,
    group_id: &'a str,
}

impl Revoked<'_> {
    /// The partitions being revoked.
    pub fn partitions(&self) -> &[TopicPartition] {
        self.partitions
    }

    /// The consumer's position in `tp` (the next offset it would have read).
    pub fn position(&self, tp: &TopicPartition) -> Option<u64> {
        self.partitions
            .iter()
            .position(|p| p == tp)
            .and_then(|i| self.positions.get(i).copied().flatten())
    }

    /// Commits offsets for the group, durably, before the partitions move on.
    ///
    /// # Errors
    /// [`Error::Io`] if the offsets cannot be written.
    pub fn commit_offsets(&mut self, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        self.inner.commit_offsets(self.group_id, offsets)
    }
}

impl fmt::Debug for Revoked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revoked")
            .field("partitions", &self.partitions)
            .field("positions", &self.positions)
            .finish_non_exhaustive()
    }
}

/// The listener a consumer holds.
pub(super) struct Listener(Box<dyn RebalanceListener>);

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RebalanceListener")
    }
}

/// A consumer's place in its group.
#[derive(Debug)]
pub(super) struct Membership {
    group: Arc<Group>,
    group_id: String,
    member_id: String,
    topics: Vec<String>,
    /// The generation whose targets this member has acted on.
    generation: u64,
    /// Target partitions still held by their previous owner.
    pending: Vec<TopicPartition>,
}

impl Membership {
    /// This member's id in its group.
    pub(super) fn member_id(&self) -> &str {
        &self.member_id
    }
}

impl Consumer {
    /// Joins the consumer group named by `group_id`, reading `topics`: the group's
    /// assignor gives this member a share of their partitions, and rebalances when members
    /// join, leave (`close` or drop), stop polling for longer than `max_poll_interval`, or
    /// change their subscription, and when a subscribed topic is created or grows.
    /// Calling it again replaces the subscription. The partitions arrive at the next
    /// [`poll`](Self::poll), starting at the group's committed offsets.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] without a `group_id`; [`Error::IllegalState`] after
    /// [`assign`](Self::assign); [`Error::UnknownTopic`] for a topic that does not exist
    /// (unless auto-creation is on, which creates it); [`Error::Closed`].
    pub fn subscribe(&mut self, topics: impl IntoIterator<Item = impl AsRef<str>>) -> Result<()> {
        self.inner.check_open()?;
        // Group membership is kept by the writer's process; a reader cannot join.
        self.inner.check_writable("subscribe")?;
        let group_id = match self.config.group_id.as_deref() {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => {
                return Err(Error::InvalidConfig {
                    reason: "subscribe needs a non-empty group_id in the ConsumerConfig".into(),
                })
            }
        };
        if self.membership.is_none() && !self.assigned.is_empty() {
            return Err(Error::IllegalState {
                reason: "subscribe on a consumer with assigned partitions; assign(&[]) first (as in Kafka, the two are exclusive)".into(),
            });
        }
        let mut names: Vec<String> = Vec::new();
        for topic in topics {
            let name = topic.as_ref();
            if self.inner.config().auto_create_topics {
                self.inner.topic_for_send(name)?;
            } else {
                self.inner.existing_topic(name)?;
            }
            names.push(name.to_string());
        }
        names.sort();
        names.dedup();
        let waiter = self.waiter();
        let membership = match self.membership.take() {
            Some(mut m) => {
                m.topics = names;
                m
            }
            None => {
                let group = self.inner.coordinator().group(&group_id);
                Membership {
                    member_id: self.inner.coordinator().new_member_id(&group_id),
                    group,
                    group_id,
                    topics: names,
                    generation: 0,
                    pending: Vec::new(),
                }
            }
        };
        let request = self.join_request(&membership);
        membership
            .group
            .join(request, waiter, &|t| self.inner.partition_counts(t));
        self.membership = Some(membership);
        Ok(())
    }

    /// Like [`subscribe`](Self::subscribe), and tells `listener` of every partition that
    /// leaves or joins this consumer; an error it returns comes back from the `poll` or
    /// `close` that ran it (see [`RebalanceListener`]).
    ///
    /// # Errors
    /// As [`subscribe`](Self::subscribe).
    pub fn subscribe_with_listener(
        &mut self,
        topics: impl IntoIterator<Item = impl AsRef<str>>,
        listener: impl RebalanceListener + 'static,
    ) -> Result<()> {
        self.listener = Some(Listener(Box::new(listener)));
        self.subscribe(topics)
    }

    /// Leaves the group (committing first when auto-commit is on) and drops its partitions;
    /// on a consumer with assigned partitions, drops those.
    ///
    /// # Errors
    /// [`Error::Io`] if the auto-commit fails, or the first error the
    /// [`RebalanceListener`] returned; the group is left all the same.
    pub fn unsubscribe(&mut self) -> Result<()> {
        let result = self.leave_group();
        // As in Kafka, it also drops a manual assignment.
        self.assigned.clear();
        result
    }

    /// The member id this consumer has in its group, while subscribed.
    pub fn member_id(&self) -> Option<&str> {
        self.membership.as_ref().map(|m| m.member_id.as_str())
    }

    /// This consumer's group, generation and member id (Kafka's `groupMetadata()`). Before
    /// it joins (`subscribe`) or after it leaves, the generation is 0 and the member id
    /// empty.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use strom::{Broker, ConsumerConfig, TopicConfig};
    ///
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("payments", TopicConfig::default())?;
    /// let mut consumer = broker.consumer(ConsumerConfig::default().group_id("billing"));
    /// consumer.subscribe(["payments"])?;
    /// consumer.poll(Duration::from_millis(10))?;
    /// let metadata = consumer.group_metadata()?;
    /// assert_eq!(metadata.group_id, "billing");
    /// assert_eq!(Some(metadata.member_id.as_str()), consumer.member_id());
    /// assert_eq!(metadata.generation, broker.describe_group("billing")?.generation);
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] without a `group_id`.
    pub fn group_metadata(&self) -> Result<GroupMetadata> {
        let (generation, member_id) = self
            .membership
            .as_ref()
            .map_or((0, String::new()), |m| (m.generation, m.member_id.clone()));
        Ok(GroupMetadata {
            group_id: self.group_id()?.to_string(),
            generation,
            member_id,
        })
    }

    fn join_request(&self, membership: &Membership) -> JoinRequest {
        JoinRequest {
            member_id: membership.member_id.clone(),
            topics: membership.topics.clone(),
            strategy: self.config.assignment_strategy,
            max_poll_interval: self.config.max_poll_interval,
        }
    }

    /// Commits, for every partition this consumer reads, the position after the last
    /// record `poll` returned (Kafka's meaning: the next offset to read). Durable when it
    /// returns.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] without a `group_id`; [`Error::Io`]; [`Error::Closed`].
    pub fn commit(&mut self) -> Result<()> {
        self.inner.check_open()?;
        let group_id = self.group_id()?.to_string();
        let offsets = self.positions();
        self.inner.commit_offsets(&group_id, &offsets)?;
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Commits the given offsets (each the next offset to read) for this consumer's group.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] without a `group_id`; [`Error::UnknownTopic`] or
    /// [`Error::InvalidPartition`] for a partition that does not exist; [`Error::Io`];
    /// [`Error::Closed`].
    pub fn commit_offsets(&mut self, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        self.inner.check_open()?;
        let group_id = self.group_id()?.to_string();
        for (tp, _) in offsets {
            self.inner
                .existing_topic(&tp.topic)?
                .partition(tp.partition)?;
        }
        self.inner.commit_offsets(&group_id, offsets)
    }

    /// The group's committed offset for `tp`: the next offset the group will read.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] without a `group_id`; [`Error::Closed`].
    pub fn committed(&self, tp: &TopicPartition) -> Result<Option<u64>> {
        self.inner.check_open()?;
        // Read-only: the writer's commits as they are now.
        self.inner.refresh_offsets()?;
        Ok(self.inner.offsets().committed(self.group_id()?, tp))
    }

    /// Commits (when auto-commit is on), leaves the group and drops the consumer.
    ///
    /// # Errors
    /// [`Error::Io`] if the final commit fails, or the error the [`RebalanceListener`]
    /// returned when told of the partitions leaving; the group is left all the same.
    pub fn close(mut self) -> Result<()> {
        let result = self.leave_group();
        // Done: dropping it now must not commit a second time.
        self.config.enable_auto_commit = false;
        result
    }

    fn group_id(&self) -> Result<&str> {
        match self.config.group_id.as_deref() {
            Some(id) if !id.is_empty() => Ok(id),
            _ => Err(Error::InvalidConfig {
                reason: "committed offsets need a non-empty group_id in the ConsumerConfig".into(),
            }),
        }
    }

    /// Positions of the partitions this consumer reads.
    ///
    /// As a group member, only of the partitions the group still has it owning: like Kafka,
    /// which rejects commits from a member that lost its partitions, so that a stale
    /// position can never move a group's committed offset back.
    fn positions(&self) -> Vec<(TopicPartition, u64)> {
        let owned = self
            .membership
            .as_ref()
            .map(|m| m.group.owned_by(&m.member_id));
        self.assigned
            .iter()
            .filter(|a| owned.as_ref().is_none_or(|owned| owned.contains(&a.tp)))
            .filter_map(|a| a.position.map(|p| (a.tp.clone(), p)))
            .collect()
    }

    /// Commits positions if auto-commit is on and the interval has passed.
    pub(super) fn auto_commit_if_due(&mut self) -> Result<()> {
        // A directory opened read-only takes no commits, automatic ones included.
        if self.config.enable_auto_commit
            && !self.inner.config().read_only
            && self.config.group_id.is_some()
            && self.last_commit.elapsed() >= self.config.auto_commit_interval
        {
            let result = self.commit();
            // A failure is retried at the next interval, not at every poll.
            self.last_commit = Instant::now();
            result?;
        }
        Ok(())
    }

    fn leave_group(&mut self) -> Result<()> {
        let committed = if self.config.enable_auto_commit
            && self.config.group_id.is_some()
            && !self.inner.config().read_only
            && self.inner.check_open().is_ok()
        {
            self.commit()
        } else {
            Ok(())
        };
        let mut outcome = Ok(());
        if let Some(m) = self.membership.take() {
            // As Kafka's `close`, the listener hears of the partitions leaving; whatever it
            // returns, the member leaves.
            let held: Vec<TopicPartition> = self.assigned.iter().map(|a| a.tp.clone()).collect();
            let positions: Vec<Option<u64>> = self.assigned.iter().map(|a| a.position).collect();
            if !held.is_empty() {
                outcome = self.revoke_listener(&m.group_id, &held, &positions);
            }
            self.assigned.clear();
            m.group.release(&m.member_id, &held);
            m.group
                .leave(&m.member_id, &|t| self.inner.partition_counts(t));
        }
        committed.and(outcome)
    }

    /// Checks in with the group: hands over partitions that moved away and takes those
    /// that moved here and have been let go.
    pub(super) fn sync_group(&mut self) -> Result<()> {
        let Some(mut m) = self.membership.take() else {
            return Ok(());
        };
        let result = self.sync_membership(&mut m);
        self.membership = Some(m);
        result
    }

    /// Acts on the group's current generation. Neither a listener error nor a failed
    /// auto-commit stops it: the partitions still move, and the first such error is returned
    /// at the end.
    fn sync_membership(&mut self, m: &mut Membership) -> Result<()> {
        let mut outcome = Ok(());
        let waiter = self.waiter();
        let inner = Arc::clone(&self.inner);
        let counts = |t: &[String]| inner.partition_counts(t);
        let (generation, target) = match m.group.sync(&m.member_id, &waiter, &counts) {
            Sync::Current { generation, target } => (generation, target),
            Sync::Removed => {
                // Removed for not polling in time: what it held was given away uncommitted,
                // as in Kafka. Rejoin under a new id.
                let lost: Vec<TopicPartition> = self.assigned.drain(..).map(|a| a.tp).collect();
                outcome = self.revoke_listener(&m.group_id, &lost, &[]);
                m.member_id = self.inner.coordinator().new_member_id(&m.group_id);
                m.generation = 0;
                m.pending.clear();
                let request = self.join_request(m);
                m.group.join(request, Arc::clone(&waiter), &counts);
                match m.group.sync(&m.member_id, &waiter, &counts) {
                    Sync::Current { generation, target } => (generation, target),
                    Sync::Removed => return outcome,
                }
            }
        };
        if generation == m.generation && m.pending.is_empty() {
            return outcome;
        }
        let eager = self.config.assignment_strategy != AssignmentStrategy::CooperativeSticky;
        let mut assigned_now = Vec::new();
        if generation != m.generation {
            // Partitions that move away: commit, tell the listener, let them go.
            let moving: Vec<usize> = (0..self.assigned.len())
                .filter(|&i| !target.contains(&self.assigned[i].tp))
                .collect();
            let committed = self.commit_before_rebalance(m, &moving, eager);
            outcome = outcome.and(committed);
            // Eager strategies tell the listener that everything was revoked and reassigned,
            // as Kafka's eager protocol does; the cooperative one only what moves.
            let told: Vec<usize> = if eager {
                (0..self.assigned.len()).collect()
            } else {
                moving.clone()
            };
            let told_tps: Vec<TopicPartition> =
                told.iter().map(|&i| self.assigned[i].tp.clone()).collect();
            let told_positions: Vec<Option<u64>> =
                told.iter().map(|&i| self.assigned[i].position).collect();
            if !told_tps.is_empty() {
                let result = self.revoke_listener(&m.group_id, &told_tps, &told_positions);
                outcome = outcome.and(result);
            }
            let moved: Vec<TopicPartition> = moving
                .iter()
                .map(|&i| self.assigned[i].tp.clone())
                .collect();
            self.assigned.retain(|a| !moved.contains(&a.tp));
            m.group.release(&m.member_id, &moved);
            if eager {
                assigned_now.extend(self.assigned.iter().map(|a| a.tp.clone()));
            }
            m.generation = generation;
            m.pending = target
                .iter()
                .filter(|tp| !self.assigned.iter().any(|a| a.tp == **tp))
                .cloned()
                .collect();
        }
        let taken = m.group.acquire(&m.member_id, &m.pending);
        m.pending.retain(|tp| !taken.contains(tp));
        for tp in taken {
            let Ok(topic) = self.inner.existing_topic(&tp.topic) else {
                continue;
            };
            let Ok(log) = topic.partition(tp.partition).map(Arc::clone) else {
                continue;
            };
            let position = self.start_position(&tp, &log);
            assigned_now.push(tp.clone());
            self.assigned.push(Assigned::new(tp, topic, log, position));
        }
        self.assigned.sort_by(|a, b| a.tp.cmp(&b.tp));
        if !assigned_now.is_empty() {
            assigned_now.sort();
            if let Some(listener) = self.listener.as_mut() {
                let result = listener.0.on_partitions_assigned(&assigned_now);
                outcome = outcome.and(result);
            }
        }
        outcome
    }

    /// With auto-commit on, commits before a rebalance: every position under an eager
    /// strategy (everything is revoked), only those of the partitions `moving` away under
    /// the cooperative one. A failure is logged and returned, and the rebalance goes on.
    fn commit_before_rebalance(
        &mut self,
        m: &Membership,
        moving: &[usize],
        eager: bool,
    ) -> Result<()> {
        if !self.config.enable_auto_commit {
            return Ok(());
        }
        let offsets: Vec<(TopicPartition, u64)> = if eager {
            self.positions()
        } else {
            moving
                .iter()
                .filter_map(|&i| {
                    self.assigned[i]
                        .position
                        .map(|p| (self.assigned[i].tp.clone(), p))
                })
                .collect()
        };
        let result = self.inner.commit_offsets(&m.group_id, &offsets);
        if let Err(e) = &result {
            // As Kafka's auto-commit before a rebalance: the partitions move on all the
            // same (a member that cannot commit must not keep them), and their new owners
            // start at the last committed offsets.
            tracing::warn!(
                group_id = %m.group_id,
                member_id = %m.member_id,
                error = e as &dyn std::error::Error,
                "auto-commit before a rebalance failed; the partitions move on"
            );
        }
        result
    }

    /// Tells the listener, if there is one, that `partitions` are leaving; returns what it
    /// returned.
    fn revoke_listener(
        &mut self,
        group_id: &str,
        partitions: &[TopicPartition],
        positions: &[Option<u64>],
    ) -> Result<()> {
        let Some(listener) = self.listener.as_mut() else {
            return Ok(());
        };
        let mut revoked = Revoked {
            partitions,
            positions: positions.to_vec(),
            inner: &self.inner,
            group_id,
        };
        listener.0.on_partitions_revoked(&mut revoked)
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        // Best effort, as `close`: a dropped member leaves its group at once.
        let _ = self.leave_group();
    }
}
