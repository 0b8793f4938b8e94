//! Table-driven hostile input for every public entry point — empty, 10 KB, `/`, `..`, NUL and non-ASCII names; 0 and `u32::MAX` partitions; offsets past the end under each `OffsetReset`; timestamps before the epoch; oversized records; unknown topics, partitions and groups; every call after `close` — gets the documented error without a panic, leaves the data directory exactly as it was (paths and sizes), and leaves the broker usable.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Duration;

use strom::{
    Broker, BrokerConfig, ConsumerConfig, Error, OffsetReset, Record, Result, TopicConfig,
    TopicPartition,
};

/// A topic that every case sends to afterwards, to show the broker still works.
const OK: &str = "ok";
/// A topic with three partitions, a small record limit and a few records.
const THREE: &str = "three";
const SMALL_MAX: usize = 100;
const RECORDS_PER_PARTITION: u64 = 4;

/// Relative path → size (`None` for a directory) of everything under `dir`.
type Snapshot = BTreeMap<String, Option<u64>>;

fn snapshot(dir: &Path) -> Snapshot {
    fn walk(root: &Path, dir: &Path, out: &mut Snapshot) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let entry = entry.expect("dir entry");
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            let meta = entry.metadata().expect("metadata");
            if meta.is_dir() {
                out.insert(rel, None);
                walk(root, &path, out);
            } else {
                out.insert(rel, Some(meta.len()));
            }
        }
    }
    let mut out = Snapshot::new();
    walk(dir, dir, &mut out);
    out
}

/// What differs between two snapshots, for a readable failure.
fn diff(before: &Snapshot, after: &Snapshot) -> String {
    let mut out = Vec::new();
    for (path, size) in before {
        match after.get(path) {
            None => out.push(format!("removed {path}")),
            Some(s) if s != size => out.push(format!("{path}: {size:?} -> {s:?}")),
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        out.push(format!("created {path}"));
    }
    out.join(", ")
}

/// A short, printable form of a possibly enormous argument.
fn show(s: &str) -> String {
    if s.len() > 40 {
        format!("{:?}… ({} bytes)", &s[..20], s.len())
    } else {
        format!("{s:?}")
    }
}

/// An error's debug form, cut short: some carry a 20 KB path.
fn clip(e: &Error) -> String {
    let s = format!("{e:?}");
    match s.char_indices().nth(300) {
        Some((at, _)) => format!("{}… ({} bytes)", &s[..at], s.len()),
        None => s,
    }
}

/// Runs the cases and collects every deviation, so that one run reports them all.
struct Table<'a> {
    broker: &'a Broker,
    failures: Vec<String>,
}

impl<'a> Table<'a> {
    fn new(broker: &'a Broker) -> Self {
        Self {
            broker,
            failures: Vec::new(),
        }
    }

    /// `call` must fail with an error `want` accepts, without a panic and without touching
    /// the data directory; a valid send must work afterwards.
    fn fails<T: Debug>(
        &mut self,
        what: &str,
        expected: &str,
        want: impl Fn(&Error) -> bool,
        call: impl FnOnce() -> Result<T>,
    ) {
        let before = snapshot(self.broker.dir());
        let outcome = catch_unwind(AssertUnwindSafe(call));
        let after = snapshot(self.broker.dir());
        match outcome {
            Err(_) => self.failures.push(format!("{what}: panicked")),
            Ok(Ok(v)) => self
                .failures
                .push(format!("{what}: expected {expected}, got Ok({v:?})")),
            Ok(Err(e)) if !want(&e) => self
                .failures
                .push(format!("{what}: expected {expected}, got {}", clip(&e))),
            Ok(Err(_)) => {}
        }
        if before != after {
            self.failures.push(format!(
                "{what}: the failed call changed the data directory: {}",
                diff(&before, &after)
            ));
        }
        self.still_usable(what);
    }

