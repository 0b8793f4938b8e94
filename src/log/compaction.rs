//! Compaction: keeping only the latest record of each key in sealed segments (Kafka's
//! `cleanup.policy=compact`).
//!
//! The cleaner reads the whole partition once to learn each key's latest offset, then
//! rewrites every sealed segment that holds an older record: the records that stay keep
//! their offsets, so a compacted log has gaps, which readers step over. A tombstone (a key
//! without a value) stays while it is younger than `delete_retention_ms`, so that readers
//! catching up see the deletion, and then goes too. The active segment is never rewritten.
//! Each segment is swapped crash-safely (see `Segment::rewrite`); appends go on meanwhile
//! and readers keep whatever segment view they hold.
//!
//! Transactions: only segments below the last stable offset are compacted, and only records
//! below it count as a key's latest, since an open transaction may still abort. Records
//! of aborted transactions never count and are dropped, so compaction never brings an
//! aborted value back; transaction markers are dropped too, and the committed records they
//! ended are rewritten as plain ones, which readers of committed data read alike.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{hidden_from_committed, PartitionLog};
use crate::error::{Error, Result};
use crate::storage::batch::{self, Compression, Entry, RecordRef};
use crate::storage::mapping::Mapping;
use crate::storage::segment::Segment;

/// The most record bytes (keys, values, headers) a rewritten batch takes before the next
/// one starts: large enough to compress well, small enough that a reader starting inside one
/// decodes little it does not want.
pub(super) const REWRITE_BATCH_BYTES: usize = 256 << 10;

/// One record read back for rewriting.
pub(super) struct Kept {
    offset: u64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
}

impl PartitionLog {
    /// Compacts the sealed segments if records were sealed since the last compaction;
    /// returns how many records were removed.
    pub(crate) fn compact(&self, delete_retention_ms: i64, now_ms: i64) -> Result<usize> {
        let _cleaning = self.cleaning.lock();
        let segments: Vec<Arc<Segment>> = self.segments.read().clone();
        // Only what no open transaction reaches: an open transaction's records may still be
        // aborted, so they neither supersede older records nor get rewritten.
        let stable = self.last_stable_offset();
        let sealed = segments
            .iter()
            .take(segments.len().saturating_sub(1))
            .take_while(|s| s.next_offset() <= stable)
            .count();
        let Some(newest_sealed) = segments.get(sealed.wrapping_sub(1)).filter(|_| sealed > 0)
        else {
            return Ok(0);
        };
        let sealed_to = newest_sealed.next_offset();
        if sealed_to <= self.compacted_to.load(Ordering::Acquire) {
            return Ok(0);
        }
        let aborted = self.aborted_from(0);
        // Whether a batch's records are gone for readers of committed data: a transaction
        // marker, or a batch of an aborted transaction. Compaction drops them.
        let dropped = |h: &batch::BatchHeader| hidden_from_committed(h, &aborted);
        // Each key's latest offset, over the whole stable log (the active segment's records
        // too: they supersede older ones in sealed segments).
        let mut latest: HashMap<Vec<u8>, u64> = HashMap::new();
        for segment in &segments {
            let _: ControlFlow<()> =
                segment.read_batches(segment.base_offset(), stable, |batch| {
                    if dropped(batch.header) {
                        return Ok(ControlFlow::Continue(()));
                    }
                    for record in batch.records()? {
                        let record = record?;
                        if record.offset >= stable {
                            break;
                        }
                        if let Some(key) = field(batch.map, batch.position, record.key.clone()) {
                            latest.insert(key.to_vec(), record.offset);
                        }
                    }
                    Ok(ControlFlow::Continue(()))
                })?;
        }
        let tombstone_horizon = now_ms.saturating_sub(delete_retention_ms);
        let (mut removed, mut rewritten) = (0, 0);
        for segment in segments.iter().take(sealed) {
            let mut kept = Vec::new();
            let mut total = 0;
            let _: ControlFlow<()> =
                segment.read_batches(segment.base_offset(), u64::MAX, |batch| {
                    let (map, pos) = (batch.map, batch.position);
                    if dropped(batch.header) {
                        total += batch.header.record_count as usize;
                        return Ok(ControlFlow::Continue(()));
                    }
                    for record in batch.records()? {
                        let record = record?;
                        total += 1;
                        let keep = match field(map, pos, record.key.clone()) {
                            // Keyless records cannot be superseded.
                            None => true,
                            Some(key) => {
                                latest.get(key) == Some(&record.offset)
                                    && !(record.value.is_none()
                                        && record.timestamp < tombstone_horizon)
                            }
                        };
                        if keep {
                            kept.push(owned(map, pos, batch.header.version, &record));
                        }
                    }
                    Ok(ControlFlow::Continue(()))
                })?;
            if kept.len() == total {
                continue;
            }
            removed += total - kept.len();
            rewritten += 1;
            let mut bytes = Vec::new();
            encode_runs(&kept, self.compression(), &mut bytes).map_err(|source| Error::Encode {
                path: segment.path().to_path_buf(),
                source,
            })?;
            self.rewrite_segment(segment, &bytes)?;
        }
        self.compacted_to.fetch_max(sealed_to, Ordering::AcqRel);
        self.metrics.compacted(rewritten, removed);
        tracing::info!(
            topic = %self.topic,
            partition = self.partition,
            removed,
            rewritten,
            compacted_to = sealed_to,
            "compacted sealed segments"
        );
        Ok(removed)
    }
}

