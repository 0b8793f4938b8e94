//! `strom mirror` as a process: killed with SIGKILL mid-copy and started again it neither
//! loses nor duplicates a record; following, it stops cleanly on SIGTERM; its refusals are
//! one clear line. The cluster is `strom serve`, a process of its own, or an in-process
//! server where the test must write the source while the mirror follows it.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{committed, copy_with_kills, held, strom};
use strom::{
    Broker, BrokerConfig, Consumer, ConsumerConfig, OffsetReset, Record, TopicConfig,
    TopicPartition,
};

/// A `strom serve` process over `dir`, and the address it printed.
struct Served {
    child: Child,
    address: String,
}

impl Served {
    fn start(dir: &Path) -> Self {
        let mut child = strom()
            .arg("--dir")
            .arg(dir)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--no-auto-create-topics",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("strom serve starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines.next().expect("a line").expect("utf-8");
        let address = line
            .split("listening on ")
            .nth(1)
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .trim()
            .to_owned();
        Self { child, address }
    }

    /// Stops the server with SIGTERM and waits for its clean exit.
    fn stop(mut self) {
        signal(&self.child, "TERM");
        assert!(self.child.wait().unwrap().success());
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Every record of `topic` in `dir` (opened read-only, beside a live server), per partition in
/// offset order, as (key, value).
fn records(dir: &Path, topic: &str, partitions: u32) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
    let broker = Broker::open_with(dir, BrokerConfig::default().read_only(true)).unwrap();
    let out = (0..partitions)
        .map(|p| {
            let tp = TopicPartition::new(topic, p);
            let end = broker.describe_topic(topic).unwrap().partitions[p as usize].high_watermark;
            let mut consumer = broker.consumer(ConsumerConfig::default());
            consumer.assign(std::slice::from_ref(&tp)).unwrap();
            consumer.seek(&tp, 0).unwrap();
            let mut got = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while (got.len() as u64) < end {
                assert!(
                    Instant::now() < deadline,
                    "{tp:?}: read {} of {end}",
                    got.len()
                );
                for r in consumer.poll(Duration::from_secs(1)).unwrap() {
                    got.push((r.key().unwrap_or_default().to_vec(), r.value().to_vec()));
                }
            }
            got
        })
        .collect();
    broker.close().unwrap();
    out
}

/// Partitions and records of the topic the kill tests copy.
const PARTITIONS: u32 = 3;
const RECORDS: u64 = 60_000;

/// Writes `RECORDS` keyed records to topic `orders` of a new directory at `dir`, in small
/// batches: many Produce requests, so that the kills land mid-copy.
fn fill(dir: &Path) {
    let broker = Broker::open(dir).unwrap();
    broker
        .create_topic("orders", TopicConfig::default().partitions(PARTITIONS))
        .unwrap();
    let producer = broker.producer();
    for chunk in 0..RECORDS / 20 {
        let batch: Vec<Record> = (0..20)
            .map(|i| {
                let n = chunk * 20 + i;
                Record::new(format!("order {n:>90}")).key(format!("user-{}", n % 97))
            })
            .collect();
        producer.send_batch("orders", batch).unwrap();
    }
    broker.close().unwrap();
}

/// `want` and `got` hold the same records, partition by partition, in order.
fn assert_same(want: &[Vec<(Vec<u8>, Vec<u8>)>], got: &[Vec<(Vec<u8>, Vec<u8>)>], kills: u32) {
    assert_eq!(got.len(), want.len());
    for (p, (want, got)) in want.iter().zip(got).enumerate() {
        assert_eq!(got.len(), want.len(), "partition {p} after {kills} kills");
        assert!(got == want, "partition {p} differs after {kills} kills");
    }
}

#[test]
fn a_mirror_killed_mid_copy_and_started_again_copies_every_record_once() {
    let source = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    fill(source.path());
    let server = Served::start(target.path());

    let kills = copy_with_kills(
        source.path(),
        &["--to", &server.address, "--topics", "orders"],
        RECORDS / 6,
        || held(target.path(), "orders"),
    );
    assert_same(
        &records(source.path(), "orders", PARTITIONS),
        &records(target.path(), "orders", PARTITIONS),
        kills,
    );
    // The mirror's group has no lag left.
    let lag = strom()
        .arg("--dir")
        .arg(source.path())
        .args(["groups", "describe", "strom-mirror", "--json"])
        .output()
        .unwrap();
    assert!(lag.status.success());
    let described: serde_json::Value = serde_json::from_slice(&lag.stdout).unwrap();
    let partitions = described["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), PARTITIONS as usize);
    assert!(partitions.iter().all(|p| p["lag"] == 0), "{described}");
    server.stop();
}

#[test]
fn an_import_killed_mid_copy_and_started_again_copies_every_record_once() {
    let source = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    fill(source.path());
    let server = Served::start(source.path());

    // The local directory does not exist until the import makes it.
    let kills = copy_with_kills(
        local.path(),
        &["--from", &server.address, "--topics", "orders"],
        RECORDS / 6,
        || held(local.path(), "orders"),
    );
    assert_same(
        &records(source.path(), "orders", PARTITIONS),
        &records(local.path(), "orders", PARTITIONS),
        kills,
    );
    server.stop();
}

/// tansu, the independent Kafka-compatible broker of kafka/tests/tansu.rs, with in-memory
/// storage on a free loopback port; killed when dropped.
struct Tansu {
    child: Child,
    address: String,
}

impl Tansu {
    /// Starts tansu (`STROM_TANSU`, else the one kafka/tests/tansu/install.sh installs);
    /// `None`, saying why, where it cannot run, except under CI, where that fails the test.
    fn start() -> Option<Self> {
        let binary = match std::env::var_os("STROM_TANSU") {
            Some(path) => std::path::PathBuf::from(path),
            None => {
                let script =
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kafka/tests/tansu/install.sh");
                let installed = Command::new("bash").arg(&script).output().unwrap();
                let stdout = String::from_utf8_lossy(&installed.stdout);
                // Its last line: `tansu VERSION at PATH`.
                match stdout.trim_end().rsplit_once(" at ") {
                    Some((_, path)) if installed.status.success() => path.into(),
                    _ => {
                        let why = String::from_utf8_lossy(&installed.stderr);
                        assert!(
                            std::env::var_os("CI").is_none(),
                            "CI needs tansu: {}",
                            why.trim()
                        );
                        eprintln!("skipped: no tansu ({})", why.trim());
                        return None;
                    }
                }
            }
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let mut child = Command::new(&binary)
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // tansu prints `ready in …` once it listens; what follows is drained so that it never
        // blocks on a full pipe.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|line| line.starts_with("ready in"));
        assert!(ready, "tansu on port {port} exited before it was ready");
        std::thread::spawn(move || lines.for_each(drop));
        Some(Self {
            child,
            address: format!("127.0.0.1:{port}"),
        })
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_mirror_into_tansu_killed_mid_copy_and_started_again_copies_every_record_once() {
    let Some(tansu) = Tansu::start() else {
        return;
    };
    let source = tempfile::tempdir().unwrap();
    fill(source.path());
    let kills = copy_with_kills(
        source.path(),
        &["--to", &tansu.address, "--topics", "orders"],
        RECORDS / 6,
        || committed(source.path()),
    );
    // Read back from tansu by importing it: the import is checked against tansu with an
    // independent reader in kafka/tests/tansu.rs.
    let check = tempfile::tempdir().unwrap();
    let broker = Broker::open(check.path()).unwrap();
    let imported = strom_kafka::Import::new(broker.clone(), tansu.address.as_str())
        .topics(["orders"])
        .once(true)
        .run()
        .unwrap();
    assert_eq!(imported.records, RECORDS, "after {kills} kills");
    broker.close().unwrap();
    assert_same(
        &records(source.path(), "orders", PARTITIONS),
        &records(check.path(), "orders", PARTITIONS),
        kills,
    );
}

#[test]
fn an_import_follows_the_cluster_and_stops_cleanly_on_sigterm() {
    // The source is served from this process, so the test can write to it while the
    // import follows.
    let cluster_dir = tempfile::tempdir().unwrap();
    let cluster = Broker::open(cluster_dir.path()).unwrap();
    cluster
        .create_topic("driver-location", TopicConfig::default().partitions(2))
        .unwrap();
    let server = strom_kafka::KafkaServer::bind(cluster.clone(), "127.0.0.1:0").unwrap();
    let address = server.local_addr().to_string();
    let producer = cluster.producer();
    producer
        .send(
            "driver-location",
            Record::new("59.91,10.75").key("driver-1"),
        )
        .unwrap();

    let local = tempfile::tempdir().unwrap();
    let mut import = strom()
        .arg("--dir")
        .arg(local.path())
        .args(["mirror", "--from", &address, "--topics", "driver-location"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(import.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains(&address), "{first}");

    // What arrives at the cluster while the import follows reaches the directory. The
    // directory is the import's; its progress is on the cluster.
    producer
        .send(
            "driver-location",
            Record::new("59.92,10.76").key("driver-2"),
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let committed: u64 = cluster
            .committed_offsets("strom-mirror")
            .unwrap()
            .iter()
            .map(|(_, offset)| offset)
            .sum();
        if committed == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the import did not follow");
        std::thread::yield_now();
    }
    signal(&import, "TERM");
    assert!(import.wait().unwrap().success());
    let last = lines.next().unwrap().unwrap();
    assert!(last.contains("copied 2 records"), "{last}");

    let broker = Broker::open(local.path()).unwrap();
    let described = broker.describe_topic("driver-location").unwrap();
    assert_eq!(described.partitions.len(), 2);
    let mut consumer: Consumer = broker.consumer(
        ConsumerConfig::default()
            .group_id("check")
            .auto_offset_reset(OffsetReset::Earliest),
    );
    consumer.subscribe(["driver-location"]).unwrap();
    let mut values = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while values.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "read {values:?} of 2 imported records"
        );
        for r in consumer.poll(Duration::from_secs(1)).unwrap() {
            values.push(String::from_utf8(r.value().to_vec()).unwrap());
        }
    }
    values.sort();
    assert_eq!(values, ["59.91,10.75", "59.92,10.76"]);
    broker.close().unwrap();
    server.shutdown().unwrap();
    cluster.close().unwrap();
}

fn fails(output: &Output, needle: &str) {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn refusals_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker
        .create_topic("orders", TopicConfig::default())
        .unwrap();
    // A directory another process holds: the mirror commits, so it needs it to itself.
    let held = strom()
        .arg("--dir")
        .arg(dir.path())
        .args([
            "mirror",
            "--to",
            "127.0.0.1:9",
            "--topics",
            "orders",
            "--once",
        ])
        .output()
        .unwrap();
    fails(&held, "held by");
    broker.close().unwrap();

    // A topic that does not exist is named before any network is tried.
    let missing = strom()
        .arg("--dir")
        .arg(dir.path())
        .args([
            "mirror",
            "--to",
            "127.0.0.1:9",
            "--topics",
            "ordres",
            "--once",
        ])
        .output()
        .unwrap();
    fails(&missing, "ordres");

    // Nothing listens: unavailable once the patience is spent.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let absent = strom()
        .arg("--dir")
        .arg(dir.path())
        .args([
            "mirror",
            "--to",
            &format!("127.0.0.1:{port}"),
            "--topics",
            "orders",
        ])
        .args(["--once", "--patience", "0"])
        .output()
        .unwrap();
    fails(&absent, "unavailable");

    // Neither --to nor --from, or both: a usage error.
    let usage = strom()
        .arg("--dir")
        .arg(dir.path())
        .args(["mirror", "--topics", "orders"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
    let both = strom()
        .arg("--dir")
        .arg(dir.path())
        .args([
            "mirror", "--to", "a:1", "--from", "b:2", "--topics", "orders",
        ])
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2));
}
