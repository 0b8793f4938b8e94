// Shared by the fuzz targets (`fuzz/fuzz_targets/*.rs`), the corpus replay test
// (`tests/fuzz_corpus_replay.rs`) and the corpus generator (`tests/fuzz_corpus_generate.rs`),
// each of which `include!`s it, so it compiles as part of each of those crates: no `use` of
// anything but `std` and `strom` (and `tempfile`, which all of them have).
//
// A harness may panic only through the assertions below, each of which states a property
// strom promises: never a panic, never a hang, records as the format documents them.

/// The topic the `open_dir` harness lays out, with one partition.
const FUZZ_TOPIC: &str = "t";

/// `t/topic.json`: one partition, small segments, nothing deleted by retention.
const FUZZ_TOPIC_JSON: &str = r#"{
  "partitions": 1,
  "segment_bytes": 4096,
  "segment_ms": 604800000,
  "retention_ms": -1,
  "retention_bytes": null,
  "max_record_bytes": 1048576,
  "cleanup_policy": "delete",
  "delete_retention_ms": 86400000,
  "index_interval_bytes": 128,
  "compression": "none",
  "rebatch_sealed": false
}"#;

/// `open_dir` flag: write a `.clean` marker (a clean shutdown) with the header's fields.
const FLAG_CLEAN: u8 = 1;
/// `open_dir` flag: no `.index` file at all.
const FLAG_NO_INDEX: u8 = 2;
/// `open_dir` flag: no `.timeindex` file at all.
const FLAG_NO_TIMEINDEX: u8 = 4;
/// `open_dir` flag: append a record after reading, then read again.
const FLAG_APPEND: u8 = 8;
/// `open_dir` flag: recompute the CRC of every batch of the `.log` before writing it, so that
/// mutated records get past the checksum.
const FLAG_FIX_CRC: u8 = 16;
/// `open_dir` flag: with `FLAG_CLEAN`, the marker also records where the `.log`'s last batch
/// starts (found by walking batch headers from its start), as strom writes it, so that the
/// open checks that batch and trusts a marker that matches instead of scanning.
const FLAG_LAST_BATCH: u8 = 32;

/// Bytes of the `open_dir` input header (missing bytes read as zero):
///
/// | at | size | field                                               |
/// |---:|-----:|-----------------------------------------------------|
/// |  0 |    1 | flags (`FLAG_*`)                                    |
/// |  1 |    2 | u16: bytes of `.log` (at most what is left)         |
/// |  3 |    2 | u16: bytes of `.index` (at most what is left)       |
/// |  5 |    8 | i64: timestamp for `seek_to_timestamp`              |
/// | 13 |    8 | u64: `.clean` `next_offset` (with `FLAG_CLEAN`)     |
/// | 21 |    8 | i64: `.clean` `max_timestamp` (with `FLAG_CLEAN`)   |
///
/// The rest is the `.log`, then the `.index`, then the `.timeindex`.
const OPEN_DIR_HEADER: usize = 29;

/// Upper bound on polls per pass: every non-empty poll returns at least one record and a record
/// takes at least 7 bytes of log, so more polls than this means strom loops.
fn max_polls(log_len: usize) -> usize {
    log_len / 7 + 16
}

/// A reflected CRC-32 with polynomial `poly` (initial value and final XOR `0xFFFFFFFF`) of
/// `parts`, as one stream; bitwise, as inputs are small.
fn fuzz_crc(poly: u32, parts: &[&[u8]]) -> u32 {
    let mut crc = u32::MAX;
    for part in parts {
        for &byte in *part {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ poly
                } else {
                    crc >> 1
                };
            }
        }
    }
    !crc
}

/// The CRC-32 (zlib's) of `parts`, as one stream: version 1's checksum.
fn fuzz_crc32(parts: &[&[u8]]) -> u32 {
    fuzz_crc(0xEDB8_8320, parts)
}

/// The CRC-32C (Castagnoli, iSCSI) of `bytes`: version 2's (Kafka's) checksum.
fn fuzz_crc32c(bytes: &[u8]) -> u32 {
    fuzz_crc(0x82F6_3B78, &[bytes])
}

