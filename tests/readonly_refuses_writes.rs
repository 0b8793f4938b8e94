//! A directory opened read-only: every write is `Error::ReadOnly` naming the directory, the
//! directory is left byte for byte as it was, no lock is taken (a writer opens beside the
//! reader, before or after it), reads see the writer's state, and a missing or damaged
//! directory is a clear error.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use strom::{
    Broker, BrokerConfig, ConsumerConfig, Error, OffsetReset, Record, Result, TopicConfig,
    TopicPartition,
};

fn read_only() -> BrokerConfig {
    BrokerConfig::default().read_only(true)
}

/// Every file under `dir` with its length, modification time and bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("list") {
            let entry = entry.expect("entry");
            let meta = entry.metadata().expect("metadata");
            if meta.is_dir() {
                stack.push(entry.path());
                out.insert(
                    entry.path(),
                    (0, meta.modified().expect("mtime"), Vec::new()),
                );
            } else {
                out.insert(
                    entry.path(),
                    (
                        meta.len(),
                        meta.modified().expect("mtime"),
                        fs::read(entry.path()).expect("read"),
                    ),
                );
            }
        }
    }
    out
}

fn assert_read_only<T: std::fmt::Debug>(result: Result<T>, dir: &Path, what: &str) {
    match result {
        Err(Error::ReadOnly { dir: named, .. }) => {
            assert_eq!(named, dir, "{what}: the error names the data directory");
        }
        other => panic!("{what}: expected Error::ReadOnly, got {other:?}"),
    }
}

/// A directory a writer filled and closed (not cleanly, for the first topic's tail to need
/// recovery that the reader must not do): topics, records, a group's commit.
fn filled(dir: &Path) -> Result<()> {
    let writer = Broker::open(dir)?;
    writer.create_topic("events", TopicConfig::default().partitions(2))?;
    let producer = writer.producer();
    for i in 0..50 {
        producer.send("events", Record::new(format!("value-{i}")).partition(i % 2))?;
    }
    // Rolled into several segments, so that the reader loads sealed ones.
    writer.create_topic(
        "rolled",
        TopicConfig::default()
            .segment_bytes(4096)
            .index_interval_bytes(256),
    )?;
    for i in 0..200 {
        producer.send("rolled", Record::new(format!("rolled value {i}")))?;
    }
    let mut consumer = writer.consumer(
        ConsumerConfig::default()
            .group_id("readers")
            .auto_offset_reset(OffsetReset::Earliest),
    );
    consumer.commit_offsets(&[(TopicPartition::new("events", 0), 7)])?;
    drop(consumer);
    // Not closed: as after a crash, the active segments keep their preallocated tails and
    // no clean marker is written. The lock goes with the process's handle.
    std::mem::forget(writer);
    Ok(())
}

