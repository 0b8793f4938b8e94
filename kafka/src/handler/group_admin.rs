//! Consumer-group administration: DeleteGroups and OffsetDelete (what
//! `kafka-consumer-groups --delete` and `--delete-offsets` send), onto
//! [`strom::Broker::delete_group`] and [`strom::Broker::delete_committed_offsets`].

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition as OffsetDeletePartition, OffsetDeleteResponseTopic,
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
    // Nothing deleted: only whether the group exists.
    if let Err(e) = shared.broker.delete_committed_offsets(&group_id, &[]) {
        let response = OffsetDeleteResponse::default().with_error_code(code(&e, true));
        return encode(&response, version);
    }
    // Topic by topic, as Kafka: a topic a member subscribes to answers
    // GROUP_SUBSCRIBED_TO_TOPIC for its partitions, the others' offsets are deleted.
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = shared
                .broker
                .describe_topic(&topic.name)
                .ok()
                .map_or(0, |d| d.config.partitions);
            let exists = |index: i32| u32::try_from(index).is_ok_and(|i| i < partitions);
            let asked: Vec<TopicPartition> = topic
                .partitions
                .iter()
                .filter(|p| exists(p.partition_index))
                .filter_map(|p| u32::try_from(p.partition_index).ok())
                .map(|index| TopicPartition::new(topic.name.0.to_string(), index))
                .collect();
            let topic_code = match shared.broker.delete_committed_offsets(&group_id, &asked) {
                Ok(()) => 0,
                Err(e) => code(&e, true),
            };
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    OffsetDeletePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(if exists(p.partition_index) {
                            topic_code
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
    tracing::info!(
        group = &*group_id.0,
        "kafka protocol: committed offsets deleted"
    );
    encode(
        &OffsetDeleteResponse::default().with_topics(topics),
        version,
    )
}
