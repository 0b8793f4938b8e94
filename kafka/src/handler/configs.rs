//! Changing topic configs: IncrementalAlterConfigs (what `kafka-configs --alter` and the
//! admin client's `incrementalAlterConfigs` send) and AlterConfigs (the older API, which
//! replaces a topic's whole set of configs: kafka-python's and confluent-kafka's
//! `alter_configs`), under Kafka's keys, onto [`strom::Broker::alter_topic`].

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{
    alter_configs_request, alter_configs_response, AlterConfigsRequest, AlterConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use strom::TopicConfig;

use super::{decode, encode, error_code, RequestError};
use crate::bounds::{Checked, Walk};
use crate::server::Shared;

/// The resource type of a topic.
const RESOURCE_TOPIC: i8 = 2;
/// The resource type of a broker: strom has no broker config a client may change.
const RESOURCE_BROKER: i8 = 4;

/// IncrementalAlterConfigs' operations on one key.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub(super) fn check_incremental_alter(walk: &mut Walk<'_>, _version: i16) -> Checked {
    walk.array(|resource| {
        resource.int8()?;
        resource.string()?;
        resource.array(|config| {
            config.string()?;
            config.int8()?;
            config.string()?;
            config.tags()
        })?;
        resource.tags()
    })?;
    walk.boolean()?;
    walk.tags()
}

pub(super) fn incremental_alter(
    shared: &Shared,
    version: i16,
    body: Bytes,
) -> Result<BytesMut, RequestError> {
    let request: IncrementalAlterConfigsRequest = decode(body, version)?;
    let validate_only = request.validate_only;
    let responses = request
        .resources
        .into_iter()
        .map(|resource| {
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let (code, message) = outcome(
                &resource.resource_name,
                alter_one(shared, &resource, validate_only),
            );
            response.with_error_code(code).with_error_message(message)
        })
        .collect();
    encode(
        &IncrementalAlterConfigsResponse::default().with_responses(responses),
        version,
    )
}

/// A resource's error code and message for an alter answer (0 and none when it was
/// altered), the refusal logged.
fn outcome(resource: &str, altered: Result<(), (i16, String)>) -> (i16, Option<StrBytes>) {
    match altered {
        Ok(()) => (0, None),
        Err((code, message)) => {
            tracing::debug!(
                resource,
                code,
                message,
                "kafka protocol: alter configs refused"
            );
            (code, Some(StrBytes::from_string(message)))
        }
    }
}

pub(super) fn check_alter(walk: &mut Walk<'_>, version: i16) -> Checked {
    walk.array(|resource| {
        resource.int8()?;
        resource.string()?;
        resource.array(|config| {
            config.string()?;
            config.string()?;
            if version >= 2 {
                config.tags()?;
            }
            Ok(())
        })?;
        if version >= 2 {
            resource.tags()?;
        }
        Ok(())
    })?;
    walk.boolean()?;
    if version >= 2 {
        walk.tags()?;
    }
    Ok(())
}

/// AlterConfigs: each topic's configs become the ones given, every other key back to its
/// default (as Kafka, which drops the topic's other overrides).
pub(super) fn alter(shared: &Shared, version: i16, body: Bytes) -> Result<BytesMut, RequestError> {
    let request: AlterConfigsRequest = decode(body, version)?;
    let validate_only = request.validate_only;
    let responses = request
        .resources
        .into_iter()
        .map(|resource| {
            let response = alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let (code, message) = outcome(
                &resource.resource_name,
                replace_one(shared, &resource, validate_only),
            );
            response.with_error_code(code).with_error_message(message)
        })
        .collect();
    encode(
        &AlterConfigsResponse::default().with_responses(responses),
        version,
    )
}

