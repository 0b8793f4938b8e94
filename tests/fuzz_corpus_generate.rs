//! Writes the seed corpora `fuzz/corpus/batch_decode/*` and `fuzz/corpus/open_dir/*`, and
//! removes the seed files (`*.bin`) it no longer writes, except `regression-*` seeds kept by
//! hand. Deterministic; run by hand after a format change and commit the bytes:
//! `cargo test --test fuzz_corpus_generate -- --ignored`.
//!
//! Seeds cover both batch versions strom reads: version 2 (Kafka's `RecordBatch`, what strom
//! writes: valid batches from the library's encoder, and batches laid out here field by field
//! for what it does not write — offset gaps, null header values, log-append time, codec bits,
//! control batches) and version 1 (laid out here too: the library writes it only in its own
//! unit tests).

// Version 2 (Kafka's RecordBatch) is big-endian.
#![allow(clippy::big_endian_bytes)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use strom::storage::batch::{self, v1, v2, ControlRecord, ControlType, Entry, Origin};
use strom::{Broker, Compression, Record, TopicConfig};

include!("../fuzz/common.rs");

mod common;

use common::XorShift64;

const TS0: i64 = 1_700_000_000_000;

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    fs::create_dir_all(&dir).expect("corpus dir");
    dir
}

/// Writes `files` as `<name>.bin` into `target`'s corpus, running each through `harness`
/// first, and removes the `*.bin` files it did not write (but `regression-*` ones).
fn write_corpus(target: &str, harness: fn(&[u8]), files: Vec<(String, Vec<u8>)>) {
    let dir = corpus(target);
    let mut names = BTreeSet::new();
    for (name, bytes) in files {
        assert!(names.insert(name.clone()), "{target} seed {name} twice");
        // Seeds that fail the harness are regressions: the replay test reports them.
        if std::panic::catch_unwind(|| harness(&bytes)).is_err() {
            eprintln!("{target} seed {name} fails the harness");
        }
        fs::write(dir.join(format!("{name}.bin")), bytes).expect("write seed");
    }
    for file in fs::read_dir(&dir).expect("corpus dir") {
        let path = file.expect("dir entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let Some(stem) = name.strip_suffix(".bin") else {
            continue;
        };
        if !names.contains(stem) && !stem.starts_with("regression-") {
            fs::remove_file(&path).expect("remove stale seed");
        }
    }
}

fn encode(base_offset: u64, entries: &[Entry<'_>]) -> Vec<u8> {
    encode_with(base_offset, Origin::NONE, entries)
}

fn encode_with(base_offset: u64, origin: Origin, entries: &[Entry<'_>]) -> Vec<u8> {
    let mut out = vec![0; batch::encoded_len(entries)];
    let n = batch::encode_with(&mut out, base_offset, origin, entries).expect("encode");
    assert_eq!(n, out.len());
    out
}

/// A transaction's producer, for transactional batches and their markers.
const TXN: Origin = Origin {
    producer_id: 4242,
    producer_epoch: 3,
    base_sequence: 17,
    transactional: true,
};

fn marker(base_offset: u64, kind: ControlType, timestamp: i64) -> Vec<u8> {
    let mut out = vec![0; batch::CONTROL_BATCH_BYTES];
    let marker = ControlRecord {
        kind,
        coordinator_epoch: 5,
    };
    let n = batch::encode_control(&mut out, base_offset, TXN, marker, timestamp)
        .expect("encode_control");
    assert_eq!(n, out.len());
    out
}

fn entry<'a>(
    timestamp: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: &'a [(String, Vec<u8>)],
) -> Entry<'a> {
    Entry {
        timestamp,
        key,
        value,
        headers,
    }
}

fn sample_headers() -> Vec<(String, Vec<u8>)> {
    vec![
        ("trace".to_string(), b"abc".to_vec()),
        (String::new(), Vec::new()),
        ("ü".to_string(), vec![0xff; 3]),
    ]
}

/// Version 2 batches from the library's encoder. The fifth (three records with jittered
/// timestamps and headers) and fourth (headers) are mutated into further seeds.
fn valid_batches() -> Vec<(&'static str, Vec<u8>)> {
    let hs = sample_headers();
    let none: &[(String, Vec<u8>)] = &[];
    let idempotent = Origin {
        transactional: false,
        base_sequence: 100,
        ..TXN
    };
    vec![
        ("valid-minimal", encode(0, &[entry(0, None, None, none)])),
        (
            "valid-key-value",
            encode(7, &[entry(TS0, Some(b"key-1"), Some(b"value-1"), none)]),
        ),
        (
            "valid-empty-key-tombstone",
            encode(0, &[entry(TS0, Some(b""), None, none)]),
        ),
        (
            "valid-headers",
            encode(42, &[entry(TS0, Some(b"k"), Some(b"v"), &hs)]),
        ),
        (
            "valid-three-records-jitter",
            encode(
                100,
                &[
                    entry(TS0, Some(b"a"), Some(b"1"), none),
                    entry(TS0 - 5, None, Some(b"22"), &hs),
                    entry(TS0 + 9, Some(b"c"), Some(b""), none),
                ],
            ),
        ),
        (
            "valid-extreme-timestamps",
            encode(
                0,
                &[
                    entry(i64::MIN, None, Some(b"min"), none),
                    entry(i64::MAX, None, Some(b"max"), none),
                ],
            ),
        ),
        (
            "valid-last-offsets",
            encode(
                i64::MAX as u64 - 1,
                &[entry(1, None, None, none), entry(2, None, None, none)],
            ),
        ),
        (
            "valid-long-value",
            encode(0, &[entry(TS0, Some(b"big"), Some(&[b'x'; 300]), none)]),
        ),
        (
            "valid-transactional",
            encode_with(
                3,
                TXN,
                &[
                    entry(TS0, Some(b"t"), Some(b"in a transaction"), none),
                    entry(TS0 + 1, None, Some(b"2"), &hs),
                ],
            ),
        ),
        (
            "valid-idempotent",
            encode_with(5, idempotent, &[entry(TS0, Some(b"i"), Some(b"1"), none)]),
        ),
        ("valid-control-commit", marker(9, ControlType::Commit, TS0)),
        ("valid-control-abort", marker(9, ControlType::Abort, TS0)),
    ]
}

