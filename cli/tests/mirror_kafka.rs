//! `strom mirror` against Apache Kafka itself, both ways, killed with SIGKILL mid-copy and
//! started again until a run finishes.
//!
//! - Out (`--to`): two topics of 3 partitions, one of them zstd-compressed, with keys (and
//!   none), headers and timestamps, copied into a single-node Kafka 4.4.0.
//! - In (`--from`): a topic of 3 partitions that confluent-kafka filled with lz4 batches, a
//!   committed and an aborted transaction, copied into a new strom directory.
//!
//! Each side is then read with `read_committed`, strom's by its own consumer and Kafka's by
//! confluent-kafka (`kafka/tests/clients/read_committed.py`, which shares no code with strom),
//! and the two are compared record by record: partition, order, key, value, headers and
//! timestamp (and offset where the copy keeps them). Nothing lost, nothing twice. Kafka's
//! `DumpLogSegments` shows the zstd batches stored still compressed.
//!
//! Kafka is started by `kafka/tests/reference/broker.sh` from the jars it caches
//! (`KAFKA_CACHE`, else `target/kafka-reference`), with Java 17, Maven and kcat from PATH; the
//! Python clients come from `STROM_KAFKA_VENV`, else `target/kafka-clients-venv`. Without
//! them the test is skipped, saying why, except under CI (`CI` set), where it fails.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use strom::{
    Broker, BrokerConfig, Compression, ConsumerConfig, IsolationLevel, Record, TopicConfig,
    TopicPartition,
};

use common::{committed, copy_with_kills, held};

/// Partitions of every topic copied, and records of each topic the mirror copies out.
const PARTITIONS: u32 = 3;
const RECORDS: u64 = 30_000;
/// The topics copied out: the same records, stored plain and zstd-compressed.
const OUT_TOPICS: [(&str, Compression); 2] = [
    ("orders", Compression::None),
    ("orders-zstd", Compression::Zstd),
];
/// The topic copied in, and the records its plain producer writes (the committed
/// transaction adds 4 a partition).
const IN_TOPIC: &str = "readings";
const IN_RECORDS: u64 = 20_000;

/// `None` (the test skipped, saying why) or, under CI, a panic: CI runs against Kafka.
fn unavailable<T>(why: &str) -> Option<T> {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI needs Apache Kafka and the Python clients: {why}"
    );
    eprintln!("skipped: {why}");
    None
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn broker_sh() -> PathBuf {
    repository().join("kafka/tests/reference/broker.sh")
}

/// A single-node Apache Kafka started by broker.sh in a scratch directory, stopped (SIGTERM,
/// then waited for) when dropped.
struct Kafka {
    dir: tempfile::TempDir,
    bootstrap: String,
}

impl Kafka {
    fn start() -> Option<Self> {
        for (tool, arg) in [("java", "-version"), ("kcat", "-V")] {
            if !Command::new(tool)
                .arg(arg)
                .output()
                .is_ok_and(|o| o.status.success())
            {
                return unavailable(&format!("{tool} is not on PATH"));
            }
        }
        let fetched = Command::new("bash")
            .arg(broker_sh())
            .arg("fetch")
            .output()
            .unwrap();
        if !fetched.status.success() {
            return unavailable(&format!(
                "broker.sh fetch failed: {}",
                String::from_utf8_lossy(&fetched.stderr).trim()
            ));
        }
        let dir = tempfile::tempdir().unwrap();
        let started = Command::new("bash")
            .arg(broker_sh())
            .arg("start")
            .arg(dir.path())
            .output()
            .unwrap();
        // Once java and the jars are there, a Kafka that does not start is a failure.
        assert!(
            started.status.success(),
            "Kafka did not start in {}: {}",
            dir.path().display(),
            String::from_utf8_lossy(&started.stderr)
        );
        let bootstrap = std::fs::read_to_string(dir.path().join("bootstrap"))
            .unwrap()
            .trim()
            .to_owned();
        Some(Self { dir, bootstrap })
    }
}

