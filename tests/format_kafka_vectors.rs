//! strom's batch format version 2 is Kafka's `RecordBatch` (magic 2): checked against bytes a
//! Kafka client wrote. `tests/fixtures/kafka_v2/*.bin` are batches built by kafka-python's
//! `DefaultRecordBatchBuilder` (the two transaction markers by its generator script from
//! Kafka's layout, and read back by kafka-python), and `vectors.json` says what each holds.
//! `generate.py` beside them made both and says how to rerun it; this test needs no Python.
//!
//! Every vector is read with strom's public `storage::batch` API, and every header and record
//! field must equal the description. Where strom can express the same batch (no null header
//! values, no offset gaps), encoding the same records at the same base offset must give the
//! same bytes, but for the partition leader epoch (bytes 12..16, which a broker assigns and
//! the CRC does not cover; strom writes 0, Kafka's Java client −1).
//!
//! The compressed vectors are kafka-python's batches with each codec (gzip, snappy in Xerial's
//! framing, LZ4 frames, zstd), a few records in one block and many in several: strom
//! decompresses them (`batch::decompress`) to the uncompressed batch of the same records,
//! which must be the bytes strom's encoder writes for them, and a strom log made of them (a
//! segment file holding kafka-python's batches, opened by a broker) hands a consumer every
//! record, from the start and from inside a compressed batch.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use strom::storage::batch::{
    self, BatchHeader, ControlRecord, ControlType, DecodeError, Entry, Origin,
};
use strom::{
    Broker, Compression, ConsumerConfig, IsolationLevel, OffsetReset, TopicConfig, TopicPartition,
};

/// The partition leader epoch's bytes, the only ones strom may write differently.
const LEADER_EPOCH: std::ops::Range<usize> = 12..16;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kafka_v2")
}

/// One vector: its description and its batch's bytes.
struct Vector {
    name: String,
    json: Value,
    bytes: Vec<u8>,
}

impl Vector {
    fn int(&self, field: &str) -> i64 {
        self.json[field]
            .as_i64()
            .unwrap_or_else(|| panic!("{}: {field} is not an integer", self.name))
    }

    fn flag(&self, field: &str) -> bool {
        self.json[field]
            .as_bool()
            .unwrap_or_else(|| panic!("{}: {field} is not a boolean", self.name))
    }

    fn is_control(&self) -> bool {
        self.flag("control")
    }

    /// The codec kafka-python compressed the records with (`None` without a `compression`).
    fn compression(&self) -> Compression {
        self.json["compression"]
            .as_str()
            .map_or(Compression::None, |name| {
                name.parse()
                    .unwrap_or_else(|e| panic!("{}: compression: {e}", self.name))
            })
    }

    fn origin(&self) -> Origin {
        Origin {
            producer_id: self.int("producer_id"),
            producer_epoch: i16::try_from(self.int("producer_epoch")).expect("i16"),
            base_sequence: i32::try_from(self.int("base_sequence")).expect("i32"),
            transactional: self.flag("transactional"),
        }
    }

    /// The header `vectors.json` describes, as strom's type.
    fn header(&self) -> BatchHeader {
        let u = |field: &str| u32::try_from(self.int(field)).expect("u32");
        BatchHeader {
            base_offset: u64::try_from(self.int("base_offset")).expect("u64"),
            length: u("length"),
            partition_leader_epoch: i32::try_from(self.int("partition_leader_epoch")).expect("i32"),
            version: u8::try_from(self.int("magic")).expect("u8"),
            crc: u("crc"),
            attributes: u16::try_from(self.int("attributes")).expect("u16"),
            last_offset_delta: u("last_offset_delta"),
            first_timestamp: self.int("first_timestamp"),
            max_timestamp: self.int("max_timestamp"),
            origin: self.origin(),
            record_count: u("record_count"),
        }
    }

