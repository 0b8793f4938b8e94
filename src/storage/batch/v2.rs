//! Version 2: Apache Kafka's `RecordBatch` (magic 2), byte for byte. strom writes this version.
//!
//! # Batch layout
//!
//! Fixed-width integers are **big-endian** (network order, as Kafka's protocol) and signed
//! (two's complement) unless marked `u`. A batch is a 61-byte header ([`HEADER_BYTES`])
//! followed by its records.
//!
//! | Offset | Size | Type | Field                    | Meaning                                             |
//! |-------:|-----:|------|--------------------------|-----------------------------------------------------|
//! |      0 |    8 | i64  | `base_offset`            | Offset of the first record, at least 0              |
//! |      8 |    4 | i32  | `batch_length`           | Bytes after this field: the batch's length − 12     |
//! |     12 |    4 | i32  | `partition_leader_epoch` | Kafka's leader epoch; strom writes 0, reads any     |
//! |     16 |    1 | i8   | `magic`                  | Format version: 2                                   |
//! |     17 |    4 | u32  | `crc`                    | CRC-32C of bytes `21..length` (see *Checksum*)      |
//! |     21 |    2 | i16  | `attributes`             | See *Attributes*                                    |
//! |     23 |    4 | i32  | `last_offset_delta`      | Last offset covered − `base_offset`                 |
//! |     27 |    8 | i64  | `base_timestamp`         | Timestamp the records' deltas count from            |
//! |     35 |    8 | i64  | `max_timestamp`          | Largest timestamp of any record in the batch        |
//! |     43 |    8 | i64  | `producer_id`            | Idempotent or transactional producer's id, or −1    |
//! |     51 |    2 | i16  | `producer_epoch`         | That producer's epoch, or −1                        |
//! |     53 |    4 | i32  | `base_sequence`          | Sequence number of the first record, or −1          |
//! |     57 |    4 | i32  | `record_count`           | Number of records, at least 1                       |
//! |     61 |  ... |      | records                  | `record_count` records, back to back                |
//!
//! Later versions keep the first 17 bytes' meaning (base offset, batch length, leader epoch,
//! version), as Kafka's framing does, so a reader can tell a complete batch it cannot read
//! from a torn tail.
//!
//! strom writes the first record's timestamp as `base_timestamp` and `record_count − 1` as
//! `last_offset_delta`; a batch from Kafka's compaction may cover more offsets than it holds
//! records. The offsets `base_offset..=base_offset + last_offset_delta` never pass `i64::MAX`.
//!
//! # Attributes
//!
//! | Bits | Meaning                                                                       |
//! |------|-------------------------------------------------------------------------------|
//! | 0–2  | Compression codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd (5–7 invalid)      |
//! | 3    | Timestamp type: 0 create time; 1 log-append time (every record's timestamp is `max_timestamp`) |
//! | 4    | Transactional: the batch belongs to the transaction of its producer id        |
//! | 5    | Control: the batch holds one control record (a transaction marker), not user records |
//! | 6    | Kafka's delete horizon; refused by this version                               |
//! | 7–15 | 0                                                                             |
//!
//! When the codec is not 0, the records (bytes `61..length`) are compressed as one stream
//! with that codec, framed as [`super::compression`] specifies; the header's other fields
//! (`record_count`, the offsets and timestamps) describe the records as if uncompressed.
//!
//! # Record layout
//!
//! Kafka's *varint* is a zigzag varint holding an `i32`, its *varlong* one holding an `i64`
//! (see the [parent module](super)). Lengths and counts are varints of at least 0, except
//! where −1 means null.
//!
//! | Field              | Encoding            | Meaning                                                |
//! |--------------------|---------------------|--------------------------------------------------------|
//! | `length`           | varint              | Bytes in the rest of this record                       |
//! | `attributes`       | i8                  | Unused: strom writes 0 and ignores it                  |
//! | `timestamp_delta`  | varlong             | Timestamp − `base_timestamp`, wrapping (mod 2⁶⁴)       |
//! | `offset_delta`     | varint              | Offset − `base_offset`; increasing, at most `last_offset_delta` |
//! | `key_length`       | varint              | −1: no key; otherwise the key's length                 |
//! | key                | `key_length` bytes  | Only when `key_length` ≥ 0                             |
//! | `value_length`     | varint              | −1: no value (a tombstone); otherwise its length       |
//! | value              | `value_length` bytes| Only when `value_length` ≥ 0                           |
//! | `header_count`     | varint              | Number of headers that follow                          |
//! | headers            | see below           | `header_count` headers, back to back                   |
//!
//! Each header is a `key_length` varint (at least 0), that many bytes of key (UTF-8), a
//! `value_length` varint (−1 for a null value, which strom's API reads as empty) and that
//! many bytes of value. A record's fields fill exactly its `length`; the last record ends
//! exactly at the batch's end. The smallest record is 7 bytes, so the smallest batch is 68.
//!
//! # Control batches
//!
//! A control batch (attributes transactional and control) ends a transaction in one
//! partition. Its one record has a 4-byte key, the key's version (`i16`, 0) and the marker's
//! type (`i16`: 0 abort, 1 commit), and a 6-byte value, the value's version (`i16`, 0) and the
//! transaction coordinator's epoch (`i32`); its producer id and epoch are the transaction's.
//!
//! # Checksum
//!
//! `crc` is the CRC-32C (Castagnoli: polynomial `0x1EDC6F41` reflected, initial value and
//! final XOR `0xFFFFFFFF`; the checksum of the ASCII bytes `123456789` is `0xE3069283`) of
//! bytes `21..length`, from `attributes` to the end of the last record. It does not cover
//! `base_offset`, `batch_length`, `partition_leader_epoch` or `magic`: a batch keeps its
//! checksum when it is given its offsets. A wrong `batch_length` moves the checked range, so
//! it is caught like damaged content (or as truncation if it runs past the data); a damaged
//! base offset is caught because offsets must increase from batch to batch and each batch of
//! an active segment must start where the previous one ended.