/// Rewrites the `crc` field of every batch whose header reads and that fits in `buf`, walking
/// batches back to back from the start, so that mutations inside records get past `check`:
/// version 1's CRC-32 of bytes `0..8` and `16..` (little-endian at 12), version 2's CRC-32C of
/// bytes `21..` (big-endian at 17).
#[allow(clippy::big_endian_bytes)] // version 2 (Kafka's RecordBatch) is big-endian
fn fix_crcs(buf: &mut [u8]) {
    use strom::storage::batch::{self, v1, v2};
    let mut pos = 0usize;
    while let Ok(header) = batch::read_header(&buf[pos..]) {
        let end = pos + header.length as usize;
        if end > buf.len() {
            break;
        }
        match header.version {
            v1::VERSION => {
                let crc = fuzz_crc32(&[&buf[pos..pos + 8], &buf[pos + 16..end]]);
                buf[pos + 12..pos + 16].copy_from_slice(&crc.to_le_bytes());
            }
            v2::VERSION => {
                let crc = fuzz_crc32c(&buf[pos + 21..end]);
                buf[pos + 17..pos + 21].copy_from_slice(&crc.to_be_bytes());
            }
            _ => break,
        }
        pos = end;
    }
}

/// `read_header`, `check`, `records`, `headers`, `control_record` and `set_base_offset` on
/// `data` as given and with its checksums recomputed.
fn batch_decode(data: &[u8]) {
    decode_one(data);
    let mut fixed = data.to_vec();
    fix_crcs(&mut fixed);
    decode_one(&fixed);
}

/// What a header that reads promises, in either version.
fn header_invariants(h: &strom::storage::batch::BatchHeader) {
    use strom::storage::batch::{v1, v2, Origin};
    assert!(h.record_count >= 1, "record_count 0");
    assert!(
        h.last_offset_delta >= h.record_count - 1,
        "last_offset_delta below record_count - 1"
    );
    assert_eq!(h.last_offset(), h.base_offset + u64::from(h.last_offset_delta));
    assert_eq!(h.next_offset(), h.last_offset().saturating_add(1));
    let header_bytes = match h.version {
        v1::VERSION => {
            assert_eq!(h.last_offset_delta, h.record_count - 1, "v1 offsets have no gaps");
            assert_eq!(h.attributes, 0, "v1 attributes");
            assert_eq!(h.partition_leader_epoch, -1, "v1 leader epoch");
            assert_eq!(h.origin, Origin::NONE, "v1 producer");
            assert!(h.max_timestamp >= h.first_timestamp, "v1 max below first");
            assert!(h.base_offset.checked_add(u64::from(h.record_count)).is_some());
            v1::HEADER_BYTES
        }
        v2::VERSION => {
            let last = i64::try_from(h.last_offset());
            assert!(last.is_ok(), "v2 offsets past i64::MAX");
            assert!(h.attributes < 0x40, "v2 attributes {:#x}", h.attributes);
            assert!(h.compression().code() <= 4, "v2 codec {}", h.compression());
            assert_eq!(h.origin.transactional, h.is_transactional());
            v2::HEADER_BYTES
        }
        other => panic!("read_header accepted version {other}"),
    };
    // The smallest record is 7 bytes in both versions.
    let body = h.length as usize - header_bytes;
    assert!(body >= 7, "length {} below the smallest batch", h.length);
    if h.compression() == strom::Compression::None {
        assert!(body / 7 >= h.record_count as usize, "record_count past length");
    }
}

