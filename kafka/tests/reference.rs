//! Differential scenarios: real Kafka clients driven through the same scenario against Apache
//! Kafka 4.4.0 and against strom's Kafka-protocol server, what each observed compared field by
//! field.
//!
//! A scenario is a program that reads the broker's address from `BOOTSTRAP`, works with a real
//! client and prints one JSON object: what it observed (offsets, partitions, error names,
//! records read back...), nothing that depends on timing or on ids the broker makes up. The
//! Python ones are `tests/reference/scenarios/<name>.py`, run with the clients' virtualenv
//! (kafka-python and confluent-kafka, see `common/venv.rs`); Java ones, when
//! `tests/reference/client.sh` exists, are the names `client.sh list` prints, run with
//! `client.sh run NAME`. Every name a scenario creates starts with the scenario's own name, so
//! all of them share one broker per target.
//!
//! Each runs against one Kafka that `tests/reference/broker.sh` starts and one in-process
//! [`KafkaServer`] set up as `strom serve` runs by default (auto-created topics with one
//! partition). A scenario whose two observations differ must be listed, with the reason, in
//! the README's table "Differences from Apache Kafka, scenario by scenario"; one that differs
//! and is not listed, or is listed and no longer differs, fails the run. The last line is the
//! summary: `kafka-reference: N scenarios, M identical, K differences (listed in README)`.
//!
//! Without Java, kcat, Maven's jars or the virtualenv it prints `skipped: why` and passes,
//! except under CI (`CI` set), where that is a failure. Names on the command line select
//! scenarios as a test filter does (`cargo test -p strom-kafka --test reference -- fetch_`);
//! a filter that names none of them (`cargo test --workspace some_test`) runs nothing here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use strom::Broker;
use strom_kafka::{KafkaServer, ServerConfig};

// Only the virtualenv's lookup of the shared test helpers: the raw client is not needed here.
#[path = "common/venv.rs"]
#[allow(
    unreachable_pub,
    reason = "shared with the test binaries that use all of it"
)]
mod venv;

/// The README's subsection listing the scenarios that differ, and why.
const DIFFERENCES_HEADING: &str = "Differences from Apache Kafka, scenario by scenario";

/// A scenario still running after this long is broken (its clients' own timeouts are shorter).
const SCENARIO_SECONDS: u32 = 120;

fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference")
}

fn readme() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")
}

/// Prints why the run is skipped and passes, or under CI fails.
fn unavailable(why: &str) -> ExitCode {
    if std::env::var_os("CI").is_some() {
        eprintln!("kafka-reference: CI cannot skip the differential scenarios: {why}");
        return ExitCode::FAILURE;
    }
    println!("skipped: {why}");
    ExitCode::SUCCESS
}

/// A scenario, and what runs it.
#[derive(Debug, Clone)]
struct Scenario {
    name: String,
    program: Program,
}

#[derive(Debug, Clone)]
enum Program {
    /// `scenarios/<name>.py`, run by the virtualenv's Python.
    Python(PathBuf),
    /// `client.sh run <name>`.
    Java(PathBuf),
}

/// The Python scenarios, then the Java ones if `client.sh` is there, sorted by name.
fn scenarios() -> Result<Vec<Scenario>, String> {
    let dir = reference_dir().join("scenarios");
    let mut found = Vec::new();
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if path.extension().is_some_and(|e| e == "py") && name != "common" {
            found.push(Scenario {
                name: name.to_owned(),
                program: Program::Python(path.clone()),
            });
        }
    }
    let client = reference_dir().join("client.sh");
    if client.exists() {
        let listed = Command::new("bash")
            .arg(&client)
            .arg("list")
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("{}: {e}", client.display()))?;
        if !listed.status.success() {
            return Err(format!("{} list failed", client.display()));
        }
        for name in String::from_utf8_lossy(&listed.stdout).lines() {
            let name = name.trim();
            if !name.is_empty() {
                found.push(Scenario {
                    name: name.to_owned(),
                    program: Program::Java(client.clone()),
                });
            }
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// What one scenario observed on one target, or why it broke.
type Observed = Result<Value, String>;

fn run_scenario(scenario: &Scenario, python: &Path, bootstrap: &str) -> Observed {
    let mut command = Command::new("timeout");
    command.arg(SCENARIO_SECONDS.to_string());
    match &scenario.program {
        Program::Python(script) => command.arg(python).arg(script),
        Program::Java(client) => command
            .arg("bash")
            .arg(client)
            .arg("run")
            .arg(&scenario.name),
    };
    let output = command
        .env("BOOTSTRAP", bootstrap)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start scenario {}: {e}", scenario.name))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!(
            "exited with {} (124: over {SCENARIO_SECONDS} s)\n{stdout}{stderr}",
            output.status
        ));
    }
    match serde_json::from_str::<Value>(stdout.trim()) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(format!("did not print one JSON object\n{stdout}{stderr}")),
    }
}

