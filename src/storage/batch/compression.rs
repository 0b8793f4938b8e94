//! Compression codecs: Kafka's `compression.type`, applied to a version 2 batch's records.
//!
//! A compressed batch keeps its 61-byte header as it is, with the codec in attribute bits
//! 0–2; the bytes after the header are the records, compressed as one stream. Each codec is
//! framed as Kafka's own clients frame it, so batches pass between strom and Kafka unchanged:
//!
//! | Codec  | Code | Framing                                                                 |
//! |--------|------|-------------------------------------------------------------------------|
//! | gzip   | 1    | a gzip stream (RFC 1952)                                                |
//! | snappy | 2    | Xerial's framing, as Kafka's Java client writes it: the 16-byte header `82 'SNAPPY' 00`, version 1, compatible version 1 (two big-endian `i32`s), then blocks of at most 32 KiB of input, each a big-endian `i32` length and a raw snappy block. Unframed raw snappy is read too (as some clients write it). |
//! | lz4    | 3    | an LZ4 frame (version 01, independent blocks of at most 64 KiB, no block or content checksum, no content size) |
//! | zstd   | 4    | a zstd frame                                                            |
//!
//! Decompressing is bounded: a batch's records never decompress to more than
//! [`MAX_DECOMPRESSED_BYTES`] (a batch whose records are larger is stored uncompressed), so
//! a hostile batch — a decompression bomb, a length that lies — is an error, never an
//! allocation the process cannot afford.

#![cfg_attr(
    feature = "snappy",
    expect(
        clippy::big_endian_bytes,
        reason = "Xerial's snappy framing is big-endian, as Kafka writes it"
    )
)]

use std::fmt;
use std::io::Read;
#[cfg(any(feature = "gzip", feature = "lz4"))]
use std::io::Write;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{DecodeError, EncodeError};

/// A compression codec for a topic's batches (Kafka's `compression.type`).
///
/// Every codec is a cargo feature of strom's of the same name (`gzip`, `snappy`, `lz4`,
/// `zstd`), all on by default; [`is_available`](Self::is_available) tells whether this
/// build has one.
///
/// ```
/// use strom::Compression;
///
/// let codec: Compression = "zstd".parse()?;
/// assert_eq!(codec, Compression::Zstd);
/// assert_eq!(codec.to_string(), "zstd");
/// assert_eq!(Compression::default(), Compression::None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Batches are stored as they are encoded.
    #[default]
    None,
    /// gzip (deflate).
    Gzip,
    /// Snappy, in Xerial's framing.
    Snappy,
    /// LZ4 frames.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// Every codec, `None` first.
    pub const ALL: [Self; 5] = [Self::None, Self::Gzip, Self::Snappy, Self::Lz4, Self::Zstd];

    /// The codec's number in a batch's attributes (Kafka's): 0 to 4.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }

    /// The codec numbered `code` in a batch's attributes, if there is one.
    #[must_use]
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::None),
            1 => Some(Self::Gzip),
            2 => Some(Self::Snappy),
            3 => Some(Self::Lz4),
            4 => Some(Self::Zstd),
            _ => None,
        }
    }

    /// The codec's name, as Kafka's `compression.type` spells it.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }

    /// Whether this build of strom has the codec (its cargo feature is on).
    #[must_use]
    pub const fn is_available(self) -> bool {
        match self {
            Self::None => true,
            Self::Gzip => cfg!(feature = "gzip"),
            Self::Snappy => cfg!(feature = "snappy"),
            Self::Lz4 => cfg!(feature = "lz4"),
            Self::Zstd => cfg!(feature = "zstd"),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of Kafka's `compression.type` values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCompression(pub String);

impl fmt::Display for UnknownCompression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown compression {:?}: expected none, gzip, snappy, lz4 or zstd",
            self.0
        )
    }
}

impl std::error::Error for UnknownCompression {}

impl FromStr for Compression {
    type Err = UnknownCompression;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownCompression(s.to_string()))
    }
}

/// The most bytes a batch's records may decompress to: 64 MiB. strom stores a batch whose
/// records are larger uncompressed, and refuses to decompress past it.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 << 20;

/// Xerial's snappy stream header: magic, then version 1 and compatible version 1.
#[cfg(feature = "snappy")]
const XERIAL_HEADER: [u8; 16] = [
    0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
];

/// Input bytes per block of a Xerial snappy stream, as Kafka's client writes them.
#[cfg(feature = "snappy")]
const XERIAL_BLOCK_BYTES: usize = 32 << 10;

