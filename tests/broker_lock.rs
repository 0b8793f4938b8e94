//! A data directory has one broker at a time: a second `Broker::open`, in this process or another, gets `Error::Locked` naming the path until the first is closed.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use strom::{Broker, Error, Record, Result, TopicConfig};

/// Set (to a data directory) when this binary is re-executed as the child process.
const CHILD_ENV: &str = "STROM_LOCK_CHILD";
/// Child exit codes.
const OPENED: i32 = 0;
const LOCKED: i32 = 3;
const OTHER_ERROR: i32 = 4;

fn assert_locked(result: Result<Broker>, dir: &Path) {
    match result {
        Err(e @ Error::Locked { .. }) => {
            let Error::Locked { path } = &e else {
                unreachable!()
            };
            assert!(
                path.starts_with(dir),
                "the lock path {} is in {}",
                path.display(),
                dir.display()
            );
            let message = e.to_string();
            assert!(
                message.contains(&dir.display().to_string()),
                "the message names the directory: {message}"
            );
        }
        Err(e) => panic!("expected Error::Locked, got {e}"),
        Ok(_) => panic!("a second broker opened {}", dir.display()),
    }
}

#[test]
fn a_second_open_in_this_process_is_locked_until_close() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = Broker::open(dir.path())?;
    first.create_topic("t", TopicConfig::default())?;
    assert_locked(Broker::open(dir.path()), dir.path());
    // Still locked while any clone is alive.
    let clone = first.clone();
    drop(first);
    assert_locked(Broker::open(dir.path()), dir.path());
    clone.producer().send("t", Record::new("one"))?;
    clone.close()?;

    let second = Broker::open(dir.path())?;
    assert_eq!(second.topics(), ["t"]);
    assert_eq!(second.describe_topic("t")?.partitions[0].high_watermark, 1);
    assert_locked(Broker::open(dir.path()), dir.path());
    // Dropping the last handle releases the lock too.
    drop(second);
    let third = Broker::open(dir.path())?;
    third.close()
}

#[test]
fn a_failed_open_does_not_disturb_the_holder() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let holder = Broker::open(dir.path())?;
    holder.create_topic("t", TopicConfig::default())?;
    for _ in 0..3 {
        assert_locked(Broker::open(dir.path()), dir.path());
    }
    // The holder still works, and shuts down cleanly.
    let meta = holder.producer().send("t", Record::new("after"))?;
    assert_eq!(meta.offset, 0);
    holder.close()?;
    assert!(
        dir.path().join(".clean").exists(),
        "the holder wrote its clean marker"
    );
    let again = Broker::open(dir.path())?;
    assert_eq!(again.describe_topic("t")?.partitions[0].high_watermark, 1);
    again.close()
}

/// Runs `lock_child` in a new process of this test binary on `dir`.
fn run_child(dir: &Path) -> Output {
    let exe = std::env::current_exe().expect("test binary");
    Command::new(exe)
        .args(["--exact", "lock_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .output()
        .expect("run child")
}

/// The child: tries to open the directory, reports the outcome on stdout and in its exit
/// code; when it opens, it creates a topic so the parent can see it really did.
#[test]
fn lock_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let (line, code) = match Broker::open(&dir) {
        Ok(broker) => {
            let created = broker
                .create_topic("from-child", TopicConfig::default())
                .and_then(|()| broker.producer().send("from-child", Record::new("hi")))
                .and_then(|_| broker.close());
            match created {
                Ok(()) => ("OPENED".to_string(), OPENED),
                Err(e) => (format!("ERROR {e}"), OTHER_ERROR),
            }
        }
        Err(e @ Error::Locked { .. }) => (format!("LOCKED {e}"), LOCKED),
        Err(e) => (format!("ERROR {e}"), OTHER_ERROR),
    };
    let mut out = std::io::stdout().lock();
    // On a line of its own: the test harness has printed "test lock_child ... " already.
    writeln!(out, "\nCHILD {line}").expect("write");
    out.flush().expect("flush");
    std::process::exit(code);
}

fn child_line(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("CHILD ").map(str::to_string))
        .unwrap_or_else(|| panic!("no report from the child: {output:?}"))
}

#[test]
fn another_process_is_locked_out_until_close() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("mine", TopicConfig::default())?;

    let output = run_child(dir.path());
    let line = child_line(&output);
    assert_eq!(output.status.code(), Some(LOCKED), "child: {line}");
    assert!(
        line.contains(&dir.path().display().to_string()),
        "the message names the directory: {line}"
    );
    // The child's attempt left the parent's broker alone.
    broker.producer().send("mine", Record::new("still mine"))?;
    broker.close()?;

    let output = run_child(dir.path());
    let line = child_line(&output);
    assert_eq!(output.status.code(), Some(OPENED), "child: {line}");
    let broker = Broker::open(dir.path())?;
    assert_eq!(broker.topics(), ["from-child", "mine"]);
    assert_eq!(
        broker.describe_topic("from-child")?.partitions[0].high_watermark,
        1
    );
    assert_eq!(
        broker.describe_topic("mine")?.partitions[0].high_watermark,
        1
    );
    broker.close()
}
