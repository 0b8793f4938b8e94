//! Topic administration: CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs
//! (topic configs under Kafka's keys).

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use strom::TopicConfig;

use super::metadata::valid_name;
use super::{decode, encode, error_code, RequestError};
use crate::bounds::{Checked, Walk};
use crate::server::Shared;

/// DescribeConfigs' resource types.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// DescribeConfigs' config sources.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_DEFAULT: i8 = 5;

pub(super) fn check_create(walk: &mut Walk<'_>, _version: i16) -> Checked {
    walk.array(|topic| {
        topic.string()?;
        topic.i32()?;
        topic.i16()?;
        topic.array(|assignment| {
            assignment.i32()?;
            assignment.array(Walk::i32)?;
            assignment.tags()
        })?;
        topic.array(|config| {
            config.string()?;
            config.string()?;
            config.tags()
        })?;
        topic.tags()
    })?;
    walk.i32()?;
    walk.boolean()?;
    walk.tags()
}

pub(super) fn create(shared: &Shared, version: i16, body: Bytes) -> Result<BytesMut, RequestError> {
    let request: CreateTopicsRequest = decode(body, version)?;
    let validate_only = request.validate_only;
    let defaults = TopicConfig::default().kafka_configs();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let result = CreatableTopicResult::default().with_name(topic.name.clone());
            match create_one(shared, &name, &topic, validate_only) {
                Ok(config) => {
                    let configs = config
                        .kafka_configs()
                        .into_iter()
                        .map(|(key, value)| {
                            // A key the request left out is at its default, as DescribeConfigs
                            // reports it and Kafka answers.
                            let source = if defaults.iter().any(|(k, v)| *k == key && *v == value) {
                                SOURCE_DEFAULT
                            } else {
                                SOURCE_TOPIC
                            };
                            CreatableTopicConfigs::default()
                                .with_name(StrBytes::from_static_str(key))
                                .with_value(Some(StrBytes::from_string(value)))
                                .with_config_source(source)
                        })
                        .collect();
                    result
                        .with_num_partitions(i32::try_from(config.partitions).unwrap_or(i32::MAX))
                        .with_replication_factor(1)
                        .with_configs(Some(configs))
                }
                Err((code, message)) => {
                    tracing::debug!(
                        topic = name,
                        code,
                        message,
                        "kafka protocol: create refused"
                    );
                    result
                        .with_error_code(code)
                        .with_error_message(Some(StrBytes::from_string(message)))
                        .with_num_partitions(-1)
                        .with_replication_factor(-1)
                }
            }
        })
        .collect();
    encode(
        &CreateTopicsResponse::default().with_topics(topics),
        version,
    )
}

/// One topic of a CreateTopics request: its config, or the error code and message.
fn create_one(
    shared: &Shared,
    name: &str,
    topic: &CreatableTopic,
    validate_only: bool,
) -> Result<TopicConfig, (i16, String)> {
    if !matches!(topic.replication_factor, 1 | -1) {
        return Err((
            ResponseError::InvalidReplicationFactor.code(),
            format!(
                "topic {name:?}: replication factor {} on a single node: 1 or -1",
                topic.replication_factor
            ),
        ));
    }
    let partitions = if topic.assignments.is_empty() {
        match topic.num_partitions {
            -1 => shared.config.partitions,
            n => u32::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| {
                (
                    ResponseError::InvalidPartitions.code(),
                    format!("topic {name:?}: {n} partitions: at least 1, or -1 for the default"),
                )
            })?,
        }
    } else {
        // Replica assignments name the partitions; on one node only their number matters.
        u32::try_from(topic.assignments.len()).unwrap_or(u32::MAX)
    };
    let max = shared.config.max_partitions_per_topic;
    if partitions > max {
        return Err((
            ResponseError::InvalidPartitions.code(),
            format!("topic {name:?}: {partitions} partitions, above this server's {max}"),
        ));
    }
    let mut config = TopicConfig::default().partitions(partitions);
    for entry in &topic.configs {
        if let Some(value) = &entry.value {
            config.set(&entry.name, value).map_err(|e| {
                (
                    ResponseError::InvalidConfig.code(),
                    format!("topic {name:?}: {e}"),
                )
            })?;
        }
    }
    if validate_only {
        if !valid_name(name) || name.starts_with("__") {
            return Err((
                ResponseError::InvalidTopicException.code(),
                format!("invalid topic name {name:?}"),
            ));
        }
        if shared.broker.describe_topic(name).is_ok() {
            return Err((
                ResponseError::TopicAlreadyExists.code(),
                format!("topic {name:?} already exists"),
            ));
        }
        return Ok(config);
    }
    shared
        .broker
        .create_topic(name, config.clone())
        .map_err(|e| (error_code(&e), e.to_string()))?;
    tracing::info!(topic = name, partitions, "kafka protocol: topic created");
    Ok(config)
}

