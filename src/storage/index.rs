//! The sparse indexes of a segment: where to start reading for an offset or a timestamp.
//!
//! Every `index_interval_bytes` of log, before the batch that crosses the interval, the
//! writer adds one entry: the batch's offset relative to the segment's base, its byte
//! position, and the largest timestamp of all records *before* that position. Lookups are
//! binary searches over these entries, never scans from the start of the segment.
//!
//! On disk the entries live in two files beside the `.log`, little-endian:
//!
//! | file | entry bytes | layout |
//! |---|---|---|
//! | `.index` | 8 | `relative_offset: u32`, `position: u32` |
//! | `.timeindex` | 12 | `max_timestamp_before: i64`, `relative_offset: u32` |
//!
//! Both files hold the same entries in the same order. They are derived data: recovery
//! checks them against the log and rebuilds what is missing or inconsistent, so they are
//! written in small batches with plain `write` calls and never fsynced on the append path.
//!
//! In memory, entries sit in fixed-size chunks allocated on first use, published by an
//! atomic length: readers search without locks while the writer appends.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Bytes of one `.index` entry.
pub(crate) const INDEX_ENTRY_BYTES: usize = 8;
/// Bytes of one `.timeindex` entry.
pub(crate) const TIME_INDEX_ENTRY_BYTES: usize = 12;

const CHUNK_ENTRIES: usize = 512;

/// One index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    /// Offset of the batch at `position`, minus the segment's base offset.
    pub(crate) relative_offset: u32,
    /// Byte position of a batch in the `.log` file.
    pub(crate) position: u32,
    /// Largest timestamp of the records before `position` (`i64::MIN` if none).
    pub(crate) max_timestamp_before: i64,
}

#[derive(Debug)]
struct Slot {
    // `relative_offset << 32 | position`, so one atomic load reads a consistent pair.
    packed: AtomicU64,
    max_timestamp_before: AtomicI64,
}

/// The entries of one segment, appended by its writer and searched by any reader.
#[derive(Debug)]
pub(crate) struct SparseIndex {
    chunks: Box<[OnceLock<Box<[Slot]>>]>,
    len: AtomicUsize,
}

impl SparseIndex {
    /// An empty index with room for `capacity` entries.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let chunks = capacity.div_ceil(CHUNK_ENTRIES).max(1);
        Self {
            chunks: (0..chunks).map(|_| OnceLock::new()).collect(),
            len: AtomicUsize::new(0),
        }
    }

    /// An index holding `entries`.
    pub(crate) fn from_entries(entries: &[IndexEntry], capacity: usize) -> Self {
        let index = Self::with_capacity(capacity.max(entries.len()));
        for entry in entries {
            index.push(*entry);
        }
        index
    }

    /// Number of published entries.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Appends an entry; returns `false` (and drops it) if the index is full, which only
    /// makes lookups scan a little further. Single writer only.
    pub(crate) fn push(&self, entry: IndexEntry) -> bool {
        let i = self.len.load(Ordering::Relaxed);
        let Some(chunk) = self.chunks.get(i / CHUNK_ENTRIES) else {
            return false;
        };
        let chunk = chunk.get_or_init(|| {
            (0..CHUNK_ENTRIES)
                .map(|_| Slot {
                    packed: AtomicU64::new(0),
                    max_timestamp_before: AtomicI64::new(0),
                })
                .collect()
        });
        let Some(slot) = chunk.get(i % CHUNK_ENTRIES) else {
            return false;
        };
        slot.packed.store(
            (u64::from(entry.relative_offset) << 32) | u64::from(entry.position),
            Ordering::Relaxed,
        );
        slot.max_timestamp_before
            .store(entry.max_timestamp_before, Ordering::Relaxed);
        // Publishes the slot: readers load `len` with Acquire before reading slots below it.
        self.len.store(i + 1, Ordering::Release);
        true
    }

    /// Forgets entries from `len` on (recovery, before any reader exists).
    pub(crate) fn truncate(&self, len: usize) {
        if len < self.len() {
            self.len.store(len, Ordering::Release);
        }
    }

    /// The entry at `i`, if published.
    pub(crate) fn get(&self, i: usize) -> Option<IndexEntry> {
        if i >= self.len() {
            return None;
        }
        let slot = self
            .chunks
            .get(i / CHUNK_ENTRIES)?
            .get()?
            .get(i % CHUNK_ENTRIES)?;
        let packed = slot.packed.load(Ordering::Relaxed);
        Some(IndexEntry {
            relative_offset: (packed >> 32) as u32,
            position: packed as u32,
            max_timestamp_before: slot.max_timestamp_before.load(Ordering::Relaxed),
        })
    }

    /// The last entry, if any.
    pub(crate) fn last(&self) -> Option<IndexEntry> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    /// The last entry at or before `relative_offset`: where to start reading for it.
    pub(crate) fn lookup_offset(&self, relative_offset: u32) -> Option<IndexEntry> {
        // Entries are in increasing offset order: find the first one past the target.
        let after = self.partition_point(|e| e.relative_offset <= relative_offset);
        after.checked_sub(1).and_then(|i| self.get(i))
    }

    /// The last entry all of whose earlier records are older than `timestamp`: no record
    /// with a timestamp at or after it lies before the entry's position.
    /// Returns the entry's place in the index too.
    pub(crate) fn lookup_timestamp(&self, timestamp: i64) -> Option<(usize, IndexEntry)> {
        let after = self.partition_point(|e| e.max_timestamp_before < timestamp);
        let i = after.checked_sub(1)?;
        self.get(i).map(|e| (i, e))
    }

    /// First index whose entry fails `pred` (entries must be partitioned by it).
    fn partition_point(&self, pred: impl Fn(&IndexEntry) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid) {
                Some(e) if pred(&e) => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }
}

