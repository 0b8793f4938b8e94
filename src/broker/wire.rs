//! The broker's seam for a server speaking Kafka's wire protocol (package `strom-kafka`):
//! record batches stored and served in Kafka's own format, byte for byte, with the
//! idempotent producers, timestamps and offsets the protocol's requests ask about.
//!
//! Everything here is public API of the library: a server needs nothing else.

use std::ops::ControlFlow;
#[cfg(feature = "async")]
use std::sync::Arc;

use super::{Broker, Inner};
use crate::config::IsolationLevel;
use crate::error::{Error, Result};
#[cfg(feature = "async")]
use crate::log::PartitionLog;
use crate::offsets::{check_metadata, OffsetAndMetadata};
use crate::producer::AppendedBatch;
use crate::record::TopicPartition;
use crate::storage::batch;
#[cfg(feature = "async")]
use crate::topic::Topic;

/// Whole record batches of one partition, as they are stored (Kafka's `RecordBatch`, magic
/// 2, compressed ones compressed), with the partition's offsets: what a Kafka Fetch
/// response carries for it. Made by [`Broker::fetch_batches`].
///
/// ```
/// use strom::FetchedBatches;
///
/// let empty = FetchedBatches {
///     high_watermark: 10, last_stable_offset: 10, log_start_offset: 0,
///     aborted: Vec::new(), bytes: Vec::new(),
/// };
/// assert!(empty.bytes.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchedBatches {
    /// The partition's high watermark when the fetch began.
    pub high_watermark: u64,
    /// Its last stable offset then: the first offset of a transaction still open, else the
    /// high watermark.
    pub last_stable_offset: u64,
    /// The first offset still in the log.
    pub log_start_offset: u64,
    /// With [`IsolationLevel::ReadCommitted`], the aborted transactions whose records the
    /// batches may hold (a consumer skips those batches); empty otherwise.
    pub aborted: Vec<AbortedTransaction>,
    /// The batches, one after another, each with its header.
    pub bytes: Vec<u8>,
}

/// An aborted transaction a fetch may meet: its producer and first offset in the
/// partition (Kafka's `AbortedTransaction` of a Fetch response).
///
/// ```
/// let aborted = strom::AbortedTransaction { producer_id: 3, first_offset: 40 };
/// assert_eq!(aborted.producer_id, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AbortedTransaction {
    /// The transaction's producer id.
    pub producer_id: i64,
    /// The offset of its first record in the partition.
    pub first_offset: u64,
}

/// A record found by its timestamp: its offset and its own timestamp, as Kafka's
/// `ListOffsets` answers. Made by [`Broker::offset_for_timestamp`].
///
/// ```
/// let found = strom::TimestampOffset { offset: 7, timestamp: 1_700_000_000_000 };
/// assert_eq!(found.offset, 7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimestampOffset {
    /// The record's offset.
    pub offset: u64,
    /// The record's timestamp (milliseconds since the epoch).
    pub timestamp: i64,
}

/// The identity of an idempotent producer: a producer id and its epoch, as Kafka's
/// `InitProducerId` answers. Made by [`Broker::init_producer_id`].
///
/// ```
/// let identity = strom::ProducerIdentity { producer_id: 12, epoch: 0 };
/// assert_eq!(identity.epoch, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerIdentity {
    /// The producer id.
    pub producer_id: i64,
    /// The epoch.
    pub epoch: i16,
}

