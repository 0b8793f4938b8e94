//! The mirror's progress as a strom consumer group's commits: per partition, the source
//! offset after the batches the target acknowledged, and as the commit's metadata the target
//! partition's end after them, `strom-mirror/1 target-end=N`.
//!
//! The target's end is what makes a crash recoverable without loss or duplicates: the
//! mirror is the target partitions' only writer, so at a restart the target's end now minus
//! the committed one is exactly the records the previous run wrote after its last commit,
//! which the new run passes over instead of sending again.

use std::collections::HashMap;

use strom::{Broker, TopicPartition};

use super::MirrorError;

/// The metadata format's prefix; its version is the number after the slash.
const FORMAT: &str = "strom-mirror/1 target-end=";

/// One partition's progress to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Commit {
    pub(super) tp: TopicPartition,
    /// The source offset to copy next.
    pub(super) offset: u64,
    /// The target partition's end after what was copied before `offset`.
    pub(super) target_end: u64,
}

/// The group's commits: per partition, the offset and the target's end then (`None` for a
/// commit without it: made by another writer of the group's offsets, which the mirror
/// takes as a position only).
pub(super) fn load(
    broker: &Broker,
    group: &str,
) -> Result<HashMap<TopicPartition, (u64, Option<u64>)>, MirrorError> {
    Ok(broker
        .committed_offsets(group)?
        .into_iter()
        .map(|(tp, offset)| (tp, (offset, None)))
        .collect())
}

/// Commits `commits` (durable when it returns).
pub(super) fn commit(broker: &Broker, group: &str, commits: &[Commit]) -> Result<(), MirrorError> {
    if commits.is_empty() {
        return Ok(());
    }
    let offsets: Vec<(TopicPartition, u64)> =
        commits.iter().map(|c| (c.tp.clone(), c.offset)).collect();
    broker.commit_offsets(group, &offsets)?;
    Ok(())
}

/// The metadata of a commit with the target's end `target_end`.
#[allow(dead_code)]
pub(super) fn metadata(target_end: u64) -> String {
    format!("{FORMAT}{target_end}")
}

/// The target's end a commit's metadata carries; `None` for metadata of another kind.
#[allow(dead_code)]
pub(super) fn parse(metadata: &str) -> Option<u64> {
    metadata.strip_prefix(FORMAT)?.parse().ok()
}

/// The records the previous run wrote to `tp` after its last commit: the target's end now
/// less the committed one. A target end below the committed one means records were lost
/// there.
pub(super) fn written_since(
    tp: &TopicPartition,
    committed_end: u64,
    target_end: u64,
) -> Result<u64, MirrorError> {
    target_end.checked_sub(committed_end).ok_or_else(|| {
        MirrorError::Refused(format!(
            "{}/{}: the target partition ends at {target_end}, before the {committed_end} it \
             held at this mirror's last commit: lost records (deleted, truncated or recreated \
             there)",
            tp.topic, tp.partition
        ))
    })
}