    fn records(&self) -> Vec<Rec> {
        self.json["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| Rec {
                offset: r["offset"].as_u64().expect("offset"),
                timestamp: r["timestamp"].as_i64().expect("timestamp"),
                key: bytes(&r["key"]),
                value: bytes(&r["value"]),
                headers: r["headers"]
                    .as_array()
                    .expect("headers")
                    .iter()
                    .map(|h| {
                        let name = h[0].as_str().expect("header name");
                        (name.as_bytes().to_vec(), bytes(&h[1]))
                    })
                    .collect(),
            })
            .collect()
    }

    /// The transaction marker of a control vector.
    fn control(&self) -> ControlRecord {
        let c = &self.json["marker"];
        let kind = match c["type"].as_str() {
            Some("commit") => ControlType::Commit,
            Some("abort") => ControlType::Abort,
            other => panic!("{}: control type {other:?}", self.name),
        };
        let epoch = c["coordinator_epoch"].as_i64().expect("coordinator_epoch");
        ControlRecord {
            kind,
            coordinator_epoch: i32::try_from(epoch).expect("i32"),
        }
    }
}

/// A record, as described or as read: every field, null kept apart from empty.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    offset: u64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// A bytes field of `vectors.json`: `null`, `{"utf8": text}` or `{"hex": digits}`.
fn bytes(v: &Value) -> Option<Vec<u8>> {
    if v.is_null() {
        return None;
    }
    if let Some(text) = v["utf8"].as_str() {
        return Some(text.as_bytes().to_vec());
    }
    let digits = v["hex"].as_str().expect("utf8 or hex");
    assert_eq!(digits.len() % 2, 0, "odd hex {digits}");
    let pairs = (0..digits.len()).step_by(2);
    Some(
        pairs
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digit"))
            .collect(),
    )
}

/// Every vector of `vectors.json`, in its order; a vector whose records are `records_of` an
/// earlier one gets that one's records.
fn vectors() -> Vec<Vector> {
    let text = fs::read_to_string(dir().join("vectors.json")).expect("vectors.json");
    let all: Value = serde_json::from_str(&text).expect("vectors.json is JSON");
    let mut out: Vec<Vector> = Vec::new();
    for v in all["vectors"].as_array().expect("vectors") {
        let name = v["name"].as_str().expect("name").to_string();
        let file = v["file"].as_str().expect("file");
        let bytes = fs::read(dir().join(file)).expect("vector file");
        let mut json = v.clone();
        if let Some(of) = v["records_of"].as_str() {
            let earlier = out.iter().find(|e| e.name == of);
            let earlier = earlier.unwrap_or_else(|| panic!("{name}: records_of {of}"));
            json["records"] = earlier.json["records"].clone();
        }
        out.push(Vector { name, json, bytes });
    }
    out
}

/// The vectors kafka-python compressed.
fn compressed() -> Vec<Vector> {
    vectors()
        .into_iter()
        .filter(|v| v.compression() != Compression::None)
        .collect()
}

/// Every record of a batch as strom's public API reads it: decompressed first (which gives
/// an uncompressed batch as it is), then iterated.
fn read_records(batch: &[u8]) -> Vec<Rec> {
    let plain = batch::decompress(batch).expect("strom decompresses the batch");
    let batch = &plain[..];
    let records = batch::records(batch).expect("records");
    let version = records.header().version;
    records
        .map(|r| {
            let r = r.expect("a well-formed record");
            let field = |range: Option<std::ops::Range<usize>>| range.map(|r| batch[r].to_vec());
            let headers = batch::headers(&batch[r.headers.clone()], r.header_count, version)
                .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
                .collect::<Vec<_>>();
            assert_eq!(headers.len(), r.header_count as usize, "every header read");
            Rec {
                offset: r.offset,
                timestamp: r.timestamp,
                key: field(r.key),
                value: field(r.value),
                headers,
            }
        })
        .collect()
}

