//! Record batches: the unit in which records are written to, stored in and read from segments.
//!
//! Segments hold batches back to back. strom writes **version 2**, which is Apache Kafka's
//! `RecordBatch` (magic 2) byte for byte, specified in [`v2`]; it reads version 2 and the
//! earlier **version 1** ([`v1`]), so logs written before version 2 stay readable and a
//! segment may hold both. The data users keep in these formats must stay readable for years:
//! any change to a layout needs a new version.
//!
//! Why Kafka's format: a batch produced by a Kafka client can be stored after assigning its
//! base offset (the checksum does not cover it), and a fetch can be served from the segment's
//! map as it lies on disk, without re-encoding. The price is a larger header (61 bytes
//! instead of 40) on every batch, which measurement showed reads do not feel once each
//! header is parsed once per read; the figures are in the CHANGELOG.
//!
//! # Telling versions apart
//!
//! Byte 16 of every batch is its version (Kafka's *magic*) in every version, so a reader
//! looks at it first. A reader meeting a version it does not know refuses the batch
//! ([`DecodeError::Version`]); it never guesses at its length. Versions 1 and 2 both start
//! with the base offset (8 bytes) and put the batch's length at byte 8, in each version's own
//! encoding.
//!
//! A zeroed start (16 zero bytes where a batch would begin) marks the end of written data in
//! a preallocated segment, in every version; no valid batch starts so.
//!
//! # Encodings
//!
//! - A **varint** is an unsigned LEB128 integer: seven bits per byte, least significant group
//!   first, the high bit (`0x80`) of a byte set exactly when another byte follows. Readers
//!   accept only the shortest encoding of a value (its last byte is never `0x00` unless it
//!   is the only byte); a varint holds at most 64 bits (10 bytes; a 10th byte can only be
//!   `0x01`).
//! - A **zigzag varint** stores a signed integer `n` as the varint of `(n << 1) ^ (n >> 63)`
//!   (arithmetic shift), mapping 0, −1, 1, −2, 2, … to 0, 1, 2, 3, 4, …; it decodes as
//!   `(z >> 1) ^ −(z & 1)`. Kafka calls one that holds an `i32` a *varint* and one that holds
//!   an `i64` a *varlong*.
//!
//! # Reading
//!
//! [`check`] validates a batch's header and checksum; [`records`] then walks its records
//! without copying, and [`headers`] a record's headers. Readers reject anything the
//! specifications do not allow and never panic on any input. [`control_record`] reads the
//! marker a control batch carries.
//!
//! # Writing
//!
//! [`encode`] and [`encode_with`] write a version 2 batch of [`Entry`]s into a buffer, in one
//! pass plus one checksum pass, allocating nothing; [`encode_control`] writes a transaction
//! marker. [`set_base_offset`] moves an encoded version 2 batch to another base offset.
//!
//! # Compression
//!
//! [`compress`] turns an encoded batch into one whose records are compressed with a
//! [`Compression`] codec, as Kafka compresses them (the codec in the attributes, the header
//! otherwise unchanged; each codec's framing is in [`compression`]); [`decompress`] turns it
//! back into an uncompressed batch, which [`records`] then reads.

pub mod compression;
pub mod v1;
pub mod v2;

pub use compression::{Compression, UnknownCompression, MAX_DECOMPRESSED_BYTES};

use std::fmt;
use std::ops::Range;

/// The format version this module writes.
pub const FORMAT_VERSION: u8 = v2::VERSION;

/// Size in bytes of the header of a batch this module writes (version 2).
pub const HEADER_BYTES: usize = v2::HEADER_BYTES;

/// The largest batch, in bytes, that a version 2 batch's 32-bit signed length field allows.
pub const MAX_BATCH_BYTES: usize = v2::MAX_BATCH_BYTES;

/// Where the version byte is, in every version.
const VERSION_AT: usize = 16;

/// How many leading zero bytes mark the end of written data.
const ZEROED_BYTES: usize = 16;

/// One record to encode.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The key; `None` (no key) is distinct from an empty key.
    pub key: Option<&'a [u8]>,
    /// The value; `None` marks a tombstone and is distinct from an empty value.
    pub value: Option<&'a [u8]>,
    /// Headers as (UTF-8 key, value bytes) pairs, in order.
    pub headers: &'a [(String, Vec<u8>)],
}

/// Who wrote a batch, in Kafka's terms: the producer id and epoch of an idempotent or
/// transactional producer, the sequence number of the batch's first record, and whether the
/// batch belongs to a transaction.
///
/// [`Origin::NONE`] is a plain producer's: no id, epoch or sequence (all −1).
///
/// ```
/// use strom::storage::batch::Origin;
///
/// let plain = Origin::NONE;
/// assert_eq!((plain.producer_id, plain.transactional), (-1, false));
/// let txn = Origin::transactional(7, 0);
/// assert!(txn.transactional && txn.base_sequence == -1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// The producer id; −1 for none.
    pub producer_id: i64,
    /// The producer's epoch; −1 for none.
    pub producer_epoch: i16,
    /// The sequence number of the batch's first record; −1 for none.
    pub base_sequence: i32,
    /// Whether the batch is part of a transaction (attribute bit 4).
    pub transactional: bool,
}

impl Origin {
    /// A batch from a producer that is neither idempotent nor transactional.
    pub const NONE: Self = Self {
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        transactional: false,
    };

    /// A batch of the transaction of `producer_id` at `producer_epoch`, without a sequence
    /// number (as strom's transactional producer and transaction markers write them).
    #[must_use]
    pub const fn transactional(producer_id: i64, producer_epoch: i16) -> Self {
        Self {
            producer_id,
            producer_epoch,
            base_sequence: -1,
            transactional: true,
        }
    }
}

/// The two markers that end a transaction in each partition it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlType {
    /// The transaction was aborted: readers that isolate committed data skip its records.
    Abort,
    /// The transaction was committed.
    Commit,
}

/// The record of a control batch: a transaction marker (Kafka's `EndTransactionMarker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlRecord {
    /// Commit or abort.
    pub kind: ControlType,
    /// The epoch of the coordinator that wrote it.
    pub coordinator_epoch: i32,
}