/// `set_base_offset` on a copy of `data`, to `base`: it moves only version 2 batches whose
/// offsets stay at most `i64::MAX`, changes nothing else but the leader epoch (to 0), keeps
/// the checksum valid, and leaves the bytes alone when it refuses.
#[allow(clippy::big_endian_bytes)] // version 2 (Kafka's RecordBatch) is big-endian
fn move_batch(data: &[u8], base: u64) {
    use strom::storage::batch::{self, v2, DecodeError};
    let mut moved = data.to_vec();
    let result = batch::set_base_offset(&mut moved, base);
    let header = match batch::read_header(data) {
        Ok(h) => h,
        Err(e) => {
            assert_eq!(result, Err(e), "set_base_offset of an unreadable header");
            assert_eq!(moved, data, "a refused move changed the batch");
            return;
        }
    };
    if header.version != v2::VERSION {
        assert_eq!(result, Err(DecodeError::Version(header.version)));
        assert_eq!(moved, data, "a refused move changed the batch");
        return;
    }
    let fits = i64::try_from(base)
        .ok()
        .and_then(|b| b.checked_add(i64::from(header.last_offset_delta)))
        .is_some();
    if result.is_err() {
        assert!(!fits, "set_base_offset refused {base}: {result:?}");
        assert_eq!(moved, data, "a refused move changed the batch");
        return;
    }
    assert!(fits, "set_base_offset moved offsets past i64::MAX");
    assert_eq!(moved[..8], base.to_be_bytes(), "moved base offset");
    assert_eq!(moved[8..12], data[8..12], "moved length");
    assert_eq!(moved[12..16], [0; 4], "moved leader epoch");
    assert_eq!(moved[16..], data[16..], "moved batch's other bytes");
    let want = batch::BatchHeader {
        base_offset: base,
        partition_leader_epoch: 0,
        ..header
    };
    assert_eq!(batch::read_header(&moved), Ok(want), "moved header");
    assert_eq!(
        batch::check(&moved).map(|h| h.crc),
        batch::check(data).map(|h| h.crc),
        "moving a batch changed whether its checksum matches"
    );
}

/// Bytes the varint at the front of `bytes` takes (at least one).
fn varint_bytes(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| **b & 0x80 != 0).count() + 1
}

/// A record as decoded: where it ends in the batch, offset, timestamp, attributes byte, key,
/// value, headers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decoded {
    end: usize,
    offset: u64,
    timestamp: i64,
    attributes: u8,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// Arbitrary bytes as encoded headers of either version, with a count from the input. A
