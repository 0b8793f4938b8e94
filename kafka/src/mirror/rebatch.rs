//! Batches the mirror builds anew instead of sending them as stored.
//!
//! Kafka takes one batch per partition in a Produce request, with offsets 0, 1, 2, ... in
//! it. So batches of a single `send` each (most applications' writes) are joined into one,
//! lest every record cost a request; and a batch that compaction thinned (gaps between its
//! offsets) or one of strom's older format is written again in Kafka's. Records keep their
//! keys, values, headers and timestamps; the joined batch takes the first one's compression.

use strom::storage::batch::{self, BatchHeader, Compression, Entry, Origin};

/// A stored batch below this size is joined with its neighbours rather than sent alone.
pub(super) const SMALL_BATCH_BYTES: usize = 16 << 10;
/// Joined batches stop growing past this size.
pub(super) const JOINED_BYTES: usize = 256 << 10;

/// Whether the stored batch of `header` can go to Kafka as it is (re-stamped): Kafka's
/// format, offsets without gaps, and not so small that it should be joined.
pub(super) fn goes_as_stored(header: &BatchHeader) -> bool {
    header.version == batch::FORMAT_VERSION
        && header.last_offset_delta.checked_add(1) == Some(header.record_count)
        && (header.length as usize >= SMALL_BATCH_BYTES
            || header.compression() != Compression::None)
}

/// Whether the stored batch of `header` can go to Kafka as it is, small or not.
pub(crate) fn is_kafkas(header: &BatchHeader) -> bool {
    header.version == batch::FORMAT_VERSION
        && header.last_offset_delta.checked_add(1) == Some(header.record_count)
}

/// One record's parts, owned while the joined batch is encoded.
struct Owned {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
}

/// The records of `stored` (whole checked batches, in offset order) as one Kafka batch
/// of `origin`, compressed with the first one's codec.
///
/// # Errors
///
/// What is wrong with a batch that does not decode, or the joined one's encoding.
pub(crate) fn join(stored: &[&[u8]], origin: Origin) -> Result<Vec<u8>, String> {
    let mut owned = Vec::new();
    let mut codec = None;
    for bytes in stored {
        let header = batch::check(bytes).map_err(|e| e.to_string())?;
        codec.get_or_insert(header.compression());
        let plain = if header.compression() == Compression::None {
            std::borrow::Cow::Borrowed(*bytes)
        } else {
            std::borrow::Cow::Owned(batch::decompress(bytes).map_err(|e| e.to_string())?)
        };
        for record in batch::records(&plain).map_err(|e| e.to_string())? {
            let record = record.map_err(|e| e.to_string())?;
            let field = |range: Option<std::ops::Range<usize>>| {
                range.and_then(|r| plain.get(r)).map(<[u8]>::to_vec)
            };
            let headers = plain
                .get(record.headers.clone())
                .map(|encoded| {
                    batch::headers(encoded, record.header_count, header.version)
                        .map(|(k, v)| {
                            (
                                String::from_utf8_lossy(k).into_owned(),
                                v.unwrap_or_default().to_vec(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            owned.push(Owned {
                timestamp: record.timestamp,
                key: field(record.key),
                value: field(record.value),
                headers,
            });
        }
    }
    let entries: Vec<Entry<'_>> = owned
        .iter()
        .map(|o| Entry {
            timestamp: o.timestamp,
            key: o.key.as_deref(),
            value: o.value.as_deref(),
            headers: &o.headers,
        })
        .collect();
    let mut joined = vec![0; batch::encoded_len(&entries)];
    let length = batch::encode_with(&mut joined, 0, origin, &entries).map_err(|e| e.to_string())?;
    joined.truncate(length);
    match codec {
        Some(codec) if codec != Compression::None => {
            batch::compress(&joined, codec).map_err(|e| e.to_string())
        }
        _ => Ok(joined),
    }
}
