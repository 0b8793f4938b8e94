//! Committed offsets: each group's, durable across restarts and crashes.
//!
//! A group's offsets live in `<data>/__consumer_offsets/<group id, hex>.json`, replaced
//! atomically on every commit (write a temporary file, fsync, rename, fsync the directory),
//! so a crash leaves either the old or the new set and a commit is durable when it returns.
//! The group id is hex-encoded because Kafka allows any string there, including `/`.
//! Offsets committed by transactions are made durable by the transaction log, with the
//! commit decision (see `transaction::coordinator`), and applied here, in memory, when the
//! transaction completes and again at open.
//!
//! Each committed offset may carry a string, Kafka's offset metadata
//! ([`OffsetAndMetadata`]). It lives in the same file as the offsets, written in the same
//! atomic replace; a group whose partitions carry none writes no `metadata` field, and a
//! file without one (written before metadata existed) loads with "" everywhere. The leader
//! epoch a Kafka client commits with an offset is kept the same way (`leader_epochs`, absent
//! where none was sent).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::record::TopicPartition;
use crate::storage::{atomic_write, read_json, remove_if_exists};

/// The directory of committed offsets, beside the topics.
pub(crate) const OFFSETS_DIR: &str = "__consumer_offsets";

/// Kafka's `offset.metadata.max.bytes` default: the longest metadata string a commit may
/// carry.
const MAX_METADATA_BYTES: usize = 4096;

/// Kafka's `OffsetAndMetadata`: a committed offset (the next offset the group reads) and
/// the string committed with it, which Kafka stores and hands back untouched (a mirror
/// keeps its resume point there, an application whatever identifies what it processed).
///
/// Each commit of a partition replaces its metadata and leader epoch: commits that carry
/// none (as [`Broker::commit_offsets`](crate::Broker::commit_offsets) or
/// [`Consumer::commit`](crate::Consumer::commit)) leave "" and `None`.
///
/// # Examples
///
/// ```
/// use strom::OffsetAndMetadata;
///
/// let plain = OffsetAndMetadata::new(42);
/// assert_eq!(plain.metadata, "");
/// let tagged = OffsetAndMetadata::with_metadata(42, "source=eu-1;upto=1234");
/// assert_eq!(tagged.offset, 42);
/// assert_ne!(plain, tagged);
/// // A Kafka client also sends the leader epoch of the last record it read.
/// let from_kafka = OffsetAndMetadata::new(42).with_leader_epoch(Some(0));
/// assert_eq!(from_kafka.leader_epoch, Some(0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct OffsetAndMetadata {
    /// The next offset the group reads in the partition.
    pub offset: u64,
    /// The string committed with the offset; "" for none. At most
    /// [`OffsetAndMetadata::MAX_METADATA_BYTES`] bytes.
    pub metadata: String,
    /// The leader epoch of the partition when the committed position was read, as Kafka's
    /// clients send it with a commit (they check it against the partition's log when they
    /// resume); `None` when the commit carried none. strom stores it and hands it back
    /// untouched: its partitions have one leader, at epoch 0.
    pub leader_epoch: Option<i32>,
}

impl OffsetAndMetadata {
    /// The longest metadata a commit may carry, in bytes: 4096, the default of Kafka's
    /// `offset.metadata.max.bytes`. A longer one is refused with
    /// [`Error::OffsetMetadataTooLarge`].
    ///
    /// ```
    /// assert_eq!(strom::OffsetAndMetadata::MAX_METADATA_BYTES, 4096);
    /// ```
    pub const MAX_METADATA_BYTES: usize = MAX_METADATA_BYTES;

    /// An offset with no metadata ("").
    ///
    /// ```
    /// let committed = strom::OffsetAndMetadata::new(7);
    /// assert_eq!((committed.offset, committed.metadata.as_str()), (7, ""));
    /// ```
    #[must_use]
    pub fn new(offset: u64) -> Self {
        Self {
            offset,
            metadata: String::new(),
            leader_epoch: None,
        }
    }

    /// An offset and the metadata to commit with it.
    ///
    /// ```
    /// let committed = strom::OffsetAndMetadata::with_metadata(7, "batch 12");
    /// assert_eq!((committed.offset, committed.metadata.as_str()), (7, "batch 12"));
    /// ```
    #[must_use]
    pub fn with_metadata(offset: u64, metadata: impl Into<String>) -> Self {
        Self {
            offset,
            metadata: metadata.into(),
            leader_epoch: None,
        }
    }

