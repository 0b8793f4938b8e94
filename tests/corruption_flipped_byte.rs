//! A flipped byte in a batch is reported as `Error::Corrupt` naming the file and the batch's position (sealed segment, or active segment after a clean stop), never returned as data; after an unclean stop, recovery cuts the active segment at that batch.

use std::fs;
use std::path::Path;
use std::time::Duration;

use strom::{
    Broker, Consumer, ConsumerConfig, ConsumerRecord, Error, OffsetReset, Record, Result,
    TopicConfig, TopicPartition,
};

mod common;

use common::{copy_dir, segment_logs};

const TOPIC: &str = "flipped";
const RECORDS: u64 = 240;

fn value(i: u64) -> String {
    let fill = "abcdefghijklmnopqrstuvwxyz".repeat(4);
    let len = usize::try_from(i * 31 % 90).expect("small");
    format!("value-{i:05}-{}", &fill[..len])
}

fn record(i: u64) -> Record {
    let ts = 1_700_000_000_000 + i64::try_from(i).expect("small");
    Record::new(value(i))
        .key(format!("key-{i}"))
        .timestamp(ts)
        .partition(0)
}

fn tp() -> TopicPartition {
    TopicPartition::new(TOPIC, 0)
}

fn assert_record(got: &ConsumerRecord, offset: u64, context: &str) {
    assert_eq!(got.offset(), offset, "{context}");
    let key = format!("key-{offset}");
    assert_eq!(
        got.key(),
        Some(key.as_bytes()),
        "{context}: key at {offset}"
    );
    assert_eq!(
        got.value(),
        value(offset).as_bytes(),
        "{context}: value at {offset}"
    );
}

/// Writes `RECORDS` records in batches of 1 to 4 over 4 KiB segments; closes cleanly.
fn build(dir: &Path) -> Result<()> {
    let broker = Broker::open(dir)?;
    let config = TopicConfig::default()
        .segment_bytes(4096)
        .index_interval_bytes(512)
        .retention_ms(-1);
    broker.create_topic(TOPIC, config)?;
    let producer = broker.producer();
    let mut i = 0;
    while i < RECORDS {
        let n = (i % 4 + 1).min(RECORDS - i);
        if n == 1 {
            producer.send(TOPIC, record(i))?;
        } else {
            producer.send_batch(TOPIC, (i..i + n).map(record))?;
        }
        i += n;
    }
    broker.close()
}

/// A batch of a segment: byte range and offsets.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    base_offset: u64,
    count: u64,
}

fn spans(bytes: &[u8]) -> Vec<Span> {
    let at = |n: u64| usize::try_from(n).expect("position");
    common::batch_spans(bytes)
        .into_iter()
        .map(|s| Span {
            start: at(s.start),
            end: at(s.end),
            base_offset: s.base_offset,
            count: s.count,
        })
        .collect()
}

/// A multi-record batch in the middle of `log`.
fn middle_batch(log: &Path) -> Span {
    let all = spans(&fs::read(log).expect("read segment"));
    assert!(all.len() >= 4, "{} holds several batches", log.display());
    let middle = all.len() / 2;
    *all[middle..]
        .iter()
        .chain(all[..middle].iter().rev())
        .find(|s| s.count > 1 && s.end < all[all.len() - 1].end)
        .expect("a multi-record batch that is not the segment's last")
}

/// Byte position of the last entry of a segment's `.index` (where unclean recovery starts
/// checking), or 0 without entries.
fn last_index_position(log: &Path) -> usize {
    let index = fs::read(log.with_extension("index")).expect("read .index");
    index.chunks_exact(8).last().map_or(0, |e| {
        u32::from_le_bytes(e[4..].try_into().expect("4 bytes")) as usize
    })
}

/// A multi-record batch of `log`, not its last, starting at or after `from`.
fn batch_after(log: &Path, from: usize) -> Option<Span> {
    let all = spans(&fs::read(log).expect("read segment"));
    let last = all.last().map_or(0, |s| s.start);
    all.into_iter()
        .find(|s| s.start >= from && s.count > 1 && s.start < last)
}

/// Which byte of the batch is flipped.
#[derive(Debug, Clone, Copy)]
enum Field {
    /// Inside the second record's value.
    Value,
    /// The low byte of the `length` field.
    Length,
    /// A byte of the `crc` field.
    Crc,
    /// The low byte of `base_offset`, which the checksum does not cover.
    BaseOffset,
    /// A high byte of `base_offset`: the batch claims offsets far past the high watermark.
    BaseOffsetHigh,
}