#![expect(
    clippy::big_endian_bytes,
    reason = "Kafka's RecordBatch is big-endian, and this module is exactly that format"
)]

use super::{
    varint_len, zigzag, BatchHeader, ControlRecord, ControlType, DecodeError, EncodeError, Encoded,
    Entry, Origin,
};

/// The version byte of this format (Kafka's magic).
pub const VERSION: u8 = 2;

/// Size in bytes of the fixed batch header.
pub const HEADER_BYTES: usize = 61;

/// The bytes before `batch_length` counts: `base_offset` and `batch_length` itself.
const LENGTH_EXCLUDES: usize = 12;

/// The largest batch its 31-bit `batch_length` allows.
pub const MAX_BATCH_BYTES: usize = i32::MAX as usize + LENGTH_EXCLUDES;

/// Where the checksummed bytes start: `attributes`.
const CRC_START: usize = 21;

/// Smallest record: a 1-byte length and six 1-byte fields.
const MIN_RECORD_BYTES: usize = 7;

/// The smallest `batch_length`: a header and one smallest record.
#[expect(clippy::cast_possible_wrap, reason = "56 fits")]
const MIN_BATCH_LENGTH: i32 = (HEADER_BYTES - LENGTH_EXCLUDES + MIN_RECORD_BYTES) as i32;

/// Attribute bits 0–2: the compression codec.
pub const COMPRESSION_MASK: u16 = 0x07;
/// Attribute bit 3: timestamps are log-append times.
pub const LOG_APPEND_TIME: u16 = 0x08;
/// Attribute bit 4: the batch belongs to a transaction.
pub const TRANSACTIONAL: u16 = 0x10;
/// Attribute bit 5: the batch is a control batch.
pub const CONTROL: u16 = 0x20;
/// Attribute bit 6: Kafka's delete horizon, which this version does not read.
const DELETE_HORIZON: u16 = 0x40;
/// The highest codec number Kafka defines (zstd).
const MAX_CODEC: u16 = 4;

/// Bytes of a control batch: the header and one 17-byte marker record.
pub const CONTROL_BATCH_BYTES: usize = HEADER_BYTES + 17;

/// Parses and sanity-checks a version 2 header (the caller has seen the magic byte).
/// Inlined into [`super::read_header`], which every reader calls: one call per batch
/// instead of two, and the header is returned through memory once.
///
/// A reader passes a batch header per batch, so for the batches strom writes (uncompressed,
/// sane counts and offsets) the checks are a handful of compares, the rarely set attribute
/// bits one test; anything else, and every error, goes through [`checked_header`].
#[expect(clippy::inline_always, reason = "as `super::read_header`")]
#[inline(always)]
pub(super) fn read_header(buf: &[u8]) -> Result<BatchHeader, DecodeError> {
    let Some(head) = buf.first_chunk::<HEADER_BYTES>() else {
        return Err(DecodeError::Truncated);
    };
    let base_offset = i64::from_be_bytes(field::<0, 8>(head));
    let batch_length = i32::from_be_bytes(field::<8, 4>(head));
    let attributes = u16::from_be_bytes(field::<21, 2>(head));
    let last_offset_delta = i32::from_be_bytes(field::<23, 4>(head));
    let record_count = i32::from_be_bytes(field::<57, 4>(head));
    // The checks of `checked_header` for an uncompressed batch: no codec and no bit but
    // these three; a length that holds the header and `record_count` smallest records; at
    // least one record, within the offsets the batch covers; offsets from 0 to `i64::MAX`.
    // Each comparison has its operands' ranges settled by the ones before it.
    let plain = attributes & !(LOG_APPEND_TIME | TRANSACTIONAL | CONTROL) == 0;
    let sane = plain
        && batch_length >= MIN_BATCH_LENGTH
        && record_count >= 1
        && last_offset_delta >= record_count - 1
        && u64::from(record_count.cast_unsigned()) * MIN_RECORD_BYTES as u64
            <= u64::from(batch_length.cast_unsigned()) + LENGTH_EXCLUDES as u64
                - HEADER_BYTES as u64
        && base_offset >= 0
        && base_offset <= i64::MAX - i64::from(last_offset_delta);
    if !sane {
        return checked_header(head);
    }
    Ok(header_of(head, base_offset, attributes))
}

