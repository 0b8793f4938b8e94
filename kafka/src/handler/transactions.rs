//! Transactions: InitProducerId with a transactional id, AddPartitionsToTxn,
//! AddOffsetsToTxn, TxnOffsetCommit and EndTxn, over strom's transactional producers.
//!
//! Each transactional id has one [`TransactionalProducer`] here, made by its client's
//! InitProducerId (which fences the one before it, aborting what it left open) and found
//! again by every later request, which names it with its producer id and epoch.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProducerId, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kafka_protocol::ResponseError;
use strom::{
    AppendedBatch, GroupMetadata, OffsetAndMetadata, TopicPartition, TransactionalProducer,
};

use super::{decode, encode, error_code, RequestError};
use crate::bounds::{Checked, Walk};
use crate::server::Shared;

/// The transactional producer of every transactional id a client initialised.
#[derive(Debug, Default)]
pub(crate) struct Transactions(Mutex<HashMap<String, Arc<TransactionalProducer>>>);

impl Transactions {
    /// A new producer for `transactional_id`, fencing the one before it.
    fn init(
        &self,
        broker: &strom::Broker,
        transactional_id: &str,
    ) -> strom::Result<Arc<TransactionalProducer>> {
        let mut producers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Under the lock: two InitProducerIds for one id keep the newer producer.
        let producer = Arc::new(broker.transactional_producer(transactional_id)?);
        let previous = producers.insert(transactional_id.to_owned(), Arc::clone(&producer));
        drop(producers);
        // Fenced by now: dropping it aborts nothing.
        drop(previous);
        Ok(producer)
    }

