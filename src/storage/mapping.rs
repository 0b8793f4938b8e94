//! A memory map of a segment's log file, shared by its one writer and many readers.
//!
//! The active segment is preallocated to its capacity and mapped once, read-write: an append
//! is a copy into the map, after which the bytes are in the page cache and survive the
//! process being killed. Sealed segments are mapped read-only on first read. Records handed
//! to consumers keep the map alive through a counted reference and point into it without
//! copying.
//!
//! The map keeps its own *published end*, and the types make the protocol that keeps the
//! unsafe blocks below sound impossible to break from safe code:
//! - [`Mapping`] hands out only bytes below the published end ([`Mapping::bytes`],
//!   [`Mapping::published`]); those are never written again while the map exists;
//! - bytes at or past it are reachable only through the map's one [`MapWriter`], which
//!   lends them out mutably from `&mut self`, so no reader and no second writer can see
//!   them until [`MapWriter::publish`] moves the end past them (`Release`; readers load it
//!   with `Acquire`), which it cannot do while a lent slice is alive;
//! - the file is never truncated below the published end while any map of it exists
//!   (truncation to the end happens on seal and close; recovery truncates only at open,
//!   before the file is mapped for writing).
//!
//! A directory opened read-only maps the segment another process appends to with
//! [`Mapping::followed`]: nothing is published until its [`MapFollower`] has read the bytes
//! with a plain `read`, found them to be whole batches whose checksums verify, and publishes
//! them. The writer never changes a batch it has written, and neither its seal, its close
//! nor its recovery ever cuts the file below the last valid batch, so the published bytes
//! stay as they were checked and inside the file.

use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};

use crate::error::{IoContext, Result};

/// A shared or read-only map of a log file (or bytes in memory that stand for part of
/// one: see [`Mapping::in_memory`]).
#[derive(Debug)]
pub(crate) struct Mapping {
    memory: Memory,
    len: usize,
    /// Bytes from the start that are written for good and may be read; never above `len`.
    published: AtomicUsize,
}

/// Where a [`Mapping`]'s bytes are.
#[derive(Debug)]
enum Memory {
    /// A file's pages.
    File(MmapRaw),
    /// The heap, never written again.
    Heap(Vec<u8>),
}

/// The single writer of a writable [`Mapping`]: the only way to reach its unpublished bytes.
#[derive(Debug)]
pub(crate) struct MapWriter {
    map: Arc<Mapping>,
}

impl Mapping {
    /// Maps the first `len` bytes of `file` for reading and writing (the active segment),
    /// the first `published` of them already written; returns the shared map and its one
    /// writer.
    pub(crate) fn writable(
        file: &File,
        len: usize,
        published: usize,
        path: &Path,
    ) -> Result<(Arc<Self>, MapWriter)> {
        // NOTE: mapping is safe with `MmapRaw`; the obligations move to the accesses below.
        // The file lives under the data directory this process holds the exclusive `.lock`
        // on, so no other strom process changes it, and it is at least `len` bytes long
        // (the caller preallocated it), so no access through the map is past its end.
        let raw = MmapOptions::new().len(len).map_raw(file).at(path)?;
        let map = Arc::new(Self {
            memory: Memory::File(raw),
            len,
            published: AtomicUsize::new(published.min(len)),
        });
        let writer = MapWriter {
            map: Arc::clone(&map),
        };
        Ok((map, writer))
    }

    /// Maps the first `len` bytes of `file` read-only (a sealed segment): all of them are
    /// published.
    pub(crate) fn read_only(file: &File, len: usize, path: &Path) -> Result<Self> {
        // NOTE: as in `writable`; a sealed segment's file is never written or shortened
        // while mapped (retention and compaction unlink it, which keeps the pages alive).
        let raw = MmapOptions::new()
            .len(len)
            .map_raw_read_only(file)
            .at(path)?;
        Ok(Self {
            memory: Memory::File(raw),
            len,
            published: AtomicUsize::new(len),
        })
    }

