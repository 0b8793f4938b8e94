//! Finding where a segment's valid data ends, and re-deriving its index on the way.
//!
//! After an unclean stop the last segment of a log may end in a torn batch (the process
//! died inside a copy), in zeroes (the preallocated, never-written part), or — after a
//! machine crash with a lazy sync policy — in pages that never reached the disk while the
//! index did. Recovery trusts nothing it has not checked: it starts from the last index
//! entry that points at a valid batch, walks forward batch by batch checking each one's
//! length, CRC and offset, and stops at the first that fails. Everything before that point
//! is the log; everything after is cut off. The work is proportional to the tail after the
//! last index entry, not to the size of the log.

use super::batch;
use super::index::{IndexEntry, SparseIndex};

/// Whether a segment's batches must follow each other without gaps in their offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offsets {
    /// As appended: each batch starts where the previous one ended. The active segment's
    /// tail is checked so, which also rejects a stale batch left past a torn write.
    Contiguous,
    /// Increasing with gaps, as compaction leaves sealed segments.
    Increasing,
}

/// Where a segment's valid data ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Byte position after the last valid batch.
    pub(crate) end: u64,
    /// Offset after the last valid batch's records.
    pub(crate) next_offset: u64,
    /// Largest record timestamp of the valid data (`i64::MIN` if none).
    pub(crate) max_timestamp: i64,
    /// Where the last valid batch starts, if there is one.
    pub(crate) last_batch: Option<u64>,
    /// Where the batch-by-batch check started (the last trustworthy index entry).
    pub(crate) checked_from: u64,
    /// The version of the batch the scan stopped at, if a newer build wrote it: then the
    /// data after `end` is not damage, and must not be cut.
    pub(crate) newer_version: Option<u8>,
}