    /// `call` must succeed without a panic; `check` judges its value.
    fn succeeds<T: Debug>(
        &mut self,
        what: &str,
        call: impl FnOnce() -> Result<T>,
        check: impl FnOnce(&T) -> std::result::Result<(), String>,
    ) {
        match catch_unwind(AssertUnwindSafe(call)) {
            Err(_) => self.failures.push(format!("{what}: panicked")),
            Ok(Err(e)) => self
                .failures
                .push(format!("{what}: expected success, got {}", clip(&e))),
            Ok(Ok(v)) => {
                if let Err(why) = check(&v) {
                    self.failures.push(format!("{what}: {why} (got {v:?})"));
                }
            }
        }
        self.still_usable(what);
    }

    fn still_usable(&mut self, what: &str) {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.broker.producer().send(OK, Record::new("still alive"))
        }));
        match outcome {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => self
                .failures
                .push(format!("{what}: a valid send afterwards failed: {e:?}")),
            Err(_) => self
                .failures
                .push(format!("{what}: a valid send afterwards panicked")),
        }
    }

    fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} deviation(s):\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

/// A broker with `ok` and `three` (three partitions of a few records each).
fn fixture(dir: &Path) -> Result<Broker> {
    let broker = Broker::open(dir)?;
    broker.create_topic(OK, TopicConfig::default())?;
    broker.create_topic(
        THREE,
        TopicConfig::default()
            .partitions(3)
            .max_record_bytes(SMALL_MAX)
            .segment_bytes(4096),
    )?;
    let producer = broker.producer();
    for p in 0..3 {
        for i in 0..RECORDS_PER_PARTITION {
            producer.send(
                THREE,
                Record::new(format!("v{i}"))
                    .partition(p)
                    .timestamp(1_000 * i64::try_from(i + 1).expect("small")),
            )?;
        }
    }
    Ok(broker)
}

/// Names no topic may have (or that no topic has): empty, 10 KB, path tricks, NUL,
/// non-ASCII, internal.
fn hostile_names() -> Vec<String> {
    vec![
        String::new(),
        "x".repeat(10 * 1024),
        "a/b".into(),
        "/etc".into(),
        "..".into(),
        ".".into(),
        "../escape".into(),
        "ok/../three".into(),
        "a\0b".into(),
        "\0".into(),
        "na\u{ef}ve".into(),
        "\u{1f600}".into(),
        "__consumer_offsets".into(),
        "ok\n".into(),
        " ok".into(),
    ]
}

#[test]
fn hostile_topic_names_everywhere() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = fixture(dir.path())?;
    let mut t = Table::new(&broker);
    let producer = broker.producer();
    for name in hostile_names() {
        let n = show(&name);
        t.fails(
            &format!("create_topic({n})"),
            "InvalidTopicName",
            |e| matches!(e, Error::InvalidTopicName { .. }),
            || broker.create_topic(&name, TopicConfig::default()),
        );
        let unknown = |e: &Error| matches!(e, Error::UnknownTopic { .. });
        t.fails(
            &format!("describe_topic({n})"),
            "UnknownTopic",
            unknown,
            || broker.describe_topic(&name),
        );
        t.fails(
            &format!("delete_topic({n})"),
            "UnknownTopic",
            unknown,
            || broker.delete_topic(&name),
        );
        t.fails(
            &format!("alter_topic({n})"),
            "UnknownTopic",
            unknown,
            || broker.alter_topic(&name, TopicConfig::default().partitions(5)),
        );
        t.fails(&format!("send({n})"), "UnknownTopic", unknown, || {
            producer.send(&name, Record::new("x"))
        });
        t.fails(&format!("send_batch({n})"), "UnknownTopic", unknown, || {
            producer.send_batch(&name, vec![Record::new("x")])
        });
        t.fails(&format!("send_json({n})"), "UnknownTopic", unknown, || {
            producer.send_json(&name, Some("k"), &1)
        });
        let mut consumer = broker.consumer(ConsumerConfig::default().group_id("g"));
        t.fails(&format!("assign({n})"), "UnknownTopic", unknown, || {
            consumer.assign(&[TopicPartition::new(name.clone(), 0)])
        });
        t.fails(&format!("subscribe({n})"), "UnknownTopic", unknown, || {
            consumer.subscribe([name.as_str()])
        });
        t.fails(
            &format!("commit_offsets({n})"),
            "UnknownTopic",
            unknown,
            || consumer.commit_offsets(&[(TopicPartition::new(name.clone(), 0), 1)]),
        );
        t.succeeds(
            &format!("committed({n})"),
            || consumer.committed(&TopicPartition::new(name.clone(), 0)),
            |c| c.is_none().then_some(()).ok_or("expected None".into()),
        );
        t.fails(
            &format!("describe_group({n})"),
            "UnknownGroup",
            |e| matches!(e, Error::UnknownGroup { .. }),
            || broker.describe_group(&name),
        );
    }
    // Nothing was created, and the internal offsets directory survived delete_topic.
    assert_eq!(broker.topics(), [OK, THREE]);
    assert!(dir.path().join("__consumer_offsets").is_dir());
    t.finish();
    broker.close()
}

