//! [`Producer`]: appends records to topics; [`TopicProducer`] and [`BatchBuilder`] skip
//! its per-call work (the topic look-up, the records' own allocations).

mod batch;
mod topic;

use std::sync::{Arc, Weak};

use crate::storage::batch::Origin;

use parking_lot::Mutex;
use serde::Serialize;

use crate::broker::{now_ms, Inner};
use crate::error::{Error, Result};
use crate::log::PartitionLog;
use crate::partitioner;
use crate::record::{Record, RecordMetadata};
use crate::topic::Topic;

pub use self::batch::{AppendedBatch, BatchBuilder, BatchMetadata, PartitionRange};
pub use self::topic::TopicProducer;

/// Appends records to topics. `Clone + Send + Sync`; clones are cheap and share the broker.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use strom::{Broker, Record, TopicConfig};
///
/// let broker = Broker::open(dir.path())?;
/// broker.create_topic("transactions", TopicConfig::default().partitions(3))?;
/// let producer = broker.producer();
/// let meta = producer.send("transactions", Record::new(r#"{"amount": 950}"#).key("user-42"))?;
/// assert_eq!(meta.offset, 0);
/// producer.flush()?;
/// # Ok::<(), strom::Error>(())
/// ```
#[derive(Debug)]
pub struct Producer {
    inner: Arc<Inner>,
    /// The topic this producer last sent to. Looking a topic up by name (a read lock and a
    /// hash of the name) cost a single send about a sixth of its instructions; most
    /// producers send to one topic over and over. `Weak`, so that a deleted topic's files
    /// are not kept open by a producer that stopped sending to it.
    last_topic: Mutex<Weak<Topic>>,
}

impl Clone for Producer {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.inner))
    }
}

