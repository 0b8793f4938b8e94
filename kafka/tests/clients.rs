//! Kafka's own tools against the server: kcat (librdkafka) lists topics; kafka-python's
//! admin client creates, lists and deletes topics; confluent-kafka's lists them.
//!
//! kcat comes from PATH. The Python clients come from the virtualenv named by
//! `STROM_KAFKA_VENV`, else from `target/kafka-clients-venv`, created on first use with the
//! pinned versions below. A client that cannot be found or installed fails the test under
//! CI (`CI` set) and skips it, saying why, elsewhere.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use strom::{Broker, TopicConfig};
use strom_kafka::KafkaServer;

/// The versions tested.
const KAFKA_PYTHON: &str = "kafka-python==3.0.12";
const CONFLUENT_KAFKA: &str = "confluent-kafka==2.16.1";

/// `None` (test skipped) or a panic under CI, with `why`.
fn unavailable<T>(why: &str) -> Option<T> {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI needs the Kafka clients: {why}"
    );
    eprintln!("skipped: {why}");
    None
}

/// The virtualenv's Python, created with the pinned clients if missing.
fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("STROM_KAFKA_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/kafka-clients-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let ready = |python: &Path| {
        Command::new(python)
            .args(["-c", "import kafka, confluent_kafka"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return Some(python);
    }
    if std::env::var_os("STROM_KAFKA_VENV").is_some() {
        return unavailable(&format!(
            "STROM_KAFKA_VENV={} has no kafka-python and confluent-kafka",
            venv.display()
        ));
    }
    // One test binary at a time creates it; the others wait, then find it ready.
    let parent = venv.parent()?;
    std::fs::create_dir_all(parent).ok()?;
    let lock = File::create(parent.join("kafka-clients-venv.lock")).ok()?;
    lock.lock().ok()?;
    if !ready(&python) {
        let created = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", KAFKA_PYTHON, CONFLUENT_KAFKA])
                .status()
                .is_ok_and(|s| s.success());
        if !created || !ready(&python) {
            return unavailable(&format!(
                "could not create {} with {KAFKA_PYTHON} and {CONFLUENT_KAFKA}",
                venv.display()
            ));
        }
    }
    Some(python)
}

fn serve() -> (tempfile::TempDir, Broker, KafkaServer) {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
    (dir, broker, server)
}

/// Runs `command`, returning its stdout; panics with its stderr if it fails.
fn run(command: &mut Command) -> String {
    let output = command.output().expect("the client starts");
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn kcat_lists_the_topics() {
    if Command::new("kcat").arg("-V").output().is_err() {
        let _: Option<()> = unavailable("kcat is not on PATH");
        return;
    }
    let (_dir, broker, server) = serve();
    broker
        .create_topic("alpha", TopicConfig::default().partitions(2))
        .unwrap();
    broker.create_topic("beta", TopicConfig::default()).unwrap();
    let listing =
        run(Command::new("kcat").args(["-b", &server.local_addr().to_string(), "-L", "-m", "20"]));
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
    let out =
        run(Command::new(&python).args(["-c", ADMIN_SCRIPT, &server.local_addr().to_string()]));
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
    let listed =
        run(Command::new(&python).args(["-c", CONFLUENT_SCRIPT, &server.local_addr().to_string()]));
    assert_eq!(listed.trim(), "existing:1,made-in-process:4");
}
