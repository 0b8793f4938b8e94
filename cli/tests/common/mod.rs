//! What the `strom mirror` process tests share: the binary, the progress they watch (the
//! target's high watermarks, the mirror group's commits) and the loop that kills the mirror
//! with SIGKILL at growing marks until a run finishes.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses part of it"
)]

use std::path::Path;
use std::process::{Command, Stdio};

use strom::{Broker, BrokerConfig};

/// The `strom` binary, blind to a `STROM_DIR` of the environment running the tests.
pub fn strom() -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("strom"));
    command.env_remove("STROM_DIR");
    command
}

/// The records of `topic` in `dir` so far (its high watermarks' sum), opened read-only beside
/// the process writing it; 0 while the topic does not exist.
pub fn held(dir: &Path, topic: &str) -> u64 {
    if !dir.join(topic).exists() {
        return 0;
    }
    let broker = Broker::open_with(dir, BrokerConfig::default().read_only(true)).unwrap();
    let held = broker
        .describe_topic(topic)
        .map_or(0, |t| t.partitions.iter().map(|p| p.high_watermark).sum());
    broker.close().unwrap();
    held
}

/// The sum of group `strom-mirror`'s committed offsets in `dir` (opened read-only beside
/// the mirror that holds it): how far the mirror has got.
pub fn committed(dir: &Path) -> u64 {
    let broker = Broker::open_with(dir, BrokerConfig::default().read_only(true)).unwrap();
    let sum = broker
        .committed_offsets("strom-mirror")
        .unwrap()
        .iter()
        .map(|(_, offset)| offset)
        .sum();
    broker.close().unwrap();
    sum
}

/// Runs `strom --dir DIR mirror ARGS --once`, killing it with SIGKILL each time `copied`
/// reaches a growing mark (1, then `step` more each time), until a run finishes; returns how
/// many were killed. The first kill comes as soon as anything was copied, so that one lands
/// mid-copy even when the copy is quick.
pub fn copy_with_kills(dir: &Path, args: &[&str], step: u64, copied: impl Fn() -> u64) -> u32 {
    let mut kills = 0;
    let mut mark = 1;
    loop {
        let mut mirror = strom()
            .arg("--dir")
            .arg(dir)
            .arg("mirror")
            .args(args)
            .arg("--once")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let finished = loop {
            if let Some(status) = mirror.try_wait().unwrap() {
                assert!(status.success(), "the mirror failed: {status}");
                break true;
            }
            if copied() >= mark {
                break false;
            }
            std::thread::yield_now();
        };
        if finished {
            assert!(kills >= 1, "no run was killed mid-copy");
            return kills;
        }
        mirror.kill().unwrap();
        mirror.wait().unwrap();
        kills += 1;
        mark += step;
    }
}
