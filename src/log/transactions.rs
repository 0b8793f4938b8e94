//! A partition's transactional state: which producers have a transaction open in it, which
//! gives its last stable offset, and which transactions were aborted in it, so that readers
//! isolating committed data skip their records without rescanning the log.
//!
//! Open transactions live in memory; `Broker::open` ends every transaction left open before
//! any reader or writer comes. To find those after an unclean stop, even ones whose
//! coordinator state a machine crash lost, the log itself is the record (as in Kafka): a
//! partition that ever held transactional records has a `transactional` flag file, a roll
//! with transactions open writes them to `<base>.txnsnapshot` beside the new segment, and
//! opening after an unclean stop walks the active segment's batch headers from that
//! snapshot on. Aborted transactions are also kept in
//! `aborted.txnindex` in the partition's directory, one fixed-size entry per abort marker,
//! written and fsynced before the marker itself, so the list survives any crash that the
//! marker survives. Entries are never rewritten; one is 28 bytes, so even millions of aborts
//! cost little to load.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::error::{CorruptKind, Error, IoContext, Result};
use crate::storage::batch::BatchHeader;

/// The file of a partition's aborted transactions.
const ABORTED_FILE: &str = "aborted.txnindex";

/// The file whose presence says the partition has held transactional records.
const FLAG_FILE: &str = "transactional";

/// A transaction open in a partition: where it began, and its producer's epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct OpenTxn {
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    pub(crate) first_offset: u64,
}

/// Bytes of one entry: producer id, first and last offset (little-endian), CRC-32 of those.
const ENTRY_BYTES: usize = 28;

/// A transaction aborted in this partition: its producer's records from `first_offset` to
/// `last_offset` (the abort marker) are not to be read as committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AbortedTxn {
    pub(crate) producer_id: i64,
    pub(crate) first_offset: u64,
    pub(crate) last_offset: u64,
}

impl AbortedTxn {
    /// Whether a transactional batch of `producer_id` starting at `offset` belongs to it.
    pub(crate) fn covers(&self, producer_id: i64, offset: u64) -> bool {
        self.producer_id == producer_id && (self.first_offset..=self.last_offset).contains(&offset)
    }

    fn encode(&self) -> [u8; ENTRY_BYTES] {
        let mut out = [0; ENTRY_BYTES];
        out[..8].copy_from_slice(&self.producer_id.to_le_bytes());
        out[8..16].copy_from_slice(&self.first_offset.to_le_bytes());
        out[16..24].copy_from_slice(&self.last_offset.to_le_bytes());
        let crc = crc32fast::hash(&out[..24]);
        out[24..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8; ENTRY_BYTES]) -> Option<Self> {
        let (body, crc) = bytes.split_at(24);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return None;
        }
        let word = |at: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&body[at..at + 8]);
            w
        };
        Some(Self {
            producer_id: i64::from_le_bytes(word(0)),
            first_offset: u64::from_le_bytes(word(8)),
            last_offset: u64::from_le_bytes(word(16)),
        })
    }
}

/// Whether readers of committed data never see a batch: a transaction marker, or a batch
/// of one of the `aborted` transactions.
pub(crate) fn hidden_from_committed(header: &BatchHeader, aborted: &[AbortedTxn]) -> bool {
    header.is_control()
        || (header.is_transactional()
            && aborted
                .iter()
                .any(|t| t.covers(header.origin.producer_id, header.base_offset)))
}

/// The entries of the aborted-transaction file at `path` (none if it is missing), sorted by
/// marker; the length of its whole entries, and whether a cut-short entry follows them.
fn read_aborted(path: &Path) -> Result<(Vec<AbortedTxn>, u64, bool)> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let (entries, torn) = bytes.as_chunks::<ENTRY_BYTES>();
    let mut aborted = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let entry = AbortedTxn::decode(entry).ok_or_else(|| Error::Corrupt {
            path: path.to_path_buf(),
            position: (i * ENTRY_BYTES) as u64,
            kind: CorruptKind::Metadata("aborted-transaction entry fails its CRC".into()),
        })?;
        aborted.push(entry);
    }
    // Restored entries are appended out of order.
    aborted.sort_by_key(|a| a.last_offset);
    Ok((
        aborted,
        (entries.len() * ENTRY_BYTES) as u64,
        !torn.is_empty(),
    ))
}