/// One resource of an AlterConfigs request: its configs replaced whole (or checked, for
/// `validate_only`), or not at all.
fn replace_one(
    shared: &Shared,
    resource: &alter_configs_request::AlterConfigsResource,
    validate_only: bool,
) -> Result<(), (i16, String)> {
    let name = &*resource.resource_name;
    let mut config = topic_config(shared, resource.resource_type, name)?;
    let invalid = |message: String| (ResponseError::InvalidConfig.code(), message);
    // Every key under Kafka's names back to its default first; the partition count (no
    // config) and settings Kafka has no key for stay.
    let known = TopicConfig::default().kafka_configs();
    for (key, value) in &known {
        config
            .set(key, value)
            .map_err(|e| invalid(format!("topic {name:?}: {e}")))?;
    }
    for entry in &resource.configs {
        let key = &*entry.name;
        if !known.iter().any(|(k, _)| *k == key) {
            return Err(invalid(format!(
                "topic {name:?}: config {key:?} is not one strom keeps"
            )));
        }
        let Some(value) = entry.value.as_deref() else {
            return Err(invalid(format!(
                "topic {name:?}: config {key:?} has no value"
            )));
        };
        config
            .set(key, value)
            .map_err(|e| invalid(format!("topic {name:?}: {e}")))?;
    }
    store(shared, name, config, validate_only)
}

/// Gives topic `name` its altered `config`, unless the request only validates.
fn store(
    shared: &Shared,
    name: &str,
    config: TopicConfig,
    validate_only: bool,
) -> Result<(), (i16, String)> {
    if validate_only {
        return Ok(());
    }
    shared
        .broker
        .alter_topic(name, config)
        .map_err(|e| (error_code(&e), e.to_string()))?;
    tracing::info!(topic = name, "kafka protocol: topic config altered");
    Ok(())
}

/// The config of topic `name`, for a resource of `resource_type`; the error answering the
/// resource when it is no topic strom may change.
fn topic_config(
    shared: &Shared,
    resource_type: i8,
    name: &str,
) -> Result<TopicConfig, (i16, String)> {
    match resource_type {
        RESOURCE_TOPIC => {}
        RESOURCE_BROKER => {
            return Err((
                ResponseError::InvalidRequest.code(),
                format!("broker {name:?}: strom serve has no dynamic broker configs"),
            ))
        }
        other => {
            return Err((
                ResponseError::InvalidRequest.code(),
                format!("resource type {other} ({name:?}): only topics (2)"),
            ))
        }
    }
    let unknown = || {
        (
            ResponseError::UnknownTopicOrPartition.code(),
            format!("unknown topic {name:?}"),
        )
    };
    if name.starts_with("__") {
        return Err(unknown());
    }
    shared
        .broker
        .describe_topic(name)
        .map_err(|e| (error_code(&e), e.to_string()))
        .map(|d| d.config)
}

/// One resource of an IncrementalAlterConfigs request: applied (or checked, for
/// `validate_only`) whole, or not at all.
fn alter_one(
    shared: &Shared,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), (i16, String)> {
    let name = &*resource.resource_name;
    let mut config = topic_config(shared, resource.resource_type, name)?;
    let defaults = TopicConfig::default().kafka_configs();
    let invalid = |message: String| (ResponseError::InvalidConfig.code(), message);
    for entry in &resource.configs {
        let key = &*entry.name;
        let value = entry.value.as_deref().unwrap_or("");
        let current = config
            .kafka_configs()
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v);
        let Some(current) = current else {
            return Err(invalid(format!(
                "topic {name:?}: config {key:?} is not one strom keeps"
            )));
        };
        let new = match entry.config_operation {
            SET => value.to_string(),
            DELETE => defaults
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(current, |(_, v)| v.clone()),
            // The list-valued key strom keeps is cleanup.policy.
            APPEND | SUBTRACT if key == "cleanup.policy" => {
                let mut items: Vec<&str> = current.split(',').collect();
                for item in value.split(',').filter(|i| !i.is_empty()) {
                    if entry.config_operation == APPEND {
                        if !items.contains(&item) {
                            items.push(item);
                        }
                    } else {
                        items.retain(|i| *i != item);
                    }
                }
                items.join(",")
            }
            APPEND | SUBTRACT => {
                return Err(invalid(format!(
                    "topic {name:?}: {key} is not a list; APPEND and SUBTRACT need one"
                )))
            }
            other => {
                return Err(invalid(format!(
                    "topic {name:?}: unknown config operation {other} on {key}"
                )))
            }
        };
        config
            .set(key, &new)
            .map_err(|e| invalid(format!("topic {name:?}: {e}")))?;
    }
    store(shared, name, config, validate_only)
}
