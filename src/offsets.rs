//! Committed offsets: each group's, durable across restarts and crashes.
//!
//! A group's offsets live in `<data>/__consumer_offsets/<group id, hex>.json`, replaced
//! atomically on every commit (write a temporary file, fsync, rename, fsync the directory),
//! so a crash leaves either the old or the new set and a commit is durable when it returns.
//! The group id is hex-encoded because Kafka allows any string there, including `/`.
//! Offsets committed by transactions are made durable by the transaction log, with the
//! commit decision (see `transaction::coordinator`), and applied here, in memory, when the
//! transaction completes and again at open.

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

/// One group's committed offsets as stored: topic → partition → next offset to read.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct StoredOffsets {
    group_id: String,
    offsets: BTreeMap<String, BTreeMap<u32, u64>>,
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

/// Topic → partition → value, as stored, from a map by partition.
fn nested(map: &HashMap<TopicPartition, u64>) -> BTreeMap<String, BTreeMap<u32, u64>> {
    let mut out: BTreeMap<String, BTreeMap<u32, u64>> = BTreeMap::new();
    for (tp, value) in map {
        out.entry(tp.topic.clone())
            .or_default()
            .insert(tp.partition, *value);
    }
    out
}

/// A map by partition from topic → partition → value, as stored.
fn flat(map: BTreeMap<String, BTreeMap<u32, u64>>) -> HashMap<TopicPartition, u64> {
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
    /// Opened read-only: when the directory was last seen changed (see `reload`).
    follow: Option<Mutex<Option<std::time::SystemTime>>>,
}

/// Every group's offsets and transaction marks stored in `dir`. `read_only`: a missing
/// directory holds none, and a file gone between listing and reading (the writer removed a
/// group's last offsets) is skipped.
fn load(dir: &Path, read_only: bool) -> Result<(Groups, HashMap<String, Applied>)> {
    let mut groups = HashMap::new();
    let mut applied_txn = HashMap::new();
    let entries = match fs::read_dir(dir) {
        Err(e) if read_only && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((groups, applied_txn))
        }
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
            applied_txn.insert(stored.group_id.clone(), applied);
        }
        groups.insert(stored.group_id, offsets);
    }
    Ok((groups, applied_txn))
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
        let (groups, applied_txn) = load(&dir, false)?;
        Ok(Self {
            dir,
            groups: Mutex::new(groups),
            applied_txn: Mutex::new(applied_txn),
            follow: None,
        })
    }

    /// Loads every group's offsets from `data_dir`, which another process may be writing,
    /// for reading only: [`reload`](Self::reload) takes in its later commits, and commits
    /// here are [`Error::ReadOnly`].
    pub(crate) fn open_read_only(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join(OFFSETS_DIR);
        let stamp = modified(&dir);
        let (groups, applied_txn) = load(&dir, true)?;
        Ok(Self {
            dir,
            groups: Mutex::new(groups),
            applied_txn: Mutex::new(applied_txn),
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
        let (groups, applied_txn) = load(&self.dir, true)?;
        *self.groups.lock() = groups;
        *self.applied_txn.lock() = applied_txn;
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

    /// Commits `offsets` for `group_id`; durable when it returns.
    pub(crate) fn commit(&self, group_id: &str, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        self.check_writable("commit")?;
        if offsets.is_empty() {
            return Ok(());
        }
        // Written under the lock, so two commits of one group cannot finish out of order.
        let mut groups = self.groups.lock();
        let applied = self.applied_txn.lock();
        let mut updated = groups.get(group_id).cloned().unwrap_or_default();
        updated.extend(offsets.iter().cloned());
        let marks = applied.get(group_id).cloned().unwrap_or_default();
        self.save(group_id, &updated, &marks)?;
        groups.insert(group_id.to_string(), updated);
        Ok(())
    }

    /// Takes the offsets committed by transactions: `(partition, offset, mark)`, the mark
    /// being the offset of the offset's record in the transaction log, which holds it
    /// durably (this store keeps it in memory, and on disk with the group's next plain
    /// commit). A partition where this group already holds the offset of that record or a
    /// later one keeps it, so a recovery applying the log again never rolls back commits
    /// made after it.
    pub(crate) fn apply_transaction(&self, group_id: &str, offsets: &[(TopicPartition, u64, u64)]) {
        let mut groups = self.groups.lock();
        let mut applied = self.applied_txn.lock();
        let marks = applied.entry(group_id.to_string()).or_default();
        let committed = groups.entry(group_id.to_string()).or_default();
        for (tp, offset, mark) in offsets {
            // IMPORTANT: per partition. Another member's transaction decided after this one
            // may have completed first: it set other partitions, and must not keep this
            // one's offsets out.
            if marks.get(tp).is_some_and(|done| done >= mark) {
                continue;
            }
            marks.insert(tp.clone(), *mark);
            committed.insert(tp.clone(), *offset);
        }
    }

    /// Forgets a deleted topic's offsets in every group (they would point into a log that
    /// no longer exists, and a new topic of the same name starts at 0).
    pub(crate) fn forget_topic(&self, topic: &str) -> Result<()> {
        self.check_writable("delete_topic")?;
        let mut groups = self.groups.lock();
        let affected: Vec<String> = groups
            .iter()
            .filter(|(_, offsets)| offsets.keys().any(|tp| tp.topic == topic))
            .map(|(group, _)| group.clone())
            .collect();
        let mut applied = self.applied_txn.lock();
        for group_id in affected {
            let mut remaining = groups.remove(&group_id).unwrap_or_default();
            remaining.retain(|tp, _| tp.topic != topic);
            let mut marks = applied.remove(&group_id).unwrap_or_default();
            marks.retain(|tp, _| tp.topic != topic);
            self.save(&group_id, &remaining, &marks)?;
            if !remaining.is_empty() {
                groups.insert(group_id.clone(), remaining);
            }
            if !marks.is_empty() {
                applied.insert(group_id, marks);
            }
        }
        Ok(())
    }

    /// Replaces a group's file with `offsets`, or removes it when there are none.
    fn save(
        &self,
        group_id: &str,
        offsets: &HashMap<TopicPartition, u64>,
        applied: &Applied,
    ) -> Result<()> {
        let path = self.path(group_id);
        if offsets.is_empty() {
            return remove_if_exists(&path);
        }
        let stored = StoredOffsets {
            group_id: group_id.to_string(),
            offsets: nested(offsets),
            applied_txns: nested(applied),
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
            store.apply_transaction("g", &[(p1.clone(), 7, 11)]);
            store.apply_transaction("g", &[(p0.clone(), 5, 10)]);
            assert_eq!(store.committed("g", &p0), Some(5));
            assert_eq!(store.committed("g", &p1), Some(7));
            // Recovery applying the transaction decided at 10 again, after a later manual
            // commit: that commit stands.
            store.commit("g", &[(p0.clone(), 9)])?;
        }
        let store = OffsetStore::open(dir.path())?;
        store.apply_transaction("g", &[(p0.clone(), 5, 10), (p1.clone(), 6, 10)]);
        assert_eq!(store.committed("g", &p0), Some(9));
        assert_eq!(store.committed("g", &p1), Some(7));
        store.apply_transaction("g", &[(p1.clone(), 8, 12)]);
        assert_eq!(store.committed("g", &p1), Some(8));
        Ok(())
    }
}