/// Why [`encode`] refused to write a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// No entries were given; a batch holds at least one record.
    Empty,
    /// The output buffer is shorter than the batch.
    BufferTooSmall {
        /// Bytes the batch needs.
        needed: usize,
    },
    /// The batch would be longer than [`MAX_BATCH_BYTES`], hold more than `i32::MAX`
    /// records, or have offsets past `i64::MAX`.
    TooLarge,
    /// A batch encoded elsewhere, handed over to be stored, is not a valid version 2 batch.
    Invalid(DecodeError),
    /// The codec is not in this build of strom (its cargo feature is off), or failed.
    Codec(Compression),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("a batch needs at least one record"),
            Self::BufferTooSmall { needed } => write!(f, "buffer too small: need {needed} bytes"),
            Self::TooLarge => f.write_str(
                "batch too large for the format's 31-bit length and record count, or offsets past i64::MAX",
            ),
            Self::Invalid(e) => write!(f, "not a valid version 2 batch: {e}"),
            Self::Codec(codec) => write!(
                f,
                "cannot compress with {codec}: this build of strom lacks it (cargo feature `{codec}`)"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Why a batch could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes available than the header (or than `length`): an incomplete or torn tail.
    Truncated,
    /// The first 16 bytes are zero: the end of written data in a preallocated file.
    Zeroed,
    /// The length field is smaller than the smallest possible batch (or negative).
    Length(u32),
    /// A version this build does not read.
    Version(u8),
    /// The stored checksum does not match the batch's bytes.
    Checksum {
        /// The `crc` field of the header.
        stored: u32,
        /// The checksum of the bytes present.
        computed: u32,
    },
    /// A malformed record inside a checksum-valid batch, or a header field the format does not
    /// allow (`record_count` 0, unknown attributes, ...).
    Record(&'static str),
    /// A compressed batch's records do not decompress: malformed, larger than
    /// [`MAX_DECOMPRESSED_BYTES`], or compressed with a codec this build lacks.
    Compression {
        /// The batch's codec.
        codec: Compression,
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("batch truncated"),
            Self::Zeroed => f.write_str("zeroed batch header (end of written data)"),
            Self::Length(len) => write!(f, "invalid batch length {len}"),
            Self::Version(v) => write!(f, "unsupported batch format version {v}"),
            Self::Checksum { stored, computed } => {
                write!(
                    f,
                    "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            Self::Record(what) => write!(f, "malformed batch: {what}"),
            Self::Compression { codec, reason } => {
                write!(f, "{codec}-compressed records: {reason}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// The header of a batch, of either version. Fields a version does not have take Kafka's
/// "none" values: version 1 batches have no producer (−1s), no attributes (0) and no leader
/// epoch (−1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: u64,
    /// Bytes in the whole batch, header included.
    pub length: u32,
    /// Kafka's partition leader epoch (not covered by the checksum); strom writes 0.
    pub partition_leader_epoch: i32,
    /// Format version (Kafka's magic).
    pub version: u8,
    /// The checksum field.
    pub crc: u32,
    /// Batch attributes (see [`v2`]); 0 in version 1.
    pub attributes: u16,
    /// The last offset the batch covers, less `base_offset`: `record_count − 1` unless
    /// records were removed from it.
    pub last_offset_delta: u32,
    /// Timestamp the records' deltas count from (the first record's, as strom writes).
    pub first_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
    /// Who wrote the batch.
    pub origin: Origin,
    /// Number of records.
    pub record_count: u32,
}

impl BatchHeader {
    /// Offset after the last offset the batch covers: `base_offset + last_offset_delta + 1`
    /// (saturating).
    #[must_use]
    pub fn next_offset(&self) -> u64 {
        self.last_offset().saturating_add(1)
    }

    /// The last offset the batch covers.
    #[must_use]
    pub fn last_offset(&self) -> u64 {
        self.base_offset
            .saturating_add(u64::from(self.last_offset_delta))
    }

    /// Whether the batch belongs to a transaction (attribute bit 4).
    #[must_use]
    pub fn is_transactional(&self) -> bool {
        self.attributes & v2::TRANSACTIONAL != 0
    }

    /// Whether the batch is a control batch: a transaction marker, not user records
    /// (attribute bit 5).
    #[must_use]
    pub fn is_control(&self) -> bool {
        self.attributes & v2::CONTROL != 0
    }

    /// The compression codec (attribute bits 0–2). A header [`read_header`] gave always
    /// names a known one; one built by hand with an unknown code reads as `None`.
    #[must_use]
    pub fn compression(&self) -> Compression {
        Compression::from_code((self.attributes & v2::COMPRESSION_MASK) as u8).unwrap_or_default()
    }

    /// Whether its records are compressed: [`compression`](Self::compression) is not `None`,
    /// in one test.
    pub(crate) fn is_compressed(&self) -> bool {
        self.attributes & v2::COMPRESSION_MASK != 0
    }

    /// Where the records start: the header's size in this version.
    fn records_start(&self) -> usize {
        if self.version == v1::VERSION {
            v1::HEADER_BYTES
        } else {
            v2::HEADER_BYTES
        }
    }
}

/// Bytes the varint of `v` takes: one per started group of 7 significant bits (0 takes one).
#[inline]
fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros();
    // `bits.div_ceil(7)` without the division: `(9 * bits + 64) / 64` equals it for every
    // `bits` in 1..=64. Appends size each record twice, so this is on their hot path.
    ((9 * bits + 64) / 64) as usize
}

#[inline]
fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)).cast_unsigned()
}

#[inline]
fn unzigzag(z: u64) -> i64 {
    (z >> 1).cast_signed() ^ (z & 1).cast_signed().wrapping_neg()
}

/// Exact number of bytes [`encode`] writes for these entries (saturating at `usize::MAX`).
#[must_use]
pub fn encoded_len(entries: &[Entry<'_>]) -> usize {
    v2::encoded_len_of(entries.iter().copied())
}

/// Encodes a version 2 batch from a plain producer ([`Origin::NONE`]) into the front of
/// `buf` and returns the bytes written ([`encoded_len`]).
///
/// The records are written in one pass, then the checksum is computed in a second: a batch
/// costs one copy and one CRC pass. Nothing is allocated.
///
/// ```
/// use strom::storage::batch::{self, Entry};
///
/// let entries = [Entry { timestamp: 1_700_000_000_000, key: Some(b"user-42"), value: Some(b"950"), headers: &[] }];
/// let mut buf = vec![0; batch::encoded_len(&entries)];
/// let len = batch::encode(&mut buf, 7, &entries)?;
/// let header = batch::check(&buf[..len])?;
/// assert_eq!((header.base_offset, header.record_count, header.version), (7, 1, 2));
/// let record = batch::records(&buf)?.next().unwrap()?;
/// assert_eq!(record.value.map(|v| &buf[v]), Some(&b"950"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`EncodeError::Empty`] for no entries, [`EncodeError::TooLarge`] past the format's limits,
/// and [`EncodeError::BufferTooSmall`] if `buf` is shorter than the batch. After an error the
/// front of `buf` may hold part of the batch; it is not a batch (its header is unwritten).
pub fn encode(
    buf: &mut [u8],
    base_offset: u64,
    entries: &[Entry<'_>],
) -> Result<usize, EncodeError> {
    encode_with(buf, base_offset, Origin::NONE, entries)
}

/// [`encode`] with the producer fields of `origin`.
///
/// # Errors
///
/// As [`encode`].
pub fn encode_with(
    buf: &mut [u8],
    base_offset: u64,
    origin: Origin,
    entries: &[Entry<'_>],
) -> Result<usize, EncodeError> {
    v2::encode_from(buf, base_offset, origin, entries.iter().copied()).map(|b| b.length)
}

/// What [`v2::encode_from`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Encoded {
    /// Bytes written: the batch's `length`.
    pub(crate) length: usize,
    /// Offsets the batch covers: `last_offset_delta + 1`.
    pub(crate) offsets: u32,
    /// The batch's `max_timestamp`.
    pub(crate) max_timestamp: i64,
}

// Writers that build entries on the fly (instead of collecting them into a slice first)
// size and encode them with these, in the format written.
pub(crate) use v2::{
    body_len, encode_from, encode_one, encoded_len_of, len_len, one_record_len, push_moved,
    push_record, seal,
};

/// `batch`, an encoded version 2 batch that passed [`check`], with its records compressed
/// with `codec`. Returned as it is when `codec` is [`Compression::None`], when it is
/// compressed already or a control batch, when its records are larger than
/// [`MAX_DECOMPRESSED_BYTES`], or when compressing does not make it smaller (often so for a
/// single small record): a reader takes either.
///
/// ```
/// use strom::storage::batch::{self, Compression, Entry};
///
/// let value = br#"{"city": "London", "temp": 15.59, "humidity": 64}"#;
/// let entries = vec![Entry { timestamp: 0, key: None, value: Some(value), headers: &[] }; 50];
/// let mut plain = vec![0; batch::encoded_len(&entries)];
/// batch::encode(&mut plain, 0, &entries)?;
/// let small = batch::compress(&plain, Compression::Zstd)?;
/// assert!(small.len() < plain.len() / 4);
/// assert_eq!(batch::check(&small)?.compression(), Compression::Zstd);
/// assert_eq!(batch::decompress(&small)?, plain);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`EncodeError::Invalid`] if `batch` does not pass [`check`]; [`EncodeError::Codec`] if
/// this build lacks `codec`.
pub fn compress(batch: &[u8], codec: Compression) -> Result<Vec<u8>, EncodeError> {
    let header = check(batch).map_err(EncodeError::Invalid)?;
    compress_with(batch, &header, codec)
}

/// [`compress`] of a batch whose header `read_header` gave, without checking its checksum
/// first (it may be stale, as in a batch [`decompress_with`] gave): the batch returned has
/// its checksum set, whether compressed or not.
pub(crate) fn compress_with(
    batch: &[u8],
    header: &BatchHeader,
    codec: Compression,
) -> Result<Vec<u8>, EncodeError> {
    let batch = batch
        .get(..header.length as usize)
        .ok_or(EncodeError::Invalid(DecodeError::Truncated))?;
    let records = batch.get(HEADER_BYTES..).unwrap_or_default();
    let keep = codec == Compression::None
        || header.version != v2::VERSION
        || header.compression() != Compression::None
        || header.is_control()
        || records.len() > MAX_DECOMPRESSED_BYTES;
    let mut out = Vec::with_capacity(batch.len());
    if !keep {
        out.extend_from_slice(batch.get(..HEADER_BYTES).unwrap_or_default());
        compression::compress(codec, records, &mut out)?;
        if out.len() < batch.len() {
            v2::reframe(&mut out, header.attributes | u16::from(codec.code()))
                .map_err(EncodeError::Invalid)?;
            return Ok(out);
        }
        out.clear();
    }
    out.extend_from_slice(batch);
    if header.version == v2::VERSION {
        v2::set_checksum(&mut out).map_err(EncodeError::Invalid)?;
    }
    Ok(out)
}

/// `batch`, a version 2 batch that passed [`check`], with its records decompressed: an
/// uncompressed batch with the same header fields (attributes less the codec, its own
/// length and checksum), which [`records`] reads. An uncompressed batch is returned as it
/// is. Allocates once for the batch, however many records it holds.
///
/// # Errors
///
/// Those of [`read_header`]; [`DecodeError::Compression`] if the records do not
/// decompress, would decompress past [`MAX_DECOMPRESSED_BYTES`], or use a codec this build
/// lacks; [`DecodeError::Record`] if they cannot hold `record_count` records.
pub fn decompress(batch: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let header = read_header(batch)?;
    let (mut out, _) = decompress_with(batch, &header)?;
    if header.compression() != Compression::None {
        v2::set_checksum(&mut out)?;
    }
    Ok(out)
}

/// [`decompress`] for reading: the batch whose header `read_header` gave, decompressed, and
/// the header of the result, whose checksum is left stale (the bytes were checked
/// compressed, and are read, never stored as they are; [`compress_with`] sets it).
pub(crate) fn decompress_with(
    batch: &[u8],
    header: &BatchHeader,
) -> Result<(Vec<u8>, BatchHeader), DecodeError> {
    let batch = batch
        .get(..header.length as usize)
        .ok_or(DecodeError::Truncated)?;
    let codec = header.compression();
    if codec == Compression::None {
        return Ok((batch.to_vec(), *header));
    }
    let compressed = batch.get(HEADER_BYTES..).unwrap_or_default();
    let capacity = HEADER_BYTES
        + compressed
            .len()
            .saturating_mul(8)
            .min(MAX_DECOMPRESSED_BYTES);
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(batch.get(..HEADER_BYTES).unwrap_or_default());
    compression::decompress(codec, compressed, MAX_DECOMPRESSED_BYTES, &mut out)?;
    v2::set_frame(&mut out, header.attributes & !v2::COMPRESSION_MASK)?;
    // The header's checks of an uncompressed batch: enough bytes for `record_count`.
    let decompressed = read_header(&out)?;
    Ok((out, decompressed))
}

/// For tests: the header of `plain` (an uncompressed version 2 batch) with `records` after
/// it, taken as compressed with `codec`, its length and checksum set.
#[cfg(test)]
pub(crate) fn with_records(plain: &[u8], codec: Compression, records: &[u8]) -> Vec<u8> {
    let header = read_header(plain).expect("a batch");
    let mut out = plain[..HEADER_BYTES].to_vec();
    out.extend_from_slice(records);
    v2::reframe(&mut out, header.attributes | u16::from(codec.code())).expect("reframe");
    out
}

/// Bytes of a control batch ([`encode_control`]).
pub const CONTROL_BATCH_BYTES: usize = v2::CONTROL_BATCH_BYTES;

/// Encodes a control batch holding one transaction marker, as Kafka writes them: attributes
/// transactional and control, the transaction's producer id and epoch, no sequence
/// (−1), one record whose key is the version (0) and the marker type (0 abort, 1 commit) as
/// two `i16`s and whose value is the version (0) and `coordinator_epoch` (`i16`, `i32`), all
/// big-endian. Returns [`CONTROL_BATCH_BYTES`].
///
/// ```
/// use strom::storage::batch::{self, ControlRecord, ControlType, Origin};
///
/// let origin = Origin { producer_id: 3, producer_epoch: 1, base_sequence: -1, transactional: true };
/// let marker = ControlRecord { kind: ControlType::Commit, coordinator_epoch: 0 };
/// let mut buf = [0; batch::CONTROL_BATCH_BYTES];
/// batch::encode_control(&mut buf, 10, origin, marker, 1_700_000_000_000)?;
/// let header = batch::check(&buf)?;
/// assert!(header.is_control() && header.is_transactional());
/// assert_eq!(batch::control_record(&buf)?, marker);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`EncodeError::BufferTooSmall`] if `buf` is shorter than [`CONTROL_BATCH_BYTES`], and
/// [`EncodeError::TooLarge`] for a `base_offset` past `i64::MAX`.
pub fn encode_control(
    buf: &mut [u8],
    base_offset: u64,
    origin: Origin,
    marker: ControlRecord,
    timestamp: i64,
) -> Result<usize, EncodeError> {
    v2::encode_control(buf, base_offset, origin, marker, timestamp)
}

/// Moves an encoded version 2 batch to `base_offset`, its records with it (their offsets are
/// deltas), and sets its partition leader epoch to 0. The checksum stays valid: it does not
/// cover these fields. This is how a batch encoded before its offsets were known is stored.
///
/// # Errors
///
/// Those of [`read_header`], [`DecodeError::Version`] for a version 1 batch (whose checksum
/// covers the base offset), and [`DecodeError::Record`] if the batch's offsets would pass
/// `i64::MAX`.
pub fn set_base_offset(batch: &mut [u8], base_offset: u64) -> Result<(), DecodeError> {
    let header = read_header(batch)?;
    if header.version != v2::VERSION {
        return Err(DecodeError::Version(header.version));
    }
    v2::set_base_offset(batch, base_offset, header.last_offset_delta)
}

/// Gives an encoded version 2 batch another producer: its `producer_id`, `producer_epoch`
/// and `base_sequence`, then recomputes its checksum, which covers them. The batch leaves
/// any transaction it was written in (its transactional flag is cleared: the new producer's
/// batch is not part of the old producer's transaction); the records and every other field
/// stay as they are. This is how a batch is sent on by a producer other than the one that
/// wrote it (a mirror's idempotent producer, with its own sequence).
///
/// # Errors
///
/// Those of [`check`] (the checksum is checked before it is replaced, so a damaged batch is
/// not given a valid one), and [`DecodeError::Version`] for a version 1 batch, which has no
/// producer fields.
///
/// # Examples
///
/// ```
/// use strom::storage::batch::{self, Entry};
///
/// let entries = [Entry { timestamp: 1_700_000_000_000, key: Some(b"oslo"), value: Some(b"-3.5"), headers: &[] }];
/// let mut buf = vec![0; batch::encoded_len(&entries)];
/// batch::encode(&mut buf, 0, &entries)?;
/// batch::set_producer(&mut buf, 7, 0, 42)?;
/// let origin = batch::check(&buf)?.origin;
/// assert_eq!((origin.producer_id, origin.producer_epoch, origin.base_sequence), (7, 0, 42));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn set_producer(
    batch: &mut [u8],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Result<(), DecodeError> {
    let header = check(batch)?;
    if header.version != v2::VERSION {
        return Err(DecodeError::Version(header.version));
    }
    v2::set_producer(batch, producer_id, producer_epoch, base_sequence)
}

/// Parses and sanity-checks the header at the front of `buf`, of either version.
///
/// Does not check the checksum and does not need the whole batch to be present.
///
/// # Errors
///
/// [`DecodeError::Zeroed`] if the first 16 bytes are zero, [`DecodeError::Truncated`] if the
/// header is not all there, [`DecodeError::Length`] for a length below the smallest batch,
/// [`DecodeError::Version`] for another version, and [`DecodeError::Record`] for other fields
/// the format does not allow.
#[expect(
    clippy::inline_always,
    reason = "a reader catching up on single sends parses a header per record; called, the parse cost it a sixth of its instructions"
)]
#[inline(always)]
pub fn read_header(buf: &[u8]) -> Result<BatchHeader, DecodeError> {
    let header = match buf.get(VERSION_AT) {
        Some(&v2::VERSION) => v2::read_header(buf),
        Some(&v1::VERSION) => v1::read_header(buf),
        Some(&other) => Err(DecodeError::Version(other)),
        None => Err(DecodeError::Truncated),
    };
    // A zeroed start has a zero length, which every version refuses: it is looked for
    // only then, not once per batch read.
    match header {
        Err(_) if zeroed(buf) => Err(DecodeError::Zeroed),
        header => header,
    }
}

/// Whether `buf` starts with [`ZEROED_BYTES`] zero bytes: the end of written data.
#[cold]
fn zeroed(buf: &[u8]) -> bool {
    buf.get(..ZEROED_BYTES)
        .is_some_and(|b| b == [0; ZEROED_BYTES])
}

/// The base offset of the batch at the front of `buf`, read without checking the rest of its
/// header: `None` for a zeroed start, an unknown version or too few bytes.
pub(crate) fn peek_base_offset(buf: &[u8]) -> Option<u64> {
    let version = *buf.get(VERSION_AT)?;
    let base: [u8; 8] = buf.get(..8)?.try_into().ok()?;
    match version {
        v2::VERSION => Some(v2::base_offset(base)),
        v1::VERSION => Some(u64::from_le_bytes(base)),
        _ => None,
    }
}

/// The version of a complete batch of a newer format at the front of `buf`, if that is what
/// is there (see [`v2`]): recovery must not take it for damage.
pub(crate) fn newer_version(buf: &[u8]) -> Option<u8> {
    v2::newer_version(buf)
}

/// Checks a whole batch: a sane header, at least `length` bytes in `buf` and a matching
/// checksum. Only the first `length` bytes of `buf` are looked at. Returns the header.
///
/// # Errors
///
/// Those of [`read_header`]; [`DecodeError::Truncated`] if `buf` is shorter than `length`, and
/// [`DecodeError::Checksum`] if the checksum does not match.
pub fn check(buf: &[u8]) -> Result<BatchHeader, DecodeError> {
    let header = read_header(buf)?;
    verify(buf, &header)?;
    Ok(header)
}

/// [`check`] of a batch whose header `read_header` already gave: the length and checksum.
pub(crate) fn verify(buf: &[u8], header: &BatchHeader) -> Result<(), DecodeError> {
    let batch = buf
        .get(..header.length as usize)
        .ok_or(DecodeError::Truncated)?;
    let computed = if header.version == v1::VERSION {
        v1::checksum(batch)
    } else {
        v2::checksum(batch)
    };
    if computed != header.crc {
        return Err(DecodeError::Checksum {
            stored: header.crc,
            computed,
        });
    }
    Ok(())
}

/// The transaction marker of a control batch that passed [`check`].
///
/// # Errors
///
/// Those of [`records`]; [`DecodeError::Record`] if the batch is not a control batch, does not
/// hold exactly one record, or its record is not a commit or abort marker of version 0.
pub fn control_record(batch: &[u8]) -> Result<ControlRecord, DecodeError> {
    let mut records = records(batch)?;
    if !records.header().is_control() {
        return Err(DecodeError::Record("not a control batch"));
    }
    let record = records
        .next()
        .ok_or(DecodeError::Record("control batch without a record"))??;
    if records.next().is_some() {
        return Err(DecodeError::Record(
            "control batch with more than one record",
        ));
    }
    let field = |range: Option<Range<usize>>| range.and_then(|r| batch.get(r));
    v2::parse_control(field(record.key), field(record.value))
}

/// A decoded record. Positions are byte ranges relative to the start of the batch slice, so the
/// caller can slice them out of a larger buffer (a memory-mapped segment) without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRef {
    /// The record's offset: `base_offset + offset_delta`.
    pub offset: u64,
    /// The record's timestamp: `first_timestamp + timestamp_delta` (wrapping), or the batch's
    /// `max_timestamp` when the batch says its timestamps are log-append times.
    pub timestamp: i64,
    /// Where the key is, or `None` if the record has no key.
    pub key: Option<Range<usize>>,
    /// Where the value is, or `None` for a tombstone.
    pub value: Option<Range<usize>>,
    /// Where the encoded headers are (after `header_count`); read them with [`headers`].
    pub headers: Range<usize>,
    /// Number of headers.
    pub header_count: u32,
}

/// Reads the varint at `*pos` and moves `*pos` past it. `None` if it runs past `buf`, is longer
/// than needed, or exceeds 64 bits.
///
/// The one- and two-byte forms (the deltas, lengths and counts of records up to a few KiB)
/// are read here, inlined into the record decoder; longer ones in [`get_long_varint`].
#[expect(
    clippy::inline_always,
    reason = "a catch-up read decodes six varints per record; called, they cost it a fifth of its instructions"
)]
#[inline(always)]
fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let first = *buf.get(*pos)?;
    if first < 0x80 {
        *pos += 1;
        return Some(u64::from(first));
    }
    let second = *buf.get(*pos + 1)?;
    if second < 0x80 {
        // A final zero group adds nothing: a shorter encoding exists.
        if second == 0 {
            return None;
        }
        *pos += 2;
        return Some(u64::from(first & 0x7f) | u64::from(second) << 7);
    }
    let (value, next) = get_long_varint(buf, *pos)?;
    *pos = next;
    Some(value)
}

