//! Every bad input gets the documented `Error` variant with a message naming the topic, partition or path concerned; the broker stays usable afterwards and a failed call leaves no topic directory behind.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::path::Path;
use std::time::Duration;

use strom::{
    Broker, BrokerConfig, ConsumerConfig, Error, OffsetReset, Record, Result, TopicConfig,
    TopicPartition,
};

/// A topic every test can send to, to show the broker still works.
const OK_TOPIC: &str = "ok";

/// The names of the entries of the data directory.
fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("read data dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// The error of a call that must fail.
fn fails<T: Debug>(result: Result<T>, what: &str) -> Error {
    match result {
        Ok(v) => panic!("{what}: expected an error, got Ok({v:?})"),
        Err(e) => e,
    }
}

/// Asserts that `message` mentions every one of `needles`.
fn names(err: &Error, needles: &[&str]) {
    let message = err.to_string();
    for needle in needles {
        assert!(
            message.contains(needle),
            "message {message:?} of {err:?} does not name {needle:?}"
        );
    }
}

/// A valid send still succeeds and the data directory holds exactly `before`.
fn still_usable(broker: &Broker, before: &BTreeSet<String>) -> Result<()> {
    let hw = broker.describe_topic(OK_TOPIC)?.partitions[0].high_watermark;
    let meta = broker
        .producer()
        .send(OK_TOPIC, Record::new("still alive"))?;
    assert_eq!(meta.offset, hw, "a valid send after an error");
    assert_eq!(
        &entries(broker.dir()),
        before,
        "a failed call changed the data directory"
    );
    Ok(())
}

fn open(dir: &Path) -> Result<Broker> {
    let broker = Broker::open(dir)?;
    broker.create_topic(OK_TOPIC, TopicConfig::default())?;
    Ok(broker)
}

#[test]
fn invalid_topic_names() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    let before = entries(dir.path());
    let long = "x".repeat(250);
    let bad: Vec<&str> = vec![
        "",
        ".",
        "..",
        &long,
        "a/b",
        "../x",
        "a b",
        "naïve",
        "тема",
        "a\0b",
        "__consumer_offsets",
        "__x",
        "a\\b",
        "/abs",
        "a:b",
        "a*",
        "tab\t",
    ];
    for name in bad {
        let err = fails(
            broker.create_topic(name, TopicConfig::default()),
            &format!("create_topic({name:?})"),
        );
        assert!(
            matches!(&err, Error::InvalidTopicName { name: n, .. } if n == name),
            "create_topic({name:?}): {err:?}"
        );
        names(&err, &[&format!("{name:?}")]);
        still_usable(&broker, &before)?;
        assert_eq!(broker.topics(), [OK_TOPIC]);
    }
    // The longest legal name is fine.
    broker.create_topic(&"x".repeat(249), TopicConfig::default())?;
    broker.close()
}

#[test]
fn names_differing_only_by_dot_and_underscore_collide() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    broker.create_topic("metrics.cpu", TopicConfig::default())?;
    broker.create_topic("logs_app", TopicConfig::default())?;
    let before = entries(dir.path());
    for (name, existing) in [
        ("metrics_cpu", "metrics.cpu"),
        ("logs.app", "logs_app"),
        ("metrics.cpu", "metrics.cpu"),
    ] {
        let err = fails(
            broker.create_topic(name, TopicConfig::default()),
            &format!("create_topic({name:?})"),
        );
        if name == existing {
            assert!(matches!(err, Error::TopicExists { .. }), "{err:?}");
            names(&err, &[name]);
        } else {
            assert!(
                matches!(&err, Error::InvalidTopicName { name: n, .. } if n == name),
                "{name:?} next to {existing:?}: {err:?}"
            );
            names(&err, &[name, existing]);
        }
        still_usable(&broker, &before)?;
    }
    // '-' is not '.' or '_'.
    broker.create_topic("metrics-cpu", TopicConfig::default())?;
    broker.close()
}

