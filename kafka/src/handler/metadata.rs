//! Metadata: one broker (this server), leader of every partition; unknown topics created on
//! request when both the client and the server allow it. DescribeTopicPartitions (what
//! `kafka-topics --describe` asks first) describes the same, page by page.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::describe_topic_partitions_request::Cursor;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor as NextCursor, DescribeTopicPartitionsResponsePartition,
    DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, MetadataRequest,
    MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use strom::TopicConfig;

use super::{decode, encode, error_code, RequestError};
use crate::bounds::{Checked, Walk};
use crate::server::Shared;

pub(super) fn check(walk: &mut Walk<'_>, version: i16) -> Checked {
    walk.array(|topic| {
        if version >= 10 {
            topic.uuid()?;
        }
        topic.string()?;
        topic.tags()
    })?;
    if version >= 4 {
        walk.boolean()?;
    }
    if (8..=10).contains(&version) {
        walk.boolean()?;
    }
    if version >= 8 {
        walk.boolean()?;
    }
    walk.tags()
}

pub(super) fn answer(shared: &Shared, version: i16, body: Bytes) -> Result<BytesMut, RequestError> {
    let request: MetadataRequest = decode(body, version)?;
    // Before v4 a request could not say; Kafka created the topics then.
    let may_create =
        shared.config.auto_create_topics && (version < 4 || request.allow_auto_topic_creation);
    let asked: Option<Vec<MetadataRequestTopic>> = match request.topics {
        // v0: an empty list means every topic.
        Some(list) if version == 0 && list.is_empty() => None,
        other => other,
    };
    let topics = match asked {
        None => shared
            .broker
            .topics()
            .into_iter()
            .map(|name| topic(shared, &name))
            .collect(),
        Some(list) => list
            .into_iter()
            .map(|asked| match asked.name {
                Some(name) => requested(shared, &name.0, may_create),
                // By id alone (v10+): strom's topics have no ids.
                None => MetadataResponseTopic::default()
                    .with_topic_id(asked.topic_id)
                    .with_error_code(ResponseError::UnknownTopicId.code()),
            })
            .collect(),
    };
    let node = BrokerId(shared.config.node_id);
    let response = MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(node)
            .with_host(StrBytes::from_string(shared.host.clone()))
            .with_port(shared.port)])
        .with_cluster_id(Some(StrBytes::from_string(
            shared.config.cluster_id.clone(),
        )))
        .with_controller_id(node)
        .with_topics(topics);
    encode(&response, version)
}

/// A topic named in the request: described, created, or its error.
fn requested(shared: &Shared, name: &str, may_create: bool) -> MetadataResponseTopic {
    if name.starts_with("__") {
        // Internal topics (groups' and streams' own) are not served to clients.
        return failed(name, ResponseError::UnknownTopicOrPartition.code());
    }
    match shared.broker.describe_topic(name) {
        Ok(_) => topic(shared, name),
        Err(strom::Error::UnknownTopic { .. }) if may_create => {
            let config = TopicConfig::default().partitions(shared.config.partitions);
            match shared.broker.create_topic(name, config) {
                Ok(()) => {
                    tracing::info!(topic = name, "kafka protocol: topic auto-created");
                    topic(shared, name)
                }
                // Created meanwhile by another client.
                Err(strom::Error::TopicExists { .. }) => topic(shared, name),
                Err(e) => failed(name, error_code(&e)),
            }
        }
        Err(strom::Error::UnknownTopic { .. }) => {
            // A name that could never exist says so, as Kafka does.
            let code = if valid_name(name) {
                ResponseError::UnknownTopicOrPartition.code()
            } else {
                ResponseError::InvalidTopicException.code()
            };
            failed(name, code)
        }
        Err(e) => failed(name, error_code(&e)),
    }
}

/// Kafka's legal topic names: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn failed(name: &str, code: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(name.to_owned()))))
        .with_error_code(code)
}

