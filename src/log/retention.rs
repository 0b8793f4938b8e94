//! Retention: deleting a partition's oldest segments once they are too old or the
//! partition too large (Kafka's `cleanup.policy=delete`).
//!
//! Only whole sealed segments go, oldest first, so the log start moves to a segment
//! boundary. A segment is too old when its newest record is older than `retention_ms`;
//! the active segment is rolled once it is `segment_ms` old, so that an idle partition's
//! data can expire too. Readers holding a deleted segment's map keep reading it; a
//! consumer whose position fell below the new log start is reset by `auto_offset_reset`.

use std::sync::Arc;

use super::{PartitionLog, WriteState};
use crate::error::Result;
use crate::storage::fsync_dir;
use crate::storage::segment::Segment;

/// How long and how much a partition keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retention {
    /// Segments whose newest record is older than this go; `None` keeps them for ever.
    pub(crate) ms: Option<i64>,
    /// The oldest segments go while the partition is larger than this.
    pub(crate) bytes: Option<u64>,
}

impl PartitionLog {
    /// Rolls the active segment if it is older than `segment_ms` and holds records, so
    /// that retention can delete it later even if nothing more is appended.
    pub(crate) fn roll_if_old(&self, now_ms: i64) -> Result<()> {
        let mut writer = self.writer()?;
        if writer.state != WriteState::Open || writer.active.end() == 0 {
            return Ok(());
        }
        let segment_ms = writer.settings.segment_ms;
        if writer.active.should_roll(0, now_ms, segment_ms) {
            self.roll(&mut writer, 0, now_ms)?;
        }
        Ok(())
    }

    /// Deletes the oldest sealed segments that retention no longer keeps; returns how many.
    pub(crate) fn apply_retention(&self, retention: Retention, now_ms: i64) -> Result<usize> {
        let _cleaning = self.cleaning.lock();
        // IMPORTANT: every size and timestamp comes from a lookup that succeeded: one that
        // fails ends this round with its error and deletes nothing.
        let doomed: Vec<Arc<Segment>> = {
            let segments: Vec<Arc<Segment>> = self.segments.read().clone();
            let sealed = segments.len().saturating_sub(1);
            let mut sizes = Vec::with_capacity(segments.len());
            for segment in &segments {
                sizes.push(segment.size_bytes()?);
            }
            let mut size: u64 = sizes.iter().sum();
            let mut doomed = Vec::new();
            for (segment, &bytes) in segments.iter().zip(&sizes).take(sealed) {
                let too_big = retention
                    .bytes
                    .is_some_and(|limit| size.saturating_sub(bytes) >= limit && size > limit);
                let too_old = match retention.ms {
                    Some(ms) => bytes == 0 || segment.max_timestamp()? < now_ms.saturating_sub(ms),
                    None => false,
                };
                if !(too_big || too_old) {
                    break;
                }
                size -= bytes;
                doomed.push(Arc::clone(segment));
            }
            doomed
        };
        if doomed.is_empty() {
            return Ok(0);
        }
        // IMPORTANT: out of the list first, so that no new reader finds them, then off the
        // disk; a crash in between leaves files that the next open simply keeps.
        self.segments
            .write()
            .retain(|s| !doomed.iter().any(|d| Arc::ptr_eq(d, s)));
        for segment in &doomed {
            segment.remove_files()?;
        }
        fsync_dir(&self.dir)?;
        self.metrics.segments_deleted(doomed.len());
        tracing::info!(
            topic = %self.topic,
            partition = self.partition,
            segments = doomed.len(),
            log_start_offset = self.log_start_offset(),
            "deleted segments past retention"
        );
        Ok(doomed.len())
    }
}
