//! Idempotent producers' sequence numbers, per partition (Kafka's producer state).
//!
//! A Kafka client with `enable.idempotence` numbers its batches per partition; a batch
//! it sends again after a lost answer carries the numbers it had. The partition keeps,
//! per producer id, the epoch and the last [`KEPT_BATCHES`] batches it stored, so that a
//! retry is answered with the first answer instead of being stored twice, and a gap (a
//! batch lost between client and log) is refused instead of stored out of order.
//!
//! Batches without a sequence number (`base_sequence` −1: strom's own producers, its
//! transactional ones included, and non-idempotent clients) and control batches are not
//! checked. The state lives under the writer's lock; at open it is rebuilt from the batch
//! headers of the last segment (see [`ProducerStates::rebuilt`]).
//!
//! Transactional batches without sequence numbers and transaction markers are noted too
//! (epoch, last timestamp, the marker's coordinator epoch), so that the partition can say
//! which producers wrote to it, as Kafka's `DescribeProducers` does.

use std::collections::{HashMap, VecDeque};
use std::ops::ControlFlow;

use crate::error::Result;
use crate::storage::batch::BatchHeader;
use crate::storage::segment::Segment;

/// How many of a producer's latest batches a retry is recognised against (Kafka's 5, the
/// most `max.in.flight.requests.per.connection` allows with idempotence).
pub(crate) const KEPT_BATCHES: usize = 5;

/// A stored batch of a producer: its sequence numbers and where it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SequencedBatch {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: u64,
    last_offset: u64,
}

/// What the partition knows of one producer id.
#[derive(Debug)]
struct ProducerEntry {
    epoch: i16,
    /// Oldest first.
    batches: VecDeque<SequencedBatch>,
    /// The largest timestamp of its last batch or marker.
    last_timestamp: i64,
    /// The coordinator epoch of its last transaction marker; −1 before any.
    coordinator_epoch: i32,
}

impl ProducerEntry {
    fn new(epoch: i16) -> Self {
        Self {
            epoch,
            batches: VecDeque::with_capacity(KEPT_BATCHES),
            last_timestamp: -1,
            coordinator_epoch: -1,
        }
    }

    /// Moves to `epoch` if it is newer: a new epoch numbers its batches from 0 again.
    fn advance(&mut self, epoch: i16) {
        if epoch > self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
    }
}

/// One producer of a partition as its state says: what `DescribeProducers` reports, less the
/// transaction it has open (the partition's transactions know that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerSnapshot {
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    /// The sequence number of its last record; −1 without sequence numbers.
    pub(crate) last_sequence: i32,
    pub(crate) last_timestamp: i64,
    pub(crate) coordinator_epoch: i32,
}

/// The producers of one partition.
#[derive(Debug, Default)]
pub(crate) struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
}

/// What to do with a sequenced batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sequenced {
    /// Store it.
    Append,
    /// A retry of a batch stored at these offsets: store nothing, answer with them.
    Duplicate { base_offset: u64, last_offset: u64 },
}

/// Why a sequenced batch is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceError {
    /// Its epoch is older than the producer's current one: a fenced producer.
    Epoch { current: i16 },
    /// Its first sequence number is not the next one.
    OutOfOrder { expected: i32 },
}

/// Whether the batch of `header` takes part in the sequence checks.
pub(crate) fn is_sequenced(header: &BatchHeader) -> bool {
    header.origin.producer_id >= 0 && header.origin.base_sequence >= 0 && !header.is_control()
}

/// The sequence number of the batch's last record; sequences wrap from `i32::MAX` to 0, as
/// in Kafka.
fn last_sequence(header: &BatchHeader) -> i32 {
    let last = i64::from(header.origin.base_sequence) + i64::from(header.last_offset_delta);
    (last % (i64::from(i32::MAX) + 1)) as i32
}

/// The sequence number after `sequence`.
fn next_sequence(sequence: i32) -> i32 {
    if sequence == i32::MAX {
        0
    } else {
        sequence + 1
    }
}

