//! ApiVersions: which APIs, at which versions, this server answers.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::ResponseError;

use super::{decode, encode, RequestError, APIS};
use crate::bounds::{Checked, Walk};
use crate::server::Shared;

pub(super) fn check(walk: &mut Walk<'_>, version: i16) -> Checked {
    if version >= 3 {
        walk.string()?;
        walk.string()?;
        walk.tags()?;
    }
    Ok(())
}

fn table() -> Vec<ApiVersion> {
    APIS.iter()
        .map(|api| {
            ApiVersion::default()
                .with_api_key(api.key as i16)
                .with_min_version(api.min)
                .with_max_version(api.max)
        })
        .collect()
}

pub(super) fn answer(_: &Shared, version: i16, body: Bytes) -> Result<BytesMut, RequestError> {
    let _request: ApiVersionsRequest = decode(body, version)?;
    encode(
        &ApiVersionsResponse::default().with_api_keys(table()),
        version,
    )
}

/// The v0 response to a version this server does not know, listing the ones it does.
pub(super) fn unsupported() -> BytesMut {
    let response = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(table());
    // A v0 ApiVersions response of a few dozen entries always encodes.
    encode(&response, 0).unwrap_or_default()
}