/// A batch of weather readings compressed with each codec, as a topic with that
/// `compression` writes it; and a zstd batch whose records decompress past the limit.
fn compressed_batches() -> Vec<(String, Vec<u8>)> {
    let values: Vec<String> = (0..40)
        .map(|i| {
            format!(
                r#"{{"city":"London","temp":{}.5,"humidity":{}}}"#,
                i % 30,
                60 + i % 9
            )
        })
        .collect();
    let hs = sample_headers();
    let entries: Vec<Entry<'_>> = values
        .iter()
        .zip(TS0..)
        .enumerate()
        .map(|(i, (v, ts))| {
            entry(
                ts,
                Some(b"London"),
                Some(v.as_bytes()),
                if i == 3 { &hs } else { &[] },
            )
        })
        .collect();
    let plain = encode_with(12, TXN, &entries);
    let mut out = Vec::new();
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let bytes = batch::compress(&plain, codec).expect("compress");
        assert_eq!(batch::check(&bytes).expect("checks").compression(), codec);
        assert_eq!(batch::decompress(&bytes).expect("decompresses"), plain);
        out.push((format!("valid-compressed-{codec}"), bytes));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Batches laid out field by field

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)).cast_unsigned()
}

/// The zigzag varint value of a length (never negative): twice it.
fn zigzag_len(n: usize) -> u64 {
    2 * n as u64
}

/// Version 2's nullable field (and version 1's key and value): zigzag length, −1 for null.
fn nullable(out: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        None => varint(out, zigzag(-1)),
        Some(b) => {
            varint(out, zigzag_len(b.len()));
            out.extend_from_slice(b);
        }
    }
}