impl Producer {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self {
            inner,
            last_topic: Mutex::new(Weak::new()),
        }
    }

    /// The topic named `name`, as `Inner::topic_for_send` gives it, from the one-entry cache
    /// while that is still the broker's topic of this name.
    fn topic_for_send(&self, name: &str) -> Result<Arc<Topic>> {
        // Threads sharing one producer do not wait for each other here: whoever finds the
        // cache taken looks the topic up by name instead.
        let Some(mut last) = self.last_topic.try_lock() else {
            return self.inner.topic_for_send(name);
        };
        if let Some(topic) = last.upgrade() {
            if topic.is_current() && **topic.name() == *name {
                self.inner.check_open()?;
                return Ok(topic);
            }
        }
        let topic = self.inner.topic_for_send(name)?;
        *last = Arc::downgrade(&topic);
        Ok(topic)
    }

    /// Appends one record. When it returns the record is in the log, visible to consumers,
    /// and survives the process being killed; whether it also survives a power cut follows
    /// the broker's [`SyncPolicy`](crate::SyncPolicy).
    ///
    /// The partition is the record's own if set; else, for a key, Kafka's
    /// `(murmur2(key) & 0x7fffffff) % partitions`; else a sticky choice.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::InvalidPartition`], [`Error::RecordTooLarge`],
    /// [`Error::InvalidRecord`] (negative timestamp), [`Error::Io`], [`Error::Poisoned`],
    /// [`Error::Closed`].
    pub fn send(&self, topic: &str, record: Record) -> Result<RecordMetadata> {
        self.send_as(topic, record, &mut Plain)
    }

    /// [`send`](Self::send) with batches stamped by `stamp`.
    pub(crate) fn send_as(
        &self,
        topic: &str,
        record: Record,
        stamp: &mut impl Stamp,
    ) -> Result<RecordMetadata> {
        send_to(&*self.topic_for_send(topic)?, record, stamp)
    }

    /// Appends many records: the fast path. Records bound for one partition are written as
    /// one batch (one copy, one CRC pass). All-or-nothing per partition: every record is
    /// checked before anything is written, so one invalid record appends nothing. Returns
    /// one [`RecordMetadata`] per record, in input order.
    ///
    /// Records without a key or partition all go to one partition (sticky).
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn send_batch(
        &self,
        topic: &str,
        records: impl IntoIterator<Item = Record>,
    ) -> Result<Vec<RecordMetadata>> {
        self.send_batch_as(topic, records, &mut Plain)
    }

    /// [`send_batch`](Self::send_batch) with batches stamped by `stamp`.
    pub(crate) fn send_batch_as(
        &self,
        topic: &str,
        records: impl IntoIterator<Item = Record>,
        stamp: &mut impl Stamp,
    ) -> Result<Vec<RecordMetadata>> {
        send_batch_to(&*self.topic_for_send(topic)?, records, stamp)
    }

    /// [`send_batch_as`](Self::send_batch_as) for a caller that needs no metadata (the
    /// streams runtime): the records are appended alike, and nothing is made per record
    /// to report them.
    pub(crate) fn send_batch_unreported(
        &self,
        topic: &str,
        records: impl IntoIterator<Item = Record>,
    ) -> Result<()> {
        self.send_batch_unreported_as(topic, records, &mut Plain)
    }

    /// [`send_batch_unreported`](Self::send_batch_unreported) with batches stamped by
    /// `stamp`.
    pub(crate) fn send_batch_unreported_as(
        &self,
        topic: &str,
        records: impl IntoIterator<Item = Record>,
        stamp: &mut impl Stamp,
    ) -> Result<()> {
        send_batch_reporting(&*self.topic_for_send(topic)?, records, stamp, false).map(drop)
    }

    /// Appends `value` serialized as JSON, with an optional key.
    ///
    /// # Errors
    /// [`Error::Serde`] if it does not serialize, then as [`send`](Self::send).
    pub fn send_json<T: Serialize + ?Sized>(
        &self,
        topic: &str,
        key: Option<&str>,
        value: &T,
    ) -> Result<RecordMetadata> {
        self.send(topic, json_record(topic, key, value)?)
    }

    /// A [`TopicProducer`] for `topic`: the topic looked up once, so that its sends skip
    /// the look-up by name each `Producer` call makes.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("clicks", strom::TopicConfig::default())?;
    /// use strom::Record;
    ///
    /// let clicks = broker.producer().topic("clicks")?;
    /// clicks.send(Record::new("home").key("u1"))?;
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownTopic`] as [`send`](Self::send) gives it (a topic that does not
    /// exist is created if the broker auto-creates topics, as `send` would),
    /// [`Error::Closed`].
    pub fn topic(&self, topic: &str) -> Result<TopicProducer> {
        let resolved = self.topic_for_send(topic)?;
        Ok(TopicProducer::new(Arc::clone(&self.inner), resolved))
    }

    /// A [`BatchBuilder`] for `topic`: records pushed into buffers it owns and reuses, then
    /// appended together by [`BatchBuilder::send`], one batch per partition.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("clicks", strom::TopicConfig::default())?;
    /// let mut batch = broker.producer().batch("clicks")?;
    /// for (user, page) in [("u1", "home"), ("u2", "cart")] {
    ///     batch.push(Some(user.as_bytes()), page.as_bytes())?;
    /// }
    /// let meta = batch.send()?;
    /// assert_eq!(meta.ranges[0].count, 2);
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`topic`](Self::topic).
    pub fn batch(&self, topic: &str) -> Result<BatchBuilder> {
        Ok(self.topic(topic)?.batch())
    }

    /// Fsyncs everything this broker has appended so far: when it returns, every record
    /// sent before the call survives a power cut.
    ///
    /// # Errors
    /// [`Error::Io`] if an fsync fails (the partition then refuses writes until the broker
    /// is reopened), [`Error::Poisoned`], [`Error::Closed`].
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// [`send`](Self::send) for async code: resolves once the record is as durable as the
    /// broker's [`SyncPolicy`](crate::SyncPolicy) says, without blocking the executor's
    /// thread. Under `SyncPolicy::Always` the record joins the fsync its partition's other
    /// senders share, blocking or async; the fsync runs on a background thread, and the
    /// future is woken when it is done. Any executor will do: no runtime is needed. The
    /// future is `Send`.
    ///
    /// The record is appended when the future is first polled. A future dropped after
    /// that leaves the record in the log (visible to consumers), maybe not yet fsynced.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use strom::{Broker, BrokerConfig, Record, SyncPolicy, TopicConfig};
    ///
    /// let broker = Broker::open_with(dir.path(), BrokerConfig::default().sync(SyncPolicy::Always))?;
    /// broker.create_topic("orders", TopicConfig::default())?;
    /// let producer = broker.producer();
    /// let meta = futures::executor::block_on(producer.send_async("orders", Record::new("book")))?;
    /// assert_eq!(meta.offset, 0);
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`send`](Self::send). Under `SyncPolicy::Always`, a failed fsync is
    /// [`Error::Poisoned`] for every send waiting for it (the fsync ran on the background
    /// thread, which logs its I/O error).
    #[cfg(feature = "async")]
    pub async fn send_async(&self, topic: &str, record: Record) -> Result<RecordMetadata> {
        let resolved = self.topic_for_send(topic)?;
        let (sent, deferred) =
            crate::log::durable::append_deferring_sync(|| send_to(&resolved, record, &mut Plain));
        let meta = sent?;
        if let Some(end) = deferred {
            let log = Arc::clone(resolved.partition(meta.partition)?);
            crate::log::durable::Durable::new(log, end).await?;
        }
        Ok(meta)
    }

    /// [`flush`](Self::flush) for async code: resolves once every record this broker has
    /// appended before the call survives a power cut. The fsyncs run on a background thread.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("orders", strom::TopicConfig::default())?;
    /// let producer = broker.producer();
    /// producer.send("orders", strom::Record::new("book"))?;
    /// futures::executor::block_on(producer.flush_async())?;
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`flush`](Self::flush).
    #[cfg(feature = "async")]
    pub async fn flush_async(&self) -> Result<()> {
        self.inner.check_open()?;
        // The ends are taken first, so that records appended while earlier partitions are
        // synced do not make this call wait longer.
        let ends: Vec<(Arc<PartitionLog>, u64)> = self
            .inner
            .all_topics()
            .iter()
            .flat_map(|topic| topic.partitions().iter())
            .map(|log| (Arc::clone(log), log.high_watermark()))
            .collect();
        for (log, end) in ends {
            crate::log::durable::Durable::new(log, end).await?;
        }
        Ok(())
    }
}

/// [`Producer::send`] to a resolved topic.
fn send_to(topic: &Topic, record: Record, stamp: &mut impl Stamp) -> Result<RecordMetadata> {
    let size = validate(topic, &record)?;
    let partition = choose_partition(topic, &record, size);
    let log = topic.partition(partition)?;
    stamp.before_append(topic, partition, log)?;
    let now = now_ms();
    let timestamp = record.timestamp.unwrap_or(now);
    let entry = record.entry(timestamp);
    let offset = log.append_one(entry, stamp.origin(), now)?;
    Ok(RecordMetadata {
        topic: topic_name(topic.name(), record),
        partition,
        offset,
        timestamp,
    })
}

/// [`Producer::send_batch`] to a resolved topic.
fn send_batch_to(
    topic: &Topic,
    records: impl IntoIterator<Item = Record>,
    stamp: &mut impl Stamp,
) -> Result<Vec<RecordMetadata>> {
    send_batch_reporting(topic, records, stamp, true)
}

/// [`send_batch_to`], with the records' metadata only if `report`: made per record (a
/// topic name each), it is a good part of a send for callers that drop it.
fn send_batch_reporting(
    topic: &Topic,
    records: impl IntoIterator<Item = Record>,
    stamp: &mut impl Stamp,
    report: bool,
) -> Result<Vec<RecordMetadata>> {
    let mut records: Vec<Record> = records.into_iter().collect();
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let partitions = topic.partition_count();
    let now = now_ms();
    // One pass checks every record and settles its partition and timestamp, written into
    // the record itself (it is ours now), so that no side table is allocated; keyless
    // records wait for the sticky choice, made once their bytes are known.
    let mut keyless = None;
    for record in &mut records {
        let size = validate(topic, record)?;
        record.timestamp.get_or_insert(now);
        if record.partition.is_none() {
            match &record.key {
                Some(key) => {
                    record.partition = Some(partitioner::partition_for_key(key, partitions));
                }
                None => *keyless.get_or_insert(0) += size,
            }
        }
    }
    if let Some(bytes) = keyless {
        let sticky = topic.sticky().next(bytes, partitions);
        for record in records.iter_mut().filter(|r| r.partition.is_none()) {
            record.partition = Some(sticky);
        }
    }
    let first = records[0].partition.unwrap_or_default();
    if records.iter().all(|r| r.partition == Some(first)) {
        let entries = records.iter().map(|r| r.entry(r.timestamp.unwrap_or(now)));
        let log = topic.partition(first)?;
        stamp.before_append(topic, first, log)?;
        let base = log.append(entries, stamp.origin(), now)?;
        if !report {
            return Ok(Vec::new());
        }
        return Ok(metadata(topic.name(), records, now, |_, i| base + i as u64));
    }
    let mut by_partition: Vec<Vec<usize>> = vec![Vec::new(); partitions as usize];
    for (i, record) in records.iter().enumerate() {
        if let Some(list) = by_partition.get_mut(record.partition.unwrap_or_default() as usize) {
            list.push(i);
        }
    }
    // The first offset of each partition's batch; a batch holds its partition's records
    // in input order, so the n-th of them gets `base + n`.
    let mut next = vec![0; partitions as usize];
    for (p, indices) in by_partition.iter().enumerate() {
        if indices.is_empty() {
            continue;
        }
        let entries = indices.iter().map(|&i| {
            let r = &records[i];
            r.entry(r.timestamp.unwrap_or(now))
        });
        let log = topic.partition(p as u32)?;
        stamp.before_append(topic, p as u32, log)?;
        next[p] = log.append(entries, stamp.origin(), now)?;
    }
    if !report {
        return Ok(Vec::new());
    }
    Ok(metadata(topic.name(), records, now, |p, _| {
        let offset = next[p as usize];
        next[p as usize] += 1;
        offset
    }))
}

/// A record holding `value` as JSON, with an optional key.
pub(crate) fn json_record<T: Serialize + ?Sized>(
    topic: &str,
    key: Option<&str>,
    value: &T,
) -> Result<Record> {
    let bytes = serde_json::to_vec(value).map_err(|source| Error::Serde {
        context: format!("a value for topic {topic:?}"),
        source,
    })?;
    let record = Record::new(bytes);
    Ok(match key {
        Some(key) => record.key(key),
        None => record,
    })
}

/// How a send stamps its batches: the producer fields they carry, and what happens before
/// records first go to a partition (a transaction registers the partition).
pub(crate) trait Stamp {
    /// The producer fields of the batches.
    fn origin(&self) -> Origin;

    /// Runs before each append to `partition` of `topic`.
    fn before_append(&mut self, topic: &Topic, partition: u32, log: &PartitionLog) -> Result<()>;
}

/// A plain producer's sends: no producer fields, nothing to do first.
struct Plain;

impl Stamp for Plain {
    fn origin(&self) -> Origin {
        Origin::NONE
    }

    fn before_append(&mut self, _: &Topic, _: u32, _: &PartitionLog) -> Result<()> {
        Ok(())
    }
}

/// One [`RecordMetadata`] per record, in order, each with the offset `offset(partition,
/// index)` gives, from records whose partition and timestamp are settled.
///
/// The metadata takes the place of the records in their own allocation (`Vec`'s in-place
/// `collect`, as a `RecordMetadata` is half the size of a `Record`), so that a batch costs
/// no allocation beyond each topic `String`; each record's bytes are freed as it is passed.
fn metadata(
    topic: &str,
    records: Vec<Record>,
    now: i64,
    mut offset: impl FnMut(u32, usize) -> u64,
) -> Vec<RecordMetadata> {
    let mut metadata: Vec<RecordMetadata> = records
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let partition = r.partition.unwrap_or_default();
            RecordMetadata {
                partition,
                offset: offset(partition, i),
                timestamp: r.timestamp.unwrap_or(now),
                topic: topic_name(topic, r),
            }
        })
        .collect();
    // The reused allocation has room for twice as many; callers may keep the result.
    metadata.shrink_to_fit();
    metadata
}