/// Appends `input` compressed with `codec` to `out`.
#[allow(
    unreachable_patterns,
    reason = "the last arm stands for the codecs left out of the build"
)]
pub(super) fn compress(
    codec: Compression,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let done = match codec {
        Compression::None => {
            out.extend_from_slice(input);
            Some(())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => gzip(input, out),
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy(input, out),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => lz4(input, out),
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd(input, out),
        _ => None,
    };
    done.ok_or(EncodeError::Codec(codec))
}

/// Appends `input`, compressed with `codec`, decompressed to `out`: at most `limit` bytes,
/// or an error.
pub(super) fn decompress(
    codec: Compression,
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let error = |reason| DecodeError::Compression { codec, reason };
    if !codec.is_available() {
        return Err(error(
            "this build of strom lacks the codec (its cargo feature is off)",
        ));
    }
    let start = out.len();
    match codec {
        #[cfg(feature = "gzip")]
        Compression::Gzip => ungzip(input, limit, out),
        #[cfg(feature = "snappy")]
        Compression::Snappy => unsnappy(input, limit, out),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => unlz4(input, limit, out),
        #[cfg(feature = "zstd")]
        Compression::Zstd => unzstd(input, limit, out),
        // `None`, and (turned away above) the codecs left out of the build.
        _ => {
            out.extend_from_slice(input);
            Ok(())
        }
    }
    .map_err(error)?;
    if out.len() - start > limit {
        return Err(error("decompresses past the limit"));
    }
    Ok(())
}

/// Appends what `reader` reads to `out`, but no more than `limit` bytes.
#[allow(
    dead_code,
    reason = "unused when every streaming codec's feature is off"
)]
fn read_bounded(reader: impl Read, limit: usize, out: &mut Vec<u8>) -> Result<(), &'static str> {
    let bound = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let read = reader
        .take(bound)
        .read_to_end(out)
        .map_err(|_| "malformed compressed data")?;
    if read > limit {
        return Err("decompresses past the limit");
    }
    Ok(())
}

#[cfg(feature = "gzip")]
fn gzip(input: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    encoder.write_all(input).ok()?;
    encoder.finish().ok().map(|_| ())
}

#[cfg(feature = "gzip")]
fn ungzip(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), &'static str> {
    read_bounded(flate2::read::MultiGzDecoder::new(input), limit, out)
}

#[cfg(feature = "snappy")]
fn snappy(input: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let mut encoder = snap::raw::Encoder::new();
    out.extend_from_slice(&XERIAL_HEADER);
    for block in input.chunks(XERIAL_BLOCK_BYTES) {
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        out.resize(at + 4 + snap::raw::max_compress_len(block.len()), 0);
        let written = encoder.compress(block, out.get_mut(at + 4..)?).ok()?;
        out.truncate(at + 4 + written);
        let len = i32::try_from(written).ok()?;
        out.get_mut(at..at + 4)?.copy_from_slice(&len.to_be_bytes());
    }
    Some(())
}

#[cfg(feature = "snappy")]
fn unsnappy(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), &'static str> {
    let mut decoder = snap::raw::Decoder::new();
    let start = out.len();
    let mut block = |bytes: &[u8], out: &mut Vec<u8>| {
        let len = snap::raw::decompress_len(bytes).map_err(|_| "malformed snappy block")?;
        if len > limit.saturating_sub(out.len() - start) {
            return Err("decompresses past the limit");
        }
        let at = out.len();
        out.resize(at + len, 0);
        let dest = out.get_mut(at..).unwrap_or_default();
        decoder
            .decompress(bytes, dest)
            .map_err(|_| "malformed snappy block")?;
        Ok(())
    };
    match input.strip_prefix(&XERIAL_HEADER[..8]) {
        // Xerial's framing: the rest of the header (versions), then length-prefixed blocks.
        Some(rest) => {
            let mut rest = rest.get(8..).ok_or("truncated snappy stream header")?;
            while !rest.is_empty() {
                let (len, after) = rest
                    .split_first_chunk::<4>()
                    .ok_or("truncated snappy block length")?;
                let len = usize::try_from(i32::from_be_bytes(*len))
                    .map_err(|_| "negative snappy block length")?;
                let bytes = after
                    .get(..len)
                    .ok_or("snappy block past the batch's end")?;
                block(bytes, out)?;
                rest = after.get(len..).unwrap_or_default();
            }
        }
        None => block(input, out)?,
    }
    Ok(())
}

