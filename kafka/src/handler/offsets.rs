//! ListOffsets: a partition's earliest (-2) and latest (-1) offsets.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::ResponseError;

use super::{decode, encode, error_code, RequestError};
use crate::bounds::{Checked, Walk};
use crate::server::Shared;

/// Kafka's special timestamps.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

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
                        EARLIEST => p.log_start_offset,
                        LATEST => p.high_watermark,
                        // By timestamp: answered once the log's lookup by time is exposed.
                        _ => {
                            return answer
                                .with_error_code(ResponseError::InvalidRequest.code())
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
