//! Helpers shared by the integration tests: each file under `tests/` that needs them says
//! `mod common;`. Only what several test files did the same way is here; a helper that one
//! test tunes to its own needs stays in that test.

// Every test binary compiles this whole module but uses a different subset of it; the rest
// would warn as dead code in each of them.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use strom::streams::Codec;
use strom::{
    Broker, ConsumerConfig, ConsumerRecord, IsolationLevel, OffsetReset, Record, Result,
    TopicPartition,
};

// ---------------------------------------------------------------------------------------
// Wall clock

/// One day in milliseconds, for record timestamps relative to `now_ms`.
pub(crate) const DAY_MS: i64 = 24 * 3600 * 1000;

/// The wall clock in milliseconds since the Unix epoch, as record timestamps are kept:
/// retention and tombstone expiry compare against it.
pub(crate) fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms")
}

// ---------------------------------------------------------------------------------------
// Self-checking values

/// 64-bit FNV-1a, to make every value self-checking.
pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `body.checksum`: `body` followed by its FNV-1a checksum in 16 hex digits, so that a
/// value read back after a crash can tell whether it is intact.
pub(crate) fn checksummed(body: &str) -> String {
    format!("{body}.{:016x}", fnv(body.as_bytes()))
}

/// The body of a stored value that `checksummed` made, or `None` if it is not UTF-8 or its
/// checksum does not match. The caller still checks the body's own shape.
pub(crate) fn checked_body(stored: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(stored).ok()?;
    let (body, sum) = text.rsplit_once('.')?;
    (u64::from_str_radix(sum, 16).ok()? == fnv(body.as_bytes())).then_some(body)
}

// ---------------------------------------------------------------------------------------
// Deterministic pseudo-random numbers (no dependency, the same sequence on every machine)

/// `SplitMix64`: a deterministic pseudo-random sequence from a seed.
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    pub(crate) fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    /// A number below `n` (`n` > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A xorshift64 generator: the same bytes on every machine (the fuzz corpora are built and
/// mutated with it, so changing it changes their bytes).
pub(crate) struct XorShift64(pub(crate) u64);

impl XorShift64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `n` bytes, the low byte of each step.
    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next().to_le_bytes()[0]).collect()
    }

    /// A number below `n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ---------------------------------------------------------------------------------------
// Settings from the environment (run lengths, and what a parent tells its child process)

/// The number in the environment variable `name`, if it is set; a value that is not a
/// number fails the test, naming the variable.
pub(crate) fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    let value = std::env::var(name).ok()?;
    let number = value
        .parse()
        .unwrap_or_else(|_| panic!("{name} is a number, not {value:?}"));
    Some(number)
}

// ---------------------------------------------------------------------------------------
// Child processes for the kill tests

/// Runs the test `child_test` of this same test binary in a child process, with `envs` set
/// and its stdout piped; the kill tests re-execute themselves this way, and the child test
/// does its work only when its environment variable is set (otherwise it passes at once).
///
/// Each complete line the child prints, without its line end, goes to `on_line`; the child
/// is killed (SIGKILL) the first time `on_line` returns true. Lines already in the pipe when
/// the child died were printed after their call returned, so they still go to `on_line`; a
/// last line without its newline was cut by the kill and is not taken.
///
/// Returns whether the child was killed that way (rather than stopping by itself) and its
/// exit status.
pub(crate) fn run_child_until_killed(
    child_test: &str,
    envs: &[(&str, &OsStr)],
    mut on_line: impl FnMut(&str) -> bool,
) -> (bool, ExitStatus) {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args(["--exact", child_test, "--nocapture", "--test-threads=1"])
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start child");
    let mut reader = BufReader::new(child.stdout.take().expect("child stdout"));
    let mut killed = false;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).expect("read child stdout") == 0 || !line.ends_with('\n') {
            break;
        }
        if on_line(line.trim_end()) && !killed {
            child.kill().expect("kill child");
            killed = true;
        }
    }
    if !killed {
        child.kill().expect("kill child");
    }
    let status = child.wait().expect("wait for child");
    (killed, status)
}

// ---------------------------------------------------------------------------------------
// Data directories and segment files

/// The `.log` files of `topic`-`partition` under the data directory `dir`, in offset order
/// (their names are their base offsets, zero-padded).
pub(crate) fn segment_logs(dir: &Path, topic: &str, partition: u32) -> Vec<PathBuf> {
    let part = dir.join(topic).join(partition.to_string());
    let mut logs: Vec<PathBuf> = fs::read_dir(&part)
        .expect("partition directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs
}

/// One batch of a segment file: where it is and which offsets it holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchSpan {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) base_offset: u64,
    pub(crate) count: u64,
}