#[test]
fn hostile_topic_configs() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = fixture(dir.path())?;
    let mut t = Table::new(&broker);
    let d = TopicConfig::default;
    let bad = [
        ("partitions 0", d().partitions(0)),
        ("partitions u32::MAX", d().partitions(u32::MAX)),
        ("segment_bytes 0", d().segment_bytes(0)),
        ("segment_bytes u64::MAX", d().segment_bytes(u64::MAX)),
        ("segment_ms 0", d().segment_ms(0)),
        ("segment_ms i64::MIN", d().segment_ms(i64::MIN)),
        ("retention_ms 0", d().retention_ms(0)),
        ("retention_ms i64::MIN", d().retention_ms(i64::MIN)),
        ("max_record_bytes 0", d().max_record_bytes(0)),
        (
            "max_record_bytes usize::MAX",
            d().max_record_bytes(usize::MAX),
        ),
        ("delete_retention_ms -1", d().delete_retention_ms(-1)),
        ("index_interval_bytes 0", d().index_interval_bytes(0)),
    ];
    let invalid = |e: &Error| matches!(e, Error::InvalidConfig { .. });
    for (what, config) in &bad {
        t.fails(
            &format!("create_topic with {what}"),
            "InvalidConfig",
            invalid,
            || broker.create_topic("fresh", config.clone()),
        );
        // alter_topic keeps THREE's partition count where that is not the point.
        let config = if config.partitions == 1 {
            config.clone().partitions(3)
        } else {
            config.clone()
        };
        t.fails(
            &format!("alter_topic with {what}"),
            "InvalidConfig",
            invalid,
            || broker.alter_topic(THREE, config),
        );
    }
    for shrink in [0, 1, 2] {
        t.fails(
            &format!("alter_topic shrink 3 -> {shrink}"),
            "InvalidConfig",
            invalid,
            || broker.alter_topic(THREE, d().partitions(shrink)),
        );
    }
    t.finish();
    // THREE is as it was.
    let desc = broker.describe_topic(THREE)?;
    assert_eq!(desc.partitions.len(), 3);
    assert_eq!(desc.config.max_record_bytes, SMALL_MAX);
    assert!(broker.topics().iter().all(|n| n != "fresh"));
    broker.close()
}

/// Judges an error.
type Want<'a> = &'a dyn Fn(&Error) -> bool;

