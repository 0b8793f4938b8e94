//! What goes in and comes out: [`Record`], [`RecordMetadata`], [`ConsumerRecord`],
//! [`Records`] and [`TopicPartition`].

mod shared;

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::storage::batch;
use crate::storage::mapping::Mapping;

pub(crate) use shared::{Lease, Shared};

/// A record to send: a value, and optionally a key, headers, a timestamp and a partition.
///
/// Keys, values and header values take any of `Vec<u8>`, `&[u8]`, `String` and `&str`.
/// An empty key is a key (it is hashed like any other), distinct from no key, as in Kafka.
///
/// ```
/// use strom::Record;
///
/// let record = Record::new(r#"{"amount": 950}"#)
///     .key("user-42")
///     .header("source", "atm")
///     .timestamp(1_700_000_000_000);
/// assert_eq!(record.key_bytes(), Some(&b"user-42"[..]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) timestamp: Option<i64>,
    pub(crate) partition: Option<u32>,
}

impl Record {
    /// A record with this value and nothing else set.
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Self {
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
            timestamp: None,
            partition: None,
        }
    }

    /// A record whose value is `value` serialized as JSON; set the key, headers or
    /// timestamp on it as on any record (where `Producer::send_json` cannot).
    ///
    /// ```
    /// use strom::Record;
    ///
    /// let record = Record::json(&serde_json::json!({"amount": 950}))?
    ///     .key("user-42")
    ///     .timestamp(1_700_000_000_000);
    /// assert_eq!(record.value_bytes(), Some(&br#"{"amount":950}"#[..]));
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Serde`] if `value` does not serialize.
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self> {
        serde_json::to_vec(value)
            .map(Self::new)
            .map_err(|source| Error::Serde {
                context: "a record value".into(),
                source,
            })
    }

    /// A record with a key and no value: in a compacted topic it deletes the key.
    pub fn tombstone(key: impl Into<Vec<u8>>) -> Self {
        Self {
            key: Some(key.into()),
            value: None,
            headers: Vec::new(),
            timestamp: None,
            partition: None,
        }
    }

    /// Sets the key, which picks the partition (Kafka's murmur2 partitioner).
    #[must_use]
    pub fn key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Adds a header. Names may repeat, as in Kafka.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the timestamp in milliseconds since the Unix epoch. By default, the time of
    /// `send` (Kafka's `CreateTime`).
    #[must_use]
    pub fn timestamp(mut self, ms_since_epoch: i64) -> Self {
        self.timestamp = Some(ms_since_epoch);
        self
    }

    /// Sends to this partition instead of letting the partitioner choose.
    #[must_use]
    pub fn partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// The key, if set.
    pub fn key_bytes(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// The value (`None` for a tombstone).
    pub fn value_bytes(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }

    /// Bytes counted against `max_record_bytes`: key, value and headers.
    pub(crate) fn size(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len)
            + self.value.as_ref().map_or(0, Vec::len)
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }

    pub(crate) fn entry(&self, timestamp: i64) -> batch::Entry<'_> {
        batch::Entry {
            timestamp,
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            headers: &self.headers,
        }
    }
}

/// Where a sent record landed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The record's offset in its partition.
    pub offset: u64,
    /// The record's timestamp, ms since the epoch.
    pub timestamp: i64,
}

/// A topic and a partition number.
///
/// ```
/// use strom::TopicPartition;
///
/// let tp = TopicPartition::new("transactions", 2);
/// assert_eq!(tp.to_string(), "transactions-2");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic's name.
    pub topic: String,
    /// The partition number.
    pub partition: u32,
}