/// A record, field by field.
#[derive(Debug, Clone)]
struct Raw {
    attributes: u8,
    timestamp_delta: i64,
    offset_delta: u32,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Raw {
    fn new(
        timestamp_delta: i64,
        offset_delta: u32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Self {
        Self {
            attributes: 0,
            timestamp_delta,
            offset_delta,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers: Vec::new(),
        }
    }

    fn header(mut self, key: &[u8], value: Option<&[u8]>) -> Self {
        self.headers.push((key.to_vec(), value.map(<[u8]>::to_vec)));
        self
    }

    /// Version 2: zigzag varints for the length, offset delta, header count and header
    /// lengths, −1 for a null header value.
    fn write_v2(&self, out: &mut Vec<u8>) {
        let mut body = vec![self.attributes];
        varint(&mut body, zigzag(self.timestamp_delta));
        varint(&mut body, zigzag(i64::from(self.offset_delta)));
        nullable(&mut body, self.key.as_deref());
        nullable(&mut body, self.value.as_deref());
        varint(&mut body, zigzag_len(self.headers.len()));
        for (k, v) in &self.headers {
            nullable(&mut body, Some(k));
            nullable(&mut body, v.as_deref());
        }
        varint(out, zigzag_len(body.len()));
        out.extend_from_slice(&body);
    }

    /// Version 1: plain varints for the length, offset delta, header count and header
    /// lengths (a header value is never null).
    fn write_v1(&self, out: &mut Vec<u8>) {
        let mut body = vec![self.attributes];
        varint(&mut body, zigzag(self.timestamp_delta));
        varint(&mut body, u64::from(self.offset_delta));
        nullable(&mut body, self.key.as_deref());
        nullable(&mut body, self.value.as_deref());
        varint(&mut body, self.headers.len() as u64);
        for (k, v) in &self.headers {
            let v = v
                .as_deref()
                .expect("version 1 header values are never null");
            varint(&mut body, k.len() as u64);
            body.extend_from_slice(k);
            varint(&mut body, v.len() as u64);
            body.extend_from_slice(v);
        }
        varint(out, body.len() as u64);
        out.extend_from_slice(&body);
    }
}

/// A version 2 header, field by field; [`V2::plain`] is what strom writes for records from
/// a plain producer, but for the offsets and timestamps.
#[derive(Debug, Clone, Copy)]
struct V2 {
    base_offset: i64,
    leader_epoch: i32,
    magic: u8,
    attributes: u16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
}

impl V2 {
    fn plain(base_offset: i64, last_offset_delta: i32) -> Self {
        Self {
            base_offset,
            leader_epoch: 0,
            magic: v2::VERSION,
            attributes: 0,
            last_offset_delta,
            base_timestamp: TS0,
            max_timestamp: TS0 + 100,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
        }
    }

    /// The batch of `records`, its checksum set.
    fn batch(&self, records: &[Raw]) -> Vec<u8> {
        let mut body = Vec::new();
        for r in records {
            r.write_v2(&mut body);
        }
        let length = i32::try_from(v2::HEADER_BYTES + body.len() - 12).expect("small");
        let mut out = Vec::new();
        out.extend_from_slice(&self.base_offset.to_be_bytes());
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(&self.leader_epoch.to_be_bytes());
        out.push(self.magic);
        out.extend_from_slice(&[0; 4]); // crc
        out.extend_from_slice(&self.attributes.to_be_bytes());
        out.extend_from_slice(&self.last_offset_delta.to_be_bytes());
        out.extend_from_slice(&self.base_timestamp.to_be_bytes());
        out.extend_from_slice(&self.max_timestamp.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.base_sequence.to_be_bytes());
        let count = i32::try_from(records.len()).expect("small");
        out.extend_from_slice(&count.to_be_bytes());
        assert_eq!(out.len(), v2::HEADER_BYTES);
        out.extend_from_slice(&body);
        let crc = fuzz_crc32c(&out[21..]);
        out[17..21].copy_from_slice(&crc.to_be_bytes());
        out
    }
}

/// A version 1 batch of `entries`, as strom wrote them before version 2: a 40-byte
/// little-endian header, CRC-32 of bytes `0..8` and `16..`.
fn encode_v1(base_offset: u64, entries: &[Entry<'_>]) -> Vec<u8> {
    let first = entries.first().map_or(0, |e| e.timestamp);
    let max = entries.iter().map(|e| e.timestamp).max().unwrap_or(0);
    let mut records = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let mut raw = Raw::new(
            e.timestamp.wrapping_sub(first),
            u32::try_from(i).expect("small"),
            e.key,
            e.value,
        );
        for (k, v) in e.headers {
            raw = raw.header(k.as_bytes(), Some(v));
        }
        raw.write_v1(&mut records);
    }
    let length = u32::try_from(v1::HEADER_BYTES + records.len()).expect("small");
    let count = u32::try_from(entries.len()).expect("small");
    let mut out = Vec::new();
    out.extend_from_slice(&base_offset.to_le_bytes());
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // crc
    out.extend_from_slice(&[v1::VERSION, 0, 0, 0]); // version, attributes, reserved
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&first.to_le_bytes());
    out.extend_from_slice(&max.to_le_bytes());
    assert_eq!(out.len(), v1::HEADER_BYTES);
    out.extend_from_slice(&records);
    let crc = fuzz_crc32(&[&out[..8], &out[16..]]);
    out[12..16].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Version 2 batches strom reads but does not write, and some it refuses.
#[allow(clippy::too_many_lines)] // one seed per entry
fn crafted_v2_batches() -> Vec<(&'static str, Vec<u8>)> {
    let r = Raw::new;
    let control_key = |kind: u8| [0, 0, 0, kind];
    let control_value = [0, 0, 0, 0, 0, 5];
    let control = |records: &[Raw]| {
        V2 {
            attributes: v2::TRANSACTIONAL | v2::CONTROL,
            last_offset_delta: 0,
            max_timestamp: TS0,
            producer_id: 4242,
            producer_epoch: 3,
            ..V2::plain(20, 0)
        }
        .batch(records)
    };
    let three = [
        r(0, 0, Some(b"a"), Some(b"1")),
        r(5, 1, None, Some(b"22")),
        r(-7, 2, Some(b"c"), Some(b"")),
    ];
    vec![
        (
            "v2-offset-gap",
            V2::plain(10, 9).batch(&[
                r(0, 0, Some(b"a"), Some(b"1")),
                r(1, 3, Some(b"b"), Some(b"2")),
                r(2, 7, Some(b"c"), None),
            ]),
        ),
        (
            "v2-offset-gap-huge",
            V2::plain(0, i32::MAX)
                .batch(&[r(0, 0, None, Some(b"x")), r(0, 0x7fff_fff0, None, None)]),
        ),
        (
            "v2-offsets-at-i64-max",
            V2::plain(i64::MAX - 9, 9).batch(&[r(0, 0, None, None), r(0, 9, None, None)]),
        ),
        (
            "v2-null-header-value",
            V2::plain(0, 0).batch(&[r(0, 0, Some(b"k"), Some(b"v"))
                .header(b"null", None)
                .header(b"h", Some(b"x"))]),
        ),
        (
            "v2-log-append-time",
            V2 {
                attributes: v2::LOG_APPEND_TIME,
                ..V2::plain(4, 2)
            }
            .batch(&three),
        ),
        (
            "v2-compressed-gzip",
            V2 {
                attributes: 1,
                ..V2::plain(4, 2)
            }
            .batch(&three),
        ),
        (
            "v2-compressed-zstd-transactional",
            V2 {
                attributes: 4 | v2::TRANSACTIONAL,
                producer_id: 4242,
                producer_epoch: 3,
                ..V2::plain(4, 2)
            }
            .batch(&three),
        ),
        (
            "v2-record-attributes",
            V2::plain(0, 0).batch(&[Raw {
                attributes: 0x55,
                ..r(0, 0, Some(b"k"), Some(b"v"))
            }]),
        ),
        (
            "v2-leader-epoch",
            V2 {
                leader_epoch: 7,
                max_timestamp: TS0 + 5,
                ..V2::plain(4, 2)
            }
            .batch(&three),
        ),
        (
            "v2-base-timestamp-below-first",
            V2 {
                base_timestamp: TS0 - 1000,
                max_timestamp: TS0,
                ..V2::plain(0, 1)
            }
            .batch(&[r(1000, 0, None, Some(b"1")), r(995, 1, None, Some(b"2"))]),
        ),
        (
            "v2-max-timestamp-above-records",
            V2 {
                max_timestamp: i64::MAX,
                ..V2::plain(4, 2)
            }
            .batch(&three),
        ),
        (
            "v2-timestamp-above-max",
            V2 {
                max_timestamp: TS0 + 1,
                ..V2::plain(4, 2)
            }
            .batch(&three),
        ),
        (
            "v2-magic-3",
            V2 {
                magic: 3,
                ..V2::plain(4, 2)
            }
            .batch(&three),
        ),
        (
            "v2-offsets-not-increasing",
            V2::plain(0, 2).batch(&[r(0, 1, None, None), r(0, 1, None, None)]),
        ),
        (
            "v2-offset-past-last-delta",
            V2::plain(0, 1).batch(&[r(0, 0, None, None), r(0, 2, None, None)]),
        ),
        (
            "v2-control-unknown-type",
            control(&[r(0, 0, Some(&control_key(5)), Some(&control_value))]),
        ),
        (
            "v2-control-two-records",
            V2 {
                attributes: v2::TRANSACTIONAL | v2::CONTROL,
                max_timestamp: TS0,
                ..V2::plain(0, 1)
            }
            .batch(&[
                r(0, 0, Some(&control_key(1)), Some(&control_value)),
                r(0, 1, Some(&control_key(0)), Some(&control_value)),
            ]),
        ),
        (
            "v2-control-later-versions",
            control(&[r(
                0,
                0,
                Some(&[0, 1, 0, 1, 0xaa]),
                Some(&[0, 1, 0, 0, 0, 5, 0xbb]),
            )]),
        ),
        (
            "v2-control-null-value",
            control(&[r(0, 0, Some(&control_key(1)), None)]),
        ),
        (
            "v2-control-short-key",
            control(&[r(0, 0, Some(&[0, 0, 1]), Some(&control_value))]),
        ),
        (
            "v2-control-not-transactional",
            V2 {
                attributes: v2::CONTROL,
                ..V2::plain(0, 0)
            }
            .batch(&[r(0, 0, Some(&control_key(0)), Some(&control_value))]),
        ),
    ]
}

/// What the readers make of each crafted batch: whether `check` passes, every record reads,
/// and `control_record` finds a marker; so that each seed is what its name says.
fn assert_crafted(batches: &[(&str, Vec<u8>)]) {
    let expected = [
        ("v2-offset-gap", true, true, false),
        ("v2-offset-gap-huge", true, true, false),
        ("v2-offsets-at-i64-max", true, true, false),
        ("v2-null-header-value", true, true, false),
        ("v2-log-append-time", true, true, false),
        ("v2-compressed-gzip", true, false, false),
        ("v2-compressed-zstd-transactional", true, false, false),
        ("v2-record-attributes", true, true, false),
        ("v2-leader-epoch", true, true, false),
        ("v2-base-timestamp-below-first", true, true, false),
        ("v2-max-timestamp-above-records", true, true, false),
        ("v2-timestamp-above-max", true, false, false),
        ("v2-magic-3", false, false, false),
        ("v2-offsets-not-increasing", true, false, false),
        ("v2-offset-past-last-delta", true, false, false),
        ("v2-control-unknown-type", true, true, false),
        ("v2-control-two-records", true, true, false),
        ("v2-control-later-versions", true, true, true),
        ("v2-control-null-value", true, true, false),
        ("v2-control-short-key", true, true, false),
        ("v2-control-not-transactional", true, true, true),
    ];
    assert_eq!(batches.len(), expected.len());
    for ((name, bytes), (want_name, checks, reads, marker)) in batches.iter().zip(expected) {
        assert_eq!(*name, want_name);
        let got = (
            batch::check(bytes).is_ok(),
            batch::records(bytes).is_ok_and(|mut rs| rs.all(|r| r.is_ok())),
            batch::control_record(bytes).is_ok(),
        );
        assert_eq!(got, (checks, reads, marker), "{name}");
    }
    let gap = batches
        .iter()
        .find(|(n, _)| *n == "v2-offset-gap")
        .expect("gap");
    let offsets: Vec<u64> = batch::records(&gap.1)
        .expect("reads")
        .map(|r| r.expect("reads").offset)
        .collect();
    assert_eq!(offsets, [10, 13, 17]);
}

/// Version 1 batches, as older builds wrote them.
fn v1_batches() -> Vec<(&'static str, Vec<u8>)> {
    let hs = sample_headers();
    let none: &[(String, Vec<u8>)] = &[];
    vec![
        ("v1-minimal", encode_v1(0, &[entry(0, None, None, none)])),
        (
            "v1-key-value",
            encode_v1(7, &[entry(TS0, Some(b"key-1"), Some(b"value-1"), none)]),
        ),
        (
            "v1-headers",
            encode_v1(42, &[entry(TS0, Some(b"k"), Some(b"v"), &hs)]),
        ),
        (
            "v1-three-records-jitter",
            encode_v1(
                100,
                &[
                    entry(TS0, Some(b"a"), Some(b"1"), none),
                    entry(TS0 - 5, None, Some(b"22"), &hs),
                    entry(TS0 + 9, Some(b"c"), Some(b""), none),
                ],
            ),
        ),
        (
            "v1-extreme-timestamps",
            encode_v1(
                0,
                &[
                    entry(i64::MIN, None, Some(b"min"), none),
                    entry(i64::MAX, None, Some(b"max"), none),
                ],
            ),
        ),
        // Version 1 offsets may go up to u64::MAX, past version 2's i64::MAX.
        (
            "v1-last-offsets",
            encode_v1(
                u64::MAX - 2,
                &[entry(1, None, None, none), entry(2, None, None, none)],
            ),
        ),
    ]
}

/// Rewrites the bytes at `at` of a copy of `batch` and recomputes its checksum, so that the
/// field itself is what a reader meets.
fn patched(batch: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut b = batch.to_vec();
    b[at..at + bytes.len()].copy_from_slice(bytes);
    fix_crcs(&mut b);
    b
}

#[allow(clippy::too_many_lines)] // one line per seed
fn write_batch_corpus() {
    let mut rng = XorShift64(0x5eed_0001);
    let valid = valid_batches();
    let v1s = v1_batches();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, bytes) in valid.iter().chain(&v1s) {
        assert!(batch::check(bytes).is_ok(), "{name} checks");
        let records: Result<Vec<_>, _> = batch::records(bytes).expect(name).collect();
        assert!(records.is_ok(), "{name} reads");
    }
    let crafted = crafted_v2_batches();
    assert_crafted(&crafted);
    for (name, bytes) in valid.iter().chain(&crafted).chain(&v1s) {
        files.push(((*name).to_string(), bytes.clone()));
    }
    for (name, bytes) in compressed_batches() {
        files.push((name, bytes));
    }
    let three = &valid[4].1;
    let headers = &valid[3].1;
    let v1_three = &v1s[3].1;
    // Two batches back to back: only the first is decoded (`fix_crcs` walks both).
    files.push((
        "valid-two-batches".into(),
        [&valid[1].1[..], three].concat(),
    ));
    files.push((
        "two-batches-v1-then-v2".into(),
        [&v1s[1].1[..], three].concat(),
    ));
    for cut in [0, 1, 16, 17, 21, 60, 61, 62, three.len() - 1] {
        files.push((format!("truncated-at-{cut}"), three[..cut].to_vec()));
    }
    for cut in [39, 40, 41, v1_three.len() - 1] {
        files.push((format!("v1-truncated-at-{cut}"), v1_three[..cut].to_vec()));
    }
    // Every header field, the first record's fields and the last byte.
    for at in [
        0,
        7,
        8,
        11,
        12,
        16,
        17,
        20,
        21,
        22,
        23,
        26,
        27,
        34,
        35,
        42,
        43,
        51,
        53,
        57,
        60,
        61,
        62,
        63,
        64,
        66,
        three.len() - 1,
    ] {
        let mut b = three.clone();
        b[at] ^= 0x01 << (at % 8);
        files.push((format!("flipped-byte-{at}"), b));
    }
    for at in [61, 66, headers.len() - 4] {
        let mut b = headers.clone();
        b[at] ^= 0x80;
        files.push((format!("flipped-headers-byte-{at}"), b));
    }
    for at in [0, 8, 12, 16, 17, 20, 24, 32, 40, 41, 44, v1_three.len() - 1] {
        let mut b = v1_three.clone();
        b[at] ^= 0x01 << (at % 8);
        files.push((format!("v1-flipped-byte-{at}"), b));
    }
    let field = |name: &str, at: usize, value: &[u8]| (name.to_string(), patched(three, at, value));
    files.push(field("bad-version-0", 16, &[0]));
    files.push(field("bad-version-1", 16, &[1]));
    files.push(field("bad-version-3", 16, &[3]));
    files.push(field("bad-attributes-codec-5", 22, &[5]));
    files.push(field("bad-attributes-delete-horizon", 22, &[0x40]));
    files.push(field("bad-attributes-unknown", 21, &[0x80]));
    files.push(field("bad-record-count-0", 57, &0i32.to_be_bytes()));
    files.push(field(
        "bad-record-count-negative",
        57,
        &(-1i32).to_be_bytes(),
    ));
    files.push(field("bad-record-count-huge", 57, &i32::MAX.to_be_bytes()));
    files.push(field(
        "bad-last-offset-delta-below-count",
        23,
        &1i32.to_be_bytes(),
    ));
    files.push(field(
        "bad-last-offset-delta-negative",
        23,
        &(-1i32).to_be_bytes(),
    ));
    files.push(field("bad-length-55", 8, &55i32.to_be_bytes()));
    files.push(field("bad-length-huge", 8, &i32::MAX.to_be_bytes()));
    files.push(field("bad-length-negative", 8, &(-1i32).to_be_bytes()));
    files.push(field("bad-base-offset-negative", 0, &(-1i64).to_be_bytes()));
    files.push(field(
        "bad-offsets-past-i64-max",
        0,
        &(i64::MAX - 1).to_be_bytes(),
    ));
    files.push(field(
        "bad-max-below-records",
        35,
        &(TS0 - 100).to_be_bytes(),
    ));
    files.push(field("bad-overlong-varint", 61, &[0x80 | three[61], 0x00]));
    files.push(field("bad-negative-record-length", 61, &[three[61] | 1]));
    let v1_field =
        |name: &str, at: usize, value: &[u8]| (name.to_string(), patched(v1_three, at, value));
    files.push(v1_field("v1-bad-attributes", 17, &[1]));
    files.push(v1_field("v1-bad-reserved", 18, &[0, 1]));
    files.push(v1_field("v1-bad-record-count-0", 20, &0u32.to_le_bytes()));
    files.push(v1_field(
        "v1-bad-record-count-huge",
        20,
        &u32::MAX.to_le_bytes(),
    ));
    files.push(v1_field("v1-bad-length-46", 8, &46u32.to_le_bytes()));
    files.push(v1_field("v1-bad-length-huge", 8, &u32::MAX.to_le_bytes()));
    files.push(v1_field("v1-bad-max-below-first", 32, &0i64.to_le_bytes()));
    files.push(v1_field(
        "v1-bad-offsets-past-u64-max",
        0,
        &(u64::MAX - 1).to_le_bytes(),
    ));
    // The first record's timestamp delta (after its length and attributes) is not 0.
    files.push(v1_field("v1-bad-first-timestamp-delta", 42, &[2]));
    // The second record's offset delta (after the first record, its length, attributes and
    // timestamp delta) is not its index.
    let second = 40 + 1 + usize::from(v1_three[40]);
    assert_eq!(v1_three[second + 3], 1, "second record's offset delta");
    files.push(v1_field("v1-bad-offset-delta", second + 3, &[2]));
    files.push(("zeroed-16".into(), vec![0; 16]));
    files.push(("zeroed-64".into(), vec![0; 64]));
    files.push(("empty".into(), Vec::new()));
    for n in [20, 47, 68, 120] {
        files.push((format!("garbage-{n}"), rng.bytes(n)));
    }
    // A plausible header over garbage records: lets `records` get going without a valid CRC.
    let mut g = three[..HEADER].to_vec();
    g.extend(rng.bytes(three.len() - HEADER));
    files.push(("garbage-records-valid-header".into(), g));
    let mut g = v1_three[..v1::HEADER_BYTES].to_vec();
    g.extend(rng.bytes(v1_three.len() - v1::HEADER_BYTES));
    files.push(("v1-garbage-records-valid-header".into(), g));
    write_corpus("batch_decode", batch_decode, files);
}

const HEADER: usize = batch::HEADER_BYTES;

/// A real partition written by strom: (log, index, timeindex, `.clean` `next_offset`, `.clean` `max_timestamp`).
/// A partition strom wrote: `records` records in batches of 1 to 3, or, with a codec,
/// batches of 20 compressed with it.
fn real_partition(
    records: u64,
    jitter: bool,
    codec: Compression,
) -> (Vec<u8>, Vec<u8>, Vec<u8>, u64, i64) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(tmp.path()).expect("open");
    let config = TopicConfig::default()
        .segment_bytes(4096)
        .retention_ms(-1)
        .index_interval_bytes(128);
    broker.create_topic(FUZZ_TOPIC, config).expect("topic");
    let written =
        fs::read_to_string(tmp.path().join(FUZZ_TOPIC).join("topic.json")).expect("topic.json");
    assert_eq!(
        written, FUZZ_TOPIC_JSON,
        "FUZZ_TOPIC_JSON is what strom writes"
    );
    if codec != Compression::None {
        let config = broker.describe_topic(FUZZ_TOPIC).expect("topic").config;
        broker
            .alter_topic(FUZZ_TOPIC, config.compression(codec))
            .expect("alter");
    }
    let producer = broker.producer();
    let mut i = 0;
    while i < records {
        let n = if codec == Compression::None {
            i % 3 + 1
        } else {
            20
        }
        .min(records - i);
        let batch = (i..i + n).map(|j| {
            let ts = TS0 + i64::try_from(j * 10).expect("small")
                - if jitter {
                    i64::try_from(j % 4).expect("small")
                } else {
                    0
                };
            let r = Record::new(format!("value-{j}")).timestamp(ts).partition(0);
            let r = if j % 5 == 0 {
                r.header("h", b"1".to_vec())
            } else {
                r
            };
            if j % 7 == 3 {
                r
            } else {
                r.key(format!("key-{j}"))
            }
        });
        producer.send_batch(FUZZ_TOPIC, batch).expect("send");
        i += n;
    }
    broker.close().expect("close");
    let base = tmp
        .path()
        .join(FUZZ_TOPIC)
        .join("0")
        .join("00000000000000000000");
    let read = |ext: &str| fs::read(base.with_extension(ext)).unwrap_or_default();
    let clean = fs::read_to_string(tmp.path().join(".clean")).expect(".clean");
    let number = |field: &str| -> i128 {
        let at = clean.find(field).expect("field in .clean") + field.len();
        let digits: String = clean[at..]
            .chars()
            .skip_while(|c| *c == ':' || c.is_whitespace())
            .take_while(|c| *c == '-' || c.is_ascii_digit())
            .collect();
        digits.parse().expect("number")
    };
    let mut log = read("log");
    // Preallocated space is zeros; keep a little of it, as strom leaves it.
    let used = end_of_batches(&log);
    log.truncate((used + 64).min(log.len()));
    (
        log,
        read("index"),
        read("timeindex"),
        u64::try_from(number("\"next_offset\"")).expect("u64"),
        i64::try_from(number("\"max_timestamp\"")).expect("i64"),
    )
}