    /// The producer of `transactional_id` if the request's producer id and epoch are its.
    fn find(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
    ) -> Result<Arc<TransactionalProducer>, ResponseError> {
        let producers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let producer = producers
            .get(transactional_id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        if producer.producer_id() != producer_id {
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        if producer.epoch() != epoch {
            return Err(ResponseError::ProducerFenced);
        }
        Ok(Arc::clone(producer))
    }

    /// Appends a transactional batch a client produced to `tp`, in the open transaction of
    /// `transactional_id` — the Produce path's seam for a batch with the transactional bit.
    /// The batch's producer id and epoch must be those of the id's current producer: the
    /// error is the code answering the partition (INVALID_PRODUCER_ID_MAPPING for an id no
    /// InitProducerId made or another producer id, PRODUCER_FENCED for an older epoch,
    /// INVALID_TXN_STATE for a partition not added to the transaction).
    pub(crate) fn append_transactional(
        &self,
        transactional_id: &str,
        tp: &TopicPartition,
        batch: &[u8],
    ) -> Result<AppendedBatch, ResponseError> {
        // The batch names its producer: a fenced one is told so before anything else, as
        // Kafka does, whatever the state of the newer producer's transaction.
        let origin = strom::storage::batch::read_header(batch)
            .map_err(|_| ResponseError::CorruptMessage)?
            .origin;
        let producer = self.find(transactional_id, origin.producer_id, origin.producer_epoch)?;
        producer.append_batch(tp, batch).map_err(|e| {
            tracing::debug!(%tp, transactional_id, "transactional batch refused: {e}");
            match e {
                strom::Error::Fenced { .. } => ResponseError::ProducerFenced,
                strom::Error::TransactionState(_) => ResponseError::InvalidTxnState,
                strom::Error::InvalidRecord { ref reason, .. }
                    if reason.contains("producer id") =>
                {
                    ResponseError::InvalidProducerIdMapping
                }
                strom::Error::InvalidRecord { .. } | strom::Error::Encode { .. } => {
                    super::produce::invalid_batch_error(&e)
                }
                strom::Error::UnknownTopic { .. } | strom::Error::InvalidPartition { .. } => {
                    ResponseError::UnknownTopicOrPartition
                }
                _ => ResponseError::UnknownServerError,
            }
        })
    }
}

/// A fenced producer's error code: PRODUCER_FENCED from the versions that know it (the
/// clients of those map it to a fatal error), INVALID_PRODUCER_EPOCH before, as Kafka.
fn fenced(version: i16, since: i16) -> i16 {
    if version >= since {
        ResponseError::ProducerFenced.code()
    } else {
        ResponseError::InvalidProducerEpoch.code()
    }
}

/// The code of a failed lookup, with fencing as [`fenced`] says.
fn lookup_code(error: ResponseError, version: i16, since: i16) -> i16 {
    if error == ResponseError::ProducerFenced {
        fenced(version, since)
    } else {
        error.code()
    }
}

/// The code of a refused call of a producer.
fn txn_code(e: &strom::Error, version: i16, since: i16) -> i16 {
    match e {
        strom::Error::Fenced { .. } => fenced(version, since),
        strom::Error::TransactionState(_) => ResponseError::InvalidTxnState.code(),
        strom::Error::CommitFailed { .. } => ResponseError::IllegalGeneration.code(),
        strom::Error::Membership { kind, .. } => kind.kafka_code(),
        strom::Error::Closed => ResponseError::CoordinatorNotAvailable.code(),
        _ => error_code(e),
    }
}

// ---------------------------------------------------------------------------------------
// InitProducerId

pub(super) fn check_init_producer_id(walk: &mut Walk<'_>, version: i16) -> Checked {
    walk.string()?; // transactional id
    walk.i32()?; // transaction timeout
    if version >= 3 {
        walk.i64()?;
        walk.i16()?;
    }
    walk.tags()
}

pub(super) fn init_producer_id(
    shared: &Shared,
    version: i16,
    body: Bytes,
) -> Result<BytesMut, RequestError> {
    let request: InitProducerIdRequest = decode(body, version)?;
    let response = match request
        .transactional_id
        .as_ref()
        .map(|id| id.0.as_str())
        .filter(|id| !id.is_empty())
    {
        // A client retrying with the producer id and epoch it had (v3+, after an abortable
        // error) gets a new epoch only if they are still the id's: a fenced zombie's retry
        // must not fence the producer that replaced it.
        Some(id) if version >= 3 && request.producer_id.0 >= 0 => {
            match shared
                .transactions
                .find(id, request.producer_id.0, request.producer_epoch)
            {
                Err(ResponseError::ProducerFenced) => {
                    InitProducerIdResponse::default().with_error_code(fenced(version, 4))
                }
                _ => init_transactional(shared, id),
            }
        }
        Some(id) => init_transactional(shared, id),
        // An idempotent producer: a producer id of its own at epoch 0.
        None => match shared.broker.init_producer_id() {
            Ok(identity) => InitProducerIdResponse::default()
                .with_producer_id(ProducerId(identity.producer_id))
                .with_producer_epoch(identity.epoch),
            Err(e) => InitProducerIdResponse::default().with_error_code(error_code(&e)),
        },
    };
    encode(&response, version)
}

/// InitProducerId with a transactional id: a new producer for it, fencing the one before
/// (the transaction timeout is the broker's, `BrokerConfig::transaction_timeout`).
pub(crate) fn init_transactional(
    shared: &Shared,
    transactional_id: &str,
) -> InitProducerIdResponse {
    match shared.transactions.init(&shared.broker, transactional_id) {
        Ok(producer) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(producer.producer_id()))
            .with_producer_epoch(producer.epoch()),
        Err(e) => InitProducerIdResponse::default().with_error_code(match e {
            strom::Error::InvalidConfig { .. } => ResponseError::InvalidRequest.code(),
            strom::Error::Closed => ResponseError::CoordinatorNotAvailable.code(),
            _ => error_code(&e),
        }),
    }
}

// ---------------------------------------------------------------------------------------
// AddPartitionsToTxn (v0–v3: one transaction per request, as clients send it)

pub(super) fn check_add_partitions(walk: &mut Walk<'_>, _version: i16) -> Checked {
    walk.string()?;
    walk.i64()?;
    walk.i16()?;
    walk.array(|topic| {
        topic.string()?;
        topic.array(Walk::i32)?;
        topic.tags()
    })?;
    walk.tags()
}

pub(super) fn add_partitions(
    shared: &Shared,
    version: i16,
    body: Bytes,
) -> Result<BytesMut, RequestError> {
    let request: AddPartitionsToTxnRequest = decode(body, version)?;
    let partitions: Vec<(&str, i32)> = request
        .v3_and_below_topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |&p| (t.name.0.as_str(), p)))
        .collect();
    let found = shared.transactions.find(
        request.v3_and_below_transactional_id.0.as_str(),
        request.v3_and_below_producer_id.0,
        request.v3_and_below_producer_epoch,
    );
    let valid: Option<Vec<TopicPartition>> = partitions
        .iter()
        .map(|&(topic, p)| u32::try_from(p).ok().map(|p| TopicPartition::new(topic, p)))
        .collect();
    // As Kafka: all partitions are added or none; the one failing gets its error, the rest
    // OPERATION_NOT_ATTEMPTED.
    let mut failed: Option<((&str, i32), i16)> = None;
    let code = match (found, valid) {
        (Err(e), _) => lookup_code(e, version, 2),
        (Ok(_), None) => ResponseError::UnknownTopicOrPartition.code(),
        (Ok(producer), Some(tps)) => match producer.add_partitions(&tps) {
            Ok(()) => 0,
            Err(
                ref e @ (strom::Error::UnknownTopic { .. } | strom::Error::InvalidPartition { .. }),
            ) => {
                let bad = partitions.iter().copied().find(|&(topic, p)| {
                    shared.broker.describe_topic(topic).map_or(true, |d| {
                        usize::try_from(p).map_or(true, |p| p >= d.partitions.len())
                    })
                });
                failed = bad.map(|b| (b, error_code(e)));
                ResponseError::OperationNotAttempted.code()
            }
            Err(e) => txn_code(&e, version, 2),
        },
    };
    let results = request
        .v3_and_below_topics
        .iter()
        .map(|topic| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(topic.name.clone())
                .with_results_by_partition(
                    topic
                        .partitions
                        .iter()
                        .map(|&p| {
                            let code = match failed {
                                Some(((t, q), c)) if t == topic.name.0.as_str() && q == p => c,
                                _ => code,
                            };
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(p)
                                .with_partition_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    encode(
        &AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results),
        version,
    )
}

// ---------------------------------------------------------------------------------------
// AddOffsetsToTxn and TxnOffsetCommit

pub(super) fn check_add_offsets(walk: &mut Walk<'_>, _version: i16) -> Checked {
    walk.string()?;
    walk.i64()?;
    walk.i16()?;
    walk.string()?;
    walk.tags()
}

pub(super) fn add_offsets(
    shared: &Shared,
    version: i16,
    body: Bytes,
) -> Result<BytesMut, RequestError> {
    let request: AddOffsetsToTxnRequest = decode(body, version)?;
    let code = match shared.transactions.find(
        request.transactional_id.0.as_str(),
        request.producer_id.0,
        request.producer_epoch,
    ) {
        Err(e) => lookup_code(e, version, 2),
        Ok(_) if request.group_id.0.is_empty() => ResponseError::InvalidGroupId.code(),
        // No partition: only opens the transaction if none is, for the offsets to come.
        Ok(producer) => match producer.add_partitions(&[]) {
            Ok(()) => 0,
            Err(e) => txn_code(&e, version, 2),
        },
    };
    encode(
        &AddOffsetsToTxnResponse::default().with_error_code(code),
        version,
    )
}

pub(super) fn check_txn_offset_commit(walk: &mut Walk<'_>, version: i16) -> Checked {
    walk.string()?; // transactional id
    walk.string()?; // group id
    walk.i64()?;
    walk.i16()?;
    if version >= 3 {
        walk.i32()?; // generation
        walk.string()?; // member id
        walk.string()?; // group instance id
    }
    super::groups::check_offsets(walk, version >= 2)?;
    walk.tags()
}

pub(super) fn txn_offset_commit(
    shared: &Shared,
    version: i16,
    body: Bytes,
) -> Result<BytesMut, RequestError> {
    let request: TxnOffsetCommitRequest = decode(body, version)?;
    let mut offsets = Vec::new();
    let mut invalid = false;
    // Partitions whose metadata is too long are refused alone, as Kafka answers; the others
    // go to the transaction.
    let mut too_large = HashSet::new();
    for topic in &request.topics {
        for partition in &topic.partitions {
            // A null metadata is stored as "", as Kafka does.
            let metadata = partition
                .committed_metadata
                .as_ref()
                .map_or("", |m| m.as_str());
            match (
                u32::try_from(partition.partition_index),
                u64::try_from(partition.committed_offset),
            ) {
                (Ok(p), Ok(_)) if metadata.len() > OffsetAndMetadata::MAX_METADATA_BYTES => {
                    too_large.insert((topic.name.0.as_str(), p));
                }
                (Ok(p), Ok(offset)) => {
                    let committed = OffsetAndMetadata::with_metadata(offset, metadata)
                        .with_leader_epoch(super::groups::leader_epoch(
                            partition.committed_leader_epoch,
                        ));
                    offsets.push((TopicPartition::new(topic.name.0.as_str(), p), committed));
                }
                _ => invalid = true,
            }
        }
    }
    // Before v3 the request names no generation or member: the offsets are the group's
    // without a membership check, as from a standalone consumer.
    let group = GroupMetadata {
        group_id: request.group_id.0.as_str().to_owned(),
        generation: u64::try_from(request.generation_id).unwrap_or(0),
        member_id: request.member_id.as_str().to_owned(),
    };
    let code = if invalid {
        ResponseError::InvalidRequest.code()
    } else {
        match shared.transactions.find(
            request.transactional_id.0.as_str(),
            request.producer_id.0,
            request.producer_epoch,
        ) {
            // Kafka answers a fenced TxnOffsetCommit with INVALID_PRODUCER_EPOCH at every
            // version; its clients treat it as fencing.
            Err(e) => lookup_code(e, version, i16::MAX),
            Ok(producer) => {
                match producer.send_offsets_with_metadata_to_transaction(&offsets, &group) {
                    Ok(()) => 0,
                    Err(e) => txn_code(&e, version, i16::MAX),
                }
            }
        }
    };
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            TxnOffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(
                    topic
                        .partitions
                        .iter()
                        .map(|p| {
                            let refused = u32::try_from(p.partition_index)
                                .is_ok_and(|i| too_large.contains(&(topic.name.0.as_str(), i)));
                            TxnOffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(if refused && code == 0 {
                                    ResponseError::OffsetMetadataTooLarge.code()
                                } else {
                                    code
                                })
                        })
                        .collect(),
                )
        })
        .collect();
    encode(
        &TxnOffsetCommitResponse::default().with_topics(topics),
        version,
    )
}

