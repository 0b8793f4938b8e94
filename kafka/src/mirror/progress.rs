//! The mirror's progress as a strom consumer group's commits: per partition, the source
//! offset after the batches the target acknowledged, and as the commit's metadata the target
//! partition's end after them with the producer that wrote there and its sequence for the
//! next record, `strom-mirror/2 target-end=N producer=ID epoch=E sequence=S`.
//!
//! The target's end is what makes a crash recoverable without loss or duplicates: the
//! mirror is the target partitions' only writer, so at a restart the target's end now minus
//! the committed one is exactly the records the previous run wrote after its last commit,
//! which the new run passes over instead of sending again. The producer closes the one gap
//! that leaves: requests a killed run had in flight may still be stored after the new run
//! read the target's end. The new run goes on as the same producer, numbering its records
//! from the committed sequence as the killed run did, so the target stores each sequence
//! once, whichever of the two arrives first, and refuses the other.

use std::collections::HashMap;

use strom::{Broker, OffsetAndMetadata, TopicPartition};

use super::MirrorError;
use crate::client::ProducerIdentity;

/// The metadata format's prefix; its version is the number after the slash.
const FORMAT: &str = "strom-mirror/2 target-end=";
/// The first version's prefix, read still: a target end without a producer.
const FORMAT_1: &str = "strom-mirror/1 target-end=";
/// What every version of the format starts with.
const FAMILY: &str = "strom-mirror/";

/// One partition's progress to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Commit {
    pub(super) tp: TopicPartition,
    /// The source offset to copy next.
    pub(super) offset: u64,
    /// The target partition's end after what was copied before `offset`.
    pub(super) target_end: u64,
    /// The producer that wrote there, and its sequence for the next record.
    pub(super) producer: ProducerIdentity,
    pub(super) sequence: i32,
}

/// What a commit's metadata says: the target's end, and the producer and its next
/// sequence (none in the first version's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Resume {
    pub(super) target_end: u64,
    pub(super) producer: Option<(ProducerIdentity, i32)>,
}

/// The group's commits: per partition, the offset and what its metadata says (`None` for a
/// commit without it: made by another writer of the group's offsets, which the mirror
/// takes as a position only).
///
/// # Errors
///
/// [`MirrorError::Local`] if the commits cannot be read; [`MirrorError::Refused`] for
/// metadata of a newer version of this format, which this mirror must not misread.
pub(super) fn load(
    broker: &Broker,
    group: &str,
) -> Result<HashMap<TopicPartition, (u64, Option<Resume>)>, MirrorError> {
    let mut out = HashMap::new();
    for (tp, committed) in broker.committed_offsets_with_metadata(group)? {
        let target_end = parse(&committed.metadata);
        if target_end.is_none() && committed.metadata.starts_with(FAMILY) {
            return Err(MirrorError::Refused(format!(
                "{}/{}: group {group}'s commit carries {:?}, written by another version of \
                 the mirror",
                tp.topic, tp.partition, committed.metadata
            )));
        }
        out.insert(tp, (committed.offset, target_end));
    }
    Ok(out)
}

/// Commits `commits` (durable when it returns).
pub(super) fn commit(broker: &Broker, group: &str, commits: &[Commit]) -> Result<(), MirrorError> {
    if commits.is_empty() {
        return Ok(());
    }
    let offsets: Vec<(TopicPartition, OffsetAndMetadata)> = commits
        .iter()
        .map(|c| {
            (
                c.tp.clone(),
                OffsetAndMetadata::with_metadata(c.offset, metadata(c)),
            )
        })
        .collect();
    broker.commit_offsets_with_metadata(group, &offsets)?;
    Ok(())
}

/// The metadata of `commit`.
pub(super) fn metadata(commit: &Commit) -> String {
    format!(
        "{FORMAT}{} producer={} epoch={} sequence={}",
        commit.target_end, commit.producer.id, commit.producer.epoch, commit.sequence
    )
}

/// What a commit's metadata says; `None` for metadata of another kind.
pub(super) fn parse(metadata: &str) -> Option<Resume> {
    if let Some(end) = metadata.strip_prefix(FORMAT_1) {
        return Some(Resume {
            target_end: end.parse().ok()?,
            producer: None,
        });
    }
    let mut fields = metadata.strip_prefix(FORMAT)?.split(' ');
    let target_end = fields.next()?.parse().ok()?;
    let mut field = |name: &str| fields.next()?.strip_prefix(name)?.strip_prefix('=');
    let id = field("producer")?.parse().ok()?;
    let epoch = field("epoch")?.parse().ok()?;
    let sequence = field("sequence")?.parse().ok()?;
    if fields.next().is_some() {
        return None;
    }
    Some(Resume {
        target_end,
        producer: Some((ProducerIdentity { id, epoch }, sequence)),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resume_point_round_trips_and_other_metadata_is_not_read_as_one() {
        let commit = Commit {
            tp: TopicPartition::new("orders", 1),
            offset: 10,
            target_end: 1234,
            producer: ProducerIdentity { id: 7, epoch: 2 },
            sequence: 99,
        };
        let written = metadata(&commit);
        assert_eq!(
            written,
            "strom-mirror/2 target-end=1234 producer=7 epoch=2 sequence=99"
        );
        assert_eq!(
            parse(&written),
            Some(Resume {
                target_end: 1234,
                producer: Some((commit.producer, 99)),
            })
        );
        // The first version's: a target end alone.
        assert_eq!(
            parse("strom-mirror/1 target-end=5"),
            Some(Resume {
                target_end: 5,
                producer: None,
            })
        );
        assert_eq!(parse(""), None);
        assert_eq!(parse("strom-mirror/2 target-end=5"), None);
        assert_eq!(parse("strom-mirror/3 target-end=5"), None);
        assert_eq!(parse("strom-mirror/1 target-end=x"), None);
        assert_eq!(parse(&format!("{written} more=1")), None);
    }

    #[test]
    fn a_target_that_lost_records_is_refused_with_both_numbers() {
        let tp = TopicPartition::new("orders", 2);
        assert_eq!(written_since(&tp, 10, 14).unwrap(), 4);
        let e = written_since(&tp, 10, 7).unwrap_err().to_string();
        assert!(
            e.contains("orders/2") && e.contains("10") && e.contains('7'),
            "{e}"
        );
    }
}
