//! Produce: the record batches a client sends, appended as they are (no record is decoded
//! into strom's own form and encoded again), each partition answered with where its batches
//! went or why they were refused.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use strom::{AppendedBatch, TopicConfig, TopicPartition};

use super::{decode, encode, error_code, metadata, RequestError};
use crate::bounds::{Checked, Walk};
use crate::server::Shared;

/// A v2 record batch starts with its base offset (8 bytes) and its length (4 bytes), which
/// counts the bytes after those 12.
const LOG_OVERHEAD: usize = 12;

/// The attributes bit marking a transactional batch.
const TRANSACTIONAL: u16 = 1 << 4;

pub(super) fn check(walk: &mut Walk<'_>, _version: i16) -> Checked {
    walk.string()?; // transactional id
    walk.i16()?; // acks
    walk.i32()?; // timeout
    walk.array(|topic| {
        topic.string()?;
        topic.array(|partition| {
            partition.i32()?;
            partition.bytes()?;
            partition.tags()
        })?;
        topic.tags()
    })?;
    walk.tags()
}

/// Answers a Produce request; with `acks = 0` the body is empty, and the caller sends no
/// response (as Kafka: the client expects none).
pub(super) fn answer(shared: &Shared, version: i16, body: Bytes) -> Result<BytesMut, RequestError> {
    let request: ProduceRequest = decode(body, version)?;
    let acks_valid = matches!(request.acks, -1..=1);
    let transactional_id = request.transactional_id.as_ref().map(|id| id.0.to_string());
    let responses = request
        .topic_data
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            // The topic's segment size, once it exists.
            let created = if acks_valid {
                ensure_topic(shared, &name)
            } else {
                Ok(u64::MAX)
            };
            let partitions = topic
                .partition_data
                .into_iter()
                .map(|data| {
                    let answer = PartitionProduceResponse::default()
                        .with_index(data.index)
                        .with_log_append_time_ms(-1);
                    if !acks_valid {
                        return answer
                            .with_error_code(ResponseError::InvalidRequiredAcks.code())
                            .with_base_offset(-1);
                    }
                    let segment_bytes = match created {
                        Ok(bytes) => bytes,
                        Err(code) => return answer.with_error_code(code).with_base_offset(-1),
                    };
                    let Ok(partition) = u32::try_from(data.index) else {
                        return answer
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_base_offset(-1);
                    };
                    let tp = TopicPartition::new(name.as_str(), partition);
                    let records = data.records.unwrap_or_default();
                    let appended = append(
                        shared,
                        transactional_id.as_deref(),
                        &tp,
                        &records,
                        segment_bytes,
                    );
                    match appended {
                        Ok(appended) => answer
                            .with_base_offset(i64::try_from(appended.base_offset).unwrap_or(-1))
                            .with_log_start_offset(
                                i64::try_from(appended.log_start_offset).unwrap_or(-1),
                            ),
                        Err((code, message)) => {
                            tracing::debug!(%tp, "produce refused: {message}");
                            answer
                                .with_error_code(code)
                                .with_base_offset(-1)
                                .with_error_message(Some(StrBytes::from_string(message)))
                        }
                    }
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partitions)
        })
        .collect();
    if request.acks == 0 {
        return Ok(BytesMut::new());
    }
    encode(
        &ProduceResponse::default().with_responses(responses),
        version,
    )
}

/// The topic exists, or was created now as Kafka's `auto.create.topics.enable` does: its
/// segment size; else the partition error to answer.
fn ensure_topic(shared: &Shared, name: &str) -> Result<u64, i16> {
    if name.starts_with("__") {
        // Internal topics (groups' and streams' own) are not written by clients.
        return Err(ResponseError::UnknownTopicOrPartition.code());
    }
    match shared.broker.describe_topic(name) {
        Ok(described) => Ok(described.config.segment_bytes),
        Err(strom::Error::UnknownTopic { .. })
            if shared.config.auto_create_topics && metadata::valid_name(name) =>
        {
            let config = TopicConfig::default().partitions(shared.config.partitions);
            let segment_bytes = config.segment_bytes;
            match shared.broker.create_topic(name, config) {
                Ok(()) | Err(strom::Error::TopicExists { .. }) => {
                    tracing::info!(topic = name, "kafka protocol: topic auto-created");
                    Ok(segment_bytes)
                }
                Err(e) => Err(error_code(&e)),
            }
        }
        Err(strom::Error::UnknownTopic { .. }) => {
            Err(ResponseError::UnknownTopicOrPartition.code())
        }
        Err(e) => Err(error_code(&e)),
    }
}

