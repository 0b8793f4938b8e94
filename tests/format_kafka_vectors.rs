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

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use strom::storage::batch::{
    self, BatchHeader, ControlRecord, ControlType, DecodeError, Entry, Origin,
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

fn vectors() -> Vec<Vector> {
    let text = fs::read_to_string(dir().join("vectors.json")).expect("vectors.json");
    let all: Value = serde_json::from_str(&text).expect("vectors.json is JSON");
    all["vectors"]
        .as_array()
        .expect("vectors")
        .iter()
        .map(|v| {
            let name = v["name"].as_str().expect("name").to_string();
            let file = v["file"].as_str().expect("file");
            let bytes = fs::read(dir().join(file)).expect("vector file");
            Vector {
                name,
                json: v.clone(),
                bytes,
            }
        })
        .collect()
}

/// Every record of a batch as strom's public API reads it.
fn read_records(batch: &[u8]) -> Vec<Rec> {
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
        ]
    );
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
        assert_eq!(header.compression(), strom::Compression::None, "{}", v.name);
        assert_eq!(
            header.next_offset(),
            want.base_offset + u64::from(want.last_offset_delta) + 1,
            "{}",
            v.name
        );
        // The records' iterator reports the same header.
        assert_eq!(
            *batch::records(&v.bytes).expect("records").header(),
            want,
            "{}",
            v.name
        );
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
        let len = batch::encoded_len(&entries);
        assert_eq!(len, v.bytes.len(), "{}: encoded_len", v.name);
        let mut buf = vec![0; len];
        let written = batch::encode_with(&mut buf, header.base_offset, v.origin(), &entries)
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(written, len, "{}", v.name);
        assert_same_but_leader_epoch(&v.name, &buf, &v.bytes);
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
    assert_eq!(compared, 7, "every encodable data vector compared");
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