impl Broker {
    /// Appends one record batch in Kafka's format (`RecordBatch`, magic 2) as a Kafka client
    /// produced it, and returns where it went: what a Produce response reports.
    ///
    /// The batch's base offset is ignored and assigned here. Its length, CRC-32C and every
    /// record are checked first (the records of a compressed batch decompressed, within the
    /// limit that refuses decompression bombs), and its records must carry the offset
    /// deltas `0..record_count`: a batch that fails any check stores nothing.
    ///
    /// A batch of an idempotent producer (producer id ≥ 0, sequence number ≥ 0) is checked
    /// against that producer's last five batches in the partition, as Kafka does: the next
    /// sequence number is stored; a retry of one of the five is not stored again, and is
    /// answered with its offsets and `duplicate: true`; anything else is refused. A
    /// producer the partition does not know starts at any sequence. The partition rebuilds
    /// this state at open from the batch headers of its last segment, so a retry after a
    /// restart is still recognised.
    ///
    /// A topic whose [`compression`](crate::TopicConfig::compression) is
    /// [`Compression::None`](crate::Compression::None) stores batches as the producer
    /// compressed them (Kafka's `compression.type=producer`); a topic with a codec stores
    /// batches of that codec as they are and recompresses the others with it.
    ///
    /// Unknown topics are created, with the broker's default topic config, when
    /// [`BrokerConfig::auto_create_topics`](crate::BrokerConfig::auto_create_topics) is on.
    ///
    /// # Errors
    /// [`Error::Encode`] for a batch that is not valid (its `source` says why);
    /// [`Error::TransactionState`] for a transactional batch (those go through a
    /// transaction) and [`Error::InvalidRecord`] for a control batch;
    /// [`Error::RecordTooLarge`] for a batch longer than the topic's `max_record_bytes`
    /// (Kafka's `max.message.bytes`); [`Error::OutOfOrderSequence`],
    /// [`Error::InvalidProducerEpoch`]; [`Error::UnknownTopic`],
    /// [`Error::InvalidPartition`]; [`Error::ReadOnly`]; [`Error::Io`]; [`Error::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use strom::storage::batch::{self, Entry};
    /// use strom::{Broker, TopicConfig, TopicPartition};
    ///
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("readings", TopicConfig::default())?;
    /// // A batch as a Kafka client encodes it: here with the library's own encoder.
    /// let entries = [Entry { key: Some(b"oslo"), value: Some(b"-3.5"), headers: &[], timestamp: 1_000 }];
    /// let mut bytes = vec![0; batch::encoded_len(&entries)];
    /// batch::encode(&mut bytes, 0, &entries).unwrap();
    ///
    /// let tp = TopicPartition::new("readings", 0);
    /// let appended = broker.append_batch(&tp, &bytes)?;
    /// assert_eq!((appended.base_offset, appended.last_offset), (0, 0));
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn append_batch(&self, tp: &TopicPartition, batch: &[u8]) -> Result<AppendedBatch> {
        let topic = self.inner.topic_for_send(&tp.topic)?;
        let log = topic.partition(tp.partition)?;
        if let Ok(header) = batch::read_header(batch) {
            if header.is_control() {
                return Err(Error::InvalidRecord {
                    topic: tp.topic.clone(),
                    reason: "a producer cannot append a control batch".to_string(),
                });
            }
            if header.is_transactional() {
                return Err(Error::TransactionState(format!(
                    "a transactional batch for {tp} needs an open transaction of producer {}",
                    header.origin.producer_id
                )));
            }
        }
        let max = topic.max_record_bytes();
        if batch.len() > max {
            return Err(Error::RecordTooLarge {
                topic: tp.topic.clone(),
                size: batch.len(),
                max,
            });
        }
        log.append_encoded(batch, super::now_ms())
    }

