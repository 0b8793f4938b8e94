//! Rebatching: sealed segments written one small batch at a time (single `send`s) are
//! rewritten by maintenance into larger batches, compressed with the topic's codec, so that
//! they take the room on disk that records sent together take (`TopicConfig::rebatch_sealed`).
//!
//! A single small record compresses to about its own size, so a batch of one is stored
//! uncompressed; only many records compress well together. Rebatching merges runs of plain
//! batches (no producer id, not transactional, not a marker, record timestamps) into
//! batches of up to `REWRITE_BATCH_BYTES` of records. Transactional batches and markers are
//! copied as they are (compressed with the codec where they were not), so what readers of
//! committed data see is unchanged; every record keeps its offset, timestamp, key, value and
//! headers. Each segment is swapped crash-safely, as compaction swaps them, and the active
//! segment is never rewritten. Whether a segment needs it is judged from its batch headers
//! alone (neighbouring small uncompressed plain batches), so after a restart maintenance
//! looks at every sealed segment again at the cost of reading their headers.

use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::compaction::{encode_runs, owned, Kept, REWRITE_BATCH_BYTES};
use super::PartitionLog;
use crate::error::{Error, Result};
use crate::storage::batch::{self, v2, BatchHeader, Compression};
use crate::storage::segment::Segment;

/// Whether a batch's records may be merged with those of its neighbours: a plain
/// producer's, with the records' own timestamps.
fn mergeable(header: &BatchHeader) -> bool {
    !header.is_control()
        && !header.is_transactional()
        && header.origin.producer_id < 0
        && header.attributes & v2::LOG_APPEND_TIME == 0
}

/// Whether merging would change `segment`: it has two neighbouring mergeable batches that
/// are uncompressed and small (as single sends leave them; batches rebatched before are
/// compressed, or, without a codec, large). Reads headers only, so that a restart, which
/// forgets which segments were rebatched, looks at each again cheaply.
fn worth_rebatching(segment: &Segment) -> Result<bool> {
    let small = |h: &BatchHeader| {
        mergeable(h)
            && h.compression() == Compression::None
            && (h.length as usize) < REWRITE_BATCH_BYTES / 2
    };
    let (mut previous_small, mut worth) = (false, false);
    segment.batch_headers(|header| {
        let this_small = small(header);
        worth = previous_small && this_small;
        previous_small = this_small;
        if worth {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    Ok(worth)
}

impl PartitionLog {
    /// Rewrites the sealed segments not yet rebatched whose runs of small plain batches
    /// merge into fewer (or, with a codec, compressed) batches; returns how many it
    /// rewrote.
    pub(crate) fn rebatch(&self) -> Result<usize> {
        let _cleaning = self.cleaning.lock();
        let codec = self.compression();
        let segments: Vec<Arc<Segment>> = self.segments.read().clone();
        let done = self.rebatched_to.load(Ordering::Acquire);
        let sealed = segments.len().saturating_sub(1);
        let mut rewritten = 0;
        for segment in segments.iter().take(sealed) {
            if segment.next_offset() <= done {
                continue;
            }
            if !worth_rebatching(segment)? {
                continue;
            }
            let Some(bytes) = rebatched(segment, codec)? else {
                continue;
            };
            self.rewrite_segment(segment, &bytes)?;
            rewritten += 1;
        }
        if let Some(newest_sealed) = segments.get(sealed.wrapping_sub(1)) {
            self.rebatched_to
                .fetch_max(newest_sealed.next_offset(), Ordering::AcqRel);
        }
        if rewritten > 0 {
            tracing::info!(
                topic = %self.topic,
                partition = self.partition,
                rewritten,
                %codec,
                "rebatched sealed segments"
            );
        }
        Ok(rewritten)
    }
}

/// The bytes `segment` rebatches into, or `None` when that would not merge batches or not
/// shrink it.
fn rebatched(segment: &Segment, codec: Compression) -> Result<Option<Vec<u8>>> {
    let encode_error = |source| Error::Encode {
        path: segment.path().to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    let mut run: Vec<Kept> = Vec::new();
    let (mut plain_in, mut plain_out) = (0, 0);
    let _: ControlFlow<()> = segment.read_batches(segment.base_offset(), u64::MAX, |batch| {
        let header = batch.header;
        if mergeable(header) {
            plain_in += 1;
            for record in batch.records()? {
                run.push(owned(batch.map, batch.position, header.version, &record?));
            }
            return Ok(ControlFlow::Continue(()));
        }
        plain_out += encode_runs(&run, codec, &mut out).map_err(encode_error)?;
        run.clear();
        // Handed out decompressed: compressed again with the topic's codec.
        let copied = batch::compress_with(batch.bytes(), header, codec).map_err(encode_error)?;
        out.extend_from_slice(&copied);
        Ok(ControlFlow::Continue(()))
    })?;
    plain_out += encode_runs(&run, codec, &mut out).map_err(encode_error)?;
    let smaller = out.len() < usize::try_from(segment.size_bytes()?).unwrap_or(usize::MAX);
    Ok((plain_out < plain_in && smaller).then_some(out))
}