/// The header fields of `head`, once its checks passed.
#[expect(clippy::inline_always, reason = "as `super::read_header`")]
#[inline(always)]
fn header_of(head: &[u8; HEADER_BYTES], base_offset: i64, attributes: u16) -> BatchHeader {
    // The casts fit: `length` is at most `i32::MAX + 12`, the delta and count were checked
    // to be positive, and `base_offset` not negative.
    let batch_length = i32::from_be_bytes(field::<8, 4>(head));
    BatchHeader {
        base_offset: base_offset.cast_unsigned(),
        length: batch_length.cast_unsigned() + LENGTH_EXCLUDES as u32,
        partition_leader_epoch: i32::from_be_bytes(field::<12, 4>(head)),
        version: VERSION,
        crc: u32::from_be_bytes(field::<17, 4>(head)),
        attributes,
        last_offset_delta: u32::from_be_bytes(field::<23, 4>(head)),
        first_timestamp: i64::from_be_bytes(field::<27, 8>(head)),
        max_timestamp: i64::from_be_bytes(field::<35, 8>(head)),
        origin: Origin {
            producer_id: i64::from_be_bytes(field::<43, 8>(head)),
            producer_epoch: i16::from_be_bytes(field::<51, 2>(head)),
            base_sequence: i32::from_be_bytes(field::<53, 4>(head)),
            transactional: attributes & TRANSACTIONAL != 0,
        },
        record_count: u32::from_be_bytes(field::<57, 4>(head)),
    }
}

/// [`read_header`] of a header its quick checks did not pass: a compressed batch, or one
/// that is refused here, with the first rule it breaks.
#[cold]
#[inline(never)]
pub(super) fn checked_header(head: &[u8; HEADER_BYTES]) -> Result<BatchHeader, DecodeError> {
    let base_offset = i64::from_be_bytes(field::<0, 8>(head));
    let batch_length = i32::from_be_bytes(field::<8, 4>(head));
    let attributes = u16::from_be_bytes(field::<21, 2>(head));
    let last_offset_delta = i32::from_be_bytes(field::<23, 4>(head));
    let record_count = i32::from_be_bytes(field::<57, 4>(head));
    let length = usize::try_from(batch_length).map_or(0, |l| l + LENGTH_EXCLUDES);
    let body = length.saturating_sub(HEADER_BYTES);
    if body < MIN_RECORD_BYTES {
        return Err(DecodeError::Length(batch_length.cast_unsigned()));
    }
    let codec = attributes & COMPRESSION_MASK;
    let invalid = if codec > MAX_CODEC {
        "unknown compression codec"
    } else if attributes & DELETE_HORIZON != 0 {
        "delete-horizon batches are not supported"
    } else if attributes & !(COMPRESSION_MASK | LOG_APPEND_TIME | TRANSACTIONAL | CONTROL) != 0 {
        "unknown batch attributes"
    } else if record_count < 1 {
        "record_count must be at least 1"
    } else if last_offset_delta < record_count - 1 {
        "last_offset_delta below record_count - 1"
    } else if codec == 0 && body / MIN_RECORD_BYTES < record_count.cast_unsigned() as usize {
        "record_count exceeds what the batch length can hold"
    } else if base_offset < 0 {
        "negative base_offset"
    } else if base_offset
        .checked_add(i64::from(last_offset_delta))
        .is_none()
    {
        "offsets pass i64::MAX"
    } else {
        return Ok(header_of(head, base_offset, attributes));
    };
    Err(DecodeError::Record(invalid))
}

/// The version of a complete batch at the front of `buf` written by a newer format: its
/// version byte is above this one's and its `batch_length`, which later versions keep at
/// byte 8 (as Kafka's framing does), fits the bytes present. `None` for anything else,
/// including torn or garbage tails, which recovery cuts.
pub(super) fn newer_version(buf: &[u8]) -> Option<u8> {
    let version = *buf.get(16)?;
    let length: [u8; 4] = buf.get(8..12)?.try_into().ok()?;
    let length = usize::try_from(i32::from_be_bytes(length)).ok()?;
    let complete = length >= HEADER_BYTES - LENGTH_EXCLUDES + MIN_RECORD_BYTES
        && length.checked_add(LENGTH_EXCLUDES)? <= buf.len();
    (version > VERSION && complete).then_some(version)
}

/// A base offset field's value (a negative one reads as past every real offset).
pub(super) fn base_offset(bytes: [u8; 8]) -> u64 {
    u64::from_be_bytes(bytes)
}

