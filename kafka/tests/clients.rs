//! Kafka's own clients and tools against strom's Kafka-protocol server.
//!
//! Each program in `tests/clients/` (kafka-python, confluent-kafka and kcat, every one proven
//! against Apache Kafka by `tests/reference/broker.sh run tests/clients/run_all.sh`) runs
//! against a `KafkaServer` over a fresh data directory and must exit 0: a program prints
//! `FAIL <program>: <what>` on the first answer that differs from Kafka's, and the test shows
//! it. Beyond the programs: kcat lists topics; kafka-python's admin client creates, lists
//! and deletes them and confluent-kafka's lists them; `restart_resume` closes the server and
//! the broker between its two runs; a remote member (`group_member.py`) and an in-process
//! strom consumer split one group's partitions.
//!
//! kcat comes from PATH. The Python clients come from the virtualenv named by
//! `STROM_KAFKA_VENV`, else from `target/kafka-clients-venv`, created on first use from
//! `tests/clients/requirements.txt` (the pinned clients and the codec packages kafka-python
//! compresses with). A client that cannot be found or installed fails the test under CI
//! (`CI` set) and skips it, saying why, elsewhere.

#![allow(
    clippy::big_endian_bytes,
    reason = "Kafka's wire protocol is big-endian (the shared test client in common/)"
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use strom::{Broker, ConsumerConfig, OffsetReset, Record, TopicConfig};
use strom_kafka::KafkaServer;

mod common;

use common::venv::{clients_dir, python, unavailable};

/// Whether kcat is on PATH (else skipped, or a failure under CI).
fn kcat_on_path() -> bool {
    Command::new("kcat").arg("-V").output().is_ok()
        || unavailable::<()>("kcat is not on PATH").is_some()
}

fn serve() -> (tempfile::TempDir, Broker, KafkaServer) {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
    (dir, broker, server)
}

/// Runs `command`, returning its stdout; panics with its stderr if it fails.
fn run_command(command: &mut Command) -> String {
    let output = command.output().expect("the client starts");
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs `program` against `bootstrap` with name prefix `prefix` and `extra` arguments; returns
/// its one line of JSON, failing the test with the program's output if it did not pass.
fn run(python: &Path, program: &str, bootstrap: &str, prefix: &str, extra: &[&str]) -> String {
    let output = Command::new(python)
        .arg(clients_dir().join(format!("{program}.py")))
        .arg(bootstrap)
        .arg(prefix)
        .args(extra)
        .current_dir(clients_dir())
        // Each program ends itself at its own deadline (it never waits unbounded), so the
        // test cannot hang on it.
        .env("PROGRAM_TIMEOUT", "150")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}.py with {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program} against strom at {bootstrap}: {}\n--- stderr\n{stderr}\n--- stdout\n{stdout}",
        output.status
    );
    let summary = stdout.lines().last().unwrap_or_default().to_string();
    assert!(
        summary.contains("\"ok\": true"),
        "{program}: no summary line in {stdout}"
    );
    summary
}

/// `program` against a server over a fresh data directory.
fn against_strom(program: &str) {
    let Some(python) = python() else { return };
    if program.starts_with("kcat") && !kcat_on_path() {
        return;
    }
    let (_dir, broker, server) = serve();
    let bootstrap = server.local_addr().to_string();
    let summary = run(&python, program, &bootstrap, "strom", &[]);
    eprintln!("{summary}");
    server.shutdown().unwrap();
    broker.close().unwrap();
}

macro_rules! client_programs {
    ($($program:ident),* $(,)?) => {
        $(
            #[test]
            fn $program() {
                against_strom(stringify!($program));
            }
        )*
    };
}

client_programs!(
    produce_consume_kafka_python,
    produce_consume_confluent,
    compressed_records,
    groups_kafka_python,
    groups_confluent,
    offsets_for_times,
    offset_metadata,
    idempotent_producers,
    transactions_confluent,
    transactions_kafka_python,
    admin,
    admin_configs,
    kcat,
    group_two_members,
    weather,
);

/// Records, a group's committed offsets and transactions' outcomes survive closing the server
/// and the broker and opening them again on the same directory (a new port: the program is
/// given the new address).
#[test]
fn restart_resume() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    for phase in ["before", "after"] {
        let broker = Broker::open(dir.path()).unwrap();
        let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
        let bootstrap = server.local_addr().to_string();
        let summary = run(&python, "restart_resume", &bootstrap, "strom", &[phase]);
        eprintln!("{summary}");
        server.shutdown().unwrap();
        broker.close().unwrap();
    }
}

/// Starts `group_member.py` as one of 2 members of `group`; its lines arrive on a thread (the
/// receiver), so that the test keeps polling (and so keeps its membership) while it waits.
fn remote_member(
    python: &Path,
    bootstrap: &str,
    topic: &str,
    group: &str,
    per_partition: u64,
) -> (Child, mpsc::Receiver<Value>) {
    let mut remote = Command::new(python)
        .arg(clients_dir().join("group_member.py"))
        .args([bootstrap, "strom", topic, group, "2"])
        .arg(per_partition.to_string())
        .current_dir(clients_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start group_member.py");
    let (lines_tx, lines) = mpsc::channel::<Value>();
    let stdout = remote.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(serde_json::from_str(&line).unwrap_or(Value::Null));
        }
    });
    (remote, lines)
}