    /// Maps the first `len` bytes of `file`, which another process appends to, for
    /// reading, none of them published yet; returns the map and the one follower that
    /// publishes what it has checked.
    pub(crate) fn followed(
        file: &File,
        len: usize,
        path: &Path,
    ) -> Result<(Arc<Self>, MapFollower)> {
        // NOTE: as in `read_only`, the obligations move to the accesses: readers reach only
        // published bytes, which the follower publishes after checking that they are whole
        // batches below the file's end (see the module docs for why they stay so).
        let raw = MmapOptions::new()
            .len(len)
            .map_raw_read_only(file)
            .at(path)?;
        let map = Arc::new(Self {
            memory: Memory::File(raw),
            len,
            published: AtomicUsize::new(0),
        });
        let follower = MapFollower {
            map: Arc::clone(&map),
        };
        Ok((map, follower))
    }

    /// The length of the map (published or not).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes in memory, all published: a compressed batch of a segment, decompressed.
    /// Records read from it are handed out as from a file's map, sharing it by reference
    /// count: one allocation per batch, none per record.
    pub(crate) fn in_memory(bytes: Vec<u8>) -> Self {
        let len = bytes.len();
        Self {
            memory: Memory::Heap(bytes),
            len,
            published: AtomicUsize::new(len),
        }
    }

    /// The first byte.
    fn as_ptr(&self) -> *const u8 {
        match &self.memory {
            Memory::File(raw) => raw.as_ptr(),
            Memory::Heap(bytes) => bytes.as_ptr(),
        }
    }

    /// How many bytes from the start are published.
    pub(crate) fn published_len(&self) -> usize {
        self.published.load(Ordering::Acquire)
    }

    /// Every published byte.
    pub(crate) fn published(&self) -> &[u8] {
        let len = self.published_len();
        #[expect(unsafe_code, reason = "reading published bytes of the map; see SAFETY")]
        // SAFETY: `published` never exceeds the map's length, and bytes below it are never
        // written again while the map exists: the one `MapWriter` lends out only bytes at or
        // past it, and it moved past them only after the writes into them were done (its
        // `Release` store, our `Acquire` load). So a shared slice of them is sound for the
        // map's lifetime. Bytes in memory have no writer at all.
        unsafe {
            std::slice::from_raw_parts(self.as_ptr(), len)
        }
    }

    /// The bytes in `range`, or `None` unless it lies wholly below the published end.
    pub(crate) fn bytes(&self, range: Range<usize>) -> Option<&[u8]> {
        self.published().get(range)
    }

    /// Maps the pages of `range` writable in one call, ahead of the copies that fill them.
    /// The pages must already be in the page cache (the writer writes zeroes there first),
    /// so this only fills page tables: without it each page costs the appender a fault.
    pub(crate) fn populate(&self, range: Range<usize>) {
        let end = range.end.min(self.len);
        let Memory::File(raw) = &self.memory else {
            return;
        };
        if range.start >= end {
            return;
        }
        // Only an optimisation: older kernels lack the advice, and pages then fault one by
        // one as before.
        #[cfg(target_os = "linux")]
        let _ = raw.advise_range(
            memmap2::Advice::PopulateWrite,
            range.start,
            end - range.start,
        );
    }

    /// Writes the pages of `range` back to the file and waits for the device (msync).
    pub(crate) fn sync(&self, range: Range<usize>, path: &Path) -> Result<()> {
        let end = range.end.min(self.len);
        let Memory::File(raw) = &self.memory else {
            return Ok(());
        };
        if range.start >= end {
            return Ok(());
        }
        super::fault::check(super::fault::FaultPoint::Fsync, path)
            .and_then(|()| raw.flush_range(range.start, end - range.start))
            .at(path)
    }
}

impl MapWriter {
    /// The map this writer fills.
    pub(crate) fn map(&self) -> &Arc<Mapping> {
        &self.map
    }

