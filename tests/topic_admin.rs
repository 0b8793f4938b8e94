//! Topic administration: create, list (sorted, internal `__` topics hidden), describe (partitions in order, config round-trips, `topic.json` survives reopen), delete (files gone, the name reusable from offset 0, old handles get errors), and names that could escape the data directory are refused.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use strom::{
    Broker, BrokerConfig, CleanupPolicy, ConsumerConfig, Error, OffsetReset, Record, Result,
    TopicConfig, TopicPartition,
};

fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

fn custom_config() -> TopicConfig {
    TopicConfig::default()
        .partitions(3)
        .segment_bytes(8192)
        .segment_ms(3_600_000)
        .retention_ms(-1)
        .retention_bytes(1 << 30)
        .max_record_bytes(2048)
        .cleanup_policy(CleanupPolicy::Compact)
        .delete_retention_ms(60_000)
        .index_interval_bytes(512)
}

fn read_all(broker: &Broker, topic: &str, partition: u32) -> Result<Vec<(u64, Vec<u8>)>> {
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new(topic, partition)])?;
    let records = consumer.poll(Duration::from_millis(200))?;
    Ok(records
        .iter()
        .map(|r| (r.offset(), r.value().to_vec()))
        .collect())
}

#[test]
fn create_list_and_describe() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    assert!(broker.topics().is_empty());
    let names = ["zeta", "alpha", "Mid", "b-2", "a.b", "a_c", "0day"];
    for name in names {
        broker.create_topic(name, TopicConfig::default())?;
    }
    let mut sorted: Vec<String> = names.iter().map(ToString::to_string).collect();
    sorted.sort();
    assert_eq!(broker.topics(), sorted);

    broker.create_topic("custom", custom_config())?;
    let producer = broker.producer();
    for (p, n) in [(0, 3), (2, 5)] {
        for i in 0..n {
            producer.send("custom", Record::new(format!("v{i}")).key("k").partition(p))?;
        }
    }
    let desc = broker.describe_topic("custom")?;
    assert_eq!(desc.name, "custom");
    assert_eq!(desc.config, custom_config(), "config round-trips");
    let numbers: Vec<u32> = desc.partitions.iter().map(|p| p.partition).collect();
    assert_eq!(numbers, [0, 1, 2], "partitions in order");
    let watermarks: Vec<u64> = desc.partitions.iter().map(|p| p.high_watermark).collect();
    assert_eq!(watermarks, [3, 0, 5]);
    for p in &desc.partitions {
        assert_eq!(p.log_start_offset, 0);
        assert!(p.segments >= 1, "{p:?}");
    }
    assert!(desc.partitions[2].size_bytes > desc.partitions[0].size_bytes);
    assert!(desc.partitions[0].size_bytes > desc.partitions[1].size_bytes);

    // Defaults are described as defaults.
    assert_eq!(
        broker.describe_topic("alpha")?.config,
        TopicConfig::default()
    );
    assert_eq!(broker.describe_topic("alpha")?.partitions.len(), 1);
    broker.close()
}

#[test]
fn topic_json_exists_and_config_survives_reopen() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("custom", custom_config())?;
    broker.create_topic("plain", TopicConfig::default())?;
    broker
        .producer()
        .send("custom", Record::new("kept").partition(1))?;
    let path = dir.path().join("custom").join("topic.json");
    assert!(path.is_file(), "{} missing", path.display());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read topic.json"))
            .expect("topic.json is JSON");
    assert!(json.is_object(), "{json}");
    for p in 0..3 {
        assert!(
            dir.path().join("custom").join(p.to_string()).is_dir(),
            "partition {p} dir"
        );
    }
    let before = broker.describe_topic("custom")?;
    broker.close()?;

    let broker = Broker::open(dir.path())?;
    assert_eq!(broker.topics(), ["custom", "plain"]);
    let after = broker.describe_topic("custom")?;
    assert_eq!(after.config, custom_config());
    assert_eq!(after.partitions, before.partitions);
    assert!(path.is_file());
    assert_eq!(read_all(&broker, "custom", 1)?, [(0, b"kept".to_vec())]);
    // Still the same topic: appends continue its offsets.
    let meta = broker
        .producer()
        .send("custom", Record::new("next").partition(1))?;
    assert_eq!(meta.offset, 1);
    // And the same after a drop without close.
    drop(broker);
    let broker = Broker::open(dir.path())?;
    assert_eq!(broker.describe_topic("custom")?.config, custom_config());
    assert_eq!(
        broker.describe_topic("custom")?.partitions[1].high_watermark,
        2
    );
    broker.close()
}