/// Encodes one entry for the `.index` file.
pub(crate) fn encode_offset_entry(entry: &IndexEntry, out: &mut Vec<u8>) {
    out.extend_from_slice(&entry.relative_offset.to_le_bytes());
    out.extend_from_slice(&entry.position.to_le_bytes());
}

/// Encodes one entry for the `.timeindex` file.
pub(crate) fn encode_time_entry(entry: &IndexEntry, out: &mut Vec<u8>) {
    out.extend_from_slice(&entry.max_timestamp_before.to_le_bytes());
    out.extend_from_slice(&entry.relative_offset.to_le_bytes());
}

/// Decodes the entries two index files agree on, stopping at the first one that is not
/// strictly after its predecessor or points at or past `log_len`. What is dropped is
/// rebuilt by the caller from the log.
pub(crate) fn decode_entries(offsets: &[u8], times: &[u8], log_len: u64) -> Vec<IndexEntry> {
    let mut entries: Vec<IndexEntry> = Vec::with_capacity(offsets.len() / INDEX_ENTRY_BYTES);
    for (o, t) in offsets
        .chunks_exact(INDEX_ENTRY_BYTES)
        .zip(times.chunks_exact(TIME_INDEX_ENTRY_BYTES))
    {
        let (Some(rel), Some(pos), Some(ts), Some(time_rel)) = (
            le_u32(o.get(0..4)),
            le_u32(o.get(4..8)),
            t.get(0..8)
                .and_then(|b| b.try_into().ok())
                .map(i64::from_le_bytes),
            le_u32(t.get(8..12)),
        ) else {
            break;
        };
        let entry = IndexEntry {
            relative_offset: rel,
            position: pos,
            max_timestamp_before: ts,
        };
        let ordered = entries.last().is_none_or(|prev| {
            prev.relative_offset < rel && prev.position < pos && prev.max_timestamp_before <= ts
        });
        if time_rel != rel || !ordered || u64::from(pos) >= log_len {
            break;
        }
        entries.push(entry);
    }
    entries
}

