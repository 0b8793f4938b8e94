//! The reverse of `format_kafka_vectors`: a Kafka client's decoder reads what strom wrote.
//! A topic is written through strom's public API (keys, no key, empty keys and values,
//! tombstones, headers, binary and UTF-8 bytes, a large value, `send` and `send_batch`,
//! timestamps out of order, segments rolled), the broker is closed, and
//! `tests/fixtures/kafka_v2/decode_strom.py` decodes every segment file with kafka-python's
//! `DefaultRecordBatch`, validating each batch's CRC. Its records must be exactly the ones
//! sent, at the offsets the producer returned.
//!
//! The same records go to a topic per codec (none, gzip, snappy, lz4, zstd): kafka-python
//! decompresses strom's compressed batches with its own codecs (Python's gzip,
//! python-snappy, lz4's frames, zstandard), and must find batches compressed with the
//! topic's codec, and no other (a batch compression would not shrink stays uncompressed),
//! one of them a batch of more than 64 KiB of records, which the codecs write in several
//! blocks.
//!
//! It needs a Python interpreter with kafka-python and its codec packages, named by the
//! environment variable `STROM_KAFKA_PYTHON`; `.ci/run` creates one in a virtual
//! environment and sets it. Without the variable the test returns at once and checks
//! nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use strom::storage::batch;
use strom::{Broker, Compression, Record, RecordMetadata, Result, TopicConfig};

mod common;

use common::{fnv, segment_logs};

const PARTITIONS: u32 = 2;
const T0: i64 = 1_700_000_000_000;

/// A record as sent and as decoded: partition, offset, timestamp, key, value, headers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sent {
    partition: u32,
    offset: u64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
}

/// What a record holds, kept beside the `Record` that is sent.
struct Spec {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
    timestamp: Option<i64>,
    partition: Option<u32>,
}

impl Spec {
    fn new(value: &[u8]) -> Self {
        Self {
            key: None,
            value: Some(value.to_vec()),
            headers: Vec::new(),
            timestamp: None,
            partition: None,
        }
    }

    fn tombstone(key: &[u8]) -> Self {
        Self {
            key: Some(key.to_vec()),
            value: None,
            ..Self::new(b"")
        }
    }

    fn key(mut self, key: &[u8]) -> Self {
        self.key = Some(key.to_vec());
        self
    }

    fn header(mut self, name: &str, value: &[u8]) -> Self {
        self.headers.push((name.to_string(), value.to_vec()));
        self
    }

    fn at(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    fn partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }

    fn record(&self) -> Record {
        let mut record = match (&self.key, &self.value) {
            (Some(key), None) => Record::tombstone(key.clone()),
            (key, value) => {
                let record = Record::new(value.clone().unwrap_or_default());
                match key {
                    Some(key) => record.key(key.clone()),
                    None => record,
                }
            }
        };
        for (name, value) in &self.headers {
            record = record.header(name.clone(), value.clone());
        }
        if let Some(t) = self.timestamp {
            record = record.timestamp(t);
        }
        match self.partition {
            Some(p) => record.partition(p),
            None => record,
        }
    }

    fn sent(&self, meta: &RecordMetadata) -> Sent {
        if let Some(t) = self.timestamp {
            assert_eq!(meta.timestamp, t);
        }
        Sent {
            partition: meta.partition,
            offset: meta.offset,
            timestamp: meta.timestamp,
            key: self.key.clone(),
            value: self.value.clone(),
            headers: self.headers.clone(),
        }
    }
}

/// The topic of records compressed with `codec`.
fn topic(codec: Compression) -> String {
    format!("kafka-{codec}")
}

