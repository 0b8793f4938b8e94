//! A segment: one `.log` file of record batches with its `.index` and `.timeindex`.
//!
//! [`Segment`] is the shared, read-side view: readers find their starting position through
//! the sparse index and decode batches straight out of the memory map, up to the published
//! end, without taking any lock. [`ActiveSegment`] is the single writer of the last segment
//! of a log: it copies each batch into the preallocated map, adds index entries, and then
//! publishes the new end.

use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::batch::{self, BatchHeader, DecodeError, EncodeError, Encoded, RecordRef, RunRecords};
use super::index::{self, IndexEntry, SparseIndex};
use super::mapping::{MapWriter, Mapping};
use super::recovery::{self, Scan};
use super::{segment_path, INDEX_EXT, LOG_EXT, TIME_INDEX_EXT, TXN_SNAPSHOT_EXT};
use crate::error::{CorruptKind, Error, IoContext, Result};

/// Index entries are written to their files in groups of this many, so an append costs no
/// system call; after a crash, recovery re-derives the unwritten ones from the log.
const INDEX_WRITE_BATCH: usize = 64;

/// The longest a segment file can be: byte positions inside a segment are 32-bit in its
/// index and in the records handed out of it. Nothing strom writes is longer (a segment holds
/// at most `segment_bytes`, at most 1 GiB, or one batch, whose length field is a `u32`), so
/// a longer file is damaged.
pub(crate) const MAX_SEGMENT_FILE_BYTES: u64 = u32::MAX as u64;

/// `Segment::end` of a segment whose size has not been looked up yet.
const UNKNOWN_SIZE: u64 = u64::MAX;

/// Bytes of the active segment's file written with zeroes ahead of the appends in one step,
/// unless the log asks for fewer (see [`Layout::prefault_bytes`]), and in one `write`.
///
/// The file is preallocated sparse, and the first write to each page of a hole through the
/// map costs a page fault that reads the hole as zeroes; writing zeroes ahead with plain
/// `write` calls puts the pages in the page cache in bulk, so appends through the map find
/// them there. It also turns a full disk into an `Io` error on this write, where a fault on
/// a hole the file system cannot back would kill the process with `SIGBUS`.
pub(crate) const MAX_PREFAULT_BYTES: u64 = 1 << 20;

/// How a segment's bytes are laid out, fixed when it is created or opened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    /// Bytes of log between index entries.
    pub(crate) index_interval: u64,
    /// Bytes written with zeroes ahead of the appends in one step (see
    /// [`MAX_PREFAULT_BYTES`]). Larger steps cost the kernel less per page, but the zeroes
    /// are dirty pages that the next fsync writes out: a log that fsyncs every append wants
    /// small steps.
    pub(crate) prefault_bytes: u64,
    /// The directory is open read-only: an index re-derived from the log stays in memory.
    pub(crate) read_only: bool,
}

/// The loaded parts of a segment: its map and index.
#[derive(Debug)]
struct Loaded {
    map: Option<Arc<Mapping>>,
    index: SparseIndex,
    /// The device and inode of the file mapped, where the platform has them.
    identity: Option<(u64, u64)>,
}

/// The read-side view of one segment, shared by its writer and all readers.
#[derive(Debug)]
pub(crate) struct Segment {
    base_offset: u64,
    path: PathBuf,
    layout: Layout,
    /// Bytes of valid batches; readers never look at or past it.
    end: AtomicU64,
    /// Offset after the last record, published after `end`.
    next_offset: AtomicU64,
    /// Largest record timestamp in the segment (`i64::MIN` when empty).
    max_timestamp: AtomicI64,
    /// Bytes from the start whose batches are known good since the segment was opened:
    /// written by this process (through checks of their own) or read with their checksum
    /// verified, one after the other from byte 0. Reads do not check those again; anything
    /// past it is checked when first read.
    verified: AtomicU64,
    loaded: OnceLock<Loaded>,
}

impl Segment {
    /// A sealed segment found on disk, its size not yet known: nothing is touched until
    /// the first lookup.
    pub(crate) fn found(dir: &Path, base_offset: u64, next_offset: u64, layout: Layout) -> Self {
        Self::sealed(dir, base_offset, UNKNOWN_SIZE, next_offset, layout)
    }

    /// A sealed segment of `len` bytes: nothing is read until the first lookup.
    pub(crate) fn sealed(
        dir: &Path,
        base_offset: u64,
        len: u64,
        next_offset: u64,
        layout: Layout,
    ) -> Self {
        Self {
            base_offset,
            path: segment_path(dir, base_offset, LOG_EXT),
            layout,
            end: AtomicU64::new(len),
            next_offset: AtomicU64::new(next_offset),
            max_timestamp: AtomicI64::new(i64::MIN),
            verified: AtomicU64::new(0),
            loaded: OnceLock::new(),
        }
    }

    /// The view of a segment another process appends to, with `map` (none for an empty
    /// file) and `index`; a [`Tail`](super::tail::Tail) publishes what it checks into it.
    pub(super) fn followed(
        path: PathBuf,
        base_offset: u64,
        layout: Layout,
        map: Option<Arc<Mapping>>,
        index: SparseIndex,
    ) -> Self {
        let segment = Self {
            base_offset,
            path,
            layout,
            end: AtomicU64::new(0),
            next_offset: AtomicU64::new(base_offset),
            max_timestamp: AtomicI64::new(i64::MIN),
            verified: AtomicU64::new(0),
            loaded: OnceLock::new(),
        };
        let _ = segment.loaded.set(Loaded {
            map,
            index,
            identity: None,
        });
        segment
    }

    /// Publishes checked batches of a followed segment: its data now ends at `end`, before
    /// `next_offset`, every byte before it verified.
    pub(super) fn publish_followed(&self, end: u64, next_offset: u64, max_timestamp: i64) {
        self.max_timestamp
            .fetch_max(max_timestamp, Ordering::AcqRel);
        // As an append publishes: the next offset before the end.
        self.next_offset.fetch_max(next_offset, Ordering::AcqRel);
        self.verified.fetch_max(end, Ordering::AcqRel);
        self.end.fetch_max(end, Ordering::AcqRel);
    }

    /// Whether another file now has this sealed segment's name (compaction in another
    /// process renamed its output over the file this view maps). A view not loaded yet
    /// maps nothing, and one whose file is gone was deleted: neither is replaced.
    pub(crate) fn replaced_on_disk(&self) -> bool {
        let Some(mapped) = self.loaded.get().and_then(|l| l.identity) else {
            return false;
        };
        std::fs::metadata(&self.path)
            .ok()
            .and_then(|m| file_identity(&m))
            .is_some_and(|now| now != mapped)
    }