#[test]
fn internal_topics_are_never_listed() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("visible", TopicConfig::default())?;
    broker.create_topic("becomes-internal", TopicConfig::default())?;
    broker
        .producer()
        .send("becomes-internal", Record::new("x"))?;
    broker.close()?;
    // An internal topic on disk, as strom itself would keep one.
    std::fs::rename(
        dir.path().join("becomes-internal"),
        dir.path().join("__consumer_offsets"),
    )
    .expect("rename topic dir");

    let broker = Broker::open(dir.path())?;
    assert_eq!(broker.topics(), ["visible"]);
    let err = broker
        .create_topic("__consumer_offsets", TopicConfig::default())
        .expect_err("reserved name");
    assert!(matches!(err, Error::InvalidTopicName { .. }), "{err:?}");
    let err = broker
        .create_topic("__other", TopicConfig::default())
        .expect_err("reserved prefix");
    assert!(matches!(err, Error::InvalidTopicName { .. }), "{err:?}");
    // The internal topic's files are left alone.
    assert!(dir
        .path()
        .join("__consumer_offsets")
        .join("topic.json")
        .is_file());
    // A single underscore is an ordinary name.
    broker.create_topic("_single", TopicConfig::default())?;
    assert_eq!(broker.topics(), ["_single", "visible"]);
    broker.close()
}

#[test]
fn delete_removes_files_and_the_name_can_be_reused() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    let initial = entries(dir.path());
    broker.create_topic("keep", TopicConfig::default())?;
    broker.create_topic("doomed", TopicConfig::default().partitions(2))?;
    let producer = broker.producer();
    for i in 0..50 {
        producer.send("doomed", Record::new(format!("old-{i}")).partition(i % 2))?;
    }
    producer.send("keep", Record::new("kept"))?;
    assert!(dir.path().join("doomed").is_dir());

    broker.delete_topic("doomed")?;
    assert!(
        !dir.path().join("doomed").exists(),
        "topic directory left behind"
    );
    let mut expected = initial.clone();
    expected.insert("keep".to_string());
    assert_eq!(entries(dir.path()), expected, "leftovers after delete");
    assert_eq!(broker.topics(), ["keep"]);
    assert!(matches!(
        broker.describe_topic("doomed"),
        Err(Error::UnknownTopic { .. })
    ));
    // A producer made before the delete gets an error, not a panic.
    let err = producer
        .send("doomed", Record::new("late"))
        .expect_err("send to a deleted topic");
    assert!(
        matches!(err, Error::UnknownTopic { .. } | Error::Closed),
        "{err:?}"
    );
    assert!(producer
        .send_batch("doomed", vec![Record::new("late")])
        .is_err());
    // Other topics are untouched.
    assert_eq!(read_all(&broker, "keep", 0)?, [(0, b"kept".to_vec())]);

    // Re-created with another config: empty, from offset 0.
    broker.create_topic("doomed", TopicConfig::default().segment_bytes(4096))?;
    let desc = broker.describe_topic("doomed")?;
    assert_eq!(desc.config, TopicConfig::default().segment_bytes(4096));
    assert_eq!(desc.partitions.len(), 1);
    assert_eq!(desc.partitions[0].high_watermark, 0);
    let meta = producer.send("doomed", Record::new("new"))?;
    assert_eq!((meta.partition, meta.offset), (0, 0));
    assert_eq!(read_all(&broker, "doomed", 0)?, [(0, b"new".to_vec())]);
    broker.close()?;

    // The new topic is what a reopen finds.
    let broker = Broker::open(dir.path())?;
    assert_eq!(broker.topics(), ["doomed", "keep"]);
    assert_eq!(broker.describe_topic("doomed")?.partitions.len(), 1);
    assert_eq!(read_all(&broker, "doomed", 0)?, [(0, b"new".to_vec())]);
    broker.close()
}