/// `strom` and `kafka` are equal but for the partition leader epoch, which strom writes as 0.
fn assert_same_but_leader_epoch(name: &str, strom: &[u8], kafka: &[u8]) {
    assert_eq!(strom.len(), kafka.len(), "{name}: length");
    let mut masked = strom.to_vec();
    masked[LEADER_EPOCH].copy_from_slice(&kafka[LEADER_EPOCH]);
    // Name the first differing field rather than the checksum (17..21) it changes.
    let differs = |at: &usize| masked[*at] != kafka[*at];
    let outside_crc = (0..kafka.len())
        .filter(|at| !(17..21).contains(at))
        .find(differs);
    if let Some(at) = outside_crc.or_else(|| (17..21).find(differs)) {
        panic!(
            "{name}: strom's encoding differs from Kafka's at byte {at}: {:02x?} vs {:02x?}",
            &strom[at..(at + 16).min(strom.len())],
            &kafka[at..(at + 16).min(kafka.len())],
        );
    }
    assert_eq!(
        strom[LEADER_EPOCH], [0; 4],
        "{name}: strom writes leader epoch 0"
    );
}

#[test]
fn the_vectors_are_all_there() {
    let text = fs::read_to_string(dir().join("vectors.json")).expect("vectors.json");
    let all: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(all["kafka_python"], "3.0.12");
    let names: Vec<String> = vectors().into_iter().map(|v| v.name).collect();
    assert_eq!(
        names,
        [
            "plain_single",
            "mixed_records",
            "null_header_value",
            "transactional",
            "idempotent",
            "timestamps_out_of_order",
            "many_records",
            "large_value",
            "offset_gaps",
            "control_commit",
            "control_abort",
            "gzip_few",
            "gzip_many",
            "snappy_few",
            "snappy_many",
            "lz4_few",
            "lz4_many",
            "zstd_few",
            "zstd_many",
        ]
    );
    // Each codec's vectors were compressed by the codec packages pinned in `generate.py`
    // (and installed by `.ci/run`).
    for package in ["lz4", "python-snappy", "cramjam", "zstandard"] {
        assert!(all["codec_packages"][package].is_string(), "{package}");
    }
    for v in compressed() {
        assert_eq!(
            v.name.split('_').next(),
            Some(v.compression().name()),
            "{}",
            v.name
        );
    }
    assert_eq!(compressed().len(), 8);
    // Only these two hold what strom's encoder cannot write.
    let not_encodable: Vec<String> = vectors()
        .into_iter()
        .filter(|v| !v.flag("strom_encodable"))
        .map(|v| v.name)
        .collect();
    assert_eq!(not_encodable, ["null_header_value", "offset_gaps"]);
}

#[test]
fn strom_reads_every_header_field_kafka_wrote() {
    for v in vectors() {
        let want = v.header();
        assert_eq!(want.length as usize, v.bytes.len(), "{}: one batch", v.name);
        let header = batch::check(&v.bytes)
            .unwrap_or_else(|e| panic!("{}: strom refuses Kafka's batch: {e}", v.name));
        assert_eq!(header, want, "{}", v.name);
        assert_eq!(batch::read_header(&v.bytes), Ok(want), "{}", v.name);
        assert_eq!(header.version, batch::FORMAT_VERSION, "{}", v.name);
        assert_eq!(header.is_control(), v.is_control(), "{}", v.name);
        assert_eq!(
            header.is_transactional(),
            v.flag("transactional"),
            "{}",
            v.name
        );
        assert_eq!(header.compression(), v.compression(), "{}", v.name);
        assert_eq!(
            header.next_offset(),
            want.base_offset + u64::from(want.last_offset_delta) + 1,
            "{}",
            v.name
        );
        // The records' iterator reports the same header; compressed records are
        // decompressed first (`strom_reads_every_record_field_kafka_wrote`).
        if v.compression() == Compression::None {
            assert_eq!(
                *batch::records(&v.bytes).expect("records").header(),
                want,
                "{}",
                v.name
            );
        } else {
            assert_eq!(
                batch::records(&v.bytes).err(),
                Some(DecodeError::Record(
                    "compressed records: decompress the batch first"
                )),
                "{}",
                v.name
            );
        }
    }
}

#[test]
fn strom_reads_every_record_field_kafka_wrote() {
    for v in vectors() {
        assert_eq!(read_records(&v.bytes), v.records(), "{}", v.name);
    }
}