fn end_of_batches(log: &[u8]) -> usize {
    let mut pos = 0;
    while let Ok(h) = batch::check(&log[pos..]) {
        pos += h.length as usize;
    }
    pos
}

#[allow(clippy::too_many_lines)] // one line per seed
fn write_open_dir_corpus() {
    let mut rng = XorShift64(0x5eed_0002);
    let (log, index, time, next, max_ts) = real_partition(40, true, Compression::None);
    assert!(index.len() >= 16, "the seed needs index entries");
    let (small_log, small_index, small_time, small_next, small_max) =
        real_partition(3, false, Compression::None);
    let used = end_of_batches(&log);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mid_ts = TS0 + 200;
    let clean = (next, max_ts);
    files.push((
        "real-unclean".into(),
        open_dir_input(0, mid_ts, clean, &log, &index, &time),
    ));
    files.push((
        "real-clean".into(),
        open_dir_input(FLAG_CLEAN, mid_ts, clean, &log, &index, &time),
    ));
    files.push((
        "real-clean-append".into(),
        open_dir_input(FLAG_CLEAN | FLAG_APPEND, TS0, clean, &log, &index, &time),
    ));
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let (log, index, time, next, max_ts) = real_partition(60, true, codec);
        files.push((
            format!("real-compressed-{codec}"),
            open_dir_input(
                FLAG_CLEAN | FLAG_APPEND,
                TS0 + 250,
                (next, max_ts),
                &log,
                &index,
                &time,
            ),
        ));
    }
    files.push((
        "real-small-clean".into(),
        open_dir_input(
            FLAG_CLEAN,
            TS0 + 10,
            (small_next, small_max),
            &small_log,
            &small_index,
            &small_time,
        ),
    ));
    files.push((
        "real-no-indexes".into(),
        open_dir_input(
            FLAG_NO_INDEX | FLAG_NO_TIMEINDEX,
            mid_ts,
            clean,
            &log,
            &[],
            &[],
        ),
    ));
    files.push((
        "real-no-timeindex".into(),
        open_dir_input(FLAG_NO_TIMEINDEX, i64::MAX, clean, &log, &index, &[]),
    ));
    files.push((
        "real-seek-min".into(),
        open_dir_input(FLAG_APPEND, i64::MIN, clean, &log, &index, &time),
    ));
    files.push((
        "torn-tail".into(),
        open_dir_input(FLAG_APPEND, mid_ts, clean, &log[..used - 5], &index, &time),
    ));
    files.push((
        "torn-tail-clean".into(),
        open_dir_input(FLAG_CLEAN, mid_ts, clean, &log[..used - 5], &index, &time),
    ));
    // Cut inside the last batch's header.
    let last = last_batch(&log[..used]).expect("a last batch");
    files.push((
        "torn-header".into(),
        open_dir_input(0, mid_ts, clean, &log[..last + 30], &index, &time),
    ));
    let mut zero_tail = log[..used].to_vec();
    zero_tail.extend([0; 100]);
    files.push((
        "zeroed-tail".into(),
        open_dir_input(FLAG_APPEND, mid_ts, clean, &zero_tail, &index, &time),
    ));
    let mut flipped = log.clone();
    flipped[used / 2] ^= 0x10;
    files.push((
        "flipped-log-clean".into(),
        open_dir_input(FLAG_CLEAN, mid_ts, clean, &flipped, &index, &time),
    ));
    files.push((
        "flipped-log-unclean".into(),
        open_dir_input(FLAG_APPEND, mid_ts, clean, &flipped, &index, &time),
    ));
    files.push((
        "flipped-log-fix-crc".into(),
        open_dir_input(
            FLAG_FIX_CRC | FLAG_CLEAN,
            mid_ts,
            clean,
            &flipped,
            &index,
            &time,
        ),
    ));
    files.push((
        "garbage-index".into(),
        open_dir_input(
            FLAG_CLEAN,
            mid_ts,
            clean,
            &log,
            &rng.bytes(48),
            &rng.bytes(72),
        ),
    ));
    files.push((
        "garbage-index-unclean".into(),
        open_dir_input(0, mid_ts, clean, &log, &rng.bytes(40), &time),
    ));
    let mut past_end = index.clone();
    past_end[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    files.push((
        "index-past-end".into(),
        open_dir_input(FLAG_CLEAN, mid_ts, clean, &log, &past_end, &time),
    ));
    files.push((
        "index-torn".into(),
        open_dir_input(
            FLAG_CLEAN,
            mid_ts,
            clean,
            &log,
            &index[..index.len() - 3],
            &time[..time.len() - 5],
        ),
    ));
    files.push((
        "clean-next-offset-high".into(),
        open_dir_input(
            FLAG_CLEAN,
            mid_ts,
            (next + 1000, max_ts),
            &log,
            &index,
            &time,
        ),
    ));
    files.push((
        "regression-clean-next-offset-below-log-end".into(),
        open_dir_input(
            FLAG_CLEAN | FLAG_APPEND,
            mid_ts,
            (1, max_ts),
            &log,
            &index,
            &time,
        ),
    ));
    files.push((
        "clean-next-offset-max".into(),
        open_dir_input(
            FLAG_CLEAN | FLAG_APPEND,
            mid_ts,
            (u64::MAX, i64::MIN),
            &log,
            &index,
            &time,
        ),
    ));
    files.push((
        "empty-log-clean".into(),
        open_dir_input(FLAG_CLEAN | FLAG_APPEND, 0, (0, 0), &[], &[], &[]),
    ));
    files.push(("empty".into(), Vec::new()));
    files.push((
        "garbage-log".into(),
        open_dir_input(FLAG_APPEND, 0, (0, 0), &rng.bytes(300), &[], &[]),
    ));
    let v = &valid_batches()[4].1;
    files.push((
        "one-batch-no-index".into(),
        open_dir_input(FLAG_NO_INDEX, TS0, (0, 0), v, &[], &[]),
    ));
    let mut gap = v.clone();
    gap.extend(encode(50, &[entry(TS0, None, Some(b"gap"), &[])]));
    gap.extend(encode(10, &[entry(TS0, None, Some(b"back"), &[])]));
    files.push((
        "batches-going-back".into(),
        open_dir_input(FLAG_NO_INDEX | FLAG_APPEND, TS0, (0, 0), &gap, &[], &[]),
    ));
    files.push((
        "batches-going-back-clean".into(),
        open_dir_input(FLAG_CLEAN, TS0, (1000, TS0), &gap, &[], &[]),
    ));
    files.push((
        "real-clean-last-batch".into(),
        open_dir_input(
            FLAG_CLEAN | FLAG_LAST_BATCH,
            mid_ts,
            clean,
            &log[..used],
            &index,
            &time,
        ),
    ));
    files.push((
        "real-clean-last-batch-append".into(),
        open_dir_input(
            FLAG_CLEAN | FLAG_LAST_BATCH | FLAG_APPEND,
            TS0,
            clean,
            &log[..used],
            &index,
            &time,
        ),
    ));
    for (name, log) in crafted_logs() {
        let end = log_end(&log);
        let no_index = FLAG_NO_INDEX | FLAG_NO_TIMEINDEX;
        files.push((
            name.to_string(),
            open_dir_input(no_index | FLAG_APPEND, TS0 + 2, (0, 0), &log, &[], &[]),
        ));
        files.push((
            format!("{name}-clean"),
            open_dir_input(
                no_index | FLAG_CLEAN | FLAG_LAST_BATCH | FLAG_APPEND,
                TS0 + 5,
                end,
                &log,
                &[],
                &[],
            ),
        ));
    }
    write_corpus("open_dir", open_dir, files);
}

