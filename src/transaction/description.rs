//! What a broker can say about its transactional ids, as Kafka's admin client lists and
//! describes transactions (`kafka-transactions list` and `describe`).

use std::time::Duration;

use crate::broker::now_ms;
use crate::record::TopicPartition;
use crate::storage::batch::ControlType;

use super::coordinator::TxnCoordinator;

/// Where a transactional id's transaction is, under Kafka's names for the states.
///
/// A transaction that ended stays [`CompleteCommit`](Self::CompleteCommit) or
/// [`CompleteAbort`](Self::CompleteAbort) until the next one writes, or a new producer
/// registers the id ([`Empty`](Self::Empty) again), as in Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransactionState {
    /// No transaction open, or one open that has written nothing yet.
    Empty,
    /// Open: it has written to partitions or added offsets.
    Ongoing,
    /// Its commit was decided; the markers are being written.
    PrepareCommit,
    /// None open; the last one committed.
    CompleteCommit,
    /// None open; the last one aborted (by its producer, or by the broker when it timed out
    /// or its producer was fenced).
    CompleteAbort,
}

impl TransactionState {
    /// Kafka's name for the state (`Empty`, `Ongoing`, `PrepareCommit`, `CompleteCommit`,
    /// `CompleteAbort`).
    ///
    /// ```
    /// assert_eq!(strom::TransactionState::Ongoing.name(), "Ongoing");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::Ongoing => "Ongoing",
            Self::PrepareCommit => "PrepareCommit",
            Self::CompleteCommit => "CompleteCommit",
            Self::CompleteAbort => "CompleteAbort",
        }
    }
}

/// One transactional id: its producer, and the transaction it has open.
///
/// Made by [`Broker::list_transactions`](crate::Broker::list_transactions).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionDescription {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id its current producer has.
    pub producer_id: i64,
    /// That producer's epoch.
    pub epoch: i16,
    /// Where its transaction is.
    pub state: TransactionState,
    /// When the open transaction began, in ms since the epoch; with none open, when the
    /// last one began (as Kafka reports it), if one ended since the broker opened.
    pub start_ms: Option<i64>,
    /// The partitions the open transaction has written to, sorted.
    pub partitions: Vec<TopicPartition>,
    /// How long a transaction may stay open before the broker aborts it (the broker's
    /// [`BrokerConfig::transaction_timeout`](crate::BrokerConfig::transaction_timeout)).
    pub timeout: Duration,
}

impl TxnCoordinator {
    /// Every transactional id this broker knows, sorted by id; `timeout` is the broker's
    /// transaction timeout.
    pub(crate) fn describe_all(&self, timeout: Duration) -> Vec<TransactionDescription> {
        let entries = self.entries();
        let now = now_ms();
        let mut described: Vec<TransactionDescription> = entries
            .iter()
            .map(|entry| {
                let entry = entry.lock();
                let open = entry.open.as_ref();
                let partitions: Vec<TopicPartition> = open
                    .map(|o| o.partitions().cloned().collect())
                    .unwrap_or_default();
                let state = match open {
                    Some(o) if o.is_decided() => TransactionState::PrepareCommit,
                    Some(o) if !partitions.is_empty() || o.has_offsets() => {
                        TransactionState::Ongoing
                    }
                    // Begun, nothing written yet: still the last one's end, as Kafka (which
                    // hears of a transaction only with its first partition) reports it.
                    _ => match entry.completed {
                        Some(ControlType::Commit) => TransactionState::CompleteCommit,
                        Some(ControlType::Abort) => TransactionState::CompleteAbort,
                        None => TransactionState::Empty,
                    },
                };
                let start_ms = open
                    .map(|o| {
                        let age = o.age().min(Duration::from_secs(u64::from(u32::MAX)));
                        now - i64::try_from(age.as_millis()).unwrap_or(i64::MAX)
                    })
                    .or(entry.last_start_ms);
                TransactionDescription {
                    transactional_id: entry.id().to_string(),
                    producer_id: entry.producer_id,
                    epoch: entry.epoch,
                    state,
                    start_ms,
                    partitions,
                    timeout,
                }
            })
            .collect();
        described.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        described
    }
}
