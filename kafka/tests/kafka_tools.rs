//! Apache Kafka's own command-line tools against strom's Kafka-protocol server, and against
//! Apache Kafka itself.
//!
//! One scenario of tool runs (`kafka-topics`, `kafka-configs`, `kafka-console-producer` and
//! `-consumer`, `kafka-consumer-groups`, `kafka-get-offsets`, `kafka-producer-perf-test` and
//! `kafka-consumer-perf-test`, `kafka-transactions` with `list`, `describe`,
//! `describe-producers`, `find-hanging` and `abort`) runs against a `KafkaServer` over a fresh data directory; every
//! step's exit code and output are checked. The same scenario then runs against a single-node
//! Kafka 4.4.0 started by `tests/reference/broker.sh`, and each step whose output does not
//! depend on timing must print the same, once ids, node numbers and timings are masked.
//!
//! The tools are the classes `bin/kafka-*.sh` run, from the jars `broker.sh fetch` caches
//! (`KAFKA_CACHE`, else `target/kafka-reference`); Java 17, Maven and kcat (which broker.sh
//! waits for Kafka with) come from PATH. Without them the test is skipped, saying why, except
//! under CI (`CI` set), where it fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use strom::Broker;
use strom_kafka::{KafkaServer, ServerConfig};

/// The topic the scenario administers, and the one the perf tools fill.
const TOPIC: &str = "tools-orders";
const PERF_TOPIC: &str = "tools-perf";
const GROUP: &str = "tools-readers";

/// `None` (test skipped) or a panic under CI, with `why`.
fn unavailable<T>(why: &str) -> Option<T> {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI needs Kafka's tools: {why}"
    );
    eprintln!("skipped: {why}");
    None
}

fn broker_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/broker.sh")
}

/// Whether Java is there and Kafka's jars are cached (fetched now if Maven can): looked at
/// once, so that this file's tests do not fetch into one cache at the same time.
fn tools_ready() -> bool {
    static READY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *READY.get_or_init(look_for_tools)
}

fn look_for_tools() -> bool {
    if !Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return unavailable::<()>("java is not on PATH").is_some();
    }
    // broker.sh sees Kafka answer Metadata through kcat.
    if !Command::new("kcat")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return unavailable::<()>("kcat is not on PATH").is_some();
    }
    let fetched = Command::new("bash").arg(broker_sh()).arg("fetch").output();
    match fetched {
        Ok(o) if o.status.success() => true,
        Ok(o) => unavailable::<()>(&format!(
            "broker.sh fetch failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ))
        .is_some(),
        Err(e) => unavailable::<()>(&format!("broker.sh cannot run: {e}")).is_some(),
    }
}

/// A Kafka broker started by broker.sh in a scratch directory, stopped when dropped.
struct ReferenceKafka {
    dir: tempfile::TempDir,
    bootstrap: String,
}

impl ReferenceKafka {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new("bash")
            .arg(broker_sh())
            .arg("start")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "Kafka did not start: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let bootstrap = std::fs::read_to_string(dir.path().join("bootstrap"))
            .unwrap()
            .trim()
            .to_string();
        Self { dir, bootstrap }
    }
}

