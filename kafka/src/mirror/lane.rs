//! One partition's way through the mirror: where it is read, which of its batches are
//! prepared and not yet acknowledged, and what the target holds after the acknowledged ones.
//!
//! A batch is taken only when it is committed: the source is read `ReadCommitted` (up to
//! its last stable offset, so an open transaction's batches wait until it is decided),
//! control batches (transaction markers) are left out, and so is every batch of an aborted
//! transaction: from the transaction's first offset, a transactional batch of its producer
//! is aborted until that producer's next marker.

use std::collections::VecDeque;

use bytes::Bytes;
use strom::storage::batch::{self, BatchHeader, Origin};
use strom::{Broker, FetchedBatches, IsolationLevel, TopicPartition};

use super::{rebatch, MirrorError};
use crate::client::ProducerIdentity;

/// A batch ready to go to the target, re-stamped with the mirror's producer and sequence.
#[derive(Debug, Clone)]
pub(super) struct Outgoing {
    /// The batch as it is sent: the same bytes on every retry (same sequence).
    pub(super) bytes: Bytes,
    /// Its records: the offsets it takes on the target.
    pub(super) records: u64,
    /// The source offset after it.
    pub(super) next_offset: u64,
}

/// Small stored batches gathered to go as one.
#[derive(Debug, Default)]
struct Group<'a> {
    batches: Vec<&'a [u8]>,
    bytes: usize,
    records: u64,
    /// The source offset after the last.
    next_offset: u64,
}

/// One partition being copied.
#[derive(Debug)]
pub(super) struct Lane {
    pub(super) tp: TopicPartition,
    /// The node id of the target partition's leader.
    pub(super) node: i32,
    /// The source offset to read next.
    next_fetch: u64,
    /// Where to stop reading (`once`: the last stable offset as of the start).
    until: Option<u64>,
    /// Prepared batches, oldest first; the first `sent` of them are in flight.
    pub(super) queue: VecDeque<Outgoing>,
    pub(super) sent: usize,
    /// Bytes held in `queue`.
    pub(super) queued_bytes: usize,
    /// The producer this partition's batches go out as: the one its last commit names
    /// (so that what a killed run left in flight is recognised by its sequences), or a new
    /// one.
    pub(super) producer: ProducerIdentity,
    /// The target's end when the lane started, and the producer's sequence for a record
    /// stored there: sequences count the target's records from it.
    anchor: (u64, i32),
    /// The sequence of the next batch prepared.
    next_sequence: i32,
    /// The source offset after the batches the target acknowledged (or that need not go).
    pub(super) acked_offset: u64,
    /// The target partition's end after the acknowledged batches.
    pub(super) target_end: u64,
    /// Records the previous run wrote past its last commit, still to be passed over.
    skip: u64,
    /// What is committed: (offset, target end).
    pub(super) committed: (u64, u64),
}

impl Lane {
    /// A lane resuming at source offset `from` (its commit, or the log start with none),
    /// with the target's end `target_end` now, of which `skip` records the previous run
    /// wrote after its last commit; its batches go as `producer`, the next with `sequence`.
    #[allow(clippy::too_many_arguments)] // each is one fact of the resume point
    pub(super) fn new(
        tp: TopicPartition,
        node: i32,
        from: u64,
        until: Option<u64>,
        (target_end, skip): (u64, u64),
        committed: (u64, u64),
        producer: ProducerIdentity,
        sequence: i32,
    ) -> Self {
        Self {
            tp,
            node,
            next_fetch: from,
            until,
            queue: VecDeque::new(),
            sent: 0,
            queued_bytes: 0,
            producer,
            anchor: (target_end, sequence),
            next_sequence: sequence,
            acked_offset: from,
            target_end,
            skip,
            committed,
        }
    }

    /// The source offset to read next.
    pub(super) fn position(&self) -> u64 {
        self.next_fetch
    }

    /// Whether prepared batches wait to be sent.
    pub(super) fn has_unsent(&self) -> bool {
        self.sent < self.queue.len()
    }

