//! [`BatchBuilder`]: records copied into reusable buffers, appended one batch per partition.

use std::fmt;
use std::sync::Arc;

use super::validate;
use crate::broker::{now_ms, Inner};
use crate::error::{Error, Result};
use crate::partitioner;
use crate::record::Record;
use crate::storage::batch::{Entry, Origin};
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
/// [`push`](Self::push) copies a key and value once, into one byte buffer the builder
/// keeps; `send` encodes the batches straight from it. The buffers keep their capacity
/// across `send` and [`clear`](Self::clear), so a builder that is reused allocates nothing
/// per record once they have grown (records with headers excepted, the first time).
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
    /// Every record's key then value, back to back.
    bytes: Vec<u8>,
    /// One per record, in push order.
    slots: Vec<Slot>,
    /// Headers of `push_record`ed records; entries past `headers_len` are spare, kept so
    /// that their strings' capacity is reused.
    headers: Vec<(String, Vec<u8>)>,
    headers_len: usize,
    /// Scratch of `send`: each record's partition.
    partition_of: Vec<u32>,
    /// Scratch of `send`: record indices grouped by partition, in push order within one.
    order: Vec<usize>,
    /// Scratch of `send`: where each partition's indices end in `order`.
    ends: Vec<usize>,
}

/// One pushed record: where its bytes are in the builder's buffers.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Where its key (then value) starts in `bytes`.
    start: usize,
    key_len: Option<usize>,
    value_len: Option<usize>,
    /// Its headers: `headers[headers_start..headers_end]`.
    headers_start: usize,
    headers_end: usize,
    timestamp: Option<i64>,
    partition: Option<u32>,
    /// Bytes counted against `max_record_bytes`.
    size: usize,
}

/// `partition_of` for keyless records until the sticky partition is chosen.
const KEYLESS: u32 = u32::MAX;

impl Slot {
    fn key<'a>(&self, bytes: &'a [u8]) -> Option<&'a [u8]> {
        self.key_len.map(|len| &bytes[self.start..self.start + len])
    }

    fn entry<'a>(&self, bytes: &'a [u8], headers: &'a [(String, Vec<u8>)], now: i64) -> Entry<'a> {
        let value_start = self.start + self.key_len.unwrap_or(0);
        Entry {
            timestamp: self.timestamp.unwrap_or(now),
            key: self.key(bytes),
            value: self
                .value_len
                .map(|len| &bytes[value_start..value_start + len]),
            headers: &headers[self.headers_start..self.headers_end],
        }
    }
}

impl BatchBuilder {
    pub(crate) fn new(inner: Arc<Inner>, topic: Arc<Topic>) -> Self {
        Self {
            inner,
            topic,
            bytes: Vec::new(),
            slots: Vec::new(),
            headers: Vec::new(),
            headers_len: 0,
            partition_of: Vec::new(),
            order: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// Adds a record with this key (or none) and value, copying both once into the
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
        let start = self.bytes.len();
        if let Some(key) = key {
            self.bytes.extend_from_slice(key);
        }
        self.bytes.extend_from_slice(value);
        self.slots.push(Slot {
            start,
            key_len: key.map(<[u8]>::len),
            value_len: Some(value.len()),
            headers_start: self.headers_len,
            headers_end: self.headers_len,
            timestamp: None,
            partition: None,
            size,
        });
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
        let start = self.bytes.len();
        let key = record.key_bytes();
        let value = record.value_bytes();
        if let Some(key) = key {
            self.bytes.extend_from_slice(key);
        }
        if let Some(value) = value {
            self.bytes.extend_from_slice(value);
        }
        let headers_start = self.headers_len;
        for (name, value) in &record.headers {
            // `clone_from` reuses the spare entry's allocations.
            match self.headers.get_mut(self.headers_len) {
                Some(spare) => {
                    spare.0.clone_from(name);
                    spare.1.clone_from(value);
                }
                None => self.headers.push((name.clone(), value.clone())),
            }
            self.headers_len += 1;
        }
        self.slots.push(Slot {
            start,
            key_len: key.map(<[u8]>::len),
            value_len: value.map(<[u8]>::len),
            headers_start,
            headers_end: self.headers_len,
            timestamp: record.timestamp,
            partition: record.partition,
            size,
        });
        Ok(())
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
        self.bytes.clear();
        self.slots.clear();
        // The header entries stay, as spares for the next `push_record`.
        self.headers_len = 0;
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
        let Self {
            topic,
            bytes,
            slots,
            headers,
            partition_of,
            order,
            ends,
            ..
        } = self;
        let partitions = topic.partition_count();
        let now = now_ms();

        partition_of.clear();
        let mut keyless = None;
        for slot in slots.iter() {
            let partition = match (slot.partition, slot.key(bytes)) {
                (Some(p), _) => p,
                (None, Some(key)) => partitioner::partition_for_key(key, partitions),
                (None, None) => {
                    *keyless.get_or_insert(0) += slot.size;
                    KEYLESS
                }
            };
            partition_of.push(partition);
        }
        if let Some(keyless_bytes) = keyless {
            let sticky = topic.sticky().next(keyless_bytes, partitions);
            for p in partition_of.iter_mut().filter(|p| **p == KEYLESS) {
                *p = sticky;
            }
        }

        // All bound for one partition (a one-partition topic, or keyless records only): the
        // records go as one batch in push order, with no grouping to do.
        let first = partition_of.first().copied().unwrap_or_default();
        if partition_of.iter().all(|&p| p == first) {
            let (bytes, headers) = (&bytes[..], &headers[..]);
            let entries = slots.iter().map(move |s| s.entry(bytes, headers, now));
            let base_offset = topic.partition(first)?.append(entries, Origin::NONE, now)?;
            let range = PartitionRange {
                partition: first,
                base_offset,
                count: slots.len() as u64,
            };
            return Ok(BatchMetadata {
                ranges: vec![range],
            });
        }

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
            let (bytes, headers, slots) = (&bytes[..], &headers[..], &slots[..]);
            let entries = group
                .iter()
                .map(move |&i| slots[i].entry(bytes, headers, now));
            let base_offset = topic
                .partition(partition)?
                .append(entries, Origin::NONE, now)?;
            ranges.push(PartitionRange {
                partition,
                base_offset,
                count: group.len() as u64,
            });
        }
        Ok(BatchMetadata { ranges })
    }
}

impl fmt::Debug for BatchBuilder {
    /// The topic and how much is pushed, not the bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchBuilder")
            .field("topic", &self.topic.name())
            .field("len", &self.slots.len())
            .field("bytes", &self.bytes.len())
            .finish_non_exhaustive()
    }
}
