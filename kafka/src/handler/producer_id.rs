//! InitProducerId for an idempotent producer (no transactional id): a producer id of its own
//! at epoch 0, from the broker's allocator.
//!
//! MERGE NOTE: the transaction coordinator's handler (`transactions::init_producer_id`)
//! answers InitProducerId both with and without a transactional id; where it is present,
//! its table entry replaces this one and this file goes.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;

use super::{decode, encode, error_code, RequestError};
use crate::bounds::{Checked, Walk};
use crate::server::Shared;

pub(super) fn check(walk: &mut Walk<'_>, version: i16) -> Checked {
    walk.string()?; // transactional id
    walk.i32()?; // transaction timeout
    if version >= 3 {
        walk.i64()?; // producer id
        walk.i16()?; // producer epoch
    }
    walk.tags()
}

pub(super) fn answer(shared: &Shared, version: i16, body: Bytes) -> Result<BytesMut, RequestError> {
    let request: InitProducerIdRequest = decode(body, version)?;
    let transactional = request
        .transactional_id
        .as_ref()
        .is_some_and(|id| !id.0.is_empty());
    let response = if transactional {
        // Transactional ids belong to the transaction coordinator (see the module docs).
        InitProducerIdResponse::default()
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
            .with_error_code(ResponseError::CoordinatorNotAvailable.code())
    } else {
        match shared.broker.init_producer_id() {
            Ok(identity) => InitProducerIdResponse::default()
                .with_producer_id(ProducerId(identity.producer_id))
                .with_producer_epoch(identity.epoch),
            Err(e) => InitProducerIdResponse::default()
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_error_code(error_code(&e)),
        }
    };
    encode(&response, version)
}
