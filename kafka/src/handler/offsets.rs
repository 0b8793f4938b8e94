//! ListOffsets: a partition's earliest (-2) and latest (-1) offsets, the record with the
//! largest timestamp (-3), and the first record at or after a timestamp. Latest is the last
//! stable offset for a read_committed client.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::ResponseError;
use strom::TopicPartition;

use super::{decode, encode, error_code, RequestError};
use crate::bounds::{Checked, Walk};
use crate::server::Shared;

/// Kafka's special timestamps.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
/// v7+: the first record with the partition's largest timestamp.
const MAX_TIMESTAMP: i64 = -3;
/// v8+: the earliest offset still on local storage; strom's whole log is local.
const EARLIEST_LOCAL: i64 = -4;

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
                            let Ok(partition) = u32::try_from(asked.partition_index) else {
                                return answer
                                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                                    .with_offset(-1);
                            };
                            let tp = TopicPartition::new(topic.name.0.as_str(), partition);
                            return match shared.broker.offset_for_max_timestamp(&tp) {
                                Ok(Some(found)) => answer
                                    .with_offset(i64::try_from(found.offset).unwrap_or(i64::MAX))
                                    .with_timestamp(found.timestamp),
                                // An empty partition: offset and timestamp -1, as Kafka.
                                Ok(None) => answer.with_offset(-1),
                                Err(e) => answer.with_error_code(error_code(&e)).with_offset(-1),
                            };
                        }
                        // The latest tiered offset (-5) means nothing here.
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