fn le_u32(bytes: Option<&[u8]>) -> Option<u32> {
    bytes
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(rel: u32, pos: u32, ts: i64) -> IndexEntry {
        IndexEntry {
            relative_offset: rel,
            position: pos,
            max_timestamp_before: ts,
        }
    }

    #[test]
    fn lookups_binary_search_the_entries() {
        let index = SparseIndex::with_capacity(2000);
        for i in 0..1500u32 {
            assert!(index.push(entry(i * 10 + 10, i * 4096 + 4096, i64::from(i) * 100)));
        }
        assert_eq!(index.lookup_offset(5), None);
        assert_eq!(index.lookup_offset(10).map(|e| e.position), Some(4096));
        assert_eq!(index.lookup_offset(19).map(|e| e.position), Some(4096));
        assert_eq!(index.lookup_offset(20).map(|e| e.position), Some(8192));
        assert_eq!(
            index.lookup_offset(u32::MAX).map(|e| e.relative_offset),
            Some(15000)
        );
        assert_eq!(index.lookup_timestamp(0), None);
        assert_eq!(
            index.lookup_timestamp(1).map(|(_, e)| e.relative_offset),
            Some(10)
        );
        assert_eq!(
            index.lookup_timestamp(250).map(|(_, e)| e.relative_offset),
            Some(30)
        );
    }

    /// One writer appends across several chunks while readers search: every entry a
    /// reader finds is whole (its offset, position and timestamp belong together) and
    /// lookups never see past the published length. Also run under Miri (see `.ci/run`),
    /// which checks the atomics for data races.
    #[test]
    fn readers_see_whole_entries_while_the_writer_appends() {
        const ENTRIES: u32 = CHUNK_ENTRIES as u32 * 2 + 100;
        let expected = |i: u32| entry(i * 3 + 1, i * 100 + 100, i64::from(i) * 7);
        let index = SparseIndex::with_capacity(ENTRIES as usize);
        std::thread::scope(|scope| {
            for reader in 0..2u32 {
                let index = &index;
                scope.spawn(move || {
                    let mut probe = reader;
                    loop {
                        let len = index.len();
                        if let Some(last) = index.last() {
                            // `last` may be newer than `len`, never older.
                            let i = u32::try_from(len.saturating_sub(1)).expect("small");
                            assert!(last.relative_offset >= expected(i).relative_offset);
                            assert_eq!(last, expected((last.relative_offset - 1) / 3));
                        }
                        probe = (probe * 7 + 13) % (ENTRIES * 3 + 10);
                        if let Some(found) = index.lookup_offset(probe) {
                            assert!(found.relative_offset <= probe);
                            assert_eq!(found, expected((found.relative_offset - 1) / 3));
                        }
                        if len == ENTRIES as usize {
                            break;
                        }
                        std::thread::yield_now();
                    }
                });
            }
            for i in 0..ENTRIES {
                assert!(index.push(expected(i)));
            }
        });
        assert_eq!(index.len(), ENTRIES as usize);
        assert_eq!(index.last(), Some(expected(ENTRIES - 1)));
    }

    #[test]
    fn a_full_index_drops_entries() {
        let index = SparseIndex::with_capacity(1);
        for i in 0..CHUNK_ENTRIES as u32 {
            assert!(index.push(entry(i, i, 0)));
        }
        assert!(!index.push(entry(10_000, 10_000, 0)));
        assert_eq!(index.len(), CHUNK_ENTRIES);
    }

    #[test]
    fn decoding_stops_at_the_first_inconsistent_entry() {
        let good = [entry(3, 100, 5), entry(7, 200, 5), entry(9, 300, 8)];
        let (mut offsets, mut times) = (Vec::new(), Vec::new());
        for e in &good {
            encode_offset_entry(e, &mut offsets);
            encode_time_entry(e, &mut times);
        }
        assert_eq!(decode_entries(&offsets, &times, 1000), good);
        // An entry pointing past the log, and a torn last entry, are dropped.
        assert_eq!(decode_entries(&offsets, &times, 300), &good[..2]);
        assert_eq!(decode_entries(&offsets[..20], &times, 1000), &good[..2]);
        // Going backwards is inconsistent.
        encode_offset_entry(&entry(8, 400, 9), &mut offsets);
        encode_time_entry(&entry(8, 400, 9), &mut times);
        assert_eq!(decode_entries(&offsets, &times, 1000), good);
        // Files that disagree.
        let mut other = Vec::new();
        encode_time_entry(&entry(4, 100, 5), &mut other);
        assert!(decode_entries(&offsets, &other, 1000).is_empty());
    }
}