/// The `N` header bytes at `AT`. Both are constants and the header is a fixed-size array,
/// so this compiles to a load: the header is read for every batch a reader passes.
#[inline]
fn field<const AT: usize, const N: usize>(head: &[u8; HEADER_BYTES]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&head[AT..AT + N]);
    out
}

/// The checksum of a whole version 2 batch, as its `crc` field should hold it.
pub(super) fn checksum(batch: &[u8]) -> u32 {
    crc_fast::crc32_iscsi(batch.get(CRC_START..).unwrap_or_default())
}

/// Gives a version 2 batch built from another one's header and new records (its length
/// and checksum stale) its `attributes` and its length; its checksum stays stale.
pub(super) fn set_frame(batch: &mut [u8], attributes: u16) -> Result<(), DecodeError> {
    let length = batch
        .len()
        .checked_sub(LENGTH_EXCLUDES)
        .and_then(|l| i32::try_from(l).ok())
        .ok_or(DecodeError::Length(u32::MAX))?;
    let head = batch
        .get_mut(..HEADER_BYTES)
        .ok_or(DecodeError::Truncated)?;
    head[8..12].copy_from_slice(&length.to_be_bytes());
    head[21..23].copy_from_slice(&attributes.to_be_bytes());
    Ok(())
}

/// Sets the checksum of a whole version 2 batch.
pub(super) fn set_checksum(batch: &mut [u8]) -> Result<(), DecodeError> {
    let crc = checksum(batch);
    batch
        .get_mut(17..21)
        .ok_or(DecodeError::Truncated)?
        .copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// [`set_frame`], then [`set_checksum`].
pub(super) fn reframe(batch: &mut [u8], attributes: u16) -> Result<(), DecodeError> {
    set_frame(batch, attributes)?;
    set_checksum(batch)
}

/// See [`super::set_base_offset`]; the header was read and is version 2.
pub(super) fn set_base_offset(
    batch: &mut [u8],
    base_offset: u64,
    last_offset_delta: u32,
) -> Result<(), DecodeError> {
    let fits = i64::try_from(base_offset)
        .ok()
        .and_then(|b| b.checked_add(i64::from(last_offset_delta)))
        .is_some();
    if !fits {
        return Err(DecodeError::Record("offsets pass i64::MAX"));
    }
    let head = batch.get_mut(..16).ok_or(DecodeError::Truncated)?;
    head[..8].copy_from_slice(&base_offset.to_be_bytes());
    head[12..16].copy_from_slice(&0i32.to_be_bytes());
    Ok(())
}

/// See [`super::set_producer`]; the batch was checked and is version 2.
pub(super) fn set_producer(
    batch: &mut [u8],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Result<(), DecodeError> {
    let head = batch
        .get_mut(..HEADER_BYTES)
        .ok_or(DecodeError::Truncated)?;
    head[43..51].copy_from_slice(&producer_id.to_be_bytes());
    head[51..53].copy_from_slice(&producer_epoch.to_be_bytes());
    head[53..57].copy_from_slice(&base_sequence.to_be_bytes());
    let attributes = u16::from_be_bytes([head[21], head[22]]) & !TRANSACTIONAL;
    head[21..23].copy_from_slice(&attributes.to_be_bytes());
    set_checksum(batch)
}

/// Bytes of a length or count varint of `n`.
#[inline]
pub(crate) fn len_len(n: usize) -> usize {
    // A slice is at most isize::MAX bytes long, so doubling its length cannot overflow u64.
    varint_len(2 * n as u64)
}

/// Bytes of a nullable field (key or value): its zigzag length and its bytes.
#[inline]
fn nullable_len(field: Option<&[u8]>) -> usize {
    field.map_or(1, |b| len_len(b.len()).saturating_add(b.len()))
}

/// Bytes of a record after its `length` varint. Saturates on absurd sizes, which `encode`
/// rejects.
#[expect(
    clippy::inline_always,
    reason = "not inlined otherwise; inlined into `push_record`, a record without headers is sized in a few instructions"
)]
#[inline(always)]
pub(crate) fn body_len(e: &Entry<'_>, first_timestamp: i64, index: usize) -> usize {
    let fixed = 1 // attributes
        + varint_len(zigzag(e.timestamp.wrapping_sub(first_timestamp)))
        + len_len(index)
        + len_len(e.headers.len());
    let fields = fixed
        .saturating_add(nullable_len(e.key))
        .saturating_add(nullable_len(e.value));
    e.headers.iter().fold(fields, |n, (k, v)| {
        n.saturating_add(len_len(k.len()) + k.len())
            .saturating_add(len_len(v.len()) + v.len())
    })
}

/// Exact bytes [`encode_from`] writes for these entries (saturating at `usize::MAX`):
/// [`super::encoded_len`] of the entries an iterator yields.
pub(crate) fn encoded_len_of<'a>(entries: impl Iterator<Item = Entry<'a>> + Clone) -> usize {
    let first = entries.clone().next().map_or(0, |e| e.timestamp);
    let records = entries.enumerate();
    records.fold(HEADER_BYTES, |total, (i, e)| {
        let body = body_len(&e, first, i);
        total.saturating_add(len_len(body).saturating_add(body))
    })
}