impl ProducerStates {
    /// The state the batch headers of `segment` (the log's last) leave: bounded by one
    /// segment, read without checksums or records (the segment was checked at open). A
    /// producer whose last batches lie in older segments is unknown afterwards, and its next
    /// batch is taken at any sequence, as Kafka does when it lost a producer's state.
    pub(crate) fn rebuilt(segment: &Segment) -> Result<Self> {
        let mut states = Self::default();
        segment.batch_headers(|header| {
            let origin = header.origin;
            if is_sequenced(header) {
                states.record(header, header.base_offset);
            } else if origin.producer_id >= 0 && header.is_control() {
                // The marker's coordinator epoch is in its record, not its header: strom's
                // coordinator writes 0.
                states.note_marker(
                    origin.producer_id,
                    origin.producer_epoch,
                    header.max_timestamp,
                    0,
                );
            } else if origin.producer_id >= 0 && header.is_transactional() {
                states.note_batch(
                    origin.producer_id,
                    origin.producer_epoch,
                    header.max_timestamp,
                );
            }
            ControlFlow::Continue(())
        })?;
        Ok(states)
    }

    /// What to do with the sequenced batch of `header`.
    pub(crate) fn check(&self, header: &BatchHeader) -> Result<Sequenced, SequenceError> {
        let origin = header.origin;
        let Some(entry) = self.producers.get(&origin.producer_id) else {
            // A producer this partition does not know (new, or its state lost): any
            // sequence starts it.
            return Ok(Sequenced::Append);
        };
        if origin.producer_epoch < entry.epoch {
            return Err(SequenceError::Epoch {
                current: entry.epoch,
            });
        }
        if origin.producer_epoch > entry.epoch {
            // A new epoch numbers its batches from 0 again.
            return if origin.base_sequence == 0 {
                Ok(Sequenced::Append)
            } else {
                Err(SequenceError::OutOfOrder { expected: 0 })
            };
        }
        let last = last_sequence(header);
        if let Some(stored) = entry
            .batches
            .iter()
            .find(|b| b.first_sequence == origin.base_sequence && b.last_sequence == last)
        {
            return Ok(Sequenced::Duplicate {
                base_offset: stored.base_offset,
                last_offset: stored.last_offset,
            });
        }
        let expected = entry
            .batches
            .back()
            .map_or(origin.base_sequence, |b| next_sequence(b.last_sequence));
        if origin.base_sequence == expected {
            Ok(Sequenced::Append)
        } else {
            Err(SequenceError::OutOfOrder { expected })
        }
    }

    /// Records that the sequenced batch of `header` was stored at `base_offset`.
    pub(crate) fn record(&mut self, header: &BatchHeader, base_offset: u64) {
        let origin = header.origin;
        let entry = self
            .producers
            .entry(origin.producer_id)
            .or_insert_with(|| ProducerEntry::new(origin.producer_epoch));
        if entry.epoch != origin.producer_epoch {
            entry.epoch = origin.producer_epoch;
            entry.batches.clear();
        }
        entry.last_timestamp = header.max_timestamp;
        if entry.batches.len() == KEPT_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(SequencedBatch {
            first_sequence: origin.base_sequence,
            last_sequence: last_sequence(header),
            base_offset,
            last_offset: base_offset.saturating_add(u64::from(header.last_offset_delta)),
        });
    }

    /// Notes a batch of `producer_id` without sequence numbers (a transactional batch of
    /// strom's own producers) whose largest timestamp is `max_timestamp`.
    pub(crate) fn note_batch(&mut self, producer_id: i64, epoch: i16, max_timestamp: i64) {
        self.note(producer_id, epoch, max_timestamp);
    }

    /// Notes a transaction marker of `producer_id` written at `timestamp` by a coordinator
    /// of `coordinator_epoch`.
    pub(crate) fn note_marker(
        &mut self,
        producer_id: i64,
        epoch: i16,
        timestamp: i64,
        coordinator_epoch: i32,
    ) {
        self.note(producer_id, epoch, timestamp).coordinator_epoch = coordinator_epoch;
    }