#[test]
fn existing_topic() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    broker.create_topic("orders", TopicConfig::default().partitions(2))?;
    broker
        .producer()
        .send("orders", Record::new("first").partition(1))?;
    let before = entries(dir.path());
    let err = fails(
        broker.create_topic("orders", TopicConfig::default().partitions(5)),
        "create existing",
    );
    assert!(
        matches!(&err, Error::TopicExists { topic } if topic == "orders"),
        "{err:?}"
    );
    names(&err, &["orders"]);
    still_usable(&broker, &before)?;
    // The existing topic is untouched.
    let desc = broker.describe_topic("orders")?;
    assert_eq!(desc.config.partitions, 2);
    assert_eq!(desc.partitions.len(), 2);
    assert_eq!(desc.partitions[1].high_watermark, 1);
    broker.close()
}

#[test]
fn nonsense_topic_config() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    let before = entries(dir.path());
    for (config, setting) in [
        (TopicConfig::default().partitions(0), "partitions"),
        (TopicConfig::default().segment_bytes(4095), "segment_bytes"),
        (TopicConfig::default().segment_bytes(0), "segment_bytes"),
    ] {
        let err = fails(broker.create_topic("cfg", config.clone()), setting);
        assert!(
            matches!(err, Error::InvalidConfig { .. }),
            "{config:?}: {err:?}"
        );
        names(&err, &[setting]);
        still_usable(&broker, &before)?;
        assert!(!dir.path().join("cfg").exists());
        assert_eq!(broker.topics(), [OK_TOPIC]);
    }
    // 4 KiB is the smallest accepted segment.
    broker.create_topic("cfg", TopicConfig::default().segment_bytes(4096))?;
    broker.close()
}

/// `create_topic` with a bad config should say which topic it was creating.
#[test]
fn invalid_config_message_names_the_topic() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    let err = fails(
        broker.create_topic("payments", TopicConfig::default().partitions(0)),
        "0 partitions",
    );
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    names(&err, &["payments", "partitions"]);
    broker.close()
}

#[test]
fn unknown_topic_on_send() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    let before = entries(dir.path());
    let producer = broker.producer();

    let err = fails(producer.send("nope", Record::new("x")), "send");
    assert!(
        matches!(&err, Error::UnknownTopic { topic } if topic == "nope"),
        "{err:?}"
    );
    names(&err, &["nope"]);
    still_usable(&broker, &before)?;

    let err = fails(
        producer.send_batch("nope", vec![Record::new("x"), Record::new("y")]),
        "send_batch",
    );
    assert!(matches!(err, Error::UnknownTopic { .. }), "{err:?}");
    names(&err, &["nope"]);
    still_usable(&broker, &before)?;

    let err = fails(
        producer.send_json("nope", Some("k"), &serde_json::json!({"a": 1})),
        "send_json",
    );
    assert!(matches!(err, Error::UnknownTopic { .. }), "{err:?}");
    names(&err, &["nope"]);
    still_usable(&broker, &before)?;
    assert_eq!(broker.topics(), [OK_TOPIC]);
    broker.close()
}

#[test]
fn auto_create_topics_creates_instead() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let default_topic = TopicConfig::default().partitions(2);
    let broker = Broker::open_with(
        dir.path(),
        BrokerConfig::default()
            .auto_create_topics(true)
            .default_topic(default_topic.clone()),
    )?;
    broker.create_topic(OK_TOPIC, TopicConfig::default())?;
    let meta = broker
        .producer()
        .send("fresh", Record::new("x").partition(1))?;
    assert_eq!(
        (meta.topic.as_str(), meta.partition, meta.offset),
        ("fresh", 1, 0)
    );
    assert_eq!(broker.topics(), ["fresh", OK_TOPIC]);
    assert_eq!(broker.describe_topic("fresh")?.config, default_topic);
    assert!(dir.path().join("fresh").is_dir());
    let metas = broker
        .producer()
        .send_batch("fresh-batch", vec![Record::new("a"), Record::new("b")])?;
    assert_eq!(metas.iter().map(|m| m.offset).collect::<Vec<_>>(), [0, 1]);

    // Auto-creation still applies the naming rules and creates nothing for a bad name.
    let before = entries(dir.path());
    for name in ["a/b", "..", "__internal", "", "a b"] {
        let err = fails(
            broker.producer().send(name, Record::new("x")),
            &format!("send to {name:?}"),
        );
        assert!(
            matches!(err, Error::InvalidTopicName { .. }),
            "{name:?}: {err:?}"
        );
        names(&err, &[&format!("{name:?}")]);
        still_usable(&broker, &before)?;
    }
    assert_eq!(broker.topics(), ["fresh", "fresh-batch", OK_TOPIC]);
    broker.close()
}

