//! Consumer-group administration, as Kafka's admin client does it: deleting a group, or
//! some of its committed offsets.

use super::Broker;
use crate::error::{Error, Result};
use crate::record::TopicPartition;

impl Broker {
    /// Deletes a consumer group that has no members: its committed offsets (with their
    /// metadata) are gone, and it is no longer listed. As Kafka's `deleteConsumerGroups`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// use strom::{Broker, TopicConfig, TopicPartition};
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("orders", TopicConfig::default())?;
    /// broker.commit_offsets("billing", &[(TopicPartition::new("orders", 0), 1)])?;
    /// assert_eq!(broker.groups(), ["billing"]);
    /// broker.delete_group("billing")?;
    /// assert!(broker.groups().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownGroup`] for a group with neither commits nor members,
    /// [`Error::GroupNotEmpty`] while it has members, [`Error::Io`], [`Error::ReadOnly`],
    /// [`Error::Closed`].
    pub fn delete_group(&self, group_id: &str) -> Result<()> {
        self.inner.check_open()?;
        self.inner.check_writable("delete_group")?;
        let members = self
            .inner
            .coordinator
            .existing(group_id)
            .map_or(0, |g| g.describe().1.len());
        if members > 0 {
            return Err(Error::GroupNotEmpty {
                group_id: group_id.to_string(),
                reason: format!("{members} members; the group cannot be deleted"),
            });
        }
        let emptied = self.inner.coordinator.forget_emptied(group_id);
        if !emptied && !self.inner.offsets.groups().iter().any(|g| g == group_id) {
            return Err(Error::UnknownGroup {
                group_id: group_id.to_string(),
            });
        }
        self.inner.offsets.forget(group_id, |_| true)?;
        tracing::info!(group = group_id, "deleted consumer group");
        Ok(())
    }

    /// Deletes a consumer group's committed offsets for `partitions` (as Kafka's
    /// `deleteConsumerGroupOffsets`): a consumer of the group then starts them from its
    /// `auto_offset_reset`. Partitions with no commit are left as they are. A group without
    /// members whose last offsets go stays, empty, until [`delete_group`](Self::delete_group)
    /// (or the broker closes), as Kafka keeps it.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// use strom::{Broker, TopicConfig, TopicPartition};
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("orders", TopicConfig::default().partitions(2))?;
    /// let p0 = TopicPartition::new("orders", 0);
    /// let p1 = TopicPartition::new("orders", 1);
    /// broker.commit_offsets("billing", &[(p0.clone(), 5), (p1.clone(), 7)])?;
    /// broker.delete_committed_offsets("billing", &[p0.clone()])?;
    /// let left = broker.describe_group("billing")?;
    /// assert_eq!(left.partitions.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownGroup`] for a group with neither commits nor members,
    /// [`Error::GroupNotEmpty`] when a member of the group subscribes to the topic of one of
    /// `partitions` (nothing is deleted then), [`Error::Io`], [`Error::ReadOnly`], [`Error::Closed`].
    pub fn delete_committed_offsets(
        &self,
        group_id: &str,
        partitions: &[TopicPartition],
    ) -> Result<()> {
        self.inner.check_open()?;
        self.inner.check_writable("delete_committed_offsets")?;
        let group = self.inner.coordinator.existing(group_id);
        let has_members = group.as_ref().is_some_and(|g| !g.describe().1.is_empty());
        let committed = self.inner.offsets.groups().iter().any(|g| g == group_id);
        if !has_members && !committed && !self.inner.coordinator.is_listed(group_id) {
            return Err(Error::UnknownGroup {
                group_id: group_id.to_string(),
            });
        }
        // As Kafka: the topics a member subscribes to keep their offsets (a topic merely
        // committed, or assigned before a subscription changed, does not).
        if let Some(tp) = partitions
            .iter()
            .find(|tp| group.as_ref().is_some_and(|g| g.subscribes_to(&tp.topic)))
        {
            return Err(Error::GroupNotEmpty {
                group_id: group_id.to_string(),
                reason: format!(
                    "a member subscribes to topic {:?}; its offsets cannot be deleted",
                    tp.topic
                ),
            });
        }
        self.inner
            .offsets
            .forget(group_id, |tp| partitions.contains(tp))?;
        if !has_members && !self.inner.offsets.groups().iter().any(|g| g == group_id) {
            // Its last offsets went: the group stays, empty, as in Kafka.
            self.inner.coordinator.keep_emptied(group_id);
        }
        tracing::info!(group = group_id, "deleted committed offsets");
        Ok(())
    }
}
