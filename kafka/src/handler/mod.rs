//! Requests decoded, answered and encoded: the table of the APIs this server speaks, each
//! with its versions, the shape its body is checked against before it is decoded, and the
//! function answering it. A family of APIs lives in a file of its own.

mod configs;
mod coordinator;
pub(crate) mod fetch;
mod group_admin;
pub(crate) mod groups;
mod metadata;
mod offsets;
mod produce;
mod topics;
mod transaction_admin;
pub(crate) mod transactions;
mod versions;

use std::fmt;
use std::net::IpAddr;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use kafka_protocol::ResponseError;

use crate::bounds::{Checked, Walk};
use crate::server::Shared;

/// Why a request closes its connection.
#[derive(Debug)]
pub(crate) struct RequestError(pub(crate) String);

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One API this server answers.
pub(crate) struct Api {
    pub(crate) key: ApiKey,
    pub(crate) min: i16,
    pub(crate) max: i16,
    /// Walks a body of `version`, so that its decoding allocates in proportion to its size.
    check: fn(&mut Walk<'_>, i16) -> Checked,
    /// Decodes a checked body, answers it and encodes the response body.
    answer: fn(&Shared, i16, Bytes) -> Result<BytesMut, RequestError>,
}

/// The APIs answered, in api key order; ApiVersions advertises exactly these ranges, which
/// are kafka-protocol 0.18's (it decodes none older: ListOffsets from v1, CreateTopics from
/// v2, DeleteTopics and DescribeConfigs from v1, Produce from v3, Fetch from v4).
/// The clients served negotiate within them: kcat 1.7.1 (librdkafka 2.0) produces with v3
/// to v7, kafka-python 3.0 and librdkafka 2.16 pick the highest version both sides know.
pub(crate) const APIS: &[Api] = &[
    Api {
        key: ApiKey::Produce,
        min: 3,
        // v13 names topics by id: strom's have none.
        max: 12,
        check: produce::check,
        answer: produce::answer,
    },
    Api {
        key: ApiKey::Fetch,
        min: 4,
        // v13 names topics by id: strom's have none.
        max: 12,
        check: fetch::check,
        answer: fetch::answer,
    },
    Api {
        key: ApiKey::ListOffsets,
        min: 1,
        max: 10,
        check: offsets::check_list_offsets,
        answer: offsets::list_offsets,
    },
    Api {
        key: ApiKey::Metadata,
        min: 0,
        max: 13,
        check: metadata::check,
        answer: metadata::answer,
    },
    Api {
        key: ApiKey::OffsetCommit,
        min: 2,
        max: 8,
        check: groups::check_offset_commit,
        answer: groups::offset_commit,
    },
    Api {
        key: ApiKey::OffsetFetch,
        min: 1,
        max: 8,
        check: groups::check_offset_fetch,
        answer: groups::offset_fetch,
    },
    Api {
        key: ApiKey::FindCoordinator,
        min: 0,
        max: 6,
        check: coordinator::check,
        answer: coordinator::answer,
    },
    Api {
        key: ApiKey::JoinGroup,
        min: 0,
        max: 9,
        check: groups::check_join,
        answer: groups::join,
    },
    Api {
        key: ApiKey::Heartbeat,
        min: 0,
        max: 4,
        check: groups::check_heartbeat,
        answer: groups::heartbeat,
    },
    Api {
        key: ApiKey::LeaveGroup,
        min: 0,
        max: 5,
        check: groups::check_leave,
        answer: groups::leave,
    },
    Api {
        key: ApiKey::SyncGroup,
        min: 0,
        max: 5,
        check: groups::check_sync,
        answer: groups::sync,
    },
    Api {
        key: ApiKey::DescribeGroups,
        min: 0,
        max: 6,
        check: groups::check_describe,
        answer: groups::describe,
    },
    Api {
        key: ApiKey::ListGroups,
        min: 0,
        max: 5,
        check: groups::check_list,
        answer: groups::list,
    },
    Api {
        key: ApiKey::ApiVersions,
        min: 0,
        max: 3,
        check: versions::check,
        answer: versions::answer,
    },
    Api {
        key: ApiKey::CreateTopics,
        min: 2,
        max: 7,
        check: topics::check_create,
        answer: topics::create,
    },
    Api {
        key: ApiKey::DeleteTopics,
        min: 1,
        max: 6,
        check: topics::check_delete,
        answer: topics::delete,
    },
    Api {
        key: ApiKey::InitProducerId,
        min: 0,
        max: 5,
        check: transactions::check_init_producer_id,
        answer: transactions::init_producer_id,
    },
    Api {
        key: ApiKey::AddPartitionsToTxn,
        min: 0,
        max: 3,
        check: transactions::check_add_partitions,
        answer: transactions::add_partitions,
    },
    Api {
        key: ApiKey::AddOffsetsToTxn,
        min: 0,
        max: 3,
        check: transactions::check_add_offsets,
        answer: transactions::add_offsets,
    },
    Api {
        key: ApiKey::EndTxn,
        min: 0,
        max: 4,
        check: transactions::check_end,
        answer: transactions::end,
    },
    Api {
        key: ApiKey::WriteTxnMarkers,
        min: 1,
        max: 1,
        check: transaction_admin::check_write_txn_markers,
        answer: transaction_admin::write_txn_markers,
    },
    Api {
        key: ApiKey::TxnOffsetCommit,
        min: 0,
        max: 4,
        check: transactions::check_txn_offset_commit,
        answer: transactions::txn_offset_commit,
    },
    Api {
        key: ApiKey::DescribeConfigs,
        min: 1,
        max: 4,
        check: topics::check_describe_configs,
        answer: topics::describe_configs,
    },
    Api {
        key: ApiKey::AlterConfigs,
        min: 0,
        max: 2,
        check: configs::check_alter,
        answer: configs::alter,
    },
    Api {
        key: ApiKey::CreatePartitions,
        min: 0,
        max: 3,
        check: topics::check_create_partitions,
        answer: topics::create_partitions,
    },
    Api {
        key: ApiKey::DeleteGroups,
        min: 0,
        max: 2,
        check: group_admin::check_delete_groups,
        answer: group_admin::delete_groups,
    },
    Api {
        key: ApiKey::IncrementalAlterConfigs,
        min: 0,
        max: 1,
        check: configs::check_incremental_alter,
        answer: configs::incremental_alter,
    },
    Api {
        key: ApiKey::OffsetDelete,
        min: 0,
        max: 0,
        check: group_admin::check_offset_delete,
        answer: group_admin::offset_delete,
    },
    Api {
        key: ApiKey::DescribeProducers,
        min: 0,
        max: 0,
        check: transaction_admin::check_describe_producers,
        answer: transaction_admin::describe_producers,
    },
    Api {
        key: ApiKey::DescribeTransactions,
        min: 0,
        max: 0,
        check: transaction_admin::check_describe,
        answer: transaction_admin::describe,
    },
    Api {
        key: ApiKey::ListTransactions,
        min: 0,
        max: 2,
        check: transaction_admin::check_list,
        answer: transaction_admin::list,
    },
    Api {
        key: ApiKey::DescribeTopicPartitions,
        min: 0,
        max: 0,
        check: metadata::check_describe_topic_partitions,
        answer: metadata::describe_topic_partitions,
    },
];

/// Answers one request frame: the response frame (size prefix included), or why the
/// connection must close.
pub(crate) fn handle(shared: &Shared, frame: &Bytes) -> Result<BytesMut, RequestError> {
    match handle_polling(shared, frame, Poll::Never, None)? {
        Handled::Respond(response) => Ok(response),
        // Not asked for: a Fetch answers at once without a deadline.
        Handled::Wait(_) => Ok(BytesMut::new()),
    }
}

/// Whether a Fetch finding too little may wait for more (Kafka's long-poll).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Poll {
    /// It answers at once (no runtime to wait on).
    Never,
    /// The request's first reading: its deadline is `max_wait_ms` from now.
    First,
    /// A reading after a wait, until this deadline.
    Until(tokio::time::Instant),
}

