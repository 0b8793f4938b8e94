//! Missing, truncated or damaged `.index`/`.timeindex` files (sealed or active segment, clean or unclean shutdown) never change what is read: every offset seeks and reads back right, and `seek_to_timestamp` finds the right offsets.

use std::fs;
use std::path::Path;
use std::time::Duration;

use strom::{
    Broker, Consumer, ConsumerConfig, OffsetReset, Record, Result, TopicConfig, TopicPartition,
};

mod common;

use common::{copy_dir, segment_logs};

const TOPIC: &str = "indexed";
const TS0: i64 = 1_700_000_000_000;
const RECORDS: u64 = 700;

/// The `i`-th record: (key, value, timestamp). Timestamps mostly rise, with some jitter
/// so that a later record can be older than an earlier one.
fn nth(i: u64) -> (String, String, i64) {
    let fill = "abcdefghij".repeat(12);
    let len = usize::try_from(i * 37 % 100).expect("small");
    let jitter = i64::try_from(i * 7919 % 23).expect("small") - 11;
    let ts = TS0 + i64::try_from(i).expect("small") * 10 + jitter;
    (
        format!("key-{i}"),
        format!("value-{i}-{}", &fill[..len]),
        ts,
    )
}

fn record(i: u64) -> Record {
    let (key, value, ts) = nth(i);
    Record::new(value).key(key).timestamp(ts).partition(0)
}

fn tp() -> TopicPartition {
    TopicPartition::new(TOPIC, 0)
}

/// Writes `RECORDS` records in batches of 1 to 5 over several segments, small index
/// intervals so that every segment has many index entries, and closes cleanly.
fn build(dir: &Path) -> Result<()> {
    let broker = Broker::open(dir)?;
    let config = TopicConfig::default()
        .segment_bytes(8192)
        .index_interval_bytes(200)
        .retention_ms(-1);
    broker.create_topic(TOPIC, config)?;
    let producer = broker.producer();
    let mut i = 0;
    while i < RECORDS {
        let n = (i % 5 + 1).min(RECORDS - i);
        if n == 1 {
            assert_eq!(producer.send(TOPIC, record(i))?.offset, i);
        } else {
            let metas = producer.send_batch(TOPIC, (i..i + n).map(record))?;
            assert_eq!(metas.last().map(|m| m.offset), Some(i + n - 1));
        }
        i += n;
    }
    broker.close()
}

fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[5]
        })
        .collect()
}

/// One index entry as the two files store it.
#[derive(Debug, Clone, Copy)]
struct Entry {
    relative_offset: u32,
    position: u32,
    max_timestamp_before: i64,
}

fn read_entries(log: &Path) -> Vec<Entry> {
    let offsets = fs::read(log.with_extension("index")).expect("read .index");
    let times = fs::read(log.with_extension("timeindex")).expect("read .timeindex");
    offsets
        .chunks_exact(8)
        .zip(times.chunks_exact(12))
        .map(|(o, t)| Entry {
            relative_offset: u32::from_le_bytes(o[..4].try_into().expect("4 bytes")),
            position: u32::from_le_bytes(o[4..].try_into().expect("4 bytes")),
            max_timestamp_before: i64::from_le_bytes(t[..8].try_into().expect("8 bytes")),
        })
        .collect()
}

fn write_entries(log: &Path, entries: &[Entry]) {
    let (mut offsets, mut times) = (Vec::new(), Vec::new());
    for e in entries {
        offsets.extend_from_slice(&e.relative_offset.to_le_bytes());
        offsets.extend_from_slice(&e.position.to_le_bytes());
        times.extend_from_slice(&e.max_timestamp_before.to_le_bytes());
        times.extend_from_slice(&e.relative_offset.to_le_bytes());
    }
    fs::write(log.with_extension("index"), offsets).expect("write .index");
    fs::write(log.with_extension("timeindex"), times).expect("write .timeindex");
}

/// What is done to a segment's index files.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Both files deleted.
    Deleted,
    /// Only the offset index deleted.
    OffsetIndexDeleted,
    /// Only the time index deleted.
    TimeIndexDeleted,
    /// Both files emptied.
    Emptied,
    /// Both files cut in the middle of an entry.
    TruncatedMidEntry,
    /// Both files overwritten with zeroes, same length.
    Zeroed,
    /// Both files overwritten with random bytes, same length.
    Garbage,
    /// Entries that agree with each other, appended after the real ones, pointing past the
    /// end of the log.
    PastTheLog,
    /// The real entries with positions moved one byte into their batches.
    Misaligned,
    /// The real entries with relative offsets one too high.
    WrongOffsets,
    /// The real entries, but the middle one's position moved one byte into its batch.
    OneMisaligned,
    /// The real entries, with time index timestamps lower than the records before them.
    TimestampsTooLow,
}