/// A key or value buffer at most this large becomes the topic name of its record's
/// metadata; see [`topic_name`].
const RECYCLE_MAX_BYTES: usize = 256;

/// The topic name for the metadata of `record`, which has been appended.
///
/// `RecordMetadata::topic` is a `String`, one allocation per record, and the record's key
/// and value, just copied into the log, are freed: for small records those two calls into
/// the allocator cost as much as the append itself. So the name is written into the
/// record's smallest key or value buffer that holds it instead, when that buffer is at most
/// [`RECYCLE_MAX_BYTES`]: the metadata then keeps that many bytes alive, a bounded cost for
/// a value callers usually drop soon. Larger buffers are freed and the name allocated.
fn topic_name(topic: &str, record: Record) -> String {
    let fits = |b: &Vec<u8>| (topic.len()..=RECYCLE_MAX_BYTES).contains(&b.capacity());
    let spare = match (record.key.filter(fits), record.value.filter(fits)) {
        (Some(key), Some(value)) if value.capacity() < key.capacity() => Some(value),
        (key, value) => key.or(value),
    };
    let Some(mut buf) = spare else {
        return topic.to_owned();
    };
    // Emptied first, so the UTF-8 check has nothing to look at; the name is then copied in
    // as a `str`, which needs none.
    buf.clear();
    let mut name = String::from_utf8(buf).unwrap_or_default();
    name.push_str(topic);
    name
}

