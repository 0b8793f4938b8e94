//! The `strom` command on real data directories: each command's output and exit code,
//! round trips through `produce | consume`, damage found by `verify` and `dump`, and a
//! directory held by a live writer process.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Command as Process, Stdio};

use assert_cmd::Command;
use predicates::prelude::*;
use strom::storage::batch;
use strom::{Broker, Record, TopicConfig};

/// `strom --dir DIR …`.
fn strom(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("strom").expect("the strom binary");
    cmd.arg("--dir").arg(dir).env_remove("STROM_DIR");
    cmd
}

/// A directory with topic `clicks` (2 partitions) holding `n` keyed records, closed.
fn data(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path()).expect("open");
    broker
        .create_topic("clicks", TopicConfig::default().partitions(2))
        .expect("create");
    let producer = broker.producer();
    for i in 0..n {
        producer
            .send(
                "clicks",
                Record::new(format!("v{i}"))
                    .key(format!("k{}", i % 5))
                    .timestamp(1_000 + i64::try_from(i).expect("small")),
            )
            .expect("send");
    }
    broker.close().expect("close");
    dir
}

fn stdout(cmd: &mut Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn produce_then_consume_round_trips_keys_and_values() {
    let parent = tempfile::tempdir().expect("tempdir");
    // `topics create` starts a new data directory; every other command needs one.
    let dir = parent.path().join("data");
    strom(&dir)
        .args(["topics", "list"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("does not exist"));
    strom(&dir)
        .args([
            "topics",
            "create",
            "t",
            "--partitions",
            "3",
            "--config",
            "compression.type=gzip",
        ])
        .assert()
        .success()
        .stdout("created topic t\n");
    let mut lines = String::new();
    for i in 0..300 {
        writeln!(lines, "key{}|value {i}", i % 7).expect("a String");
    }
    strom(&dir)
        .args(["produce", "t", "--key-separator", "|"])
        .write_stdin(lines.clone())
        .assert()
        .success();
    let printed = stdout(strom(&dir).args([
        "consume",
        "t",
        "--from-beginning",
        "--print-key",
        "--timeout-ms",
        "300",
    ]));
    let mut got: Vec<&str> = printed.lines().collect();
    let mut want: Vec<String> = lines.lines().map(|l| l.replacen('|', "\t", 1)).collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want);
    // Without a key separator a line is a value with no key.
    strom(&dir)
        .args(["produce", "t", "--partition", "1"])
        .write_stdin("no key here\n")
        .assert()
        .success();
    let json = stdout(strom(&dir).args([
        "consume",
        "t",
        "--partition",
        "1",
        "--offset",
        "0",
        "--json",
        "--timeout-ms",
        "300",
    ]));
    let last: serde_json::Value =
        serde_json::from_str(json.lines().last().expect("a record")).expect("json");
    assert_eq!(last["key"], serde_json::Value::Null);
    assert_eq!(last["value"], "no key here");
    assert_eq!(last["topic"], "t");
    assert_eq!(last["partition"], 1);
}

#[test]
fn consume_json_has_the_contract_fields_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path()).expect("open");
    broker
        .create_topic("h", TopicConfig::default())
        .expect("create");
    broker
        .producer()
        .send(
            "h",
            Record::new("v")
                .key("k")
                .header("trace", "abc")
                .timestamp(42),
        )
        .expect("send");
    broker
        .producer()
        .send("h", Record::tombstone("gone"))
        .expect("send");
    broker.close().expect("close");
    let out = stdout(strom(dir.path()).args(["consume", "h", "--from-beginning", "--json"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        r#"{"topic":"h","partition":0,"offset":0,"timestamp":42,"key":"k","value":"v","headers":[{"key":"trace","value":"abc"}]}"#
    );
    let tombstone: serde_json::Value = serde_json::from_str(lines[1]).expect("json");
    assert_eq!(tombstone["key"], "gone");
    assert_eq!(tombstone["value"], serde_json::Value::Null);
}

#[test]
fn consume_max_messages_from_time_and_group_commits() {
    let dir = data(40);
    let out = stdout(strom(dir.path()).args([
        "consume",
        "clicks",
        "--from-beginning",
        "--max-messages",
        "7",
    ]));
    assert_eq!(out.lines().count(), 7);
    // Timestamps are 1000 + i: from 1030 on, records 30..40.
    let out =
        stdout(strom(dir.path()).args(["consume", "clicks", "--from-time", "1030", "--json"]));
    let mut values: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["value"]
                .as_str()
                .expect("value")
                .to_owned()
        })
        .collect();
    values.sort();
    let mut want: Vec<String> = (30..40).map(|i| format!("v{i}")).collect();
    want.sort();
    assert_eq!(values, want);
    // RFC 3339: 1970-01-01T00:00:01.035Z is 1035 ms.
    let out = stdout(strom(dir.path()).args([
        "consume",
        "clicks",
        "--from-time",
        "1970-01-01T00:00:01.035Z",
    ]));
    assert_eq!(out.lines().count(), 5);
    // A group starts at its commits: 25 now, the other 15 next time, none after that.
    let first = stdout(strom(dir.path()).args([
        "consume",
        "clicks",
        "--group",
        "g",
        "--from-beginning",
        "--max-messages",
        "25",
    ]));
    let second = stdout(strom(dir.path()).args(["consume", "clicks", "--group", "g"]));
    assert_eq!((first.lines().count(), second.lines().count()), (25, 15));
    let third = stdout(strom(dir.path()).args([
        "consume",
        "clicks",
        "--group",
        "g",
        "--timeout-ms",
        "100",
    ]));
    assert_eq!(third, "");
    // Without a group or a start, a console consumer starts at the end.
    assert_eq!(
        stdout(strom(dir.path()).args(["consume", "clicks", "--timeout-ms", "100"])),
        ""
    );
}