/// Runs every scenario against `bootstrap`, one after the other.
fn run_all(scenarios: &[Scenario], python: &Path, bootstrap: &str) -> Vec<(Observed, Duration)> {
    scenarios
        .iter()
        .map(|s| {
            let started = Instant::now();
            let observed = run_scenario(s, python, bootstrap);
            (observed, started.elapsed())
        })
        .collect()
}

/// Every place where `kafka` and `strom` differ, as `$.path: kafka=… strom=…`.
fn differences(path: &str, kafka: Option<&Value>, strom: Option<&Value>, out: &mut Vec<String>) {
    let shown = |v: Option<&Value>| v.map_or_else(|| "(absent)".to_owned(), Value::to_string);
    match (kafka, strom) {
        (Some(Value::Object(k)), Some(Value::Object(s))) => {
            let keys: std::collections::BTreeSet<&String> = k.keys().chain(s.keys()).collect();
            for key in keys {
                differences(&format!("{path}.{key}"), k.get(key), s.get(key), out);
            }
        }
        (Some(Value::Array(k)), Some(Value::Array(s))) => {
            for i in 0..k.len().max(s.len()) {
                differences(&format!("{path}[{i}]"), k.get(i), s.get(i), out);
            }
        }
        (k, s) if k == s => {}
        (k, s) => out.push(format!("{path}: kafka={} strom={}", shown(k), shown(s))),
    }
}

/// The scenarios the README lists as differing, with the reason given.
fn listed_differences(readme: &str) -> BTreeMap<String, String> {
    let mut listed = BTreeMap::new();
    let mut inside = false;
    for line in readme.lines() {
        if line.starts_with('#') {
            inside = line.contains(DIFFERENCES_HEADING);
            continue;
        }
        let Some(row) = line.trim().strip_prefix('|') else {
            continue;
        };
        if !inside {
            continue;
        }
        let mut cells = row.split('|').map(str::trim);
        let (Some(name), Some(reason)) = (cells.next(), cells.next()) else {
            continue;
        };
        let name = name.trim_matches('`');
        if name.is_empty() || name == "scenario" || name.starts_with("---") {
            continue;
        }
        listed.insert(name.to_owned(), reason.to_owned());
    }
    listed
}

/// A Kafka broker started by broker.sh in a scratch directory, stopped when dropped (also
/// when the run panics).
struct ReferenceKafka {
    dir: tempfile::TempDir,
    bootstrap: String,
}