/// Exact bytes [`encode_one`] writes for a record whose body is `body` bytes long.
pub(crate) fn one_record_len(body: usize) -> usize {
    HEADER_BYTES
        .saturating_add(len_len(body))
        .saturating_add(body)
}

/// Writes into a mutable slice from its start on; `None` when out of room.
///
/// The position is a plain index, so that a record's fields are written with the writer
/// held in registers: one bounds check and one store per byte of a small field.
pub(super) struct Writer<'a> {
    buf: &'a mut [u8],
    /// Bytes written so far.
    pub(super) pos: usize,
}

impl<'a> Writer<'a> {
    pub(super) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    #[inline]
    fn byte(&mut self, b: u8) -> Option<()> {
        *self.buf.get_mut(self.pos)? = b;
        self.pos += 1;
        Some(())
    }

    #[inline]
    fn bytes(&mut self, b: &[u8]) -> Option<()> {
        // `pos` is at most the buffer's length and `b` another slice's: no overflow.
        let end = self.pos + b.len();
        self.buf.get_mut(self.pos..end)?.copy_from_slice(b);
        self.pos = end;
        Some(())
    }

    #[inline]
    pub(super) fn varint(&mut self, mut v: u64) -> Option<()> {
        // Most varints of small records (deltas, lengths, counts) take one byte.
        while v >= 0x80 {
            self.byte((v & 0x7f) as u8 | 0x80)?;
            v >>= 7;
        }
        self.byte(v as u8)
    }

    /// A length or count: the zigzag varint of a number that is never negative.
    #[inline]
    fn len(&mut self, n: usize) -> Option<()> {
        self.varint(2 * n as u64)
    }

    #[expect(clippy::inline_always, reason = "as `record`, which it is part of")]
    #[inline(always)]
    fn nullable(&mut self, field: Option<&[u8]>) -> Option<()> {
        let Some(b) = field else {
            return self.varint(zigzag(-1));
        };
        self.len(b.len())?;
        self.bytes(b)
    }

    /// One record, whose [`body_len`] is `body`. Inlined into the loop over a batch's
    /// records, so that the writer's position stays in a register instead of going through
    /// memory at every field.
    #[expect(
        clippy::inline_always,
        reason = "not inlined otherwise; inlined, a batch runs about 3% fewer instructions per record"
    )]
    #[inline(always)]
    fn record(
        &mut self,
        e: &Entry<'_>,
        first_timestamp: i64,
        index: usize,
        body: usize,
    ) -> Option<()> {
        self.len(body)?;
        self.byte(0)?; // attributes
        self.varint(zigzag(e.timestamp.wrapping_sub(first_timestamp)))?;
        self.len(index)?;
        self.nullable(e.key)?;
        self.nullable(e.value)?;
        self.len(e.headers.len())?;
        for (k, v) in e.headers {
            self.len(k.len())?;
            self.bytes(k.as_bytes())?;
            self.len(v.len())?;
            self.bytes(v)?;
        }
        Some(())
    }
}

/// The fields of a header that [`write_header`] writes.
struct Head {
    base_offset: i64,
    length: usize,
    attributes: u16,
    last_offset_delta: i32,
    first_timestamp: i64,
    max_timestamp: i64,
    origin: Origin,
    record_count: i32,
}

/// Writes the header into the front of `out` (a whole batch, records already written) and
/// then its checksum.
fn write_header(out: &mut [u8], h: &Head) -> Option<()> {
    let batch_length = i32::try_from(h.length.checked_sub(LENGTH_EXCLUDES)?).ok()?;
    let head: &mut [u8; HEADER_BYTES] = out.get_mut(..HEADER_BYTES)?.try_into().ok()?;
    put::<0, 8>(head, h.base_offset.to_be_bytes());
    put::<8, 4>(head, batch_length.to_be_bytes());
    put::<12, 4>(head, 0i32.to_be_bytes()); // partition leader epoch
    put::<16, 1>(head, [VERSION]);
    put::<21, 2>(head, h.attributes.to_be_bytes());
    put::<23, 4>(head, h.last_offset_delta.to_be_bytes());
    put::<27, 8>(head, h.first_timestamp.to_be_bytes());
    put::<35, 8>(head, h.max_timestamp.to_be_bytes());
    put::<43, 8>(head, h.origin.producer_id.to_be_bytes());
    put::<51, 2>(head, h.origin.producer_epoch.to_be_bytes());
    put::<53, 4>(head, h.origin.base_sequence.to_be_bytes());
    put::<57, 4>(head, h.record_count.to_be_bytes());
    let crc = checksum(out.get(..h.length)?);
    out.get_mut(17..CRC_START)?
        .copy_from_slice(&crc.to_be_bytes());
    Some(())
}