/// [`get_varint`] of a varint of three bytes or more at `pos`: its value and the position
/// after it. The position goes in and out by value, so that the inlined caller keeps its
/// own in a register.
#[inline(never)]
fn get_long_varint(buf: &[u8], pos: usize) -> Option<(u64, usize)> {
    let first = *buf.get(pos)?;
    let mut value = u64::from(first & 0x7f);
    let mut i = pos + 1;
    for shift in (7..64).step_by(7) {
        let byte = *buf.get(i)?;
        i += 1;
        // The 10th byte has room for one bit only.
        if shift == 63 && byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            // A final zero group adds nothing: a shorter encoding exists.
            if byte == 0 {
                return None;
            }
            return Some((value, i));
        }
    }
    None
}

/// Reads a length or count: in version 2 a zigzag varint holding an `i32` of at least 0, in
/// version 1 a varint holding a `u32`.
#[expect(clippy::inline_always, reason = "as `get_varint`, which it wraps")]
#[inline(always)]
fn get_len<const V2: bool>(buf: &[u8], pos: &mut usize) -> Option<u32> {
    // The one- and two-byte forms, as in `get_varint`, hold at most 14 bits: only their
    // sign is left to check, and the range check is paid by longer ones alone.
    let first = *buf.get(*pos)?;
    let v = if first < 0x80 {
        *pos += 1;
        u32::from(first)
    } else {
        let second = *buf.get(*pos + 1)?;
        if second >= 0x80 {
            let (v, next) = get_long_len::<V2>(buf, *pos)?;
            *pos = next;
            return Some(v);
        }
        // A final zero group adds nothing: a shorter encoding exists.
        if second == 0 {
            return None;
        }
        *pos += 2;
        u32::from(first & 0x7f) | u32::from(second) << 7
    };
    if V2 {
        // Even: not negative.
        (v & 1 == 0).then_some(v >> 1)
    } else {
        Some(v)
    }
}