    /// The index of a loaded segment.
    pub(super) fn loaded_index(&self) -> Option<&SparseIndex> {
        self.loaded.get().map(|l| &l.index)
    }

    /// The segment's first offset.
    pub(crate) fn base_offset(&self) -> u64 {
        self.base_offset
    }

    /// Path of the `.log` file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Published length in bytes.
    ///
    /// # Errors
    /// [`Error::Io`] when the size of a segment found at open cannot be looked up: never
    /// taken for an empty segment, which retention would delete.
    pub(crate) fn size_bytes(&self) -> Result<u64> {
        let end = self.end.load(Ordering::Acquire);
        if end != UNKNOWN_SIZE {
            return Ok(end);
        }
        // A sealed segment found at open learns its size when first asked, so that open
        // costs nothing per segment.
        let len = super::fault::check(super::fault::FaultPoint::Metadata, &self.path)
            .and_then(|()| std::fs::metadata(&self.path))
            .at(&self.path)?
            .len();
        let _ = self
            .end
            .compare_exchange(UNKNOWN_SIZE, len, Ordering::AcqRel, Ordering::Acquire);
        Ok(self.end.load(Ordering::Acquire))
    }

    /// Offset after the segment's last record.
    pub(crate) fn next_offset(&self) -> u64 {
        self.next_offset.load(Ordering::Acquire)
    }

    /// Largest record timestamp in the segment, loading it if needed.
    pub(crate) fn max_timestamp(&self) -> Result<i64> {
        self.load()?;
        Ok(self.max_timestamp.load(Ordering::Acquire))
    }

    /// Deletes the segment's files. Readers that already mapped the log keep reading
    /// it; the space is freed when the last of them lets go.
    pub(crate) fn remove_files(&self) -> Result<()> {
        for ext in [LOG_EXT, INDEX_EXT, TIME_INDEX_EXT, TXN_SNAPSHOT_EXT] {
            super::remove_if_exists(&self.path.with_extension(ext))?;
        }
        Ok(())
    }

    /// Replaces this sealed segment's log with `bytes` (whole batches with the same or a
    /// subset of its offsets) and returns the new segment. Crash-safe: the new log is
    /// written and synced beside the old one and renamed over it, so a crash leaves one or
    /// the other; the indexes are removed first and rebuilt from whichever log remains.
    /// Readers of this view keep reading the old bytes.
    pub(crate) fn rewrite(&self, bytes: &[u8]) -> Result<Segment> {
        // Readers that hold this view must keep the old map: load it before the swap.
        self.load()?;
        let tmp = self.path.with_extension(super::CLEANED_EXT);
        let mut file = File::create(&tmp).at(&tmp)?;
        file.write_all(bytes).at(&tmp)?;
        file.sync_all().at(&tmp)?;
        drop(file);
        for ext in [INDEX_EXT, TIME_INDEX_EXT] {
            super::remove_if_exists(&self.path.with_extension(ext))?;
        }
        std::fs::rename(&tmp, &self.path).at(&self.path)?;
        let dir = self.path.parent().unwrap_or_else(|| Path::new("."));
        super::fsync_dir(dir)?;
        Ok(Segment::sealed(
            dir,
            self.base_offset,
            bytes.len() as u64,
            self.next_offset(),
            self.layout,
        ))
    }

    fn load(&self) -> Result<&Loaded> {
        if let Some(loaded) = self.loaded.get() {
            return Ok(loaded);
        }
        let loaded = self.load_sealed()?;
        // Another reader may have won the race; both loaded the same bytes.
        Ok(self.loaded.get_or_init(|| loaded))
    }

    /// Maps a sealed segment and loads its index, re-deriving any entries the index files
    /// lack (or all of them, when the files are missing or inconsistent).
    fn load_sealed(&self) -> Result<Loaded> {
        let end = self.size_bytes()?;
        let len = usize::try_from(end)
            .ok()
            .filter(|_| end <= MAX_SEGMENT_FILE_BYTES)
            .ok_or_else(|| corrupt(&self.path, 0, CorruptKind::Length(end)))?;
        let mut identity = None;
        let map = if len == 0 {
            None
        } else {
            let file = File::open(&self.path).at(&self.path)?;
            identity = file_identity(&file.metadata().at(&self.path)?);
            // IMPORTANT: no longer than the file as opened. Compaction renames a shorter log
            // over this path, and a map past a file's end faults when read.
            let opened = file
                .metadata()
                .at(&self.path)?
                .len()
                .min(MAX_SEGMENT_FILE_BYTES);
            let opened = usize::try_from(opened).unwrap_or(usize::MAX);
            // Read-only, the file as opened is the segment: another process's compaction may
            // have put a log of another length in its place since its size was looked up.
            let len = if self.layout.read_only {
                opened
            } else {
                len.min(opened)
            };
            self.end.store(len as u64, Ordering::Release);
            (len > 0)
                .then(|| Mapping::read_only(&file, len, &self.path).map(Arc::new))
                .transpose()?
        };
        let len = map.as_ref().map_or(0, |m| m.len());
        let end = len as u64;
        let bytes = map
            .as_ref()
            .and_then(|m| m.bytes(0..len))
            .unwrap_or_default();
        let (entries, stored) = self.read_index_files(end);
        let index = SparseIndex::from_entries(&entries, index_capacity(end, self.layout));
        let scan = recovery::scan_tail(
            bytes,
            self.base_offset,
            &index,
            self.layout.index_interval,
            recovery::Offsets::Increasing,
        );
        self.max_timestamp
            .store(scan.max_timestamp, Ordering::Release);
        if index.len() != stored && !self.layout.read_only {
            // The files lacked entries: write the re-derived index so the next open has it.
            // Best effort: the index is derived data and the read can go on without it.
            let written = write_index_files(&self.path, &index);
            tracing::info!(
                path = %self.path.display(),
                stored,
                entries = index.len(),
                "rebuilt a sealed segment's index from its log"
            );
            if let Err(error) = written {
                tracing::warn!(
                    path = %self.path.display(),
                    error = &error as &dyn std::error::Error,
                    "could not write the rebuilt index; it is rebuilt again at the next open"
                );
            }
        }
        Ok(Loaded {
            map,
            index,
            identity,
        })
    }

    /// The entries of the index files that are consistent with each other and with the
    /// log, and how many there were.
    fn read_index_files(&self, log_len: u64) -> (Vec<IndexEntry>, usize) {
        let offsets = std::fs::read(self.path.with_extension(INDEX_EXT)).unwrap_or_default();
        let times = std::fs::read(self.path.with_extension(TIME_INDEX_EXT)).unwrap_or_default();
        let entries = index::decode_entries(&offsets, &times, log_len);
        let stored = offsets.len() / index::INDEX_ENTRY_BYTES;
        (entries, stored)
    }

