//! A memory map of a segment's log file, shared by its one writer and many readers.
//!
//! The active segment is preallocated to its capacity and mapped once, read-write: an append
//! is a copy into the map, after which the bytes are in the page cache and survive the
//! process being killed. Sealed segments are mapped read-only on first read. Records handed
//! to consumers keep the map alive through an `Arc` and point into it without copying.
//!
//! This file and its unsafe blocks rest on one protocol, which the callers in `segment.rs`
//! follow:
//! - bytes below the segment's published end are never written again while mapped;
//! - bytes at or past it are written only by the segment's single writer (it holds the
//!   partition's append lock), and read by nobody until the end is published past them
//!   with `Release` ordering (readers load it with `Acquire`);
//! - the file is never truncated below the published end while any map of it exists
//!   (truncation to the end happens on seal and close; recovery truncates only at open).

use std::fs::File;
use std::ops::Range;
use std::path::Path;

use memmap2::{MmapOptions, MmapRaw};

use crate::error::{IoContext, Result};

/// A shared or read-only map of a log file.
#[derive(Debug)]
pub(crate) struct Mapping {
    raw: MmapRaw,
    len: usize,
}

impl Mapping {
    /// Maps the first `len` bytes of `file` for reading and writing (the active segment).
    pub(crate) fn writable(file: &File, len: usize, path: &Path) -> Result<Self> {
        // NOTE: mapping is safe with `MmapRaw`; the obligations move to the accesses below.
        // The file lives under the data directory this process holds the exclusive `.lock`
        // on, so no other strom process changes it, and it is at least `len` bytes long
        // (the caller preallocated it), so no access through the map is past its end.
        let raw = MmapOptions::new().len(len).map_raw(file).at(path)?;
        Ok(Self { raw, len })
    }

    /// Maps the first `len` bytes of `file` read-only (a sealed segment).
    pub(crate) fn read_only(file: &File, len: usize, path: &Path) -> Result<Self> {
        // NOTE: as in `writable`; a sealed segment's file is never written or shortened
        // while mapped (retention and compaction unlink it, which keeps the pages alive).
        let raw = MmapOptions::new()
            .len(len)
            .map_raw_read_only(file)
            .at(path)?;
        Ok(Self { raw, len })
    }

    /// Length of the map in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The published bytes in `range`, or `None` if it is not inside the map.
    pub(crate) fn bytes(&self, range: Range<usize>) -> Option<&[u8]> {
        if range.start > range.end || range.end > self.len {
            return None;
        }
        #[expect(unsafe_code, reason = "reading published bytes of the map; see SAFETY")]
        // SAFETY: the range is inside the map (checked above). Callers ask only for bytes
        // below the published end, which nobody writes while the map exists (module docs),
        // so handing out a shared slice for the map's lifetime is sound.
        Some(unsafe { std::slice::from_raw_parts(self.raw.as_ptr().add(range.start), range.len()) })
    }

    /// The unpublished bytes in `range`, for the segment's single writer to fill.
    ///
    /// `&mut self` is not available because readers share the map; exclusivity comes from
    /// the append lock that every caller holds, and from readers never looking at bytes at
    /// or past the published end.
    #[expect(
        clippy::mut_from_ref,
        reason = "exclusive by the append lock; see SAFETY"
    )]
    pub(crate) fn unpublished(&self, range: Range<usize>) -> Option<&mut [u8]> {
        if range.start > range.end || range.end > self.len {
            return None;
        }
        #[expect(
            unsafe_code,
            reason = "writing unpublished bytes of the map; see SAFETY"
        )]
        // SAFETY: the range is inside the map (checked above) and at or past the published
        // end: only the writer, which holds the partition's append lock, touches it until
        // it publishes a new end, and it drops this slice before doing so.
        Some(unsafe {
            std::slice::from_raw_parts_mut(self.raw.as_mut_ptr().add(range.start), range.len())
        })
    }

    /// Maps the pages of `range` writable in one call, ahead of the copies that fill them.
    /// The pages must already be in the page cache (the writer writes zeroes there first),
    /// so this only fills page tables: without it each page costs the appender a fault.
    pub(crate) fn populate(&self, range: Range<usize>) {
        let end = range.end.min(self.len);
        if range.start >= end {
            return;
        }
        // Only an optimisation: older kernels lack the advice, and pages then fault one by
        // one as before.
        #[cfg(target_os = "linux")]
        let _ = self.raw.advise_range(
            memmap2::Advice::PopulateWrite,
            range.start,
            end - range.start,
        );
    }

    /// Writes the pages of `range` back to the file and waits for the device (msync).
    pub(crate) fn sync(&self, range: Range<usize>, path: &Path) -> Result<()> {
        let end = range.end.min(self.len);
        if range.start >= end {
            return Ok(());
        }
        super::fault::check(super::fault::FaultPoint::Fsync, path)
            .and_then(|()| self.raw.flush_range(range.start, end - range.start))
            .at(path)
    }
}