#[test]
fn every_write_is_refused_and_nothing_in_the_directory_changes() -> Result<()> {
    let tmp = tempfile::tempdir().expect("dir");
    let dir = tmp.path().join("data");
    // A writer in this process that is gone without closing keeps its lock: the reader
    // must not care. (Its maps are leaked with it; nothing writes any more.)
    filled(&dir)?;
    // A sealed segment without its indexes: a writer would rebuild and write them.
    let first = dir
        .join("rolled")
        .join("0")
        .join("00000000000000000000.log");
    fs::remove_file(first.with_extension("index")).expect("remove .index");
    fs::remove_file(first.with_extension("timeindex")).expect("remove .timeindex");
    let before = snapshot(&dir);
    let reader = Broker::open_with(&dir, read_only())?;
    assert_eq!(reader.topics(), ["events", "rolled"]);
    let mut all =
        reader.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    all.assign(&[TopicPartition::new("rolled", 0)])?;
    let mut values = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while values.len() < 200 && Instant::now() < deadline {
        for r in all.poll(Duration::from_millis(50))? {
            values.push(String::from_utf8_lossy(r.value()).into_owned());
        }
    }
    assert_eq!(
        values,
        (0..200)
            .map(|i| format!("rolled value {i}"))
            .collect::<Vec<_>>()
    );
    assert!(reader.describe_topic("rolled")?.partitions[0].segments > 2);
    let desc = reader.describe_topic("events")?;
    let ends: Vec<u64> = desc.partitions.iter().map(|p| p.high_watermark).collect();
    assert_eq!(ends, [25, 25]);
    assert_eq!(reader.groups(), ["readers"]);
    let group = reader.describe_group("readers")?;
    assert_eq!(group.partitions.len(), 1);
    assert_eq!(group.partitions[0].committed, Some(7));
    assert_eq!(group.partitions[0].lag, 18);

    let producer = reader.producer();
    assert_read_only(
        reader.create_topic("other", TopicConfig::default()),
        &dir,
        "create_topic",
    );
    assert_read_only(
        reader.create_internal_topic("__other", TopicConfig::default()),
        &dir,
        "create_internal_topic",
    );
    assert_read_only(reader.delete_topic("events"), &dir, "delete_topic");
    assert_read_only(
        reader.alter_topic("events", TopicConfig::default().partitions(3)),
        &dir,
        "alter_topic",
    );
    assert_read_only(reader.run_maintenance(), &dir, "run_maintenance");
    assert_read_only(producer.send("events", Record::new("x")), &dir, "send");
    assert_read_only(
        producer.send_batch("events", [Record::new("x")]),
        &dir,
        "send_batch",
    );
    assert_read_only(
        producer.send_json("events", Some("k"), &42),
        &dir,
        "send_json",
    );
    assert_read_only(producer.topic("events"), &dir, "Producer::topic");
    assert_read_only(producer.batch("events"), &dir, "Producer::batch");
    assert_read_only(producer.flush(), &dir, "flush");
    assert_read_only(
        reader.transactional_producer("tx"),
        &dir,
        "transactional_producer",
    );
    let mut grouped = reader.consumer(ConsumerConfig::default().group_id("readers"));
    assert_read_only(grouped.subscribe(["events"]), &dir, "subscribe");
    let tp = TopicPartition::new("events", 0);
    grouped.assign(std::slice::from_ref(&tp))?;
    // Starts at the committed offset, as a group member would.
    assert_eq!(grouped.position(&tp), Some(7));
    assert_eq!(grouped.committed(&tp)?, Some(7));
    let records = grouped.poll(Duration::from_millis(100))?;
    assert_eq!(records.len(), 18);
    assert_read_only(grouped.commit(), &dir, "commit");
    assert_read_only(
        grouped.commit_offsets(&[(tp.clone(), 1)]),
        &dir,
        "commit_offsets",
    );
    // Closing with auto-commit on (the default) commits nothing and is no error.
    grouped.close()?;
    reader.close()?;
    assert_eq!(
        snapshot(&dir),
        before,
        "a read-only open changed the directory"
    );
    Ok(())
}

#[test]
fn no_lock_is_taken_and_a_writer_opens_beside_readers() -> Result<()> {
    let tmp = tempfile::tempdir().expect("dir");
    let dir = tmp.path();
    {
        let writer = Broker::open(dir)?;
        writer.create_topic("t", TopicConfig::default())?;
        writer.producer().send("t", Record::new("before"))?;
        writer.close()?;
    }
    let first = Broker::open_with(dir, read_only())?;
    let second = Broker::open_with(dir, read_only())?;
    // The lock is free: a writer opens with two readers on the directory.
    let writer = Broker::open(dir)?;
    assert!(matches!(Broker::open(dir), Err(Error::Locked { .. })));
    writer.producer().send("t", Record::new("after"))?;
    for reader in [&first, &second] {
        let mut consumer =
            reader.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
        consumer.assign(&[TopicPartition::new("t", 0)])?;
        let mut values = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while values.len() < 2 && Instant::now() < deadline {
            for r in consumer.poll(Duration::from_millis(100))? {
                values.push(String::from_utf8_lossy(r.value()).into_owned());
            }
        }
        assert_eq!(values, ["before", "after"]);
    }
    writer.close()?;
    // A reader opened while a writer runs is also no obstacle to the next writer.
    let third = Broker::open_with(dir, read_only())?;
    let writer = Broker::open(dir)?;
    writer.close()?;
    for reader in [first, second, third] {
        reader.close()?;
    }
    Ok(())
}