impl ReferenceKafka {
    fn start() -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let output = Command::new("bash")
            .arg(reference_dir().join("broker.sh"))
            .arg("start")
            .arg(dir.path())
            .output()
            .map_err(|e| format!("broker.sh: {e}"))?;
        // Built before the check, so that a half-started broker is stopped too.
        let kafka = Self {
            bootstrap: std::fs::read_to_string(dir.path().join("bootstrap"))
                .unwrap_or_default()
                .trim()
                .to_owned(),
            dir,
        };
        if !output.status.success() {
            return Err(format!(
                "Kafka did not start: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(kafka)
    }
}

impl Drop for ReferenceKafka {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(reference_dir().join("broker.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// Java and kcat on PATH (broker.sh needs both) and Kafka's jars cached.
fn kafka_ready() -> Result<(), String> {
    for (tool, arg) in [("java", "-version"), ("kcat", "-V")] {
        let ok = Command::new(tool)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!("{tool} is not on PATH"));
        }
    }
    let fetched = Command::new("bash")
        .arg(reference_dir().join("broker.sh"))
        .arg("fetch")
        .output()
        .map_err(|e| format!("broker.sh cannot run: {e}"))?;
    if !fetched.status.success() {
        return Err(format!(
            "broker.sh fetch failed: {}",
            String::from_utf8_lossy(&fetched.stderr)
        ));
    }
    Ok(())
}

/// Prints each scenario's outcome and differences; (identical, differing, failures).
fn compare(
    scenarios: &[Scenario],
    kafka_ran: Vec<(Observed, Duration)>,
    strom_ran: Vec<(Observed, Duration)>,
    listed: &BTreeMap<String, String>,
) -> (usize, usize, Vec<String>) {
    let mut failures = Vec::new();
    let (mut identical, mut differing) = (0, 0);
    for ((scenario, (kafka, kafka_took)), (strom, strom_took)) in
        scenarios.iter().zip(kafka_ran).zip(strom_ran)
    {
        let name = &scenario.name;
        let took = format!(
            "kafka {:.1} s, strom {:.1} s",
            kafka_took.as_secs_f64(),
            strom_took.as_secs_f64()
        );
        let (kafka, strom) = match (kafka, strom) {
            (Ok(k), Ok(s)) => (k, s),
            (k, s) => {
                for (target, broke) in [("kafka", k.err()), ("strom", s.err())] {
                    if let Some(why) = broke {
                        println!("{name}: broken against {target}: {why}");
                        failures.push(format!("{name} is broken against {target}"));
                    }
                }
                continue;
            }
        };
        let mut found = Vec::new();
        differences("$", Some(&kafka), Some(&strom), &mut found);
        match (found.is_empty(), listed.get(name)) {
            (true, None) => {
                identical += 1;
                println!("{name}: identical ({took})");
            }
            (true, Some(_)) => {
                identical += 1;
                println!("{name}: identical, but the README lists it as differing ({took})");
                failures.push(format!(
                    "{name} is identical: remove it from the README's table"
                ));
            }
            (false, listed_reason) => {
                differing += 1;
                let how = listed_reason.map_or("NOT LISTED in the README", |_| "listed");
                println!("{name}: differs, {how} ({took})");
                for line in &found {
                    println!("    {line}");
                }
                if listed_reason.is_none() {
                    failures.push(format!("{name} differs and is not in the README's table"));
                }
            }
        }
    }
    (identical, differing, failures)
}

/// The names given on the command line (`cargo test --workspace NAME`), as test harnesses
/// take them: a scenario runs if its name contains one of them, or if none is given. `None`
/// when nothing of this target is asked for (`--list`, `--ignored`).
fn filters() -> Option<Vec<String>> {
    let mut names = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // This target lists no tests of its own, and has none ignored.
            "--list" | "--ignored" => return None,
            // The harness's options that take a value as the next argument.
            "--test-threads" | "--skip" | "--color" | "--format" | "--logfile" | "-Z" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            name => names.push(name.to_owned()),
        }
    }
    Some(names)
}

fn main() -> ExitCode {
    let Some(filters) = filters() else {
        return ExitCode::SUCCESS;
    };
    let started = Instant::now();
    let mut scenarios = match scenarios() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kafka-reference: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !filters.is_empty() {
        scenarios.retain(|s| filters.iter().any(|f| s.name.contains(f.as_str())));
        if scenarios.is_empty() {
            // `cargo test --workspace some_other_test`: nothing here is asked for.
            return ExitCode::SUCCESS;
        }
    }
    if let Err(why) = kafka_ready() {
        return unavailable(&why);
    }
    // The virtualenv's helper prints its own `skipped:` line, or panics under CI.
    let Some(python) = venv::python() else {
        return ExitCode::SUCCESS;
    };
    let mut listed = listed_differences(&std::fs::read_to_string(readme()).unwrap_or_default());
    let every = filters.is_empty();
    listed.retain(|name, _| every || scenarios.iter().any(|s| &s.name == name));

    // strom's server as `strom serve` runs it by default, on a fresh directory.
    let dir = tempfile::tempdir().expect("a scratch directory");
    let broker = Broker::open(dir.path()).expect("a broker on a fresh directory");
    let server = KafkaServer::bind_with(broker.clone(), "127.0.0.1:0", ServerConfig::default())
        .expect("the server binds a free loopback port");
    let strom_bootstrap = server.local_addr().to_string();

    // The two targets side by side: strom's scenarios run while Kafka starts.
    let (kafka_ran, strom_ran) = std::thread::scope(|s| {
        let kafka = s.spawn(|| {
            let kafka = ReferenceKafka::start()?;
            Ok::<_, String>(run_all(&scenarios, &python, &kafka.bootstrap))
        });
        let strom = run_all(&scenarios, &python, &strom_bootstrap);
        (kafka.join().expect("the Kafka side does not panic"), strom)
    });
    server.shutdown().expect("the server shuts down");
    broker.close().expect("the broker closes");
    let kafka_ran = match kafka_ran {
        Ok(ran) => ran,
        Err(why) if std::env::var_os("CI").is_some() => {
            eprintln!("kafka-reference: {why}");
            return ExitCode::FAILURE;
        }
        Err(why) => return unavailable(&why),
    };

    let (identical, differing, mut failures) = compare(&scenarios, kafka_ran, strom_ran, &listed);
    for name in listed.keys() {
        if !scenarios.iter().any(|s| &s.name == name) {
            failures.push(format!("the README lists {name}, which is no scenario"));
        }
    }
    for failure in &failures {
        println!("FAILED: {failure}");
    }
    println!(
        "kafka-reference: run in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "kafka-reference: {} scenarios, {identical} identical, {differing} differences (listed in README)",
        scenarios.len()
    );
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