/// header takes at least two bytes in both.
fn arbitrary_headers(data: &[u8]) {
    use strom::storage::batch::{self, v1, v2};
    let count = data
        .get(..4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    for version in [v1::VERSION, v2::VERSION] {
        let pairs: Vec<_> = batch::headers(data, count, version).collect();
        assert!(pairs.len() <= count as usize && pairs.len() <= data.len() / 2);
        if version == v1::VERSION {
            assert!(
                pairs.iter().all(|(_, v)| v.is_some()),
                "a null v1 header value"
            );
        }
    }
}

/// A batch that checks decompresses to an uncompressed batch with the same header fields
/// (but attributes, length and checksum), whose records then decode as any batch's; or it
/// fails with an error. Never a panic, nor more than `MAX_DECOMPRESSED_BYTES` of records.
fn decompress_one(data: &[u8]) {
    use strom::storage::batch::{self, HEADER_BYTES, MAX_DECOMPRESSED_BYTES};
    use strom::Compression;
    let Ok(original) = batch::check(data) else {
        return;
    };
    match batch::decompress(data) {
        Ok(plain) => {
            let h = batch::check(&plain).expect("a decompressed batch checks");
            assert_eq!(h.compression(), Compression::None);
            assert!(plain.len() <= HEADER_BYTES.max(h.length as usize));
            assert!(plain.len() - HEADER_BYTES.min(plain.len()) <= MAX_DECOMPRESSED_BYTES);
            assert_eq!(
                (h.base_offset, h.record_count, h.last_offset_delta, h.origin),
                (
                    original.base_offset,
                    original.record_count,
                    original.last_offset_delta,
                    original.origin
                )
            );
            assert_eq!(h.attributes, original.attributes & !0x07);
            if original.compression() != Compression::None {
                // Its records decode, or fail with an error, like any batch's.
                decode_one(&plain);
            }
        }
        Err(e) => {
            assert_ne!(original.compression(), Compression::None, "{e}");
            assert!(!e.to_string().is_empty());
        }
    }
}

fn decode_one(data: &[u8]) {
    use strom::storage::batch;
    let header = batch::read_header(data);
    let checked = batch::check(data);
    if let Ok(h) = &header {
        header_invariants(h);
    }
    if let Ok(h) = &checked {
        assert_eq!(
            header.as_ref().ok(),
            Some(h),
            "check Ok but read_header not"
        );
        assert!(h.length as usize <= data.len());
    }
    // Display must work for every error.
    if let Err(e) = &checked {
        assert!(!e.to_string().is_empty());
    }
    arbitrary_headers(data);
    if checked.is_ok() {
        decompress_one(data);
    }
    let top = header
        .as_ref()
        .map_or(i64::MAX as u64, |h| i64::MAX as u64 - u64::from(h.last_offset_delta));
    // To a base offset from the input, to the start, and to and past the last that fits.
    let word = data
        .len()
        .checked_sub(8)
        .map_or(0, |at| u64::from_le_bytes(data[at..].try_into().expect("8 bytes")));
    for base in [word, 0, top, top + 1] {
        move_batch(data, base);
    }
    let control = batch::control_record(data);
    if let Err(e) = &control {
        assert!(!e.to_string().is_empty());
    }

    let it = match batch::records(data) {
        Ok(it) => it,
        Err(e) => {
            let compressed = checked
                .as_ref()
                .is_ok_and(|h| h.compression() != strom::Compression::None);
            assert!(
                checked.is_err() || compressed,
                "check Ok but records failed: {e:?}"
            );
            assert!(control.is_err(), "control_record Ok but records failed");
            return;
        }
    };
    let h = *it.header();
    assert_eq!(header.as_ref().ok(), Some(&h));
    assert_eq!(
        h.compression(),
        strom::Compression::None,
        "records of a compressed batch"
    );
    let (decoded, errors) = decode_records(data, it);
    let ok = decoded.len();
    assert!(errors <= 1, "more than one error");
    if errors == 0 {
        assert_eq!(ok, h.record_count as usize, "records ended early");
        let end = decoded.last().map_or(0, |d| d.end);
        assert_eq!(end, h.length as usize, "the last record ends before the batch");
    } else {
        assert!(ok < h.record_count as usize);
    }
    if checked.is_ok() {
        assert!(
            (errors == 0 && ok == h.record_count as usize) || errors == 1,
            "checked batch: {ok} records and {errors} errors for {}",
            h.record_count
        );
    }
    match control {
        Ok(marker) => {
            assert!(h.is_control(), "a marker from a batch that is not control");
            assert_eq!((errors, ok), (0, 1), "a marker from a batch of {ok} records");
            reencode_control(data, &h, marker, &decoded[0]);
        }
        Err(e) if !h.is_control() => {
            assert_eq!(e, batch::DecodeError::Record("not a control batch"));
        }
        Err(_) => {}
    }
    if errors == 0 && !h.is_control() {
        reencode(data, &h, &decoded);
    }
}

/// The records `it` yields, checked, until the first error; and how many errors it yields.
fn decode_records(data: &[u8], it: strom::storage::batch::Records<'_>) -> (Vec<Decoded>, u32) {
    use strom::storage::batch::{self, v1, v2};
    let h = *it.header();
    let mut start = if h.version == v1::VERSION {
        v1::HEADER_BYTES
    } else {
        v2::HEADER_BYTES
    };
    let mut errors = 0u32;
    let mut decoded: Vec<Decoded> = Vec::new();
    for (i, record) in it.enumerate() {
        assert!(
            i < h.record_count as usize,
            "records yielded more than record_count"
        );
        match record {
            Ok(r) => {
                assert_eq!(errors, 0, "a record after an error");
                let d = decoded_record(data, &h, start, &r, decoded.last());
                assert!(
                    h.version != v1::VERSION || r.offset == h.base_offset + i as u64,
                    "v1 offset"
                );
                decoded.push(d);
                // Records lie back to back, each ending where its headers do.
                start = r.headers.end;
            }
            Err(e) => {
                assert!(matches!(e, batch::DecodeError::Record(_)), "{e:?}");
                errors += 1;
            }
        }
    }
    (decoded, errors)
}

/// What a record that reads promises; `start` is where it starts in `data`, `previous` the
/// batch's record before it.
fn decoded_record(
    data: &[u8],
    h: &strom::storage::batch::BatchHeader,
    start: usize,
    r: &strom::storage::batch::RecordRef,
    previous: Option<&Decoded>,
) -> Decoded {
    use strom::storage::batch::{self, v1, v2};
    assert!(
        previous.is_none_or(|d| r.offset > d.offset),
        "offsets do not increase"
    );
    assert!(
        r.offset >= h.base_offset && r.offset <= h.last_offset(),
        "offset {} outside the batch's {}..={}",
        r.offset,
        h.base_offset,
        h.last_offset()
    );
    assert!(r.timestamp <= h.max_timestamp, "timestamp above max");
    if h.attributes & v2::LOG_APPEND_TIME != 0 {
        assert_eq!(r.timestamp, h.max_timestamp, "log-append time");
    }
    for range in [r.key.clone(), r.value.clone(), Some(r.headers.clone())]
        .into_iter()
        .flatten()
    {
        assert!(range.start <= range.end && range.end <= h.length as usize, "range");
        assert!(range.start > start, "a field before its record starts");
    }
    let pairs: Vec<_> = batch::headers(&data[r.headers.clone()], r.header_count, h.version)
        .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
        .collect();
    assert_eq!(
        pairs.len(),
        r.header_count as usize,
        "headers of a good record"
    );
    let attributes = data[start + varint_bytes(&data[start..])];
    if h.version == v1::VERSION {
        assert!(pairs.iter().all(|(_, v)| v.is_some()), "a null v1 header value");
        assert_eq!(attributes, 0, "v1 record attributes");
    }
    Decoded {
        end: r.headers.end,
        offset: r.offset,
        timestamp: r.timestamp,
        attributes,
        key: r.key.clone().map(|k| data[k].to_vec()),
        value: r.value.clone().map(|v| data[v].to_vec()),
        headers: pairs,
    }
}

/// Headers as `encode` takes them.
type OwnedHeaders = Vec<(String, Vec<u8>)>;

/// The entries `decoded` holds, as `encode` takes them (a null header value as empty), or
/// `None` if a header key is not UTF-8, which `encode` cannot take (readers do not validate
/// them).
fn owned_headers(decoded: &[Decoded]) -> Option<Vec<OwnedHeaders>> {
    decoded
        .iter()
        .map(|d| {
            d.headers
                .iter()
                .map(|(k, v)| {
                    let k = String::from_utf8(k.clone()).ok()?;
                    Some((k, v.clone().unwrap_or_default()))
                })
                .collect::<Option<Vec<_>>>()
        })
        .collect()
}

/// A batch whose records all decode, encoded again from what was decoded (as version 2, the
/// version strom writes), decodes to the same records. When strom could have written the
/// batch itself — version 2, no offset gaps, no attributes but transactional, the first
/// record's timestamp as base timestamp, no null header values, record attributes 0 — the
/// encoding is canonical: it gives back the same bytes, except the checksum (`records` does
/// not verify it), the leader epoch (strom writes 0) and the max timestamp (only checked to
/// be at least every record's).
fn reencode(data: &[u8], h: &strom::storage::batch::BatchHeader, decoded: &[Decoded]) {
    use strom::storage::batch::{self, v2};
    let Some(headers) = owned_headers(decoded) else {
        return;
    };
    let entries: Vec<batch::Entry<'_>> = decoded
        .iter()
        .zip(&headers)
        .map(|(d, headers)| batch::Entry {
            timestamp: d.timestamp,
            key: d.key.as_deref(),
            value: d.value.as_deref(),
            headers,
        })
        .collect();
    let len = batch::encoded_len(&entries);
    let mut out = vec![0; len];
    let canonical = h.version == v2::VERSION
        && (h.attributes == 0 || h.attributes == v2::TRANSACTIONAL)
        && h.last_offset_delta == h.record_count - 1
        && decoded[0].timestamp == h.first_timestamp
        && decoded.iter().all(|d| {
            d.attributes == 0 && d.headers.iter().all(|(_, v)| v.is_some())
        });
    // Base offset 0 for batches strom could not have written: a version 1 batch's offsets
    // may pass i64::MAX.
    let base = if canonical { h.base_offset } else { 0 };
    assert_eq!(
        batch::encode_with(&mut out, base, h.origin, &entries),
        Ok(len),
        "re-encoding decoded records"
    );
    // The records read back are the ones encoded.
    let again: Vec<_> = batch::records(&out)
        .expect("a batch strom wrote reads")
        .map(|r| r.expect("a record strom wrote reads"))
        .collect();
    assert_eq!(again.len(), decoded.len(), "re-encoded record count");
    for (i, ((r, d), hs)) in again.iter().zip(decoded).zip(&headers).enumerate() {
        assert_eq!(r.offset, base + i as u64, "re-encoded offset");
        assert_eq!(r.timestamp, d.timestamp, "re-encoded timestamp");
        assert_eq!(r.key.clone().map(|k| &out[k]), d.key.as_deref());
        assert_eq!(r.value.clone().map(|v| &out[v]), d.value.as_deref());
        let read: Vec<_> = batch::headers(&out[r.headers.clone()], r.header_count, v2::VERSION)
            .collect();
        let want: Vec<_> = hs.iter().map(|(k, v)| (k.as_bytes(), Some(&v[..]))).collect();
        assert_eq!(read, want, "re-encoded headers");
    }
    if !canonical {
        return;
    }
    let original = &data[..h.length as usize];
    assert_eq!(len, original.len(), "re-encoded length");
    assert_eq!(out[..12], original[..12], "re-encoded base offset and length");
    assert_eq!(out[16], original[16], "re-encoded magic");
    assert_eq!(out[21..35], original[21..35], "re-encoded header");
    assert_eq!(out[43..61], original[43..61], "re-encoded producer and count");
    assert_eq!(out[61..], original[61..], "re-encoded records");
}

/// A control batch as strom writes one (`encode_control`: one record at the base offset
/// with key and value of version 0, no sequence, one timestamp) encodes back to the same
/// bytes, except the checksum and the leader epoch.
fn reencode_control(
    data: &[u8],
    h: &strom::storage::batch::BatchHeader,
    marker: strom::storage::batch::ControlRecord,
    record: &Decoded,
) {
    use strom::storage::batch::{self, v2};
    let versions_0 = |field: &Option<Vec<u8>>, len: usize| {
        field
            .as_deref()
            .is_some_and(|f| f.len() == len && f[..2] == [0, 0])
    };
    let canonical = h.attributes == v2::TRANSACTIONAL | v2::CONTROL
        && h.length as usize == batch::CONTROL_BATCH_BYTES
        && h.last_offset_delta == 0
        && h.origin.base_sequence == -1
        && h.max_timestamp == h.first_timestamp
        && record.attributes == 0
        && record.offset == h.base_offset
        && record.timestamp == h.first_timestamp
        && record.headers.is_empty()
        && versions_0(&record.key, 4)
        && versions_0(&record.value, 6);
    if !canonical {
        return;
    }
    let mut out = [0; batch::CONTROL_BATCH_BYTES];
    let written = batch::encode_control(&mut out, h.base_offset, h.origin, marker, h.first_timestamp);
    assert_eq!(written, Ok(out.len()), "re-encoding a marker");
    let original = &data[..out.len()];
    assert_eq!(out[..12], original[..12], "re-encoded marker's offset and length");
    assert_eq!(out[16], original[16], "re-encoded marker's magic");
    assert_eq!(out[21..], original[21..], "re-encoded marker");
}

/// Builds an `open_dir` input (the inverse of the split `open_dir` does).
#[allow(dead_code)]
fn open_dir_input(
    flags: u8,
    seek_ts: i64,
    clean: (u64, i64),
    log: &[u8],
    index: &[u8],
    timeindex: &[u8],
) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(
        &u16::try_from(log.len())
            .expect("log fits u16")
            .to_le_bytes(),
    );
    out.extend_from_slice(
        &u16::try_from(index.len())
            .expect("index fits u16")
            .to_le_bytes(),
    );
    out.extend_from_slice(&seek_ts.to_le_bytes());
    out.extend_from_slice(&clean.0.to_le_bytes());
    out.extend_from_slice(&clean.1.to_le_bytes());
    out.extend_from_slice(log);
    out.extend_from_slice(index);
    out.extend_from_slice(timeindex);
    out
}

