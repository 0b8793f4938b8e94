//! Transactions: exactly-once read-process-write, as Kafka's transactional producer.
//!
//! A [`TransactionalProducer`] writes records to any partitions and commits a consumer
//! group's offsets in one atomic step: consumers reading with
//! [`IsolationLevel::ReadCommitted`](crate::IsolationLevel::ReadCommitted) see all of a
//! transaction's records or none, and the offsets move exactly when the records become
//! visible. Records are in the log as soon as they are sent; each partition a transaction
//! wrote gets a commit or abort marker (taking one offset, as in Kafka) when it ends. The
//! coordinator keeping each transaction's state durably is in [`coordinator`].

pub(crate) mod coordinator;
mod description;
mod group_commit;
mod producer_state;

use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;

use crate::broker::{now_ms, Inner};
use crate::error::{Error, Result};
use crate::group::GroupMetadata;
use crate::log::PartitionLog;
use crate::offsets::{check_metadata, OffsetAndMetadata};
use crate::producer::{json_record, AppendedBatch, Producer, Stamp};
use crate::record::{Record, RecordMetadata, TopicPartition};
use crate::storage::batch::{self, Origin};
use crate::topic::Topic;
use coordinator::TxnEntry;
pub use description::{TransactionDescription, TransactionState};
pub use producer_state::{AbortTransactionSpec, ProducerState};

/// A producer whose sends belong to transactions: committed or aborted as a whole, together
/// with the consumer offsets sent with them (Kafka's `KafkaProducer` with a
/// `transactional.id`).
///
/// Made by [`Broker::transactional_producer`](crate::Broker::transactional_producer).
/// Creating one fences every earlier producer with the same transactional id (their calls
/// return [`Error::Fenced`]) and aborts the transaction such a producer left open, so a
/// restarted process never races its previous incarnation. Dropping it with a transaction
/// open aborts the transaction.
///
/// ```
/// use std::time::Duration;
/// use strom::{Broker, ConsumerConfig, IsolationLevel, OffsetReset, Record, TopicConfig};
///
/// let dir = tempfile::tempdir()?;
/// let broker = Broker::open(dir.path())?;
/// broker.create_topic("payments", TopicConfig::default())?;
/// let producer = broker.transactional_producer("payments-writer")?;
///
/// producer.begin_transaction()?;
/// producer.send("payments", Record::new("paid 950").key("user-42"))?;
/// producer.abort_transaction()?; // never seen by ReadCommitted consumers
///
/// producer.begin_transaction()?;
/// producer.send("payments", Record::new("paid 12").key("user-7"))?;
/// producer.commit_transaction()?; // on stable storage when this returns
///
/// let mut consumer = broker.consumer(
///     ConsumerConfig::default()
///         .auto_offset_reset(OffsetReset::Earliest)
///         .isolation_level(IsolationLevel::ReadCommitted),
/// );
/// consumer.assign(&[strom::TopicPartition::new("payments", 0)])?;
/// let records = consumer.poll(Duration::from_secs(1))?;
/// let values: Vec<&[u8]> = records.iter().map(|r| r.value()).collect();
/// assert_eq!(values, [&b"paid 12"[..]]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TransactionalProducer {
    producer: Producer,
    inner: Arc<Inner>,
    id: String,
    producer_id: i64,
    epoch: i16,
    entry: Arc<Mutex<TxnEntry>>,
}

impl TransactionalProducer {
    pub(crate) fn new(inner: Arc<Inner>, id: &str) -> Result<Self> {
        inner.check_open()?;
        if id.is_empty() {
            return Err(Error::InvalidConfig {
                reason: "a transactional id must not be empty".into(),
            });
        }
        let entry = inner.transactions().register(&inner, id)?;
        let (producer_id, epoch) = {
            let e = entry.lock();
            (e.producer_id, e.epoch)
        };
        Ok(Self {
            producer: Producer::new(Arc::clone(&inner)),
            inner,
            id: id.to_string(),
            producer_id,
            epoch,
            entry,
        })
    }