impl TopicPartition {
    /// A topic-partition pair.
    pub fn new(topic: impl Into<String>, partition: u32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    /// Kafka's `topic-partition` notation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A record read by a consumer.
///
/// It points into the segment file's memory map instead of holding a copy; cloning it is
/// cheap (one reference count).
#[derive(Clone)]
pub struct ConsumerRecord {
    source: Shared<Source>,
    pub(crate) timestamp: i64,
    key: Span,
    value: Span,
    headers: Span,
    /// The offset, less the source's `base_offset`: with the header count beside it, the
    /// record is 48 bytes instead of 56, which a poll of thousands of records feels.
    offset_delta: u32,
    /// Number of headers; the top bit ([`V1_HEADERS`]) marks headers in version 1's
    /// encoding (a batch is shorter than 4 GiB and a header takes at least 2 bytes, so
    /// counts stay below 2³¹).
    header_count: u32,
}

/// Marks a [`ConsumerRecord`] whose headers are encoded as format version 1 encodes them.
const V1_HEADERS: u32 = 1 << 31;

/// Where a field lies in a segment's map: 32-bit positions keep a record small (a segment
/// is at most a few GiB), which matters when a poll hands out thousands of them.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    /// Marks an absent key or value (a field is never 4 GiB long).
    const ABSENT: Self = Self {
        start: 0,
        len: u32::MAX,
    };

    fn of(range: Option<Range<usize>>, shift: usize) -> Self {
        match range {
            Some(r) => {
                // Fits: a field lies inside a segment map, and segment files are at most
                // `u32::MAX` bytes (`MAX_SEGMENT_FILE_BYTES`; longer ones are refused as
                // corrupt), so its start and end fit in a `u32`; and as a batch header comes
                // before every field, its length stays below `u32::MAX`, the marker of an
                // absent field.
                debug_assert!(u32::try_from(r.end + shift).is_ok());
                // Decoded ranges never end before they start; `len()` would check it again
                // for every field of every record.
                debug_assert!(r.start <= r.end);
                Self {
                    start: (r.start + shift) as u32,
                    len: r.end.wrapping_sub(r.start) as u32,
                }
            }
            None => Self::ABSENT,
        }
    }

    fn is_absent(self) -> bool {
        self.len == u32::MAX
    }

    fn range(self) -> Option<Range<usize>> {
        (!self.is_absent()).then(|| self.start as usize..self.start as usize + self.len as usize)
    }
}

/// Where records come from: one partition's segment map. Records share it, so handing one
/// out costs a reference count, and a poll takes those in bulk ([`Lease`]).
#[derive(Debug)]
pub(crate) struct Source {
    topic: Arc<str>,
    partition: u32,
    data: Arc<Mapping>,
    /// The lowest offset its records may have; each stores its own as a 32-bit delta.
    base_offset: u64,
}

impl Source {
    /// The source of records read from `data`, from offset `base_offset` on.
    pub(crate) fn new(
        topic: Arc<str>,
        partition: u32,
        data: Arc<Mapping>,
        base_offset: u64,
    ) -> Shared<Self> {
        Shared::new(Self {
            topic,
            partition,
            data,
            base_offset,
        })
    }

    /// The offsets of records that can share this source are below this one (each stores
    /// its own as a 32-bit delta from the source's).
    pub(crate) fn offsets_end(&self) -> u64 {
        self.base_offset.saturating_add(1 << 32)
    }

    /// Whether the record at `offset` of `data` can share this source.
    pub(crate) fn reads(&self, data: &Arc<Mapping>, offset: u64) -> bool {
        Arc::ptr_eq(&self.data, data)
            && offset
                .checked_sub(self.base_offset)
                .is_some_and(|delta| u32::try_from(delta).is_ok())
    }
}

impl ConsumerRecord {
    /// The bits [`from_ref`](Self::from_ref) adds to the header count of a record of a
    /// batch of format `version`: worked out once per batch, not per record.
    pub(crate) fn header_flags(version: u8) -> u32 {
        if version == batch::v1::VERSION {
            V1_HEADERS
        } else {
            0
        }
    }