    /// Whether everything up to `until` went and was acknowledged (never, while following).
    pub(super) fn is_done(&self) -> bool {
        self.queue.is_empty() && self.until.is_some_and(|until| self.next_fetch >= until)
    }

    /// The producer's sequence for the next record stored at the target's end after the
    /// acknowledged batches: what a later run continues from.
    pub(super) fn acked_sequence(&self) -> i32 {
        let (end, sequence) = self.anchor;
        sequence_after(sequence, self.target_end.saturating_sub(end))
    }

    /// Whether the acknowledged position moved past what is committed. Never while passing
    /// over what the previous run wrote: `target_end` counts all of that already and
    /// `acked_offset` only what was passed, so the two make a commit only together after.
    pub(super) fn is_dirty(&self) -> bool {
        self.skip == 0 && self.committed != (self.acked_offset, self.target_end)
    }

    /// Reads up to `max_bytes` of batches from the source and prepares those to copy;
    /// returns whether anything was read.
    pub(super) fn fill(
        &mut self,
        broker: &Broker,
        producer: ProducerIdentity,
        max_bytes: usize,
    ) -> Result<bool, MirrorError> {
        if self.until.is_some_and(|until| self.next_fetch >= until) {
            self.check_nothing_left_to_pass_over()?;
            return Ok(false);
        }
        let fetched = broker.fetch_batches(
            &self.tp,
            self.next_fetch,
            max_bytes,
            IsolationLevel::ReadCommitted,
        )?;
        if fetched.bytes.is_empty() {
            // Nothing stored up to the last stable offset (compaction can leave such a gap
            // at the end): the position moves there, lest a wait for data past it return
            // at once, again and again.
            let end = self.until.map_or(fetched.last_stable_offset, |u| {
                u.min(fetched.last_stable_offset)
            });
            if end > self.next_fetch {
                self.next_fetch = end;
                if self.queue.is_empty() && self.skip == 0 {
                    self.acked_offset = end;
                }
            }
            self.check_nothing_left_to_pass_over()?;
            return Ok(false);
        }
        self.walk(&fetched, producer)?;
        Ok(true)
    }

    /// At the end of what there is to read: the records to pass over must all have been.
    fn check_nothing_left_to_pass_over(&self) -> Result<(), MirrorError> {
        if self.skip == 0 {
            return Ok(());
        }
        // The previous run copied only committed batches, all below the last stable offset
        // now: what the target holds beyond them came from elsewhere.
        Err(MirrorError::Refused(format!(
            "{}/{}: the target partition has {} records more than this mirror wrote (target \
             end {}): the target partition has records this mirror did not write",
            self.tp.topic, self.tp.partition, self.skip, self.target_end
        )))
    }