/// Writes `bytes` as the `N` header bytes at `AT`: [`field`] the other way round, a store.
#[inline]
fn put<const AT: usize, const N: usize>(head: &mut [u8; HEADER_BYTES], bytes: [u8; N]) {
    head[AT..AT + N].copy_from_slice(&bytes);
}

/// [`super::encode_with`] of the entries an iterator yields; returns what it wrote.
pub(crate) fn encode_from<'a>(
    buf: &mut [u8],
    base_offset: u64,
    origin: Origin,
    entries: impl ExactSizeIterator<Item = Entry<'a>> + Clone,
) -> Result<Encoded, EncodeError> {
    let first_timestamp = entries.clone().next().ok_or(EncodeError::Empty)?.timestamp;
    let count = i32::try_from(entries.len()).map_err(|_| EncodeError::TooLarge)?;
    let base = first_offset(base_offset, count)?;
    // The records go first, each sized as it is written, so the sizes are computed once;
    // the exact total is only worked out again for the error.
    let sizing = entries.clone();
    let too_small = || EncodeError::BufferTooSmall {
        needed: encoded_len_of(sizing.clone()),
    };
    let body = buf.get_mut(HEADER_BYTES..).ok_or_else(too_small)?;
    let mut w = Writer::new(body);
    let mut max_timestamp = first_timestamp;
    for (i, e) in entries.enumerate() {
        max_timestamp = max_timestamp.max(e.timestamp);
        let body = body_len(&e, first_timestamp, i);
        w.record(&e, first_timestamp, i, body)
            .ok_or_else(too_small)?;
    }
    let written = Written {
        count,
        first_timestamp,
        max_timestamp,
        bytes: w.pos,
    };
    finish(buf, base, origin, &written)?.ok_or_else(too_small)
}

/// [`encode_from`] of one entry, whose [`body_len`] (as the first record) is `body`: a
/// single send sizes its record once, to size the batch, and passes the size on.
pub(crate) fn encode_one(
    buf: &mut [u8],
    base_offset: u64,
    origin: Origin,
    entry: &Entry<'_>,
    body: usize,
) -> Result<Encoded, EncodeError> {
    let base = first_offset(base_offset, 1)?;
    let too_small = || EncodeError::BufferTooSmall {
        needed: one_record_len(body),
    };
    let records = buf.get_mut(HEADER_BYTES..).ok_or_else(too_small)?;
    let mut w = Writer::new(records);
    w.record(entry, entry.timestamp, 0, body)
        .ok_or_else(too_small)?;
    let written = Written {
        count: 1,
        first_timestamp: entry.timestamp,
        max_timestamp: entry.timestamp,
        bytes: w.pos,
    };
    finish(buf, base, origin, &written)?.ok_or_else(too_small)
}

/// Appends `e` to `out` as the record at `index` of a batch whose timestamps count from
/// `first_timestamp`, exactly as [`encode_from`] writes it there; returns where its key's
/// length field starts, the part of a record that does not depend on where it goes (see
/// [`push_moved`]). A batch built this way starts with [`HEADER_BYTES`] of room and is
/// finished by [`seal`].
#[expect(
    clippy::inline_always,
    reason = "inlined into a caller that knows the record has no headers (or no key), most of it folds away"
)]
#[inline(always)]
pub(crate) fn push_record(
    out: &mut Vec<u8>,
    e: &Entry<'_>,
    first_timestamp: i64,
    index: usize,
) -> usize {
    let delta = zigzag(e.timestamp.wrapping_sub(first_timestamp));
    let body = body_len(e, first_timestamp, index);
    // Reserved whole, so that the appends below never reallocate.
    out.reserve(len_len(body).saturating_add(body));
    // The small fields between the key and value are gathered on the stack and copied in
    // together: cheaper than growing the buffer a byte at a time.
    let mut fields = Fields::record_start(body, delta, index);
    let tail = out.len() + fields.len;
    match e.key {
        Some(key) => {
            fields.len(key.len());
            fields.flush(out);
            out.extend_from_slice(key);
        }
        None => fields.varint(zigzag(-1)),
    }
    match e.value {
        Some(value) => {
            fields.len(value.len());
            fields.flush(out);
            out.extend_from_slice(value);
        }
        None => fields.varint(zigzag(-1)),
    }
    fields.len(e.headers.len());
    fields.flush(out);
    for (k, v) in e.headers {
        put_varint(out, 2 * k.len() as u64);
        out.extend_from_slice(k.as_bytes());
        put_varint(out, 2 * v.len() as u64);
        out.extend_from_slice(v);
    }
    tail
}

/// Varints gathered before they are copied into a batch being built.
struct Fields {
    /// Room for the most a record puts between two blobs: a length, attributes, timestamp
    /// delta, offset delta and key length, or a value length and header count (at most 10
    /// bytes each).
    buf: [u8; 41],
    len: usize,
}

impl Fields {
    fn new() -> Self {
        Self {
            buf: [0; 41],
            len: 0,
        }
    }