/// Writes the topic of `codec` and returns every record sent.
fn write(broker: &Broker, codec: Compression) -> Result<Vec<Sent>> {
    let topic = &topic(codec);
    // Small segments, so that the decoder also reads rolled (not only active) segments; kept
    // for ever, as the timestamps are in 2023.
    let config = TopicConfig::default()
        .partitions(PARTITIONS)
        .segment_bytes(4096)
        .retention_ms(-1)
        .compression(codec);
    broker.create_topic(topic, config)?;
    let producer = broker.producer();
    let mut sent = Vec::new();
    let one_by_one = [
        Spec::new(br#"{"amount":12.5}"#).key(b"user-1").at(T0),
        Spec::new(b"keyless").at(T0 + 1).partition(0),
        Spec::new(b"").key(b"").header("empty", b"").at(T0 + 2),
        Spec::tombstone(b"user-1").at(T0 + 3),
        Spec::new(&[0xc3, 0x28, 0xa0, 0xa1])
            .key(&[0x00, 0xff, 0x80])
            .header("dup", b"1")
            .header("dup", b"2")
            .at(T0 + 4),
        Spec::new("ünïcödé ✓".as_bytes())
            .key("ключ".as_bytes())
            .header("ヘッダ", "値".as_bytes())
            .at(T0 - 365 * common::DAY_MS),
        // The producer's clock stamps it.
        Spec::new(b"now").key(b"clock"),
        Spec::new(&vec![0x5a; 10_000])
            .key(b"big")
            .header("size", b"10000"),
    ];
    for spec in &one_by_one {
        let meta = producer.send(topic, spec.record())?;
        sent.push(spec.sent(&meta));
    }
    // Batches: one partition's, out of order in time, and one spread over both partitions
    // by key; enough bytes to roll segments several times, compressed too (each value has
    // a hash in it, which does not compress away).
    for round in 0..16_i64 {
        let batch: Vec<Spec> = (0..40_i64)
            .map(|i| {
                let value = format!(
                    "round {round} record {i} {:016x} {}",
                    fnv(format!("{round}.{i}").as_bytes()),
                    "x".repeat(usize::try_from(i).expect("i"))
                );
                let spec = Spec::new(value.as_bytes()).at(T0 + 1_000 * round + (i * 37) % 11 - 5);
                let spec = if i % 5 == 0 {
                    Spec::tombstone(format!("k{i}").as_bytes()).at(T0 + round)
                } else if round % 2 == 0 {
                    spec.partition(1)
                } else {
                    spec.key(format!("k{i}").as_bytes())
                };
                if i % 7 == 0 {
                    spec.header("round", round.to_string().as_bytes())
                } else {
                    spec
                }
            })
            .collect();
        let metas = producer.send_batch(topic, batch.iter().map(Spec::record))?;
        sent.extend(batch.iter().zip(&metas).map(|(s, m)| s.sent(m)));
    }
    // One batch of more than 64 KiB of records, which the codecs write in several blocks
    // (Xerial's snappy blocks hold 32 KiB of input, LZ4's 64 KiB).
    let big: Vec<Spec> = (0..300_i64)
        .map(|i| {
            let value = format!(
                r#"{{"reading":{i},"hash":"{:016x}","pad":"{}"}}"#,
                fnv(i.to_string().as_bytes()),
                "abc".repeat(80)
            );
            Spec::new(value.as_bytes())
                .key(format!("k{}", i % 7).as_bytes())
                .at(T0 + i)
                .partition(0)
        })
        .collect();
    let metas = producer.send_batch(topic, big.iter().map(Spec::record))?;
    sent.extend(big.iter().zip(&metas).map(|(s, m)| s.sent(m)));
    Ok(sent)
}

/// The most bytes of records a compressed batch of `topic`'s `partition` holds, as strom
/// decompresses them (0 for none).
fn largest_compressed(dir: &Path, topic: &str, partition: u32) -> usize {
    let mut largest = 0;
    for segment in segment_logs(dir, topic, partition) {
        let bytes = std::fs::read(segment).expect("segment");
        let mut pos = 0;
        while let Ok(header) = batch::read_header(&bytes[pos..]) {
            let end = pos + header.length as usize;
            if header.compression() != Compression::None {
                let plain = batch::decompress(&bytes[pos..end]).expect("decompress");
                largest = largest.max(plain.len() - batch::HEADER_BYTES);
            }
            pos = end;
        }
    }
    largest
}

/// A bytes field of the decoder's output: null or `{"hex": digits}`.
fn bytes(v: &Value) -> Option<Vec<u8>> {
    let digits = v.as_object()?["hex"].as_str().expect("hex");
    let pairs = (0..digits.len()).step_by(2);
    Some(
        pairs
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digit"))
            .collect(),
    )
}

/// Every record kafka-python decodes from the segments of `topic`'s `partition`, in file
/// order, with the codec of its batch (Kafka's number for it).
fn decode(python: &str, dir: &Path, topic: &str, partition: u32) -> Vec<(Sent, u8)> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kafka_v2/decode_strom.py");
    let mut out = Vec::new();
    let segments = segment_logs(dir, topic, partition);
    let run = Command::new(python)
        .arg(&script)
        .args(&segments)
        .output()
        .expect("run the Python interpreter STROM_KAFKA_PYTHON names");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "kafka-python refused {topic}-{partition}: {stderr}"
    );
    let stdout = String::from_utf8(run.stdout).expect("UTF-8 output");
    for line in stdout.lines() {
        let r: Value = serde_json::from_str(line).expect("a JSON line");
        assert!(r.get("control").is_none(), "strom wrote no marker here");
        let headers = r["headers"].as_array().expect("headers");
        let codec = r["codec"].as_u64().and_then(|c| u8::try_from(c).ok());
        let sent = Sent {
            partition,
            offset: r["offset"].as_u64().expect("offset"),
            timestamp: r["timestamp"].as_i64().expect("timestamp"),
            key: bytes(&r["key"]),
            value: bytes(&r["value"]),
            headers: headers
                .iter()
                .map(|h| {
                    let name = h[0].as_str().expect("header name").to_string();
                    let value = bytes(&h[1]).expect("strom writes no null header value");
                    (name, value)
                })
                .collect(),
        };
        out.push((sent, codec.expect("the batch's codec")));
    }
    out
}