/// Appends every batch of a partition's records; answers the first batch's offsets, as
/// Kafka does (a client sends one batch per partition). A batch that fails stops there:
/// those before it stay appended, as in Kafka, where they are separate appends too.
fn append(
    shared: &Shared,
    transactional_id: Option<&str>,
    tp: &TopicPartition,
    records: &[u8],
    segment_bytes: u64,
) -> Result<AppendedBatch, (i16, String)> {
    let mut first: Option<AppendedBatch> = None;
    let mut rest = records;
    if rest.is_empty() {
        return Err((
            ResponseError::CorruptMessage.code(),
            format!("no record batch for {tp}"),
        ));
    }
    while !rest.is_empty() {
        let batch = split_batch(rest).ok_or_else(|| {
            (
                ResponseError::CorruptMessage.code(),
                format!("a record batch for {tp} runs past the records sent"),
            )
        })?;
        rest = &rest[batch.len()..];
        // As Kafka: a batch must fit in one of the topic's segments (a larger one would be
        // a segment of its own, over the size every other segment keeps to).
        if u64::try_from(batch.len()).unwrap_or(u64::MAX) > segment_bytes {
            return Err((
                ResponseError::RecordListTooLarge.code(),
                format!(
                    "a batch of {} bytes for {tp} is larger than its segment.bytes = {segment_bytes}",
                    batch.len()
                ),
            ));
        }
        let appended = if is_transactional(batch) {
            transactional_append(shared, transactional_id, tp, batch).map_err(|e| {
                (
                    e.code(),
                    format!("transactional batch for {tp} refused: {e}"),
                )
            })?
        } else {
            shared
                .broker
                .append_batch(tp, batch)
                .map_err(|e| (produce_error_code(&e), e.to_string()))?
        };
        first.get_or_insert(appended);
    }
    first.ok_or_else(|| {
        (
            ResponseError::CorruptMessage.code(),
            format!("no record batch for {tp}"),
        )
    })
}

/// The first batch of `records`, by its length field: `None` when it claims more bytes
/// than there are (or too few to be a batch header's).
fn split_batch(records: &[u8]) -> Option<&[u8]> {
    let length = records.get(8..LOG_OVERHEAD)?;
    let length = i32::from_be_bytes(length.try_into().ok()?);
    let total = LOG_OVERHEAD.checked_add(usize::try_from(length).ok()?)?;
    records.get(..total)
}

/// Whether a batch's attributes mark it transactional (bit 4). Attributes follow base
/// offset, length, partition leader epoch, magic and CRC: bytes 21 and 22.
fn is_transactional(batch: &[u8]) -> bool {
    batch
        .get(21..23)
        .and_then(|a| a.try_into().ok())
        .is_some_and(|a: [u8; 2]| u16::from_be_bytes(a) & TRANSACTIONAL != 0)
}

/// A transactional batch, appended through the open transaction of `transactional_id`'s
/// producer (the transaction coordinator's map, in handler `transactions`). A batch marked
/// transactional in a request that names no transactional id is answered as Kafka answers
/// one whose producer it does not know.
fn transactional_append(
    shared: &Shared,
    transactional_id: Option<&str>,
    tp: &TopicPartition,
    batch: &[u8],
) -> Result<AppendedBatch, ResponseError> {
    let Some(id) = transactional_id.filter(|id| !id.is_empty()) else {
        return Err(ResponseError::InvalidProducerIdMapping);
    };
    shared.transactions.append_transactional(id, tp, batch)
}

/// The protocol's error for a batch that is not a valid one: as Kafka, INVALID_RECORD when
/// its checksum holds but a record in it (or its record count) is malformed, CORRUPT_MESSAGE
/// for the rest (checksum, length, magic byte, what does not decompress).
pub(super) fn invalid_batch_error(error: &strom::Error) -> ResponseError {
    use strom::storage::batch::{DecodeError, EncodeError};
    match error {
        strom::Error::Encode {
            source: EncodeError::Invalid(DecodeError::Record(_)),
            ..
        } => ResponseError::InvalidRecord,
        _ => ResponseError::CorruptMessage,
    }
}

/// The protocol's error code for a refused append.
fn produce_error_code(error: &strom::Error) -> i16 {
    let kafka = match error {
        strom::Error::Encode { .. } | strom::Error::InvalidRecord { .. } => {
            invalid_batch_error(error)
        }
        strom::Error::RecordTooLarge { .. } => ResponseError::MessageTooLarge,
        strom::Error::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        strom::Error::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        strom::Error::TransactionState(_) => ResponseError::InvalidTxnState,
        _ => return error_code(error),
    };
    kafka.code()
}