    /// Goes through fetched batches: leaves out markers and aborted transactions, passes
    /// over what the previous run wrote, and queues the rest re-stamped.
    fn walk(
        &mut self,
        fetched: &FetchedBatches,
        producer: ProducerIdentity,
    ) -> Result<(), MirrorError> {
        let mut aborted = fetched.aborted.clone();
        aborted.sort_unstable_by_key(|a| a.first_offset);
        let mut aborted = aborted.into_iter().peekable();
        // Producers whose aborted transaction the walk is inside of.
        let mut aborting: Vec<i64> = Vec::new();
        let mut group = Group::default();
        let mut rest = fetched.bytes.as_slice();
        while !rest.is_empty() {
            let header = batch::read_header(rest).map_err(|e| self.damaged(e.to_string()))?;
            let length = (header.length as usize).min(rest.len());
            let (stored, after) = rest.split_at(length);
            rest = after;
            if let Some(until) = self.until.filter(|&until| header.base_offset >= until) {
                // Appended after the start; nothing is left below `until`.
                self.next_fetch = self.next_fetch.max(until);
                break;
            }
            while let Some(a) = aborted.next_if(|a| a.first_offset <= header.last_offset()) {
                aborting.push(a.producer_id);
            }
            let next = header.next_offset();
            let producer_id = header.origin.producer_id;
            let keep = if header.is_control() {
                // A marker ends its producer's transaction, committed or aborted.
                aborting.retain(|&p| p != producer_id);
                false
            } else {
                !(header.is_transactional() && aborting.contains(&producer_id))
                    // Already copied: a batch before the position (a position inside a
                    // batch is only left by another writer of the group's offsets).
                    && next > self.next_fetch
            };
            self.next_fetch = self.next_fetch.max(next);
            if !keep {
                continue;
            }
            let records = u64::from(header.record_count);
            if self.skip > 0 {
                if records > self.skip {
                    let (offset, committed_end) = self.committed;
                    return Err(MirrorError::Refused(format!(
                        "{}/{}: the target partition ends at {}, {} records past the {} of this \
                         mirror's last commit (offset {offset} here), but that count ends \
                         inside the batch at offset {} here ({records} records): the target \
                         partition has records this mirror did not write",
                        self.tp.topic,
                        self.tp.partition,
                        self.target_end,
                        self.target_end.saturating_sub(committed_end),
                        committed_end,
                        header.base_offset
                    )));
                }
                self.skip -= records;
                if self.queue.is_empty() {
                    self.acked_offset = next;
                }
                continue;
            }
            if rebatch::goes_as_stored(&header) {
                self.flush(&mut group, producer)?;
                self.queue_as_stored(stored, &header, producer)?;
                continue;
            }
            // Joined with its neighbours, or written again in Kafka's format.
            let fits = group.batches.first().is_none_or(|first| {
                let first_codec = batch::read_header(first).map(|h| h.compression()).ok();
                first_codec == Some(header.compression())
                    && group.bytes + stored.len() <= rebatch::JOINED_BYTES
            });
            if !fits {
                self.flush(&mut group, producer)?;
            }
            group.batches.push(stored);
            group.bytes += stored.len();
            group.records += records;
            group.next_offset = next;
        }
        self.flush(&mut group, producer)?;
        if self.queue.is_empty() && self.skip == 0 {
            // Nothing waits before what was left out: the position moves past it.
            self.acked_offset = self.acked_offset.max(self.next_fetch);
        }
        Ok(())
    }

    /// Queues the stored batch `stored` of `header` re-stamped with `producer`.
    fn queue_as_stored(
        &mut self,
        stored: &[u8],
        header: &BatchHeader,
        producer: ProducerIdentity,
    ) -> Result<(), MirrorError> {
        let mut restamped = stored.to_vec();
        batch::set_producer(
            &mut restamped,
            producer.id,
            producer.epoch,
            self.next_sequence,
        )
        .and_then(|()| {
            // As a producer sends it: Apache Kafka checks a compressed batch's inner offsets
            // from 0 and refuses others with InvalidRecord; it assigns the offsets itself
            // either way. The base offset is outside the checksum.
            batch::set_base_offset(&mut restamped, 0)
        })
        .map_err(|e| self.damaged(format!("offset {}: {e}", header.base_offset)))?;
        self.push(
            restamped,
            u64::from(header.record_count),
            header.next_offset(),
        );
        Ok(())
    }

    /// Queues the batches gathered in `group` as one, and empties it.
    fn flush(
        &mut self,
        group: &mut Group<'_>,
        producer: ProducerIdentity,
    ) -> Result<(), MirrorError> {
        match group.batches.as_slice() {
            [] => return Ok(()),
            [only] => {
                let header = batch::read_header(only).map_err(|e| self.damaged(e.to_string()))?;
                if rebatch::is_kafkas(&header) {
                    self.queue_as_stored(only, &header, producer)?;
                    *group = Group::default();
                    return Ok(());
                }
            }
            _ => {}
        }
        let origin = Origin {
            producer_id: producer.id,
            producer_epoch: producer.epoch,
            base_sequence: self.next_sequence,
            transactional: false,
        };
        let joined = rebatch::join(&group.batches, origin).map_err(|e| self.damaged(e))?;
        self.push(joined, group.records, group.next_offset);
        *group = Group::default();
        Ok(())
    }