#[test]
fn topics_list_describe_alter_delete() {
    let dir = data(10);
    assert_eq!(
        stdout(strom(dir.path()).args(["topics", "list"])),
        "clicks\n"
    );
    let described = stdout(strom(dir.path()).args(["topics", "describe", "clicks"]));
    assert!(
        described.starts_with("Topic: clicks\tPartitionCount: 2\t"),
        "{described}"
    );
    assert!(
        described.contains("PARTITION  LOG-START-OFFSET"),
        "{described}"
    );
    strom(dir.path())
        .args([
            "topics",
            "alter",
            "clicks",
            "--partitions",
            "3",
            "--config",
            "retention.ms=1000",
            "--config",
            "cleanup.policy=compact,delete",
        ])
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_str(&stdout(
        strom(dir.path()).args(["topics", "describe", "clicks", "--json"]),
    ))
    .expect("json");
    assert_eq!(json["name"], "clicks");
    assert_eq!(json["config"]["retention.ms"], 1000);
    assert_eq!(json["config"]["cleanup.policy"], "compact,delete");
    assert_eq!(json["config"]["retention.bytes"], -1);
    let partitions = json["partitions"].as_array().expect("partitions");
    assert_eq!(partitions.len(), 3);
    let total: u64 = partitions
        .iter()
        .map(|p| p["high_watermark"].as_u64().expect("hw"))
        .sum();
    assert_eq!(total, 10);
    for key in [
        "partition",
        "log_start_offset",
        "high_watermark",
        "last_stable_offset",
        "segments",
        "size_bytes",
    ] {
        assert!(partitions[0].get(key).is_some(), "{key}");
    }
    strom(dir.path())
        .args(["topics", "alter", "clicks", "--partitions", "1"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: ").and(predicate::str::contains("clicks")));
    strom(dir.path())
        .args(["topics", "delete", "clicks"])
        .assert()
        .success();
    assert_eq!(stdout(strom(dir.path()).args(["topics", "list"])), "");
    strom(dir.path())
        .args(["topics", "describe", "clicks"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("clicks"));
}

#[test]
fn groups_describe_lag_and_reset_offsets_dry_run_then_execute() {
    let dir = data(20);
    strom(dir.path())
        .args([
            "consume",
            "clicks",
            "--group",
            "app",
            "--from-beginning",
            "--max-messages",
            "20",
        ])
        .assert()
        .success();
    assert_eq!(stdout(strom(dir.path()).args(["groups", "list"])), "app\n");
    let lag = |dir: &Path| -> u64 {
        let json: serde_json::Value = serde_json::from_str(&stdout(
            strom(dir).args(["groups", "describe", "app", "--json"]),
        ))
        .expect("json");
        assert_eq!(json["group_id"], "app");
        json["partitions"]
            .as_array()
            .expect("partitions")
            .iter()
            .map(|p| p["lag"].as_u64().expect("lag"))
            .sum()
    };
    assert_eq!(lag(dir.path()), 0);
    let table = stdout(strom(dir.path()).args(["groups", "describe", "app"]));
    assert!(
        table.contains("CURRENT-OFFSET") && table.contains("LAG"),
        "{table}"
    );

    let dry = stdout(strom(dir.path()).args([
        "groups",
        "reset-offsets",
        "app",
        "--topic",
        "clicks",
        "--to-earliest",
    ]));
    assert!(dry.contains("dry run"), "{dry}");
    assert!(
        dry.lines()
            .filter(|l| l.starts_with("app"))
            .all(|l| l.ends_with(" 0")),
        "{dry}"
    );
    assert_eq!(lag(dir.path()), 0, "a dry run changes nothing");
    let done = stdout(strom(dir.path()).args([
        "groups",
        "reset-offsets",
        "app",
        "--topic",
        "clicks",
        "--to-earliest",
        "--execute",
    ]));
    assert!(!done.contains("dry run"), "{done}");
    assert_eq!(lag(dir.path()), 20);
    strom(dir.path())
        .args([
            "groups",
            "reset-offsets",
            "app",
            "--topic",
            "clicks",
            "--to-offset",
            "3",
            "--execute",
        ])
        .assert()
        .success();
    assert_eq!(lag(dir.path()), 14);
    strom(dir.path())
        .args([
            "groups",
            "reset-offsets",
            "app",
            "--topic",
            "clicks",
            "--to-datetime",
            "1970-01-01T00:00:01.010Z",
            "--execute",
        ])
        .assert()
        .success();
    assert_eq!(lag(dir.path()), 10, "records from timestamp 1010 on");
    strom(dir.path())
        .args(["groups", "describe", "nobody"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nobody"));
}

/// The first `.log` of `clicks/0`.
fn segment(dir: &Path) -> std::path::PathBuf {
    dir.join("clicks").join("0").join(format!("{:020}.log", 0))
}

#[test]
fn dump_prints_batches_and_records() {
    let dir = data(10);
    let out = stdout(
        strom(dir.path())
            .args(["dump"])
            .arg(segment(dir.path()))
            .arg("--print-data"),
    );
    assert!(
        out.contains("baseOffset: 0 lastOffset: 0 count: 1"),
        "{out}"
    );
    assert!(out.contains("isvalid: true"), "{out}");
    assert!(out.contains("| offset: 0 CreateTime: "), "{out}");
    assert!(out.contains("payload: v"), "{out}");
    let without = stdout(strom(dir.path()).args(["dump"]).arg(segment(dir.path())));
    assert!(!without.contains("| offset"), "{without}");
}

#[test]
fn verify_and_dump_find_a_flipped_byte() {
    let dir = data(30);
    strom(dir.path())
        .args(["verify"])
        .assert()
        .success()
        .stdout(predicate::str::contains("no damage"));
    let path = segment(dir.path());
    let mut bytes = std::fs::read(&path).expect("read");
    // A byte inside the second batch's records (each batch here is one small record).
    let first = batch::read_header(&bytes).expect("first batch").length as usize;
    let second_len = batch::read_header(&bytes[first..])
        .expect("second batch")
        .length as usize;
    bytes[first + second_len - 2] ^= 0x40;
    std::fs::write(&path, &bytes).expect("write");
    let assert = strom(dir.path()).args(["verify"]).assert().code(1);
    let out = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    let err = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        out.contains(&format!(
            "DAMAGED {} at byte {first}: checksum mismatch",
            path.display()
        )),
        "{out}"
    );
    assert!(err.starts_with("error: 1 damaged place"), "{err}");
    let json = strom(dir.path())
        .args(["verify", "--json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&json).expect("json");
    assert_eq!(report["ok"], false);
    assert_eq!(report["damage"][0]["position"], first);
    assert_eq!(report["damage"][0]["file"], path.display().to_string());
    let dump = strom(dir.path())
        .arg("dump")
        .arg(&path)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let dump = String::from_utf8_lossy(&dump);
    assert!(
        dump.contains(&format!("position: {first} ")) && dump.contains("isvalid: false"),
        "{dump}"
    );
}

#[test]
fn verify_finds_an_index_entry_pointing_inside_a_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path()).expect("open");
    broker
        .create_topic("clicks", TopicConfig::default().index_interval_bytes(100))
        .expect("create");
    for i in 0..50 {
        broker
            .producer()
            .send("clicks", Record::new(format!("value {i}")))
            .expect("send");
    }
    broker.close().expect("close");
    strom(dir.path()).arg("verify").assert().success();
    let index = segment(dir.path()).with_extension("index");
    let mut bytes = std::fs::read(&index).expect("an index was written");
    assert!(bytes.len() >= 8, "index entries");
    bytes[4] = bytes[4].wrapping_add(1);
    std::fs::write(&index, &bytes).expect("write");
    strom(dir.path())
        .arg("verify")
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "DAMAGED {} at byte 0: entry 0: position",
            index.display()
        )));
}

#[test]
fn errors_and_usage_exit_codes() {
    let dir = data(1);
    strom(dir.path())
        .arg("nonsense")
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with("error: "));
    strom(dir.path()).args(["consume"]).assert().code(2);
    strom(dir.path())
        .args(["consume", "clicks", "--from-time", "noon"])
        .assert()
        .code(2);
    strom(dir.path())
        .args(["groups", "reset-offsets", "g", "--topic", "clicks"])
        .assert()
        .code(2);
    strom(dir.path())
        .args([
            "groups",
            "reset-offsets",
            "g",
            "--topic",
            "clicks",
            "--to-earliest",
            "--to-latest",
        ])
        .assert()
        .code(2);
    strom(dir.path())
        .args(["topics", "create", "x", "--config", "nope=1"])
        .assert()
        .code(2);
    strom(dir.path())
        .args(["topics", "create", "x", "--config", "retention.ms=soon"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("retention.ms"));
    strom(dir.path())
        .args(["consume", "absent"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("absent"));
    strom(dir.path())
        .args(["consume", "clicks", "--partition", "9"])
        .assert()
        .code(1);
    strom(dir.path())
        .args(["produce", "clicks", "--key-separator", ":"])
        .write_stdin("no separator\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("line 1"));
    strom(&dir.path().join("missing"))
        .args(["topics", "list"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("missing"));
    assert!(
        !dir.path().join("missing").exists(),
        "a reading command created the directory"
    );
    strom(dir.path())
        .args(["dump", "/nonexistent.log"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: "));
    for help in [
        &["--help"][..],
        &["topics", "create", "--help"],
        &["consume", "--help"],
        &["groups", "reset-offsets", "--help"],
        &["dump", "--help"],
        &["verify", "--help"],
    ] {
        strom(dir.path())
            .args(help)
            .assert()
            .success()
            .stdout(predicate::str::contains("Usage: strom"));
    }
}

#[test]
fn dir_comes_from_strom_dir_when_not_given() {
    let dir = data(1);
    let mut cmd = Command::cargo_bin("strom").expect("binary");
    cmd.env("STROM_DIR", dir.path())
        .args(["topics", "list"])
        .assert()
        .success()
        .stdout("clicks\n");
}

#[test]
fn completions_are_generated_for_each_shell() {
    let dir = tempfile::tempdir().expect("tempdir");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = stdout(strom(dir.path()).args(["completions", shell]));
        assert!(out.contains("reset-offsets"), "{shell}");
    }
    strom(dir.path())
        .args(["completions", "tcsh"])
        .assert()
        .code(2);
}

/// The writer process of `a_directory_held_by_a_live_writer`: this test binary run again
/// with `STROM_CLI_TEST_WRITER=DIR`. It appends to `live` until its stdin closes, printing
/// `ready` once it holds the directory with records in it.
#[test]
fn live_writer_child() {
    let Some(dir) = std::env::var_os("STROM_CLI_TEST_WRITER") else {
        return;
    };
    let broker = Broker::open(&dir).expect("writer opens");
    broker
        .create_topic("live", TopicConfig::default().partitions(2))
        .expect("create");
    let producer = broker.producer();
    for i in 0..100 {
        producer
            .send("live", Record::new(format!("r{i}")))
            .expect("send");
    }
    println!("ready");
    std::io::stdout().flush().expect("flush");
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = std::io::stdin().read_line(&mut sink);
        let _ = done_tx.send(());
    });
    let mut i = 100;
    // Paced (a record a millisecond), so that the directory stays small while the
    // commands run; the readers wait on nothing but what is already there.
    while done_rx
        .recv_timeout(std::time::Duration::from_millis(1))
        .is_err()
    {
        producer
            .send("live", Record::new(format!("r{i}")))
            .expect("send");
        i += 1;
    }
    broker.close().expect("close");
}

#[test]
fn a_directory_held_by_a_live_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut writer = Process::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "live_writer_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("STROM_CLI_TEST_WRITER", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn writer");
    let mut lines = BufReader::new(writer.stdout.take().expect("stdout")).lines();
    // libtest prints `test live_writer_child ... ` before the child's own output.
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.trim_end().ends_with("ready"))),
        "the writer never became ready"
    );
    // Reading commands work beside it, read-only.
    assert_eq!(stdout(strom(dir.path()).args(["topics", "list"])), "live\n");
    let json: serde_json::Value = serde_json::from_str(&stdout(
        strom(dir.path()).args(["topics", "describe", "live", "--json"]),
    ))
    .expect("json");
    let total: u64 = json["partitions"]
        .as_array()
        .expect("p")
        .iter()
        .map(|p| p["high_watermark"].as_u64().expect("hw"))
        .sum();
    assert!(total >= 100, "{json}");
    let out = stdout(strom(dir.path()).args([
        "consume",
        "live",
        "--from-beginning",
        "--max-messages",
        "150",
    ]));
    assert_eq!(out.lines().count(), 150);
    assert!(out.lines().all(|l| l.starts_with('r')), "{out}");
    strom(dir.path()).arg("verify").assert().success();
    // Writing commands fail, naming the process that holds the directory.
    let pid = writer.id().to_string();
    for args in [
        &["topics", "create", "other"][..],
        &["topics", "delete", "live"],
        &[
            "groups",
            "reset-offsets",
            "g",
            "--topic",
            "live",
            "--to-earliest",
            "--execute",
        ],
    ] {
        strom(dir.path()).args(args).assert().code(1).stderr(
            predicate::str::starts_with("error: ")
                .and(predicate::str::contains(format!("held by process {pid}"))),
        );
    }
    strom(dir.path())
        .args(["produce", "live"])
        .write_stdin("x\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("process {pid}")));
    // A dry run of a reset only reads.
    strom(dir.path())
        .args([
            "groups",
            "reset-offsets",
            "g",
            "--topic",
            "live",
            "--to-latest",
        ])
        .assert()
        .success();
    drop(writer.stdin.take());
    assert!(writer.wait().expect("wait").success(), "the writer failed");
}