#[test]
fn explicit_partition_out_of_range() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    broker.create_topic("three", TopicConfig::default().partitions(3))?;
    let before = entries(dir.path());
    let producer = broker.producer();
    for p in [3, 4, u32::MAX] {
        let err = fails(
            producer.send("three", Record::new("x").key("k").partition(p)),
            &format!("partition {p}"),
        );
        assert!(
            matches!(&err, Error::InvalidPartition { topic, partition, .. } if topic == "three" && *partition == p),
            "{err:?}"
        );
        names(&err, &["three", &p.to_string()]);
        still_usable(&broker, &before)?;
    }
    // In a batch, the bad partition appends nothing anywhere.
    let err = fails(
        producer.send_batch(
            "three",
            vec![
                Record::new("a").partition(0),
                Record::new("b").partition(1),
                Record::new("c").partition(7),
            ],
        ),
        "batch with partition 7",
    );
    assert!(matches!(err, Error::InvalidPartition { .. }), "{err:?}");
    names(&err, &["three", "7"]);
    for p in broker.describe_topic("three")?.partitions {
        assert_eq!(p.high_watermark, 0, "partition {}", p.partition);
    }
    still_usable(&broker, &before)?;
    // Partition 2 is fine.
    assert_eq!(
        producer
            .send("three", Record::new("x").partition(2))?
            .partition,
        2
    );
    broker.close()
}