/// [`get_len`] of a varint of three bytes or more at `pos`: its value and the position
/// after it (by value, as for [`get_long_varint`]).
#[inline(never)]
fn get_long_len<const V2: bool>(buf: &[u8], pos: usize) -> Option<(u32, usize)> {
    let (v, next) = get_long_varint(buf, pos)?;
    let v = if V2 {
        // Even: not negative; at most `2 * i32::MAX`: fits an `i32`.
        (v & 1 == 0 && v <= 2 * i32::MAX as u64).then_some((v >> 1) as u32)
    } else {
        u32::try_from(v).ok()
    }?;
    Some((v, next))
}

/// Reads a zigzag length and the bytes it covers: `Ok(None)` for −1, `Err(what)` if malformed.
#[expect(
    clippy::inline_always,
    reason = "left to itself the compiler calls it twice per record; inlined, a catch-up read runs about 5% fewer instructions"
)]
#[inline(always)]
fn get_nullable(
    rec: &[u8],
    pos: &mut usize,
    what: &'static str,
) -> Result<Option<Range<usize>>, &'static str> {
    let z = get_varint(rec, pos).ok_or(what)?;
    if z == zigzag(-1) {
        return Ok(None);
    }
    // Other odd values are lengths below -1.
    if z & 1 == 1 {
        return Err(what);
    }
    let start = *pos;
    let end = start.saturating_add(usize::try_from(z >> 1).unwrap_or(usize::MAX));
    if end > rec.len() {
        return Err(what);
    }
    *pos = end;
    Ok(Some(start..end))
}