#[test]
#[expect(clippy::too_many_lines, reason = "one table of cases")]
fn hostile_records() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = fixture(dir.path())?;
    let mut t = Table::new(&broker);
    let producer = broker.producer();
    let too_large = |e: &Error| matches!(e, Error::RecordTooLarge { .. });
    let bad_partition = |e: &Error| matches!(e, Error::InvalidPartition { .. });
    let bad_record = |e: &Error| matches!(e, Error::InvalidRecord { .. });
    let cases: Vec<(&str, Record, &str, Want<'_>)> = vec![
        (
            "value of max + 1",
            Record::new(vec![0u8; SMALL_MAX + 1]),
            "RecordTooLarge",
            &too_large,
        ),
        (
            "10 KB key",
            Record::new("").key("k".repeat(10 * 1024)),
            "RecordTooLarge",
            &too_large,
        ),
        (
            "10 KB header name",
            Record::new("").header("h".repeat(10 * 1024), ""),
            "RecordTooLarge",
            &too_large,
        ),
        (
            "10 KB tombstone key",
            Record::tombstone(vec![1u8; 10 * 1024]),
            "RecordTooLarge",
            &too_large,
        ),
        (
            "partition 3",
            Record::new("x").partition(3),
            "InvalidPartition",
            &bad_partition,
        ),
        (
            "partition u32::MAX",
            Record::new("x").partition(u32::MAX),
            "InvalidPartition",
            &bad_partition,
        ),
        (
            "keyed partition u32::MAX",
            Record::new("x").key("k").partition(u32::MAX),
            "InvalidPartition",
            &bad_partition,
        ),
        (
            "timestamp -1",
            Record::new("x").timestamp(-1),
            "InvalidRecord",
            &bad_record,
        ),
        (
            "timestamp i64::MIN",
            Record::new("x").timestamp(i64::MIN),
            "InvalidRecord",
            &bad_record,
        ),
    ];
    let hw = |b: &Broker| -> Vec<u64> {
        b.describe_topic(THREE)
            .expect("describe")
            .partitions
            .iter()
            .map(|p| p.high_watermark)
            .collect()
    };
    let start = hw(&broker);
    for (what, record, expected, want) in &cases {
        t.fails(&format!("send {what}"), expected, want, || {
            producer.send(THREE, record.clone())
        });
        // Bad record first, last and in the middle of a batch: nothing is appended.
        for at in [0, 2, 4] {
            let mut batch: Vec<Record> = (0..4)
                .map(|i| Record::new(format!("b{i}")).partition(i % 3))
                .collect();
            batch.insert(at, record.clone());
            t.fails(
                &format!("send_batch with {what} at {at}"),
                expected,
                want,
                || producer.send_batch(THREE, batch),
            );
        }
        assert_eq!(hw(&broker), start, "{what}: a failed call appended");
    }
    // The edges that are valid.
    let ok: Vec<(&str, Record)> = vec![
        ("empty value", Record::new(Vec::<u8>::new())),
        ("empty key", Record::new("").key("")),
        ("empty tombstone", Record::tombstone("")),
        ("exactly max", Record::new(vec![9u8; SMALL_MAX])),
        ("timestamp 0", Record::new("x").timestamp(0)),
        ("timestamp i64::MAX", Record::new("x").timestamp(i64::MAX)),
        (
            "non-ASCII header name",
            Record::new("x").header("\u{e9}\u{1f600}", "\0"),
        ),
        ("last partition", Record::new("x").partition(2)),
    ];
    for (what, record) in ok {
        t.succeeds(
            &format!("send {what}"),
            || producer.send(THREE, record),
            |m| (m.topic == THREE).then_some(()).ok_or("wrong topic".into()),
        );
    }
    t.succeeds(
        "send_batch of nothing",
        || producer.send_batch(THREE, Vec::new()),
        |m| m.is_empty().then_some(()).ok_or("metadata".into()),
    );
    t.finish();
    broker.close()
}