    /// Hands `emit` the batches that hold offsets at or after `from` and start before
    /// `until`, in order, until it breaks.
    ///
    /// `until` is the log's high watermark: bytes past it may already be in the file while
    /// their append is still under way, and a reader must not see records that are not yet
    /// acknowledged (nor move its position past the high watermark). A batch is appended
    /// whole and the high watermark moves past all of it, so it is a batch boundary.
    ///
    /// Every batch handed out has passed its CRC check; a damaged batch is an
    /// [`Error::Corrupt`] naming this file and the batch's position. A compressed batch is
    /// handed out decompressed (its map then holds just that batch, in memory). A zeroed header ends
    /// the segment's data when only zeroes follow it (the unwritten tail of a preallocated
    /// file); with data after it, it is damage. Batches before
    /// `from` are stepped over by their length, without a CRC pass.
    pub(crate) fn read_batches(
        &self,
        from: u64,
        until: u64,
        emit: impl FnMut(&MappedBatch<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<ControlFlow<()>> {
        self.read_batches_at(from, until, None, emit)
    }

    /// [`read_batches`](Self::read_batches) starting where `hint` says, when it is where an
    /// earlier read of this segment's map stopped at `from`: a reader following the log's
    /// end then starts at the batch it wants instead of scanning from the last index entry
    /// (up to `index_interval` bytes of batch headers).
    pub(crate) fn read_batches_at(
        &self,
        from: u64,
        until: u64,
        hint: Option<&ReadHint>,
        emit: impl FnMut(&MappedBatch<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<ControlFlow<()>> {
        self.read_at(from, until, hint, false, emit)
    }

    /// [`read_batches`](Self::read_batches) handing out every batch as it is stored,
    /// compressed ones compressed (checked, never decompressed): for a reader that passes
    /// batches on whole, as the Kafka protocol's Fetch does. Only [`MappedBatch::bytes`] and
    /// the header are of use in such a batch.
    pub(crate) fn read_stored_batches(
        &self,
        from: u64,
        until: u64,
        emit: impl FnMut(&MappedBatch<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<ControlFlow<()>> {
        self.read_at(from, until, None, true, emit)
    }

    /// [`read_batches_at`](Self::read_batches_at); compressed batches handed out as stored
    /// when `stored`.
    #[inline]
    fn read_at(
        &self,
        from: u64,
        until: u64,
        hint: Option<&ReadHint>,
        stored: bool,
        mut emit: impl FnMut(&MappedBatch<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<ControlFlow<()>> {
        let end = self.size_bytes()?;
        let loaded = self.load()?;
        let Some(map) = loaded.map.as_ref() else {
            return Ok(ControlFlow::Continue(()));
        };
        // The bytes to read, looked up once: each batch is a slice of them.
        let published = map.published();
        let end = usize::try_from(end)
            .unwrap_or(usize::MAX)
            .min(published.len());
        let log = published.get(..end).unwrap_or_default();
        let hint =
            hint.filter(|h| h.offset == from && h.position <= end && Arc::ptr_eq(&h.map, map));
        let (mut pos, mut expected) = match hint {
            Some(h) => (h.position, h.offset),
            None => {
                let rel = u32::try_from(from.saturating_sub(self.base_offset)).unwrap_or(u32::MAX);
                match loaded.index.lookup_offset(rel) {
                    Some(e) => (
                        e.position as usize,
                        self.base_offset + u64::from(e.relative_offset),
                    ),
                    None => (0, self.base_offset),
                }
            }
        };
        // An index entry is a hint: if it does not point at the batch it names (the index
        // file was damaged), read from the start of the segment instead of trusting it. A
        // read hint points at a batch boundary of this very map, whose published bytes never
        // change; it is checked the same way all the same.
        let mut hinted = pos > 0;
        while pos < end {
            let bytes = log.get(pos..).unwrap_or_default();
            let header = match batch::read_header(bytes) {
                Ok(h) if !hinted || h.base_offset == expected => h,
                _ if hinted => {
                    (pos, expected, hinted) = (0, self.base_offset, false);
                    continue;
                }
                Ok(h) => h,
                // Zeroes to the end are a tail never written (a sealed segment whose last
                // pages a machine crash lost); a zeroed header with data after it is damage
                // inside the log, and reading on as if the segment ended there would leave
                // readers stuck short of the high watermark.
                Err(DecodeError::Zeroed) if bytes.iter().all(|&b| b == 0) => break,
                Err(DecodeError::Zeroed) => {
                    return Err(corrupt(&self.path, pos as u64, CorruptKind::Length(0)))
                }
                Err(e) => return Err(corrupt(&self.path, pos as u64, kind_of(e))),
            };
            hinted = false;
            // Offsets only grow; a compacted segment has gaps between batches.
            if header.base_offset < expected {
                let kind = CorruptKind::Offset {
                    expected,
                    found: header.base_offset,
                };
                return Err(corrupt(&self.path, pos as u64, kind));
            }
            if self.read_ends_before(&header, expected, until, pos)? {
                break;
            }
            let len = header.length as usize;
            let gap = header.base_offset > expected;
            expected = header.next_offset();
            if expected <= from {
                // Before the wanted offset: skipped by its length, without decoding.
                pos += len;
                continue;
            }
            // Kafka's checksum leaves the base offset out: a damaged one must not hand out
            // records under wrong offsets. A batch that starts too low fails the order check
            // above. One that starts too high leaves a gap before it (as compaction does) and
            // runs into what follows it (the next batch, or the segment's end): after a gap
            // that is checked before any of its records is read.
            let next = if gap {
                match log.get(pos + len..).and_then(batch::peek_base_offset) {
                    Some(next) => next,
                    // Loaded after `end`, and stored before it by appends: it covers `end`.
                    None => self.next_offset(),
                }
            } else {
                u64::MAX
            };
            if expected > next {
                let kind = CorruptKind::Overlap {
                    last_offset: header.last_offset(),
                    next_offset: next,
                };
                return Err(corrupt(&self.path, pos as u64, kind));
            }
            let Some(bytes) = bytes.get(..len) else {
                return Err(corrupt(
                    &self.path,
                    pos as u64,
                    kind_of(DecodeError::Truncated),
                ));
            };
            let verified = self.verify_at(pos, bytes, &header)?;
            // What a reader may read on through after this batch without coming back
            // (see `MappedBatch::run_after`): the verified bytes, as far as published.
            let run_log = log
                .get(..usize::try_from(verified).unwrap_or(usize::MAX).min(end))
                .unwrap_or_default();
            let emitted = if stored && header.is_compressed() {
                // As stored: no run of plain batches goes on from it.
                self.emit_batch(map, pos, bytes, &header, &[], 0, true, &mut emit)?
            } else {
                self.emit_batch(map, pos, bytes, &header, run_log, until, false, &mut emit)?
            };
            match emitted {
                ControlFlow::Break(()) => return Ok(ControlFlow::Break(())),
                // Past this batch, or past the run of batches the reader went on through.
                ControlFlow::Continue(resume) => (pos, expected) = resume,
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// Whether a read up to `until` (a high watermark or last stable offset: a batch
    /// boundary) ends before the batch of `header` at `pos`, the batch before it having
    /// ended at `expected`.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a batch whose offsets contradict `until`.
    fn read_ends_before(
        &self,
        header: &BatchHeader,
        expected: u64,
        until: u64,
        pos: usize,
    ) -> Result<bool> {
        if header.base_offset >= until {
            // A batch at or past the high watermark was appended after it was loaded,
            // where the batch before it ended. One that leaves a gap while offsets below
            // the high watermark are still to come has a damaged base offset (Kafka's
            // checksum leaves it out): stopping here would skip those offsets unseen.
            if header.base_offset > expected && expected < until {
                let kind = CorruptKind::Offset {
                    expected,
                    found: header.base_offset,
                };
                return Err(corrupt(&self.path, pos as u64, kind));
            }
            return Ok(true);
        }
        if header.next_offset() > until {
            // Batches are appended whole, and the high watermark (or the last stable
            // offset) moves past all of a batch at once: one that starts below it and
            // ends past it claims offsets the log never acknowledged (a damaged last
            // offset delta). Handing it out would move a reader past the end, where it
            // would be reset and read everything again.
            let kind = CorruptKind::Overlap {
                last_offset: header.last_offset(),
                next_offset: until,
            };
            return Err(corrupt(&self.path, pos as u64, kind));
        }
        Ok(false)
    }

    /// Checks the checksum of the batch at `pos` (`bytes` from there on, `header` read from
    /// them) unless it lies below the verified mark, and moves the mark past it when it
    /// starts right at the mark.
    /// Returns the verified mark, which then lies past the batch unless a batch before it
    /// is still unchecked.
    #[inline]
    fn verify_at(&self, pos: usize, bytes: &[u8], header: &BatchHeader) -> Result<u64> {
        let verified = self.verified.load(Ordering::Acquire);
        let (pos, end) = (pos as u64, pos as u64 + u64::from(header.length));
        if end <= verified {
            return Ok(verified);
        }
        batch::verify(bytes, header).map_err(|e| corrupt(&self.path, pos, kind_of(e)))?;
        if pos == verified {
            // Another reader may have moved it meanwhile; either way it only grows, and only
            // over batches one of them checked.
            let _ =
                self.verified
                    .compare_exchange(verified, end, Ordering::AcqRel, Ordering::Relaxed);
        }
        Ok(self.verified.load(Ordering::Acquire))
    }

    /// Hands `visit` the header of each batch from the segment's start, in order, without
    /// checking checksums or decoding records (a cheap look at how the segment is batched);
    /// stops where a header does not read or `visit` breaks.
    pub(crate) fn batch_headers(
        &self,
        mut visit: impl FnMut(&BatchHeader) -> ControlFlow<()>,
    ) -> Result<()> {
        let loaded = self.load()?;
        let Some(map) = loaded.map.as_ref() else {
            return Ok(());
        };
        let bytes = map.published();
        let mut pos = 0;
        while let Some(Ok(header)) = bytes.get(pos..).map(batch::read_header) {
            if visit(&header).is_break() {
                break;
            }
            pos += header.length as usize;
        }
        Ok(())
    }

    /// Hands `emit` the checked batch at `pos` of `map` (`bytes`, cut to its length; its
    /// header `header`): as it lies in the map, or, compressed, decompressed into memory, so
    /// readers see records the same way from either. `run_log` is the map's bytes a reader
    /// may read on through after it, `until` the offsets it must stay below. Returns where
    /// the read goes on: the position and offset after the batch, or after the batches the
    /// reader read on through.
    #[expect(
        clippy::too_many_arguments,
        reason = "the read loop's state, passed in registers"
    )]
    #[inline]
    fn emit_batch(
        &self,
        map: &Arc<Mapping>,
        pos: usize,
        bytes: &[u8],
        header: &BatchHeader,
        run_log: &[u8],
        until: u64,
        stored: bool,
        emit: &mut impl FnMut(&MappedBatch<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<ControlFlow<(), (usize, u64)>> {
        if stored || !header.is_compressed() {
            let batch = MappedBatch {
                header,
                bytes,
                map,
                position: pos,
                file_position: pos,
                stored_len: bytes.len(),
                segment_map: map,
                path: &self.path,
                run_log,
                until,
                resume: Cell::new((pos + bytes.len(), header.next_offset())),
            };
            return Ok(match emit(&batch)? {
                ControlFlow::Break(()) => ControlFlow::Break(()),
                ControlFlow::Continue(()) => ControlFlow::Continue(batch.resume.get()),
            });
        }
        let resume = (pos + bytes.len(), header.next_offset());
        Ok(
            match self.emit_decompressed(map, pos, bytes, header, emit)? {
                ControlFlow::Break(()) => ControlFlow::Break(()),
                ControlFlow::Continue(()) => ControlFlow::Continue(resume),
            },
        )
    }

    /// [`emit_batch`](Self::emit_batch) of a compressed batch.
    #[inline(never)]
    fn emit_decompressed(
        &self,
        map: &Arc<Mapping>,
        pos: usize,
        bytes: &[u8],
        header: &BatchHeader,
        emit: &mut impl FnMut(&MappedBatch<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<ControlFlow<()>> {
        let damaged = |e| corrupt(&self.path, pos as u64, kind_of(e));
        let (plain, plain_header) = batch::decompress_with(bytes, header).map_err(damaged)?;
        let decompressed = Arc::new(Mapping::in_memory(plain));
        let plain = decompressed.published();
        let Some(plain) = plain.get(..plain_header.length as usize) else {
            return Err(damaged(DecodeError::Truncated));
        };
        emit(&MappedBatch {
            header: &plain_header,
            bytes: plain,
            map: &decompressed,
            position: 0,
            file_position: pos,
            stored_len: bytes.len(),
            segment_map: map,
            path: &self.path,
            // Its records are in memory, not in the segment's map: no run goes on from it.
            run_log: &[],
            until: 0,
            resume: Cell::new((pos + bytes.len(), plain_header.next_offset())),
        })
    }

    /// The offset of the first record with a timestamp at or after `timestamp`, if the
    /// segment holds one below `until`.
    pub(crate) fn offset_for_timestamp(&self, timestamp: i64, until: u64) -> Result<Option<u64>> {
        if self.max_timestamp()? < timestamp {
            return Ok(None);
        }
        let loaded = self.load()?;
        let from = match loaded.index.lookup_timestamp(timestamp) {
            Some((i, entry)) if self.entry_agrees(loaded, i, entry) => {
                self.base_offset + u64::from(entry.relative_offset)
            }
            // No entry, or one the log contradicts: search the whole segment.
            _ => self.base_offset,
        };
        let mut found = None;
        let _: ControlFlow<()> = self.read_batches(from, until, |batch| {
            // The header's largest timestamp rules a whole batch out without decoding it.
            if batch.header.max_timestamp < timestamp {
                return Ok(ControlFlow::Continue(()));
            }
            for record in batch.records_from(from)? {
                let record = record?;
                if record.timestamp >= timestamp {
                    found = Some(record.offset);
                    return Ok(ControlFlow::Break(()));
                }
            }
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(found)
    }
}

/// One batch of a segment, in its map: the header read and the CRC checked. This is what
/// the log hands its readers; [`MappedBatch::records`] is the one place records are decoded
/// out of the log.
#[derive(Debug)]
pub(crate) struct MappedBatch<'a> {
    /// The batch's header.
    pub(crate) header: &'a BatchHeader,
    /// The batch's bytes, header included: `header.length` of them at `position` in `map`.
    bytes: &'a [u8],
    /// The map the batch is in; a reader that keeps records clones it.
    pub(crate) map: &'a Arc<Mapping>,
    /// Where the batch starts in the map.
    pub(crate) position: usize,
    /// Where the batch starts in the segment's log file, for errors: `position`, unless the
    /// batch was compressed and `map` holds it decompressed.
    file_position: usize,
    /// The batch's length in the segment's log file.
    stored_len: usize,
    /// The segment's map (`map` too, unless the batch was decompressed).
    segment_map: &'a Arc<Mapping>,
    /// The segment's log file, for errors.
    path: &'a Path,
    /// The segment's map from its start to the end of the bytes whose checksums are
    /// verified (at most what is published): a reader may read on through the batches
    /// after this one up to there (see [`run_after`](Self::run_after)). Empty for a batch
    /// decompressed into memory.
    run_log: &'a [u8],
    /// The offsets the read must stay below.
    until: u64,
    /// The position in the segment's map after this batch, or after the batches a reader
    /// read on through, and the offset there: where the read goes on.
    resume: Cell<(usize, u64)>,
}

/// Where a read of a segment can pick up again without a search: the position just past a
/// batch in the segment's map, and the offset that follows it.
#[derive(Debug, Clone)]
pub(crate) struct ReadHint {
    map: Arc<Mapping>,
    position: usize,
    offset: u64,
}

impl<'a> MappedBatch<'a> {
    /// Moves `hint` just past this batch (reusing its map when it is this batch's: no
    /// reference is counted then).
    pub(crate) fn hint_past(&self, hint: &mut Option<ReadHint>) {
        let (position, offset) = self.resume.get();
        match hint {
            Some(h) if Arc::ptr_eq(&h.map, self.segment_map) => {
                h.position = position;
                h.offset = offset;
            }
            _ => {
                *hint = Some(ReadHint {
                    map: Arc::clone(self.segment_map),
                    position,
                    offset,
                });
            }
        }
    }

    /// The batch's bytes, header included.
    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Offset after the last offset the batch covers: its header's
    /// [`next_offset`](BatchHeader::next_offset); after a run a reader
    /// [read through](Self::ran), the offset after the run.
    pub(crate) fn next_offset(&self) -> u64 {
        self.resume.get().1
    }

    /// Bytes of the segment's log from this batch's start to where the read goes on: the
    /// batch, and the batches a reader read on through.
    #[cfg_attr(
        not(feature = "metrics"),
        expect(dead_code, reason = "what a poll reports as read, with `metrics` only")
    )]
    #[inline]
    pub(crate) fn passed_bytes(&self) -> usize {
        self.resume.get().0.saturating_sub(self.file_position)
    }

    /// The records of the batches that follow this one in the segment's map, as far as
    /// they are plain (see [`batch::run_after`]), already verified and below both the
    /// read's end and `until`. A reader that hands them out calls [`ran`](Self::ran) with
    /// the run afterwards, and the read goes on from where the run stopped; one that does
    /// not is handed them one batch at a time as usual.
    ///
    /// Handing a reader each batch of single sends on its own costs more than decoding its
    /// record; a run walks the headers of batches already checked between their records.
    #[inline]
    pub(crate) fn run_after(&self, until: u64) -> RunRecords<'a> {
        batch::run_after(
            self.run_log,
            self.file_position + self.stored_len,
            self.header,
            until.min(self.until),
        )
    }

    /// Moves the read on past the batches of `run` whose records were all handed out.
    pub(crate) fn ran(&self, run: &RunRecords<'_>) {
        self.resume.set(run.done());
    }

    /// An error of a record of a run, as [`records`](Self::records) gives them: it names
    /// the segment file and `position`, that of the record's batch in it
    /// ([`RunRecords::batch_position`]).
    pub(crate) fn run_error(&self, position: usize, error: DecodeError) -> Error {
        corrupt(self.path, position as u64, kind_of(error))
    }

    /// The batch's records, in offset order. Their byte ranges are relative to the batch's
    /// start, [`position`](Self::position) in the map.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the segment file and the batch's position for a record
    /// that does not decode (the CRC matched, so it was written so).
    #[inline]
    pub(crate) fn records(&self) -> Result<impl Iterator<Item = Result<RecordRef>> + '_> {
        let (path, position) = (self.path, self.file_position as u64);
        let records = batch::records_in(self.bytes, self.header)
            .map_err(|e| corrupt(path, position, kind_of(e)))?;
        Ok(records.map(move |r| r.map_err(|e| corrupt(path, position, kind_of(e)))))
    }

    /// The transaction marker of a control batch.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the segment file and the batch's position if it is not a
    /// well-formed marker.
    pub(crate) fn control_record(&self) -> Result<batch::ControlRecord> {
        batch::control_record(self.bytes())
            .map_err(|e| corrupt(self.path, self.file_position as u64, kind_of(e)))
    }

    /// The batch's records at or after offset `from`: a read that starts inside a batch
    /// skips the records before its position. Errors are passed on as from
    /// [`records`](Self::records).
    pub(crate) fn records_from(
        &self,
        from: u64,
    ) -> Result<impl Iterator<Item = Result<RecordRef>> + '_> {
        Ok(self
            .records()?
            .filter(move |r| r.as_ref().map_or(true, |r| r.offset >= from)))
    }
}

impl Segment {
    /// Whether the log agrees with index entry `i` over the interval before it: the batches
    /// from the previous entry (or the segment's start) lead exactly to the entry's position
    /// and offset, and none is newer than the entry's `max_timestamp_before`. A cheap,
    /// local check (one index interval is read) that catches a damaged index file before
    /// a time lookup trusts it.
    fn entry_agrees(&self, loaded: &Loaded, i: usize, entry: IndexEntry) -> bool {
        let Some(map) = loaded.map.as_ref() else {
            return false;
        };
        let (mut pos, mut expected) = match i.checked_sub(1).and_then(|p| loaded.index.get(p)) {
            Some(prev) => (
                prev.position as usize,
                self.base_offset + u64::from(prev.relative_offset),
            ),
            None => (0, self.base_offset),
        };
        let target = entry.position as usize;
        let entry_offset = self.base_offset + u64::from(entry.relative_offset);
        let mut first = true;
        while pos < target {
            let Some(Ok(header)) = map.bytes(pos..target).map(batch::read_header) else {
                return false;
            };
            let in_order = if first {
                header.base_offset == expected
            } else {
                header.base_offset >= expected
            };
            if !in_order || header.max_timestamp > entry.max_timestamp_before {
                return false;
            }
            first = false;
            pos += header.length as usize;
            expected = header.next_offset();
        }
        let at_target = map.published().get(target..).map(batch::read_header);
        pos == target
            && expected <= entry_offset
            && matches!(at_target, Some(Ok(h)) if h.base_offset == entry_offset)
    }
}

/// The writer of a log's last segment.
#[derive(Debug)]
pub(crate) struct ActiveSegment {
    segment: Arc<Segment>,
    file: File,
    writer: MapWriter,
    capacity: u64,
    index_file: File,
    time_file: File,
    pending_offsets: Vec<u8>,
    pending_times: Vec<u8>,
    pending_entries: usize,
    since_index: u64,
    end: u64,
    next_offset: u64,
    max_timestamp: i64,
    created_ms: i64,
    /// Bytes of the map faulted in so far.
    prefaulted: u64,
    /// Where the last batch starts, recorded in the clean marker.
    last_batch: Option<u64>,
}

impl ActiveSegment {
    /// Creates a new, empty segment starting at `base_offset`, preallocated to `capacity`.
    pub(crate) fn create(
        dir: &Path,
        base_offset: u64,
        capacity: u64,
        layout: Layout,
        now_ms: i64,
    ) -> Result<Self> {
        let path = segment_path(dir, base_offset, LOG_EXT);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .at(&path)?;
        let segment = Segment::sealed(dir, base_offset, 0, base_offset, layout);
        let index = SparseIndex::with_capacity(index_capacity(capacity, layout));
        let scan = Scan {
            end: 0,
            next_offset: base_offset,
            max_timestamp: i64::MIN,
            last_batch: None,
            checked_from: 0,
            newer_version: None,
        };
        let cleanup = Segment::sealed(dir, base_offset, 0, base_offset, layout);
        Self::activate(segment, file, index, capacity, &scan, true, now_ms).inspect_err(|_| {
            // Nothing was written: remove the half-made files, so that a retry (the next
            // append rolls again) can create them anew.
            let _ = cleanup.remove_files();
        })
    }

    /// Reopens the last segment of a log for appending. After a clean shutdown, `clean`
    /// holds its next offset and largest timestamp and nothing is scanned; otherwise the
    /// tail after the last good index entry is checked batch by batch and truncated at the
    /// first incomplete, zeroed or corrupt one.
    pub(crate) fn open(
        dir: &Path,
        base_offset: u64,
        segment_bytes: u64,
        layout: Layout,
        clean: Option<CleanEnd>,
        now_ms: i64,
    ) -> Result<Self> {
        let path = segment_path(dir, base_offset, LOG_EXT);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .at(&path)?;
        let file_len = file.metadata().at(&path)?.len();
        if file_len > MAX_SEGMENT_FILE_BYTES {
            return Err(corrupt(&path, 0, CorruptKind::Length(file_len)));
        }
        let segment = Segment::sealed(dir, base_offset, file_len, base_offset, layout);
        let (entries, _) = segment.read_index_files(file_len);
        let index = SparseIndex::from_entries(
            &entries,
            index_capacity(segment_bytes.max(file_len), layout),
        );
        let trusted = clean.and_then(|c| confirm_clean(&file, base_offset, file_len, c));
        let (scan, fresh_index) = match trusted {
            Some(scan) => (scan, false),
            None => {
                let map = Mapping::read_only_or_empty(&file, file_len, &path)?;
                let bytes = map.as_ref().map(Mapping::published).unwrap_or_default();
                (
                    recovery::scan_tail(
                        bytes,
                        base_offset,
                        &index,
                        layout.index_interval,
                        recovery::Offsets::Contiguous,
                    ),
                    true,
                )
            }
        };
        if fresh_index {
            tracing::info!(
                path = %path.display(),
                checked_from = scan.checked_from,
                end = scan.end,
                next_offset = scan.next_offset,
                index_entries = index.len(),
                "recovered the active segment: checked its tail batch by batch, rebuilt its index"
            );
        }
        if let (Some(version), Some(_)) = (scan.newer_version, clean) {
            // After a clean close, data after the last batch this build can read is a newer
            // build's, not a torn tail (a clean close cuts the file to its data): cutting
            // it would destroy that build's data.
            return Err(corrupt(&path, scan.end, CorruptKind::Version(version)));
        }
        // A recovered file may be longer than `segment_bytes` (its preallocated tail, or a
        // smaller setting since): the limit is the data, not the file.
        let capacity = segment_bytes.max(scan.end);
        if scan.end < file_len {
            // Unwritten preallocated space is the common case after a kill; anything else
            // was a torn or damaged batch.
            tracing::info!(
                path = %path.display(),
                from = file_len,
                to = scan.end,
                "cut the segment's file after its last valid batch"
            );
            // Drop the torn tail. Re-extending below zeroes it, so no stale batch from
            // before the crash can later pass for the continuation of the log.
            file.set_len(scan.end).at(&path)?;
        }
        Self::activate(segment, file, index, capacity, &scan, fresh_index, now_ms)
    }

    fn activate(
        segment: Segment,
        file: File,
        index: SparseIndex,
        capacity: u64,
        scan: &Scan,
        rewrite_index: bool,
        now_ms: i64,
    ) -> Result<Self> {
        let path = segment.path.clone();
        super::fault::check(super::fault::FaultPoint::Grow, &path)
            .and_then(|()| file.set_len(capacity))
            .at(&path)?;
        let len = usize::try_from(capacity)
            .map_err(|_| corrupt(&path, 0, CorruptKind::Length(capacity)))?;
        let published = usize::try_from(scan.end)
            .map_err(|_| corrupt(&path, 0, CorruptKind::Length(scan.end)))?;
        let (map, writer) = Mapping::writable(&file, len, published, &path)?;
        if rewrite_index {
            write_index_files(&path, &index)?;
        }
        let open_append = |ext| {
            let p = path.with_extension(ext);
            OpenOptions::new().create(true).append(true).open(&p).at(&p)
        };
        let index_file = open_append(INDEX_EXT)?;
        let time_file = open_append(TIME_INDEX_EXT)?;
        let since_index = scan.end - index.last().map_or(0, |e| u64::from(e.position));
        segment.end.store(scan.end, Ordering::Release);
        segment
            .next_offset
            .store(scan.next_offset, Ordering::Release);
        segment
            .max_timestamp
            .store(scan.max_timestamp, Ordering::Release);
        let _ = segment.loaded.set(Loaded {
            map: Some(map),
            index,
            identity: None,
        });
        Ok(Self {
            segment: Arc::new(segment),
            file,
            writer,
            capacity,
            index_file,
            time_file,
            pending_offsets: Vec::new(),
            pending_times: Vec::new(),
            pending_entries: 0,
            since_index,
            end: scan.end,
            next_offset: scan.next_offset,
            max_timestamp: scan.max_timestamp,
            created_ms: now_ms,
            prefaulted: scan.end,
            last_batch: scan.last_batch,
        })
    }

    /// The shared view of this segment.
    pub(crate) fn segment(&self) -> &Arc<Segment> {
        &self.segment
    }

    /// Offset the next appended record gets.
    pub(crate) fn next_offset(&self) -> u64 {
        self.next_offset
    }

    /// Bytes written so far.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Where the log ends, as the clean marker records it.
    pub(crate) fn clean_end(&self) -> CleanEnd {
        CleanEnd {
            next_offset: self.next_offset,
            max_timestamp: self.max_timestamp,
            last_batch: self.last_batch,
        }
    }

    /// The map, for syncing.
    pub(crate) fn map(&self) -> &Arc<Mapping> {
        self.writer.map()
    }

    /// Whether a batch of `len` bytes is larger than this segment can ever hold.
    pub(crate) fn too_small_for(&self, len: u64) -> bool {
        len > self.capacity
    }

    /// Whether a batch of `len` bytes should go to a new segment instead: this one is
    /// full or too old. An empty segment always takes the batch.
    pub(crate) fn should_roll(&self, len: u64, now_ms: i64, segment_ms: i64) -> bool {
        self.end > 0
            && (self.end + len > self.capacity
                || now_ms.saturating_sub(self.created_ms) >= segment_ms)
    }

    /// Appends one batch of `len` bytes, which `write` puts into the region it is handed
    /// (exactly `len` bytes, in the map) given the batch's base offset, and publishes it.
    /// The caller holds the log's append lock and has checked the space.
    ///
    /// This is the one way bytes enter a segment: a batch encoded as it is copied in, one
    /// encoded before its offsets were known, or a transaction marker.
    // Inlined into `PartitionLog::append_with`, its one caller: the call cost a single send
    // about 3% of its instructions (callgrind).
    #[inline]
    pub(crate) fn append(
        &mut self,
        len: usize,
        write: impl FnOnce(&mut [u8], u64) -> std::result::Result<Encoded, EncodeError>,
    ) -> Result<()> {
        let start = self.end as usize;
        let needed = self.end + len as u64;
        if needed > self.prefaulted {
            let upto = (needed + self.segment.layout.prefault_bytes).min(self.capacity);
            prefault_by_write(&self.file, self.prefaulted, upto, &self.segment.path)?;
            self.writer
                .map()
                .populate(self.prefaulted as usize..upto as usize);
            self.prefaulted = upto;
        }
        let region = self.writer.unpublished(start..start + len).ok_or_else(|| {
            corrupt(
                &self.segment.path,
                self.end,
                CorruptKind::Length(len as u64),
            )
        })?;
        let written = write(region, self.next_offset).map_err(|source| Error::Encode {
            path: self.segment.path.clone(),
            source,
        })?;
        if written.length != len {
            // A writer that disagrees with its own size must not publish a half-made batch.
            return Err(Error::Encode {
                path: self.segment.path.clone(),
                source: EncodeError::BufferTooSmall {
                    needed: written.length,
                },
            });
        }
        if self.since_index >= self.segment.layout.index_interval && self.end > 0 {
            self.add_index_entry()?;
        }
        self.max_timestamp = self.max_timestamp.max(written.max_timestamp);
        self.last_batch = Some(self.end);
        self.end += len as u64;
        self.since_index += len as u64;
        self.next_offset += u64::from(written.offsets);
        let segment = &self.segment;
        segment
            .max_timestamp
            .store(self.max_timestamp, Ordering::Release);
        // Publish: the bytes first, then the offsets that refer to them. The next offset
        // goes before the end, so a reader that sees the end sees an offset covering it.
        self.writer.publish(self.end as usize);
        segment
            .next_offset
            .store(self.next_offset, Ordering::Release);
        segment.end.store(self.end, Ordering::Release);
        // A batch this process wrote is good: readers need not check it again, where every
        // byte before it is known good too.
        let _ = segment.verified.compare_exchange(
            start as u64,
            self.end,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
        Ok(())
    }

    /// Adds an entry for the batch just written at `self.end`.
    fn add_index_entry(&mut self) -> Result<()> {
        // Both fit: the position is below the capacity, which is at most
        // `MAX_SEGMENT_FILE_BYTES`, and every record takes several bytes, so a segment holds
        // fewer than `u32::MAX` offsets.
        debug_assert!(self.end < MAX_SEGMENT_FILE_BYTES);
        debug_assert!(self.next_offset - self.segment.base_offset < u64::from(u32::MAX));
        let entry = IndexEntry {
            relative_offset: (self.next_offset - self.segment.base_offset) as u32,
            position: self.end as u32,
            max_timestamp_before: self.max_timestamp,
        };
        let Some(loaded) = self.segment.loaded.get() else {
            return Ok(());
        };
        if loaded.index.push(entry) {
            index::encode_offset_entry(&entry, &mut self.pending_offsets);
            index::encode_time_entry(&entry, &mut self.pending_times);
            self.pending_entries += 1;
            self.since_index = 0;
            if self.pending_entries >= INDEX_WRITE_BATCH {
                self.write_pending_index()?;
            }
        }
        Ok(())
    }

    /// Writes buffered index entries to their files.
    pub(crate) fn write_pending_index(&mut self) -> Result<()> {
        if self.pending_entries == 0 {
            return Ok(());
        }
        let path = &self.segment.path;
        self.index_file
            .write_all(&self.pending_offsets)
            .at(&path.with_extension(INDEX_EXT))?;
        self.time_file
            .write_all(&self.pending_times)
            .at(&path.with_extension(TIME_INDEX_EXT))?;
        self.pending_offsets.clear();
        self.pending_times.clear();
        self.pending_entries = 0;
        Ok(())
    }

    /// Finishes the segment: index written out, file cut to its data, and, if `sync`, all
    /// of it on stable storage. The shared view stays readable; appends after this roll.
    pub(crate) fn finish(&mut self, sync: bool) -> Result<()> {
        self.write_pending_index()?;
        let path = &self.segment.path;
        if sync {
            self.writer.map().sync(0..self.end as usize, path)?;
        }
        self.file.set_len(self.end).at(path)?;
        self.capacity = self.end;
        if sync {
            self.file.sync_all().at(path)?;
            self.index_file
                .sync_all()
                .at(&path.with_extension(INDEX_EXT))?;
            self.time_file
                .sync_all()
                .at(&path.with_extension(TIME_INDEX_EXT))?;
        }
        Ok(())
    }

    /// The path of the `.log` file.
    pub(crate) fn path(&self) -> &Path {
        &self.segment.path
    }
}

impl Mapping {
    /// A read-only map of `len` bytes of `file`, or `None` for an empty file.
    pub(crate) fn read_only_or_empty(file: &File, len: u64, path: &Path) -> Result<Option<Self>> {
        if len == 0 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| corrupt(path, 0, CorruptKind::Length(len)))?;
        Mapping::read_only(file, len, path).map(Some)
    }
}

/// Writes zeroes over `from..to` of `file` (see [`MAX_PREFAULT_BYTES`]).
#[cfg(unix)]
fn prefault_by_write(file: &File, from: u64, to: u64, path: &Path) -> Result<()> {
    use std::os::unix::fs::FileExt;
    // One write covers a whole prefault step: the kernel's cost per page (allocating it in
    // the page cache, reserving its block) is lower in one large write than in sixteen of
    // 64 KiB. The array is in `.bss` and only ever read, so its pages are the shared zero
    // page and cost no memory.
    static ZEROS: [u8; MAX_PREFAULT_BYTES as usize] = [0; MAX_PREFAULT_BYTES as usize];
    let mut at = from;
    while at < to {
        let n = (to - at).min(ZEROS.len() as u64) as usize;
        super::fault::check(super::fault::FaultPoint::Write, path)
            .and_then(|()| file.write_all_at(&ZEROS[..n], at))
            .at(path)?;
        at += n as u64;
    }
    Ok(())
}

/// Elsewhere pages fault in one by one.
#[cfg(not(unix))]
fn prefault_by_write(_file: &File, _from: u64, _to: u64, _path: &Path) -> Result<()> {
    Ok(())
}

/// Where a segment's data ends after a clean shutdown: what the clean marker records so
/// that the next open need not scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct CleanEnd {
    /// Offset after the last record.
    pub(crate) next_offset: u64,
    /// Largest record timestamp.
    pub(crate) max_timestamp: i64,
    /// Where the last batch starts (`None` for an empty segment); checked at open.
    #[serde(default)]
    pub(crate) last_batch: Option<u64>,
}

/// Checks a clean marker against the file with one batch read: the marker's last batch must
/// be valid, end exactly at the end of the file and end at the marker's next offset (an
/// empty segment, an empty file). Anything else — a damaged or stale marker — makes the
/// open scan the tail as after a crash.
fn confirm_clean(file: &File, base_offset: u64, file_len: u64, clean: CleanEnd) -> Option<Scan> {
    let scan = Scan {
        end: file_len,
        next_offset: clean.next_offset,
        max_timestamp: clean.max_timestamp,
        last_batch: clean.last_batch,
        checked_from: file_len,
        newer_version: None,
    };
    let Some(at) = clean.last_batch else {
        return (file_len == 0 && clean.next_offset == base_offset).then_some(scan);
    };
    let len = usize::try_from(file_len.checked_sub(at)?).ok()?;
    let mut batch = vec![0; len];
    #[cfg(unix)]
    std::os::unix::fs::FileExt::read_exact_at(file, &mut batch, at).ok()?;
    #[cfg(not(unix))]
    let _ = (file, &mut batch);
    let header = batch::check(&batch).ok()?;
    let fits = header.length as usize == len
        && header.base_offset >= base_offset
        && header.next_offset() == clean.next_offset
        && header.max_timestamp <= clean.max_timestamp;
    fits.then_some(scan)
}

/// A file's device and inode, where the platform has them.
#[cfg_attr(
    unix,
    expect(clippy::unnecessary_wraps, reason = "`None` on other platforms")
)]
pub(super) fn file_identity(metadata: &std::fs::Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((metadata.dev(), metadata.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        None
    }
}

/// Rewrites both index files from `index`.
fn write_index_files(log_path: &Path, index: &SparseIndex) -> Result<()> {
    let (mut offsets, mut times) = (Vec::new(), Vec::new());
    for i in 0..index.len() {
        if let Some(entry) = index.get(i) {
            index::encode_offset_entry(&entry, &mut offsets);
            index::encode_time_entry(&entry, &mut times);
        }
    }
    for (ext, bytes) in [(INDEX_EXT, offsets), (TIME_INDEX_EXT, times)] {
        let path = log_path.with_extension(ext);
        std::fs::write(&path, bytes).at(&path)?;
    }
    Ok(())
}

/// Most index entries a segment of `capacity` bytes can need.
fn index_capacity(capacity: u64, layout: Layout) -> usize {
    let entries = capacity / layout.index_interval.max(1) + 2;
    usize::try_from(entries).unwrap_or(usize::MAX)
}

/// The corruption a decode error stands for.
pub(crate) fn kind_of(error: DecodeError) -> CorruptKind {
    match error {
        DecodeError::Truncated | DecodeError::Zeroed => CorruptKind::Record("batch cut short"),
        DecodeError::Length(len) => CorruptKind::Length(u64::from(len)),
        DecodeError::Version(v) => CorruptKind::Version(v),
        DecodeError::Checksum { stored, computed } => CorruptKind::Checksum { stored, computed },
        DecodeError::Record(what) => CorruptKind::Record(what),
        DecodeError::Compression { codec, reason } => CorruptKind::Compression { codec, reason },
    }
}

/// An [`Error::Corrupt`].
pub(crate) fn corrupt(path: &Path, position: u64, kind: CorruptKind) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        position,
        kind,
    }
}