pub(super) fn check_delete(walk: &mut Walk<'_>, version: i16) -> Checked {
    if version >= 6 {
        walk.array(|topic| {
            topic.string()?;
            topic.uuid()?;
            topic.tags()
        })?;
    } else {
        walk.array(Walk::string)?;
    }
    walk.i32()?;
    walk.tags()
}

pub(super) fn delete(shared: &Shared, version: i16, body: Bytes) -> Result<BytesMut, RequestError> {
    let request: DeleteTopicsRequest = decode(body, version)?;
    let names: Vec<Option<TopicName>> = if version >= 6 {
        request.topics.into_iter().map(|t| t.name).collect()
    } else {
        request.topic_names.into_iter().map(Some).collect()
    };
    let responses = names
        .into_iter()
        .map(|name| {
            let result = DeletableTopicResult::default().with_name(name.clone());
            let Some(name) = name else {
                // By topic id (v6): strom's topics have none.
                return result.with_error_code(ResponseError::UnknownTopicId.code());
            };
            let outcome = if name.starts_with("__") {
                // Internal topics belong to the log's groups and streams.
                Err(strom::Error::UnknownTopic {
                    topic: name.to_string(),
                })
            } else {
                shared.broker.delete_topic(&name)
            };
            match outcome {
                Ok(()) => {
                    tracing::info!(topic = &*name.0, "kafka protocol: topic deleted");
                    result
                }
                Err(e) => result
                    .with_error_code(error_code(&e))
                    .with_error_message(Some(StrBytes::from_string(e.to_string()))),
            }
        })
        .collect();
    encode(
        &DeleteTopicsResponse::default().with_responses(responses),
        version,
    )
}

pub(super) fn check_create_partitions(walk: &mut Walk<'_>, _version: i16) -> Checked {
    walk.array(|topic| {
        topic.string()?;
        topic.i32()?;
        topic.array(|assignment| {
            assignment.array(Walk::i32)?;
            assignment.tags()
        })?;
        topic.tags()
    })?;
    walk.i32()?;
    walk.boolean()?;
    walk.tags()
}

pub(super) fn create_partitions(
    shared: &Shared,
    version: i16,
    body: Bytes,
) -> Result<BytesMut, RequestError> {
    let request: CreatePartitionsRequest = decode(body, version)?;
    let validate_only = request.validate_only;
    let results = request
        .topics
        .into_iter()
        .map(|topic| {
            let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
            match grow(shared, &topic, validate_only) {
                Ok(()) => result,
                Err((code, message)) => {
                    tracing::debug!(
                        topic = &*topic.name.0,
                        code,
                        message,
                        "kafka protocol: create partitions refused"
                    );
                    result
                        .with_error_code(code)
                        .with_error_message(Some(StrBytes::from_string(message)))
                }
            }
        })
        .collect();
    encode(
        &CreatePartitionsResponse::default().with_results(results),
        version,
    )
}