#[test]
fn a_null_header_value_reads_as_null_not_empty() {
    let v = vectors()
        .into_iter()
        .find(|v| v.name == "null_header_value")
        .expect("vector");
    let first = &read_records(&v.bytes)[0];
    let headers: Vec<(&[u8], Option<&[u8]>)> = first
        .headers
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_deref()))
        .collect();
    assert_eq!(
        headers,
        [
            (&b"null"[..], None),
            (&b"empty"[..], Some(&b""[..])),
            (&b"set"[..], Some(&b"x"[..])),
        ]
    );
}

#[test]
fn strom_encodes_the_bytes_kafka_wrote() {
    let mut compared = 0;
    for v in vectors() {
        if v.is_control() || !v.flag("strom_encodable") {
            continue;
        }
        let records = v.records();
        let headers: Vec<Vec<(String, Vec<u8>)>> = records
            .iter()
            .map(|r| {
                r.headers
                    .iter()
                    .map(|(k, v)| {
                        let key = String::from_utf8(k.clone()).expect("UTF-8 header key");
                        (key, v.clone().expect("no null header value"))
                    })
                    .collect()
            })
            .collect();
        let entries: Vec<Entry<'_>> = records
            .iter()
            .zip(&headers)
            .map(|(r, h)| Entry {
                timestamp: r.timestamp,
                key: r.key.as_deref(),
                value: r.value.as_deref(),
                headers: h,
            })
            .collect();
        let header = v.header();
        // A compressed batch is compared decompressed: the same header fields, the codec's
        // attribute bits aside, and the records kafka-python compressed.
        let kafka = batch::decompress(&v.bytes).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        let len = batch::encoded_len(&entries);
        assert_eq!(len, kafka.len(), "{}: encoded_len", v.name);
        let mut buf = vec![0; len];
        let written = batch::encode_with(&mut buf, header.base_offset, v.origin(), &entries)
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(written, len, "{}", v.name);
        assert_same_but_leader_epoch(&v.name, &buf, &kafka);
        if v.origin() == Origin::NONE {
            let mut plain = vec![0; len];
            batch::encode(&mut plain, header.base_offset, &entries).expect("encode");
            assert_eq!(
                plain, buf,
                "{}: encode is encode_with of Origin::NONE",
                v.name
            );
        }
        compared += 1;
    }
    assert_eq!(compared, 15, "every encodable data vector compared");
}