#[test]
#[expect(clippy::too_many_lines, reason = "one table of cases")]
fn hostile_consumer_calls() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = fixture(dir.path())?;
    let mut t = Table::new(&broker);
    let tp = |p: u32| TopicPartition::new(THREE, p);
    let unassigned = |e: &Error| matches!(e, Error::NotAssigned { .. });
    let invalid_config = |e: &Error| matches!(e, Error::InvalidConfig { .. });
    let invalid_partition = |e: &Error| matches!(e, Error::InvalidPartition { .. });

    // Manual assignment: bad partitions, unassigned seeks.
    let mut c = broker.consumer(ConsumerConfig::default());
    t.fails(
        "poll with nothing assigned",
        "IllegalState",
        |e: &Error| matches!(e, Error::IllegalState { .. }),
        || c.poll(Duration::ZERO),
    );
    for p in [3, u32::MAX] {
        t.fails(
            &format!("assign partition {p}"),
            "InvalidPartition",
            invalid_partition,
            || c.assign(&[tp(0), tp(p)]),
        );
    }
    assert!(c.assignment().is_empty(), "a failed assign changed it");
    t.fails("seek unassigned", "NotAssigned", unassigned, || {
        c.seek(&tp(0), 0)
    });
    t.fails(
        "seek_to_beginning unassigned",
        "NotAssigned",
        unassigned,
        || c.seek_to_beginning(&[tp(1)]),
    );
    t.fails("seek_to_end unassigned", "NotAssigned", unassigned, || {
        c.seek_to_end(&[tp(u32::MAX)])
    });
    t.fails(
        "commit without group",
        "InvalidConfig",
        invalid_config,
        || c.commit(),
    );
    t.fails(
        "commit_offsets without group",
        "InvalidConfig",
        invalid_config,
        || c.commit_offsets(&[(tp(0), 1)]),
    );
    t.fails(
        "committed without group",
        "InvalidConfig",
        invalid_config,
        || c.committed(&tp(0)),
    );
    t.fails(
        "subscribe without group",
        "InvalidConfig",
        invalid_config,
        || c.subscribe([THREE]),
    );
    c.assign(&[tp(0)])?;
    t.fails("seek another partition", "NotAssigned", unassigned, || {
        c.seek(&tp(1), 0)
    });
    t.fails(
        "seek_to_beginning with one unassigned",
        "NotAssigned",
        unassigned,
        || c.seek_to_beginning(&[tp(0), tp(2)]),
    );

    // Past the end, under each reset policy.
    for reset in [
        OffsetReset::Earliest,
        OffsetReset::Latest,
        OffsetReset::None,
    ] {
        for offset in [RECORDS_PER_PARTITION + 1, u64::MAX] {
            let mut c = broker.consumer(ConsumerConfig::default().auto_offset_reset(reset));
            c.assign(&[tp(1)])?;
            c.seek(&tp(1), offset)?;
            let what = format!("seek({offset}) then poll with {reset:?}");
            if reset == OffsetReset::None {
                t.fails(
                    &what,
                    "OffsetOutOfRange",
                    |e| matches!(e, Error::OffsetOutOfRange { offset: Some(o), high_watermark: RECORDS_PER_PARTITION, .. } if *o == offset),
                    || c.poll(Duration::ZERO),
                );
                continue;
            }
            let want_first = if reset == OffsetReset::Earliest {
                Some(0)
            } else {
                None
            };
            t.succeeds(
                &what,
                || c.poll(Duration::ZERO),
                |r| {
                    (r.iter().next().map(strom::ConsumerRecord::offset) == want_first)
                        .then_some(())
                        .ok_or(format!("expected the first record at {want_first:?}"))
                },
            );
            // Earliest read everything, Latest jumped to the end: both end at the end.
            let position = c.position(&tp(1));
            let want = Some(RECORDS_PER_PARTITION);
            if position != want {
                t.failures
                    .push(format!("{what}: position {position:?}, expected {want:?}"));
            }
        }
    }

    // Timestamps at the extremes: before the epoch is before everything.
    let mut c = broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::None));
    c.assign(&[tp(0), tp(2)])?;
    for (ts, want) in [
        (i64::MIN, 0),
        (-1, 0),
        (0, 0),
        (2_500, 2),
        (i64::MAX, RECORDS_PER_PARTITION),
    ] {
        t.succeeds(
            &format!("seek_to_timestamp({ts})"),
            || c.seek_to_timestamp(ts),
            |()| Ok(()),
        );
        for p in [0, 2] {
            let got = c.position(&tp(p));
            if got != Some(want) {
                t.failures.push(format!(
                    "seek_to_timestamp({ts}): position of {} is {got:?}, expected {want}",
                    tp(p)
                ));
            }
        }
    }

    // Groups: missing topics, missing partitions, empty and enormous ids.
    let mut g = broker.consumer(ConsumerConfig::default().group_id("hostile"));
    t.fails(
        "subscribe to a missing topic among good ones",
        "UnknownTopic",
        |e| matches!(e, Error::UnknownTopic { topic } if topic == "missing"),
        || g.subscribe([THREE, "missing"]),
    );
    t.fails(
        "commit_offsets on partition 3",
        "InvalidPartition",
        invalid_partition,
        || g.commit_offsets(&[(tp(0), 1), (tp(3), 1)]),
    );
    t.fails(
        "commit_offsets on partition u32::MAX",
        "InvalidPartition",
        invalid_partition,
        || g.commit_offsets(&[(tp(u32::MAX), 1)]),
    );
    t.fails(
        "describe_group of a group that never committed",
        "UnknownGroup",
        |e| matches!(e, Error::UnknownGroup { group_id } if group_id == "hostile"),
        || broker.describe_group("hostile"),
    );
    if !broker.groups().is_empty() {
        t.failures
            .push(format!("failed calls left groups {:?}", broker.groups()));
    }
    let mut empty = broker.consumer(ConsumerConfig::default().group_id(""));
    t.fails(
        "subscribe with group \"\"",
        "InvalidConfig",
        invalid_config,
        || empty.subscribe([THREE]),
    );
    t.fails(
        "commit_offsets with group \"\"",
        "InvalidConfig",
        invalid_config,
        || empty.commit_offsets(&[(tp(0), 1)]),
    );
    // An offset far past the end is stored as given; the lag never goes negative.
    t.succeeds(
        "commit_offsets u64::MAX",
        || g.commit_offsets(&[(tp(0), u64::MAX)]),
        |()| Ok(()),
    );
    t.succeeds(
        "describe_group after committing u64::MAX",
        || broker.describe_group("hostile"),
        |d| {
            let lag = d.partitions.iter().find(|l| l.topic_partition == tp(0));
            match lag {
                Some(l) if l.committed == Some(u64::MAX) && l.lag == 0 => Ok(()),
                other => Err(format!("partition lag {other:?}")),
            }
        },
    );
    // Kafka accepts any group id string; offsets.rs stores ids hex-encoded "because Kafka
    // allows any string there".
    for id in ["a/../b", "\0", "\u{1f600}", "..", "/"] {
        let mut odd = broker.consumer(ConsumerConfig::default().group_id(id));
        t.succeeds(
            &format!("commit_offsets for group {}", show(id)),
            || odd.commit_offsets(&[(tp(0), 1)]),
            |()| Ok(()),
        );
        t.succeeds(
            &format!("committed for group {}", show(id)),
            || odd.committed(&tp(0)),
            |c| (*c == Some(1)).then_some(()).ok_or("not read back".into()),
        );
    }
    t.finish();
    broker.close()
}

