//! The seven reference topologies run by Kafka Streams 4.4.0 (its `TopologyTestDriver`,
//! no record cache) and by `strom::streams` (strom's `TopologyTestDriver`) on the same
//! generated input, with out-of-order and late records, null keys and tombstones: the
//! outputs must be equal record by record (and so the final value per key and window).
//!
//! Needs Java 17 and Maven (`kafka/tests/reference/streams/streams.sh build` fetches Kafka
//! Streams into `$KAFKA_CACHE`, default `target/kafka-reference`); without them the test
//! prints `skipped: why`, and fails under CI (`CI` set).

use std::path::{Path, PathBuf};
use std::process::Command;

use strom_streams_reference::{compare, generate, run, Group, Input, Output};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Why Kafka Streams cannot run here, if it cannot.
fn missing() -> Option<String> {
    let absent: Vec<&str> = ["java", "javac", "mvn"]
        .into_iter()
        .filter(|tool| {
            Command::new(tool)
                .arg("-version")
                .output()
                .map_or(true, |out| !out.status.success())
        })
        .collect();
    (!absent.is_empty()).then(|| format!("{} not installed", absent.join(", ")))
}

fn kafka_streams(input: &Path, output: &Path) -> Vec<Output> {
    let script = repository().join("kafka/tests/reference/streams/streams.sh");
    let status = Command::new(&script)
        .arg("run")
        .arg(input)
        .arg(output)
        .status()
        .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    assert!(
        status.success(),
        "{} run failed: {status}",
        script.display()
    );
    std::fs::read_to_string(output)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

#[test]
fn strom_streams_equals_kafka_streams_on_the_reference_topologies() {
    if let Some(why) = missing() {
        assert!(
            std::env::var_os("CI").is_none(),
            "under CI Kafka Streams must run: {why}"
        );
        println!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input: Vec<Input> = generate(5_000, 22, &Group::ALL);
    let input_path = dir.path().join("input.jsonl");
    let lines: Vec<String> = input
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    std::fs::write(&input_path, lines.join("\n")).unwrap();
    let kafka = kafka_streams(&input_path, &dir.path().join("kafka.jsonl"));
    let mut strom = Vec::new();
    for name in strom_streams_reference::TOPOLOGIES {
        strom.extend(run(name, &input).unwrap());
    }
    let comparisons = compare(&kafka, &strom);
    for c in &comparisons {
        println!("{}", c.summary());
        // Each output has records on both sides: the input reaches every case.
        assert!(
            !c.kafka.is_empty() && !c.strom.is_empty(),
            "{}",
            c.summary()
        );
        assert!(c.identical(), "{}", c.summary());
    }
}