impl Field {
    /// Every field, in the order the tests damage them.
    const ALL: [Self; 5] = [
        Self::Value,
        Self::Length,
        Self::Crc,
        Self::BaseOffset,
        Self::BaseOffsetHigh,
    ];
}

fn flip(log: &Path, batch: Span, field: Field) {
    let mut bytes = fs::read(log).expect("read segment");
    let at = match field {
        Field::Value => {
            let needle = value(batch.base_offset + 1);
            let region = &bytes[batch.start..batch.end];
            let found = region
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
                .expect("the second record's value is in its batch");
            batch.start + found + 8
        }
        // Version 2 is big-endian: flip the low bit of the length and the base offset.
        Field::Length => batch.start + 11,
        Field::Crc => batch.start + 18,
        Field::BaseOffset => batch.start + 7,
        Field::BaseOffsetHigh => batch.start + 1,
    };
    bytes[at] ^= 0x01;
    fs::write(log, bytes).expect("write segment");
}

fn consumer(broker: &Broker) -> Result<Consumer> {
    let config = ConsumerConfig::default()
        .auto_offset_reset(OffsetReset::Earliest)
        .max_poll_records(16);
    let mut consumer = broker.consumer(config);
    consumer.assign(&[tp()])?;
    Ok(consumer)
}

/// Polls until an error or an empty poll; returns the records and the error.
fn poll_until_error(consumer: &mut Consumer) -> (Vec<ConsumerRecord>, Option<Error>) {
    let mut records = Vec::new();
    loop {
        match consumer.poll(Duration::ZERO) {
            Ok(batch) if batch.is_empty() => return (records, None),
            Ok(batch) => records.extend(batch),
            Err(e) => return (records, Some(e)),
        }
    }
}

fn assert_corrupt(error: Option<Error>, path: &Path, position: usize, context: &str) {
    match error {
        Some(Error::Corrupt {
            path: p,
            position: at,
            ..
        }) => {
            assert_eq!(p, path, "{context}: the damaged file");
            assert_eq!(
                at, position as u64,
                "{context}: the damaged batch's position"
            );
        }
        other => panic!(
            "{context}: expected Error::Corrupt for {} at {position}, got {other:?}",
            path.display()
        ),
    }
}

/// Replaces `work` with a fresh copy of `pristine`; without `clean`, also removes the
/// clean-shutdown marker, as an unclean stop leaves the directory.
fn fresh_copy(pristine: &Path, work: &Path, clean: bool) {
    if work.exists() {
        fs::remove_dir_all(work).expect("remove old copy");
    }
    copy_dir(pristine, work);
    if !clean {
        fs::remove_file(work.join(".clean")).expect("clean marker");
    }
}