/// A partition's open and aborted transactions.
#[derive(Debug)]
pub(crate) struct Transactions {
    /// Each open transaction, by producer id: its first offset and epoch. Changed under
    /// the log's append lock.
    open: Mutex<BTreeMap<i64, (u64, i16)>>,
    /// Whether the flag file exists.
    flagged: std::sync::atomic::AtomicBool,
    dir: PathBuf,
    /// The smallest offset in `open`; `u64::MAX` when no transaction is open.
    first_unstable: AtomicU64,
    /// Aborted transactions in the order their markers were written, so by `last_offset`.
    aborted: RwLock<Vec<AbortedTxn>>,
    path: PathBuf,
}

impl Transactions {
    /// Loads the aborted transactions of the partition in `dir`. An entry cut short by a
    /// crash is dropped; a damaged one is [`Error::Corrupt`].
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(ABORTED_FILE);
        let (aborted, whole_len, torn) = read_aborted(&path)?;
        if torn {
            OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(whole_len))
                .at(&path)?;
        }
        Ok(Self::new(dir, aborted))
    }

    /// Loads the aborted transactions of the partition in `dir` of a directory opened
    /// read-only: as [`open`](Self::open), but an entry cut short (the writer may be
    /// writing it) is only left out.
    pub(crate) fn open_read_only(dir: &Path) -> Result<Self> {
        let (aborted, _, _) = read_aborted(&dir.join(ABORTED_FILE))?;
        Ok(Self::new(dir, aborted))
    }

    /// Notes, in a directory opened read-only, the abort marker of `producer_id` at
    /// `marker`: the writer indexed it before writing the marker, so the entry is read from
    /// its file; failing that, the transaction is taken to begin where it was first seen
    /// open, or at the marker.
    pub(crate) fn follow_abort(&self, producer_id: i64, marker: u64) {
        if self.has_abort(producer_id, marker) {
            return;
        }
        let found = read_aborted(&self.path).ok().and_then(|(entries, _, _)| {
            entries
                .into_iter()
                .find(|a| a.producer_id == producer_id && a.last_offset == marker)
        });
        let entry = found.unwrap_or_else(|| AbortedTxn {
            producer_id,
            first_offset: self
                .open
                .lock()
                .get(&producer_id)
                .map_or(marker, |&(first, _)| first),
            last_offset: marker,
        });
        let mut aborted = self.aborted.write();
        let at = aborted.partition_point(|a| a.last_offset < entry.last_offset);
        aborted.insert(at, entry);
    }

    fn new(dir: &Path, aborted: Vec<AbortedTxn>) -> Self {
        let path = dir.join(ABORTED_FILE);
        Self {
            open: Mutex::new(BTreeMap::new()),
            first_unstable: AtomicU64::new(u64::MAX),
            aborted: RwLock::new(aborted),
            flagged: std::sync::atomic::AtomicBool::new(dir.join(FLAG_FILE).exists()),
            dir: dir.to_path_buf(),
            path,
        }
    }

    /// Whether the partition has ever held transactional records.
    pub(crate) fn flagged(&self) -> bool {
        self.flagged.load(Ordering::Acquire)
    }

    /// Makes sure the flag file is on stable storage before the first transactional
    /// record is written. Called under the append lock.
    pub(crate) fn flag(&self) -> Result<()> {
        if self.flagged() {
            return Ok(());
        }
        let path = self.dir.join(FLAG_FILE);
        File::create(&path).and_then(|f| f.sync_all()).at(&path)?;
        crate::storage::fsync_dir(&self.dir)?;
        self.flagged.store(true, Ordering::Release);
        Ok(())
    }

    /// Notes a transactional batch of `producer_id` at `offset`. Called under the append
    /// lock, before the high watermark moves past the batch.
    pub(crate) fn data(&self, producer_id: i64, epoch: i16, offset: u64) {
        let mut open = self.open.lock();
        open.entry(producer_id).or_insert((offset, epoch));
        self.publish(&open);
    }

    /// The transactions open now.
    pub(crate) fn open_transactions(&self) -> Vec<OpenTxn> {
        self.open
            .lock()
            .iter()
            .map(|(&producer_id, &(first_offset, epoch))| OpenTxn {
                producer_id,
                epoch,
                first_offset,
            })
            .collect()
    }

    /// Replaces the open transactions by those a recovery walk found.
    pub(crate) fn set_open(&self, found: &[OpenTxn]) {
        let mut open = self.open.lock();
        open.clear();
        for t in found {
            open.insert(t.producer_id, (t.first_offset, t.epoch));
        }
        self.publish(&open);
    }

    /// Indexes the abort of `producer_id`'s transaction, whose marker goes at `marker`:
    /// written to the file and fsynced. `first_hint` is where the transaction began if this
    /// log did not see it begin (a transaction ended by recovery). Called under the append
    /// lock, before the marker is written.
    pub(crate) fn index_abort(&self, producer_id: i64, marker: u64, first_hint: u64) -> Result<()> {
        let first_offset = self
            .open
            .lock()
            .get(&producer_id)
            .map_or(first_hint, |&(first, _)| first);
        self.restore_abort(AbortedTxn {
            producer_id,
            first_offset,
            last_offset: marker,
        })
    }

    /// Notes that `producer_id`'s transaction ended with a marker. Called under the append
    /// lock, before the high watermark moves past the marker.
    pub(crate) fn ended(&self, producer_id: i64) {
        let mut open = self.open.lock();
        open.remove(&producer_id);
        self.publish(&open);
    }

    fn publish(&self, open: &BTreeMap<i64, (u64, i16)>) {
        let first = open
            .values()
            .map(|&(first, _)| first)
            .min()
            .unwrap_or(u64::MAX);
        self.first_unstable.store(first, Ordering::Release);
    }

    /// The last stable offset for a high watermark loaded just before: the first offset of
    /// a transaction still open, or the high watermark.
    pub(crate) fn last_stable_offset(&self, high_watermark: u64) -> u64 {
        self.first_unstable
            .load(Ordering::Acquire)
            .min(high_watermark)
    }

    /// Whether `producer_id` has a transaction open here.
    pub(crate) fn is_open(&self, producer_id: i64) -> bool {
        self.open.lock().contains_key(&producer_id)
    }

    /// The aborted transactions whose marker is at or after `offset`: those a read from
    /// `offset` on may meet.
    pub(crate) fn aborted_from(&self, offset: u64) -> Vec<AbortedTxn> {
        let aborted = self.aborted.read();
        let from = aborted.partition_point(|a| a.last_offset < offset);
        aborted.get(from..).unwrap_or_default().to_vec()
    }

    /// Whether any transaction was ever aborted here (the common case is none).
    pub(crate) fn any_aborted(&self) -> bool {
        !self.aborted.read().is_empty()
    }

    /// Whether the abort of `producer_id`'s transaction marked at `marker` is indexed.
    pub(crate) fn has_abort(&self, producer_id: i64, marker: u64) -> bool {
        self.aborted
            .read()
            .iter()
            .any(|a| a.producer_id == producer_id && a.last_offset == marker)
    }

    /// Adds an abort to the index: to the file, fsynced, then to memory. Also used to
    /// restore the entry of an abort marker found in the log without one (a deleted index
    /// file).
    pub(crate) fn restore_abort(&self, entry: AbortedTxn) -> Result<()> {
        let mut file: File = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .at(&self.path)?;
        file.write_all(&entry.encode()).at(&self.path)?;
        file.sync_data().at(&self.path)?;
        let mut aborted = self.aborted.write();
        let at = aborted.partition_point(|a| a.last_offset < entry.last_offset);
        aborted.insert(at, entry);
        Ok(())
    }
}