#[test]
fn record_too_large_counts_key_value_and_headers() -> Result<()> {
    const MAX: usize = 100;
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    broker.create_topic(
        "small",
        TopicConfig::default().partitions(2).max_record_bytes(MAX),
    )?;
    let before = entries(dir.path());
    let producer = broker.producer();
    let bytes = |n: usize| vec![b'x'; n];

    // Exactly at the limit: accepted, whichever part the bytes are in.
    let at_limit = [
        Record::new(bytes(MAX)),
        Record::new(bytes(40)).key(bytes(60)),
        Record::new(bytes(50))
            .key(bytes(20))
            .header("hdr", bytes(27)),
        Record::new(Vec::new()).header("h".repeat(MAX), Vec::new()),
        Record::tombstone(bytes(MAX)),
    ];
    for record in at_limit.iter().cloned() {
        producer.send("small", record)?;
    }
    // One byte more: rejected, whichever part it is in.
    let over = [
        Record::new(bytes(MAX + 1)),
        Record::new(bytes(40)).key(bytes(61)),
        Record::new(bytes(50))
            .key(bytes(20))
            .header("hdr", bytes(28)),
        Record::new(bytes(50))
            .key(bytes(20))
            .header("hdrs", bytes(27)),
        Record::new(Vec::new()).header("h".repeat(MAX + 1), Vec::new()),
        Record::new(bytes(60))
            .header("a", bytes(20))
            .header("b", bytes(19)),
        Record::tombstone(bytes(MAX + 1)),
    ];
    let hw_before: Vec<u64> = broker
        .describe_topic("small")?
        .partitions
        .iter()
        .map(|p| p.high_watermark)
        .collect();
    assert_eq!(hw_before.iter().sum::<u64>(), at_limit.len() as u64);
    for record in &over {
        let err = fails(
            producer.send("small", record.clone()),
            &format!("{record:?}"),
        );
        assert!(
            matches!(&err, Error::RecordTooLarge { topic, size, max } if topic == "small" && *size == MAX + 1 && *max == MAX),
            "{err:?}"
        );
        names(&err, &["small", "101", "100"]);
        still_usable(&broker, &before)?;
    }

    // A batch with one oversized record appends nothing, on any partition.
    let mut batch: Vec<Record> = (0..10)
        .map(|i| Record::new(format!("ok-{i}")).partition(i % 2))
        .collect();
    batch.insert(5, Record::new(bytes(MAX + 1)).partition(1));
    let err = fails(producer.send_batch("small", batch), "oversized batch");
    assert!(matches!(err, Error::RecordTooLarge { .. }), "{err:?}");
    names(&err, &["small"]);
    // The oversized record last, after keyless ones.
    let mut batch: Vec<Record> = (0..10).map(|i| Record::new(format!("ok-{i}"))).collect();
    batch.push(Record::new(bytes(MAX + 1)));
    let err = fails(producer.send_batch("small", batch), "oversized last");
    assert!(matches!(err, Error::RecordTooLarge { .. }), "{err:?}");
    let hw_after: Vec<u64> = broker
        .describe_topic("small")?
        .partitions
        .iter()
        .map(|p| p.high_watermark)
        .collect();
    assert_eq!(hw_after, hw_before, "a failed batch appended records");
    still_usable(&broker, &before)?;

    // What was accepted reads back intact.
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[
        TopicPartition::new("small", 0),
        TopicPartition::new("small", 1),
    ])?;
    let mut read = 0;
    while read < at_limit.len() {
        let records = consumer.poll(Duration::from_secs(5))?;
        assert!(!records.is_empty(), "only {read} records read back");
        read += records.len();
    }
    assert_eq!(read, at_limit.len());
    broker.close()
}

#[test]
fn negative_timestamp_is_invalid() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    broker.create_topic("times", TopicConfig::default())?;
    let before = entries(dir.path());
    let producer = broker.producer();
    for ts in [-1, i64::MIN] {
        let err = fails(
            producer.send("times", Record::new("x").timestamp(ts)),
            &format!("timestamp {ts}"),
        );
        assert!(
            matches!(&err, Error::InvalidRecord { topic, .. } if topic == "times"),
            "{err:?}"
        );
        names(&err, &["times", &ts.to_string()]);
        still_usable(&broker, &before)?;
    }
    let err = fails(
        producer.send_batch(
            "times",
            vec![
                Record::new("a").timestamp(5),
                Record::new("b").timestamp(-5),
            ],
        ),
        "batch with a negative timestamp",
    );
    assert!(matches!(err, Error::InvalidRecord { .. }), "{err:?}");
    assert_eq!(
        broker.describe_topic("times")?.partitions[0].high_watermark,
        0
    );
    still_usable(&broker, &before)?;
    // Zero, the epoch itself, is fine.
    assert_eq!(
        producer
            .send("times", Record::new("x").timestamp(0))?
            .timestamp,
        0
    );
    broker.close()
}