    /// A record's fields before its key: its length, attributes (none), timestamp delta
    /// (zigzagged) and offset delta.
    #[inline]
    fn record_start(body: usize, timestamp_delta: u64, offset_delta: usize) -> Self {
        let mut fields = Self::new();
        fields.len(body);
        fields.varint(0);
        fields.varint(timestamp_delta);
        fields.len(offset_delta);
        fields
    }

    #[inline]
    fn varint(&mut self, v: u64) {
        let mut w = Writer {
            buf: &mut self.buf,
            pos: self.len,
        };
        let written = w.varint(v);
        debug_assert!(written.is_some(), "the fields fit");
        self.len = w.pos;
    }

    #[inline]
    fn len(&mut self, n: usize) {
        self.varint(2 * n as u64);
    }

    /// Appends the gathered fields to `out`, and starts again.
    #[inline]
    fn flush(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.buf.get(..self.len).unwrap_or_default());
        self.len = 0;
    }
}

/// Appends to `out` a record whose fields from its key's length on are `tail` (as
/// [`push_record`] wrote them for another place), as the record at `index` of a batch whose
/// timestamps count from `first_timestamp`, with timestamp `timestamp`.
pub(crate) fn push_moved(
    out: &mut Vec<u8>,
    tail: &[u8],
    timestamp: i64,
    first_timestamp: i64,
    index: usize,
) {
    let delta = zigzag(timestamp.wrapping_sub(first_timestamp));
    let body = (1 + varint_len(delta) + len_len(index)).saturating_add(tail.len());
    out.reserve(len_len(body).saturating_add(body));
    Fields::record_start(body, delta, index).flush(out);
    out.extend_from_slice(tail);
}

/// Appends the varint of `v`: [`Writer::varint`] for a growing buffer.
#[inline]
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Writes the header of a batch of `count` records built by [`push_record`] or
/// [`push_moved`] after [`HEADER_BYTES`] of room at the front of `batch`: base offset 0
/// (set when it is appended) and its checksum.
///
/// # Errors
///
/// [`EncodeError::Empty`] for no records, [`EncodeError::TooLarge`] past the format's
/// limits, [`EncodeError::BufferTooSmall`] if `batch` has no room for the header.
pub(crate) fn seal(
    batch: &mut [u8],
    origin: Origin,
    count: usize,
    first_timestamp: i64,
    max_timestamp: i64,
) -> Result<Encoded, EncodeError> {
    if count == 0 {
        return Err(EncodeError::Empty);
    }
    let count = i32::try_from(count).map_err(|_| EncodeError::TooLarge)?;
    let base = first_offset(0, count)?;
    let written = Written {
        count,
        first_timestamp,
        max_timestamp,
        bytes: batch.len().saturating_sub(HEADER_BYTES),
    };
    let too_small = EncodeError::BufferTooSmall {
        needed: HEADER_BYTES,
    };
    finish(batch, base, origin, &written)?.ok_or(too_small)
}

/// The base offset as the header holds it, if `count` offsets from it stay within the
/// format's (signed 64-bit) range.
fn first_offset(base_offset: u64, count: i32) -> Result<i64, EncodeError> {
    i64::try_from(base_offset)
        .ok()
        .filter(|base| base.checked_add(i64::from(count - 1)).is_some())
        .ok_or(EncodeError::TooLarge)
}

/// What the records of a batch being encoded came to.
struct Written {
    count: i32,
    first_timestamp: i64,
    max_timestamp: i64,
    /// Bytes they took after the header.
    bytes: usize,
}

/// Writes the header (base offset `base`, checked by [`first_offset`]) in front of
/// `records`, already in `buf`. `Ok(None)` if `buf` is too small for it.
fn finish(
    buf: &mut [u8],
    base: i64,
    origin: Origin,
    records: &Written,
) -> Result<Option<Encoded>, EncodeError> {
    let length = HEADER_BYTES + records.bytes;
    if length > MAX_BATCH_BYTES {
        return Err(EncodeError::TooLarge);
    }
    let head = Head {
        base_offset: base,
        length,
        attributes: if origin.transactional {
            TRANSACTIONAL
        } else {
            0
        },
        last_offset_delta: records.count - 1,
        first_timestamp: records.first_timestamp,
        max_timestamp: records.max_timestamp,
        origin,
        record_count: records.count,
    };
    Ok(write_header(buf, &head).map(|()| Encoded {
        length,
        offsets: records.count.cast_unsigned(),
        max_timestamp: records.max_timestamp,
    }))
}