/// Iterator over the records of a batch; see [`records`].
#[derive(Debug, Clone)]
pub struct Records<'a> {
    /// The batch, cut to its `length`.
    batch: &'a [u8],
    header: BatchHeader,
    at: Cursor,
}

/// Where a walk through a batch's records is.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    pos: usize,
    /// Index of the next record; `record_count` once done or after an error.
    index: u32,
    /// The offset delta the next record must reach at least.
    min_delta: u32,
}

impl Cursor {
    /// At the first record of a batch with this header.
    fn start(header: &BatchHeader) -> Self {
        Self {
            pos: header.records_start(),
            index: 0,
            min_delta: 0,
        }
    }
}

/// Iterates the records of an uncompressed batch that passed [`check`] (see [`decompress`]);
/// `batch` starts at the batch's first byte.
///
/// The checksum is not verified again, but every length is checked against the slice, so
/// arbitrary bytes never cause a panic. Yields exactly `record_count` records; on malformed data
/// (including bytes after the last record) it yields one `Err(DecodeError::Record(..))` and stops.
///
/// # Errors
///
/// Those of [`read_header`], [`DecodeError::Truncated`] if `batch` is shorter than `length`,
/// and [`DecodeError::Record`] for a compressed batch.
pub fn records(batch: &[u8]) -> Result<Records<'_>, DecodeError> {
    records_with(batch, read_header(batch)?)
}