/// The start of an LZ4 frame as Kafka's client writes it: magic, FLG (version 01,
/// independent blocks, no checksums, no content size), BD (64 KiB blocks), and the header
/// checksum (the second byte of the descriptor's xxHash32).
#[cfg(feature = "lz4")]
const LZ4_FRAME_START: [u8; 7] = [0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82];

/// Input bytes per LZ4 block (BD above).
#[cfg(feature = "lz4")]
const LZ4_BLOCK_BYTES: usize = 64 << 10;

/// Marks an LZ4 block stored uncompressed (the top bit of its size).
#[cfg(feature = "lz4")]
const LZ4_UNCOMPRESSED: u32 = 1 << 31;

// The frame is written by hand around lz4_flex's block compressor: its frame encoder
// allocates buffers for every batch, which cost more than compressing a small one.
#[cfg(feature = "lz4")]
fn lz4(input: &[u8], out: &mut Vec<u8>) -> Option<()> {
    out.extend_from_slice(&LZ4_FRAME_START);
    for block in input.chunks(LZ4_BLOCK_BYTES) {
        let at = out.len();
        out.resize(
            at + 4 + lz4_flex::block::get_maximum_output_size(block.len()),
            0,
        );
        let written = lz4_flex::block::compress_into(block, out.get_mut(at + 4..)?).ok()?;
        let size = if written < block.len() {
            out.truncate(at + 4 + written);
            u32::try_from(written).ok()?
        } else {
            // Incompressible: stored as it is.
            out.truncate(at + 4);
            out.extend_from_slice(block);
            u32::try_from(block.len()).ok()? | LZ4_UNCOMPRESSED
        };
        out.get_mut(at..at + 4)?
            .copy_from_slice(&size.to_le_bytes());
    }
    // The end mark.
    out.extend_from_slice(&[0; 4]);
    Some(())
}

#[cfg(feature = "lz4")]
fn unlz4(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), &'static str> {
    match unlz4_independent(input, limit, out)? {
        Some(()) => Ok(()),
        // Dependent blocks, a dictionary, a legacy frame: the general decoder.
        None => read_bounded(lz4_flex::frame::FrameDecoder::new(input), limit, out),
    }
}

/// Decodes an LZ4 frame of independent blocks (as Kafka's clients write them, with or
/// without checksums and content size) block by block into `out`; `None` for any other
/// frame. Checksums are not verified: the batch's own CRC covers these bytes.
#[cfg(feature = "lz4")]
fn unlz4_independent(
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<Option<()>, &'static str> {
    const MAGIC: [u8; 4] = [0x04, 0x22, 0x4D, 0x18];
    let Some(rest) = input.strip_prefix(&MAGIC) else {
        return Ok(None);
    };
    let [flg, bd, ..] = *rest else {
        return Err("truncated lz4 frame header");
    };
    let independent = flg & 0x20 != 0;
    if flg >> 6 != 1 || !independent || flg & 0x01 != 0 {
        return Ok(None);
    }
    let block_checksums = flg & 0x10 != 0;
    let content_size = flg & 0x08 != 0;
    let max_block = match (bd >> 4) & 0x07 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        _ => return Err("invalid lz4 block size"),
    };
    // FLG, BD, the content size if any, and the header checksum.
    let header = 2 + if content_size { 8 } else { 0 } + 1;
    let mut rest = rest.get(header..).ok_or("truncated lz4 frame header")?;
    let start = out.len();
    loop {
        let (size, after) = rest
            .split_first_chunk::<4>()
            .ok_or("truncated lz4 block size")?;
        let size = u32::from_le_bytes(*size);
        if size == 0 {
            return Ok(Some(()));
        }
        let len = (size & !LZ4_UNCOMPRESSED) as usize;
        let block = after.get(..len).ok_or("lz4 block past the batch's end")?;
        let room = max_block.min(limit.saturating_sub(out.len() - start));
        if size & LZ4_UNCOMPRESSED != 0 {
            if len > room {
                return Err("decompresses past the limit");
            }
            out.extend_from_slice(block);
        } else {
            // Room for 8 times the block first (JSON takes 2 to 4), so that a small block
            // does not zero 64 KiB; all the room the block may take if that is short.
            let guess = room.min(len.saturating_mul(8).saturating_add(1024));
            let written = lz4_block_into(block, guess, out).or_else(|e| match e {
                lz4_flex::block::DecompressError::OutputTooSmall { .. } if guess < room => {
                    lz4_block_into(block, room, out)
                }
                e => Err(e),
            });
            written.map_err(|e| match e {
                lz4_flex::block::DecompressError::OutputTooSmall { .. } if room < max_block => {
                    "decompresses past the limit"
                }
                _ => "malformed lz4 block",
            })?;
        }
        let skip = len + if block_checksums { 4 } else { 0 };
        rest = after.get(skip..).ok_or("lz4 block past the batch's end")?;
    }
}

