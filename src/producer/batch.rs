//! [`BatchBuilder`]: records encoded into a reusable buffer, appended one batch per partition.

use std::fmt;
use std::sync::Arc;

use super::validate;
use crate::broker::{now_ms, Inner};
use crate::error::{Error, Result};
use crate::log::PartitionLog;
use crate::partitioner;
use crate::record::Record;
use crate::storage::batch::{self, Entry, HEADER_BYTES};
use crate::topic::Topic;

/// Where a [`BatchBuilder::send`] put its records: one [`PartitionRange`] per partition
/// written, in partition order.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let broker = strom::Broker::open(dir.path())?;
/// # broker.create_topic("clicks", strom::TopicConfig::default())?;
/// use strom::{BatchMetadata, PartitionRange};
///
/// let mut batch = broker.producer().batch("clicks")?;
/// batch.push(None, b"home")?;
/// batch.push(None, b"cart")?;
/// let meta: BatchMetadata = batch.send()?;
/// assert_eq!(meta.ranges, [PartitionRange { partition: 0, base_offset: 0, count: 2 }]);
/// # Ok::<(), strom::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct BatchMetadata {
    /// One range per partition written, in partition order; empty when nothing was sent.
    pub ranges: Vec<PartitionRange>,
}

/// The offsets one partition gave the records of a [`BatchBuilder::send`]: its records got
/// `base_offset..base_offset + count`, in the order they were pushed.
///
/// ```
/// use strom::PartitionRange;
///
/// let range = PartitionRange { partition: 2, base_offset: 40, count: 3 };
/// assert_eq!((range.base_offset..range.base_offset + range.count).last(), Some(42));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartitionRange {
    /// The partition.
    pub partition: u32,
    /// The offset of the partition's first record.
    pub base_offset: u64,
    /// How many records the partition got (never 0).
    pub count: u64,
}

/// Collects records for one topic in buffers of its own, then appends them all with
/// [`send`](Self::send): one batch per partition. Made by
/// [`Producer::batch`](crate::Producer::batch) or
/// [`TopicProducer::batch`](crate::TopicProducer::batch).
///
/// [`push`](Self::push) encodes a record once, in the batch format, into one byte buffer
/// the builder keeps. When all the records go to one partition, `send` only adds the
/// batch's header and checksum and copies the batch into the log; otherwise it moves each
/// record's encoded bytes into its partition's batch. The buffers keep their capacity
/// across `send` and [`clear`](Self::clear), so a builder that is reused allocates nothing
/// per record once they have grown.
///
/// Partitioning is [`Producer::send_batch`](crate::Producer::send_batch)'s, settled at
/// `send`: a record's own partition if it has one, else Kafka's murmur2 partition of its
/// key, else one sticky partition shared by all the keyless records of the `send`.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use strom::{Broker, TopicConfig};
///
/// let broker = Broker::open(dir.path())?;
/// broker.create_topic("clicks", TopicConfig::default().partitions(3))?;
/// let mut batch = broker.producer().batch("clicks")?;
/// for (user, page) in [("u1", "home"), ("u2", "cart"), ("u1", "pay")] {
///     batch.push(Some(user.as_bytes()), page.as_bytes())?;
/// }
/// let meta = batch.send()?;
/// assert_eq!(meta.ranges.iter().map(|r| r.count).sum::<u64>(), 3);
/// assert!(batch.is_empty()); // ready for the next batch
/// # Ok::<(), strom::Error>(())
/// ```
pub struct BatchBuilder {
    inner: Arc<Inner>,
    topic: Arc<Topic>,
    /// Room for a batch header, then every record encoded at push as the batch of a
    /// one-partition send holds it: offset deltas in push order, timestamp deltas from the
    /// first record's (0 for records without a timestamp, which all get the send's time).
    /// When all go to one partition and `aligned` holds, `send` only adds the header.
    batch: Vec<u8>,
    /// One per record, in push order.
    slots: Vec<Slot>,
    /// The first record's timestamp, if it has one: what `batch`'s timestamp deltas count
    /// from.
    first_timestamp: Option<i64>,
    /// The largest timestamp among the records that have one.
    max_timestamp: i64,
    /// Whether every record has a timestamp or none has, so that `batch`'s timestamp
    /// deltas are the ones a single batch of them needs.
    aligned: bool,
    /// How many records have neither key nor partition, and their bytes (the sticky
    /// partitioner counts them).
    keyless: usize,
    keyless_bytes: usize,
    /// Scratch of `send`: each record's partition.
    partition_of: Vec<u32>,
    /// Scratch of `send`: record indices grouped by partition, in push order within one.
    order: Vec<usize>,
    /// Scratch of `send`: where each partition's indices end in `order`.
    ends: Vec<usize>,
    /// Scratch of `send`: a batch of records moved out of `batch`, when they do not all go
    /// to one partition as they are.
    moved: Vec<u8>,
}