#[test]
fn consumer_assign_seek_and_reset_errors() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    broker.create_topic("two", TopicConfig::default().partitions(2))?;
    let before = entries(dir.path());
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::None));
    let good = TopicPartition::new("two", 1);
    consumer.assign(std::slice::from_ref(&good))?;

    let err = fails(
        consumer.assign(&[
            TopicPartition::new("two", 0),
            TopicPartition::new("ghost", 0),
        ]),
        "assign unknown topic",
    );
    assert!(
        matches!(&err, Error::UnknownTopic { topic } if topic == "ghost"),
        "{err:?}"
    );
    names(&err, &["ghost"]);
    assert_eq!(
        consumer.assignment(),
        std::slice::from_ref(&good),
        "assignment changed"
    );
    still_usable(&broker, &before)?;

    let err = fails(
        consumer.assign(&[TopicPartition::new("two", 2)]),
        "assign bad partition",
    );
    assert!(
        matches!(&err, Error::InvalidPartition { topic, partition: 2, .. } if topic == "two"),
        "{err:?}"
    );
    names(&err, &["two", "2"]);
    assert_eq!(
        consumer.assignment(),
        std::slice::from_ref(&good),
        "assignment changed"
    );
    still_usable(&broker, &before)?;

    let unassigned = TopicPartition::new("two", 0);
    let err = fails(consumer.seek(&unassigned, 0), "seek unassigned");
    assert!(
        matches!(&err, Error::NotAssigned { topic, partition: 0 } if topic == "two"),
        "{err:?}"
    );
    names(&err, &["two-0"]);
    for (what, result) in [
        (
            "seek_to_beginning",
            consumer.seek_to_beginning(&[good.clone(), unassigned.clone()]),
        ),
        (
            "seek_to_end",
            consumer.seek_to_end(&[good.clone(), unassigned.clone()]),
        ),
    ] {
        let err = fails(result, what);
        assert!(matches!(err, Error::NotAssigned { .. }), "{what}: {err:?}");
        names(&err, &["two-0"]);
    }
    // A failed seek_to_* moved nothing.
    assert_eq!(consumer.position(&good), None);

    // No position and OffsetReset::None: poll fails, naming the partition.
    broker
        .producer()
        .send("two", Record::new("x").partition(1))?;
    let err = fails(
        consumer.poll(Duration::from_millis(10)),
        "poll without position",
    );
    assert!(
        matches!(&err, Error::OffsetOutOfRange { topic, partition: 1, offset: None, .. } if topic == "two"),
        "{err:?}"
    );
    names(&err, &["two-1"]);
    still_usable(&broker, &before)?;
    // The consumer recovers once it has a position.
    consumer.seek(&good, 0)?;
    let records = consumer.poll(Duration::from_secs(5))?;
    assert_eq!(records.len(), 1);
    broker.close()
}

#[test]
fn describe_and_delete_unknown_topic() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    let before = entries(dir.path());
    let err = fails(broker.describe_topic("missing"), "describe");
    assert!(
        matches!(&err, Error::UnknownTopic { topic } if topic == "missing"),
        "{err:?}"
    );
    names(&err, &["missing"]);
    still_usable(&broker, &before)?;
    let err = fails(broker.delete_topic("missing"), "delete");
    assert!(
        matches!(&err, Error::UnknownTopic { topic } if topic == "missing"),
        "{err:?}"
    );
    names(&err, &["missing"]);
    still_usable(&broker, &before)?;
    // Deleting twice: the second is unknown.
    broker.create_topic("once", TopicConfig::default())?;
    broker.delete_topic("once")?;
    let err = fails(broker.delete_topic("once"), "delete twice");
    assert!(matches!(err, Error::UnknownTopic { .. }), "{err:?}");
    still_usable(&broker, &before)?;
    broker.close()
}

#[test]
fn second_broker_on_a_directory_is_locked() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    let before = entries(dir.path());
    let err = fails(Broker::open(dir.path()), "second open");
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    names(&err, &[&dir.path().display().to_string()]);
    still_usable(&broker, &before)?;
    broker.close()?;
    // Released by close.
    Broker::open(dir.path())?.close()
}

fn assert_closed<T: Debug>(result: Result<T>, what: &str) {
    let err = fails(result, what);
    assert!(matches!(err, Error::Closed), "{what}: {err:?}");
}