/// The batches of a segment's bytes, walked by their headers' base offset, length and
/// offsets (read here, not by strom's decoder), up to a zeroed header or the end. Version 2
/// (Kafka's `RecordBatch`, big-endian) and version 1 (little-endian) batches are told apart by
/// the version byte at 16.
pub(crate) fn batch_spans(bytes: &[u8]) -> Vec<BatchSpan> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 17 <= bytes.len() {
        let field = |at: usize, n: usize, big: bool| -> u64 {
            let b = &bytes[pos + at..pos + at + n];
            let fold = |acc: u64, &x: &u8| (acc << 8) | u64::from(x);
            if big {
                b.iter().fold(0, fold)
            } else {
                b.iter().rev().fold(0, fold)
            }
        };
        let (base_offset, length, count) = match bytes[pos + 16] {
            2 if pos + 61 <= bytes.len() => (
                field(0, 8, true),
                field(8, 4, true) + 12,
                field(23, 4, true) + 1,
            ),
            1 if pos + 40 <= bytes.len() => {
                (field(0, 8, false), field(8, 4, false), field(20, 4, false))
            }
            _ => break,
        };
        if length < 40 {
            break;
        }
        let end = pos + usize::try_from(length).expect("length");
        assert!(end <= bytes.len(), "batch at {pos} runs past the file");
        out.push(BatchSpan {
            start: pos as u64,
            end: end as u64,
            base_offset,
            count,
        });
        pos = end;
    }
    out
}

/// Copies the directory tree `from` into `to` (created if missing), so that each case can
/// damage its own copy of a pristine data directory.
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create copy");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Every record of `topic`-`partition`, from its log start to its high watermark, read by a
/// fresh consumer without a group.
pub(crate) fn read_partition(
    broker: &Broker,
    topic: &str,
    partition: u32,
) -> Result<Vec<ConsumerRecord>> {
    let config = ConsumerConfig::default()
        .auto_offset_reset(OffsetReset::Earliest)
        .max_poll_records(100_000);
    let mut consumer = broker.consumer(config);
    consumer.assign(&[TopicPartition::new(topic, partition)])?;
    let mut out = Vec::new();
    loop {
        let records = consumer.poll(Duration::ZERO)?;
        if records.is_empty() {
            return Ok(out);
        }
        out.extend(records);
    }
}

/// Sends `value` under `key` to `topic`, dated `timestamp_ms`.
pub(crate) fn send_at(
    broker: &Broker,
    topic: &str,
    key: &str,
    value: &str,
    timestamp_ms: i64,
) -> Result<()> {
    broker
        .producer()
        .send(topic, Record::new(value).key(key).timestamp(timestamp_ms))?;
    Ok(())
}

/// Every value of every partition of `topic` decoded as a `u64` (a stream application's
/// output), read `ReadCommitted` from the start until a poll of 200 ms finds nothing.
pub(crate) fn read_committed_u64(broker: &Broker, topic: &str) -> Result<Vec<u64>> {
    Ok(read_committed_keyed_u64(broker, topic)?
        .into_iter()
        .map(|(_, value)| value)
        .collect())
}

/// Every committed record of `topic` as (key, `u64` value), each partition in order, read
/// as [`read_keyed`] reads.
pub(crate) fn read_committed_keyed_u64(broker: &Broker, topic: &str) -> Result<Vec<(String, u64)>> {
    read_keyed(broker, topic, IsolationLevel::ReadCommitted)?
        .into_iter()
        .map(|(key, value)| Ok((key, u64::decode(&value)?)))
        .collect()
}

/// Every record of every partition of `topic` as (key as a string, value), each partition
/// in order, read with `isolation` from the start until a poll of 200 ms finds nothing.
pub(crate) fn read_keyed(
    broker: &Broker,
    topic: &str,
    isolation: IsolationLevel,
) -> Result<Vec<(String, Vec<u8>)>> {
    let partitions = broker.describe_topic(topic)?.partitions.len();
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .isolation_level(isolation),
    );
    let tps: Vec<TopicPartition> = (0..u32::try_from(partitions).expect("count"))
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    consumer.assign(&tps)?;
    let mut out = Vec::new();
    loop {
        let records = consumer.poll(Duration::from_millis(200))?;
        if records.is_empty() {
            return Ok(out);
        }
        for r in &records {
            let key = String::from_utf8_lossy(r.key().unwrap_or_default()).into_owned();
            out.push((key, r.value().to_vec()));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Consumer-group tests: member threads and the test thread

/// Sets `stop` when the test thread leaves, even by a failed assertion, so that the member
/// threads it started stop polling too.
pub(crate) struct StopOnDrop<'a>(pub(crate) &'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Where member threads wait for each other to stop polling before they close, so that no
/// close rebalances a member still polling. Bounded: a thread that died is not waited for
/// beyond `deadline`.
pub(crate) struct Rendezvous {
    expected: usize,
    arrived: AtomicUsize,
    deadline: Duration,
}

impl Rendezvous {
    pub(crate) fn new(expected: usize, deadline: Duration) -> Self {
        Self {
            expected,
            arrived: AtomicUsize::new(0),
            deadline,
        }
    }

    pub(crate) fn arrive_and_wait(&self) {
        self.arrived.fetch_add(1, Ordering::AcqRel);
        let until = Instant::now() + self.deadline;
        while self.arrived.load(Ordering::Acquire) < self.expected && Instant::now() < until {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Asserts that no record of `processed` — (member, partition, offset) — was processed
/// twice, and returns the (partition, offset) of every record processed.
#[track_caller]
pub(crate) fn assert_processed_once(
    processed: &[(usize, u32, u64)],
) -> std::collections::BTreeSet<(u32, u64)> {
    let mut seen = std::collections::BTreeSet::new();
    let duplicates: Vec<_> = processed
        .iter()
        .filter(|&&(_, p, o)| !seen.insert((p, o)))
        .collect();
    assert!(
        duplicates.is_empty(),
        "{} records processed twice, e.g. {:?}",
        duplicates.len(),
        &duplicates[..duplicates.len().min(10)]
    );
    seen
}