impl Drop for ReferenceKafka {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(broker_sh())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// Runs Kafka tool `name` with `args` (`{B}` replaced by `bootstrap`), `stdin` as its input;
/// a tool still running after two minutes is stopped and fails its step.
fn tool(bootstrap: &str, name: &str, args: &str, stdin: &str) -> Output {
    let mut child = Command::new("timeout")
        .arg("120")
        .arg("bash")
        .arg(broker_sh())
        .arg("tool")
        .arg(name)
        .args(args.split_whitespace().map(|a| a.replace("{B}", bootstrap)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// How a step's output is held against Kafka's.
#[derive(Clone, Copy, PartialEq)]
enum Compare {
    /// Line for line, once masked.
    Lines,
    /// As a set of lines (records and partitions come in no fixed order).
    Sorted,
    /// Only the exit code (the output holds timings).
    ExitCode,
    /// The exit code and the first line: a table's columns, whose rows hold times and
    /// epochs.
    Header,
}

struct Step {
    label: &'static str,
    tool: &'static str,
    /// The arguments, separated by spaces; `{B}` is the bootstrap address.
    args: &'static str,
    stdin: &'static str,
    compare: Compare,
}

const fn step(
    label: &'static str,
    tool: &'static str,
    args: &'static str,
    compare: Compare,
) -> Step {
    Step {
        label,
        tool,
        args,
        stdin: "",
        compare,
    }
}

/// Keys, values and headers the console producer reads (`parse.key`, `parse.headers`).
const PRODUCED: &str = "\
channel:app\tuser-1:order-1
region:eu,channel:web\tuser-2:order-2
region:us\tuser-3:order-3
channel:app\tuser-1:order-4
channel:app\tuser-4:order-5
";

/// The scenario, on topics `tools-orders` ([`TOPIC`]) and `tools-perf` ([`PERF_TOPIC`])
/// and group `tools-readers` ([`GROUP`]).
const SCENARIO: &[Step] = {
    use Compare::{ExitCode, Header, Lines, Sorted};
    const TOPICS: &str = "kafka-topics";
    const GROUPS: &str = "kafka-consumer-groups";
    &[
        step(
            "create",
            TOPICS,
            "--bootstrap-server {B} --create --topic tools-orders --partitions 2 \
             --config retention.ms=86400000 --config max.message.bytes=500000",
            Lines,
        ),
        step(
            "create again",
            TOPICS,
            "--bootstrap-server {B} --create --topic tools-orders",
            ExitCode,
        ),
        step(
            "list",
            TOPICS,
            "--bootstrap-server {B} --list --exclude-internal",
            Lines,
        ),
        step(
            "alter partitions",
            TOPICS,
            "--bootstrap-server {B} --alter --topic tools-orders --partitions 3",
            Lines,
        ),
        step(
            "shrink partitions",
            TOPICS,
            "--bootstrap-server {B} --alter --topic tools-orders --partitions 1",
            ExitCode,
        ),
        step(
            "describe",
            TOPICS,
            "--bootstrap-server {B} --describe --topic tools-orders",
            Lines,
        ),
        step(
            "alter config",
            "kafka-configs",
            "--bootstrap-server {B} --alter --entity-type topics --entity-name tools-orders \
             --add-config retention.ms=3600000 --delete-config max.message.bytes",
            Lines,
        ),
        step(
            "describe configs",
            "kafka-configs",
            "--bootstrap-server {B} --describe --entity-type topics --entity-name tools-orders",
            Lines,
        ),
        Step {
            stdin: PRODUCED,
            ..step(
                "produce",
                "kafka-console-producer",
                "--bootstrap-server {B} --topic tools-orders --reader-property parse.key=true \
                 --reader-property key.separator=: --reader-property parse.headers=true \
                 --command-property acks=all",
                Lines,
            )
        },
        step(
            "consume as a group",
            "kafka-console-consumer",
            "--bootstrap-server {B} --topic tools-orders --group tools-readers \
             --from-beginning --max-messages 5 --timeout-ms 30000 \
             --formatter-property print.key=true --formatter-property print.headers=true \
             --formatter-property print.partition=true",
            Sorted,
        ),
        step(
            "list groups",
            GROUPS,
            "--bootstrap-server {B} --list",
            Lines,
        ),
        step(
            "describe group",
            GROUPS,
            "--bootstrap-server {B} --describe --group tools-readers",
            Sorted,
        ),
        step(
            "reset offsets",
            GROUPS,
            "--bootstrap-server {B} --group tools-readers --reset-offsets --to-earliest \
             --topic tools-orders --execute",
            Sorted,
        ),
        step(
            "describe group after reset",
            GROUPS,
            "--bootstrap-server {B} --describe --group tools-readers",
            Sorted,
        ),
        step(
            "delete offsets",
            GROUPS,
            "--bootstrap-server {B} --delete-offsets --group tools-readers \
             --topic tools-orders:0",
            Sorted,
        ),
        // Every offset left: the group stays, empty, on both.
        step(
            "delete remaining offsets",
            GROUPS,
            "--bootstrap-server {B} --delete-offsets --group tools-readers --topic tools-orders",
            Sorted,
        ),
        step(
            "list groups after deleting offsets",
            GROUPS,
            "--bootstrap-server {B} --list",
            Lines,
        ),
        step(
            "delete group",
            GROUPS,
            "--bootstrap-server {B} --delete --group tools-readers",
            Lines,
        ),
        step(
            "latest offsets",
            "kafka-get-offsets",
            "--bootstrap-server {B} --topic tools-orders",
            Sorted,
        ),
        step(
            "earliest offsets",
            "kafka-get-offsets",
            "--bootstrap-server {B} --topic tools-orders --time -2",
            Sorted,
        ),
        // One --command-property with several values: a second one would replace the first.
        step(
            "producer perf test",
            "kafka-producer-perf-test",
            "--topic tools-perf --num-records 500 --record-size 100 --throughput -1 \
             --command-property bootstrap.servers={B} acks=all",
            ExitCode,
        ),
        step(
            "consumer perf test",
            "kafka-consumer-perf-test",
            "--bootstrap-server {B} --topic tools-perf --num-records 500",
            ExitCode,
        ),
        step(
            "transactional perf test",
            "kafka-producer-perf-test",
            "--topic tools-perf --num-records 200 --record-size 100 --throughput -1 \
             --transactional-id tools-txn --transaction-duration-ms 100 \
             --command-property bootstrap.servers={B}",
            ExitCode,
        ),
        step(
            "list transactions",
            "kafka-transactions",
            "--bootstrap-server {B} list",
            Lines,
        ),
        step(
            "list transactions by pattern",
            "kafka-transactions",
            "--bootstrap-server {B} list --transactional-id-pattern tools-t.*",
            Lines,
        ),
        // Epochs (Kafka 4.4 bumps the epoch at every transaction's end) and times differ:
        // content checked on strom's side.
        step(
            "describe transaction",
            "kafka-transactions",
            "--bootstrap-server {B} describe --transactional-id tools-txn",
            Header,
        ),
        step(
            "describe producers",
            "kafka-transactions",
            "--bootstrap-server {B} describe-producers --topic tools-perf --partition 0",
            Header,
        ),
        // Nothing hangs: the header alone, on both.
        step(
            "find hanging",
            "kafka-transactions",
            "--bootstrap-server {B} find-hanging --broker-id 1",
            Lines,
        ),
        step(
            "abort at an offset nothing starts at",
            "kafka-transactions",
            "--bootstrap-server {B} abort --topic tools-perf --partition 0 --start-offset 100000",
            ExitCode,
        ),
        // A marker for a producer with nothing open is written all the same, on both: it
        // takes an offset.
        step(
            "abort by producer",
            "kafka-transactions",
            "--bootstrap-server {B} abort --topic tools-orders --partition 0 \
             --producer-id 999 --producer-epoch 0 --coordinator-epoch 0",
            Lines,
        ),
        step(
            "latest offsets after the abort",
            "kafka-get-offsets",
            "--bootstrap-server {B} --topic tools-orders",
            Sorted,
        ),
        step(
            "describe unknown transaction",
            "kafka-transactions",
            "--bootstrap-server {B} describe --transactional-id tools-nobody",
            ExitCode,
        ),
        step(
            "delete topic",
            TOPICS,
            "--bootstrap-server {B} --delete --topic tools-orders",
            Lines,
        ),
        step(
            "list after delete",
            TOPICS,
            "--bootstrap-server {B} --list --exclude-internal",
            Lines,
        ),
    ]
};

/// What one step printed: its exit code and stdout.
#[derive(Debug)]
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run_scenario(bootstrap: &str) -> BTreeMap<&'static str, Ran> {
    SCENARIO
        .iter()
        .map(|step| {
            let started = std::time::Instant::now();
            let output = tool(bootstrap, step.tool, step.args, step.stdin);
            // Where a slow CI run spends its time.
            eprintln!("{bootstrap} {}: {:.2?}", step.label, started.elapsed());
            let ran = Ran {
                code: output.status.code(),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            };
            (step.label, ran)
        })
        .collect()
}

/// Output with what differs from run to run masked: topic ids, node ids, member and client
/// ids, hosts.
fn masked(stdout: &str, compare: Compare) -> Vec<String> {
    let mut lines: Vec<String> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut out = String::new();
            let mut words = line.split('\t').peekable();
            while let Some(word) = words.next() {
                let word = if word.starts_with("TopicId: ") {
                    continue;
                } else if let Some(configs) = word.strip_prefix("Configs: ") {
                    // In no fixed order; min.insync.replicas is replication's, which
                    // strom has none of.
                    let mut configs: Vec<&str> = configs
                        .split(',')
                        .filter(|c| !c.starts_with("min.insync.replicas="))
                        .collect();
                    configs.sort_unstable();
                    format!("Configs: {}", configs.join(","))
                } else if let Some(label) = ["Leader: ", "Replicas: ", "Isr: "]
                    .iter()
                    .find(|l| word.starts_with(**l))
                {
                    format!("{label}N")
                } else {
                    word.to_string()
                };
                out.push_str(&word);
                if words.peek().is_some() {
                    out.push('\t');
                }
            }
            // Columns of consumer-group tables: whitespace-separated.
            out.split_whitespace()
                .map(|w| {
                    if w.starts_with("console-consumer") || w.starts_with("/127.0.0.1") {
                        "ID"
                    } else {
                        w
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    if compare == Compare::Sorted {
        lines.sort();
    }
    lines
}

/// Checks of strom's own output, step by step: what each tool must print.
fn check_strom(ran: &BTreeMap<&'static str, Ran>, broker: &Broker) {
    let ok = |label: &str| ok(ran, label);
    let failed = |label: &str| failed(ran, label);
    assert_eq!(ok("create").trim(), format!("Created topic {TOPIC}."));
    assert!(failed("create again").contains("already exists"));
    assert_eq!(ok("list").trim(), TOPIC);
    assert!(failed("shrink partitions").contains("partitions"));
    let describe = ok("describe");
    assert!(
        describe.contains("PartitionCount: 3") && describe.contains("retention.ms=86400000"),
        "{describe}"
    );
    assert_eq!(describe.matches("\tPartition: ").count(), 3, "{describe}");
    assert!(ok("alter config").contains(&format!("Completed updating config for topic {TOPIC}")));
    let configs = ok("describe configs");
    assert!(
        configs.contains("retention.ms=3600000") && !configs.contains("max.message.bytes"),
        "{configs}"
    );
    ok("produce");
    let mut consumed: Vec<&str> = ok("consume as a group").lines().collect();
    consumed.sort_unstable();
    assert_eq!(consumed.len(), 5, "{consumed:?}");
    assert!(
        consumed
            .iter()
            .any(|l| l.ends_with("region:eu,channel:web\tuser-2\torder-2")),
        "{consumed:?}"
    );
    assert!(ran["consume as a group"]
        .stderr
        .contains("Processed a total of 5 messages"));
    assert!(ok("list groups").lines().any(|l| l == GROUP));
    // Lag 0 on every partition after reading all; the full count after the reset.
    let lags = |label: &str| -> Vec<(u32, u64, u64)> {
        ok(label)
            .lines()
            .filter(|l| l.starts_with(GROUP))
            .map(|l| {
                let c: Vec<&str> = l.split_whitespace().collect();
                let n = |i: usize| c[i].parse::<u64>().unwrap();
                (c[2].parse().unwrap(), n(3), n(5))
            })
            .collect()
    };
    let before = lags("describe group");
    assert_eq!(before.len(), 3, "{before:?}");
    assert!(before.iter().all(|&(_, _, lag)| lag == 0), "{before:?}");
    assert_eq!(before.iter().map(|&(_, offset, _)| offset).sum::<u64>(), 5);
    let after = lags("describe group after reset");
    assert!(after.iter().all(|&(_, offset, _)| offset == 0), "{after:?}");
    assert_eq!(after.iter().map(|&(_, _, lag)| lag).sum::<u64>(), 5);
    assert!(ok("delete offsets").contains("Successful"));
    assert!(ok("delete group").contains("was successful"));
    assert!(!broker.groups().iter().any(|g| g == GROUP));
    let latest: u64 = ok("latest offsets")
        .lines()
        .map(|l| l.rsplit(':').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(latest, 5);
    assert!(ok("earliest offsets").lines().all(|l| l.ends_with(":0")));
    assert!(ok("producer perf test").contains("500 records sent"));
    // Created on first use, with the server's default partition count.
    assert_eq!(
        broker.describe_topic(PERF_TOPIC).unwrap().config.partitions,
        1
    );
    let perf = ok("consumer perf test");
    let row = perf.lines().last().unwrap();
    assert_eq!(row.split(", ").nth(4), Some("500"), "{perf}");
    assert!(ok("transactional perf test").contains("200 records sent"));
    check_strom_transactions(ran, broker);
    ok("delete topic");
    assert_eq!(ok("list after delete").trim(), PERF_TOPIC);
    assert!(broker.describe_topic(TOPIC).is_err());
}

#[test]
fn kafka_tools_against_strom_and_kafka() {
    if !tools_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    // Node 1, as the reference Kafka's one node: tools print the coordinator's id.
    let server = KafkaServer::bind_with(
        broker.clone(),
        "127.0.0.1:0",
        ServerConfig::default().node_id(1),
    )
    .unwrap();
    let strom = run_scenario(&server.local_addr().to_string());
    check_strom(&strom, &broker);
    server.shutdown().unwrap();
    broker.close().unwrap();

    let kafka = ReferenceKafka::start();
    let reference = run_scenario(&kafka.bootstrap);
    drop(kafka);
    let mut differences = Vec::new();
    for step in SCENARIO {
        let (ours, theirs) = (&strom[step.label], &reference[step.label]);
        if ours.code != theirs.code {
            differences.push(format!(
                "{}: exit code {:?}, Kafka's {:?}\n{}",
                step.label, ours.code, theirs.code, theirs.stderr
            ));
        } else if step.compare != Compare::ExitCode {
            let (mut a, mut b) = (
                masked(&ours.stdout, step.compare),
                masked(&theirs.stdout, step.compare),
            );
            if step.compare == Compare::Header {
                a.truncate(1);
                b.truncate(1);
            }
            if a != b {
                differences.push(format!("{}:\n  strom: {a:?}\n  Kafka: {b:?}", step.label));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "Kafka's tools print otherwise against strom:\n{}",
        differences.join("\n")
    );
}

/// The step's stdout, which must have exited 0.
fn ok<'a>(ran: &'a BTreeMap<&'static str, Ran>, label: &str) -> &'a str {
    let r = &ran[label];
    assert_eq!(r.code, Some(0), "{label}: {r:?}");
    &r.stdout
}

/// The step's stdout and stderr, which must have exited with an error.
fn failed(ran: &BTreeMap<&'static str, Ran>, label: &str) -> String {
    let r = &ran[label];
    assert_ne!(r.code, Some(0), "{label} should fail: {r:?}");
    format!("{}{}", r.stdout, r.stderr)
}

/// [`check_strom`]'s checks of `kafka-transactions`' steps.
fn check_strom_transactions(ran: &BTreeMap<&'static str, Ran>, broker: &Broker) {
    let ok = |label: &str| ok(ran, label);
    let failed = |label: &str| failed(ran, label);
    let listed = ok("list transactions");
    assert!(
        listed.lines().any(|l| {
            let row: Vec<&str> = l.split_whitespace().collect();
            row.first() == Some(&"tools-txn") && row.get(3) == Some(&"CompleteCommit")
        }),
        "{listed}"
    );
    assert_eq!(ok("list transactions by pattern"), listed);
    let described = ok("describe transaction");
    let row: Vec<&str> = described
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    // CoordinatorId, TransactionalId, ProducerId, ProducerEpoch, State, TimeoutMs, the last
    // transaction's start and how long ago.
    assert_eq!(row[1], "tools-txn", "{described}");
    assert_eq!(row[4], "CompleteCommit", "{described}");
    assert_eq!(row[5], "60000", "{described}");
    assert!(row[6].parse::<i64>().is_ok_and(|t| t > 0), "{described}");
    // The transactional perf producer's row: its sequence numbers, the marker's
    // coordinator epoch, nothing open.
    let producers = ok("describe producers");
    let txn_producer = broker
        .list_transactions()
        .unwrap()
        .into_iter()
        .find(|t| t.transactional_id == "tools-txn")
        .unwrap()
        .producer_id
        .to_string();
    let row: Vec<&str> = producers
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|r| r.first() == Some(&txn_producer.as_str()))
        .unwrap_or_else(|| panic!("{producers}"));
    // ProducerId, ProducerEpoch, LatestCoordinatorEpoch, LastSequence, LastTimestamp,
    // CurrentTransactionStartOffset.
    assert_eq!(row[2], "0", "{producers}");
    assert_eq!(row[3], "199", "{producers}");
    assert_eq!(row[5], "None", "{producers}");
    assert!(ok("find hanging").starts_with("Topic\tPartition\tProducerId"));
    assert!(failed("abort at an offset nothing starts at")
        .contains("Could not find any open transactions starting at offset 100000"));
    ok("abort by producer");
    let partition0 = |label: &str| -> u64 {
        ok(label)
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{TOPIC}:0:")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        partition0("latest offsets after the abort"),
        partition0("latest offsets") + 1
    );
    assert!(ok("delete remaining offsets").contains("Successful"));
    assert!(ok("list groups after deleting offsets")
        .lines()
        .any(|l| l == GROUP));
    assert!(failed("describe unknown transaction").contains("could not be found"));
}

/// `kafka-transactions describe-producers` shows a transaction left open in a partition, and
/// `abort --start-offset` (which finds its producer with `DescribeProducers`, then writes the
/// marker with `WriteTxnMarkers`) ends it: strom only (a Kafka transaction stays open only
/// until its producer's timeout, which this would race).
#[test]
fn kafka_transactions_aborts_a_transaction_left_open() {
    if !tools_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
    let bootstrap = server.local_addr().to_string();
    broker
        .create_topic("tools-hanging", strom::TopicConfig::default())
        .unwrap();
    broker
        .producer()
        .send("tools-hanging", strom::Record::new("before"))
        .unwrap();
    let open = broker.transactional_producer("tools-hanging").unwrap();
    open.begin_transaction().unwrap();
    open.send("tools-hanging", strom::Record::new("left open"))
        .unwrap();
    let run = |args: &str| {
        let output = tool(&bootstrap, "kafka-transactions", args, "");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{args}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    };
    let producers = "--bootstrap-server {B} describe-producers --topic tools-hanging --partition 0";
    let before = run(producers);
    let row: Vec<&str> = before.lines().nth(1).unwrap().split_whitespace().collect();
    // ProducerId, ProducerEpoch, LatestCoordinatorEpoch, LastSequence, LastTimestamp,
    // CurrentTransactionStartOffset.
    assert_eq!(row[0], open.producer_id().to_string(), "{before}");
    assert_eq!(row[2], "-1", "{before}");
    assert_eq!(row[5], "1", "{before}");
    run("--bootstrap-server {B} abort --topic tools-hanging --partition 0 --start-offset 1");
    let after = run(producers);
    let row: Vec<&str> = after.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[5], "None", "{after}");
    let tp = strom::TopicPartition::new("tools-hanging", 0);
    let fetched = broker
        .fetch_batches(&tp, 0, 1 << 20, strom::IsolationLevel::ReadCommitted)
        .unwrap();
    assert_eq!(fetched.last_stable_offset, 3);
    assert_eq!(fetched.aborted.len(), 1);
    drop(open);
    server.shutdown().unwrap();
    broker.close().unwrap();
}
