//! Kafka's own consumers and transactional producers against the group and transaction
//! coordinator: kafka-python and confluent-kafka (librdkafka) consumers of one group split
//! its partitions and see each other's commits, a kafka-python consumer shares a group with
//! an in-process consumer, and a confluent-kafka transactional producer commits, aborts and
//! is fenced. Nothing here needs records: the consumers' fetches find none.
//!
//! The Python clients come from the virtualenv named by `STROM_KAFKA_VENV` (as `.ci/run`
//! sets it), else from `target/kafka-clients-venv` (which `clients.rs` creates); without
//! them a test fails under CI (`CI` set) and is skipped, saying why, elsewhere.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use strom::{Broker, ConsumerConfig, TopicConfig, TopicPartition};
use strom_kafka::KafkaServer;

/// The venv's Python with both clients, or why not (a panic under CI).
fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("STROM_KAFKA_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/kafka-clients-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import kafka, confluent_kafka"])
        .status()
        .is_ok_and(|s| s.success());
    if ready {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI needs kafka-python and confluent-kafka in {}",
        venv.display()
    );
    eprintln!(
        "skipped: no kafka-python and confluent-kafka in {}",
        venv.display()
    );
    None
}

fn serve() -> (tempfile::TempDir, Broker, KafkaServer) {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker
        .create_topic("clicks", TopicConfig::default().partitions(4))
        .unwrap();
    let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
    (dir, broker, server)
}