#[test]
fn kafka_python_decodes_every_record_strom_wrote() -> Result<()> {
    let Ok(python) = std::env::var("STROM_KAFKA_PYTHON") else {
        return Ok(());
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    let mut sent = Vec::new();
    for codec in Compression::ALL {
        sent.push((codec, write(&broker, codec)?));
    }
    broker.close()?;
    for (codec, sent) in sent {
        let topic = &topic(codec);
        let mut want: BTreeMap<u32, Vec<Sent>> = BTreeMap::new();
        for s in sent {
            want.entry(s.partition).or_default().push(s);
        }
        for partition in 0..PARTITIONS {
            let mut want = want.remove(&partition).unwrap_or_default();
            want.sort_by_key(|s| s.offset);
            assert!(want.len() > 20, "{topic}-{partition} holds records");
            assert!(
                segment_logs(dir.path(), topic, partition).len() > 1,
                "{topic}-{partition} rolled"
            );
            let got = decode(&python, dir.path(), topic, partition);
            assert_eq!(got.len(), want.len(), "{topic}-{partition}");
            for ((g, _), w) in got.iter().zip(&want) {
                assert_eq!(g, w, "{topic}-{partition}");
            }
            // kafka-python found the topic's codec in batches, and no other: records it
            // decompressed, unless compression shrinks nothing (`None`).
            let mut codecs: Vec<u8> = got.iter().map(|(_, c)| *c).collect();
            codecs.dedup();
            codecs.sort_unstable();
            codecs.dedup();
            let compressed = got.iter().filter(|(_, c)| *c != 0).count();
            if codec == Compression::None {
                assert_eq!(codecs, [0], "{topic}-{partition}");
            } else {
                assert!(
                    codecs == [codec.code()] || codecs == [0, codec.code()],
                    "{topic}-{partition}: batches of codecs {codecs:?}"
                );
                assert!(
                    compressed * 2 > got.len(),
                    "{topic}-{partition}: {compressed} of {} records in compressed batches",
                    got.len()
                );
                if partition == 0 {
                    let largest = largest_compressed(dir.path(), topic, partition);
                    assert!(largest > 64 << 10, "{topic}-{partition}: {largest} bytes");
                }
            }
        }
    }
    Ok(())
}
