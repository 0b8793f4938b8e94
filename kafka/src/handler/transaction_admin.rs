//! Transaction administration: ListTransactions and DescribeTransactions (what
//! `kafka-transactions list` and `describe` send), from
//! [`strom::Broker::list_transactions`]; DescribeProducers and WriteTxnMarkers (what
//! `kafka-transactions describe-producers`, `find-hanging` and `abort` send), onto
//! [`strom::Broker::describe_producers`] and [`strom::Broker::abort_transaction`].

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::list_transactions_response::TransactionState as Listed;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{
    DescribeProducersRequest, DescribeProducersResponse, DescribeTransactionsRequest,
    DescribeTransactionsResponse, ListTransactionsRequest, ListTransactionsResponse, ProducerId,
    TopicName, TransactionalId, WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use strom::{AbortTransactionSpec, TopicPartition, TransactionDescription};

use super::{decode, encode, error_code, RequestError};
use crate::bounds::{Checked, Walk};
use crate::server::Shared;

/// The states Kafka's ListTransactions filters by; a filter naming another is reported
/// back as unknown.
const KAFKA_STATES: &[&str] = &[
    "Empty",
    "Ongoing",
    "PrepareCommit",
    "PrepareAbort",
    "CompleteCommit",
    "CompleteAbort",
    "Dead",
    "PrepareEpochFence",
];

pub(super) fn check_list(walk: &mut Walk<'_>, version: i16) -> Checked {
    walk.array(Walk::string)?;
    walk.array(Walk::i64)?;
    if version >= 1 {
        walk.i64()?;
    }
    if version >= 2 {
        walk.string()?;
    }
    walk.tags()
}

/// The v2 filter: ids the whole of which the pattern matches (Java's `Matcher.matches`);
/// none or an empty one matches every id.
fn id_pattern(pattern: Option<&str>) -> Result<Option<regex::Regex>, regex::Error> {
    match pattern {
        None | Some("") => Ok(None),
        Some(pattern) => {
            // Bounded: a pattern is at most a request's string, and compiling one
            // refuses what would grow past the crate's default size limit.
            regex::Regex::new(&format!("^(?:{pattern})$")).map(Some)
        }
    }
}

pub(super) fn list(shared: &Shared, version: i16, body: Bytes) -> Result<BytesMut, RequestError> {
    let request: ListTransactionsRequest = decode(body, version)?;
    let pattern = match id_pattern(request.transactional_id_pattern.as_deref()) {
        Ok(pattern) => pattern,
        Err(e) => {
            tracing::debug!(error = %e, "kafka protocol: ListTransactions pattern refused");
            let response = ListTransactionsResponse::default()
                .with_error_code(ResponseError::InvalidRegularExpression.code());
            return encode(&response, version);
        }
    };
    let response = match shared.broker.list_transactions() {
        Err(e) => ListTransactionsResponse::default().with_error_code(error_code(&e)),
        Ok(described) => {
            let now = strom_now_ms();
            let states = described
                .into_iter()
                .filter(|t| {
                    (request.state_filters.is_empty()
                        || request.state_filters.iter().any(|s| &**s == t.state.name()))
                        && (request.producer_id_filters.is_empty()
                            || request.producer_id_filters.contains(&ProducerId(t.producer_id)))
                        // v1: only transactions begun longer than this many ms ago (the
                        // last one's start for a finished one); as in Kafka, an id that
                        // never began one passes.
                        && (request.duration_filter < 0
                            || t.start_ms.is_none_or(|s| now - s > request.duration_filter))
                        && pattern.as_ref().is_none_or(|p| p.is_match(&t.transactional_id))
                })
                .map(|t| {
                    Listed::default()
                        .with_transactional_id(id(&t.transactional_id))
                        .with_producer_id(ProducerId(t.producer_id))
                        .with_transaction_state(StrBytes::from_static_str(t.state.name()))
                })
                .collect();
            let unknown = request
                .state_filters
                .into_iter()
                .filter(|s| !KAFKA_STATES.contains(&&**s))
                .collect();
            ListTransactionsResponse::default()
                .with_transaction_states(states)
                .with_unknown_state_filters(unknown)
        }
    };
    encode(&response, version)
}

pub(super) fn check_describe(walk: &mut Walk<'_>, _version: i16) -> Checked {
    walk.array(Walk::string)?;
    walk.tags()
}

pub(super) fn describe(
    shared: &Shared,
    version: i16,
    body: Bytes,
) -> Result<BytesMut, RequestError> {
    let request: DescribeTransactionsRequest = decode(body, version)?;
    let described = shared.broker.list_transactions();
    let states = request
        .transactional_ids
        .into_iter()
        .map(|asked| {
            let state = TransactionState::default().with_transactional_id(asked.clone());
            let all = match &described {
                Ok(all) => all,
                Err(e) => return state.with_error_code(error_code(e)),
            };
            match all.iter().find(|t| t.transactional_id == *asked.0) {
                Some(t) => described_state(state, t),
                None => state.with_error_code(ResponseError::TransactionalIdNotFound.code()),
            }
        })
        .collect();
    encode(
        &DescribeTransactionsResponse::default().with_transaction_states(states),
        version,
    )
}

fn described_state(state: TransactionState, t: &TransactionDescription) -> TransactionState {
    let timeout_ms = i32::try_from(t.timeout.as_millis()).unwrap_or(i32::MAX);
    let mut topics: Vec<TopicData> = Vec::new();
    for tp in &t.partitions {
        let index = i32::try_from(tp.partition).unwrap_or(i32::MAX);
        match topics.last_mut() {
            Some(last) if *last.topic.0 == *tp.topic => last.partitions.push(index),
            _ => topics.push(
                TopicData::default()
                    .with_topic(TopicName(StrBytes::from_string(tp.topic.clone())))
                    .with_partitions(vec![index]),
            ),
        }
    }
    state
        .with_transaction_state(StrBytes::from_static_str(t.state.name()))
        .with_transaction_timeout_ms(timeout_ms)
        .with_transaction_start_time_ms(t.start_ms.unwrap_or(-1))
        .with_producer_id(ProducerId(t.producer_id))
        .with_producer_epoch(t.epoch)
        .with_topics(topics)
}

pub(super) fn check_describe_producers(walk: &mut Walk<'_>, _version: i16) -> Checked {
    walk.array(|topic| {
        topic.string()?;
        topic.array(Walk::i32)?;
        topic.tags()
    })?;
    walk.tags()
}

pub(super) fn describe_producers(
    shared: &Shared,
    version: i16,
    body: Bytes,
) -> Result<BytesMut, RequestError> {
    let request: DescribeProducersRequest = decode(body, version)?;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|&index| {
                    let answer = PartitionResponse::default().with_partition_index(index);
                    let Ok(partition) = u32::try_from(index) else {
                        return answer
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let tp = TopicPartition::new(topic.name.0.to_string(), partition);
                    match shared.broker.describe_producers(&tp) {
                        Ok(producers) => answer
                            .with_active_producers(producers.iter().map(producer_state).collect()),
                        Err(e) => answer
                            .with_error_code(error_code(&e))
                            .with_error_message(Some(StrBytes::from_string(e.to_string()))),
                    }
                })
                .collect();
            TopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    encode(
        &DescribeProducersResponse::default().with_topics(topics),
        version,
    )
}

fn producer_state(p: &strom::ProducerState) -> ProducerState {
    ProducerState::default()
        .with_producer_id(ProducerId(p.producer_id))
        .with_producer_epoch(i32::from(p.producer_epoch))
        .with_last_sequence(p.last_sequence)
        .with_last_timestamp(p.last_timestamp)
        .with_coordinator_epoch(p.coordinator_epoch.unwrap_or(-1))
        .with_current_txn_start_offset(
            p.current_transaction_start_offset
                .and_then(|o| i64::try_from(o).ok())
                .unwrap_or(-1),
        )
}

pub(super) fn check_write_txn_markers(walk: &mut Walk<'_>, _version: i16) -> Checked {
    walk.array(|marker| {
        marker.i64()?;
        marker.i16()?;
        marker.boolean()?;
        marker.array(|topic| {
            topic.string()?;
            topic.array(Walk::i32)?;
            topic.tags()
        })?;
        marker.i32()?;
        marker.tags()
    })?;
    walk.tags()
}

/// WriteTxnMarkers from outside the broker: an administrator ending a hanging transaction
/// (`kafka-transactions abort`). Only abort markers: strom's own coordinator writes the
/// commits, and a commit marker from outside could make visible records no transaction
/// committed.
pub(super) fn write_txn_markers(
    shared: &Shared,
    version: i16,
    body: Bytes,
) -> Result<BytesMut, RequestError> {
    let request: WriteTxnMarkersRequest = decode(body, version)?;
    let markers = request
        .markers
        .into_iter()
        .map(|marker| {
            let topics = marker
                .topics
                .into_iter()
                .map(|topic| {
                    let partitions = topic
                        .partition_indexes
                        .iter()
                        .map(|&index| {
                            let code = if marker.transaction_result {
                                ResponseError::InvalidRequest.code()
                            } else {
                                write_abort(
                                    shared,
                                    &topic.name,
                                    index,
                                    marker.producer_id.0,
                                    marker.producer_epoch,
                                    marker.coordinator_epoch,
                                )
                            };
                            WritableTxnMarkerPartitionResult::default()
                                .with_partition_index(index)
                                .with_error_code(code)
                        })
                        .collect();
                    WritableTxnMarkerTopicResult::default()
                        .with_name(topic.name)
                        .with_partitions(partitions)
                })
                .collect();
            WritableTxnMarkerResult::default()
                .with_producer_id(marker.producer_id)
                .with_topics(topics)
        })
        .collect();
    encode(
        &WriteTxnMarkersResponse::default().with_markers(markers),
        version,
    )
}

/// Writes one abort marker; the partition's error code.
fn write_abort(
    shared: &Shared,
    topic: &str,
    index: i32,
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
) -> i16 {
    let Ok(partition) = u32::try_from(index) else {
        return ResponseError::UnknownTopicOrPartition.code();
    };
    let spec = AbortTransactionSpec {
        coordinator_epoch,
        ..AbortTransactionSpec::new(
            TopicPartition::new(topic, partition),
            producer_id,
            producer_epoch,
        )
    };
    match shared.broker.abort_transaction(&spec) {
        Ok(offset) => {
            tracing::info!(
                topic,
                partition,
                producer_id,
                offset,
                "kafka protocol: abort marker written"
            );
            0
        }
        Err(strom::Error::InvalidProducerEpoch { .. }) => {
            ResponseError::InvalidProducerEpoch.code()
        }
        Err(e) => {
            tracing::debug!(topic, partition, error = %e, "kafka protocol: abort marker refused");
            error_code(&e)
        }
    }
}

fn id(transactional_id: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(transactional_id.to_owned()))
}

/// Now, in ms since the epoch, as the broker stamps transactions' starts.
fn strom_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
