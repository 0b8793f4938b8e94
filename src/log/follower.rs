//! A partition's log in a directory opened read-only: following what another process
//! appends, rolls, deletes and compacts.
//!
//! The writer publishes its log through the files alone. Sealed segments are final: a roll
//! cuts the old segment to its data before the new one exists, and compaction renames a
//! complete new file over the old (a reader holding the old map keeps reading its records,
//! which were in the log). The last segment grows; a [`Tail`] checks its new bytes batch by
//! batch, as recovery would, before anything is published. So this log trusts, in order:
//! the list of segment files (re-read when the tail's file ends, and on each
//! [`refresh`](PartitionLog::refresh) that asks), sealed segments' bytes (checked when read,
//! like any sealed segment), and the tail up to what its checks accepted. Its high watermark
//! is the end of that; waiting consumers are woken when it moves.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use super::notify::Notify;
use super::sync_rounds::SyncRounds;
use super::transactions::{OpenTxn, Transactions};
use super::{Access, LogSettings, PartitionLog};
use crate::error::{Error, IoContext, Result};
use crate::metrics::PartitionMetrics;
use crate::storage::batch::{self, BatchHeader, ControlType};
use crate::storage::segment::{Layout, Segment};
use crate::storage::tail::Tail;
use crate::storage::{self, TXN_SNAPSHOT_EXT};

/// The least time between two listings of the partition's directory that the tail's end
/// asks for (a writer that closed leaves the tail at the file's end for good).
const MIN_LISTING_INTERVAL: Duration = Duration::from_millis(10);

/// The least time between two looks at whether the sealed segments a reader has mapped were
/// replaced on disk (one `stat` each): the old files' space is freed once a reader lets go.
const REPLACED_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The state of a followed log, locked by each refresh.
#[derive(Debug)]
pub(super) struct Follower {
    /// The last segment, followed; `None` until one exists.
    tail: Option<Tail>,
    layout: Layout,
    listed: Option<Instant>,
    /// When the sealed segments' files were last compared with their maps.
    checked_replaced: Option<Instant>,
}

impl PartitionLog {
    /// Opens the log in `dir`, which another process may be writing, for reading only:
    /// nothing in the directory is created, changed or removed.
    ///
    /// # Errors
    /// [`Error::Io`] if the directory or a file cannot be read, [`Error::Corrupt`] for a
    /// damaged aborted-transaction index.
    pub(crate) fn follow(
        dir: &Path,
        topic: Arc<str>,
        partition: u32,
        settings: LogSettings,
    ) -> Result<Self> {
        let layout = Layout {
            read_only: true,
            ..settings.layout()
        };
        let log = Self {
            metrics: PartitionMetrics::new(&topic, partition),
            topic,
            partition,
            dir: dir.to_path_buf(),
            segments: RwLock::new(Vec::new()),
            writer: Access::Follow(Mutex::new(Follower {
                tail: None,
                layout,
                listed: None,
                checked_replaced: None,
            })),
            high_watermark: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            sync_rounds: SyncRounds::default(),
            cleaning: Mutex::new(()),
            compacted_to: AtomicU64::new(0),
            rebatched_to: AtomicU64::new(0),
            notify: Notify::default(),
            transactions: Transactions::open_read_only(dir)?,
            compression: AtomicU8::new(settings.compression.code()),
        };
        log.refresh(true)?;
        Ok(log)
    }

    /// Whether this log follows another process's (the directory is open read-only).
    pub(crate) fn is_followed(&self) -> bool {
        matches!(self.writer, Access::Follow(_))
    }

    /// Takes in what the writer appended since the last call, and with `list` (or when the
    /// tail's file has ended) what it rolled, deleted or replaced; wakes waiting consumers
    /// when the high watermark moved. Does nothing to a log this process writes.
    ///
    /// # Errors
    /// [`Error::Io`] if the directory or the tail's file cannot be read.
    pub(crate) fn refresh(&self, list: bool) -> Result<()> {
        let Access::Follow(follower) = &self.writer else {
            return Ok(());
        };
        let mut f = follower.lock();
        let mut list = list || f.tail.is_none() && f.listed.is_none();
        if let Some(tail) = f.tail.as_mut() {
            let advance = tail.advance(|header, bytes| self.follow_transactions(header, bytes))?;
            if advance.replaced {
                self.replace_view(tail.segment());
            }
            if advance.at_file_end && f.listed.is_none_or(|t| t.elapsed() >= MIN_LISTING_INTERVAL) {
                list = true;
            }
        }
        if list {
            self.list(&mut f)?;
        }
        let end = self.segments.read().last().map(|s| s.next_offset());
        if let Some(end) = end {
            let before = self.high_watermark.fetch_max(end, Ordering::SeqCst);
            if end > before {
                self.notify.notify();
            }
        }
        Ok(())
    }