/// See [`super::encode_control`].
pub(super) fn encode_control(
    buf: &mut [u8],
    base_offset: u64,
    origin: Origin,
    marker: ControlRecord,
    timestamp: i64,
) -> Result<usize, EncodeError> {
    let base = i64::try_from(base_offset).map_err(|_| EncodeError::TooLarge)?;
    let too_small = EncodeError::BufferTooSmall {
        needed: CONTROL_BATCH_BYTES,
    };
    let out = buf.get_mut(..CONTROL_BATCH_BYTES).ok_or(too_small)?;
    let kind: i16 = match marker.kind {
        ControlType::Abort => 0,
        ControlType::Commit => 1,
    };
    let mut w = Writer::new(out.get_mut(HEADER_BYTES..).ok_or(too_small)?);
    let (key, value) = (4, 6);
    (|| {
        w.len(1 + 1 + 1 + 1 + key + 1 + value + 1)?;
        w.bytes(&[0, 0, 0])?; // attributes, timestamp delta, offset delta
        w.len(key)?;
        w.bytes(&0i16.to_be_bytes())?;
        w.bytes(&kind.to_be_bytes())?;
        w.len(value)?;
        w.bytes(&0i16.to_be_bytes())?;
        w.bytes(&marker.coordinator_epoch.to_be_bytes())?;
        w.len(0) // headers
    })()
    .ok_or(too_small)?;
    debug_assert_eq!(w.pos, 17, "a marker record is 17 bytes");
    let head = Head {
        base_offset: base,
        length: CONTROL_BATCH_BYTES,
        attributes: TRANSACTIONAL | CONTROL,
        last_offset_delta: 0,
        first_timestamp: timestamp,
        max_timestamp: timestamp,
        origin: Origin::transactional(origin.producer_id, origin.producer_epoch),
        record_count: 1,
    };
    write_header(out, &head).ok_or(too_small)?;
    Ok(CONTROL_BATCH_BYTES)
}

/// Reads a marker from a control record's key and value (Kafka reads later versions of
/// either the same way, as long as the fields are there).
pub(super) fn parse_control(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<ControlRecord, DecodeError> {
    let malformed = DecodeError::Record("malformed control record");
    let (Some(&[k0, k1, t0, t1, ..]), Some(&[v0, v1, e0, e1, e2, e3, ..])) = (key, value) else {
        return Err(malformed);
    };
    if i16::from_be_bytes([k0, k1]) < 0 || i16::from_be_bytes([v0, v1]) < 0 {
        return Err(malformed);
    }
    let kind = match i16::from_be_bytes([t0, t1]) {
        0 => ControlType::Abort,
        1 => ControlType::Commit,
        _ => return Err(DecodeError::Record("control record of an unknown type")),
    };
    Ok(ControlRecord {
        kind,
        coordinator_epoch: i32::from_be_bytes([e0, e1, e2, e3]),
    })
}

/// The header at `head` read into `header`, if it is a plain batch (no bit set but
/// log-append time) that passes [`read_header`]'s checks, starts at `header`'s next
/// offset (the batch before it), ends below `until` and is at most `room` bytes long;
/// `header` is left as it was otherwise. For [`super::RunRecords`]: only the fields the record decoder reads are
/// written.
#[expect(
    clippy::inline_always,
    reason = "the run's loop; as `super::read_header`"
)]
#[inline(always)]
pub(super) fn run_header(
    head: &[u8; HEADER_BYTES],
    header: &mut BatchHeader,
    until: u64,
    room: usize,
) -> bool {
    let base_offset = i64::from_be_bytes(field::<0, 8>(head));
    let batch_length = i32::from_be_bytes(field::<8, 4>(head));
    let attributes = u16::from_be_bytes(field::<21, 2>(head));
    let last_offset_delta = i32::from_be_bytes(field::<23, 4>(head));
    let record_count = i32::from_be_bytes(field::<57, 4>(head));
    // `read_header`'s checks of a plain batch; the offset tests keep every offset from the
    // expected base on below `until`, so at most `i64::MAX`.
    let run = head[16] == VERSION
        && attributes & !LOG_APPEND_TIME == 0
        && batch_length >= MIN_BATCH_LENGTH
        && batch_length.cast_unsigned() as usize + LENGTH_EXCLUDES <= room
        && record_count >= 1
        && last_offset_delta >= record_count - 1
        && u64::from(record_count.cast_unsigned()) * MIN_RECORD_BYTES as u64
            <= u64::from(batch_length.cast_unsigned()) + LENGTH_EXCLUDES as u64
                - HEADER_BYTES as u64
        && base_offset.cast_unsigned() == header.next_offset()
        && base_offset >= 0
        && (base_offset.cast_unsigned())
            .checked_add(u64::from(last_offset_delta.cast_unsigned()))
            .is_some_and(|last| last < until);
    if run {
        header.base_offset = base_offset.cast_unsigned();
        header.length = batch_length.cast_unsigned() + LENGTH_EXCLUDES as u32;
        header.attributes = attributes;
        header.last_offset_delta = last_offset_delta.cast_unsigned();
        header.first_timestamp = i64::from_be_bytes(field::<27, 8>(head));
        header.max_timestamp = i64::from_be_bytes(field::<35, 8>(head));
        header.record_count = record_count.cast_unsigned();
    }
    run
}