/// The bytes of an optional field of a record decoded at `pos` of `map`.
pub(super) fn field(
    map: &Mapping,
    pos: usize,
    range: Option<std::ops::Range<usize>>,
) -> Option<&[u8]> {
    range.and_then(|r| map.bytes(r.start + pos..r.end + pos))
}

/// A record copied out of the map, headers decoded.
pub(super) fn owned(map: &Mapping, pos: usize, version: u8, record: &RecordRef) -> Kept {
    let encoded = field(map, pos, Some(record.headers.clone())).unwrap_or_default();
    Kept {
        offset: record.offset,
        timestamp: record.timestamp,
        key: field(map, pos, record.key.clone()).map(<[u8]>::to_vec),
        value: field(map, pos, record.value.clone()).map(<[u8]>::to_vec),
        headers: batch::headers(encoded, record.header_count, version)
            .map(|(k, v)| {
                let value = v.map(<[u8]>::to_vec).unwrap_or_default();
                (String::from_utf8_lossy(k).into_owned(), value)
            })
            .collect(),
    }
}

impl Kept {
    /// Bytes of the record's key, value and headers.
    fn size(&self) -> usize {
        let headers: usize = self.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
        self.key.as_ref().map_or(0, Vec::len) + self.value.as_ref().map_or(0, Vec::len) + headers
    }
}

impl PartitionLog {
    /// Replaces sealed `segment` by one holding `bytes` (crash-safely, see
    /// `Segment::rewrite`); readers holding the old one keep reading it.
    pub(super) fn rewrite_segment(&self, segment: &Arc<Segment>, bytes: &[u8]) -> Result<()> {
        let fresh = Arc::new(segment.rewrite(bytes)?);
        let mut list = self.segments.write();
        if let Some(slot) = list.iter_mut().find(|s| Arc::ptr_eq(s, segment)) {
            *slot = fresh;
        }
        Ok(())
    }
}

/// Encodes `kept` as batches of consecutive offsets (a batch's offsets are contiguous) of
/// at most about [`REWRITE_BATCH_BYTES`], compressed with `codec`, onto `out`; returns how
/// many batches it wrote.
pub(super) fn encode_runs(
    kept: &[Kept],
    codec: Compression,
    out: &mut Vec<u8>,
) -> Result<usize, batch::EncodeError> {
    let mut start = 0;
    let mut batches = 0;
    while start < kept.len() {
        let mut end = start + 1;
        let mut bytes = kept[start].size();
        while end < kept.len()
            && kept[end].offset == kept[end - 1].offset + 1
            && bytes + kept[end].size() <= REWRITE_BATCH_BYTES
        {
            bytes += kept[end].size();
            end += 1;
        }
        let entries: Vec<Entry<'_>> = kept[start..end]
            .iter()
            .map(|k| Entry {
                timestamp: k.timestamp,
                key: k.key.as_deref(),
                value: k.value.as_deref(),
                headers: &k.headers,
            })
            .collect();
        let at = out.len();
        out.resize(at + batch::encoded_len(&entries), 0);
        batch::encode(
            out.get_mut(at..).unwrap_or_default(),
            kept[start].offset,
            &entries,
        )?;
        if codec != Compression::None {
            let plain = out.get(at..).unwrap_or_default();
            let header = batch::read_header(plain).map_err(batch::EncodeError::Invalid)?;
            let compressed = batch::compress_with(plain, &header, codec)?;
            out.truncate(at);
            out.extend_from_slice(&compressed);
        }
        batches += 1;
        start = end;
    }
    Ok(batches)
}