    /// The same offset and metadata with `leader_epoch` (`None`: no epoch).
    ///
    /// ```
    /// let committed = strom::OffsetAndMetadata::with_metadata(7, "batch 12").with_leader_epoch(Some(3));
    /// assert_eq!((committed.offset, committed.leader_epoch), (7, Some(3)));
    /// ```
    #[must_use]
    pub fn with_leader_epoch(mut self, leader_epoch: Option<i32>) -> Self {
        self.leader_epoch = leader_epoch;
        self
    }
}

/// [`Error::OffsetMetadataTooLarge`] for the first partition whose metadata is longer than
/// [`MAX_METADATA_BYTES`].
pub(crate) fn check_metadata(
    group_id: &str,
    offsets: &[(TopicPartition, OffsetAndMetadata)],
) -> Result<()> {
    match offsets
        .iter()
        .find(|(_, o)| o.metadata.len() > MAX_METADATA_BYTES)
    {
        None => Ok(()),
        Some((tp, o)) => Err(Error::OffsetMetadataTooLarge {
            group_id: group_id.to_string(),
            topic: tp.topic.clone(),
            partition: tp.partition,
            size: o.metadata.len(),
            max: MAX_METADATA_BYTES,
        }),
    }
}

/// One group's committed offsets as stored: topic → partition → next offset to read.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct StoredOffsets {
    group_id: String,
    offsets: BTreeMap<String, BTreeMap<u32, u64>>,
    /// Topic → partition → the metadata committed with the offset, for the partitions whose
    /// metadata is not "" (files from before metadata existed have no such field).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<String, BTreeMap<u32, String>>,
    /// Topic → partition → the leader epoch committed with the offset, for the partitions
    /// that have one (files from before epochs were kept have no such field).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    leader_epochs: BTreeMap<String, BTreeMap<u32, i32>>,
    /// Topic → partition → the last transaction that set the partition's offset: the
    /// offset of its commit decision in the transaction log. Recovery re-applies a decided
    /// transaction's offset only where it is newer, so it never rolls back commits made
    /// after it. Per partition, because a group's members commit through producers of
    /// their own, whose transactions are decided and completed concurrently, in any order.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    applied_txns: BTreeMap<String, BTreeMap<u32, u64>>,
}

/// For each partition, the last transaction that set its offset (see
/// [`StoredOffsets::applied_txns`]).
type Applied = HashMap<TopicPartition, u64>;

/// Every group's committed offsets, by group id.
type Groups = HashMap<String, HashMap<TopicPartition, u64>>;

/// What a commit carries beside the offset: its metadata string and leader epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Extra {
    metadata: String,
    leader_epoch: Option<i32>,
}

impl Extra {
    fn of(committed: &OffsetAndMetadata) -> Self {
        Self {
            metadata: committed.metadata.clone(),
            leader_epoch: committed.leader_epoch,
        }
    }

    fn is_empty(&self) -> bool {
        self.metadata.is_empty() && self.leader_epoch.is_none()
    }
}

/// A group's metadata and leader epochs by partition; only the partitions that have either.
type Metadata = HashMap<TopicPartition, Extra>;

/// Topic → partition → value, as stored, from a map by partition.
fn nested<V: Clone>(map: &HashMap<TopicPartition, V>) -> BTreeMap<String, BTreeMap<u32, V>> {
    let mut out: BTreeMap<String, BTreeMap<u32, V>> = BTreeMap::new();
    for (tp, value) in map {
        out.entry(tp.topic.clone())
            .or_default()
            .insert(tp.partition, value.clone());
    }
    out
}

/// A map by partition from topic → partition → value, as stored.
fn flat<V>(map: BTreeMap<String, BTreeMap<u32, V>>) -> HashMap<TopicPartition, V> {
    map.into_iter()
        .flat_map(|(topic, parts)| {
            parts
                .into_iter()
                .map(move |(p, v)| (TopicPartition::new(topic.clone(), p), v))
        })
        .collect()
}