/// `per_partition` records `P-I` to each of `partitions` partitions, in process.
fn send_per_partition(broker: &Broker, topic: &str, partitions: u32, per_partition: u64) {
    let producer = broker.producer();
    for p in 0..partitions {
        for i in 0..per_partition {
            producer
                .send(topic, Record::new(format!("{p}-{i}")).partition(p))
                .unwrap();
        }
    }
}

/// A remote member (confluent-kafka, `group_member.py`) and an in-process strom consumer of one
/// group split a 4-partition topic, 2 partitions each; each reads exactly its partitions'
/// records.
#[test]
fn remote_and_in_process_members_split_a_group() {
    const PER_PARTITION: u64 = 25;
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    let (topic, group) = ("split", "mixed-group");
    broker
        .create_topic(topic, TopicConfig::default().partitions(4))
        .unwrap();
    let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
    let bootstrap = server.local_addr().to_string();
    let (mut remote, lines) = remote_member(&python, &bootstrap, topic, group, PER_PARTITION);
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .group_id(group)
            .auto_offset_reset(OffsetReset::Earliest)
            .enable_auto_commit(false),
    );
    consumer.subscribe([topic]).unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut remote_partitions: Option<Vec<u64>> = None;
    let mut local_read: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    let mut records_sent = false;
    let mut remote_read = None;
    while remote_read.is_none() || local_read.values().map(Vec::len).sum::<usize>() < 50 {
        assert!(Instant::now() < deadline, "no split and read within 60 s");
        for record in consumer.poll(Duration::from_millis(50)).unwrap() {
            assert!(records_sent, "a record before the split");
            local_read
                .entry(record.partition())
                .or_default()
                .push(record.offset());
        }
        let line = match lines.try_recv() {
            Ok(line) => Some(line),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => {
                panic!("group_member.py ended early: {:?}", remote.wait())
            }
        };
        if let Some(line) = line {
            if let Some(assigned) = line.get("assigned").filter(|_| line.get("read").is_none()) {
                remote_partitions = Some(
                    assigned
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(Value::as_u64)
                        .collect(),
                );
            } else {
                assert_eq!(line["ok"], true, "the remote member's summary: {line}");
                remote_read = Some(line);
            }
        }
        let local: Vec<u64> = consumer
            .assignment()
            .iter()
            .map(|tp| u64::from(tp.partition))
            .collect();
        if let (false, Some(remote)) = (records_sent, &remote_partitions) {
            if local.len() == 2 {
                let mut all: Vec<u64> = local.iter().chain(remote).copied().collect();
                all.sort_unstable();
                assert_eq!(all, [0, 1, 2, 3], "the members' partitions");
                send_per_partition(&broker, topic, 4, PER_PARTITION);
                records_sent = true;
            }
        }
    }
    consumer.commit().unwrap();
    let remote_partitions = remote_partitions.unwrap();
    for (p, offsets) in &local_read {
        assert!(
            !remote_partitions.contains(&u64::from(*p)),
            "partition {p} read by both"
        );
        assert_eq!(
            *offsets,
            (0..PER_PARTITION).collect::<Vec<_>>(),
            "offsets read in {p}"
        );
    }
    let remote_read = remote_read.unwrap();
    for p in &remote_partitions {
        let values: Vec<String> = (0..PER_PARTITION).map(|i| format!("{p}-{i}")).collect();
        assert_eq!(
            remote_read["read"][p.to_string()],
            serde_json::json!(values)
        );
    }
    drop(remote.stdin.take()); // the remote member leaves once its input closes
    assert!(
        remote.wait().unwrap().success(),
        "group_member.py's exit status"
    );
    consumer.close().unwrap();
    server.shutdown().unwrap();
    broker.close().unwrap();
}

#[test]
fn kcat_lists_the_topics() {
    if !kcat_on_path() {
        return;
    }
    let (_dir, broker, server) = serve();
    broker
        .create_topic("alpha", TopicConfig::default().partitions(2))
        .unwrap();
    broker.create_topic("beta", TopicConfig::default()).unwrap();
    let listing = run_command(Command::new("kcat").args([
        "-b",
        &server.local_addr().to_string(),
        "-L",
        "-m",
        "20",
    ]));
    assert!(listing.contains("1 brokers:"), "{listing}");
    assert!(
        listing.contains(&format!("broker 0 at {}", server.local_addr())),
        "{listing}"
    );
    assert!(listing.contains("2 topics:"), "{listing}");
    assert!(
        listing.contains("topic \"alpha\" with 2 partitions:"),
        "{listing}"
    );
    assert!(
        listing.contains("topic \"beta\" with 1 partitions:"),
        "{listing}"
    );
    assert!(
        listing.contains("partition 1, leader 0, replicas: 0, isrs: 0"),
        "{listing}"
    );
}