#[test]
fn every_call_after_close_is_closed_and_changes_nothing() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = fixture(dir.path())?;
    let producer = broker.producer();
    let mut assigned = broker.consumer(ConsumerConfig::default().group_id("g"));
    assigned.assign(&[TopicPartition::new(THREE, 0)])?;
    let mut fresh = broker.consumer(ConsumerConfig::default().group_id("g"));
    let handle = broker.clone();
    broker.close()?;
    let before = snapshot(dir.path());
    let tp = TopicPartition::new(THREE, 0);
    let mut outcomes: Vec<(&str, std::result::Result<Result<String>, ()>)> = Vec::new();
    macro_rules! call {
        ($what:expr, $e:expr) => {
            outcomes.push((
                $what,
                catch_unwind(AssertUnwindSafe(|| $e.map(|v| format!("{v:?}")))).map_err(|_| ()),
            ));
        };
    }
    call!(
        "create_topic",
        handle.create_topic("new", TopicConfig::default())
    );
    call!(
        "create_topic bad name",
        handle.create_topic("a/b", TopicConfig::default())
    );
    call!("describe_topic", handle.describe_topic(THREE));
    call!("delete_topic", handle.delete_topic(THREE));
    call!(
        "alter_topic",
        handle.alter_topic(THREE, TopicConfig::default().partitions(9))
    );
    call!(
        "alter_topic shrink",
        handle.alter_topic(THREE, TopicConfig::default())
    );
    call!("describe_group", handle.describe_group("g"));
    call!("run_maintenance", handle.run_maintenance());
    call!("send", producer.send(THREE, Record::new("x")));
    call!(
        "send oversized",
        producer.send(THREE, Record::new(vec![0u8; 10_000]))
    );
    call!(
        "send_batch",
        producer.send_batch(THREE, vec![Record::new("x")])
    );
    call!("send_json", producer.send_json(THREE, None, &1));
    call!("flush", producer.flush());
    call!("assign", fresh.assign(std::slice::from_ref(&tp)));
    call!("subscribe", fresh.subscribe([THREE]));
    call!("subscribe missing", fresh.subscribe(["missing"]));
    call!("poll", assigned.poll(Duration::from_millis(1)));
    call!("seek", assigned.seek(&tp, 0));
    call!("seek_to_end", assigned.seek_to_end(&[]));
    call!("seek_to_timestamp", assigned.seek_to_timestamp(i64::MIN));
    call!("commit", assigned.commit());
    call!(
        "commit_offsets",
        assigned.commit_offsets(&[(tp.clone(), 1)])
    );
    call!("committed", assigned.committed(&tp));
    let after = snapshot(dir.path());
    let wrong: Vec<String> = outcomes
        .iter()
        .filter(|(_, r)| !matches!(r, Ok(Err(Error::Closed))))
        .map(|(what, r)| format!("{what}: {r:?}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "not Error::Closed after close:\n{}",
        wrong.join("\n")
    );
    assert_eq!(
        before,
        after,
        "calls after close changed: {}",
        diff(&before, &after)
    );
    // A closed handle's close is harmless, and the directory reopens with everything.
    handle.close()?;
    let broker = Broker::open(dir.path())?;
    let desc = broker.describe_topic(THREE)?;
    assert!(desc
        .partitions
        .iter()
        .all(|p| p.high_watermark == RECORDS_PER_PARTITION));
    broker.producer().send(OK, Record::new("alive"))?;
    broker.close()
}