/// Validates `bytes`, the content of a segment starting at `base_offset`, from its last
/// trustworthy index entry on. Entries pointing at anything but the start of a valid
/// batch with the expected offset are dropped from `index`; entries for the batches walked
/// over are added, every `interval` bytes, as the writer would have added them.
pub(crate) fn scan_tail(
    bytes: &[u8],
    base_offset: u64,
    index: &SparseIndex,
    interval: u64,
    offsets: Offsets,
) -> Scan {
    let start = loop {
        let Some(entry) = index.last() else {
            break None;
        };
        let expected = base_offset + u64::from(entry.relative_offset);
        match bytes.get(entry.position as usize..).map(batch::check) {
            Some(Ok(header)) if header.base_offset == expected => break Some(entry),
            _ => index.truncate(index.len() - 1),
        }
    };
    let (mut pos, mut next_offset, mut max_timestamp) =
        start.map_or((0, base_offset, i64::MIN), |e| {
            (
                e.position as usize,
                base_offset + u64::from(e.relative_offset),
                e.max_timestamp_before,
            )
        });
    let checked_from = pos as u64;
    let mut since_entry = 0u64;
    let mut last_batch = None;
    while let Some(Ok(header)) = bytes.get(pos..).map(batch::check) {
        let in_order = match offsets {
            Offsets::Contiguous => header.base_offset == next_offset,
            Offsets::Increasing => header.base_offset >= next_offset,
        };
        if !in_order {
            break;
        }
        next_offset = header.base_offset;
        if since_entry >= interval && pos > 0 {
            // The position fits: callers never scan more than `MAX_SEGMENT_FILE_BYTES`. A
            // hostile log whose offsets jump further than 32 bits may wrap the relative
            // offset; index entries are hints that reads check against the batch they
            // point at, so a wrong one costs a scan, never a wrong record.
            debug_assert!(pos as u64 <= super::segment::MAX_SEGMENT_FILE_BYTES);
            let pushed = index.push(IndexEntry {
                relative_offset: (next_offset - base_offset) as u32,
                position: pos as u32,
                max_timestamp_before: max_timestamp,
            });
            if pushed {
                since_entry = 0;
            }
        }
        max_timestamp = max_timestamp.max(header.max_timestamp);
        last_batch = Some(pos as u64);
        pos += header.length as usize;
        since_entry += u64::from(header.length);
        next_offset = header.next_offset();
    }
    let newer_version = bytes.get(pos..).and_then(batch::newer_version);
    Scan {
        end: pos as u64,
        next_offset,
        max_timestamp,
        last_batch,
        checked_from,
        newer_version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::batch::{encode, encoded_len, Entry};

    /// A segment image of `batches` single-record batches with 100-byte values.
    fn image(base: u64, batches: u64) -> (Vec<u8>, Vec<usize>) {
        let value = [7u8; 100];
        let mut bytes = Vec::new();
        let mut starts = Vec::new();
        for i in 0..batches {
            let entries = [Entry {
                timestamp: 1000 + i64::try_from(i).expect("small"),
                key: None,
                value: Some(&value),
                headers: &[],
            }];
            let start = bytes.len();
            bytes.resize(start + encoded_len(&entries), 0);
            let written = encode(&mut bytes[start..], base + i, &entries).expect("sized buffer");
            assert_eq!(written, bytes.len() - start);
            starts.push(start);
        }
        (bytes, starts)
    }

    #[test]
    fn a_clean_image_scans_to_its_end_and_rebuilds_the_index() {
        let (bytes, starts) = image(100, 50);
        let index = SparseIndex::with_capacity(100);
        let scan = scan_tail(&bytes, 100, &index, 1000, Offsets::Contiguous);
        assert_eq!(
            scan,
            Scan {
                end: bytes.len() as u64,
                next_offset: 150,
                max_timestamp: 1049,
                last_batch: starts.last().map(|&s| s as u64),
                checked_from: 0,
                newer_version: None,
            }
        );
        assert!(
            index.len() >= 5,
            "entries every ~1000 bytes, got {}",
            index.len()
        );
        let again = SparseIndex::from_entries(
            &(0..index.len())
                .filter_map(|i| index.get(i))
                .collect::<Vec<_>>(),
            100,
        );
        let rescan = scan_tail(&bytes, 100, &again, 1000, Offsets::Contiguous);
        assert!(
            rescan.checked_from > 0,
            "checked from the last index entry on"
        );
        assert_eq!(
            Scan {
                checked_from: 0,
                ..rescan
            },
            scan
        );
    }

    #[test]
    fn every_cut_point_leaves_an_exact_prefix() {
        let (bytes, starts) = image(0, 8);
        let ends: Vec<usize> = starts
            .iter()
            .skip(1)
            .copied()
            .chain([bytes.len()])
            .collect();
        for cut in 0..=bytes.len() {
            let mut torn = bytes[..cut].to_vec();
            // Not zeroes: a batch's last bytes may be zero, and padding with zeroes would
            // rebuild it exactly.
            torn.resize(bytes.len() + 512, 0xAA);
            let scan = scan_tail(
                &torn,
                0,
                &SparseIndex::with_capacity(16),
                4096,
                Offsets::Contiguous,
            );
            let complete = ends.iter().filter(|&&end| end <= cut).count();
            assert_eq!(scan.next_offset, complete as u64, "cut at {cut}");
            assert_eq!(
                scan.end,
                if complete == 0 {
                    0
                } else {
                    ends[complete - 1] as u64
                }
            );
        }
    }

    #[test]
    fn an_index_entry_past_the_valid_data_is_dropped() {
        let (bytes, starts) = image(0, 10);
        let index = SparseIndex::with_capacity(16);
        index.push(IndexEntry {
            relative_offset: 3,
            position: starts[3] as u32,
            max_timestamp_before: 1002,
        });
        index.push(IndexEntry {
            relative_offset: 8,
            position: starts[8] as u32,
            max_timestamp_before: 1007,
        });
        let mut torn = bytes[..starts[6]].to_vec();
        torn.resize(bytes.len(), 0);
        let scan = scan_tail(&torn, 0, &index, 1 << 20, Offsets::Contiguous);
        assert_eq!(scan.next_offset, 6);
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn a_flipped_byte_stops_the_scan_before_that_batch() {
        let (mut bytes, starts) = image(0, 10);
        bytes[starts[4] + 45] ^= 0x40;
        let scan = scan_tail(
            &bytes,
            0,
            &SparseIndex::with_capacity(16),
            4096,
            Offsets::Contiguous,
        );
        assert_eq!(scan.next_offset, 4);
        assert_eq!(scan.end, starts[4] as u64);
    }
}