/// kafka-python's admin client: create, list, delete, list.
const ADMIN_SCRIPT: &str = r#"
import sys
from kafka.admin import KafkaAdminClient, NewTopic
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=20000)
admin.create_topics([NewTopic("made-by-python", num_partitions=3, replication_factor=1,
                              topic_configs={"retention.ms": "3600000"})])
print("after create:", ",".join(sorted(admin.list_topics())))
admin.delete_topics(["made-by-python"])
print("after delete:", ",".join(sorted(admin.list_topics())))
admin.close()
"#;

/// confluent-kafka's admin client lists topics with their partition counts.
const CONFLUENT_SCRIPT: &str = r#"
import sys
from confluent_kafka.admin import AdminClient
admin = AdminClient({"bootstrap.servers": sys.argv[1]})
meta = admin.list_topics(timeout=20)
print(",".join(f"{t}:{len(m.partitions)}" for t, m in sorted(meta.topics.items())))
"#;

#[test]
fn kafka_python_admin_creates_lists_and_deletes_topics() {
    let Some(python) = python() else { return };
    let (_dir, broker, server) = serve();
    broker
        .create_topic("existing", TopicConfig::default())
        .unwrap();
    let out = run_command(Command::new(&python).args([
        "-c",
        ADMIN_SCRIPT,
        &server.local_addr().to_string(),
    ]));
    assert!(
        out.contains("after create: existing,made-by-python\n"),
        "{out}"
    );
    assert!(out.contains("after delete: existing\n"), "{out}");
    assert_eq!(broker.topics(), ["existing"]);

    // Created and kept this time, seen by confluent-kafka with its partitions.
    broker
        .create_topic("made-in-process", TopicConfig::default().partitions(4))
        .unwrap();
    let listed = run_command(Command::new(&python).args([
        "-c",
        CONFLUENT_SCRIPT,
        &server.local_addr().to_string(),
    ]));
    assert_eq!(listed.trim(), "existing:1,made-in-process:4");
}

/// `strom_kafka::Import` from a source whose records librdkafka wrote (`import_source.py`:
/// lz4 batches of keyed records with headers, a committed and an aborted transaction): each
/// partition here holds the source's committed records, in order, and no others.
#[test]
fn import_from_a_confluent_producer() {
    use strom::{IsolationLevel, TopicPartition};

    let Some(python) = python() else { return };
    let (_dir, source, server) = serve();
    let bootstrap = server.local_addr().to_string();
    let summary: Value =
        serde_json::from_str(&run(&python, "import_source", &bootstrap, "strom", &[])).unwrap();
    let topic = summary["topic"].as_str().unwrap();

    let here_dir = tempfile::tempdir().unwrap();
    let here = Broker::open(here_dir.path()).unwrap();
    let imported = strom_kafka::Import::new(here.clone(), bootstrap)
        .topics([topic])
        .once(true)
        .run()
        .unwrap();
    assert_eq!(imported.records, summary["committed"].as_u64().unwrap());

    let read = |broker: &Broker, partition: u32| {
        let tp = TopicPartition::new(topic, partition);
        let end =
            broker.describe_topic(topic).unwrap().partitions[partition as usize].last_stable_offset;
        let mut consumer = broker
            .consumer(ConsumerConfig::default().isolation_level(IsolationLevel::ReadCommitted));
        consumer.assign(std::slice::from_ref(&tp)).unwrap();
        consumer
            .seek_to_beginning(std::slice::from_ref(&tp))
            .unwrap();
        let mut out = Vec::new();
        while consumer.position(&tp).unwrap() < end {
            for r in &consumer.poll(Duration::from_secs(5)).unwrap() {
                let headers: Vec<(String, Vec<u8>)> = r
                    .headers()
                    .map(|(k, v)| (k.to_string(), v.to_vec()))
                    .collect();
                out.push((
                    r.key().map(<[u8]>::to_vec),
                    r.value().to_vec(),
                    headers,
                    r.timestamp(),
                ));
            }
        }
        out
    };
    let mut total = 0;
    for partition in 0..3 {
        let ours = read(&here, partition);
        assert_eq!(ours, read(&source, partition), "{topic}/{partition}");
        assert!(ours
            .iter()
            .all(|(_, value, _, _)| !value.starts_with(b"abort")));
        total += ours.len();
    }
    assert_eq!(total, 36);
    // librdkafka's lz4 batches, stored here as they came.
    let fetched = here
        .fetch_batches(
            &TopicPartition::new(topic, 0),
            0,
            1 << 20,
            IsolationLevel::ReadCommitted,
        )
        .unwrap();
    assert_eq!(
        strom::storage::batch::check(&fetched.bytes)
            .unwrap()
            .compression(),
        strom::Compression::Lz4
    );
    here.close().unwrap();
    server.shutdown().unwrap();
    source.close().unwrap();
}
