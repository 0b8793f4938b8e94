//! Transaction administration: ListTransactions and DescribeTransactions (what
//! `kafka-transactions list` and `describe` send), from
//! [`strom::Broker::list_transactions`].

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::list_transactions_response::TransactionState as Listed;
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ListTransactionsRequest,
    ListTransactionsResponse, ProducerId, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use strom::TransactionDescription;

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
    walk.tags()
}

pub(super) fn list(shared: &Shared, version: i16, body: Bytes) -> Result<BytesMut, RequestError> {
    let request: ListTransactionsRequest = decode(body, version)?;
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
                        // v1: only transactions running longer than this many ms.
                        && (request.duration_filter < 0
                            || t.start_ms.is_some_and(|s| now - s > request.duration_filter))
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

fn id(transactional_id: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(transactional_id.to_owned()))
}

/// Now, in ms since the epoch, as the broker stamps transactions' starts.
fn strom_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