/// One pushed record: where its bytes are in `batch`, and what `send` needs to place it.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Where its fields from the key's length on start in `batch`: the part that stays the
    /// same wherever the record goes.
    tail: usize,
    /// Where the record ends in `batch`.
    end: usize,
    /// Where its key is in `batch`, if it has one: start and length.
    key: Option<(usize, usize)>,
    timestamp: Option<i64>,
    partition: Option<u32>,
    /// Bytes counted against `max_record_bytes`.
    size: usize,
}

/// `partition_of` for keyless records until the sticky partition is chosen.
const KEYLESS: u32 = u32::MAX;

impl Slot {
    fn key<'a>(&self, batch: &'a [u8]) -> Option<&'a [u8]> {
        self.key.map(|(start, len)| &batch[start..start + len])
    }
}

impl BatchBuilder {
    pub(crate) fn new(inner: Arc<Inner>, topic: Arc<Topic>) -> Self {
        Self {
            inner,
            topic,
            batch: vec![0; HEADER_BYTES],
            slots: Vec::new(),
            first_timestamp: None,
            max_timestamp: i64::MIN,
            aligned: true,
            keyless: 0,
            keyless_bytes: 0,
            partition_of: Vec::new(),
            order: Vec::new(),
            ends: Vec::new(),
            moved: Vec::new(),
        }
    }