    /// Whole record batches of a partition from `offset` on, as they are stored: no record
    /// is decoded or encoded again (compressed batches stay compressed), only each batch's
    /// checksum is checked. What a Kafka Fetch response carries.
    ///
    /// The first batch is the one holding `offset`, so it may start before it (a consumer
    /// skips the records below it, as with Kafka). Batches are whole, and added while their
    /// total stays within `max_bytes`, but the first batch is always there even if it is
    /// larger (Kafka's KIP-74), so a consumer always makes progress. They stop at the high
    /// watermark with [`IsolationLevel::ReadUncommitted`], or at the last stable offset with
    /// [`IsolationLevel::ReadCommitted`], which also lists the aborted transactions the
    /// batches may hold. At the high watermark (or the last stable offset) the result holds
    /// no bytes.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] when `offset` is below the log start or past the high
    /// watermark; [`Error::UnknownTopic`], [`Error::InvalidPartition`];
    /// [`Error::Corrupt`] for a stored batch failing its checksum; [`Error::Io`];
    /// [`Error::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use strom::storage::batch;
    /// use strom::{Broker, IsolationLevel, Record, TopicConfig, TopicPartition};
    ///
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("readings", TopicConfig::default())?;
    /// broker.producer().send("readings", Record::new("-3.5").key("oslo"))?;
    ///
    /// let tp = TopicPartition::new("readings", 0);
    /// let fetched = broker.fetch_batches(&tp, 0, 1 << 20, IsolationLevel::ReadUncommitted)?;
    /// assert_eq!(fetched.high_watermark, 1);
    /// let header = batch::check(&fetched.bytes).unwrap();
    /// assert_eq!((header.base_offset, header.record_count), (0, 1));
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn fetch_batches(
        &self,
        tp: &TopicPartition,
        offset: u64,
        max_bytes: usize,
        isolation: IsolationLevel,
    ) -> Result<FetchedBatches> {
        let topic = self.inner.existing_topic(&tp.topic)?;
        let log = topic.partition(tp.partition)?;
        // Read-only: what the writer appended since the last look.
        log.refresh(false)?;
        // The last stable offset first: it never passes the high watermark loaded after it.
        let last_stable_offset = log.last_stable_offset();
        let high_watermark = log.high_watermark().max(last_stable_offset);
        let log_start_offset = log.log_start_offset();
        if offset < log_start_offset || offset > high_watermark {
            return Err(Error::OffsetOutOfRange {
                topic: tp.topic.clone(),
                partition: tp.partition,
                offset: Some(offset),
                log_start_offset,
                high_watermark,
            });
        }
        let until = match isolation {
            IsolationLevel::ReadUncommitted => high_watermark,
            IsolationLevel::ReadCommitted => last_stable_offset,
        };
        let mut bytes = Vec::new();
        let mut end = offset;
        log.read_stored_batches(offset, until, |batch| {
            let stored = batch.bytes();
            if !bytes.is_empty() && bytes.len() + stored.len() > max_bytes {
                return Ok(ControlFlow::Break(()));
            }
            bytes.extend_from_slice(stored);
            end = batch.header.next_offset();
            Ok(ControlFlow::Continue(()))
        })?;
        let aborted = match isolation {
            IsolationLevel::ReadUncommitted => Vec::new(),
            // Those ending at or after `offset` (all `aborted_from` gives) and starting
            // before the end of what was read.
            IsolationLevel::ReadCommitted => log
                .aborted_from(offset)
                .into_iter()
                .filter(|a| a.first_offset < end)
                .map(|a| AbortedTransaction {
                    producer_id: a.producer_id,
                    first_offset: a.first_offset,
                })
                .collect(),
        };
        Ok(FetchedBatches {
            high_watermark,
            last_stable_offset,
            log_start_offset,
            aborted,
            bytes,
        })
    }