#[test]
fn a_missing_directory_is_an_error_naming_it_and_is_not_created() {
    let tmp = tempfile::tempdir().expect("dir");
    let dir = tmp.path().join("nothing-here");
    match Broker::open_with(&dir, read_only()) {
        Err(Error::Io { path, .. }) => assert_eq!(path, dir),
        other => panic!("expected Error::Io naming the directory, got {other:?}"),
    }
    assert!(!dir.exists(), "a read-only open created the directory");
}

#[test]
fn damaged_directories_give_clear_errors_never_a_panic() -> Result<()> {
    let tmp = tempfile::tempdir().expect("dir");
    let dir = tmp.path();
    {
        let writer = Broker::open(dir)?;
        writer.create_topic("t", TopicConfig::default().segment_bytes(4096))?;
        let producer = writer.producer();
        for i in 0..200 {
            producer.send("t", Record::new(format!("record number {i}")))?;
        }
        writer.close()?;
    }
    let segments: Vec<PathBuf> = {
        let mut logs: Vec<PathBuf> = fs::read_dir(dir.join("t").join("0"))
            .expect("list")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        logs.sort();
        logs
    };
    assert!(segments.len() >= 3, "rolled into several segments");

    // A byte flipped inside a sealed segment: reading it is Error::Corrupt naming the file.
    let sealed = &segments[0];
    let mut bytes = fs::read(sealed).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x5a;
    fs::write(sealed, &bytes).expect("write");
    let reader = Broker::open_with(dir, read_only())?;
    let mut consumer =
        reader.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new("t", 0)])?;
    let mut error = None;
    for _ in 0..100 {
        match consumer.poll(Duration::from_millis(10)) {
            Ok(_) => {}
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    match error {
        Some(Error::Corrupt { path, .. }) => assert_eq!(&path, sealed),
        other => panic!("expected Error::Corrupt naming {sealed:?}, got {other:?}"),
    }
    reader.close()?;

    // Garbage over the last segment: nothing of it is handed out, and nothing panics.
    let last = segments.last().expect("a segment");
    fs::write(last, vec![0xA5; 3000]).expect("write");
    let reader = Broker::open_with(dir, read_only())?;
    let desc = reader.describe_topic("t")?;
    assert_eq!(
        desc.partitions[0].high_watermark,
        desc.partitions[0].log_start_offset.max(
            // The last segment holds nothing valid: the log ends where it starts.
            last.file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse().ok())
                .expect("a segment name")
        )
    );
    reader.close()?;

    // A damaged topic config: the open fails with Error::Corrupt naming the file.
    let config = dir.join("t").join("topic.json");
    fs::write(&config, b"{ not json").expect("write");
    match Broker::open_with(dir, read_only()) {
        Err(Error::Corrupt { path, .. }) => assert_eq!(path, config),
        other => panic!("expected Error::Corrupt naming {config:?}, got {other:?}"),
    }
    // Damaged committed offsets: the same.
    fs::write(&config, b"{}").expect("write");
    let _ = fs::remove_dir_all(dir.join("t"));
    fs::create_dir_all(dir.join("__consumer_offsets")).expect("dir");
    let offsets = dir.join("__consumer_offsets").join("6162.json");
    fs::write(&offsets, b"[1, 2").expect("write");
    match Broker::open_with(dir, read_only()) {
        Err(Error::Corrupt { path, .. }) => assert_eq!(path, offsets),
        other => panic!("expected Error::Corrupt naming {offsets:?}, got {other:?}"),
    }
    Ok(())
}