/// Runs `script` with the bootstrap address and `args`; its stdout, or a panic with its
/// output if it fails.
fn run(python: &Path, script: &str, server: &KafkaServer, args: &[&str]) -> String {
    let output = Command::new(python)
        .args(["-c", script, &server.local_addr().to_string()])
        .args(args)
        .output()
        .expect("python starts");
    assert!(
        output.status.success(),
        "the client program failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Two consumers of one group, of either client: alone, the first gets all 4 partitions;
/// with the second, each gets 2, disjoint; a commit of one is seen by the other.
const TWO_CONSUMERS: &str = r#"
import sys, time
b, client, strategy = sys.argv[1], sys.argv[2], sys.argv[3]
group = f"{client}-{strategy}"
if client == "kafka-python":
    import logging
    logging.disable(logging.CRITICAL)  # the fetches fail: no Fetch is needed here
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    assignors = {"range": [RangePartitionAssignor], "roundrobin": [RoundRobinPartitionAssignor]}
    def consumer():
        c = KafkaConsumer(bootstrap_servers=b, group_id=group, enable_auto_commit=False,
                          session_timeout_ms=10000, heartbeat_interval_ms=300,
                          partition_assignment_strategy=assignors[strategy])
        c.subscribe(["clicks"])
        return c
    poll = lambda c: c.poll(timeout_ms=100)
    parts = lambda c: sorted(tp.partition for tp in c.assignment())
    def commit(c, p, o): c.commit({TopicPartition("clicks", p): OffsetAndMetadata(o, "", -1)})
    committed = lambda c, p: c.committed(TopicPartition("clicks", p))
else:
    from confluent_kafka import Consumer, TopicPartition
    def consumer():
        c = Consumer({"bootstrap.servers": b, "group.id": group, "enable.auto.commit": False,
                      "session.timeout.ms": 10000, "partition.assignment.strategy": strategy})
        c.subscribe(["clicks"])
        return c
    poll = lambda c: c.poll(0.1)
    parts = lambda c: sorted(tp.partition for tp in c.assignment())
    def commit(c, p, o): c.commit(offsets=[TopicPartition("clicks", p, o)], asynchronous=False)
    committed = lambda c, p: c.committed([TopicPartition("clicks", p)], timeout=10)[0].offset
deadline = time.time() + 60
first = consumer()
while parts(first) != [0, 1, 2, 3] and time.time() < deadline:
    poll(first)
print("alone", parts(first))
second = consumer()
while not (len(parts(first)) == 2 and len(parts(second)) == 2) and time.time() < deadline:
    poll(first); poll(second)
print("split", parts(first), parts(second))
mine = parts(first)[0]
commit(first, mine, 7)
print("seen", committed(second, mine))
first.close(); second.close()
"#;

/// The lines of a two-consumer run, checked.
fn check_two_consumers(out: &str) {
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "alone [0, 1, 2, 3]", "{out}");
    let split = lines[1].strip_prefix("split ").expect(out);
    let (a, b) = split.split_once("] [").expect(out);
    let parse = |s: &str| -> Vec<u32> {
        s.trim_matches(['[', ']'])
            .split(", ")
            .map(|p| p.parse().unwrap())
            .collect()
    };
    let (a, b) = (parse(a), parse(b));
    assert_eq!((a.len(), b.len()), (2, 2), "{out}");
    assert!(a.iter().all(|p| !b.contains(p)), "{out}");
    assert_eq!(lines[2], "seen 7", "{out}");
}

#[test]
fn kafka_python_consumers_of_one_group_split_it() {
    let Some(python) = python() else { return };
    let (_dir, broker, server) = serve();
    for strategy in ["range", "roundrobin"] {
        check_two_consumers(&run(
            &python,
            TWO_CONSUMERS,
            &server,
            &["kafka-python", strategy],
        ));
    }
    server.shutdown().unwrap();
    broker.close().unwrap();
}

#[test]
fn librdkafka_consumers_of_one_group_split_it_eagerly_and_cooperatively() {
    let Some(python) = python() else { return };
    let (_dir, broker, server) = serve();
    for strategy in ["range", "cooperative-sticky"] {
        check_two_consumers(&run(
            &python,
            TWO_CONSUMERS,
            &server,
            &["confluent-kafka", strategy],
        ));
    }
    server.shutdown().unwrap();
    broker.close().unwrap();
}

/// A kafka-python member of group `shared`: prints its partitions once it has 2 and has
/// committed 3 in the first, then for each `check P` line on stdin prints its group's
/// committed offset of P, and leaves at `done`.
const REMOTE_MEMBER: &str = r#"
import sys, threading, logging
logging.disable(logging.CRITICAL)
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
c = KafkaConsumer(bootstrap_servers=sys.argv[1], group_id="shared", enable_auto_commit=False,
                  session_timeout_ms=10000, heartbeat_interval_ms=300)
c.subscribe(["clicks"])
lines = []
threading.Thread(target=lambda: lines.extend(sys.stdin), daemon=True).start()
told = False
while True:
    c.poll(timeout_ms=50)
    parts = sorted(tp.partition for tp in c.assignment())
    if len(parts) == 2 and not told:
        c.commit({TopicPartition("clicks", parts[0]): OffsetAndMetadata(3, "", -1)})
        print("assigned", *parts, flush=True)
        told = True
    while lines:
        line = lines.pop(0).split()
        if line[0] == "done":
            c.close()
            sys.exit(0)
        print("committed", c.committed(TopicPartition("clicks", int(line[1]))), flush=True)
"#;

#[test]
fn a_kafka_python_consumer_and_an_in_process_consumer_share_a_group() {
    let Some(python) = python() else { return };
    let (_dir, broker, server) = serve();
    let mut local = broker.consumer(ConsumerConfig::default().group_id("shared"));
    local.subscribe(["clicks"]).unwrap();
    local.poll(Duration::from_millis(10)).unwrap();
    let mut child = Command::new(&python)
        .args(["-c", REMOTE_MEMBER, &server.local_addr().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python starts");
    let (lines_tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // The in-process consumer polls (and so lets go of what the group moves) until both
    // hold their share: the remote member says so, the local one shows it.
    let mut remote: Option<Vec<u32>> = None;
    for _ in 0..3000 {
        local.poll(Duration::from_millis(10)).unwrap();
        if let Ok(line) = lines.try_recv() {
            let parts = line.strip_prefix("assigned ").expect(&line);
            remote = Some(parts.split(' ').map(|p| p.parse().unwrap()).collect());
        }
        if remote.is_some() && local.assignment().len() == 2 {
            break;
        }
    }
    let remote = remote.expect("the remote member got its share");
    let mine: Vec<u32> = local.assignment().iter().map(|tp| tp.partition).collect();
    assert_eq!(mine.len(), 2);
    assert!(
        mine.iter().all(|p| !remote.contains(p)),
        "{mine:?} {remote:?}"
    );

    // Each sees the other's commit.
    let theirs = TopicPartition::new("clicks", remote[0]);
    assert_eq!(local.committed(&theirs).unwrap(), Some(3));
    let own = TopicPartition::new("clicks", mine[0]);
    local.commit_offsets(&[(own.clone(), 4)]).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "check {}", own.partition).unwrap();
    let mut seen = String::new();
    for _ in 0..3000 {
        local.poll(Duration::from_millis(10)).unwrap();
        if let Ok(line) = lines.try_recv() {
            seen = line;
            break;
        }
    }
    assert_eq!(seen, "committed 4");
    writeln!(stdin, "done").unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
    server.shutdown().unwrap();
    broker.close().unwrap();
}

/// A confluent-kafka transactional producer sending a consumer's offsets: committed with
/// the transaction, not with an abort; a second producer of the id fences the first.
const TRANSACTIONAL_OFFSETS: &str = r#"
import sys, time
from confluent_kafka import Consumer, Producer, TopicPartition, KafkaException
b = sys.argv[1]
c = Consumer({"bootstrap.servers": b, "group.id": "processors", "enable.auto.commit": False})
c.subscribe(["clicks"])
deadline = time.time() + 60
while len(c.assignment()) != 4 and time.time() < deadline:
    c.poll(0.1)
tp = TopicPartition("clicks", 0)
committed = lambda: c.committed([tp], timeout=10)[0].offset
producer = Producer({"bootstrap.servers": b, "transactional.id": "processor"})
producer.init_transactions(20)
producer.begin_transaction()
producer.send_offsets_to_transaction([TopicPartition("clicks", 0, 9)], c.consumer_group_metadata(), 20)
producer.commit_transaction(20)
print("after commit", committed())
producer.begin_transaction()
producer.send_offsets_to_transaction([TopicPartition("clicks", 0, 11)], c.consumer_group_metadata(), 20)
producer.abort_transaction(20)
print("after abort", committed())
newer = Producer({"bootstrap.servers": b, "transactional.id": "processor"})
newer.init_transactions(20)
try:
    producer.begin_transaction()
    producer.send_offsets_to_transaction([TopicPartition("clicks", 0, 13)], c.consumer_group_metadata(), 20)
    print("zombie not fenced")
except KafkaException as e:
    print("zombie", e.args[0].name())
print("at last", committed())
c.close()
"#;

#[test]
fn a_librdkafka_transactional_producer_commits_offsets_and_is_fenced() {
    let Some(python) = python() else { return };
    let (_dir, broker, server) = serve();
    let out = run(&python, TRANSACTIONAL_OFFSETS, &server, &[]);
    assert_eq!(
        out, "after commit 9\nafter abort 9\nzombie _FENCED\nat last 9\n",
        "{out}"
    );
    server.shutdown().unwrap();
    broker.close().unwrap();
}