/// `delete_topic` documents that consumers still holding the topic get `UnknownTopic`
/// or `Closed` from then on.
#[test]
fn consumer_of_a_deleted_topic_gets_an_error() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("doomed", TopicConfig::default())?;
    broker.producer().send("doomed", Record::new("old"))?;
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new("doomed", 0)])?;
    broker.delete_topic("doomed")?;
    broker.create_topic("doomed", TopicConfig::default())?;
    broker.producer().send("doomed", Record::new("new"))?;

    let result = consumer.poll(Duration::from_millis(100));
    let seen = result
        .as_ref()
        .map(|records| {
            records
                .iter()
                .map(|r| String::from_utf8_lossy(r.value()).into_owned())
                .collect::<Vec<_>>()
        })
        .ok();
    assert!(
        matches!(result, Err(Error::UnknownTopic { .. } | Error::Closed)),
        "poll of a deleted topic's partition returned Ok with values {seen:?}"
    );
    broker.close()
}

#[test]
fn delete_while_producing_gives_errors_not_panics() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("busy", TopicConfig::default().partitions(2))?;
    let producer = broker.producer();
    let stop = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel();
    let senders: Vec<_> = (0..2)
        .map(|t| {
            let producer = producer.clone();
            let stop = Arc::clone(&stop);
            let started = started_tx.clone();
            thread::spawn(move || {
                let mut errors = Vec::new();
                let mut ok = 0_u64;
                let mut i = 0_u64;
                while !stop.load(Ordering::Relaxed) {
                    let result = if i.is_multiple_of(2) {
                        producer
                            .send("busy", Record::new(format!("{t}-{i}")))
                            .map(|_| ())
                    } else {
                        producer
                            .send_batch("busy", (0..5).map(|j| Record::new(format!("{t}-{i}-{j}"))))
                            .map(|_| ())
                    };
                    match result {
                        Ok(()) => ok += 1,
                        Err(e) => errors.push(e),
                    }
                    if i == 20 {
                        let _ = started.send(());
                    }
                    i += 1;
                }
                (ok, errors)
            })
        })
        .collect();
    for _ in 0..2 {
        started_rx.recv().expect("sender started");
    }
    broker.delete_topic("busy")?;
    assert!(!dir.path().join("busy").exists());
    broker.create_topic("busy", TopicConfig::default().partitions(2))?;
    // Let the senders write to the new topic for a while: until it holds some records.
    let until = Instant::now() + Duration::from_secs(30);
    while broker
        .describe_topic("busy")?
        .partitions
        .iter()
        .map(|p| p.high_watermark)
        .sum::<u64>()
        < 100
    {
        assert!(
            Instant::now() < until,
            "the senders do not write to the re-created topic"
        );
        thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        let (ok, errors) = sender.join().expect("sender panicked");
        assert!(ok > 0);
        for e in errors {
            assert!(
                matches!(e, Error::UnknownTopic { .. } | Error::Closed),
                "unexpected error from a send during delete: {e:?}"
            );
        }
    }
    // The new topic is consistent: contiguous from 0 and all readable.
    for p in broker.describe_topic("busy")?.partitions {
        let mut consumer = broker.consumer(
            ConsumerConfig::default()
                .auto_offset_reset(OffsetReset::Earliest)
                .max_poll_records(usize::MAX),
        );
        consumer.assign(&[TopicPartition::new("busy", p.partition)])?;
        let mut next = 0;
        while next < p.high_watermark {
            let records = consumer.poll(Duration::from_secs(5))?;
            assert!(!records.is_empty());
            for r in records {
                assert_eq!(r.offset(), next);
                next += 1;
            }
        }
    }
    assert!(
        entries(dir.path()).iter().all(|e| !e.contains("deleted")),
        "{:?}",
        entries(dir.path())
    );
    broker.close()
}

