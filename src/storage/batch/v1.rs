//! Version 1: the batch format strom wrote before version 2. It is read, never written.
//!
//! # Batch layout
//!
//! Fixed-width integers are **little-endian**. A batch is a 40-byte header
//! ([`HEADER_BYTES`]) followed by `record_count` records.
//!
//! | Offset | Size | Type | Field             | Meaning                                          |
//! |-------:|-----:|------|-------------------|--------------------------------------------------|
//! |      0 |    8 | u64  | `base_offset`     | Offset of the first record                       |
//! |      8 |    4 | u32  | `length`          | Bytes in the whole batch, this header included   |
//! |     12 |    4 | u32  | `crc`             | CRC-32 of bytes `0..8` and `16..length` (see *Checksum*) |
//! |     16 |    1 | u8   | `version`         | Format version: 1                                |
//! |     17 |    1 | u8   | `attributes`      | 0                                                |
//! |     18 |    2 | u16  | reserved          | 0                                                |
//! |     20 |    4 | u32  | `record_count`    | Number of records, at least 1                    |
//! |     24 |    8 | i64  | `first_timestamp` | First record's timestamp (ms since Unix epoch)   |
//! |     32 |    8 | i64  | `max_timestamp`   | Largest timestamp of any record in the batch     |
//! |     40 |  ... |      | records           | `record_count` records, back to back             |
//!
//! Timestamps need not increase within a batch; `max_timestamp` is their maximum, so it is never
//! below `first_timestamp`, and the first record's `timestamp_delta` is 0. The batch's offsets
//! `base_offset..base_offset + record_count` never pass `u64::MAX`.
//!
//! # Record layout
//!
//! (Varints as the [parent module](super) defines them; a *u32 varint* holds at most
//! `u32::MAX`.)
//!
//! | Field             | Encoding             | Meaning                                           |
//! |-------------------|----------------------|---------------------------------------------------|
//! | `length`          | u32 varint           | Bytes in the rest of this record                  |
//! | `attributes`      | u8                   | 0                                                 |
//! | `timestamp_delta` | zigzag varint        | Timestamp − `first_timestamp`, wrapping (mod 2⁶⁴) |
//! | `offset_delta`    | u32 varint           | Offset − `base_offset`: the record's index 0, 1, … |
//! | `key_length`      | zigzag varint        | −1: no key; otherwise the key's length            |
//! | key               | `key_length` bytes   | Only when `key_length` ≥ 0                        |
//! | `value_length`    | zigzag varint        | −1: no value (a tombstone); otherwise its length  |
//! | value             | `value_length` bytes | Only when `value_length` ≥ 0                      |
//! | `header_count`    | u32 varint           | Number of headers that follow                     |
//! | headers           | see below            | `header_count` headers, back to back              |
//!
//! Each header is a `key_length` u32 varint, that many bytes of key (valid UTF-8), a
//! `value_length` u32 varint and that many bytes of value. The fields of a record fill exactly
//! its `length`, and the last record ends exactly at the batch's `length`. The smallest record
//! is 7 bytes, so the smallest batch is 47.
//!
//! # Checksum
//!
//! `crc` is the CRC-32 of zlib, gzip and PNG (polynomial `0x04C11DB7` reflected, initial value
//! and final XOR `0xFFFFFFFF`; the checksum of the ASCII bytes `123456789` is `0xCBF43926`)
//! over bytes `0..8` (`base_offset`) followed by bytes `16..length`, as one stream. A compacted
//! log has gaps between batches, so a damaged base offset must fail the check.

use super::{BatchHeader, DecodeError, Origin};

/// The version byte of this format.
pub const VERSION: u8 = 1;

/// Size in bytes of the fixed batch header.
pub const HEADER_BYTES: usize = 40;

/// Where the checksummed bytes after `base_offset` start: the version byte.
const CRC_START: usize = 16;

/// Smallest record: a 1-byte length and six 1-byte fields.
const MIN_RECORD_BYTES: usize = 7;