/// Lays `data` out as topic `t`'s partition 0 (see `OPEN_DIR_HEADER`), opens it, reads it all
/// from the earliest offset, seeks by timestamp and reads again, maybe appends, and closes.
fn open_dir(data: &[u8]) {
    let mut head = [0u8; OPEN_DIR_HEADER];
    let n = data.len().min(OPEN_DIR_HEADER);
    head[..n].copy_from_slice(&data[..n]);
    let rest = &data[n..];
    let flags = head[0];
    let log_len = usize::from(u16::from_le_bytes([head[1], head[2]])).min(rest.len());
    let (log, rest) = rest.split_at(log_len);
    let index_len = usize::from(u16::from_le_bytes([head[3], head[4]])).min(rest.len());
    let (index, timeindex) = rest.split_at(index_len);
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&head[at..at + 8]);
        b
    };
    let seek_ts = i64::from_le_bytes(word(5));
    let next_offset = u64::from_le_bytes(word(13));
    let max_timestamp = i64::from_le_bytes(word(21));

    let dir = tempfile::tempdir().expect("temp dir");
    let partition = dir.path().join(FUZZ_TOPIC).join("0");
    std::fs::create_dir_all(&partition).expect("partition dir");
    std::fs::write(
        dir.path().join(FUZZ_TOPIC).join("topic.json"),
        FUZZ_TOPIC_JSON,
    )
    .expect("topic.json");
    let base = partition.join("00000000000000000000");
    let mut log = log.to_vec();
    if flags & FLAG_FIX_CRC != 0 {
        fix_crcs(&mut log);
    }
    std::fs::write(base.with_extension("log"), &log).expect(".log");
    if flags & FLAG_NO_INDEX == 0 {
        std::fs::write(base.with_extension("index"), index).expect(".index");
    }
    if flags & FLAG_NO_TIMEINDEX == 0 {
        std::fs::write(base.with_extension("timeindex"), timeindex).expect(".timeindex");
    }
    if flags & FLAG_CLEAN != 0 {
        let last_batch = match last_batch(&log) {
            Some(at) if flags & FLAG_LAST_BATCH != 0 => format!(r#","last_batch":{at}"#),
            _ => String::new(),
        };
        let marker = format!(
            r#"{{"{FUZZ_TOPIC}":{{"0":{{"next_offset":{next_offset},"max_timestamp":{max_timestamp}{last_batch}}}}}}}"#
        );
        std::fs::write(dir.path().join(".clean"), marker).expect(".clean");
    }

    // Read-only first: it reads what recovery would keep, and changes nothing.
    let before = files_under(dir.path());
    match read_only_and_read(dir.path(), seek_ts, log.len()) {
        Ok(()) => {}
        Err(e) => assert!(!e.to_string().is_empty(), "an error without a message"),
    }
    assert!(
        files_under(dir.path()) == before,
        "a read-only open changed the directory"
    );

    match open_and_read(dir.path(), flags, seek_ts, log.len()) {
        Ok(()) => {}
        Err(e) => assert!(!e.to_string().is_empty(), "an error without a message"),
    }
}