    /// Queues `bytes`, a batch of `records` stamped with the next sequence, which ends
    /// before source offset `next_offset`.
    fn push(&mut self, bytes: Vec<u8>, records: u64, next_offset: u64) {
        self.next_sequence = sequence_after(self.next_sequence, records);
        self.queued_bytes += bytes.len();
        self.queue.push_back(Outgoing {
            bytes: Bytes::from(bytes),
            records,
            next_offset,
        });
    }

    /// The oldest batch in flight was stored by the target.
    pub(super) fn acknowledge(&mut self) -> Option<Outgoing> {
        let done = self.queue.pop_front()?;
        self.sent = self.sent.saturating_sub(1);
        self.queued_bytes = self.queued_bytes.saturating_sub(done.bytes.len());
        self.target_end += done.records;
        self.acked_offset = if self.queue.is_empty() {
            self.next_fetch.max(done.next_offset)
        } else {
            done.next_offset
        };
        Some(done)
    }

    fn damaged(&self, reason: String) -> MirrorError {
        MirrorError::Damaged {
            partition: self.tp.clone(),
            offset: self.next_fetch,
            reason,
        }
    }
}

/// The producer sequence `records` records after `sequence`: Kafka counts a batch's
/// sequences by its records (its offsets, without gaps) and wraps them at `i32::MAX`.
pub(super) fn sequence_after(sequence: i32, records: u64) -> i32 {
    // Only the low 31 bits matter once wrapped, and they fit.
    let records = i32::try_from(records & u64::from(i32::MAX.unsigned_abs())).unwrap_or(0);
    sequence.wrapping_add(records) & i32::MAX
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom::{Record, TopicConfig};

    /// Reads the whole partition `max_bytes` at a time (1: a batch per fetch, so that
    /// every transaction spans fetches): which records would go.
    fn values_sent(broker: &Broker, tp: &TopicPartition, max_bytes: usize) -> (Vec<Vec<u8>>, Lane) {
        let end = broker.describe_topic(&tp.topic).unwrap().partitions[0].last_stable_offset;
        let producer = ProducerIdentity { id: 9, epoch: 0 };
        let mut lane = Lane::new(tp.clone(), 0, 0, Some(end), (0, 0), (0, 0), producer, 0);
        while lane.fill(broker, producer, max_bytes).unwrap() {}
        let mut values = Vec::new();
        for outgoing in &lane.queue {
            let header = batch::check(&outgoing.bytes).unwrap();
            assert_eq!(header.origin.producer_id, 9);
            assert!(!header.is_transactional());
            for record in batch::records(&outgoing.bytes).unwrap() {
                let record = record.unwrap();
                values.push(outgoing.bytes[record.value.unwrap()].to_vec());
            }
        }
        (values, lane)
    }

    #[test]
    fn aborted_transactions_spanning_fetches_are_left_out_committed_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(dir.path()).unwrap();
        broker
            .create_topic("payments", TopicConfig::default())
            .unwrap();
        let plain = broker.producer();
        let tx = broker.transactional_producer("payer").unwrap();
        plain.send("payments", Record::new("p1")).unwrap();
        tx.begin_transaction().unwrap();
        tx.send("payments", Record::new("aborted-1")).unwrap();
        plain.send("payments", Record::new("p2")).unwrap();
        tx.send("payments", Record::new("aborted-2")).unwrap();
        tx.abort_transaction().unwrap();
        tx.begin_transaction().unwrap();
        tx.send("payments", Record::new("committed")).unwrap();
        tx.commit_transaction().unwrap();
        plain.send("payments", Record::new("p3")).unwrap();

        let tp = TopicPartition::new("payments", 0);
        let (values, lane) = values_sent(&broker, &tp, 1);
        assert_eq!(values, [&b"p1"[..], b"p2", b"committed", b"p3"]);
        // Sequences follow the records sent, from 0.
        let sequences: Vec<i32> = lane
            .queue
            .iter()
            .map(|o| batch::check(&o.bytes).unwrap().origin.base_sequence)
            .collect();
        assert_eq!(sequences, [0, 1, 2, 3]);
        let end = broker.describe_topic("payments").unwrap().partitions[0].high_watermark;
        assert_eq!(lane.position(), end);
        // Read at once, the small batches travel joined: one batch of the four records.
        let (values, lane) = values_sent(&broker, &tp, 1 << 20);
        assert_eq!(values, [&b"p1"[..], b"p2", b"committed", b"p3"]);
        assert_eq!(lane.queue.len(), 1);
        assert_eq!(lane.queue[0].records, 4);
        assert_eq!(lane.position(), end);
        broker.close().unwrap();
    }

    #[test]
    fn batches_sent_as_stored_number_their_records_from_0_as_a_producer_does() {
        // Apache Kafka refused the mirror's second compressed batch of a partition
        // (InvalidRecord): it checks that a compressed batch's records count from offset 0.
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(dir.path()).unwrap();
        broker
            .create_topic(
                "orders",
                TopicConfig::default().compression(strom::Compression::Zstd),
            )
            .unwrap();
        let producer = broker.producer();
        for chunk in 0..3 {
            let batch: Vec<Record> = (0..5)
                .map(|i| Record::new(format!("order {}", chunk * 5 + i)))
                .collect();
            producer.send_batch("orders", batch).unwrap();
        }
        let tp = TopicPartition::new("orders", 0);
        let identity = ProducerIdentity { id: 9, epoch: 0 };
        let mut lane = Lane::new(tp, 0, 0, Some(15), (0, 0), (0, 0), identity, 0);
        while lane.fill(&broker, identity, 1 << 20).unwrap() {}
        // Each stored batch goes as it is (compressed, 5 records), from offset 0, with its
        // own sequence.
        let headers: Vec<(u64, u32, i32)> = lane
            .queue
            .iter()
            .map(|o| {
                let header = batch::check(&o.bytes).unwrap();
                assert_eq!(header.compression(), strom::Compression::Zstd);
                assert_eq!(header.origin.producer_id, 9);
                (
                    header.base_offset,
                    header.record_count,
                    header.origin.base_sequence,
                )
            })
            .collect();
        assert_eq!(headers, [(0, 5, 0), (0, 5, 5), (0, 5, 10)]);
        broker.close().unwrap();
    }

    #[test]
    fn passing_over_what_a_killed_run_wrote_commits_nothing_until_it_is_all_passed() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(dir.path()).unwrap();
        broker
            .create_topic("orders", TopicConfig::default())
            .unwrap();
        let producer = broker.producer();
        for i in 0..6 {
            producer
                .send("orders", Record::new(format!("o{i}")))
                .unwrap();
        }
        let tp = TopicPartition::new("orders", 0);
        // Committed at offset 0 with the target at 0; the target holds 4 records now, which
        // the killed run wrote: the lane passes over 4, one batch per fetch.
        let identity = ProducerIdentity { id: 9, epoch: 0 };
        let mut lane = Lane::new(tp, 0, 0, Some(6), (4, 4), (0, 0), identity, 4);
        let mut passed = 0;
        while lane.skip > 0 {
            assert!(lane.fill(&broker, identity, 1).unwrap());
            passed += 1;
            // Mid-way, the target's end (4) with a partial offset would be a false pair:
            // a run resumed from it would send again what the target holds.
            assert!(
                lane.skip == 0 || !lane.is_dirty(),
                "dirty while passing over"
            );
        }
        assert_eq!(passed, 4);
        assert!(lane.is_dirty());
        assert_eq!((lane.acked_offset, lane.target_end), (4, 4));
        assert_eq!(lane.acked_sequence(), 4);
    }
}