/// Reads a log whose sealed `log` has `batch` damaged in `field`.
fn check_sealed(work: &Path, log: &Path, batch: Span, field: Field, clean: bool) -> Result<()> {
    let context = format!(
        "{field:?} flipped in sealed {}, clean: {clean}",
        log.display()
    );
    let damaged = batch.base_offset;
    let broker = Broker::open(work)?;
    assert_eq!(
        broker.describe_topic(TOPIC)?.partitions[0].high_watermark,
        RECORDS,
        "{context}"
    );

    // From the start: every record before the damaged batch, then the error.
    let mut from_start = consumer(&broker)?;
    let (records, error) = poll_until_error(&mut from_start);
    assert_eq!(
        records.len() as u64,
        damaged,
        "{context}: records before the damaged batch"
    );
    for (i, r) in (0..).zip(&records) {
        assert_record(r, i, &context);
    }
    assert_corrupt(error, log, batch.start, &context);

    // Every offset inside the damaged batch is an error, never data.
    let mut inside = consumer(&broker)?;
    for offset in damaged..damaged + batch.count {
        inside.seek(&tp(), offset)?;
        let (records, error) = poll_until_error(&mut inside);
        assert!(
            records.is_empty(),
            "{context}: data returned from the damaged batch at {offset}"
        );
        assert_corrupt(
            error,
            log,
            batch.start,
            &format!("{context}, seek to {offset}"),
        );
    }

    // After the damaged batch: the right records, or (when a damaged header field is needed
    // to walk past the batch, and no index entry lies after it) an error for the same file;
    // never other bytes.
    let mut after = consumer(&broker)?;
    after.seek(&tp(), damaged + batch.count)?;
    let (records, error) = poll_until_error(&mut after);
    for (offset, r) in (damaged + batch.count..).zip(&records) {
        assert_record(r, offset, &context);
    }
    match (field, error) {
        (_, None) => {
            let rest = RECORDS - damaged - batch.count;
            assert_eq!(records.len() as u64, rest, "{context}: the rest");
        }
        (
            Field::Length | Field::BaseOffset | Field::BaseOffsetHigh,
            Some(Error::Corrupt { path, .. }),
        ) => {
            assert_eq!(path, log, "{context}");
        }
        (_, Some(e)) => panic!("{context}: reading after the damaged batch failed: {e}"),
    }

    // The next segment is whole, and appends go on at the end.
    let next_segment = segment_logs(work, TOPIC, 0)
        .iter()
        .filter_map(|l| l.file_stem()?.to_str()?.parse::<u64>().ok())
        .find(|&base| base > damaged)
        .expect("a later segment");
    after.seek(&tp(), next_segment)?;
    let (records, error) = poll_until_error(&mut after);
    assert!(
        error.is_none(),
        "{context}: the next segment reads: {error:?}"
    );
    assert_eq!(
        records.len() as u64,
        RECORDS - next_segment,
        "{context}: the next segments"
    );
    assert_eq!(
        broker.producer().send(TOPIC, record(RECORDS))?.offset,
        RECORDS,
        "{context}"
    );
    broker.close()
}

#[test]
fn a_flipped_byte_in_a_sealed_segment_is_an_error_naming_file_and_batch() -> Result<()> {
    let root = tempfile::tempdir().expect("temp dir");
    let pristine = root.path().join("pristine");
    let work = root.path().join("work");
    build(&pristine)?;
    assert!(
        segment_logs(&pristine, TOPIC, 0).len() >= 4,
        "several segments"
    );
    for field in Field::ALL {
        for clean in [true, false] {
            fresh_copy(&pristine, &work, clean);
            let log = segment_logs(&work, TOPIC, 0)[1].clone();
            let batch = middle_batch(&log);
            flip(&log, batch, field);
            check_sealed(&work, &log, batch, field, clean)?;
        }
    }
    Ok(())
}

/// Reopens `work` after an unclean stop that left `batch` of the active segment damaged:
/// recovery must cut the log right before it.
fn check_cut(work: &Path, batch: Span, context: &str) -> Result<()> {
    let survivors = batch.base_offset;
    let broker = Broker::open(work)?;
    let (records, error) = poll_until_error(&mut consumer(&broker)?);
    assert!(error.is_none(), "{context}: {error:?}");
    assert_eq!(
        records.len() as u64,
        survivors,
        "{context}: records before the damaged batch"
    );
    for (i, r) in (0..).zip(&records) {
        assert_record(r, i, context);
    }
    assert_eq!(
        broker.describe_topic(TOPIC)?.partitions[0].high_watermark,
        survivors,
        "{context}"
    );
    let meta = broker.producer().send(TOPIC, record(survivors))?;
    assert_eq!(
        meta.offset, survivors,
        "{context}: the next append takes the damaged batch's offset"
    );
    broker.close()?;

    let broker = Broker::open(work)?;
    let (records, error) = poll_until_error(&mut consumer(&broker)?);
    assert!(error.is_none(), "{context}, reopened: {error:?}");
    assert_eq!(records.len() as u64, survivors + 1, "{context}, reopened");
    for (i, r) in (0..).zip(&records) {
        assert_record(r, i, context);
    }
    broker.close()
}