    /// Lists the segment files and brings the segment list and the tail up to date.
    fn list(&self, f: &mut Follower) -> Result<()> {
        f.listed = Some(Instant::now());
        let bases = match segment_files(&self.dir) {
            Ok(bases) => bases,
            // The topic is being deleted: the broker's listing drops it.
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let last = bases.last().copied();
        let mut drop_view = None;
        if let Some(mut tail) = f.tail.take() {
            let base = tail.base_offset();
            if last > Some(base) {
                // Sealed since the last look: whatever the writer appended before its roll.
                let advance =
                    tail.advance(|header, bytes| self.follow_transactions(header, bytes))?;
                if advance.replaced {
                    self.replace_view(tail.segment());
                }
            }
            if !bases.contains(&base) || !tail.is_current() {
                // Gone (a deleted topic), or another file under its name (the writer
                // replaced its empty last segment by a larger one).
                drop_view = Some(base);
            } else if last > Some(base) {
                // Sealed: the writer cut it to its data before the next segment existed, so
                // the last advance read all of it. Data past what the tail accepted is damage,
                // which a sealed segment's reads report.
                let file_len = tail.file_len()?;
                if tail.end() < file_len {
                    drop_view = Some(base);
                }
            } else {
                f.tail = Some(tail);
            }
        }
        let old: Vec<Arc<Segment>> = self.segments.read().clone();
        // Compaction renames its output over a sealed segment: a view still mapping the old
        // file is taken again from the new one (now and then: it costs a `stat` each).
        let check_replaced = f
            .checked_replaced
            .is_none_or(|t| t.elapsed() >= REPLACED_CHECK_INTERVAL);
        if check_replaced {
            f.checked_replaced = Some(Instant::now());
        }
        let mut fresh = Vec::with_capacity(bases.len());
        for (i, &base) in bases.iter().enumerate() {
            let kept = old.iter().find(|s| {
                s.base_offset() == base
                    && drop_view != Some(base)
                    && !(check_replaced && s.replaced_on_disk())
            });
            if let Some(tail) = f.tail.as_ref().filter(|t| t.base_offset() == base) {
                fresh.push(Arc::clone(tail.segment()));
            } else if let Some(kept) = kept {
                fresh.push(Arc::clone(kept));
            } else if let Some(&next) = bases.get(i + 1) {
                fresh.push(Arc::new(Segment::found(&self.dir, base, next, f.layout)));
            } else {
                match Tail::open(&self.dir, base, f.layout) {
                    Ok(tail) => {
                        self.open_transactions_at(base)?;
                        fresh.push(Arc::clone(tail.segment()));
                        f.tail = Some(tail);
                    }
                    // Deleted since the listing: the next one sees what replaced it.
                    Err(Error::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        *self.segments.write() = fresh;
        if let Some(tail) = f.tail.as_mut() {
            let advance = tail.advance(|header, bytes| self.follow_transactions(header, bytes))?;
            if advance.replaced {
                self.replace_view(tail.segment());
            }
        }
        Ok(())
    }

    /// Puts a tail's new view in the place of its old one.
    fn replace_view(&self, view: &Arc<Segment>) {
        let mut segments = self.segments.write();
        if let Some(s) = segments
            .iter_mut()
            .find(|s| s.base_offset() == view.base_offset())
        {
            *s = Arc::clone(view);
        }
    }

    /// The transactions open when the segment at `base` began, as the writer's roll noted
    /// them; the tail's walk from there updates them.
    fn open_transactions_at(&self, base: u64) -> Result<()> {
        let path = storage::segment_path(&self.dir, base, TXN_SNAPSHOT_EXT);
        let open = match storage::read_json::<Vec<OpenTxn>>(&path) {
            Ok(open) => open,
            Err(Error::Io { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        self.transactions.set_open(&open);
        Ok(())
    }

    /// Follows the writer's transactions through a batch the tail accepted, before readers
    /// can see it (as an append does).
    fn follow_transactions(&self, header: &BatchHeader, bytes: &[u8]) {
        let producer_id = header.origin.producer_id;
        if header.is_control() {
            if let Ok(marker) = batch::control_record(bytes) {
                if marker.kind == ControlType::Abort {
                    self.transactions
                        .follow_abort(producer_id, header.base_offset);
                }
            }
            self.transactions.ended(producer_id);
        } else if header.is_transactional() {
            self.transactions.data(
                producer_id,
                header.origin.producer_epoch,
                header.base_offset,
            );
        }
    }
}

/// The base offsets of the segment files in `dir`, in order; nothing is removed.
fn segment_files(dir: &Path) -> Result<Vec<u64>> {
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        if let Some(base) = entry
            .file_name()
            .to_str()
            .and_then(storage::parse_segment_name)
        {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}
