//! The least work Kafka's record format (`RecordBatch` v2, which strom stores byte for byte)
//! asks of any log, written as plainly as possible with no log around it: no index, no
//! lock, no offsets handed back, no records handed out — only the bytes. Appends are
//! buffered and written like the framed baseline (64 KiB, one `write()` each time the
//! buffer fills), so the two differ only in the format; reads walk the written file in
//! memory, skipping the CRC as strom does for batches it has already checked.
//!
//! These rows bound from above what strom can reach through the format it keeps for
//! Kafka's clients and tools: a goal beyond them cannot be met without changing it.

#![expect(
    clippy::big_endian_bytes,
    reason = "Kafka's record format is big-endian"
)]
#![expect(
    clippy::cast_possible_wrap,
    reason = "offsets and lengths of a few records, far below 2^63"
)]

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// The batch header's length, before the first record.
const HEADER: usize = 61;
/// Where the CRC-32C is stored, and where the bytes it covers start.
const CRC_AT: usize = 17;
const CRC_FROM: usize = 21;
/// The buffer written each time it fills, as the framed baseline's.
const BUFFER: usize = 64 << 10;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)).cast_unsigned()
}

/// Writes `v` as a zigzag varint at the start of `out`, returning its length.
fn put_varint(out: &mut [u8], v: i64) -> usize {
    let mut z = zigzag(v);
    let mut n = 0;
    while z >= 0x80 {
        out[n] = (z as u8) | 0x80;
        z >>= 7;
        n += 1;
    }
    out[n] = z as u8;
    n + 1
}

fn varint_len(v: i64) -> usize {
    let bits = 64 - zigzag(v).leading_zeros() as usize;
    bits.max(1).div_ceil(7)
}

fn push_header(buf: &mut Vec<u8>, base_offset: u64, count: usize, timestamp: i64) {
    let count = i32::try_from(count).expect("count fits");
    buf.extend_from_slice(&base_offset.to_be_bytes());
    buf.extend_from_slice(&0u32.to_be_bytes()); // batch length, set by `seal`
    buf.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    buf.push(2); // magic
    buf.extend_from_slice(&0u32.to_be_bytes()); // CRC, set by `seal`
    buf.extend_from_slice(&0u16.to_be_bytes()); // attributes
    buf.extend_from_slice(&(count - 1).to_be_bytes()); // last offset delta
    buf.extend_from_slice(&timestamp.to_be_bytes()); // base timestamp
    buf.extend_from_slice(&timestamp.to_be_bytes()); // max timestamp
    buf.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    buf.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    buf.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    buf.extend_from_slice(&count.to_be_bytes());
}

/// A record without key or headers: its leading fields gathered on the stack and copied
/// in once, then the value and the header count.
fn push_record(buf: &mut Vec<u8>, offset_delta: i64, value: &[u8]) {
    let value_len = value.len() as i64;
    let body = 1 + 1 + varint_len(offset_delta) + 1 + varint_len(value_len) + value.len() + 1;
    let mut fields = [0u8; 40];
    let mut n = put_varint(&mut fields, body as i64);
    fields[n] = 0; // attributes
    n += 1;
    n += put_varint(&mut fields[n..], 0); // timestamp delta
    n += put_varint(&mut fields[n..], offset_delta);
    n += put_varint(&mut fields[n..], -1); // no key
    n += put_varint(&mut fields[n..], value_len);
    buf.extend_from_slice(&fields[..n]);
    buf.extend_from_slice(value);
    buf.push(0); // no headers
}

/// Sets the batch that starts at `start` of `buf` (and runs to its end) its length and CRC.
fn seal(buf: &mut [u8], start: usize) {
    let batch = &mut buf[start..];
    let len = u32::try_from(batch.len() - 12).expect("batch fits");
    batch[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = crc_fast::crc32_iscsi(&batch[CRC_FROM..]) as u32;
    batch[CRC_AT..CRC_FROM].copy_from_slice(&crc.to_be_bytes());
}

/// Appends `records` copies of `value` to a new file at `path` in batches of `batch`
/// records, each batch stamped with the clock, encoded, checksummed and buffered; the
/// buffer is written whenever the next batch might not fit.
pub(crate) fn append(path: &Path, value: &[u8], records: usize, batch: usize) {
    let mut file = File::create(path).expect("create");
    let most = HEADER + batch * (value.len() + 16);
    let mut buf = Vec::with_capacity(BUFFER.max(most));
    let mut base = 0u64;
    for _ in 0..records / batch {
        if buf.len() + most > BUFFER {
            file.write_all(&buf).expect("write");
            buf.clear();
        }
        let start = buf.len();
        push_header(&mut buf, base, batch, now_ms());
        for delta in 0..batch {
            push_record(&mut buf, delta as i64, value);
        }
        seal(&mut buf, start);
        base += batch as u64;
    }
    file.write_all(&buf).expect("write");
}

fn read_varint(buf: &[u8], at: &mut usize) -> Option<i64> {
    let unzig = |z: u64| (z >> 1).cast_signed() ^ -((z & 1).cast_signed());
    // A record's varints are one or two bytes (lengths up to 8 KiB).
    let first = *buf.get(*at)?;
    if first < 0x80 {
        *at += 1;
        return Some(unzig(u64::from(first)));
    }
    let second = *buf.get(*at + 1)?;
    if second < 0x80 {
        *at += 2;
        return Some(unzig(u64::from(first & 0x7f) | (u64::from(second) << 7)));
    }
    let mut z = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*at)?;
        *at += 1;
        z |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(unzig(z));
        }
    }
    None
}

fn be<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    buf.get(at..at + N)?.try_into().ok()
}

/// Every record of the batches in `log` as (offset, timestamp, key, value), each checked
/// to end where its length says; returns the records and the bytes of their values.
pub(crate) fn read(log: &[u8]) -> Option<(usize, usize)> {
    let (mut records, mut bytes, mut at) = (0, 0, 0);
    while at < log.len() {
        let base = u64::from_be_bytes(be(log, at)?);
        let len = u32::from_be_bytes(be(log, at + 8)?) as usize;
        let batch = log.get(at..at + 12 + len)?;
        if batch.get(16) != Some(&2) {
            return None;
        }
        let base_ts = i64::from_be_bytes(be(batch, 27)?);
        let count = u32::from_be_bytes(be(batch, 57)?);
        let mut pos = HEADER;
        for _ in 0..count {
            let len = usize::try_from(read_varint(batch, &mut pos)?).ok()?;
            let end = pos + len;
            pos += 1; // attributes
            let ts = base_ts + read_varint(batch, &mut pos)?;
            let offset = base + read_varint(batch, &mut pos)?.cast_unsigned();
            let key = match read_varint(batch, &mut pos)? {
                -1 => None,
                n => {
                    let n = usize::try_from(n).ok()?;
                    pos += n;
                    Some(batch.get(pos - n..pos)?)
                }
            };
            let n = usize::try_from(read_varint(batch, &mut pos)?).ok()?;
            let value = batch.get(pos..pos + n)?;
            pos += n;
            let headers = read_varint(batch, &mut pos)?;
            if headers != 0 || pos != end {
                return None; // the floor's records have none
            }
            black_box((offset, ts, key, value));
            records += 1;
            bytes += value.len();
        }
        at += 12 + len;
    }
    Some((records, bytes))
}
