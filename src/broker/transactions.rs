//! Transaction administration, as Kafka's admin client lists and describes transactions.

use super::{now_ms, Broker};
use crate::error::Result;
use crate::record::TopicPartition;
use crate::storage::batch::{ControlRecord, ControlType, Origin};
use crate::transaction::{AbortTransactionSpec, ProducerState, TransactionDescription};

impl Broker {
    /// Every transactional id this broker has seen since it opened (with the ids of
    /// transactions a crash left to recover), sorted: its producer id and epoch, and the
    /// transaction it has open. As Kafka's `listTransactions` and `describeTransactions`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// use strom::{Broker, Record, TopicConfig, TransactionState};
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("payments", TopicConfig::default())?;
    /// let producer = broker.transactional_producer("payments-1")?;
    /// producer.begin_transaction()?;
    /// producer.send("payments", Record::new("10.00"))?;
    /// let listed = broker.list_transactions()?;
    /// assert_eq!(listed[0].transactional_id, "payments-1");
    /// assert_eq!(listed[0].state, TransactionState::Ongoing);
    /// assert_eq!(listed[0].partitions.len(), 1);
    /// producer.commit_transaction()?;
    /// assert_eq!(broker.list_transactions()?[0].state, TransactionState::CompleteCommit);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn list_transactions(&self) -> Result<Vec<TransactionDescription>> {
        self.inner.check_open()?;
        Ok(self
            .inner
            .transactions()
            .describe_all(self.inner.config.transaction_timeout))
    }

    /// The producers a partition knows, by producer id: each one's epoch, last sequence
    /// number and timestamp, the coordinator epoch of its last transaction marker, and the
    /// first offset of the transaction it has open there. As Kafka's `describeProducers`
    /// (`kafka-transactions describe-producers`).
    ///
    /// The partition keeps this for the producers of its last segment (it rebuilds it from
    /// that segment's batch headers when the broker opens) and for every producer with a
    /// transaction open in it; an idempotent or transactional producer whose batches all lie
    /// in older segments is no longer listed, as Kafka forgets expired producers.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// use strom::{Broker, Record, TopicConfig, TopicPartition};
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("payments", TopicConfig::default())?;
    /// let producer = broker.transactional_producer("payments-1")?;
    /// producer.begin_transaction()?;
    /// producer.send("payments", Record::new("10.00"))?;
    /// let producers = broker.describe_producers(&TopicPartition::new("payments", 0))?;
    /// assert_eq!(producers[0].producer_id, producer.producer_id());
    /// assert_eq!(producers[0].current_transaction_start_offset, Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownTopic`](crate::Error::UnknownTopic),
    /// [`Error::InvalidPartition`](crate::Error::InvalidPartition);
    /// [`Error::ReadOnly`](crate::Error::ReadOnly) in a directory opened read-only;
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn describe_producers(&self, tp: &TopicPartition) -> Result<Vec<ProducerState>> {
        let topic = self.inner.existing_topic(&tp.topic)?;
        let log = topic.partition(tp.partition)?;
        Ok(log
            .producers()?
            .into_iter()
            .map(|(p, open)| ProducerState {
                producer_id: p.producer_id,
                producer_epoch: p.epoch,
                last_sequence: p.last_sequence,
                last_timestamp: p.last_timestamp,
                coordinator_epoch: (p.coordinator_epoch >= 0).then_some(p.coordinator_epoch),
                current_transaction_start_offset: open,
            })
            .collect())
    }

    /// Ends a transaction left hanging in one partition by writing an abort marker for its
    /// producer there, as Kafka's `abortTransaction` (`kafka-transactions abort`, which
    /// sends `WriteTxnMarkers`); returns the marker's offset.
    ///
    /// Readers of committed data skip the transaction's records in the partition, and its
    /// last stable offset moves past them. This is for transactions no coordinator will end
    /// (a producer that wrote to a partition its coordinator did not record): the
    /// coordinator is not told, so a transaction it still has open goes on, and ends in the
    /// other partitions as it would have. As in Kafka the marker is written even when the
    /// producer has no transaction open in the partition.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// use strom::{AbortTransactionSpec, Broker, Record, TopicConfig, TopicPartition};
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("payments", TopicConfig::default())?;
    /// let tp = TopicPartition::new("payments", 0);
    /// let producer = broker.transactional_producer("payments-1")?;
    /// producer.begin_transaction()?;
    /// producer.send("payments", Record::new("10.00"))?;
    /// let spec = AbortTransactionSpec::new(tp.clone(), producer.producer_id(), producer.epoch());
    /// assert_eq!(broker.abort_transaction(&spec)?, 1);
    /// assert_eq!(broker.describe_producers(&tp)?[0].current_transaction_start_offset, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidProducerEpoch`](crate::Error::InvalidProducerEpoch) when the
    /// partition knows a newer epoch of the producer (nothing is written);
    /// [`Error::UnknownTopic`](crate::Error::UnknownTopic),
    /// [`Error::InvalidPartition`](crate::Error::InvalidPartition);
    /// [`Error::ReadOnly`](crate::Error::ReadOnly); [`Error::Io`](crate::Error::Io);
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn abort_transaction(&self, spec: &AbortTransactionSpec) -> Result<u64> {
        let tp = &spec.topic_partition;
        let topic = self.inner.existing_topic(&tp.topic)?;
        let log = topic.partition(tp.partition)?;
        let origin = Origin::transactional(spec.producer_id, spec.producer_epoch);
        let marker = ControlRecord {
            kind: ControlType::Abort,
            coordinator_epoch: spec.coordinator_epoch,
        };
        let offset = log.append_foreign_marker(origin, marker, now_ms())?;
        tracing::warn!(
            topic = %tp.topic,
            partition = tp.partition,
            producer_id = spec.producer_id,
            offset,
            "aborted a transaction by an administrator's request"
        );
        Ok(offset)
    }
}