/// [`records`] of a batch whose header `read_header` already gave.
pub(crate) fn records_with(batch: &[u8], header: BatchHeader) -> Result<Records<'_>, DecodeError> {
    Ok(Records {
        batch: uncompressed(batch, &header)?,
        at: Cursor::start(&header),
        header,
    })
}

/// `batch` cut to its length, if its records are not compressed.
#[inline]
fn uncompressed<'a>(batch: &'a [u8], header: &BatchHeader) -> Result<&'a [u8], DecodeError> {
    let batch = batch
        .get(..header.length as usize)
        .ok_or(DecodeError::Truncated)?;
    if header.attributes & v2::COMPRESSION_MASK != 0 {
        return Err(DecodeError::Record(
            "compressed records: decompress the batch first",
        ));
    }
    Ok(batch)
}

/// [`records_with`] for readers inside the crate: the iterator borrows the header instead
/// of copying it. Single sends write batches of one record, so a reader catching up on
/// them sets up an iterator per record, and the copy was a good part of its cost.
///
/// # Errors
///
/// As [`records_with`].
#[inline]
pub(crate) fn records_in<'a>(
    batch: &'a [u8],
    header: &'a BatchHeader,
) -> Result<RecordsIn<'a>, DecodeError> {
    Ok(RecordsIn {
        batch: uncompressed(batch, header)?,
        header,
        at: Cursor::start(header),
    })
}

/// Iterator over the records of a batch whose header it borrows; see [`records_in`].
#[derive(Debug, Clone)]
pub(crate) struct RecordsIn<'a> {
    /// The batch, cut to its `length`.
    batch: &'a [u8],
    header: &'a BatchHeader,
    at: Cursor,
}