/// Parses and sanity-checks a version 1 header (the caller has seen the version byte).
/// Only old segments hold version 1: kept out of line, so that readers inlining
/// [`super::read_header`] inline one version only.
#[inline(never)]
pub(super) fn read_header(buf: &[u8]) -> Result<BatchHeader, DecodeError> {
    let head = buf.get(..HEADER_BYTES).ok_or(DecodeError::Truncated)?;
    let &[base, [l0, l1, l2, l3, c0, c1, c2, c3], misc, first, max] = head.as_chunks::<8>().0
    else {
        return Err(DecodeError::Truncated);
    };
    let [version, attributes, r0, r1, n0, n1, n2, n3] = misc;
    let length = u32::from_le_bytes([l0, l1, l2, l3]);
    let record_count = u32::from_le_bytes([n0, n1, n2, n3]);
    let header = BatchHeader {
        base_offset: u64::from_le_bytes(base),
        length,
        partition_leader_epoch: -1,
        version,
        crc: u32::from_le_bytes([c0, c1, c2, c3]),
        attributes: 0,
        last_offset_delta: record_count.saturating_sub(1),
        first_timestamp: i64::from_le_bytes(first),
        max_timestamp: i64::from_le_bytes(max),
        origin: Origin::NONE,
        record_count,
    };
    let body = (length as usize).saturating_sub(HEADER_BYTES);
    if body < MIN_RECORD_BYTES {
        return Err(DecodeError::Length(length));
    }
    let invalid = if attributes != 0 {
        "batch attributes must be 0"
    } else if r0 | r1 != 0 {
        "reserved header bytes must be 0"
    } else if record_count == 0 {
        "record_count must be at least 1"
    } else if body / MIN_RECORD_BYTES < record_count as usize {
        "record_count exceeds what the batch length can hold"
    } else if header
        .base_offset
        .checked_add(u64::from(record_count))
        .is_none()
    {
        "offsets pass u64::MAX"
    } else if header.max_timestamp < header.first_timestamp {
        "max_timestamp below first_timestamp"
    } else {
        return Ok(header);
    };
    Err(DecodeError::Record(invalid))
}

/// The checksum of a whole version 1 batch, as its `crc` field should hold it.
pub(super) fn checksum(batch: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(batch.get(..8).unwrap_or_default());
    hasher.update(batch.get(CRC_START..).unwrap_or_default());
    hasher.finalize()
}

/// Writes a version 1 batch, so that tests can make the logs older builds wrote.
#[cfg(test)]
pub(crate) fn encode(base_offset: u64, entries: &[super::Entry<'_>]) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn nullable(out: &mut Vec<u8>, field: Option<&[u8]>) {
        match field {
            None => varint(out, super::zigzag(-1)),
            Some(b) => {
                // The zigzag varint of a length: twice it.
                varint(out, 2 * b.len() as u64);
                out.extend_from_slice(b);
            }
        }
    }
    let first = entries.first().map_or(0, |e| e.timestamp);
    let max = entries.iter().map(|e| e.timestamp).max().unwrap_or(0);
    let mut records = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let mut body = vec![0];
        varint(&mut body, super::zigzag(e.timestamp.wrapping_sub(first)));
        varint(&mut body, i as u64);
        nullable(&mut body, e.key);
        nullable(&mut body, e.value);
        varint(&mut body, e.headers.len() as u64);
        for (k, v) in e.headers {
            varint(&mut body, k.len() as u64);
            body.extend_from_slice(k.as_bytes());
            varint(&mut body, v.len() as u64);
            body.extend_from_slice(v);
        }
        varint(&mut records, body.len() as u64);
        records.extend_from_slice(&body);
    }
    let length = (HEADER_BYTES + records.len()) as u32;
    let mut out = Vec::with_capacity(length as usize);
    out.extend_from_slice(&base_offset.to_le_bytes());
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&[VERSION, 0, 0, 0]);
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    out.extend_from_slice(&first.to_le_bytes());
    out.extend_from_slice(&max.to_le_bytes());
    out.extend_from_slice(&records);
    let crc = checksum(&out);
    out[12..16].copy_from_slice(&crc.to_le_bytes());
    out
}