/// Every group's committed offsets, in memory and on disk.
#[derive(Debug)]
pub(crate) struct OffsetStore {
    dir: PathBuf,
    groups: Mutex<Groups>,
    /// Each group's `applied_txns`; locked inside `groups`.
    applied_txn: Mutex<HashMap<String, Applied>>,
    /// Each group's non-empty metadata and leader epochs; locked inside `applied_txn`.
    metadata: Mutex<HashMap<String, Metadata>>,
    /// Opened read-only: when the directory was last seen changed (see `reload`).
    follow: Option<Mutex<Option<std::time::SystemTime>>>,
}

/// What a directory of offsets holds: every group's offsets, transaction marks and
/// metadata.
#[derive(Debug, Default)]
struct Loaded {
    groups: Groups,
    applied_txn: HashMap<String, Applied>,
    metadata: HashMap<String, Metadata>,
}

/// Every group's offsets, transaction marks and metadata stored in `dir`. `read_only`: a
/// missing directory holds none, and a file gone between listing and reading (the writer
/// removed a group's last offsets) is skipped.
fn load(dir: &Path, read_only: bool) -> Result<Loaded> {
    let mut loaded = Loaded::default();
    let entries = match fs::read_dir(dir) {
        Err(e) if read_only && e.kind() == std::io::ErrorKind::NotFound => return Ok(loaded),
        other => other.at(dir)?,
    };
    for entry in entries {
        let path = entry.at(dir)?.path();
        let ours = path.extension().and_then(|e| e.to_str()) == Some("json")
            && path.file_stem().and_then(|s| s.to_str()).is_some_and(|s| {
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
            });
        if !ours {
            continue;
        }
        let stored: StoredOffsets = match read_json(&path) {
            Err(Error::Io { source, .. })
                if read_only && source.kind() == std::io::ErrorKind::NotFound =>
            {
                continue
            }
            other => other?,
        };
        let offsets = flat(stored.offsets);
        let applied = flat(stored.applied_txns);
        if !applied.is_empty() {
            loaded.applied_txn.insert(stored.group_id.clone(), applied);
        }
        // Metadata of a partition without an offset would be a damaged file's; it is
        // dropped rather than handed back with no offset to go with it.
        let mut metadata: Metadata = HashMap::new();
        for (tp, tag) in flat(stored.metadata) {
            metadata.entry(tp).or_default().metadata = tag;
        }
        for (tp, epoch) in flat(stored.leader_epochs) {
            metadata.entry(tp).or_default().leader_epoch = Some(epoch);
        }
        metadata.retain(|tp, extra| !extra.is_empty() && offsets.contains_key(tp));
        if !metadata.is_empty() {
            loaded.metadata.insert(stored.group_id.clone(), metadata);
        }
        loaded.groups.insert(stored.group_id, offsets);
    }
    Ok(loaded)
}

/// When `dir` last changed, if it exists.
fn modified(dir: &Path) -> Option<std::time::SystemTime> {
    fs::metadata(dir).and_then(|m| m.modified()).ok()
}

impl OffsetStore {
    /// Loads every group's offsets from `data_dir`.
    pub(crate) fn open(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join(OFFSETS_DIR);
        fs::create_dir_all(&dir).at(&dir)?;
        let loaded = load(&dir, false)?;
        Ok(Self {
            dir,
            groups: Mutex::new(loaded.groups),
            applied_txn: Mutex::new(loaded.applied_txn),
            metadata: Mutex::new(loaded.metadata),
            follow: None,
        })
    }

    /// Loads every group's offsets from `data_dir`, which another process may be writing,
    /// for reading only: [`reload`](Self::reload) takes in its later commits, and commits
    /// here are [`Error::ReadOnly`].
    pub(crate) fn open_read_only(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join(OFFSETS_DIR);
        let stamp = modified(&dir);
        let loaded = load(&dir, true)?;
        Ok(Self {
            dir,
            groups: Mutex::new(loaded.groups),
            applied_txn: Mutex::new(loaded.applied_txn),
            metadata: Mutex::new(loaded.metadata),
            follow: Some(Mutex::new(stamp)),
        })
    }