/// What the server does with a request.
pub(crate) enum Handled {
    /// Sends this response frame; none when empty (a Produce with `acks = 0`).
    Respond(BytesMut),
    /// A Fetch that found too little: wait for data (or the deadline), then handle the
    /// request again with [`Poll::Until`] the deadline. The wait runs on the connection's
    /// task, not a blocking thread, so that the server's shutdown just drops it.
    Wait(fetch::Wait),
}

/// As [`handle`], for the server: a Fetch may ask to wait, and a JoinGroup's member is
/// described with its client id and `peer`'s address, as Kafka describes it.
pub(crate) fn handle_polling(
    shared: &Shared,
    frame: &Bytes,
    poll: Poll,
    peer: Option<IpAddr>,
) -> Result<Handled, RequestError> {
    let [k0, k1, v0, v1, c0, c1, c2, c3, ..] = frame[..] else {
        return Err(RequestError(format!(
            "a {}-byte request, shorter than a request header",
            frame.len()
        )));
    };
    let raw_key = i16::from_be_bytes([k0, k1]);
    let version = i16::from_be_bytes([v0, v1]);
    let correlation_id = i32::from_be_bytes([c0, c1, c2, c3]);
    let key = ApiKey::try_from(raw_key)
        .map_err(|()| RequestError(format!("unknown api key {raw_key}")))?;
    let api = APIS
        .iter()
        .find(|api| api.key == key)
        .ok_or_else(|| RequestError(format!("unsupported api {key:?}")))?;
    if !(api.min..=api.max).contains(&version) {
        if key == ApiKey::ApiVersions {
            // As Kafka: a client newer than the server learns the versions it may use from
            // a v0 response carrying UNSUPPORTED_VERSION. Its header is still read as that
            // version's (v2, with tagged fields, from v3 on): Kafka closes the connection of
            // a request whose header does not parse, whatever its version.
            Walk::header(frame, key.request_header_version(version))
                .map_err(|e| RequestError(format!("{key:?} v{version}: request header: {e}")))?;
            let body = versions::unsupported();
            return frame_response(correlation_id, 0, &body).map(Handled::Respond);
        }
        return Err(RequestError(format!(
            "{key:?} version {version} outside {}..={}",
            api.min, api.max
        )));
    }
    let header_version = key.request_header_version(version);
    let malformed = |e| RequestError(format!("{key:?} v{version}: {e}"));
    let walk = Walk::header(frame, header_version).map_err(malformed)?;
    let body_start = frame.len() - walk.rest().len();
    let mut body_walk = Walk::new(walk.rest(), header_version >= 2);
    (api.check)(&mut body_walk, version).map_err(malformed)?;
    let header = RequestHeader::decode(&mut frame.slice(..body_start), header_version)
        .map_err(|e| RequestError(format!("{key:?} v{version}: request header: {e}")))?;
    let body = match (key, poll) {
        (ApiKey::Fetch, Poll::First | Poll::Until(_)) => {
            match fetch::answer_polling(shared, version, frame.slice(body_start..), poll)? {
                fetch::Fetched::Answer(body) => body,
                fetch::Fetched::Wait(wait) => return Ok(Handled::Wait(wait)),
            }
        }
        (ApiKey::JoinGroup, _) => {
            let client = groups::Client {
                client_id: header.client_id.as_deref().unwrap_or_default().to_owned(),
                // Java's InetAddress text, which Kafka's DescribeGroups carries.
                host: peer.map(|ip| format!("/{ip}")).unwrap_or_default(),
            };
            groups::join_from(shared, version, frame.slice(body_start..), client)?
        }
        _ => (api.answer)(shared, version, frame.slice(body_start..))?,
    };
    if key == ApiKey::Produce && body.is_empty() {
        // acks = 0: the client reads no response.
        return Ok(Handled::Respond(BytesMut::new()));
    }
    frame_response(
        header.correlation_id,
        key.response_header_version(version),
        &body,
    )
    .map(Handled::Respond)
}