/// Deleting and re-creating one name from two threads must leave either no topic or a
/// whole one, never an I/O error or a registered topic whose directory is gone.
///
/// A race, so it only fails in some runs (about 2 in 5 here) and takes up to ~25 s in
/// debug: run it with `cargo test --test topic_admin -- --ignored`.
#[test]
#[ignore = "slow stress test of a delete/create race; run with --ignored"]
fn concurrent_delete_and_create_of_one_name() -> Result<()> {
    const ROUNDS: usize = 20;
    // Many partitions widen the window between the registry update and the rename in
    // `delete_topic`, so that the race shows up in a few rounds.
    const PARTITIONS: u32 = 256;
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    let config = TopicConfig::default()
        .partitions(PARTITIONS)
        .segment_bytes(4096);
    for round in 0..ROUNDS {
        broker.create_topic("flip", config.clone())?;
        let creator = {
            let broker = broker.clone();
            let config = config.clone();
            thread::spawn(move || loop {
                match broker.create_topic("flip", config.clone()) {
                    Err(Error::TopicExists { .. }) => std::hint::spin_loop(),
                    other => return other,
                }
            })
        };
        let deleted = broker.delete_topic("flip");
        let created = creator.join().expect("creator panicked");
        assert!(
            deleted.is_ok() && created.is_ok(),
            "round {round}: delete_topic -> {deleted:?}, concurrent create_topic -> {created:?}"
        );
        assert_eq!(broker.topics(), ["flip"]);
        let topic_dir = dir.path().join("flip");
        assert!(
            topic_dir.join("topic.json").is_file(),
            "round {round}: topic \"flip\" is registered but {} is gone",
            topic_dir.display()
        );
        let meta = broker
            .producer()
            .send("flip", Record::new("x").partition(PARTITIONS - 1))?;
        assert_eq!(meta.offset, 0);
        broker.delete_topic("flip")?;
        assert!(!topic_dir.exists());
    }
    broker.close()
}

#[test]
fn names_cannot_escape_the_data_directory() -> Result<()> {
    let root = tempfile::tempdir().expect("temp dir");
    let outer = root.path().join("outer");
    let data = outer.join("data");
    std::fs::create_dir_all(&data).expect("create data dir");
    let broker = Broker::open_with(&data, BrokerConfig::default().auto_create_topics(true))?;
    let root_before = entries(root.path());
    let outer_before = entries(&outer);
    let data_before = entries(&data);
    let bad = [
        "..",
        ".",
        "../x",
        "../../x",
        "a/../../x",
        "a/..",
        "x/../y",
        "/tmp/x",
        "..\\x",
        "a\\..\\..\\x",
        "~x",
        "x~deleted",
    ];
    for name in bad {
        let err = broker
            .create_topic(name, TopicConfig::default())
            .expect_err(name);
        assert!(
            matches!(err, Error::InvalidTopicName { .. }),
            "create {name:?}: {err:?}"
        );
        let err = broker
            .producer()
            .send(name, Record::new("x"))
            .expect_err(name);
        assert!(
            matches!(err, Error::InvalidTopicName { .. }),
            "send {name:?}: {err:?}"
        );
        assert!(matches!(
            broker.describe_topic(name),
            Err(Error::UnknownTopic { .. })
        ));
        assert!(matches!(
            broker.delete_topic(name),
            Err(Error::UnknownTopic { .. })
        ));
        let mut consumer = broker.consumer(ConsumerConfig::default());
        assert!(consumer.assign(&[TopicPartition::new(name, 0)]).is_err());
    }
    assert_eq!(
        entries(root.path()),
        root_before,
        "something created outside"
    );
    assert_eq!(entries(&outer), outer_before, "something created outside");
    assert_eq!(
        entries(&data),
        data_before,
        "something created in the data dir"
    );
    assert!(broker.topics().is_empty());
    // The data dir itself survived `delete_topic("..")` and `delete_topic(".")`.
    broker.create_topic("fine", TopicConfig::default())?;
    assert!(data.join("fine").join("topic.json").is_file());
    broker.close()
}