impl Iterator for RecordsIn<'_> {
    type Item = Result<RecordRef, DecodeError>;

    #[expect(clippy::inline_always, reason = "as `Records::next`")]
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        next_record(self.batch, self.header, &mut self.at)
    }
}

impl Records<'_> {
    /// The header of the batch being iterated.
    #[must_use]
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }
}

/// The record at `at` and the cursor moved past it, for both iterators over a batch's
/// records: `None` after `record_count` records or after an error.
#[expect(
    clippy::inline_always,
    reason = "inlined into the reader's loop, the record is built where it is used instead of being returned through memory"
)]
#[inline(always)]
fn next_record(
    batch: &[u8],
    header: &BatchHeader,
    at: &mut Cursor,
) -> Option<Result<RecordRef, DecodeError>> {
    if at.index >= header.record_count {
        return None;
    }
    let parsed = if header.version == v1::VERSION {
        parse_v1(batch, header, at)
    } else {
        parse::<true>(batch, header, at)
    };
    match parsed {
        Ok(record) => {
            at.index += 1;
            Some(Ok(record))
        }
        Err(what) => {
            at.index = header.record_count;
            Some(Err(DecodeError::Record(what)))
        }
    }
}

/// Parses the record at `at.pos` of `batch` (cut to its length) and moves past it. Both versions share the layout;
/// version 2 (Kafka's) encodes the record length, offset delta, header count and header
/// lengths as zigzag varints where version 1 uses plain varints, allows null header
/// values and gaps in offsets, and leaves record attributes unused.
#[expect(
    clippy::inline_always,
    reason = "inlined with `next` into the reader's loop; see there"
)]
#[inline(always)]
fn parse<const V2: bool>(
    batch: &[u8],
    header: &BatchHeader,
    at: &mut Cursor,
) -> Result<RecordRef, &'static str> {
    let mut pos = at.pos;
    if pos >= batch.len() {
        return Err("batch ends before record_count records");
    }
    let len = get_len::<V2>(batch, &mut pos).ok_or("malformed record length")?;
    let end = pos.saturating_add(len as usize);
    // Every read below is confined to this record.
    let rec = batch
        .get(..end)
        .ok_or("record runs past the end of the batch")?;
    let attributes = *rec.get(pos).ok_or("record runs past its length")?;
    if !V2 && attributes != 0 {
        return Err("record attributes must be 0");
    }
    pos += 1;
    let delta = get_varint(rec, &mut pos).ok_or("malformed timestamp delta")?;
    if !V2 && at.index == 0 && delta != 0 {
        return Err("first record's timestamp differs from first_timestamp");
    }
    let timestamp = if header.attributes & v2::LOG_APPEND_TIME != 0 {
        header.max_timestamp
    } else {
        header.first_timestamp.wrapping_add(unzigzag(delta))
    };
    if timestamp > header.max_timestamp {
        return Err("record timestamp above max_timestamp");
    }
    let offset_delta = get_len::<V2>(rec, &mut pos).ok_or("malformed offset delta")?;
    // Offsets increase within a batch; version 1 has no gaps, and Kafka's compaction
    // leaves them in version 2 batches, up to the header's last offset delta.
    let in_order = if V2 {
        offset_delta >= at.min_delta && offset_delta <= header.last_offset_delta
    } else {
        offset_delta == at.index
    };
    if !in_order {
        return Err("offset delta out of order or past the batch's last offset");
    }
    let key = get_nullable(rec, &mut pos, "malformed key")?;
    let value = get_nullable(rec, &mut pos, "malformed value")?;
    let header_count = get_len::<V2>(rec, &mut pos).ok_or("malformed header count")?;
    // Most records have no headers: then the record simply ends here.
    let headers_end = if header_count == 0 {
        pos
    } else {
        let encoded = rec.get(pos..).unwrap_or_default();
        let mut it = HeaderIter::<V2>::new(encoded, header_count);
        for _ in 0..header_count {
            it.next().ok_or("malformed record header")?;
        }
        end - it.rest.len()
    };
    if headers_end != end {
        return Err("bytes after the last record header");
    }
    if at.index.saturating_add(1) == header.record_count && end != batch.len() {
        return Err("bytes after the last record");
    }
    at.pos = end;
    at.min_delta = offset_delta.saturating_add(1);
    Ok(RecordRef {
        offset: header.base_offset.saturating_add(u64::from(offset_delta)),
        timestamp,
        key,
        value,
        headers: pos..end,
        header_count,
    })
}

/// [`parse`] of version 1, which only old segments hold: kept out of line,
/// so that inlining the iterator inlines one decoder only.
#[inline(never)]
fn parse_v1(
    batch: &[u8],
    header: &BatchHeader,
    at: &mut Cursor,
) -> Result<RecordRef, &'static str> {
    parse::<false>(batch, header, at)
}

impl Iterator for Records<'_> {
    type Item = Result<RecordRef, DecodeError>;

    // Inlined into the reader's loop, the record is built where it is used instead of being
    // returned through memory.
    #[expect(clippy::inline_always, reason = "see the comment above")]
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        next_record(self.batch, &self.header, &mut self.at)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (
            0,
            Some(self.header.record_count.saturating_sub(self.at.index) as usize),
        )
    }
}

impl std::iter::FusedIterator for Records<'_> {}

/// Iterator over encoded record headers; see [`headers`].
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    inner: HeadersOf<'a>,
}

#[derive(Debug, Clone)]
enum HeadersOf<'a> {
    V1(HeaderIter<'a, false>),
    V2(HeaderIter<'a, true>),
}

/// Iterates encoded headers (the [`RecordRef::headers`] range of the batch slice, with
/// [`RecordRef::header_count`]) of a batch of `version` as (key bytes, value bytes); a value
/// is `None` when version 2 stores it as null. Keys are UTF-8 as [`encode`] writes them, but
/// are not validated here. Stops, without panicking, at malformed input.
#[must_use]
pub fn headers(encoded: &[u8], count: u32, version: u8) -> Headers<'_> {
    let inner = if version == v1::VERSION {
        HeadersOf::V1(HeaderIter::new(encoded, count))
    } else {
        HeadersOf::V2(HeaderIter::new(encoded, count))
    };
    Headers { inner }
}