    /// Adds a record with this key (or none) and value, encoding both once into the
    /// builder. Its partition and timestamp are settled at [`send`](Self::send).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("clicks", strom::TopicConfig::default())?;
    /// let mut batch = broker.producer().batch("clicks")?;
    /// batch.push(Some(b"u1"), b"home")?;
    /// batch.push(None, b"cart")?;
    /// assert_eq!(batch.len(), 2);
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::RecordTooLarge`] if key and value together exceed the topic's
    /// `max_record_bytes`; the builder is then unchanged.
    pub fn push(&mut self, key: Option<&[u8]>, value: &[u8]) -> Result<()> {
        let size = key.map_or(0, <[u8]>::len) + value.len();
        let max = self.topic.max_record_bytes();
        if size > max {
            return Err(Error::RecordTooLarge {
                topic: self.topic.name().to_string(),
                size,
                max,
            });
        }
        self.add(key, Some(value), &[], None, None, size);
        Ok(())
    }

    /// Adds a copy of `record`: its key, value (or tombstone), headers, and its timestamp
    /// and partition if set, checked as [`Producer::send`](crate::Producer::send) checks them.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("clicks", strom::TopicConfig::default().partitions(2))?;
    /// use strom::Record;
    ///
    /// let mut batch = broker.producer().batch("clicks")?;
    /// batch.push_record(&Record::new("home").key("u1").header("via", "app").partition(1))?;
    /// assert_eq!(batch.send()?.ranges[0].partition, 1);
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::RecordTooLarge`], [`Error::InvalidRecord`] (negative timestamp),
    /// [`Error::InvalidPartition`]; the builder is then unchanged.
    pub fn push_record(&mut self, record: &Record) -> Result<()> {
        let size = validate(&self.topic, record)?;
        self.add(
            record.key_bytes(),
            record.value_bytes(),
            &record.headers,
            record.timestamp,
            record.partition,
            size,
        );
        Ok(())
    }

    /// Encodes a checked record of `size` bytes at the end of `batch`.
    #[expect(
        clippy::inline_always,
        reason = "inlined into `push`, whose records have no headers, timestamp or partition, most of it folds away"
    )]
    #[inline(always)]
    fn add(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(String, Vec<u8>)],
        timestamp: Option<i64>,
        partition: Option<u32>,
        size: usize,
    ) {
        if self.slots.is_empty() {
            self.first_timestamp = timestamp;
        } else {
            self.aligned &= timestamp.is_some() == self.first_timestamp.is_some();
        }
        if let Some(timestamp) = timestamp {
            self.max_timestamp = self.max_timestamp.max(timestamp);
        }
        // Delta 0 for a record without a timestamp: it gets the send's time, as the first
        // record then does. A record not `aligned` with the first is re-framed at `send`.
        let (stamp, first) = match (timestamp, self.first_timestamp) {
            (Some(stamp), Some(first)) => (stamp, first),
            _ => (0, 0),
        };
        let entry = Entry {
            timestamp: stamp,
            key,
            value,
            headers,
        };
        let tail = batch::push_record(&mut self.batch, &entry, first, self.slots.len());
        if key.is_none() && partition.is_none() {
            self.keyless += 1;
            self.keyless_bytes += size;
        }
        self.slots.push(Slot {
            tail,
            end: self.batch.len(),
            key: key.map(|k| (tail + batch::len_len(k.len()), k.len())),
            timestamp,
            partition,
            size,
        });
    }

    /// How many records have been pushed since the last [`send`](Self::send) or
    /// [`clear`](Self::clear).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("clicks", strom::TopicConfig::default())?;
    /// let mut batch = broker.producer().batch("clicks")?;
    /// assert_eq!(batch.len(), 0);
    /// batch.push(None, b"home")?;
    /// assert_eq!(batch.len(), 1);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no record is waiting to be sent.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("clicks", strom::TopicConfig::default())?;
    /// let mut batch = broker.producer().batch("clicks")?;
    /// assert!(batch.is_empty());
    /// batch.push(None, b"home")?;
    /// assert!(!batch.is_empty());
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Drops every pushed record without sending it; the buffers keep their capacity.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("clicks", strom::TopicConfig::default())?;
    /// let mut batch = broker.producer().batch("clicks")?;
    /// batch.push(None, b"home")?;
    /// batch.clear();
    /// assert!(batch.is_empty());
    /// assert!(batch.send()?.ranges.is_empty());
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn clear(&mut self) {
        // The room for a header stays.
        self.batch.truncate(HEADER_BYTES);
        self.slots.clear();
        self.first_timestamp = None;
        self.max_timestamp = i64::MIN;
        self.aligned = true;
        self.keyless = 0;
        self.keyless_bytes = 0;
    }

    /// Appends every pushed record, one batch per partition, and empties the builder.
    /// Returns one [`PartitionRange`] per partition written, in partition order; the
    /// records of a partition got its range's offsets in push order. Records without a
    /// timestamp get the time of this call.
    ///
    /// An empty builder appends nothing and returns `Ok` with no ranges, without looking
    /// at the topic.
    ///
    /// All-or-nothing per partition, as
    /// [`Producer::send_batch`](crate::Producer::send_batch): an error while writing one
    /// partition's batch writes none of its records, but the partitions before it (in
    /// partition order) keep theirs. So once writing has begun the builder is emptied even
    /// when `send` fails; an error before that (the topic was deleted, the broker closed)
    /// leaves every record in the builder.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("clicks", strom::TopicConfig::default())?;
    /// use strom::PartitionRange;
    ///
    /// let mut batch = broker.producer().batch("clicks")?;
    /// batch.push(None, b"home")?;
    /// assert_eq!(batch.send()?.ranges, [PartitionRange { partition: 0, base_offset: 0, count: 1 }]);
    /// batch.push(None, b"cart")?;
    /// assert_eq!(batch.send()?.ranges[0].base_offset, 1);
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownTopic`] if the topic was deleted (and is not auto-created again),
    /// [`Error::RecordTooLarge`] or [`Error::InvalidPartition`] if the topic was re-created
    /// or altered with rules the records break, [`Error::Io`], [`Error::Poisoned`],
    /// [`Error::Closed`].
    pub fn send(&mut self) -> Result<BatchMetadata> {
        if self.slots.is_empty() {
            return Ok(BatchMetadata::default());
        }
        if self.topic.is_current() {
            self.inner.check_open()?;
        } else {
            // Deleted or altered since resolved: what `Producer::send` would find now.
            let topic = self.inner.topic_for_send(self.topic.name())?;
            self.revalidate(&topic)?;
            self.topic = topic;
        }
        let result = self.append();
        self.clear();
        result
    }

    /// Checks the pushed records against a topic other than the one they were pushed for.
    fn revalidate(&self, topic: &Topic) -> Result<()> {
        let max = topic.max_record_bytes();
        let partitions = topic.partition_count();
        for slot in &self.slots {
            if slot.size > max {
                return Err(Error::RecordTooLarge {
                    topic: topic.name().to_string(),
                    size: slot.size,
                    max,
                });
            }
            if let Some(partition) = slot.partition.filter(|&p| p >= partitions) {
                return Err(Error::InvalidPartition {
                    topic: topic.name().to_string(),
                    partition,
                    partitions,
                });
            }
        }
        Ok(())
    }

    /// Partitions the records and appends one batch per partition.
    fn append(&mut self) -> Result<BatchMetadata> {
        let partitions = self.topic.partition_count();
        let now = now_ms();
        let sticky =
            (self.keyless > 0).then(|| self.topic.sticky().next(self.keyless_bytes, partitions));
        let one = match sticky {
            Some(sticky) if self.keyless == self.slots.len() => Some(sticky),
            _ if partitions == 1 => Some(0),
            _ => self.settle(partitions, sticky),
        };

        // All bound for one partition (a one-partition topic, or keyless records only): the
        // records go as one batch in push order, as `batch` holds them when aligned.
        if let Some(partition) = one {
            let log = self.topic.partition(partition)?;
            let count = self.slots.len();
            let base_offset = if self.aligned {
                let (first, max) = match self.first_timestamp {
                    Some(first) => (first, self.max_timestamp),
                    None => (now, now),
                };
                log.append_built(&mut self.batch, count, first, max, now)?
            } else {
                let (batch, slots) = (&self.batch[..], &self.slots[..]);
                append_moved(log, &mut self.moved, batch, slots, 0..count, now)?
            };
            let range = PartitionRange {
                partition,
                base_offset,
                count: count as u64,
            };
            return Ok(BatchMetadata {
                ranges: vec![range],
            });
        }

        let Self {
            topic,
            batch,
            slots,
            partition_of,
            order,
            ends,
            moved,
            ..
        } = self;
        // A counting sort groups the indices by partition, keeping push order within one:
        // `ends[p]` counts partition p's records, then becomes where its group starts in
        // `order`, and, once filled, where it ends.
        ends.clear();
        ends.resize(partitions as usize, 0);
        for &p in partition_of.iter() {
            ends[p as usize] += 1;
        }
        let mut start = 0;
        for end in ends.iter_mut() {
            let count = *end;
            *end = start;
            start += count;
        }
        order.clear();
        order.resize(slots.len(), 0);
        for (i, &p) in partition_of.iter().enumerate() {
            order[ends[p as usize]] = i;
            ends[p as usize] += 1;
        }

        let mut previous = 0;
        let written = ends
            .iter()
            .filter(|&&end| std::mem::replace(&mut previous, end) < end)
            .count();
        let mut ranges = Vec::with_capacity(written);
        let mut begin = 0;
        for (partition, &end) in (0..partitions).zip(ends.iter()) {
            let group = &order[begin..end];
            begin = end;
            if group.is_empty() {
                continue;
            }
            let log = topic.partition(partition)?;
            let indices = group.iter().copied();
            let base_offset = append_moved(log, moved, batch, slots, indices, now)?;
            ranges.push(PartitionRange {
                partition,
                base_offset,
                count: group.len() as u64,
            });
        }
        Ok(BatchMetadata { ranges })
    }

    /// Fills `partition_of` with each record's partition, keyless records taking `sticky`;
    /// returns the partition if they all have the same one.
    fn settle(&mut self, partitions: u32, sticky: Option<u32>) -> Option<u32> {
        let sticky = sticky.unwrap_or(KEYLESS);
        let batch = &self.batch[..];
        self.partition_of.clear();
        self.partition_of.extend(self.slots.iter().map(|slot| {
            match (slot.partition, slot.key(batch)) {
                (Some(p), _) => p,
                (None, Some(key)) => partitioner::partition_for_key(key, partitions),
                (None, None) => sticky,
            }
        }));
        let first = self.partition_of.first().copied()?;
        self.partition_of
            .iter()
            .all(|&p| p == first)
            .then_some(first)
    }
}

/// Builds in `out` the batch of the records of `slots` that `group` picks (in push order),
/// taking their encoded fields from `batch`, and appends it to `log`.
fn append_moved(
    log: &PartitionLog,
    out: &mut Vec<u8>,
    batch: &[u8],
    slots: &[Slot],
    group: impl Iterator<Item = usize>,
    now: i64,
) -> Result<u64> {
    out.clear();
    out.resize(HEADER_BYTES, 0);
    let mut first = None;
    let mut max = i64::MIN;
    let mut count = 0;
    for (index, i) in group.enumerate() {
        let slot = &slots[i];
        let timestamp = slot.timestamp.unwrap_or(now);
        let first = *first.get_or_insert(timestamp);
        max = max.max(timestamp);
        batch::push_moved(out, &batch[slot.tail..slot.end], timestamp, first, index);
        count += 1;
    }
    log.append_built(out, count, first.unwrap_or(now), max, now)
}

impl fmt::Debug for BatchBuilder {
    /// The topic and how much is pushed, not the bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchBuilder")
            .field("topic", &self.topic.name())
            .field("len", &self.slots.len())
            .field("bytes", &(self.batch.len() - HEADER_BYTES))
            .finish_non_exhaustive()
    }
}

/// Where a record batch encoded elsewhere (by a Kafka client, say) was stored: what Kafka's
/// Produce response reports for it.
///
/// ```
/// use strom::AppendedBatch;
///
/// let appended = AppendedBatch { base_offset: 40, last_offset: 42, log_start_offset: 0, duplicate: false };
/// assert_eq!(appended.last_offset - appended.base_offset + 1, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppendedBatch {
    /// The offset of the batch's first record.
    pub base_offset: u64,
    /// The offset of its last record.
    pub last_offset: u64,
    /// The partition's first offset still in the log, after the append.
    pub log_start_offset: u64,
    /// The batch was a retry of one already stored (same producer, same sequence numbers):
    /// it was not stored again, and the offsets are those of the first.
    pub duplicate: bool,
}