fn damage(log: &Path, how: Damage) {
    let index = log.with_extension("index");
    let time = log.with_extension("timeindex");
    let entries = read_entries(log);
    assert!(
        entries.len() >= 3,
        "{} has index entries to damage",
        log.display()
    );
    let each = |f: &dyn Fn(&Path, Vec<u8>) -> Vec<u8>| {
        for path in [&index, &time] {
            let bytes = fs::read(path).expect("read index file");
            fs::write(path, f(path, bytes)).expect("write index file");
        }
    };
    match how {
        Damage::Deleted => {
            fs::remove_file(&index).expect("delete .index");
            fs::remove_file(&time).expect("delete .timeindex");
        }
        Damage::OffsetIndexDeleted => fs::remove_file(&index).expect("delete .index"),
        Damage::TimeIndexDeleted => fs::remove_file(&time).expect("delete .timeindex"),
        Damage::Emptied => each(&|_, _| Vec::new()),
        Damage::TruncatedMidEntry => each(&|_, b| b[..b.len() / 2 + 3].to_vec()),
        Damage::Zeroed => each(&|_, b| vec![0; b.len()]),
        Damage::Garbage => each(&|p, b| {
            let seed = p.as_os_str().len() + b.len();
            garbage(seed as u64, b.len())
        }),
        Damage::PastTheLog => {
            let len = u32::try_from(fs::metadata(log).expect("metadata").len()).expect("small");
            let last = *entries.last().expect("entries");
            let mut more = entries.clone();
            more.extend((1..20u32).map(|k| Entry {
                relative_offset: last.relative_offset + 10 * k,
                position: len + 100 * k,
                max_timestamp_before: last.max_timestamp_before + i64::from(k),
            }));
            write_entries(log, &more);
        }
        Damage::Misaligned => {
            let moved: Vec<Entry> = entries
                .iter()
                .map(|e| Entry {
                    position: e.position + 1,
                    ..*e
                })
                .collect();
            write_entries(log, &moved);
        }
        Damage::OneMisaligned => {
            let mut moved = entries.clone();
            moved[entries.len() / 2].position += 1;
            write_entries(log, &moved);
        }
        Damage::TimestampsTooLow => {
            let lowered: Vec<Entry> = entries
                .iter()
                .map(|e| Entry {
                    max_timestamp_before: TS0 - 1_000_000,
                    ..*e
                })
                .collect();
            write_entries(log, &lowered);
        }
        Damage::WrongOffsets => {
            let moved: Vec<Entry> = entries
                .iter()
                .map(|e| Entry {
                    relative_offset: e.relative_offset + 1,
                    ..*e
                })
                .collect();
            write_entries(log, &moved);
        }
    }
}

/// Which segments are damaged.
#[derive(Debug, Clone, Copy)]
enum Target {
    Sealed,
    Active,
    All,
}

fn consumer(broker: &Broker, max_poll_records: usize) -> Result<Consumer> {
    let config = ConsumerConfig::default()
        .auto_offset_reset(OffsetReset::None)
        .max_poll_records(max_poll_records);
    let mut consumer = broker.consumer(config);
    consumer.assign(&[tp()])?;
    Ok(consumer)
}

/// Reads everything from offset 0 and checks it against `nth` (plus `extra` records
/// appended after the original ones, which equal `record(RECORDS + k)`).
fn check_all(broker: &Broker, total: u64, context: &str) -> Result<()> {
    let mut consumer = consumer(broker, 100_000)?;
    consumer.seek(&tp(), 0)?;
    let mut next = 0;
    loop {
        let records = consumer.poll(Duration::ZERO)?;
        if records.is_empty() {
            break;
        }
        for r in &records {
            let (key, value, ts) = nth(next);
            assert_eq!(r.offset(), next, "{context}: offsets in order");
            assert_eq!(r.key(), Some(key.as_bytes()), "{context}: key at {next}");
            assert_eq!(r.value(), value.as_bytes(), "{context}: value at {next}");
            assert_eq!(r.timestamp(), ts, "{context}: timestamp at {next}");
            next += 1;
        }
    }
    assert_eq!(next, total, "{context}: records read from 0");
    Ok(())
}

/// Seeks to many offsets (every segment's first, the ones around it, and every 3rd) and
/// reads a few records from each.
fn check_seeks(broker: &Broker, total: u64, bases: &[u64], context: &str) -> Result<()> {
    let mut consumer = consumer(broker, 4)?;
    let mut targets: Vec<u64> = (0..total).step_by(3).collect();
    targets.extend(bases.iter().flat_map(|&b| [b.saturating_sub(1), b, b + 1]));
    targets.push(total - 1);
    for target in targets {
        consumer.seek(&tp(), target)?;
        let records = consumer.poll(Duration::ZERO)?;
        let got: Vec<u64> = records.iter().map(strom::ConsumerRecord::offset).collect();
        let want: Vec<u64> = (target..total.min(target + 4)).collect();
        assert_eq!(got, want, "{context}: records after seeking to {target}");
        for r in &records {
            let (key, value, ts) = nth(r.offset());
            assert_eq!(
                r.key(),
                Some(key.as_bytes()),
                "{context}: key at {}",
                r.offset()
            );
            assert_eq!(
                r.value(),
                value.as_bytes(),
                "{context}: value at {}",
                r.offset()
            );
            assert_eq!(r.timestamp(), ts, "{context}: timestamp at {}", r.offset());
        }
    }
    Ok(())
}