/// Appends LZ4 `block` decompressed to `out`, if it takes at most `room` bytes.
#[cfg(feature = "lz4")]
fn lz4_block_into(
    block: &[u8],
    room: usize,
    out: &mut Vec<u8>,
) -> Result<(), lz4_flex::block::DecompressError> {
    let at = out.len();
    out.resize(at + room, 0);
    let written = lz4_flex::block::decompress_into(block, out.get_mut(at..).unwrap_or_default());
    out.truncate(at + *written.as_ref().unwrap_or(&0));
    written.map(|_| ())
}

#[cfg(feature = "zstd")]
fn zstd(input: &[u8], out: &mut Vec<u8>) -> Option<()> {
    // Kafka's default level.
    zstd::stream::copy_encode(input, out, 3).ok()
}

#[cfg(feature = "zstd")]
fn unzstd(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), &'static str> {
    let decoder =
        zstd::stream::read::Decoder::with_buffer(input).map_err(|_| "malformed zstd frame")?;
    read_bounded(decoder, limit, out)
}

#[cfg(all(
    test,
    feature = "gzip",
    feature = "snappy",
    feature = "lz4",
    feature = "zstd"
))]
mod tests {
    use super::super::{
        check, decompress as decompress_batch, encode, encoded_len, records, v2, with_records,
        Entry, HEADER_BYTES,
    };
    use super::*;