    /// In a store opened read-only, reads the offsets again if their directory changed
    /// since the last look (a commit replaces a group's file, which changes it).
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Corrupt`] for a file that cannot be read.
    pub(crate) fn reload(&self) -> Result<()> {
        let Some(follow) = &self.follow else {
            return Ok(());
        };
        let mut seen = follow.lock();
        let now = modified(&self.dir);
        if now.is_some() && now == *seen {
            return Ok(());
        }
        let loaded = load(&self.dir, true)?;
        let mut groups = self.groups.lock();
        let mut applied = self.applied_txn.lock();
        let mut metadata = self.metadata.lock();
        *groups = loaded.groups;
        *applied = loaded.applied_txn;
        *metadata = loaded.metadata;
        *seen = now;
        Ok(())
    }

    /// [`Error::ReadOnly`] in a store opened read-only.
    fn check_writable(&self, operation: &'static str) -> Result<()> {
        match &self.follow {
            None => Ok(()),
            Some(_) => Err(Error::ReadOnly {
                dir: self.dir.parent().unwrap_or(&self.dir).to_path_buf(),
                operation,
            }),
        }
    }

    /// Ids of the groups that have committed offsets.
    pub(crate) fn groups(&self) -> Vec<String> {
        self.groups.lock().keys().cloned().collect()
    }

    /// A group's committed offset for `tp`.
    pub(crate) fn committed(&self, group_id: &str, tp: &TopicPartition) -> Option<u64> {
        self.groups
            .lock()
            .get(group_id)
            .and_then(|g| g.get(tp))
            .copied()
    }

    /// All of a group's committed offsets.
    pub(crate) fn all(&self, group_id: &str) -> HashMap<TopicPartition, u64> {
        self.groups
            .lock()
            .get(group_id)
            .cloned()
            .unwrap_or_default()
    }

    /// All of a group's committed offsets with their metadata.
    pub(crate) fn all_with_metadata(
        &self,
        group_id: &str,
    ) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        // IMPORTANT: `groups` before `metadata`, the order every writer takes them in.
        let groups = self.groups.lock();
        let metadata = self.metadata.lock();
        let (Some(offsets), tags) = (groups.get(group_id), metadata.get(group_id)) else {
            return Vec::new();
        };
        offsets
            .iter()
            .map(|(tp, &offset)| {
                let extra = tags.and_then(|t| t.get(tp)).cloned().unwrap_or_default();
                let committed = OffsetAndMetadata::with_metadata(offset, extra.metadata)
                    .with_leader_epoch(extra.leader_epoch);
                (tp.clone(), committed)
            })
            .collect()
    }

    /// Commits `offsets` for `group_id`, each with metadata ""; durable when it returns.
    pub(crate) fn commit(&self, group_id: &str, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        self.commit_entries(
            group_id,
            offsets.iter().map(|(tp, o)| (tp, *o, Extra::default())),
        )
    }

    /// Commits `offsets` with their metadata for `group_id`; durable when it returns.
    ///
    /// # Errors
    /// [`Error::OffsetMetadataTooLarge`], and nothing committed, when any metadata is longer
    /// than [`MAX_METADATA_BYTES`]; [`Error::ReadOnly`]; [`Error::Io`].
    pub(crate) fn commit_with_metadata(
        &self,
        group_id: &str,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<()> {
        check_metadata(group_id, offsets)?;
        self.commit_entries(
            group_id,
            offsets.iter().map(|(tp, o)| (tp, o.offset, Extra::of(o))),
        )
    }

    /// Commits `(partition, offset, metadata and epoch)` entries: each replaces the
    /// partition's offset, metadata and epoch.
    fn commit_entries<'a>(
        &self,
        group_id: &str,
        entries: impl Iterator<Item = (&'a TopicPartition, u64, Extra)> + Clone,
    ) -> Result<()> {
        self.check_writable("commit")?;
        if entries.clone().next().is_none() {
            return Ok(());
        }
        // Written under the locks, so two commits of one group cannot finish out of order.
        let mut groups = self.groups.lock();
        let applied = self.applied_txn.lock();
        let mut metadata = self.metadata.lock();
        let mut updated = groups.get(group_id).cloned().unwrap_or_default();
        let mut tags = metadata.get(group_id).cloned().unwrap_or_default();
        for (tp, offset, tag) in entries {
            updated.insert(tp.clone(), offset);
            if tag.is_empty() {
                tags.remove(tp);
            } else {
                tags.insert(tp.clone(), tag);
            }
        }
        let marks = applied.get(group_id).cloned().unwrap_or_default();
        self.save(group_id, &updated, &marks, &tags)?;
        groups.insert(group_id.to_string(), updated);
        if tags.is_empty() {
            metadata.remove(group_id);
        } else {
            metadata.insert(group_id.to_string(), tags);
        }
        Ok(())
    }

    /// Takes the offsets committed by transactions: `(partition, offset, mark)` (the offset
    /// with the metadata and leader epoch sent with it), the mark
    /// being the offset of the offset's record in the transaction log, which holds it
    /// durably (this store keeps it in memory, and on disk with the group's next plain
    /// commit). A partition where this group already holds the offset of that record or a
    /// later one keeps it, so a recovery applying the log again never rolls back commits
    /// made after it.
    pub(crate) fn apply_transaction(
        &self,
        group_id: &str,
        offsets: &[(TopicPartition, OffsetAndMetadata, u64)],
    ) {
        let mut groups = self.groups.lock();
        let mut applied = self.applied_txn.lock();
        let mut metadata = self.metadata.lock();
        let marks = applied.entry(group_id.to_string()).or_default();
        let committed = groups.entry(group_id.to_string()).or_default();
        // Each offset a transaction sets replaces the partition's metadata and epoch with its
        // own (kept in memory until the group's next plain commit writes the file, as the
        // offsets are; recovery applies the transaction again, and sets them again).
        let mut tags = metadata.remove(group_id).unwrap_or_default();
        for (tp, offset, mark) in offsets {
            // IMPORTANT: per partition. Another member's transaction decided after this one
            // may have completed first: it set other partitions, and must not keep this
            // one's offsets out.
            if marks.get(tp).is_some_and(|done| done >= mark) {
                continue;
            }
            marks.insert(tp.clone(), *mark);
            committed.insert(tp.clone(), offset.offset);
            let extra = Extra::of(offset);
            if extra.is_empty() {
                tags.remove(tp);
            } else {
                tags.insert(tp.clone(), extra);
            }
        }
        if !tags.is_empty() {
            metadata.insert(group_id.to_string(), tags);
        }
    }

    /// Forgets a deleted topic's offsets in every group (they would point into a log that
    /// no longer exists, and a new topic of the same name starts at 0).
    pub(crate) fn forget_topic(&self, topic: &str) -> Result<()> {
        self.check_writable("delete_topic")?;
        let affected: Vec<String> = self
            .groups
            .lock()
            .iter()
            .filter(|(_, offsets)| offsets.keys().any(|tp| tp.topic == topic))
            .map(|(group, _)| group.clone())
            .collect();
        for group_id in affected {
            self.forget(&group_id, |tp| tp.topic == topic)?;
        }
        Ok(())
    }

    /// Drops a group's committed offsets (with their metadata and transaction marks) for
    /// the partitions `doomed` picks; the group's file goes once none are left.
    pub(crate) fn forget(
        &self,
        group_id: &str,
        doomed: impl Fn(&TopicPartition) -> bool,
    ) -> Result<()> {
        self.check_writable("delete committed offsets")?;
        let mut groups = self.groups.lock();
        let mut applied = self.applied_txn.lock();
        let mut metadata = self.metadata.lock();
        let mut remaining = groups.remove(group_id).unwrap_or_default();
        remaining.retain(|tp, _| !doomed(tp));
        let mut marks = applied.remove(group_id).unwrap_or_default();
        marks.retain(|tp, _| !doomed(tp));
        let mut tags = metadata.remove(group_id).unwrap_or_default();
        tags.retain(|tp, _| !doomed(tp));
        let saved = self.save(group_id, &remaining, &marks, &tags);
        if !remaining.is_empty() {
            groups.insert(group_id.to_string(), remaining);
        }
        if !marks.is_empty() {
            applied.insert(group_id.to_string(), marks);
        }
        if !tags.is_empty() {
            metadata.insert(group_id.to_string(), tags);
        }
        saved
    }

    /// Replaces a group's file with `offsets`, or removes it when there are none.
    fn save(
        &self,
        group_id: &str,
        offsets: &HashMap<TopicPartition, u64>,
        applied: &Applied,
        metadata: &Metadata,
    ) -> Result<()> {
        let path = self.path(group_id);
        if offsets.is_empty() {
            return remove_if_exists(&path);
        }
        let stored = StoredOffsets {
            group_id: group_id.to_string(),
            offsets: nested(offsets),
            applied_txns: nested(applied),
            metadata: nested(
                &metadata
                    .iter()
                    .filter(|(_, e)| !e.metadata.is_empty())
                    .map(|(tp, e)| (tp.clone(), e.metadata.clone()))
                    .collect(),
            ),
            leader_epochs: nested(
                &metadata
                    .iter()
                    .filter_map(|(tp, e)| e.leader_epoch.map(|epoch| (tp.clone(), epoch)))
                    .collect(),
            ),
        };
        let bytes = serde_json::to_vec(&stored).map_err(|source| Error::Serde {
            context: format!("offsets of group {group_id:?}"),
            source,
        })?;
        atomic_write(&path, &bytes)
    }

    /// The file of a group: its id in hex, so that any string is a safe file name. Ids
    /// too long for a file name (255 bytes) keep a hex prefix and add a 64-bit FNV-1a hash
    /// of the whole id; the file itself holds the full id.
    fn path(&self, group_id: &str) -> PathBuf {
        const HEX_BYTES: usize = 100;
        let hex = |bytes: &[u8]| {
            bytes.iter().fold(String::new(), |mut hex, b| {
                hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
                hex.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
                hex
            })
        };
        let id = group_id.as_bytes();
        let name = if id.len() <= HEX_BYTES {
            hex(id)
        } else {
            let hash = id.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            format!("{}-{hash:016x}", hex(&id[..HEX_BYTES]))
        };
        self.dir.join(format!("{name}.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_survive_reopen_and_groups_are_independent() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            path: PathBuf::new(),
            source,
        })?;
        let tp = TopicPartition::new("t", 1);
        {
            let store = OffsetStore::open(dir.path())?;
            store.commit("a/b", &[(tp.clone(), 5)])?;
            store.commit("a/b", &[(tp.clone(), 7), (TopicPartition::new("u", 0), 2)])?;
            store.commit("other", &[(tp.clone(), 1)])?;
        }
        let store = OffsetStore::open(dir.path())?;
        assert_eq!(store.committed("a/b", &tp), Some(7));
        assert_eq!(store.committed("other", &tp), Some(1));
        assert_eq!(store.committed("none", &tp), None);
        let mut groups = store.groups();
        groups.sort();
        assert_eq!(groups, ["a/b", "other"]);
        store.forget_topic("t")?;
        assert_eq!(store.committed("a/b", &tp), None);
        assert_eq!(
            store.committed("a/b", &TopicPartition::new("u", 0)),
            Some(2)
        );
        assert_eq!(store.groups(), ["a/b"]);
        Ok(())
    }

    /// Two members' producers decide their transactions at 10 and 11 and complete them in
    /// the other order: both offsets are taken (the second was dropped while the mark of
    /// the last transaction applied was one for the whole group).
    #[test]
    fn transactions_completed_out_of_order_keep_every_partition() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            path: PathBuf::new(),
            source,
        })?;
        let (p0, p1) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        {
            let store = OffsetStore::open(dir.path())?;
            store.apply_transaction("g", &[(p1.clone(), OffsetAndMetadata::new(7), 11)]);
            store.apply_transaction("g", &[(p0.clone(), OffsetAndMetadata::new(5), 10)]);
            assert_eq!(store.committed("g", &p0), Some(5));
            assert_eq!(store.committed("g", &p1), Some(7));
            // Recovery applying the transaction decided at 10 again, after a later manual
            // commit: that commit stands.
            store.commit("g", &[(p0.clone(), 9)])?;
        }
        let store = OffsetStore::open(dir.path())?;
        store.apply_transaction(
            "g",
            &[
                (p0.clone(), OffsetAndMetadata::new(5), 10),
                (p1.clone(), OffsetAndMetadata::new(6), 10),
            ],
        );
        assert_eq!(store.committed("g", &p0), Some(9));
        assert_eq!(store.committed("g", &p1), Some(7));
        store.apply_transaction("g", &[(p1.clone(), OffsetAndMetadata::new(8), 12)]);
        assert_eq!(store.committed("g", &p1), Some(8));
        Ok(())
    }
}