    /// A record decoded at `batch_pos` of a source's map, holding one of the references
    /// `lease` took on it; the source [`reads`](Source::reads) it. `v1` is the
    /// [`header_flags`](Self::header_flags) of its batch's version.
    #[inline]
    pub(crate) fn from_ref(
        lease: &mut Lease<Source>,
        v1: u32,
        batch_pos: usize,
        record: batch::RecordRef,
    ) -> Self {
        Self {
            offset_delta: u32::try_from(record.offset.saturating_sub(lease.base_offset))
                .unwrap_or(u32::MAX),
            timestamp: record.timestamp,
            key: Span::of(record.key, batch_pos),
            value: Span::of(record.value, batch_pos),
            headers: Span::of(Some(record.headers), batch_pos),
            header_count: record.header_count | v1,
            source: lease.take(),
        }
    }

    /// The topic it was read from.
    pub fn topic(&self) -> &str {
        &self.source.topic
    }

    /// The partition it was read from.
    pub fn partition(&self) -> u32 {
        self.source.partition
    }

    /// Its offset in the partition.
    pub fn offset(&self) -> u64 {
        self.source.base_offset + u64::from(self.offset_delta)
    }

    /// Its timestamp, ms since the epoch.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// Its key, if it has one (an empty key is `Some(&[])`).
    pub fn key(&self) -> Option<&[u8]> {
        self.key.range().and_then(|r| self.source.data.bytes(r))
    }

    /// Its value; empty for a tombstone (see [`is_tombstone`](Self::is_tombstone)).
    pub fn value(&self) -> &[u8] {
        self.value
            .range()
            .and_then(|r| self.source.data.bytes(r))
            .unwrap_or_default()
    }

    /// Whether it is a tombstone (a key with no value), not merely an empty value.
    pub fn is_tombstone(&self) -> bool {
        self.value.is_absent()
    }

    /// Its headers, in the order they were added. A null header value (Kafka's clients can
    /// write one) reads as empty.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        let encoded = self
            .source
            .data
            .bytes(self.headers.range().unwrap_or_default())
            .unwrap_or_default();
        let version = if self.header_count & V1_HEADERS == 0 {
            batch::FORMAT_VERSION
        } else {
            batch::v1::VERSION
        };
        batch::headers(encoded, self.header_count & !V1_HEADERS, version).filter_map(|(k, v)| {
            let key = std::str::from_utf8(k).ok()?;
            Some((key, v.unwrap_or_default()))
        })
    }

    /// The value parsed as JSON.
    ///
    /// # Errors
    /// [`Error::Serde`] naming the topic, partition and offset if it does not parse as `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(self.value()).map_err(|source| Error::Serde {
            context: format!("{}-{}@{}", self.topic(), self.partition(), self.offset()),
            source,
        })
    }
}

impl fmt::Debug for ConsumerRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerRecord")
            .field("topic", &self.topic())
            .field("partition", &self.partition())
            .field("offset", &self.offset())
            .field("timestamp", &self.timestamp)
            .field("key", &self.key().map(String::from_utf8_lossy))
            .field("value", &String::from_utf8_lossy(self.value()))
            .field("tombstone", &self.is_tombstone())
            .finish_non_exhaustive()
    }
}

/// The records one `poll` returned, in partition order, each partition's in offset order.
#[derive(Debug, Default, Clone)]
pub struct Records {
    pub(crate) records: Vec<ConsumerRecord>,
}

impl Records {
    /// How many records there are.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are none (the poll timed out).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Iterates the records by reference.
    pub fn iter(&self) -> std::slice::Iter<'_, ConsumerRecord> {
        self.records.iter()
    }
}

impl Drop for Records {
    fn drop(&mut self) {
        // Thousands of records from a few sources: one atomic per source instead of one per
        // record (see `Shared`).
        shared::release_all(self.records.drain(..).map(|r| r.source));
    }
}

impl IntoIterator for Records {
    type Item = ConsumerRecord;
    type IntoIter = std::vec::IntoIter<ConsumerRecord>;

    fn into_iter(mut self) -> Self::IntoIter {
        std::mem::take(&mut self.records).into_iter()
    }
}

impl<'a> IntoIterator for &'a Records {
    type Item = &'a ConsumerRecord;
    type IntoIter = std::slice::Iter<'a, ConsumerRecord>;

    fn into_iter(self) -> Self::IntoIter {
        self.records.iter()
    }
}
