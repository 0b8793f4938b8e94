//! FindCoordinator: this server coordinates every group and every transactional id.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::{decode, encode, RequestError};
use crate::bounds::{Checked, Walk};
use crate::server::Shared;

pub(super) fn check(walk: &mut Walk<'_>, version: i16) -> Checked {
    if version <= 3 {
        walk.string()?;
    }
    if version >= 1 {
        walk.int8()?;
    }
    if version >= 4 {
        walk.array(Walk::string)?;
    }
    walk.tags()
}

pub(super) fn answer(shared: &Shared, version: i16, body: Bytes) -> Result<BytesMut, RequestError> {
    let request: FindCoordinatorRequest = decode(body, version)?;
    let host = StrBytes::from_string(shared.host.clone());
    let node = BrokerId(shared.config.node_id);
    let response = if version >= 4 {
        // Batched keys (v4+): one coordinator per key, all of them this node.
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| {
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(node)
                    .with_host(host.clone())
                    .with_port(shared.port)
            })
            .collect();
        FindCoordinatorResponse::default().with_coordinators(coordinators)
    } else {
        FindCoordinatorResponse::default()
            .with_node_id(node)
            .with_host(host)
            .with_port(shared.port)
    };
    encode(&response, version)
}