impl<'a> Iterator for Headers<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            HeadersOf::V1(it) => it.next(),
            HeadersOf::V2(it) => it.next(),
        }
    }
}

impl std::iter::FusedIterator for Headers<'_> {}

/// Walks `remaining` headers of one version off the front of `rest`.
#[derive(Debug, Clone)]
struct HeaderIter<'a, const V2: bool> {
    rest: &'a [u8],
    remaining: u32,
}

impl<'a, const V2: bool> HeaderIter<'a, V2> {
    fn new(rest: &'a [u8], remaining: u32) -> Self {
        Self { rest, remaining }
    }

    /// Splits a header key off the front of `buf`: its length (never null) and bytes.
    fn split_key(buf: &'a [u8]) -> Option<(&'a [u8], &'a [u8])> {
        let mut pos = 0;
        let len = get_len::<V2>(buf, &mut pos)?;
        buf.get(pos..)?.split_at_checked(len as usize)
    }

    /// Splits a header value off the front of `buf`: null (−1) only in version 2.
    fn split_value(buf: &'a [u8]) -> Option<(Option<&'a [u8]>, &'a [u8])> {
        if V2 {
            let mut pos = 0;
            let range = get_nullable(buf, &mut pos, "").ok()?;
            let rest = buf.get(pos..)?;
            Some((range.and_then(|r| buf.get(r)), rest))
        } else {
            Self::split_key(buf).map(|(value, rest)| (Some(value), rest))
        }
    }
}

impl<'a, const V2: bool> Iterator for HeaderIter<'a, V2> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let pair = Self::split_key(self.rest).and_then(|(key, rest)| {
            Self::split_value(rest).map(|(value, rest)| (key, value, rest))
        });
        let Some((key, value, rest)) = pair else {
            self.remaining = 0;
            return None;
        };
        self.rest = rest;
        self.remaining -= 1;
        Some((key, value))
    }
}

#[cfg(test)]
mod tests;

/// The records of a run of plain version 2 batches that lie back to back in `log`, after a
/// batch a reader has just been handed: see [`run_after`].
///
/// A reader catching up on single sends sees one record per batch, and handing it each
/// batch on its own (header checks, a call, a decoder set up) costs more than the record.
/// Batches whose checksum was already verified need none of that: this walks their headers
/// inline, between records.
#[derive(Debug, Clone)]
pub(crate) struct RunRecords<'a> {
    /// The log, from its first byte to where the run must stop (the end of what is
    /// verified and published): record ranges are positions in it.
    log: &'a [u8],
    /// The header of the batch being read. Only the fields [`parse`] reads are kept up to
    /// date (the checksum, leader epoch and producer are not read from later batches).
    header: BatchHeader,
    /// Where the batch being read ends.
    batch_end: usize,
    at: Cursor,
    /// Offsets the run does not reach: it ends at a batch with an offset at or past it.
    until: u64,
    /// Where the last batch whose records were all handed out started, and its first
    /// offset; the batch being read until that happens.
    done: (usize, u64),
}

/// The records of the batches that follow, from byte `pos` of `log`, a batch of `header`
/// (one the reader has dealt with), as long as they are plain version 2 batches (neither
/// compressed, transactional nor control batches) that pass [`read_header`]'s checks, carry
/// on from the offset the one before stops at, lie within `log` and cover only offsets
/// below `until` (a batch that does not is left to the caller, even when it starts below). The caller vouches for their checksums: `log` ends where they were
/// verified.
///
/// Stops at the first batch that is anything else; the caller reads on from there batch by
/// batch (see [`RunRecords::done`]).
#[inline]
pub(crate) fn run_after<'a>(
    log: &'a [u8],
    pos: usize,
    header: &BatchHeader,
    until: u64,
) -> RunRecords<'a> {
    let next = header.next_offset();
    let mut header = *header;
    // No records left in the batch handed out: the first step reads the next header.
    header.record_count = 0;
    RunRecords {
        log,
        header,
        batch_end: pos,
        at: Cursor {
            pos,
            index: 0,
            min_delta: 0,
        },
        until,
        done: (pos, next),
    }
}

impl RunRecords<'_> {
    /// Where the reader can go on batch by batch: the position just past the last batch
    /// whose records were all handed out, and the offset after it.
    pub(crate) fn done(&self) -> (usize, u64) {
        if self.at.index >= self.header.record_count {
            (self.batch_end, self.header.next_offset())
        } else {
            self.done
        }
    }

    /// Where the batch whose records are being read starts (the one a record that did not
    /// decode is in).
    pub(crate) fn batch_position(&self) -> usize {
        self.done.0
    }

    /// Moves to the batch at `batch_end`, if the run goes on there.
    #[inline]
    fn next_batch(&mut self) -> bool {
        let pos = self.batch_end;
        let rest = self.log.get(pos..).unwrap_or_default();
        let Some(head) = rest.first_chunk::<{ v2::HEADER_BYTES }>() else {
            return false;
        };
        if !v2::run_header(head, &mut self.header, self.until, rest.len()) {
            return false;
        }
        let end = pos + self.header.length as usize;
        self.done = (pos, self.header.base_offset);
        self.batch_end = end;
        self.at = Cursor {
            pos: pos + v2::HEADER_BYTES,
            index: 0,
            min_delta: 0,
        };
        true
    }
}

impl Iterator for RunRecords<'_> {
    type Item = Result<RecordRef, DecodeError>;

    #[expect(clippy::inline_always, reason = "as `Records::next`")]
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.at.index >= self.header.record_count && !self.next_batch() {
            return None;
        }
        let batch = self.log.get(..self.batch_end).unwrap_or_default();
        match parse::<true>(batch, &self.header, &mut self.at) {
            Ok(record) => {
                self.at.index += 1;
                Some(Ok(record))
            }
            Err(what) => {
                // Ends the run: nothing after a malformed record is read.
                self.at.index = self.header.record_count;
                self.log = &[];
                Some(Err(DecodeError::Record(what)))
            }
        }
    }
}