/// Every file under `dir` with its bytes.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path.clone());
                out.push((path, Vec::new()));
            } else {
                let bytes = std::fs::read(&path).expect("read");
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    out
}

/// Opens `dir` read-only, reads it all from the earliest offset, seeks by timestamp and
/// reads again, and closes.
fn read_only_and_read(dir: &std::path::Path, seek_ts: i64, log_len: usize) -> strom::Result<()> {
    use strom::{Broker, BrokerConfig, ConsumerConfig, OffsetReset, TopicPartition};
    let broker = Broker::open_with(dir, BrokerConfig::default().read_only(true))?;
    let result = (|| {
        let _ = broker.describe_topic(FUZZ_TOPIC)?;
        let mut consumer =
            broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
        consumer.assign(&[TopicPartition::new(FUZZ_TOPIC, 0)])?;
        let first = read_all(&mut consumer, log_len);
        consumer.seek_to_timestamp(seek_ts)?;
        let after_seek = read_all(&mut consumer, log_len);
        first.and(after_seek)
    })();
    let closed = broker.close();
    result.and(closed)
}

/// Where the last of the batches whose headers read back to back from the start of `log`
/// starts, if one does.
fn last_batch(log: &[u8]) -> Option<usize> {
    let mut pos = 0;
    let mut last = None;
    while let Ok(h) = strom::storage::batch::read_header(&log[pos..]) {
        let end = pos + h.length as usize;
        if end > log.len() {
            break;
        }
        last = Some(pos);
        pos = end;
    }
    last
}

