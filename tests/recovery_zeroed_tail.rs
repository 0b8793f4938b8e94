//! A last segment that ends in a zeroed region (the preallocated, never-written tail left by a crash) reopens with every record and appends continue after them.

use std::fs::{self, OpenOptions};
use std::path::Path;

use strom::{Broker, Record, Result, TopicConfig};

mod common;

use common::{batch_spans, read_partition, segment_logs};

const TOPIC: &str = "zeroed";
const PARTITIONS: u32 = 2;
const SEGMENT_BYTES: u64 = 8192;
const MIB: u64 = 1 << 20;

/// (offset, key, value) of a record sent to a partition.
type Sent = (u64, Vec<u8>, Vec<u8>);

fn record(partition: u32, i: u64) -> Record {
    let fill = "0123456789".repeat(20);
    let len = usize::try_from(i * 7 % 150).expect("small");
    let value = format!("p{partition}-r{i}-{}", &fill[..len]);
    let ts = 1_700_000_000_000 + i64::try_from(i).expect("small");
    Record::new(value)
        .key(format!("k{i}"))
        .timestamp(ts)
        .partition(partition)
}

fn config() -> TopicConfig {
    TopicConfig::default()
        .partitions(PARTITIONS)
        .segment_bytes(SEGMENT_BYTES)
        .index_interval_bytes(512)
        .retention_ms(-1)
}

/// Appends `count` records to every partition, alternating single sends and batches of up
/// to 6; returns what each partition got.
fn append(broker: &Broker, sent: &mut [Vec<Sent>], count: u64) -> Result<()> {
    let producer = broker.producer();
    for (p, log) in (0..PARTITIONS).zip(sent.iter_mut()) {
        let start = log.len() as u64;
        let mut i = start;
        while i < start + count {
            let n = (i % 6 + 1).min(start + count - i);
            let records: Vec<Record> = (i..i + n).map(|j| record(p, j)).collect();
            let metas = if n == 1 {
                vec![producer.send(TOPIC, records[0].clone())?]
            } else {
                producer.send_batch(TOPIC, records.clone())?
            };
            for (meta, r) in metas.iter().zip(&records) {
                assert_eq!((meta.partition, meta.offset), (p, log.len() as u64));
                let key = r.key_bytes().expect("keyed").to_vec();
                log.push((meta.offset, key, r.value_bytes().expect("value").to_vec()));
            }
            i += n;
        }
    }
    Ok(())
}

/// Every partition holds exactly `sent`, and its high watermark is right after it.
fn assert_log(broker: &Broker, sent: &[Vec<Sent>], context: &str) -> Result<()> {
    let desc = broker.describe_topic(TOPIC)?;
    for (p, want) in (0..PARTITIONS).zip(sent) {
        let got = read_partition(broker, TOPIC, p)?;
        assert_eq!(got.len(), want.len(), "{context}: records in partition {p}");
        for (g, (offset, key, value)) in got.iter().zip(want) {
            assert_eq!(g.offset(), *offset, "{context}: partition {p}");
            assert_eq!(g.key(), Some(&key[..]), "{context}: key at {p}@{offset}");
            assert_eq!(g.value(), &value[..], "{context}: value at {p}@{offset}");
        }
        let hw = desc.partitions[p as usize].high_watermark;
        assert_eq!(hw, want.len() as u64, "{context}: high watermark of {p}");
    }
    Ok(())
}

/// Writes a log over several segments and closes it cleanly.
fn build(dir: &Path) -> Result<Vec<Vec<Sent>>> {
    let broker = Broker::open(dir)?;
    broker.create_topic(TOPIC, config())?;
    let mut sent = vec![Vec::new(); PARTITIONS as usize];
    append(&broker, &mut sent, 250)?;
    broker.close()?;
    assert!(segment_logs(dir, TOPIC, 0).len() >= 3, "several segments");
    Ok(sent)
}

/// Reopens after the damage, checks the records and that appends continue; then closes
/// cleanly, checks the zero tail is gone from the file, and reopens once more.
fn reopen_and_continue(dir: &Path, sent: &mut [Vec<Sent>], context: &str) -> Result<()> {
    let broker = Broker::open(dir)?;
    assert_log(&broker, sent, context)?;
    append(&broker, sent, 20)?;
    assert_log(&broker, sent, &format!("{context}, after appending"))?;
    broker.close()?;
    for p in 0..PARTITIONS {
        for log in segment_logs(dir, TOPIC, p) {
            let bytes = fs::read(&log).expect("read segment");
            let data = batch_spans(&bytes).last().map_or(0, |s| s.end);
            assert_eq!(
                data,
                bytes.len() as u64,
                "{context}: {} is cut to its data on close",
                log.display()
            );
        }
    }
    let broker = Broker::open(dir)?;
    assert_log(&broker, sent, &format!("{context}, clean reopen"))?;
    broker.close()
}

