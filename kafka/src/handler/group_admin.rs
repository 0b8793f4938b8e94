//! Consumer-group administration: DeleteGroups and OffsetDelete (what
//! `kafka-consumer-groups --delete` and `--delete-offsets` send), onto
//! [`strom::Broker::delete_group`] and [`strom::Broker::delete_committed_offsets`].

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, OffsetDeleteRequest, OffsetDeleteResponse,
};
use kafka_protocol::ResponseError;
use strom::TopicPartition;

use super::{decode, encode, RequestError};
use crate::bounds::{Checked, Walk};
use crate::server::Shared;

/// A group error as Kafka answers it for these two APIs.
fn code(error: &strom::Error, offsets: bool) -> i16 {
    match error {
        strom::Error::UnknownGroup { .. } => ResponseError::GroupIdNotFound.code(),
        strom::Error::GroupNotEmpty { .. } if offsets => {
            ResponseError::GroupSubscribedToTopic.code()
        }
        strom::Error::GroupNotEmpty { .. } => ResponseError::NonEmptyGroup.code(),
        other => super::error_code(other),
    }
}

pub(super) fn check_delete_groups(walk: &mut Walk<'_>, _version: i16) -> Checked {
    walk.array(Walk::string)?;
    walk.tags()
}

pub(super) fn delete_groups(
    shared: &Shared,
    version: i16,
    body: Bytes,
) -> Result<BytesMut, RequestError> {
    let request: DeleteGroupsRequest = decode(body, version)?;
    let results = request
        .groups_names
        .into_iter()
        .map(|group_id| {
            let outcome = shared.broker.delete_group(&group_id);
            let result = DeletableGroupResult::default().with_group_id(group_id.clone());
            match outcome {
                Ok(()) => {
                    tracing::info!(group = &*group_id.0, "kafka protocol: group deleted");
                    result
                }
                Err(e) => {
                    tracing::debug!(group = &*group_id.0, error = %e, "kafka protocol: group not deleted");
                    result.with_error_code(code(&e, false))
                }
            }
        })
        .collect();
    encode(
        &DeleteGroupsResponse::default().with_results(results),
        version,
    )
}

pub(super) fn check_offset_delete(walk: &mut Walk<'_>, _version: i16) -> Checked {
    walk.string()?;
    walk.array(|topic| {
        topic.string()?;
        topic.array(|partition| {
            partition.i32()?;
            partition.tags()
        })?;
        topic.tags()
    })?;
    walk.tags()
}

pub(super) fn offset_delete(
    shared: &Shared,
    version: i16,
    body: Bytes,
) -> Result<BytesMut, RequestError> {
    let request: OffsetDeleteRequest = decode(body, version)?;
    let group_id = request.group_id;
    let partitions: Vec<TopicPartition> = request
        .topics
        .iter()
        .flat_map(|topic| {
            topic.partitions.iter().filter_map(|p| {
                u32::try_from(p.partition_index)
                    .ok()
                    .map(|index| TopicPartition::new(topic.name.0.to_string(), index))
            })
        })
        .collect();
    let outcome = shared
        .broker
        .delete_committed_offsets(&group_id, &partitions);
    let response = match outcome {
        // The group's error (unknown, or refused as a whole) is the response's.
        Err(e @ strom::Error::UnknownGroup { .. }) => {
            OffsetDeleteResponse::default().with_error_code(code(&e, true))
        }
        outcome => {
            // Refused for a topic its members hold: every partition asked for answers it,
            // as Kafka answers the subscribed topics' partitions.
            let partition_code = outcome.as_ref().err().map_or(0, |e| code(e, true));
            let topics = request
                .topics
                .into_iter()
                .map(|topic| {
                    let known = shared.broker.describe_topic(&topic.name).ok();
                    let partitions = topic
                        .partitions
                        .into_iter()
                        .map(|p| {
                            let exists = known.as_ref().is_some_and(|d| {
                                u32::try_from(p.partition_index)
                                    .is_ok_and(|i| i < d.config.partitions)
                            });
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(if exists {
                                    partition_code
                                } else {
                                    ResponseError::UnknownTopicOrPartition.code()
                                })
                        })
                        .collect();
                    OffsetDeleteResponseTopic::default()
                        .with_name(topic.name)
                        .with_partitions(partitions)
                })
                .collect();
            if outcome.is_ok() {
                tracing::info!(
                    group = &*group_id.0,
                    "kafka protocol: committed offsets deleted"
                );
            }
            OffsetDeleteResponse::default().with_topics(topics)
        }
    };
    encode(&response, version)
}