/// One topic of a CreatePartitions request: grown to its new count (Kafka's rules: more
/// than now, within the server's limit), or why not.
fn grow(
    shared: &Shared,
    topic: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), (i16, String)> {
    let name = &*topic.name.0;
    let unknown = || {
        (
            ResponseError::UnknownTopicOrPartition.code(),
            format!("unknown topic {name:?}"),
        )
    };
    if name.starts_with("__") {
        return Err(unknown());
    }
    let description = shared
        .broker
        .describe_topic(name)
        .map_err(|e| (error_code(&e), e.to_string()))?;
    let current = description.config.partitions;
    let invalid = |message: String| (ResponseError::InvalidPartitions.code(), message);
    let count = u32::try_from(topic.count).unwrap_or(0);
    if count < current {
        return Err(invalid(format!(
            "topic {name:?} has {current} partitions; {} would remove some",
            topic.count
        )));
    }
    if count == current {
        return Err(invalid(format!(
            "topic {name:?} already has {current} partitions"
        )));
    }
    let max = shared.config.max_partitions_per_topic;
    if count > max {
        return Err(invalid(format!(
            "topic {name:?}: {count} partitions, above this server's {max}"
        )));
    }
    if let Some(assignments) = &topic.assignments {
        // One replica on this node per new partition is the only assignment there is.
        let new = usize::try_from(count - current).unwrap_or(usize::MAX);
        if assignments.len() != new || assignments.iter().any(|a| a.broker_ids.len() != 1) {
            return Err((
                ResponseError::InvalidReplicaAssignment.code(),
                format!(
                    "topic {name:?}: {new} new partitions need {new} assignments of one replica"
                ),
            ));
        }
    }
    if validate_only {
        return Ok(());
    }
    shared
        .broker
        .alter_topic(name, description.config.partitions(count))
        .map_err(|e| (error_code(&e), e.to_string()))?;
    tracing::info!(
        topic = name,
        from = current,
        to = count,
        "kafka protocol: partitions added"
    );
    Ok(())
}

pub(super) fn check_describe_configs(walk: &mut Walk<'_>, version: i16) -> Checked {
    walk.array(|resource| {
        resource.int8()?;
        resource.string()?;
        resource.array(Walk::string)?;
        resource.tags()
    })?;
    walk.boolean()?;
    if version >= 3 {
        walk.boolean()?;
    }
    walk.tags()
}

pub(super) fn describe_configs(
    shared: &Shared,
    version: i16,
    body: Bytes,
) -> Result<BytesMut, RequestError> {
    let request: DescribeConfigsRequest = decode(body, version)?;
    let include_synonyms = request.include_synonyms;
    let defaults = TopicConfig::default().kafka_configs();
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            match resource.resource_type {
                RESOURCE_TOPIC => {}
                // The broker's own configs: none that a client could act on.
                RESOURCE_BROKER => return result,
                other => {
                    return result
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(StrBytes::from_string(format!(
                            "resource type {other}: only topics (2) and brokers (4)"
                        ))))
                }
            }
            let description = match shared.broker.describe_topic(&resource.resource_name) {
                Ok(d) if !resource.resource_name.starts_with("__") => d,
                Ok(_) => {
                    return result.with_error_code(ResponseError::UnknownTopicOrPartition.code())
                }
                Err(e) => {
                    return result
                        .with_error_code(error_code(&e))
                        .with_error_message(Some(StrBytes::from_string(e.to_string())))
                }
            };
            // Null (or, from some clients, empty) asks for every config.
            let wanted = resource.configuration_keys.filter(|keys| !keys.is_empty());
            let configs = description
                .config
                .kafka_configs()
                .into_iter()
                .filter(|(key, _)| {
                    wanted
                        .as_ref()
                        .is_none_or(|keys| keys.iter().any(|k| &**k == *key))
                })
                .map(|(key, value)| {
                    let source = if defaults.iter().any(|(k, v)| *k == key && *v == value) {
                        SOURCE_DEFAULT
                    } else {
                        SOURCE_TOPIC
                    };
                    // A topic's own value is its one synonym, as Kafka lists it (strom has
                    // no broker-wide setting under it).
                    let synonyms = if include_synonyms && source == SOURCE_TOPIC {
                        vec![DescribeConfigsSynonym::default()
                            .with_name(StrBytes::from_static_str(key))
                            .with_value(Some(StrBytes::from_string(value.clone())))
                            .with_source(SOURCE_TOPIC)]
                    } else {
                        Vec::new()
                    };
                    DescribeConfigsResourceResult::default()
                        .with_name(StrBytes::from_static_str(key))
                        .with_value(Some(StrBytes::from_string(value)))
                        .with_config_source(source)
                        .with_synonyms(synonyms)
                })
                .collect();
            result.with_configs(configs)
        })
        .collect();
    encode(
        &DescribeConfigsResponse::default().with_results(results),
        version,
    )
}