/// Checks a record against the topic's rules; returns its size.
#[inline]
fn validate(topic: &Topic, record: &Record) -> Result<usize> {
    let size = record.size();
    let valid = size <= topic.max_record_bytes()
        && record.timestamp.is_none_or(|ts| ts >= 0)
        && record.partition.is_none_or(|p| p < topic.partition_count());
    if valid {
        Ok(size)
    } else {
        Err(refusal(topic, record, size))
    }
}

/// Why [`validate`] refuses a record of `size` bytes; out of line, as records mostly pass.
#[cold]
fn refusal(topic: &Topic, record: &Record, size: usize) -> Error {
    let max = topic.max_record_bytes();
    if size > max {
        return Error::RecordTooLarge {
            topic: topic.name().to_string(),
            size,
            max,
        };
    }
    if let Some(ts) = record.timestamp.filter(|&ts| ts < 0) {
        return Error::InvalidRecord {
            topic: topic.name().to_string(),
            reason: format!("timestamp {ts} is before the Unix epoch"),
        };
    }
    // What remains of `validate`'s checks: the record's partition is out of range.
    Error::InvalidPartition {
        topic: topic.name().to_string(),
        partition: record.partition.unwrap_or_default(),
        partitions: topic.partition_count(),
    }
}

/// The partition for a record `validate` accepted.
fn choose_partition(topic: &Topic, record: &Record, size: usize) -> u32 {
    let partitions = topic.partition_count();
    match (record.partition, &record.key) {
        (Some(p), _) => p,
        (None, Some(key)) => partitioner::partition_for_key(key, partitions),
        (None, None) => topic.sticky().next(size, partitions),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Broker, TopicConfig};

    #[test]
    fn the_cached_topic_gives_way_to_a_deleted_or_altered_one() -> Result<()> {
        let dir = tempfile::tempdir().expect("temp dir");
        let broker = Broker::open(dir.path())?;
        broker.create_topic("t", TopicConfig::default())?;
        let producer = broker.producer();
        assert_eq!(producer.send("t", Record::new("a"))?.offset, 0);

        // Deleted: unknown, as without the cache.
        broker.delete_topic("t")?;
        let err = producer.send("t", Record::new("b")).expect_err("deleted");
        assert!(matches!(err, Error::UnknownTopic { .. }), "{err:?}");

        // Re-created with two partitions: the new topic takes the sends.
        broker.create_topic("t", TopicConfig::default().partitions(2))?;
        let meta = producer.send("t", Record::new("c").partition(1))?;
        assert_eq!((meta.partition, meta.offset), (1, 0));

        // Altered to three: the replacement is looked up.
        broker.alter_topic("t", TopicConfig::default().partitions(3))?;
        assert_eq!(
            producer.send("t", Record::new("d").partition(2))?.partition,
            2
        );

        // Another topic in between, and a clone, which starts with no cached topic.
        broker.create_topic("u", TopicConfig::default())?;
        assert_eq!(producer.send("u", Record::new("e"))?.topic, "u");
        assert_eq!(producer.clone().send("t", Record::new("f"))?.topic, "t");
        broker.close()?;
        assert!(matches!(
            producer.send("t", Record::new("g")),
            Err(Error::Closed)
        ));
        Ok(())
    }

    #[test]
    fn topic_name_recycles_only_small_buffers_that_fit() {
        // The smallest buffer that holds the name is reused, whether key or value.
        let record = Record::new(vec![b'v'; 100]).key(Vec::with_capacity(16));
        let name = topic_name("orders", record);
        assert_eq!((name.as_str(), name.capacity()), ("orders", 16));

        let name = topic_name("orders", Record::new(vec![b'v'; 40]));
        assert_eq!((name.as_str(), name.capacity()), ("orders", 40));

        // Too small for the name, too large to keep alive, or absent: a fresh allocation.
        for record in [
            Record::new(vec![b'v'; 3]),
            Record::new(vec![b'v'; RECYCLE_MAX_BYTES + 1]),
            Record::tombstone(Vec::new()),
        ] {
            let name = topic_name("orders", record);
            assert_eq!((name.as_str(), name.capacity()), ("orders", 6));
        }
    }
}