#[test]
fn strom_reads_and_writes_kafkas_transaction_markers() {
    let mut compared = 0;
    for v in vectors().into_iter().filter(Vector::is_control) {
        let marker = v.control();
        assert_eq!(batch::control_record(&v.bytes), Ok(marker), "{}", v.name);
        let header = v.header();
        // Kafka writes the marker's timestamp as both base and max timestamp.
        assert_eq!(header.first_timestamp, header.max_timestamp, "{}", v.name);
        let mut buf = [0; batch::CONTROL_BATCH_BYTES];
        let written = batch::encode_control(
            &mut buf,
            header.base_offset,
            v.origin(),
            marker,
            header.first_timestamp,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(written, v.bytes.len(), "{}", v.name);
        assert_same_but_leader_epoch(&v.name, &buf, &v.bytes);
        compared += 1;
    }
    assert_eq!(compared, 2);
    // A data batch is not a marker.
    let plain = vectors()
        .into_iter()
        .find(|v| v.name == "transactional")
        .expect("vector");
    assert_eq!(
        batch::control_record(&plain.bytes),
        Err(DecodeError::Record("not a control batch"))
    );
}

/// A batch a Kafka client encoded is stored by giving it its offsets: `set_base_offset`
/// keeps the checksum valid and moves every record with it.
#[test]
fn kafkas_batches_move_to_any_base_offset() {
    for v in vectors() {
        let mut moved = v.bytes.clone();
        batch::set_base_offset(&mut moved, 5_000).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        let header = batch::check(&moved).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        let want = BatchHeader {
            base_offset: 5_000,
            partition_leader_epoch: 0,
            ..v.header()
        };
        assert_eq!(header, want, "{}", v.name);
        assert_eq!(
            moved[16..],
            v.bytes[16..],
            "{}: only bytes 0..16 change",
            v.name
        );
        let shift = |r: Rec| Rec {
            offset: r.offset - v.header().base_offset + 5_000,
            ..r
        };
        let want: Vec<Rec> = v.records().into_iter().map(shift).collect();
        assert_eq!(read_records(&moved), want, "{}", v.name);
    }
}

/// Kafka's CRC covers everything from the attributes on: strom notices a flipped bit
/// anywhere there, and nowhere before (those fields are a broker's to assign).
#[test]
fn kafkas_checksum_covers_what_kafka_says() {
    let v = vectors()
        .into_iter()
        .find(|v| v.name == "mixed_records")
        .expect("vector");
    for at in 21..v.bytes.len() {
        let mut damaged = v.bytes.clone();
        damaged[at] ^= 0x01;
        assert!(
            matches!(
                batch::check(&damaged),
                Err(DecodeError::Checksum { .. } | DecodeError::Record(_))
            ),
            "a flipped bit at {at} went unnoticed"
        );
    }
    let mut epoch = v.bytes.clone();
    epoch[LEADER_EPOCH].copy_from_slice(&[0xff; 4]);
    assert_eq!(
        batch::check(&epoch).map(|h| h.partition_leader_epoch),
        Ok(-1)
    );
}

/// kafka-python's compressed batches decompress to the uncompressed batch of their records:
/// the same header fields but for the codec's attribute bits, the length and the checksum,
/// which `check` accepts; strom's own compression of those records reads back the same.
#[test]
fn strom_decompresses_kafkas_compressed_batches() {
    for v in compressed() {
        let want = v.header();
        let plain = batch::decompress(&v.bytes)
            .unwrap_or_else(|e| panic!("{}: strom cannot decompress Kafka's batch: {e}", v.name));
        let header = batch::check(&plain).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(
            header,
            BatchHeader {
                length: u32::try_from(plain.len()).expect("u32"),
                crc: header.crc,
                attributes: want.attributes & !0x07,
                ..want
            },
            "{}",
            v.name
        );
        assert_eq!(header.compression(), Compression::None, "{}", v.name);
        assert!(
            plain.len() > v.bytes.len(),
            "{}: compression shrank it",
            v.name
        );
        if v.name.ends_with("_many") {
            // More than 64 KiB of records: several Xerial blocks (32 KiB) and LZ4 blocks
            // (64 KiB).
            assert!(
                plain.len() - 61 > 64 << 10,
                "{}: {} bytes",
                v.name,
                plain.len()
            );
        }
        assert_eq!(batch::decompress(&plain).as_ref(), Ok(&plain), "{}", v.name);
        // Compressed by strom with the same codec, they read back the same.
        let again = batch::compress(&plain, v.compression()).expect("compress");
        assert_eq!(
            batch::check(&again).map(|h| h.compression()),
            Ok(v.compression()),
            "{}",
            v.name
        );
        assert_eq!(batch::decompress(&again).as_ref(), Ok(&plain), "{}", v.name);
    }
}

/// Compressed records are covered by the checksum like any other: a flipped bit in
/// kafka-python's compressed bytes is noticed before anything is decompressed.
#[test]
fn kafkas_checksum_covers_compressed_records() {
    for v in compressed()
        .into_iter()
        .filter(|v| v.name.ends_with("_few"))
    {
        for at in 61..v.bytes.len() {
            let mut damaged = v.bytes.clone();
            damaged[at] ^= 0x01;
            assert!(
                matches!(batch::check(&damaged), Err(DecodeError::Checksum { .. })),
                "{}: a flipped bit at {at} went unnoticed",
                v.name
            );
        }
    }
}

/// A strom log made of kafka-python's compressed batches, as a broker would hold them after
/// appending them: one segment file with every compressed vector at consecutive offsets (the
/// transactional producer's snappy batches followed by Kafka's commit marker for it), opened
/// by a broker that finds it without an index. A consumer reads every record as
/// kafka-python wrote it, in both isolation levels, from the start and from an offset inside
/// each compressed batch.
#[test]
fn a_strom_log_of_kafkas_compressed_batches_reads_back() -> strom::Result<()> {
    const TOPIC: &str = "kafka";
    let marker = vectors()
        .into_iter()
        .find(|v| v.name == "control_commit")
        .expect("vector");
    let mut segment = Vec::new();
    let mut want = Vec::new();
    // Where each compressed batch starts and one offset inside it.
    let mut inside = Vec::new();
    for v in compressed() {
        let placed = [Some(&v), (v.name == "snappy_many").then_some(&marker)];
        for v in placed.into_iter().flatten() {
            let base = next_offset(&segment);
            let mut moved = v.bytes.clone();
            batch::set_base_offset(&mut moved, base).expect("set_base_offset");
            segment.extend_from_slice(&moved);
            if v.is_control() {
                continue;
            }
            let records = v.records();
            let shift = v.header().base_offset;
            inside.push((
                v.name.clone(),
                base + records[records.len() / 2].offset - shift,
            ));
            want.extend(records.into_iter().map(|r| Rec {
                offset: r.offset - shift + base,
                ..r
            }));
        }
    }
    let end = next_offset(&segment);

    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    // Kept for ever: the records are from 2023 (one of them 2022).
    broker.create_topic(TOPIC, TopicConfig::default().partitions(1).retention_ms(-1))?;
    broker.close()?;
    let log = dir
        .path()
        .join(TOPIC)
        .join("0")
        .join("00000000000000000000");
    fs::write(log.with_extension("log"), &segment).expect("write segment");
    for ext in ["index", "timeindex"] {
        let _ = fs::remove_file(log.with_extension(ext));
    }
    let _ = fs::remove_file(dir.path().join(".clean"));

    let broker = Broker::open(dir.path())?;
    assert_eq!(
        broker.describe_topic(TOPIC)?.partitions[0].high_watermark,
        end
    );
    let tp = TopicPartition::new(TOPIC, 0);
    for isolation in [
        IsolationLevel::ReadUncommitted,
        IsolationLevel::ReadCommitted,
    ] {
        let config = ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .isolation_level(isolation);
        let mut consumer = broker.consumer(config);
        consumer.assign(std::slice::from_ref(&tp))?;
        let got = consume(&mut consumer, want.len())?;
        assert_eq!(got.len(), want.len(), "{isolation:?}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{isolation:?}");
        }
        for (name, offset) in &inside {
            consumer.seek(&tp, *offset)?;
            let at = want
                .iter()
                .position(|r| r.offset == *offset)
                .expect("a record");
            let got = consume(&mut consumer, want.len() - at)?;
            assert_eq!(got.first(), want.get(at), "{name}: from offset {offset}");
            assert_eq!(got.len(), want.len() - at, "{name}: from offset {offset}");
        }
    }
    broker.close()?;
    Ok(())
}

/// The offset after the last batch of `segment` (0 for none), as the batches' headers say.
fn next_offset(segment: &[u8]) -> u64 {
    let mut pos = 0;
    let mut next = 0;
    while pos < segment.len() {
        let header = batch::read_header(&segment[pos..]).expect("a batch");
        next = header.next_offset();
        pos += header.length as usize;
    }
    next
}

/// Polls until `n` records came (or a poll finds none), every record as a `Rec`.
fn consume(consumer: &mut strom::Consumer, n: usize) -> strom::Result<Vec<Rec>> {
    let mut got = Vec::new();
    while got.len() < n {
        let records = consumer.poll(std::time::Duration::from_secs(1))?;
        if records.is_empty() {
            break;
        }
        got.extend(records.iter().map(|r| {
            Rec {
                offset: r.offset(),
                timestamp: r.timestamp(),
                key: r.key().map(<[u8]>::to_vec),
                value: (!r.is_tombstone()).then(|| r.value().to_vec()),
                headers: r
                    .headers()
                    .map(|(k, v)| (k.as_bytes().to_vec(), Some(v.to_vec())))
                    .collect(),
            }
        }));
    }
    Ok(got)
}