/// Kafka keeps a consumer's position at a corrupt batch: every poll fails again until the
/// application seeks past it. Records returned before the error are not returned again,
/// and none after the damage are returned without a seek.
#[test]
fn after_a_corrupt_batch_the_consumer_neither_repeats_nor_skips_records() -> Result<()> {
    let root = tempfile::tempdir().expect("temp dir");
    let work = root.path().join("work");
    build(&work)?;
    let log = segment_logs(&work, TOPIC, 0)[1].clone();
    let batch = middle_batch(&log);
    flip(&log, batch, Field::Value);
    let damaged = batch.base_offset;

    let broker = Broker::open(&work)?;
    let mut consumer = consumer(&broker)?;
    let mut seen = Vec::new();
    for poll in 0..5 {
        let (records, error) = poll_until_error(&mut consumer);
        seen.extend(records.iter().map(ConsumerRecord::offset));
        assert_corrupt(error, &log, batch.start, &format!("poll round {poll}"));
        assert_eq!(
            consumer.position(&tp()),
            Some(damaged),
            "position after poll round {poll}"
        );
    }
    assert_eq!(
        seen,
        (0..damaged).collect::<Vec<_>>(),
        "each record before the damage, once"
    );
    broker.close()
}

#[test]
fn after_an_unclean_stop_recovery_cuts_the_active_segment_at_a_flipped_batch() -> Result<()> {
    let root = tempfile::tempdir().expect("temp dir");
    let pristine = root.path().join("pristine");
    let work = root.path().join("work");
    build(&pristine)?;
    for field in Field::ALL {
        let context = format!("{field:?} flipped in the active segment's tail");
        fresh_copy(&pristine, &work, false);
        let log = segment_logs(&work, TOPIC, 0).pop().expect("a segment");
        // In the tail that recovery checks: after the last index entry.
        let batch = batch_after(&log, last_index_position(&log))
            .expect("a multi-record batch after the last index entry");
        flip(&log, batch, field);
        check_cut(&work, batch, &context)?;
    }
    Ok(())
}

/// Recovery checks the active segment from its last good index entry on (DESIGN.md); a
/// batch damaged before that is either cut there too or reported when read, never
/// returned as data, and the records before it stay intact.
#[test]
fn after_an_unclean_stop_a_flipped_batch_early_in_the_active_segment_is_never_read_as_data(
) -> Result<()> {
    let root = tempfile::tempdir().expect("temp dir");
    let pristine = root.path().join("pristine");
    let work = root.path().join("work");
    build(&pristine)?;
    for field in Field::ALL {
        let context = format!("{field:?} flipped early in the active segment");
        fresh_copy(&pristine, &work, false);
        let log = segment_logs(&work, TOPIC, 0).pop().expect("a segment");
        let batch = batch_after(&log, 0).expect("a multi-record batch");
        assert!(
            batch.start < last_index_position(&log),
            "the batch is before the last index entry"
        );
        flip(&log, batch, field);

        let broker = Broker::open(&work)?;
        let hw = broker.describe_topic(TOPIC)?.partitions[0].high_watermark;
        let mut from_start = consumer(&broker)?;
        let (records, error) = poll_until_error(&mut from_start);
        assert_eq!(
            records.len() as u64,
            batch.base_offset,
            "{context}: records before the damaged batch"
        );
        for (i, r) in (0..).zip(&records) {
            assert_record(r, i, &context);
        }
        if hw == batch.base_offset {
            assert!(
                error.is_none(),
                "{context}: cut at the damaged batch, yet {error:?}"
            );
        } else {
            assert_eq!(
                hw, RECORDS,
                "{context}: either cut at the damaged batch or kept whole"
            );
            assert_corrupt(error, &log, batch.start, &context);
        }
        broker.close()?;
    }
    Ok(())
}

#[test]
fn after_a_clean_stop_a_flipped_batch_in_the_active_segment_is_an_error() -> Result<()> {
    let root = tempfile::tempdir().expect("temp dir");
    let pristine = root.path().join("pristine");
    let work = root.path().join("work");
    build(&pristine)?;
    for field in Field::ALL {
        let context = format!("{field:?} flipped in the active segment, clean stop");
        fresh_copy(&pristine, &work, true);
        let log = segment_logs(&work, TOPIC, 0).pop().expect("a segment");
        let batch = middle_batch(&log);
        flip(&log, batch, field);

        let broker = Broker::open(&work)?;
        let mut from_start = consumer(&broker)?;
        let (records, error) = poll_until_error(&mut from_start);
        assert_eq!(
            records.len() as u64,
            batch.base_offset,
            "{context}: records before the damaged batch"
        );
        for (i, r) in (0..).zip(&records) {
            assert_record(r, i, &context);
        }
        assert_corrupt(error, &log, batch.start, &context);
        broker.close()?;
    }
    Ok(())
}