    /// Its transactional id.
    pub fn transactional_id(&self) -> &str {
        &self.id
    }

    /// The producer id the coordinator gave this producer's transactional id (what Kafka's
    /// `InitProducerId` returns). Batches this producer writes carry it.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// let first = broker.transactional_producer("payments-writer")?;
    /// let second = broker.transactional_producer("payments-writer")?; // fences the first
    /// assert_eq!(second.producer_id(), first.producer_id());
    /// assert!(second.producer_id() >= 0);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn producer_id(&self) -> i64 {
        self.producer_id
    }

    /// This producer's epoch: one more than the producer with the same transactional id
    /// before it, which it fenced.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// let first = broker.transactional_producer("payments-writer")?;
    /// let second = broker.transactional_producer("payments-writer")?;
    /// assert_eq!(second.epoch(), first.epoch() + 1);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn epoch(&self) -> i16 {
        self.epoch
    }

    /// Registers partitions with the transaction, opening one if none is open (Kafka's
    /// `AddPartitionsToTxn`: a Kafka client's transaction begins implicitly with its first
    /// partition). Each partition gets the transaction's marker when it ends. With no
    /// partitions, it only opens a transaction if none is open: what Kafka's
    /// `AddOffsetsToTxn` needs before `TxnOffsetCommit`
    /// ([`send_offsets_to_transaction`](Self::send_offsets_to_transaction)).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("payments", strom::TopicConfig::default())?;
    /// use strom::TopicPartition;
    ///
    /// let producer = broker.transactional_producer("payments-writer")?;
    /// producer.add_partitions(&[TopicPartition::new("payments", 0)])?; // opens a transaction
    /// producer.add_partitions(&[])?; // one is open: nothing more
    /// producer.abort_transaction()?;
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownTopic`] or [`Error::InvalidPartition`] for a partition that does not
    /// exist (nothing is registered then); [`Error::TransactionState`] while a commit that
    /// failed after its decision waits to be retried; [`Error::Fenced`]; [`Error::Io`];
    /// [`Error::Closed`].
    pub fn add_partitions(&self, partitions: &[TopicPartition]) -> Result<()> {
        let logs = partitions
            .iter()
            .map(|tp| partition_log(&self.inner, tp))
            .collect::<Result<Vec<_>>>()?;
        self.with_entry(|entry| {
            match &entry.open {
                None => coordinator::begin(entry)?,
                Some(open) if open.is_decided() => {
                    return Err(Error::TransactionState(format!(
                        "transactional id {:?}: the commit was decided; retry commit_transaction before adding partitions",
                        self.id
                    )))
                }
                Some(_) => {}
            }
            for (tp, log) in partitions.iter().zip(&logs) {
                coordinator::add_partition(&self.inner, entry, tp, log)?;
            }
            Ok(())
        })
    }

    /// Appends a record batch a Kafka client produced (format version 2, any compression)
    /// to `tp` as part of the open transaction, without re-encoding it. The batch must be
    /// transactional and carry this producer's id and epoch, and `tp` must have been added
    /// with [`add_partitions`](Self::add_partitions) (Kafka refuses a produce to a
    /// partition not added to the transaction too). The batch is checked whole, its
    /// records included, before it is stored; its producer sequence numbers are the log's
    /// to check.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("payments", strom::TopicConfig::default())?;
    /// use strom::storage::batch::{self, Entry, Origin};
    /// use strom::TopicPartition;
    ///
    /// let producer = broker.transactional_producer("payments-writer")?;
    /// let tp = TopicPartition::new("payments", 0);
    /// producer.add_partitions(&[tp.clone()])?;
    ///
    /// // A batch as a Kafka client encodes it: transactional, this producer's id and epoch.
    /// let entries = [Entry { timestamp: 1_700_000_000_000, key: None, value: Some(b"paid 12"), headers: &[] }];
    /// let origin = Origin { base_sequence: 0, ..Origin::transactional(producer.producer_id(), producer.epoch()) };
    /// let mut encoded = vec![0; batch::encoded_len(&entries)];
    /// batch::encode_with(&mut encoded, 0, origin, &entries)?;
    ///
    /// let appended = producer.append_batch(&tp, &encoded)?;
    /// assert_eq!((appended.base_offset, appended.last_offset), (0, 0));
    /// producer.commit_transaction()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::TransactionState`] with no transaction open or when `tp` was not added to
    /// it (Kafka's `INVALID_TXN_STATE`); [`Error::Fenced`] when this producer, or the
    /// batch's epoch, is an older one's; [`Error::InvalidRecord`], naming the partition, for
    /// a batch that is not a transactional version 2 batch of this producer's id and epoch
    /// (a control batch included); [`Error::Encode`] for a batch that fails its checks;
    /// [`Error::UnknownTopic`], [`Error::InvalidPartition`]; [`Error::Io`],
    /// [`Error::Poisoned`]; [`Error::Closed`].
    pub fn append_batch(&self, tp: &TopicPartition, batch: &[u8]) -> Result<AppendedBatch> {
        let log = partition_log(&self.inner, tp)?;
        self.with_entry(|entry| {
            match &entry.open {
                Some(open) if open.has_partition(tp) => {}
                Some(_) => {
                    return Err(Error::TransactionState(format!(
                        "transactional id {:?}: partition {tp} was not added to the transaction (AddPartitionsToTxn first)",
                        self.id
                    )))
                }
                None => {
                    return Err(Error::TransactionState(format!(
                        "transactional id {:?}: a batch for {tp} with no transaction open",
                        self.id
                    )))
                }
            }
            let invalid = |reason: String| Error::InvalidRecord {
                topic: tp.topic.clone(),
                reason: format!("batch for partition {tp}: {reason}"),
            };
            let header = batch::read_header(batch)
                .map_err(|e| invalid(format!("not a record batch: {e}")))?;
            if header.version != batch::FORMAT_VERSION {
                return Err(invalid(format!(
                    "format version {}, where a transaction's batches are version {}",
                    header.version,
                    batch::FORMAT_VERSION
                )));
            }
            if header.is_control() || !header.is_transactional() {
                return Err(invalid(
                    "a transaction takes transactional data batches only".into(),
                ));
            }
            let origin = header.origin;
            if origin.producer_id != entry.producer_id {
                return Err(invalid(format!(
                    "producer id {}, where transactional id {:?} has {}",
                    origin.producer_id, self.id, entry.producer_id
                )));
            }
            if origin.producer_epoch < entry.epoch {
                return Err(Error::Fenced {
                    transactional_id: self.id.clone(),
                });
            }
            if origin.producer_epoch != entry.epoch {
                return Err(invalid(format!(
                    "producer epoch {}, where transactional id {:?} is at {}",
                    origin.producer_epoch, self.id, entry.epoch
                )));
            }
            // The log checks the batch's sequence numbers too: a retry is a duplicate.
            log.append_encoded(batch, now_ms())
        })
    }

    /// Runs `f` on this producer's entry, if it is still the current producer of its id.
    fn with_entry<T>(&self, f: impl FnOnce(&mut TxnEntry) -> Result<T>) -> Result<T> {
        self.inner.check_open()?;
        let mut entry = self.entry.lock();
        if entry.producer_id != self.producer_id || entry.epoch != self.epoch {
            return Err(Error::Fenced {
                transactional_id: self.id.clone(),
            });
        }
        f(&mut entry)
    }

    /// Opens a transaction.
    ///
    /// # Errors
    /// [`Error::TransactionState`] if one is open; [`Error::Fenced`]; [`Error::Closed`].
    pub fn begin_transaction(&self) -> Result<()> {
        self.with_entry(coordinator::begin)
    }

    /// Sends a record as part of the open transaction; as [`Producer::send`] otherwise
    /// (partitioning, validation, the metadata returned).
    ///
    /// # Errors
    /// [`Error::TransactionState`] outside a transaction; [`Error::Fenced`]; then as
    /// [`Producer::send`].
    pub fn send(&self, topic: &str, record: Record) -> Result<RecordMetadata> {
        self.with_entry(|entry| {
            let mut stamp = TxnStamp::new(&self.inner, entry)?;
            self.producer.send_as(topic, record, &mut stamp)
        })
    }

    /// Sends records as part of the open transaction; as [`Producer::send_batch`]
    /// otherwise.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn send_batch(
        &self,
        topic: &str,
        records: impl IntoIterator<Item = Record>,
    ) -> Result<Vec<RecordMetadata>> {
        self.with_entry(|entry| {
            let mut stamp = TxnStamp::new(&self.inner, entry)?;
            self.producer.send_batch_as(topic, records, &mut stamp)
        })
    }

    /// [`send_batch`](Self::send_batch) without the records' metadata, for the streams
    /// runtime, which drops it.
    pub(crate) fn send_batch_unreported(
        &self,
        topic: &str,
        records: impl IntoIterator<Item = Record>,
    ) -> Result<()> {
        self.with_entry(|entry| {
            let mut stamp = TxnStamp::new(&self.inner, entry)?;
            self.producer
                .send_batch_unreported_as(topic, records, &mut stamp)
        })
    }

    /// Sends `value` as JSON as part of the open transaction; as [`Producer::send_json`]
    /// otherwise.
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

    /// Adds consumer offsets to the open transaction: when it commits, they become the
    /// group's committed offsets, atomically with its records (Kafka's
    /// `sendOffsetsToTransaction`, or `TxnOffsetCommit` from a Kafka client, whose
    /// `AddOffsetsToTxn` before it is [`add_partitions`](Self::add_partitions) with no
    /// partitions). `group` is the consuming
    /// [`Consumer::group_metadata`](crate::Consumer::group_metadata), or a remote
    /// [`GroupMember`](crate::GroupMember)'s group, generation and member id; if the member
    /// is no longer in the group's current generation the transaction is aborted.
    ///
    /// # Errors
    /// [`Error::CommitFailed`] for a stale generation or a member that left (the
    /// transaction is aborted); [`Error::TransactionState`] outside a transaction;
    /// [`Error::Fenced`]; [`Error::Closed`].
    pub fn send_offsets_to_transaction(
        &self,
        offsets: &[(TopicPartition, u64)],
        group: &GroupMetadata,
    ) -> Result<()> {
        let offsets: Vec<(TopicPartition, OffsetAndMetadata)> = offsets
            .iter()
            .map(|(tp, offset)| (tp.clone(), OffsetAndMetadata::new(*offset)))
            .collect();
        self.with_entry(|entry| coordinator::add_offsets(&self.inner, entry, &offsets, group))
    }

    /// As [`send_offsets_to_transaction`](Self::send_offsets_to_transaction), each offset
    /// with its metadata and leader epoch (Kafka's `sendOffsetsToTransaction` with
    /// `OffsetAndMetadata`, or `TxnOffsetCommit`): when the transaction commits, they are
    /// the group's committed offsets with that metadata, as
    /// [`Broker::committed_offsets_with_metadata`](crate::Broker::committed_offsets_with_metadata)
    /// reads them. Offsets sent again for a partition in the same transaction replace the
    /// earlier ones.
    ///
    /// # Errors
    /// [`Error::OffsetMetadataTooLarge`], and nothing added (the transaction stays open),
    /// for metadata longer than
    /// [`OffsetAndMetadata::MAX_METADATA_BYTES`](crate::OffsetAndMetadata::MAX_METADATA_BYTES);
    /// otherwise as [`send_offsets_to_transaction`](Self::send_offsets_to_transaction).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use strom::{Broker, GroupMetadata, OffsetAndMetadata, Record, TopicConfig, TopicPartition};
    ///
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("in", TopicConfig::default())?;
    /// broker.create_topic("out", TopicConfig::default())?;
    /// let producer = broker.transactional_producer("copier")?;
    /// // A consumer outside any group's membership: its group, generation 0, no member id.
    /// let group = GroupMetadata {
    ///     group_id: "copiers".to_string(),
    ///     generation: 0,
    ///     member_id: String::new(),
    /// };
    /// let tp = TopicPartition::new("in", 0);
    /// let done = OffsetAndMetadata::with_metadata(1, "batch 7");
    /// producer.begin_transaction()?;
    /// producer.send("out", Record::new("copied"))?;
    /// producer.send_offsets_with_metadata_to_transaction(&[(tp.clone(), done.clone())], &group)?;
    /// producer.commit_transaction()?;
    /// assert_eq!(broker.committed_offsets_with_metadata("copiers")?, [(tp, done)]);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn send_offsets_with_metadata_to_transaction(
        &self,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
        group: &GroupMetadata,
    ) -> Result<()> {
        check_metadata(&group.group_id, offsets)?;
        self.with_entry(|entry| coordinator::add_offsets(&self.inner, entry, offsets, group))
    }

    /// Commits the open transaction. When it returns, the commit is on stable storage
    /// (fsynced, whatever the [`SyncPolicy`](crate::SyncPolicy)): every record of the
    /// transaction is visible to `ReadCommitted` consumers and its offsets are the groups'
    /// committed offsets. If the process dies before it returns, the next
    /// [`Broker::open`](crate::Broker::open) finds the transaction wholly committed or
    /// wholly aborted.
    ///
    /// # Errors
    /// [`Error::CommitFailed`] when offsets were sent for a generation the group has moved
    /// on from (the transaction is aborted); [`Error::TransactionState`] with none open;
    /// [`Error::Fenced`]; [`Error::Io`]; [`Error::Closed`].
    pub fn commit_transaction(&self) -> Result<()> {
        let _span =
            tracing::debug_span!("commit_transaction", transactional_id = %self.id).entered();
        self.with_entry(|entry| coordinator::commit(&self.inner, entry))
    }

    /// Aborts the open transaction: its records stay in the log but `ReadCommitted`
    /// consumers never see them, and its offsets are not committed.
    ///
    /// # Errors
    /// [`Error::TransactionState`] with none open (or after a commit was decided);
    /// [`Error::Fenced`]; [`Error::Io`]; [`Error::Closed`].
    pub fn abort_transaction(&self) -> Result<()> {
        self.with_entry(|entry| coordinator::abort(&self.inner, entry))
    }
}