#[test]
fn hostile_open() {
    let root = tempfile::tempdir().expect("temp dir");
    // A regular file where the directory should be.
    let file = root.path().join("file");
    fs::write(&file, b"not a directory").expect("write");
    let err = Broker::open(&file).expect_err("open on a file");
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert_eq!(fs::read(&file).expect("read"), b"not a directory");
    // A nonsensical config creates nothing. (Every interval is accepted, zero included:
    // `config_any_duration.rs`.)
    let missing = root.path().join("never");
    let config = BrokerConfig::default().default_topic(TopicConfig::default().partitions(0));
    let err = Broker::open_with(&missing, config).expect_err("bad config");
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    assert!(!missing.exists(), "a bad config created the directory");
    // An enormous path component is an I/O error, not a panic.
    let long = root.path().join("d".repeat(10 * 1024));
    let err = Broker::open(&long).expect_err("10 KB directory name");
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

/// Kafka takes any string as a group id, and `src/offsets.rs` hex-encodes ids into file names
/// so that any string works. Hex doubles the id's length, so an id longer than about 125
/// bytes would pass `NAME_MAX` (255) and fail with ENAMETOOLONG; such ids keep a hex prefix
/// plus a hash of the whole id. Every length commits and reads back.
#[test]
fn long_group_ids_commit() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = fixture(dir.path())?;
    let mut t = Table::new(&broker);
    let tp = TopicPartition::new(THREE, 0);
    for id in [
        "g".repeat(100),
        "g".repeat(200),
        "\u{e9}".repeat(100),
        "g".repeat(10 * 1024),
    ] {
        let mut consumer = broker.consumer(ConsumerConfig::default().group_id(id.clone()));
        t.succeeds(
            &format!("commit_offsets for group {}", show(&id)),
            || consumer.commit_offsets(&[(tp.clone(), 1)]),
            |()| Ok(()),
        );
        t.succeeds(
            &format!("committed for group {}", show(&id)),
            || consumer.committed(&tp),
            |c| (*c == Some(1)).then_some(()).ok_or("not read back".into()),
        );
    }
    t.finish();
    broker.close()
}