// ---------------------------------------------------------------------------------------
// EndTxn

pub(super) fn check_end(walk: &mut Walk<'_>, _version: i16) -> Checked {
    walk.string()?;
    walk.i64()?;
    walk.i16()?;
    walk.boolean()?;
    walk.tags()
}

pub(super) fn end(shared: &Shared, version: i16, body: Bytes) -> Result<BytesMut, RequestError> {
    let request: EndTxnRequest = decode(body, version)?;
    let code = match shared.transactions.find(
        request.transactional_id.0.as_str(),
        request.producer_id.0,
        request.producer_epoch,
    ) {
        Err(e) => lookup_code(e, version, 2),
        Ok(producer) if request.committed => match producer.commit_transaction() {
            Ok(()) => 0,
            Err(e) => txn_code(&e, version, 2),
        },
        Ok(producer) => match producer.abort_transaction() {
            Ok(()) => 0,
            // Nothing open: the transaction was already aborted (a refused TxnOffsetCommit
            // aborts it), which is what the client asks for. A commit already decided stays
            // INVALID_TXN_STATE.
            Err(strom::Error::TransactionState(ref reason))
                if reason.contains("no transaction to abort") =>
            {
                0
            }
            Err(e) => txn_code(&e, version, 2),
        },
    };
    let mut response = EndTxnResponse::default().with_error_code(code);
    if version >= 5 {
        response = response
            .with_producer_id(request.producer_id)
            .with_producer_epoch(request.producer_epoch);
    }
    encode(&response, version)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use strom::storage::batch::{self, Entry, Origin};
    use strom::{Broker, ConsumerConfig, IsolationLevel, OffsetReset, TopicConfig};

    use super::*;

    /// A transactional batch of one record, as a Kafka client encodes it.
    fn batch_of(producer_id: i64, epoch: i16, sequence: i32, value: &[u8]) -> Vec<u8> {
        let entries = [Entry {
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(value),
            headers: &[],
        }];
        let origin = Origin {
            base_sequence: sequence,
            ..Origin::transactional(producer_id, epoch)
        };
        let mut encoded = vec![0; batch::encoded_len(&entries)];
        batch::encode_with(&mut encoded, 0, origin, &entries).unwrap();
        encoded
    }

    #[test]
    fn produced_batches_are_read_committed_once_committed_never_once_aborted() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(dir.path()).unwrap();
        broker
            .create_topic("payments", TopicConfig::default())
            .unwrap();
        let tp = TopicPartition::new("payments", 0);
        let transactions = Transactions::default();
        let producer = transactions.init(&broker, "writer").unwrap();
        let (id, epoch) = (producer.producer_id(), producer.epoch());

        // A partition not added to the transaction is refused, as Kafka refuses it.
        assert_eq!(
            transactions.append_transactional("writer", &tp, &batch_of(id, epoch, 0, b"x")),
            Err(ResponseError::InvalidTxnState)
        );
        assert_eq!(
            transactions.append_transactional("nobody", &tp, &batch_of(id, epoch, 0, b"x")),
            Err(ResponseError::InvalidProducerIdMapping)
        );
        producer.add_partitions(std::slice::from_ref(&tp)).unwrap();
        transactions
            .append_transactional("writer", &tp, &batch_of(id, epoch, 0, b"aborted"))
            .unwrap();
        transactions
            .find("writer", id, epoch)
            .unwrap()
            .abort_transaction()
            .unwrap();
        producer.add_partitions(std::slice::from_ref(&tp)).unwrap();
        let appended = transactions
            .append_transactional("writer", &tp, &batch_of(id, epoch, 1, b"committed"))
            .unwrap();
        assert!(!appended.duplicate);
        producer.commit_transaction().unwrap();

        let mut consumer = broker.consumer(
            ConsumerConfig::default()
                .auto_offset_reset(OffsetReset::Earliest)
                .isolation_level(IsolationLevel::ReadCommitted),
        );
        consumer.assign(std::slice::from_ref(&tp)).unwrap();
        let end = broker.describe_topic("payments").unwrap().partitions[0].high_watermark;
        let mut values = Vec::new();
        for _ in 0..100 {
            if consumer.position(&tp).unwrap_or(0) >= end {
                break;
            }
            values.extend(
                consumer
                    .poll(Duration::from_millis(100))
                    .unwrap()
                    .iter()
                    .map(|r| r.value().to_vec()),
            );
        }
        assert_eq!(values, [b"committed".to_vec()]);

        // A second InitProducerId fences the first: its batches are refused as fenced.
        let newer = transactions.init(&broker, "writer").unwrap();
        assert!(newer.epoch() > epoch);
        assert_eq!(
            transactions.find("writer", id, epoch).err(),
            Some(ResponseError::ProducerFenced)
        );
        assert_eq!(
            transactions.append_transactional("writer", &tp, &batch_of(id, epoch, 2, b"zombie")),
            Err(ResponseError::ProducerFenced)
        );
        drop((producer, newer, transactions));
        broker.close().unwrap();
    }
}