/// `seek_to_timestamp` lands on the first offset whose timestamp is at or after the target.
fn check_timestamps(broker: &Broker, total: u64, context: &str) -> Result<()> {
    let mut consumer = consumer(broker, 1)?;
    let stamps: Vec<i64> = (0..total).map(|i| nth(i).2).collect();
    let mut targets = vec![
        TS0 - 1000,
        stamps[0],
        stamps[stamps.len() - 1],
        stamps[stamps.len() - 1] + 1,
    ];
    targets.extend(stamps.iter().step_by(7).flat_map(|&t| [t - 1, t, t + 1]));
    for target in targets {
        consumer.seek_to_timestamp(target)?;
        let want = stamps
            .iter()
            .position(|&t| t >= target)
            .map_or(total, |i| i as u64);
        assert_eq!(
            consumer.position(&tp()),
            Some(want),
            "{context}: seek_to_timestamp({target})"
        );
    }
    Ok(())
}

fn check_case(
    pristine: &Path,
    work: &Path,
    how: Damage,
    target: Target,
    clean: bool,
) -> Result<()> {
    let context = format!("{how:?} index of {target:?} segments, clean: {clean}");
    if work.exists() {
        fs::remove_dir_all(work).expect("remove old copy");
    }
    copy_dir(pristine, work);
    if !clean {
        fs::remove_file(work.join(".clean")).expect("clean marker");
    }
    let logs = segment_logs(work, TOPIC, 0);
    let bases: Vec<u64> = logs
        .iter()
        .map(|l| {
            l.file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse().ok())
                .expect("base offset name")
        })
        .collect();
    let (sealed, active) = logs.split_at(logs.len() - 1);
    let damaged = match target {
        Target::Sealed => sealed,
        Target::Active => active,
        Target::All => &logs[..],
    };
    for log in damaged {
        damage(log, how);
    }

    let broker = Broker::open(work)?;
    check_all(&broker, RECORDS, &context)?;
    check_seeks(&broker, RECORDS, &bases, &context)?;
    check_timestamps(&broker, RECORDS, &context)?;
    assert_eq!(
        broker.describe_topic(TOPIC)?.partitions[0].high_watermark,
        RECORDS
    );
    let meta = broker.producer().send(TOPIC, record(RECORDS))?;
    assert_eq!(meta.offset, RECORDS, "{context}: the next append's offset");
    check_all(&broker, RECORDS + 1, &context)?;
    broker.close()?;

    // Whatever the index files hold now, the next open reads the same.
    let broker = Broker::open(work)?;
    let context = format!("{context}, reopened");
    check_all(&broker, RECORDS + 1, &context)?;
    check_seeks(&broker, RECORDS + 1, &bases, &context)?;
    check_timestamps(&broker, RECORDS + 1, &context)?;
    broker.close()
}

/// Runs every damage on every target, with and without the clean marker; returns the
/// failures, so that one run lists them all.
fn failures(damages: &[Damage]) -> Result<Vec<String>> {
    let root = tempfile::tempdir().expect("temp dir");
    let pristine = root.path().join("pristine");
    let work = root.path().join("work");
    build(&pristine)?;
    assert!(
        segment_logs(&pristine, TOPIC, 0).len() >= 4,
        "several segments"
    );

    // The undamaged log reads right, so every failure below is the damage's doing.
    copy_dir(&pristine, &work);
    let broker = Broker::open(&work)?;
    check_all(&broker, RECORDS, "undamaged")?;
    check_timestamps(&broker, RECORDS, "undamaged")?;
    broker.close()?;

    let mut failures = Vec::new();
    for &how in damages {
        for target in [Target::Sealed, Target::Active, Target::All] {
            for clean in [true, false] {
                let case = format!("{how:?} index of {target:?} segments, clean: {clean}");
                match std::panic::catch_unwind(|| check_case(&pristine, &work, how, target, clean))
                {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => failures.push(format!("{case}: error {e}")),
                    Err(panic) => {
                        let message = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                            .unwrap_or_default();
                        failures.push(format!("{case}: {message}"));
                    }
                }
            }
        }
    }
    Ok(failures)
}

#[test]
fn missing_truncated_or_garbage_indexes_are_rebuilt() -> Result<()> {
    let failures = failures(&[
        Damage::Deleted,
        Damage::OffsetIndexDeleted,
        Damage::TimeIndexDeleted,
        Damage::Emptied,
        Damage::TruncatedMidEntry,
        Damage::Zeroed,
        Damage::Garbage,
        Damage::PastTheLog,
    ])?;
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}

/// Index files whose entries agree with each other but point at the wrong bytes of an
/// intact log (as stale or misdirected blocks after a machine crash could) must be checked
/// against the log like any other, not trusted: the log itself is fine.
#[test]
fn index_entries_that_disagree_with_the_log_are_not_trusted() -> Result<()> {
    let failures = failures(&[
        Damage::Misaligned,
        Damage::WrongOffsets,
        Damage::OneMisaligned,
        Damage::TimestampsTooLow,
    ])?;
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}