/// An existing topic: every partition led by this node, its only replica.
fn topic(shared: &Shared, name: &str) -> MetadataResponseTopic {
    let description = match shared.broker.describe_topic(name) {
        Ok(d) => d,
        Err(e) => return failed(name, error_code(&e)),
    };
    let node = BrokerId(shared.config.node_id);
    let partitions = description
        .partitions
        .iter()
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(i32::try_from(p.partition).unwrap_or(i32::MAX))
                .with_leader_id(node)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(name.to_owned()))))
        .with_partitions(partitions)
}

pub(super) fn check_describe_topic_partitions(walk: &mut Walk<'_>, _version: i16) -> Checked {
    walk.array(|topic| {
        topic.string()?;
        topic.tags()
    })?;
    walk.i32()?;
    walk.nullable(|cursor| {
        cursor.string()?;
        cursor.i32()?;
        cursor.tags()
    })?;
    walk.tags()
}

/// The topics asked for (every one not internal when none are), sorted by name as Kafka
/// sorts them, their partitions from the cursor on and at most `response_partition_limit`
/// of them; the cursor of the next page when some are left.
pub(super) fn describe_topic_partitions(
    shared: &Shared,
    version: i16,
    body: Bytes,
) -> Result<BytesMut, RequestError> {
    let request: DescribeTopicPartitionsRequest = decode(body, version)?;
    let mut names: Vec<String> = if request.topics.is_empty() {
        shared
            .broker
            .topics()
            .into_iter()
            .filter(|t| !t.starts_with("__"))
            .collect()
    } else {
        request
            .topics
            .iter()
            .map(|t| t.name.0.to_string())
            .collect()
    };
    names.sort();
    names.dedup();
    let (first_topic, mut first_partition) = match &request.cursor {
        Some(Cursor {
            topic_name,
            partition_index,
            ..
        }) => (Some(topic_name.0.to_string()), *partition_index),
        None => (None, 0),
    };
    let mut budget = usize::try_from(request.response_partition_limit.max(1)).unwrap_or(1);
    let node = BrokerId(shared.config.node_id);
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for name in names
        .into_iter()
        .filter(|n| first_topic.as_ref().is_none_or(|f| n >= f))
    {
        let topic_name = TopicName(StrBytes::from_string(name.clone()));
        let described = if name.starts_with("__") {
            Err(ResponseError::UnknownTopicOrPartition.code())
        } else {
            shared
                .broker
                .describe_topic(&name)
                .map_err(|e| error_code(&e))
        };
        let description = match described {
            Ok(d) => d,
            Err(code) => {
                topics.push(
                    DescribeTopicPartitionsResponseTopic::default()
                        .with_name(Some(topic_name))
                        .with_error_code(code),
                );
                continue;
            }
        };
        if budget == 0 {
            next_cursor = Some(NextCursor::default().with_topic_name(topic_name));
            break;
        }
        let start = u32::try_from(first_partition).unwrap_or(0);
        first_partition = 0;
        let mut partitions = Vec::new();
        for p in description
            .partitions
            .iter()
            .filter(|p| p.partition >= start)
        {
            let index = i32::try_from(p.partition).unwrap_or(i32::MAX);
            if budget == 0 {
                next_cursor = Some(
                    NextCursor::default()
                        .with_topic_name(topic_name.clone())
                        .with_partition_index(index),
                );
                break;
            }
            budget -= 1;
            partitions.push(
                DescribeTopicPartitionsResponsePartition::default()
                    .with_partition_index(index)
                    .with_leader_id(node)
                    .with_replica_nodes(vec![node])
                    .with_isr_nodes(vec![node])
                    // One replica, always in sync: no replica is eligible beyond the ISR.
                    .with_eligible_leader_replicas(Some(Vec::new()))
                    .with_last_known_elr(Some(Vec::new())),
            );
        }
        topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(topic_name))
                .with_partitions(partitions),
        );
        if next_cursor.is_some() {
            break;
        }
    }
    encode(
        &DescribeTopicPartitionsResponse::default()
            .with_topics(topics)
            .with_next_cursor(next_cursor),
        version,
    )
}