fn extend_with_zeroes(path: &Path, bytes: u64) {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open segment");
    let len = file.metadata().expect("metadata").len();
    file.set_len(len + bytes).expect("extend with zeroes");
}

#[test]
fn a_mebibyte_of_zeroes_after_the_last_batch_is_ignored() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut sent = build(dir.path())?;
    fs::remove_file(dir.path().join(".clean")).expect("clean marker");
    for p in 0..PARTITIONS {
        let last = segment_logs(dir.path(), TOPIC, p).pop().expect("a segment");
        extend_with_zeroes(&last, MIB);
    }
    reopen_and_continue(dir.path(), &mut sent, "1 MiB zero tail")
}

#[test]
fn zeroes_over_the_last_batches_cut_the_log_before_them() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut sent = build(dir.path())?;
    fs::remove_file(dir.path().join(".clean")).expect("clean marker");
    // Partition 0 loses its last batch, partition 1 its last three: their pages were never
    // written back, so the file holds zeroes from there on.
    for (p, lost) in [(0, 1), (1, 3)] {
        let last = segment_logs(dir.path(), TOPIC, p).pop().expect("a segment");
        let bytes = fs::read(&last).expect("read segment");
        let spans = batch_spans(&bytes);
        assert!(
            spans.len() > lost,
            "the last segment has more than {lost} batches"
        );
        let keep = usize::try_from(spans[spans.len() - lost].start).expect("position");
        let base_offset = spans[spans.len() - lost].base_offset;
        let file = OpenOptions::new()
            .write(true)
            .open(&last)
            .expect("open segment");
        file.set_len(keep as u64).expect("cut");
        file.set_len(keep as u64 + MIB).expect("zero tail");
        sent[p as usize].truncate(usize::try_from(base_offset).expect("small"));
    }
    reopen_and_continue(dir.path(), &mut sent, "zeroes over the last batches")
}

#[test]
fn a_new_segment_that_is_all_zeroes_is_empty() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut sent = build(dir.path())?;
    fs::remove_file(dir.path().join(".clean")).expect("clean marker");
    // A crash right after a roll: the new segment exists, preallocated, with nothing in it.
    for (p, log) in (0..PARTITIONS).zip(&sent) {
        let part = dir.path().join(TOPIC).join(p.to_string());
        let path = part.join(format!("{:020}.log", log.len()));
        let file = fs::File::create_new(&path).expect("create segment");
        file.set_len(SEGMENT_BYTES).expect("preallocate");
    }
    reopen_and_continue(dir.path(), &mut sent, "an all-zero last segment")?;
    // The appends went into the new segment.
    for (p, log) in (0..PARTITIONS).zip(&sent) {
        let logs = segment_logs(dir.path(), TOPIC, p);
        let base = log.len() as u64 - 20;
        let name = format!("{base:020}.log");
        assert!(
            logs.iter().any(|l| l.ends_with(&name)),
            "partition {p} has {name}"
        );
    }
    Ok(())
}

#[test]
fn segments_stay_within_segment_bytes_after_recovering_a_long_zero_tail() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut sent = build(dir.path())?;
    fs::remove_file(dir.path().join(".clean")).expect("clean marker");
    for p in 0..PARTITIONS {
        let last = segment_logs(dir.path(), TOPIC, p).pop().expect("a segment");
        extend_with_zeroes(&last, MIB);
    }
    let broker = Broker::open(dir.path())?;
    let before = broker.describe_topic(TOPIC)?;
    // Several segments' worth of appends after the recovered tail.
    append(&broker, &mut sent, 200)?;
    assert_log(&broker, &sent, "after recovery and appends")?;
    let after = broker.describe_topic(TOPIC)?;
    for (b, a) in before.partitions.iter().zip(&after.partitions) {
        assert!(
            a.segments > b.segments,
            "partition {} rolled: {b:?} -> {a:?}",
            a.partition
        );
    }
    broker.close()?;
    for p in 0..PARTITIONS {
        for log in segment_logs(dir.path(), TOPIC, p) {
            let len = fs::metadata(&log).expect("metadata").len();
            assert!(
                len <= SEGMENT_BYTES,
                "{} is {len} bytes, over segment_bytes = {SEGMENT_BYTES}",
                log.display()
            );
        }
    }
    Ok(())
}