    /// The unpublished bytes in `range`, to fill before publishing them; `None` unless the
    /// range lies inside the map and at or past the published end.
    pub(crate) fn unpublished(&mut self, range: Range<usize>) -> Option<&mut [u8]> {
        let map = &*self.map;
        let Memory::File(raw) = &map.memory else {
            return None;
        };
        if range.start > range.end
            || range.end > map.len
            || range.start < map.published.load(Ordering::Relaxed)
        {
            return None;
        }
        #[expect(
            unsafe_code,
            reason = "writing unpublished bytes of the map; see SAFETY"
        )]
        // SAFETY: the range is inside the map and at or past the published end (checked
        // above). Readers see only published bytes, and this writer is the map's only one
        // (`writable` makes exactly one and it is not `Clone`); the slice borrows it
        // mutably, so neither a second slice nor a `publish` can exist beside it.
        Some(unsafe {
            std::slice::from_raw_parts_mut(raw.as_mut_ptr().add(range.start), range.len())
        })
    }

    /// Publishes the bytes up to `end`: from now on readers may see them, and they are never
    /// written again. The end only grows, and never past the map.
    pub(crate) fn publish(&mut self, end: usize) {
        let end = end.min(self.map.len);
        // This writer is the only one that stores it, so a plain load and store do what a
        // `fetch_max` would, without a locked instruction on every append.
        if end > self.map.published.load(Ordering::Relaxed) {
            self.map.published.store(end, Ordering::Release);
        }
    }
}

/// The one publisher of a [`Mapping::followed`] map, owned by whoever checks the bytes
/// another process appends.
#[derive(Debug)]
pub(crate) struct MapFollower {
    map: Arc<Mapping>,
}

impl MapFollower {
    /// The map this follower publishes.
    pub(crate) fn map(&self) -> &Arc<Mapping> {
        &self.map
    }

    /// Publishes the bytes up to `end`, read from the file and checked to be whole valid
    /// batches. The end only grows, and never past the map.
    pub(crate) fn publish(&mut self, end: usize) {
        let end = end.min(self.map.len);
        if end > self.map.published.load(Ordering::Relaxed) {
            self.map.published.store(end, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writable(len: usize, published: usize) -> (tempfile::TempDir, Arc<Mapping>, MapWriter) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("map.log");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .expect("file");
        file.set_len(len as u64).expect("set_len");
        let (map, writer) = Mapping::writable(&file, len, published, &path).expect("map");
        (dir, map, writer)
    }

    #[test]
    fn readers_never_see_unpublished_bytes() {
        let (_dir, map, mut writer) = writable(4096, 0);
        assert_eq!(map.published(), b"");
        assert_eq!(map.bytes(0..1), None, "nothing is published yet");
        writer
            .unpublished(0..5)
            .expect("unpublished")
            .copy_from_slice(b"hello");
        assert_eq!(map.bytes(0..5), None, "written is not published");
        writer.publish(5);
        assert_eq!(map.bytes(0..5), Some(&b"hello"[..]));
        assert_eq!(map.published(), b"hello");
        // The rest of the map is there, but not for readers.
        assert_eq!(map.bytes(3..6), None);
        assert_eq!(map.bytes(5..4096), None);
    }

    #[test]
    fn the_writer_cannot_reach_published_bytes_or_move_the_end_back() {
        let (_dir, map, mut writer) = writable(64, 8);
        assert!(writer.unpublished(0..8).is_none());
        assert!(writer.unpublished(7..9).is_none());
        assert!(writer.unpublished(8..65).is_none(), "past the map");
        assert!(writer.unpublished(8..64).is_some());
        writer.publish(4);
        assert_eq!(map.published_len(), 8, "the end only grows");
        writer.publish(1 << 20);
        assert_eq!(map.published_len(), 64, "and never past the map");
        assert!(writer.unpublished(63..64).is_none());
    }
}