/// The `.clean` values of a log of valid batches: the offset after its last batch and the
/// largest `max_timestamp`.
fn log_end(log: &[u8]) -> (u64, i64) {
    let (mut pos, mut next, mut max) = (0, 0, i64::MIN);
    while let Ok(h) = batch::check(&log[pos..]) {
        pos += h.length as usize;
        next = h.next_offset();
        max = max.max(h.max_timestamp);
    }
    (next, max)
}

/// Segments strom's producer does not write: version 1 batches, transactions, offset gaps,
/// batches it reads but cannot decode.
fn crafted_logs() -> Vec<(&'static str, Vec<u8>)> {
    let none: &[(String, Vec<u8>)] = &[];
    let hs = sample_headers();
    let e = |ts: i64, value: &'static [u8]| entry(TS0 + ts, Some(b"k"), Some(value), none);
    let two = |ts: i64| [e(ts, b"1"), entry(TS0 + ts + 1, None, Some(b"2"), &hs)];
    let r = Raw::new;
    let three = [
        r(0, 0, Some(b"a"), Some(b"1")),
        r(5, 1, None, Some(b"22")),
        r(-7, 2, Some(b"c"), Some(b"")),
    ];
    let mixed = [
        encode_v1(0, &[e(0, b"v1"), e(1, b"v1"), e(2, b"v1")]),
        encode_v1(3, &two(3)),
        encode(5, &[e(5, b"v2"), e(4, b"v2"), e(6, b"v2")]),
        encode(8, &[e(8, b"v2")]),
    ];
    let transactions = [
        encode(0, &two(0)),
        encode_with(2, TXN, &two(2)),
        marker(4, ControlType::Commit, TS0 + 4),
        encode_with(
            5,
            Origin {
                base_sequence: 19,
                ..TXN
            },
            &[e(5, b"aborted")],
        ),
        marker(6, ControlType::Abort, TS0 + 6),
        encode(7, &[e(7, b"after")]),
    ];
    let gaps = [
        V2::plain(0, 9).batch(&[
            r(0, 0, Some(b"a"), Some(b"1")),
            r(1, 3, Some(b"b"), Some(b"2")),
            r(2, 7, Some(b"c"), None),
        ]),
        encode(10, &two(10)),
        // A gap between batches, as compaction leaves.
        encode(20, &[e(20, b"after a gap")]),
    ];
    let odd_batches = [
        encode(0, &two(0)),
        V2 {
            attributes: v2::LOG_APPEND_TIME,
            ..V2::plain(2, 2)
        }
        .batch(&three),
        V2 {
            leader_epoch: 9,
            ..V2::plain(5, 0)
        }
        .batch(&[r(0, 0, None, Some(b"x")).header(b"null", None)]),
        encode(6, &[e(6, b"last")]),
    ];
    // The last batch covers offsets after its last record, as Kafka's compaction leaves.
    let trailing_gap = [
        encode(0, &two(0)),
        V2::plain(2, 5).batch(&[r(0, 0, Some(b"a"), Some(b"1")), r(1, 2, Some(b"b"), None)]),
    ];
    let compressed = [
        encode(0, &two(0)),
        V2 {
            attributes: 1,
            ..V2::plain(2, 2)
        }
        .batch(&three),
        encode(5, &[e(5, b"after")]),
    ];
    let unknown_version = [
        encode(0, &two(0)),
        V2 {
            magic: 3,
            ..V2::plain(2, 2)
        }
        .batch(&three),
    ];
    vec![
        ("v1-only", mixed[..2].concat()),
        ("v1-then-v2", mixed.concat()),
        ("transactions", transactions.concat()),
        ("transactions-ending-in-marker", transactions[..5].concat()),
        ("offset-gaps", gaps.concat()),
        ("trailing-offset-gap", trailing_gap.concat()),
        (
            "log-append-time-leader-epoch-null-header",
            odd_batches.concat(),
        ),
        ("compressed-batch", compressed.concat()),
        ("unknown-version-tail", unknown_version.concat()),
    ]
}

#[test]
#[ignore = "writes fuzz/corpus; run by hand"]
fn generate_fuzz_corpus() {
    write_batch_corpus();
    write_open_dir_corpus();
}