    /// The entry of `producer_id`, created or moved to `epoch` if it is newer, with its last
    /// timestamp set to `timestamp`.
    fn note(&mut self, producer_id: i64, epoch: i16, timestamp: i64) -> &mut ProducerEntry {
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry::new(epoch));
        entry.advance(epoch);
        entry.last_timestamp = timestamp;
        entry
    }

    /// The epoch the partition knows for `producer_id`.
    pub(crate) fn epoch(&self, producer_id: i64) -> Option<i16> {
        self.producers.get(&producer_id).map(|e| e.epoch)
    }

    /// Every producer known here, by producer id.
    pub(crate) fn snapshot(&self) -> Vec<ProducerSnapshot> {
        let mut all: Vec<ProducerSnapshot> = self
            .producers
            .iter()
            .map(|(&producer_id, e)| ProducerSnapshot {
                producer_id,
                epoch: e.epoch,
                last_sequence: e.batches.back().map_or(-1, |b| b.last_sequence),
                last_timestamp: e.last_timestamp,
                coordinator_epoch: e.coordinator_epoch,
            })
            .collect();
        all.sort_by_key(|p| p.producer_id);
        all
    }

    /// The largest producer id known here.
    pub(crate) fn max_producer_id(&self) -> Option<i64> {
        self.producers.keys().copied().max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::batch::Origin;

    fn header(producer_id: i64, epoch: i16, base_sequence: i32, records: u32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            length: 0,
            partition_leader_epoch: 0,
            version: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: records - 1,
            first_timestamp: 0,
            max_timestamp: 0,
            origin: Origin {
                producer_id,
                producer_epoch: epoch,
                base_sequence,
                transactional: false,
            },
            record_count: records,
        }
    }

    #[test]
    fn sequences_follow_on_and_retries_are_duplicates() {
        let mut states = ProducerStates::default();
        let first = header(7, 0, 10, 3);
        assert_eq!(states.check(&first), Ok(Sequenced::Append));
        states.record(&first, 100);
        let next = header(7, 0, 13, 2);
        assert_eq!(states.check(&next), Ok(Sequenced::Append));
        states.record(&next, 103);
        assert_eq!(
            states.check(&first),
            Ok(Sequenced::Duplicate {
                base_offset: 100,
                last_offset: 102
            })
        );
        assert_eq!(
            states.check(&header(7, 0, 16, 1)),
            Err(SequenceError::OutOfOrder { expected: 15 })
        );
    }

    #[test]
    fn epochs_fence_and_reset() {
        let mut states = ProducerStates::default();
        states.record(&header(1, 3, 0, 1), 0);
        assert_eq!(
            states.check(&header(1, 2, 1, 1)),
            Err(SequenceError::Epoch { current: 3 })
        );
        assert_eq!(
            states.check(&header(1, 4, 5, 1)),
            Err(SequenceError::OutOfOrder { expected: 0 })
        );
        assert_eq!(states.check(&header(1, 4, 0, 1)), Ok(Sequenced::Append));
    }

    #[test]
    fn sequences_wrap_to_zero_and_only_five_batches_are_kept() {
        let mut states = ProducerStates::default();
        let wrapping = header(2, 0, i32::MAX - 1, 3);
        assert_eq!(last_sequence(&wrapping), 0);
        states.record(&wrapping, 0);
        assert_eq!(states.check(&header(2, 0, 1, 1)), Ok(Sequenced::Append));
        for i in 0..6 {
            states.record(&header(2, 0, 1 + i, 1), 3 + u64::from(i.unsigned_abs()));
        }
        // The wrapping batch is the sixth from the end: forgotten, so out of order.
        assert_eq!(
            states.check(&wrapping),
            Err(SequenceError::OutOfOrder { expected: 7 })
        );
        assert_eq!(states.max_producer_id(), Some(2));
    }
}