fn open_and_read(
    dir: &std::path::Path,
    flags: u8,
    seek_ts: i64,
    log_len: usize,
) -> strom::Result<()> {
    use strom::{Broker, ConsumerConfig, OffsetReset, Record, TopicPartition};
    let broker = Broker::open(dir)?;
    let result = (|| {
        let mut consumer =
            broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
        consumer.assign(&[TopicPartition::new(FUZZ_TOPIC, 0)])?;
        let first = read_all(&mut consumer, log_len);
        consumer.seek_to_timestamp(seek_ts)?;
        let after_seek = read_all(&mut consumer, log_len);
        let appended = if flags & FLAG_APPEND != 0 {
            let sent = broker
                .producer()
                .send(FUZZ_TOPIC, Record::new("fuzz").key("k").partition(0));
            if let Ok(meta) = &sent {
                // The new record is readable where the producer says it is.
                consumer.seek(&TopicPartition::new(FUZZ_TOPIC, 0), meta.offset)?;
                let got = consumer.poll(std::time::Duration::ZERO)?;
                let record = got.iter().next().expect("the appended record is readable");
                assert_eq!(record.offset(), meta.offset);
                assert_eq!(record.value(), b"fuzz");
            }
            sent.map(|_| ())
        } else {
            Ok(())
        };
        first.and(after_seek).and(appended)
    })();
    let closed = broker.close();
    result.and(closed)
}

/// Polls until a poll comes back empty (or fails), at most `max_polls` times; offsets must
/// rise, and an empty poll leaves the position at the end.
fn read_all(consumer: &mut strom::Consumer, log_len: usize) -> strom::Result<()> {
    let mut last: Option<u64> = None;
    for _ in 0..max_polls(log_len) {
        let records = consumer.poll(std::time::Duration::ZERO)?;
        if records.is_empty() {
            // Nothing left to read: the position is at the end, past control batches and
            // offsets left without records (or a poll that waits would never park).
            let tp = strom::TopicPartition::new(FUZZ_TOPIC, 0);
            let at = consumer.position(&tp);
            consumer.seek_to_end(std::slice::from_ref(&tp))?;
            assert_eq!(at, consumer.position(&tp), "an empty poll short of the end");
            return Ok(());
        }
        for record in &records {
            assert!(
                last.is_none_or(|l| record.offset() > l),
                "offsets do not rise: {:?} then {}",
                last,
                record.offset()
            );
            last = Some(record.offset());
            let _ = (record.timestamp(), record.key(), record.headers().count());
        }
    }
    panic!(
        "still reading after {} polls of a {log_len}-byte log",
        max_polls(log_len)
    );
}