impl Drop for TransactionalProducer {
    fn drop(&mut self) {
        let abandoned = self.with_entry(|entry| match &entry.open {
            Some(open) if !open.is_decided() => coordinator::abort(&self.inner, entry),
            _ => Ok(()),
        });
        if let Err(e) = abandoned {
            if !matches!(e, Error::Fenced { .. } | Error::Closed) {
                tracing::warn!(
                    transactional_id = %self.id,
                    error = &e as &dyn std::error::Error,
                    "could not abort the transaction of a dropped producer; the next producer with its id or the next open aborts it"
                );
            }
        }
    }
}

/// The log of `tp`.
fn partition_log(inner: &Inner, tp: &TopicPartition) -> Result<Arc<PartitionLog>> {
    inner
        .existing_topic(&tp.topic)?
        .partition(tp.partition)
        .map(Arc::clone)
}

/// Stamps the sends of an open transaction: its producer id and epoch, and each partition
/// registered before its first record.
struct TxnStamp<'a> {
    inner: &'a Inner,
    entry: &'a mut TxnEntry,
    origin: Origin,
}

impl<'a> TxnStamp<'a> {
    fn new(inner: &'a Inner, entry: &'a mut TxnEntry) -> Result<Self> {
        if entry.open.is_none() {
            return Err(Error::TransactionState(
                "send outside a transaction: call begin_transaction first".into(),
            ));
        }
        let origin = entry.origin();
        Ok(Self {
            inner,
            entry,
            origin,
        })
    }
}

impl Stamp for TxnStamp<'_> {
    fn origin(&self) -> Origin {
        self.origin
    }

    fn before_append(&mut self, topic: &Topic, partition: u32, log: &PartitionLog) -> Result<()> {
        let tp = TopicPartition::new(topic.name().to_string(), partition);
        coordinator::add_partition(self.inner, self.entry, &tp, log)
    }
}
