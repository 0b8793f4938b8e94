//! ListOffsets: a partition's earliest (-2) and latest (-1) offsets, the record with the
//! largest timestamp (-3), and the first record at or after a timestamp. Latest is the last
//! stable offset for a read_committed client.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::ResponseError;
use strom::storage::batch;
use strom::{IsolationLevel, TopicPartition};

use super::{decode, encode, error_code, RequestError};
use crate::bounds::{Checked, Walk};
use crate::server::Shared;

/// Kafka's special timestamps.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
/// v7+: the record with the largest timestamp.
const MAX_TIMESTAMP: i64 = -3;
/// v8+: the earliest offset still on local storage; strom's whole log is local.
const EARLIEST_LOCAL: i64 = -4;
/// The bytes of batches read at a time while looking for the largest timestamp.
const SCAN_BYTES: usize = 1 << 20;

pub(super) fn check_list_offsets(walk: &mut Walk<'_>, version: i16) -> Checked {
    walk.i32()?; // replica id
    if version >= 2 {
        walk.int8()?; // isolation level
    }
    walk.array(|topic| {
        topic.string()?;
        topic.array(|partition| {
            partition.i32()?;
            if version >= 4 {
                partition.i32()?; // current leader epoch
            }
            partition.i64()?;
            partition.tags()
        })?;
        topic.tags()
    })?;
    if version >= 10 {
        walk.i32()?; // timeout
    }
    walk.tags()
}

pub(super) fn list_offsets(
    shared: &Shared,
    version: i16,
    body: Bytes,
) -> Result<BytesMut, RequestError> {
    let request: ListOffsetsRequest = decode(body, version)?;
    let read_committed = request.isolation_level == 1;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let described = shared.broker.describe_topic(&topic.name);
            let partitions = topic
                .partitions
                .into_iter()
                .map(|asked| {
                    let answer = ListOffsetsPartitionResponse::default()
                        .with_partition_index(asked.partition_index)
                        .with_timestamp(-1);
                    let description = match &described {
                        Ok(d) => u32::try_from(asked.partition_index)
                            .ok()
                            .and_then(|p| d.partitions.iter().find(|x| x.partition == p)),
                        Err(e) => return answer.with_error_code(error_code(e)).with_offset(-1),
                    };
                    let Some(p) = description else {
                        return answer
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_offset(-1);
                    };
                    let offset = match asked.timestamp {
                        EARLIEST | EARLIEST_LOCAL => p.log_start_offset,
                        LATEST if read_committed => p.last_stable_offset,
                        LATEST => p.high_watermark,
                        at if at >= 0 => {
                            let Ok(partition) = u32::try_from(asked.partition_index) else {
                                return answer
                                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                                    .with_offset(-1);
                            };
                            let tp = TopicPartition::new(topic.name.0.as_str(), partition);
                            return match shared.broker.offset_for_timestamp(&tp, at) {
                                Ok(Some(found)) => answer
                                    .with_offset(i64::try_from(found.offset).unwrap_or(i64::MAX))
                                    .with_timestamp(found.timestamp),
                                // No record at or after it: offset -1, as Kafka answers.
                                Ok(None) => answer.with_offset(-1),
                                Err(e) => answer.with_error_code(error_code(&e)).with_offset(-1),
                            };
                        }
                        MAX_TIMESTAMP => {
                            let tp = TopicPartition::new(topic.name.0.as_str(), p.partition);
                            return match max_timestamp(shared, &tp, p.log_start_offset) {
                                Ok(Some((offset, timestamp))) => answer
                                    .with_offset(i64::try_from(offset).unwrap_or(i64::MAX))
                                    .with_timestamp(timestamp),
                                // An empty partition: offset and timestamp -1, as Kafka answers.
                                Ok(None) => answer.with_offset(-1),
                                Err(code) => answer.with_error_code(code).with_offset(-1),
                            };
                        }
                        // The tiered-storage ones (-5) mean nothing here.
                        _ => {
                            return answer
                                .with_error_code(ResponseError::UnsupportedVersion.code())
                                .with_offset(-1)
                        }
                    };
                    answer.with_offset(i64::try_from(offset).unwrap_or(i64::MAX))
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    encode(&ListOffsetsResponse::default().with_topics(topics), version)
}

/// The offset and timestamp of the first record holding `tp`'s largest timestamp, as Kafka
/// answers MAX_TIMESTAMP (the record itself, not the end of its batch); `None` for an empty
/// partition; the error code to answer with if the partition cannot be read.
///
/// strom keeps no per-partition maximum, so the batch headers are walked from the log start
/// (their max timestamps are in the headers: no record is decoded), then the one batch that
/// holds the maximum is decoded. A rare admin request pays for what a fetch never does.
fn max_timestamp(
    shared: &Shared,
    tp: &TopicPartition,
    log_start_offset: u64,
) -> Result<Option<(u64, i64)>, i16> {
    let corrupt = |e: batch::DecodeError| {
        tracing::warn!(%tp, error = %e, "kafka protocol: a stored batch does not decode");
        ResponseError::CorruptMessage.code()
    };
    let fetch = |offset: u64| {
        shared
            .broker
            .fetch_batches(tp, offset, SCAN_BYTES, IsolationLevel::ReadUncommitted)
            .map_err(|e| error_code(&e))
    };
    // The first batch holding the largest timestamp: (timestamp, its base offset).
    let mut best: Option<(i64, u64)> = None;
    let mut offset = log_start_offset;
    loop {
        let fetched = fetch(offset)?;
        let mut rest = fetched.bytes.as_slice();
        if rest.is_empty() {
            break;
        }
        while !rest.is_empty() {
            let header = batch::read_header(rest).map_err(corrupt)?;
            if best.is_none_or(|(max, _)| header.max_timestamp > max) {
                best = Some((header.max_timestamp, header.base_offset));
            }
            offset = header.next_offset();
            rest = usize::try_from(header.length)
                .ok()
                .and_then(|length| rest.get(length..))
                .unwrap_or_default();
        }
    }
    let Some((max, base_offset)) = best else {
        return Ok(None);
    };
    let fetched = fetch(base_offset)?;
    let header = batch::read_header(&fetched.bytes).map_err(corrupt)?;
    let whole = usize::try_from(header.length)
        .ok()
        .and_then(|length| fetched.bytes.get(..length))
        .unwrap_or_default();
    let plain = batch::decompress(whole).map_err(corrupt)?;
    for record in batch::records(&plain).map_err(corrupt)? {
        let record = record.map_err(corrupt)?;
        if record.timestamp == max {
            return Ok(Some((record.offset, max)));
        }
    }
    // A batch whose header claims a timestamp none of its records has (log-append time, or
    // a control batch): its last offset, as Kafka answers for such a batch.
    Ok(Some((header.last_offset(), max)))
}