#[test]
fn every_operation_after_close_is_closed() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    broker.create_topic("t", TopicConfig::default())?;
    let clone = broker.clone();
    let producer = broker.producer();
    producer.send("t", Record::new("before close"))?;
    let tp = TopicPartition::new("t", 0);
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(std::slice::from_ref(&tp))?;
    let mut fresh = broker.consumer(ConsumerConfig::default());
    broker.close()?;
    let before = entries(dir.path());

    assert_closed(
        clone.create_topic("new", TopicConfig::default()),
        "create_topic",
    );
    assert_closed(clone.describe_topic("t"), "describe_topic");
    assert_closed(clone.describe_topic("missing"), "describe_topic unknown");
    assert_closed(clone.delete_topic("t"), "delete_topic");
    assert_closed(
        clone.producer().send("t", Record::new("x")),
        "send (new producer)",
    );
    assert_closed(producer.send("t", Record::new("x")), "send");
    assert_closed(producer.send("missing", Record::new("x")), "send unknown");
    assert_closed(
        producer.send_batch("t", vec![Record::new("x")]),
        "send_batch",
    );
    assert_closed(producer.send_json("t", None, &1), "send_json");
    assert_closed(producer.flush(), "flush");
    assert_closed(consumer.poll(Duration::from_millis(10)), "poll");
    assert_closed(fresh.assign(std::slice::from_ref(&tp)), "assign");
    assert_closed(
        clone
            .consumer(ConsumerConfig::default())
            .assign(std::slice::from_ref(&tp)),
        "assign (new consumer)",
    );
    let mut iter = consumer.iter();
    assert!(matches!(iter.next(), Some(Err(Error::Closed))));
    assert!(iter.next().is_none(), "iter ends after Closed");
    assert_eq!(entries(dir.path()), before, "nothing created after close");
    assert!(!dir.path().join("new").exists());
    // The topic survived: close is not delete.
    assert!(dir.path().join("t").is_dir());
    // Closing again is harmless.
    clone.close()?;

    // The directory is released and its data intact.
    let reopened = Broker::open(dir.path())?;
    assert_eq!(
        reopened.describe_topic("t")?.partitions[0].high_watermark,
        1
    );
    reopened.close()
}

/// Calls that do no I/O must still refuse to work on a closed broker.
#[test]
fn seeks_and_empty_batches_after_close_are_closed() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    let producer = broker.producer();
    let tp = TopicPartition::new(OK_TOPIC, 0);
    let mut consumer = broker.consumer(ConsumerConfig::default());
    consumer.assign(std::slice::from_ref(&tp))?;
    broker.close()?;

    let outcomes = [
        (
            "empty send_batch",
            producer.send_batch(OK_TOPIC, Vec::new()).map(|_| ()),
        ),
        ("seek", consumer.seek(&tp, 0)),
        ("seek_to_beginning", consumer.seek_to_beginning(&[])),
        ("seek_to_end", consumer.seek_to_end(&[])),
        ("seek_to_timestamp", consumer.seek_to_timestamp(0)),
    ];
    // Collected, so that one run reports every call that misbehaves.
    let wrong: Vec<String> = outcomes
        .into_iter()
        .filter(|(_, result)| !matches!(result, Err(Error::Closed)))
        .map(|(what, result)| format!("{what} -> {result:?}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "after close, expected Err(Closed) from: {wrong:#?}"
    );
    Ok(())
}

#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct Payment {
    amount: u64,
}

#[test]
fn json_of_a_non_json_value_is_serde() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = open(dir.path())?;
    broker.create_topic("raw", TopicConfig::default())?;
    let producer = broker.producer();
    producer.send("raw", Record::new("not json {"))?;
    producer.send("raw", Record::new(r#"{"amount": "lots"}"#))?;
    producer.send("raw", Record::tombstone("k"))?;
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new("raw", 0)])?;
    let records: Vec<_> = consumer.poll(Duration::from_secs(5))?.into_iter().collect();
    assert_eq!(records.len(), 3);

    for (offset, record) in records.iter().enumerate() {
        let err = fails(record.json::<Payment>(), &format!("json at {offset}"));
        assert!(matches!(err, Error::Serde { .. }), "{err:?}");
        names(&err, &[&format!("raw-0@{offset}")]);
    }
    // The same values parse as what they are.
    assert!(records[1].json::<serde_json::Value>().is_ok());
    let before = entries(dir.path());
    still_usable(&broker, &before)?;
    broker.close()
}
