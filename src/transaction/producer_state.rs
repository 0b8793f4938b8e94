//! What a partition knows of the producers that wrote to it, and how an administrator ends
//! a transaction left hanging in it: Kafka's `describeProducers` and `abortTransaction`
//! (`kafka-transactions describe-producers` and `abort`).

use crate::record::TopicPartition;

/// One producer of a partition, as the partition's state knows it (Kafka's
/// `ProducerState`, what `DescribeProducers` answers).
///
/// Made by [`Broker::describe_producers`](crate::Broker::describe_producers).
///
/// ```
/// let state = strom::ProducerState {
///     producer_id: 4, producer_epoch: 0, last_sequence: -1, last_timestamp: 1_700_000_000_000,
///     coordinator_epoch: None, current_transaction_start_offset: Some(10),
/// };
/// assert!(state.current_transaction_start_offset.is_some());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerState {
    /// The producer id.
    pub producer_id: i64,
    /// The newest epoch the partition has seen of it.
    pub producer_epoch: i16,
    /// The sequence number of its last record; −1 for a producer without sequence numbers
    /// (strom's own, or one that only has a transaction marker here).
    pub last_sequence: i32,
    /// The largest timestamp of its last batch or transaction marker (ms since the epoch).
    pub last_timestamp: i64,
    /// The coordinator epoch of its last transaction marker; `None` before any.
    pub coordinator_epoch: Option<i32>,
    /// The first offset of the transaction it has open in the partition, if it has one.
    pub current_transaction_start_offset: Option<u64>,
}

/// A transaction to abort in one partition: whose, and at which epochs (Kafka's
/// `AbortTransactionSpec`). Given to
/// [`Broker::abort_transaction`](crate::Broker::abort_transaction).
///
/// ```
/// use strom::{AbortTransactionSpec, TopicPartition};
/// let spec = AbortTransactionSpec::new(TopicPartition::new("payments", 0), 4, 0);
/// assert_eq!(spec.coordinator_epoch, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbortTransactionSpec {
    /// The partition the transaction hangs in.
    pub topic_partition: TopicPartition,
    /// Its producer id.
    pub producer_id: i64,
    /// Its producer's epoch; a marker older than the epoch the partition knows is refused.
    pub producer_epoch: i16,
    /// The coordinator epoch written into the marker.
    pub coordinator_epoch: i32,
}

impl AbortTransactionSpec {
    /// The abort of `producer_id`'s transaction at `producer_epoch` in `topic_partition`,
    /// with coordinator epoch 0 (strom's coordinator's).
    ///
    /// ```
    /// use strom::{AbortTransactionSpec, TopicPartition};
    /// let spec = AbortTransactionSpec::new(TopicPartition::new("payments", 0), 4, 1);
    /// assert_eq!((spec.producer_id, spec.producer_epoch), (4, 1));
    /// ```
    pub fn new(topic_partition: TopicPartition, producer_id: i64, producer_epoch: i16) -> Self {
        Self {
            topic_partition,
            producer_id,
            producer_epoch,
            coordinator_epoch: 0,
        }
    }
}