/// Size prefix, response header, body.
fn frame_response(
    correlation_id: i32,
    header_version: i16,
    body: &[u8],
) -> Result<BytesMut, RequestError> {
    let mut header = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut header, header_version)
        .map_err(|e| RequestError(format!("response header: {e}")))?;
    let size = i32::try_from(header.len() + body.len())
        .map_err(|_| RequestError("a response over 2 GiB".to_owned()))?;
    let mut out = BytesMut::with_capacity(4 + header.len() + body.len());
    out.put_i32(size);
    out.put_slice(&header);
    out.put_slice(body);
    Ok(out)
}

/// A request body of `version` decoded; the bounds check has passed.
pub(crate) fn decode<T: Decodable>(mut body: Bytes, version: i16) -> Result<T, RequestError> {
    T::decode(&mut body, version).map_err(|e| {
        RequestError(format!(
            "undecodable {} v{version}: {e}",
            std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("request")
        ))
    })
}

/// A response body of `version` encoded.
pub(crate) fn encode<T: Encodable>(response: &T, version: i16) -> Result<BytesMut, RequestError> {
    let mut out = BytesMut::new();
    response.encode(&mut out, version).map_err(|e| {
        RequestError(format!(
            "{} v{version} cannot be encoded: {e}",
            std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("response")
        ))
    })?;
    Ok(out)
}

/// The protocol's error code for one of the log's errors.
pub(crate) fn error_code(error: &strom::Error) -> i16 {
    let kafka = match error {
        strom::Error::TopicExists { .. } => ResponseError::TopicAlreadyExists,
        strom::Error::UnknownTopic { .. } | strom::Error::InvalidPartition { .. } => {
            ResponseError::UnknownTopicOrPartition
        }
        strom::Error::InvalidTopicName { .. } => ResponseError::InvalidTopicException,
        strom::Error::InvalidConfig { .. } => ResponseError::InvalidConfig,
        strom::Error::Io { .. } => ResponseError::KafkaStorageError,
        strom::Error::OffsetMetadataTooLarge { .. } => ResponseError::OffsetMetadataTooLarge,
        strom::Error::UnknownGroup { .. } => ResponseError::GroupIdNotFound,
        strom::Error::GroupNotEmpty { .. } => ResponseError::NonEmptyGroup,
        _ => ResponseError::UnknownServerError,
    };
    kafka.code()
}