    /// A batch of `n` JSON readings, uncompressed.
    fn readings(n: usize) -> Vec<u8> {
        let values: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"city":"Oslo","temp":{}.5,"humidity":{}}}"#,
                    i % 20,
                    40 + i % 30
                )
            })
            .collect();
        let entries: Vec<Entry<'_>> = values
            .iter()
            .map(|v| Entry {
                timestamp: 1_700_000_000_000,
                key: Some(b"Oslo"),
                value: Some(v.as_bytes()),
                headers: &[],
            })
            .collect();
        let mut plain = vec![0; encoded_len(&entries)];
        encode(&mut plain, 5, &entries).expect("encode");
        plain
    }

    #[test]
    fn every_codec_round_trips_and_the_header_names_it() {
        let plain = readings(200);
        for codec in Compression::ALL {
            let packed = super::super::compress(&plain, codec).expect("compress");
            let header = check(&packed).expect("a compressed batch checks");
            assert_eq!(header.compression(), codec);
            if codec != Compression::None {
                assert!(
                    packed.len() * 3 < plain.len(),
                    "{codec}: {} of {}",
                    packed.len(),
                    plain.len()
                );
            }
            assert_eq!(
                decompress_batch(&packed).expect("decompress"),
                plain,
                "{codec}"
            );
            assert!(records(&packed).is_err() || codec == Compression::None);
        }
    }

    #[test]
    fn a_batch_compression_does_not_shrink_stays_uncompressed() {
        let entry = Entry {
            timestamp: 0,
            key: None,
            value: Some(b"x"),
            headers: &[],
        };
        let mut plain = vec![0; encoded_len(&[entry])];
        encode(&mut plain, 0, &[entry]).expect("encode");
        for codec in Compression::ALL {
            assert_eq!(
                super::super::compress(&plain, codec).expect("compress"),
                plain
            );
        }
    }

    #[test]
    fn records_that_decompress_past_the_limit_are_refused() {
        const LIMIT: usize = 1 << 20;
        let bomb = vec![0; LIMIT + 1];
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut packed = Vec::new();
            compress(codec, &bomb, &mut packed).expect("compress");
            let mut out = Vec::new();
            assert_eq!(
                decompress(codec, &packed, LIMIT, &mut out),
                Err(DecodeError::Compression {
                    codec,
                    reason: "decompresses past the limit"
                }),
                "{codec}"
            );
            assert!(out.len() <= LIMIT + 1, "{codec}: stopped at the limit");
            decompress(codec, &packed, LIMIT + 1, &mut out).expect("at the limit");
        }
        // A batch whose records decompress past `MAX_DECOMPRESSED_BYTES`: a zstd frame of
        // zeroes, a few kilobytes on disk.
        let mut packed = Vec::new();
        compress(
            Compression::Zstd,
            &vec![0; MAX_DECOMPRESSED_BYTES + 1],
            &mut packed,
        )
        .expect("compress");
        assert!(packed.len() < 1 << 20, "a small batch");
        let batch = with_records(&readings(1), Compression::Zstd, &packed);
        assert_eq!(
            decompress_batch(&batch),
            Err(DecodeError::Compression {
                codec: Compression::Zstd,
                reason: "decompresses past the limit"
            })
        );
    }

    #[test]
    fn lying_lengths_and_garbage_are_errors() {
        let plain = readings(3);
        // A raw snappy block whose length preamble claims 4 GiB.
        let liar = [0x80, 0x80, 0x80, 0x80, 0x10, 0, 0, 0, 0];
        // A Xerial block length past the end of the batch.
        let mut past_end = XERIAL_HEADER.to_vec();
        past_end.extend_from_slice(&1000i32.to_be_bytes());
        past_end.extend_from_slice(b"short");
        let cases: [(Compression, &[u8]); 6] = [
            (Compression::Snappy, &liar),
            (Compression::Snappy, &past_end),
            (Compression::Snappy, &XERIAL_HEADER[..12]),
            (Compression::Gzip, b"not gzip at all"),
            (Compression::Lz4, b"not an lz4 frame"),
            (Compression::Zstd, b"not a zstd frame"),
        ];
        for (codec, records) in cases {
            let batch = with_records(&plain, codec, records);
            let result = decompress_batch(&batch);
            assert!(
                matches!(result, Err(DecodeError::Compression { codec: c, .. }) if c == codec),
                "{codec}: {result:?}"
            );
        }
        // Records that decompress, but to fewer bytes than `record_count` needs.
        let mut packed = Vec::new();
        compress(Compression::Zstd, b"tiny", &mut packed).expect("compress");
        let mut batch = with_records(&readings(1), Compression::Zstd, &packed);
        batch[57..61].copy_from_slice(&5i32.to_be_bytes());
        let attributes = u16::from_be_bytes([batch[21], batch[22]]);
        v2::reframe(&mut batch, attributes).expect("reframe");
        assert!(matches!(
            decompress_batch(&batch),
            Err(DecodeError::Record(_))
        ));
    }

    /// LZ4 frames as other writers make them: checksums, content size, linked blocks.
    #[test]
    fn lz4_frames_of_every_kind_are_read() {
        use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
        let plain = readings(3000);
        let records = &plain[HEADER_BYTES..];
        assert!(records.len() > 2 * LZ4_BLOCK_BYTES, "several blocks");
        let independent = || FrameInfo::new().block_mode(BlockMode::Independent);
        for info in [
            independent().block_checksums(true).content_checksum(true),
            independent().content_size(Some(records.len() as u64)),
            independent().block_size(BlockSize::Max256KB),
            FrameInfo::new().block_mode(BlockMode::Linked),
        ] {
            let described = format!("{info:?}");
            let mut encoder = FrameEncoder::with_frame_info(info, Vec::new());
            encoder.write_all(records).expect("write");
            let frame = encoder.finish().expect("finish");
            let batch = with_records(&plain, Compression::Lz4, &frame);
            assert_eq!(
                decompress_batch(&batch).expect("decompress"),
                plain,
                "{described}"
            );
        }
    }

    #[test]
    fn unframed_snappy_is_read_too() {
        let plain = readings(50);
        let raw = snap::raw::Encoder::new()
            .compress_vec(&plain[HEADER_BYTES..])
            .expect("snappy");
        let batch = with_records(&plain, Compression::Snappy, &raw);
        assert_eq!(decompress_batch(&batch).expect("decompress"), plain);
    }

    #[test]
    fn names_parse_as_kafka_spells_them() {
        for codec in Compression::ALL {
            assert_eq!(codec.name().parse::<Compression>(), Ok(codec));
            assert_eq!(
                codec.name().to_uppercase().parse::<Compression>(),
                Ok(codec)
            );
            assert_eq!(Compression::from_code(codec.code()), Some(codec));
            assert!(codec.is_available());
        }
        assert!("brotli".parse::<Compression>().is_err());
        assert_eq!(Compression::from_code(5), None);
    }
}