impl Drop for Kafka {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(broker_sh())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// The Python of the clients' virtual environment (`STROM_KAFKA_VENV`, else the one
/// kafka/tests/clients.rs makes under `target/`), if it has confluent-kafka.
fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("STROM_KAFKA_VENV").map_or_else(
        || repository().join("target/kafka-clients-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    if Command::new(&python)
        .args(["-c", "import confluent_kafka"])
        .status()
        .is_ok_and(|s| s.success())
    {
        Some(python)
    } else {
        unavailable(&format!(
            "no confluent-kafka in {} (see kafka/tests/clients/requirements.txt)",
            venv.display()
        ))
    }
}

/// Runs `kafka/tests/clients/SCRIPT ARGS` and returns its stdout's lines, parsed as JSON.
fn client(python: &Path, script: &str, args: &[&str]) -> Vec<Value> {
    let output = Command::new(python)
        .arg(repository().join("kafka/tests/clients").join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{script} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

/// What confluent-kafka reads of `topic` at `bootstrap` with `read_committed`: one JSON value
/// a record, partition by partition, in offset order.
fn kafka_records(python: &Path, bootstrap: &str, topic: &str) -> Vec<Value> {
    let mut lines = client(python, "read_committed.py", &[bootstrap, topic]);
    let head = lines.remove(0);
    assert_eq!(head["partitions"], PARTITIONS, "{topic} at {bootstrap}");
    lines
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// What strom's own consumer reads of `topic` in `dir` with `read_committed`, in
/// `read_committed.py`'s shape: every partition from offset 0 to its high watermark.
fn strom_records(dir: &Path, topic: &str) -> Vec<Value> {
    let broker = Broker::open_with(dir, BrokerConfig::default().read_only(true)).unwrap();
    let described = broker.describe_topic(topic).unwrap();
    assert_eq!(described.partitions.len(), PARTITIONS as usize, "{topic}");
    let mut out = Vec::new();
    for (p, partition) in (0..PARTITIONS).zip(&described.partitions) {
        let tp = TopicPartition::new(topic, p);
        let end = partition.high_watermark;
        let mut consumer = broker
            .consumer(ConsumerConfig::default().isolation_level(IsolationLevel::ReadCommitted));
        consumer.assign(std::slice::from_ref(&tp)).unwrap();
        consumer.seek(&tp, 0).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while consumer.position(&tp).unwrap() < end {
            assert!(Instant::now() < deadline, "{tp:?}: not at {end} in 60 s");
            for r in consumer.poll(Duration::from_secs(1)).unwrap() {
                let headers: Vec<Value> = r
                    .headers()
                    .map(|(name, value)| json!([name, hex(value)]))
                    .collect();
                out.push(json!({
                    "partition": r.partition(),
                    "offset": r.offset(),
                    "timestamp": r.timestamp(),
                    "key": r.key().map(hex),
                    "value": (!r.is_tombstone()).then(|| hex(r.value())),
                    "headers": headers,
                }));
            }
        }
    }
    broker.close().unwrap();
    out
}

/// Drops each record's offset: where the source holds transaction markers and aborted
/// records, the copy numbers its records afresh.
fn without_offsets(records: &[Value]) -> Vec<Value> {
    records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.as_object_mut().unwrap().remove("offset");
            r
        })
        .collect()
}

/// `got` holds exactly `want`'s records, in the same order; a difference names the first
/// record that differs rather than printing thousands.
fn assert_same(what: &str, want: &[Value], got: &[Value], kills: u32) {
    if let Some(i) = (0..want.len().min(got.len())).find(|&i| want[i] != got[i]) {
        panic!(
            "{what}, after {kills} kills: record {i} differs: want {}, got {}",
            want[i], got[i]
        );
    }
    assert_eq!(
        got.len(),
        want.len(),
        "{what}, after {kills} kills: records held"
    );
}

/// Writes `RECORDS` records to each of `OUT_TOPICS` in a new directory at `dir`, in small
/// batches (many Produce requests, so that the kills land mid-copy): keys (none for every
/// thirteenth), two headers and a timestamp of their own.
fn fill(dir: &Path) {
    let broker = Broker::open(dir).unwrap();
    for (topic, compression) in OUT_TOPICS {
        broker
            .create_topic(
                topic,
                TopicConfig::default()
                    .partitions(PARTITIONS)
                    .compression(compression),
            )
            .unwrap();
        let producer = broker.producer();
        for chunk in 0..RECORDS / 20 {
            let batch: Vec<Record> = (0..20)
                .map(|i| {
                    let n = chunk * 20 + i;
                    let record = Record::new(format!("order {n:>90}"))
                        .header("seq", n.to_string())
                        .header("origin", "strom")
                        .timestamp(1_700_000_000_000 + i64::try_from(n).unwrap());
                    if n % 13 == 0 {
                        record
                    } else {
                        record.key(format!("user-{}", n % 97))
                    }
                })
                .collect();
            producer.send_batch(topic, batch).unwrap();
        }
    }
    broker.close().unwrap();
}

/// strom → Kafka: every record of both topics once in Kafka, as strom holds it.
fn mirror_into(kafka: &Kafka, python: &Path) {
    let source = tempfile::tempdir().unwrap();
    fill(source.path());
    let topics = OUT_TOPICS.map(|(topic, _)| topic).join(",");
    let total = RECORDS * OUT_TOPICS.len() as u64;
    let kills = copy_with_kills(
        source.path(),
        &["--to", &kafka.bootstrap, "--topics", &topics],
        total / 6,
        || committed(source.path()),
    );
    eprintln!("strom → Kafka: {total} records in {kills} runs killed and a last one");
    for (topic, _) in OUT_TOPICS {
        let want = strom_records(source.path(), topic);
        assert_eq!(want.len() as u64, RECORDS, "{topic} in strom");
        // Offsets too: the source has no transactions, so the copy's offsets are its own.
        assert_same(
            &format!("{topic} in Kafka"),
            &want,
            &kafka_records(python, &kafka.bootstrap, topic),
            kills,
        );
    }
    // Kafka keeps the batches as the mirror sent them: the zstd topic's still compressed
    // (stored batches go as they are), the plain topic's small ones joined uncompressed.
    assert_eq!(
        stored_codecs(kafka, "orders-zstd"),
        BTreeSet::from(["zstd".to_owned()])
    );
    assert_eq!(
        stored_codecs(kafka, "orders"),
        BTreeSet::from(["none".to_owned()])
    );
}

/// The codecs of the batches Kafka stored in partition 0 of `topic`, as Kafka's own
/// `DumpLogSegments` reads them from its data directory.
fn stored_codecs(kafka: &Kafka, topic: &str) -> BTreeSet<String> {
    let segment = kafka
        .dir
        .path()
        .join(format!("data/{topic}-0/00000000000000000000.log"));
    let output = Command::new("bash")
        .arg(broker_sh())
        .args(["tool", "org.apache.kafka.tools.DumpLogSegments", "--files"])
        .arg(&segment)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "DumpLogSegments {}: {}",
        segment.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    // One line a batch: `baseOffset: 0 lastOffset: 19 count: 20 ... compresscodec: zstd ...`.
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split("compresscodec: ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Kafka → strom: the local topic holds exactly Kafka's committed records.
fn import_from(kafka: &Kafka, python: &Path) {
    let produced = client(
        python,
        "produce_transactions.py",
        &[
            &kafka.bootstrap,
            IN_TOPIC,
            &PARTITIONS.to_string(),
            &IN_RECORDS.to_string(),
        ],
    );
    let committed_records = IN_RECORDS + 4 * u64::from(PARTITIONS);
    assert_eq!(produced[0]["committed"], committed_records);
    let local = tempfile::tempdir().unwrap();
    let kills = copy_with_kills(
        local.path(),
        &["--from", &kafka.bootstrap, "--topics", IN_TOPIC],
        committed_records / 6,
        || held(local.path(), IN_TOPIC),
    );
    eprintln!("Kafka → strom: {committed_records} records in {kills} runs killed and a last one");
    let want = kafka_records(python, &kafka.bootstrap, IN_TOPIC);
    assert_eq!(want.len() as u64, committed_records, "{IN_TOPIC} in Kafka");
    assert_same(
        &format!("{IN_TOPIC} imported"),
        &without_offsets(&want),
        &without_offsets(&strom_records(local.path(), IN_TOPIC)),
        kills,
    );
}

/// Both directions against one Kafka: a broker starts in tens of seconds and takes half a
/// gigabyte, so the two copies share it, on topics of their own.
#[test]
fn mirrors_to_and_from_apache_kafka_killed_mid_copy_copy_every_record_once() {
    let Some(python) = python() else {
        return;
    };
    let Some(kafka) = Kafka::start() else {
        return;
    };
    mirror_into(&kafka, &python);
    import_from(&kafka, &python);
}