    /// The first record of a partition whose timestamp is at or after `timestamp_ms`, with
    /// its offset and its timestamp (Kafka's `ListOffsets` by timestamp); `None` when the
    /// partition holds no such record below its high watermark.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::InvalidPartition`]; [`Error::Corrupt`];
    /// [`Error::Io`]; [`Error::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use strom::{Broker, Record, TimestampOffset, TopicConfig, TopicPartition};
    ///
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("readings", TopicConfig::default())?;
    /// let producer = broker.producer();
    /// producer.send("readings", Record::new("a").timestamp(1_000))?;
    /// producer.send("readings", Record::new("b").timestamp(2_000))?;
    ///
    /// let tp = TopicPartition::new("readings", 0);
    /// let found = broker.offset_for_timestamp(&tp, 1_500)?;
    /// assert_eq!(found, Some(TimestampOffset { offset: 1, timestamp: 2_000 }));
    /// assert_eq!(broker.offset_for_timestamp(&tp, 3_000)?, None);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn offset_for_timestamp(
        &self,
        tp: &TopicPartition,
        timestamp_ms: i64,
    ) -> Result<Option<TimestampOffset>> {
        let topic = self.inner.existing_topic(&tp.topic)?;
        let log = topic.partition(tp.partition)?;
        log.refresh(false)?;
        let Some(offset) = log.offset_for_timestamp(timestamp_ms)? else {
            return Ok(None);
        };
        // The record's own timestamp, from its batch.
        let mut found = None;
        log.read_batches(offset, |batch| {
            for record in batch.records()? {
                let record = record?;
                if record.offset >= offset {
                    found = Some(TimestampOffset {
                        offset: record.offset,
                        timestamp: record.timestamp,
                    });
                    return Ok(ControlFlow::Break(()));
                }
            }
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(found)
    }

    /// The first record of a partition with its largest timestamp (Kafka's `ListOffsets`
    /// with `MAX_TIMESTAMP`, `-3`), or `None` while the partition holds no record. Timestamps
    /// are the producers' and need not grow with offsets: this is not the last record.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::InvalidPartition`]; [`Error::Corrupt`] for a batch
    /// failing its checksum; [`Error::Io`]; [`Error::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use strom::{Broker, Record, TimestampOffset, TopicConfig, TopicPartition};
    ///
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("readings", TopicConfig::default())?;
    /// let producer = broker.producer();
    /// for timestamp in [1_000, 5_000, 3_000, 5_000] {
    ///     producer.send("readings", Record::new("r").timestamp(timestamp))?;
    /// }
    ///
    /// let tp = TopicPartition::new("readings", 0);
    /// let found = broker.offset_for_max_timestamp(&tp)?;
    /// assert_eq!(found, Some(TimestampOffset { offset: 1, timestamp: 5_000 }));
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn offset_for_max_timestamp(&self, tp: &TopicPartition) -> Result<Option<TimestampOffset>> {
        let topic = self.inner.existing_topic(&tp.topic)?;
        let log = topic.partition(tp.partition)?;
        log.refresh(false)?;
        // The segments know their largest timestamp; the first record at or after it is the
        // first one carrying it.
        match log.max_timestamp()? {
            Some(max) => self.offset_for_timestamp(tp, max),
            None => Ok(None),
        }
    }

    /// A new producer id, at epoch 0, for an idempotent producer without a transactional id
    /// (Kafka's `InitProducerId` without `transactional.id`). Ids come from the allocator
    /// transactional producers take theirs from, so they never collide with those; they
    /// are not reused across restarts as far as the partitions' producer state remembers
    /// them (see [`append_batch`](Self::append_batch)).
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; [`Error::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let broker = strom::Broker::open(dir.path())?;
    /// let first = broker.init_producer_id()?;
    /// let second = broker.init_producer_id()?;
    /// assert_ne!(first.producer_id, second.producer_id);
    /// assert_eq!(first.epoch, 0);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn init_producer_id(&self) -> Result<ProducerIdentity> {
        self.inner.check_open()?;
        self.inner.check_writable("init_producer_id")?;
        let producer_id = self
            .inner
            .transactions()
            .allocate_producer_id(self.inner.producer_id_floor());
        Ok(ProducerIdentity {
            producer_id,
            epoch: 0,
        })
    }

    /// A consumer group's committed offsets, by partition (Kafka's `OffsetFetch`): the next
    /// offset the group reads in each. Empty for a group that never committed.
    ///
    /// # Errors
    /// [`Error::Closed`]; on a broker opened read-only, [`Error::Io`] or [`Error::Corrupt`]
    /// when the writer's offsets cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use strom::{Broker, TopicConfig, TopicPartition};
    ///
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("readings", TopicConfig::default())?;
    /// let tp = TopicPartition::new("readings", 0);
    /// broker.commit_offsets("dashboard", &[(tp.clone(), 0)])?;
    /// assert_eq!(broker.committed_offsets("dashboard")?, [(tp, 0)]);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn committed_offsets(&self, group_id: &str) -> Result<Vec<(TopicPartition, u64)>> {
        self.inner.check_open()?;
        // Read-only: the writer's commits since the last look.
        self.inner.refresh_offsets()?;
        let mut offsets: Vec<(TopicPartition, u64)> =
            self.inner.offsets().all(group_id).into_iter().collect();
        offsets.sort_unstable();
        Ok(offsets)
    }

    /// Commits offsets for a consumer group from outside its membership (Kafka's
    /// standalone `OffsetCommit`, generation −1): no generation or member is checked. Durable
    /// when it returns, as [`Consumer::commit`](crate::Consumer::commit)'s, and read by the
    /// group's in-process consumers as their own.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an empty group id; [`Error::UnknownTopic`],
    /// [`Error::InvalidPartition`] for a partition that does not exist; [`Error::ReadOnly`];
    /// [`Error::Io`]; [`Error::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use strom::{Broker, TopicConfig, TopicPartition};
    ///
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("readings", TopicConfig::default())?;
    /// broker.commit_offsets("dashboard", &[(TopicPartition::new("readings", 0), 0)])?;
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn commit_offsets(&self, group_id: &str, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        self.inner.check_open()?;
        if group_id.is_empty() {
            return Err(Error::InvalidConfig {
                reason: "a commit needs a group id".to_string(),
            });
        }
        for (tp, _) in offsets {
            self.inner
                .existing_topic(&tp.topic)?
                .partition(tp.partition)?;
        }
        self.inner.commit_offsets(group_id, offsets)
    }

    /// A consumer group's committed offsets with the metadata committed with each (Kafka's
    /// `OffsetFetch`, whose answers carry it), sorted as
    /// [`committed_offsets`](Self::committed_offsets): "" where a commit carried none.
    ///
    /// # Errors
    /// As [`committed_offsets`](Self::committed_offsets).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use strom::{Broker, OffsetAndMetadata, TopicConfig, TopicPartition};
    ///
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("readings", TopicConfig::default())?;
    /// let tp = TopicPartition::new("readings", 0);
    /// let mark = OffsetAndMetadata::with_metadata(12, "upstream offset 9000");
    /// broker.commit_offsets_with_metadata("mirror", &[(tp.clone(), mark.clone())])?;
    /// assert_eq!(broker.committed_offsets_with_metadata("mirror")?, [(tp.clone(), mark)]);
    /// // A commit without metadata replaces it with "".
    /// broker.commit_offsets("mirror", &[(tp.clone(), 13)])?;
    /// assert_eq!(
    ///     broker.committed_offsets_with_metadata("mirror")?,
    ///     [(tp, OffsetAndMetadata::new(13))]
    /// );
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn committed_offsets_with_metadata(
        &self,
        group_id: &str,
    ) -> Result<Vec<(TopicPartition, OffsetAndMetadata)>> {
        self.inner.check_open()?;
        // Read-only: the writer's commits since the last look.
        self.inner.refresh_offsets()?;
        let mut offsets = self.inner.offsets().all_with_metadata(group_id);
        offsets.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        Ok(offsets)
    }

    /// The partitions for which transactions still open hold offsets of `group_id`, sorted
    /// (Kafka's pending transactional offsets): their committed offsets change when those
    /// transactions commit. Kafka's `OffsetFetch` with `require_stable` answers these
    /// partitions `UNSTABLE_OFFSET_COMMIT` until then, and its `read_committed` consumers
    /// wait rather than start from an offset about to move. A broker opened read-only has
    /// no transactions of its own, and answers none.
    ///
    /// # Errors
    /// [`Error::Closed`] once the broker is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use strom::{Broker, GroupMetadata, Record, TopicConfig, TopicPartition};
    ///
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("in", TopicConfig::default())?;
    /// broker.create_topic("out", TopicConfig::default())?;
    /// let group = GroupMetadata {
    ///     group_id: "copiers".to_string(),
    ///     generation: 0,
    ///     member_id: String::new(),
    /// };
    /// let tp = TopicPartition::new("in", 0);
    /// let producer = broker.transactional_producer("copier")?;
    /// producer.begin_transaction()?;
    /// producer.send("out", Record::new("copied"))?;
    /// producer.send_offsets_to_transaction(&[(tp.clone(), 1)], &group)?;
    /// assert_eq!(broker.pending_transactional_offsets("copiers")?, [tp.clone()]);
    /// producer.commit_transaction()?;
    /// assert!(broker.pending_transactional_offsets("copiers")?.is_empty());
    /// assert_eq!(broker.committed_offsets("copiers")?, [(tp, 1)]);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn pending_transactional_offsets(&self, group_id: &str) -> Result<Vec<TopicPartition>> {
        self.inner.check_open()?;
        Ok(self.inner.transactions().pending_offsets(group_id))
    }

    /// Commits offsets with a metadata string each for a consumer group from outside its
    /// membership (Kafka's standalone `OffsetCommit` with `committed_metadata`), as
    /// [`commit_offsets`](Self::commit_offsets) does. Each partition's metadata replaces
    /// what was committed with its previous offset; it is durable with the offsets (same
    /// file, same atomic replace) and read back by
    /// [`committed_offsets_with_metadata`](Self::committed_offsets_with_metadata).
    ///
    /// # Errors
    /// [`Error::OffsetMetadataTooLarge`], and nothing committed, for metadata longer than
    /// [`OffsetAndMetadata::MAX_METADATA_BYTES`]; otherwise as
    /// [`commit_offsets`](Self::commit_offsets).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use strom::{Broker, Error, OffsetAndMetadata, TopicConfig, TopicPartition};
    ///
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("readings", TopicConfig::default())?;
    /// let tp = TopicPartition::new("readings", 0);
    /// broker.commit_offsets_with_metadata(
    ///     "mirror",
    ///     &[(tp.clone(), OffsetAndMetadata::with_metadata(12, "upstream offset 9000"))],
    /// )?;
    /// let too_long = OffsetAndMetadata::with_metadata(13, "x".repeat(5000));
    /// assert!(matches!(
    ///     broker.commit_offsets_with_metadata("mirror", &[(tp, too_long)]),
    ///     Err(Error::OffsetMetadataTooLarge { .. })
    /// ));
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn commit_offsets_with_metadata(
        &self,
        group_id: &str,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<()> {
        self.inner.check_open()?;
        if group_id.is_empty() {
            return Err(Error::InvalidConfig {
                reason: "a commit needs a group id".to_string(),
            });
        }
        check_metadata(group_id, offsets)?;
        for (tp, _) in offsets {
            self.inner
                .existing_topic(&tp.topic)?
                .partition(tp.partition)?;
        }
        self.inner.commit_offsets_with_metadata(group_id, offsets)
    }

    /// A future that resolves once any of `positions` has data past its offset: the high
    /// watermark past it with [`IsolationLevel::ReadUncommitted`], the last stable offset
    /// past it with [`IsolationLevel::ReadCommitted`]; or at once when a position is out of
    /// range, a partition does not exist (or its topic was deleted or reconfigured), the
    /// broker is closed, or `positions` is empty. It resolves with `Ok(())` in every case:
    /// the caller then fetches, and meets the error there. Kafka's Fetch long-poll.
    ///
    /// The future needs no particular runtime: it is woken by appends (and commit markers)
    /// as a waiting consumer is, and never polls on a timer. Dropping it unregisters it, so
    /// it can be raced against a timeout (`tokio::time::timeout` for Fetch's
    /// `max_wait_ms`).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use strom::{Broker, IsolationLevel, Record, TopicConfig, TopicPartition};
    ///
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("readings", TopicConfig::default())?;
    /// let tp = TopicPartition::new("readings", 0);
    /// let wait = broker.wait_for_data(&[(tp, 0)], IsolationLevel::ReadUncommitted);
    /// let producer = broker.producer();
    /// std::thread::spawn(move || producer.send("readings", Record::new("-3.5")));
    /// futures::executor::block_on(wait)?;
    /// # Ok::<(), strom::Error>(())
    /// ```
    #[cfg(feature = "async")]
    pub fn wait_for_data(
        &self,
        positions: &[(TopicPartition, u64)],
        isolation: IsolationLevel,
    ) -> DataWait {
        DataWait {
            inner: Arc::clone(&self.inner),
            positions: positions.to_vec(),
            isolation,
            waiter: None,
            watched: Vec::new(),
        }
    }
}

impl Inner {
    /// The smallest producer id not known to any partition's producer state.
    fn producer_id_floor(&self) -> i64 {
        self.all_topics()
            .iter()
            .flat_map(|t| t.partitions())
            .filter_map(|log| log.max_producer_id())
            .max()
            .map_or(0, |id| id.saturating_add(1))
    }

    /// Moves the producer id allocator past every id the partitions remember, after
    /// `open`: an idempotent producer's id from before a restart is not handed out again.
    pub(super) fn reserve_known_producer_ids(&self) {
        let floor = self.producer_id_floor();
        if floor > 0 {
            self.transactions().allocate_producer_id(floor);
        }
    }
}

/// The future of [`Broker::wait_for_data`]: resolves once one of its partitions has data
/// past its position. `Send`, `Unpin`; dropping it unregisters it.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use strom::{Broker, DataWait, IsolationLevel, Record, TopicConfig, TopicPartition};
///
/// let broker = Broker::open(dir.path())?;
/// broker.create_topic("readings", TopicConfig::default())?;
/// broker.producer().send("readings", Record::new("-3.5"))?;
/// // Data past offset 0 is there already: it resolves at once.
/// let wait: DataWait = broker.wait_for_data(
///     &[(TopicPartition::new("readings", 0), 0)],
///     IsolationLevel::ReadUncommitted,
/// );
/// futures::executor::block_on(wait)?;
/// # Ok::<(), strom::Error>(())
/// ```
#[cfg(feature = "async")]
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct DataWait {
    inner: Arc<Inner>,
    positions: Vec<(TopicPartition, u64)>,
    isolation: IsolationLevel,
    /// Registered with every watched partition from the first poll on.
    waiter: Option<Arc<crate::log::notify::Waiter>>,
    /// The partitions, their topics and positions.
    watched: Vec<(Arc<Topic>, Arc<PartitionLog>, u64)>,
}

#[cfg(feature = "async")]
impl DataWait {
    /// Whether the wait is over; registers the waiter with the partitions first if not yet.
    fn ready(&mut self, waiter: &Arc<crate::log::notify::Waiter>) -> bool {
        if self.inner.check_open().is_err() || self.positions.is_empty() {
            return true;
        }
        if self.watched.is_empty() {
            for (tp, offset) in &self.positions {
                let Ok(topic) = self.inner.existing_topic(&tp.topic) else {
                    return true;
                };
                let Ok(log) = topic.partition(tp.partition).map(Arc::clone) else {
                    return true;
                };
                log.notify().register(waiter);
                self.watched.push((topic, log, *offset));
            }
        }
        // After registering: an append after this check wakes the waiter.
        self.watched.iter().any(|(topic, log, offset)| {
            let end = match self.isolation {
                IsolationLevel::ReadUncommitted => log.high_watermark(),
                IsolationLevel::ReadCommitted => log.last_stable_offset(),
            };
            !topic.is_current()
                || end > *offset
                || *offset > log.high_watermark()
                || *offset < log.log_start_offset()
        }) || self.inner.check_open().is_err()
    }

    fn unregister(&mut self) {
        if let Some(waiter) = &self.waiter {
            for (_, log, _) in self.watched.drain(..) {
                log.notify().unregister(waiter);
            }
        }
    }
}

#[cfg(feature = "async")]
impl std::future::Future for DataWait {
    type Output = Result<()>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<()>> {
        let this = self.get_mut();
        let waiter = Arc::clone(
            this.waiter
                .get_or_insert_with(crate::log::notify::Waiter::task),
        );
        // Before any check: a wake-up after it reaches this waker.
        waiter.set_waker(cx.waker());
        if this.ready(&waiter) {
            this.unregister();
            this.positions.clear();
            return std::task::Poll::Ready(Ok(()));
        }
        std::task::Poll::Pending
    }
}

#[cfg(feature = "async")]
impl Drop for DataWait {
    fn drop(&mut self) {
        self.unregister();
    }
}
