//! A manually assigned consumer's position follows `seek`, `seek_to_beginning`, `seek_to_end` and `seek_to_timestamp` (across many small segments), advances with `poll` by at most `max_poll_records`, and starts or resets where `auto_offset_reset` says.

use std::time::Duration;

use strom::{
    Broker, ConsumerConfig, ConsumerRecord, Error, OffsetReset, Record, Result, TopicConfig,
    TopicPartition,
};

const WAIT: Duration = Duration::from_secs(5);
/// For polls that must come back empty.
const BRIEF: Duration = Duration::from_millis(20);

fn consumer_config(reset: OffsetReset) -> ConsumerConfig {
    ConsumerConfig::default().auto_offset_reset(reset)
}

/// Sends `n` records `p<partition>-<i>` to `partition`.
fn fill(broker: &Broker, topic: &str, partition: u32, n: u64) -> Result<()> {
    let records = (0..n).map(|i| Record::new(format!("p{partition}-{i}")).partition(partition));
    broker.producer().send_batch(topic, records)?;
    Ok(())
}

fn offsets(records: &[ConsumerRecord]) -> Vec<u64> {
    records.iter().map(ConsumerRecord::offset).collect()
}

/// Polls until `n` records have come, failing on an empty poll.
fn poll_n(consumer: &mut strom::Consumer, n: usize) -> Result<Vec<ConsumerRecord>> {
    let mut out = Vec::new();
    while out.len() < n {
        let records = consumer.poll(WAIT)?;
        assert!(!records.is_empty(), "got {} of {n} records", out.len());
        out.extend(records);
    }
    assert_eq!(out.len(), n, "more records than expected");
    Ok(out)
}

#[test]
fn seek_moves_the_position_and_poll_advances_it() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("t", TopicConfig::default())?;
    fill(&broker, "t", 0, 20)?;
    let tp = TopicPartition::new("t", 0);
    let mut consumer = broker.consumer(consumer_config(OffsetReset::Earliest));
    consumer.assign(std::slice::from_ref(&tp))?;
    assert_eq!(consumer.position(&tp), Some(0));

    let records = poll_n(&mut consumer, 20)?;
    assert_eq!(offsets(&records), (0..20).collect::<Vec<_>>());
    assert_eq!(records[7].value(), b"p0-7");
    assert_eq!(consumer.position(&tp), Some(20), "position after poll");
    assert!(consumer.poll(BRIEF)?.is_empty());
    assert_eq!(consumer.position(&tp), Some(20));

    consumer.seek(&tp, 5)?;
    assert_eq!(consumer.position(&tp), Some(5));
    let records = poll_n(&mut consumer, 15)?;
    assert_eq!(offsets(&records), (5..20).collect::<Vec<_>>());
    assert_eq!(records[0].value(), b"p0-5");
    assert_eq!(consumer.position(&tp), Some(20));

    // Seeking backwards re-reads; seeking to the end reads nothing old.
    consumer.seek(&tp, 19)?;
    assert_eq!(offsets(&poll_n(&mut consumer, 1)?), [19]);
    consumer.seek(&tp, 20)?;
    assert!(consumer.poll(BRIEF)?.is_empty());
    assert_eq!(consumer.position(&tp), Some(20));
    broker.producer().send("t", Record::new("late"))?;
    let records = poll_n(&mut consumer, 1)?;
    assert_eq!(
        (records[0].offset(), records[0].value()),
        (20, &b"late"[..])
    );
    assert_eq!(consumer.position(&tp), Some(21));

    // Re-assigning a kept partition keeps its position; a new one starts per the reset.
    broker.create_topic("u", TopicConfig::default())?;
    fill(&broker, "u", 0, 3)?;
    consumer.seek(&tp, 4)?;
    let other = TopicPartition::new("u", 0);
    consumer.assign(&[tp.clone(), other.clone()])?;
    assert_eq!(consumer.position(&tp), Some(4));
    assert_eq!(consumer.position(&other), Some(0));
    broker.close()
}

#[test]
fn max_poll_records_is_respected() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("one", TopicConfig::default())?;
    broker.create_topic("three", TopicConfig::default().partitions(3))?;
    fill(&broker, "one", 0, 25)?;
    for p in 0..3 {
        fill(&broker, "three", p, 10)?;
    }

    let tp = TopicPartition::new("one", 0);
    let mut consumer = broker.consumer(consumer_config(OffsetReset::Earliest).max_poll_records(7));
    consumer.assign(std::slice::from_ref(&tp))?;
    let mut sizes = Vec::new();
    let mut all = Vec::new();
    while all.len() < 25 {
        let records: Vec<_> = consumer.poll(WAIT)?.into_iter().collect();
        assert!(!records.is_empty());
        sizes.push(records.len());
        all.extend(records);
        assert_eq!(consumer.position(&tp), Some(all.len() as u64));
    }
    assert_eq!(sizes, [7, 7, 7, 4], "records per poll");
    assert_eq!(offsets(&all), (0..25).collect::<Vec<_>>());

    let tps: Vec<_> = (0..3).map(|p| TopicPartition::new("three", p)).collect();
    let mut consumer = broker.consumer(consumer_config(OffsetReset::Earliest).max_poll_records(4));
    consumer.assign(&tps)?;
    let mut seen = vec![Vec::new(); 3];
    let mut total = 0;
    while total < 30 {
        let records = consumer.poll(WAIT)?;
        assert!(!records.is_empty());
        assert!(
            records.len() <= 4,
            "a poll returned {} > 4 records",
            records.len()
        );
        total += records.len();
        for r in records {
            seen[r.partition() as usize].push(r.offset());
        }
    }
    assert_eq!(total, 30);
    for (p, offsets) in seen.iter().enumerate() {
        assert_eq!(offsets, &(0..10).collect::<Vec<_>>(), "partition {p}");
    }
    assert!(consumer.poll(BRIEF)?.is_empty());
    broker.close()
}

#[test]
fn seek_to_beginning_and_end() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("t", TopicConfig::default().partitions(2))?;
    fill(&broker, "t", 0, 4)?;
    fill(&broker, "t", 1, 6)?;
    let (tp0, tp1) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
    let mut consumer = broker.consumer(consumer_config(OffsetReset::Earliest));
    consumer.assign(&[tp0.clone(), tp1.clone()])?;

    // An empty slice means every assigned partition.
    consumer.seek_to_end(&[])?;
    assert_eq!(
        (consumer.position(&tp0), consumer.position(&tp1)),
        (Some(4), Some(6))
    );
    assert!(consumer.poll(BRIEF)?.is_empty());
    broker
        .producer()
        .send("t", Record::new("new").partition(1))?;
    let records = poll_n(&mut consumer, 1)?;
    assert_eq!((records[0].partition(), records[0].offset()), (1, 6));

    consumer.seek_to_beginning(&[])?;
    assert_eq!(
        (consumer.position(&tp0), consumer.position(&tp1)),
        (Some(0), Some(0))
    );
    let records = poll_n(&mut consumer, 11)?;
    let count = |p: u32| records.iter().filter(|r| r.partition() == p).count();
    assert_eq!((count(0), count(1)), (4, 7));

    // Named partitions: only those move.
    consumer.seek_to_beginning(std::slice::from_ref(&tp1))?;
    assert_eq!(
        (consumer.position(&tp0), consumer.position(&tp1)),
        (Some(4), Some(0))
    );
    consumer.seek_to_end(std::slice::from_ref(&tp1))?;
    consumer.seek_to_beginning(std::slice::from_ref(&tp0))?;
    assert_eq!(
        (consumer.position(&tp0), consumer.position(&tp1)),
        (Some(0), Some(7))
    );
    let records = poll_n(&mut consumer, 4)?;
    assert!(records.iter().all(|r| r.partition() == 0));
    broker.close()
}

const BASE_TS: i64 = 1_700_000_000_000;
const STEP: i64 = 10;

fn ts(i: u64) -> i64 {
    BASE_TS + STEP * i64::try_from(i).expect("small index")
}

#[test]
fn seek_to_timestamp_across_segments() -> Result<()> {
    const N: u64 = 600;
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    // Small segments; one topic with the default sparse index, one with a dense one and
    // records sent in batches.
    broker.create_topic("sparse", TopicConfig::default().segment_bytes(4096))?;
    broker.create_topic(
        "dense",
        TopicConfig::default()
            .segment_bytes(4096)
            .index_interval_bytes(128),
    )?;
    let producer = broker.producer();
    let value = |i: u64| format!("{i:0>64}");
    for i in 0..N {
        producer.send("sparse", Record::new(value(i)).timestamp(ts(i)))?;
    }
    for chunk in (0..N).collect::<Vec<_>>().chunks(9) {
        producer.send_batch(
            "dense",
            chunk
                .iter()
                .map(|&i| Record::new(value(i)).timestamp(ts(i))),
        )?;
    }

    for topic in ["sparse", "dense"] {
        let desc = broker.describe_topic(topic)?;
        assert!(
            desc.partitions[0].segments >= 5,
            "{topic}: only {} segments",
            desc.partitions[0].segments
        );
        assert_eq!(desc.partitions[0].high_watermark, N);
        let tp = TopicPartition::new(topic, 0);
        let mut consumer =
            broker.consumer(consumer_config(OffsetReset::Earliest).max_poll_records(1));
        consumer.assign(std::slice::from_ref(&tp))?;

        for i in 0..N {
            // Exactly a record's timestamp, and just after the previous one.
            for target in [ts(i), ts(i) - STEP / 2] {
                consumer.seek_to_timestamp(target)?;
                assert_eq!(
                    consumer.position(&tp),
                    Some(i),
                    "{topic}: seek_to_timestamp({target})"
                );
            }
        }
        // Before everything: the beginning. After everything: the end.
        for target in [0, BASE_TS - 1, ts(0) - STEP / 2] {
            consumer.seek_to_timestamp(target)?;
            assert_eq!(consumer.position(&tp), Some(0), "{topic}: {target}");
        }
        for target in [ts(N - 1) + 1, i64::MAX] {
            consumer.seek_to_timestamp(target)?;
            assert_eq!(consumer.position(&tp), Some(N), "{topic}: {target}");
            assert!(consumer.poll(BRIEF)?.is_empty());
        }

        // A poll after the seek reads from there.
        for i in [1, 63, 64, 65, 299, 598, 599] {
            consumer.seek_to_timestamp(ts(i) - 1)?;
            let records = poll_n(&mut consumer, 1)?;
            assert_eq!(records[0].offset(), i, "{topic}");
            assert_eq!(records[0].timestamp(), ts(i));
            assert_eq!(records[0].value(), value(i).as_bytes());
            assert_eq!(consumer.position(&tp), Some(i + 1));
        }
    }

    // Every assigned partition moves, each by its own timestamps.
    broker.create_topic(
        "two",
        TopicConfig::default().partitions(2).segment_bytes(4096),
    )?;
    for i in 0..100 {
        producer.send("two", Record::new(value(i)).timestamp(ts(i)).partition(0))?;
        producer.send(
            "two",
            Record::new(value(i)).timestamp(ts(2 * i)).partition(1),
        )?;
    }
    let (tp0, tp1) = (TopicPartition::new("two", 0), TopicPartition::new("two", 1));
    let mut consumer = broker.consumer(consumer_config(OffsetReset::Earliest));
    consumer.assign(&[tp0.clone(), tp1.clone()])?;
    consumer.seek_to_timestamp(ts(80))?;
    assert_eq!(
        (consumer.position(&tp0), consumer.position(&tp1)),
        (Some(80), Some(40))
    );
    consumer.seek_to_timestamp(ts(150))?;
    assert_eq!(
        (consumer.position(&tp0), consumer.position(&tp1)),
        (Some(100), Some(75))
    );
    broker.close()
}

#[test]
fn seek_to_timestamp_with_out_of_order_timestamps() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("t", TopicConfig::default())?;
    let stamps = [100, 300, 200, 400, 250, 500];
    for (i, &t) in stamps.iter().enumerate() {
        broker
            .producer()
            .send("t", Record::new(format!("{i}")).timestamp(t))?;
    }
    let tp = TopicPartition::new("t", 0);
    let mut consumer = broker.consumer(consumer_config(OffsetReset::Earliest));
    consumer.assign(std::slice::from_ref(&tp))?;
    // The first offset whose timestamp is at or after the target.
    for (target, expected) in [
        (0, 0),
        (100, 0),
        (101, 1),
        (150, 1),
        (250, 1),
        (300, 1),
        (301, 3),
        (400, 3),
        (401, 5),
        (500, 5),
        (501, 6),
    ] {
        consumer.seek_to_timestamp(target)?;
        assert_eq!(
            consumer.position(&tp),
            Some(expected),
            "seek_to_timestamp({target})"
        );
    }
    broker.close()
}

#[test]
fn auto_offset_reset_at_assign() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("t", TopicConfig::default())?;
    fill(&broker, "t", 0, 5)?;
    let tp = TopicPartition::new("t", 0);

    let mut earliest = broker.consumer(consumer_config(OffsetReset::Earliest));
    earliest.assign(std::slice::from_ref(&tp))?;
    assert_eq!(earliest.position(&tp), Some(0));

    let mut latest = broker.consumer(consumer_config(OffsetReset::Latest));
    latest.assign(std::slice::from_ref(&tp))?;
    assert_eq!(latest.position(&tp), Some(5));

    // The default is Latest, as in Kafka.
    let mut default = broker.consumer(ConsumerConfig::default());
    default.assign(std::slice::from_ref(&tp))?;
    assert_eq!(default.position(&tp), Some(5));

    let mut none = broker.consumer(consumer_config(OffsetReset::None));
    none.assign(std::slice::from_ref(&tp))?;
    assert_eq!(none.position(&tp), None);

    assert_eq!(offsets(&poll_n(&mut earliest, 5)?), [0, 1, 2, 3, 4]);
    assert!(latest.poll(BRIEF)?.is_empty());
    assert!(default.poll(BRIEF)?.is_empty());
    match none.poll(BRIEF) {
        Err(Error::OffsetOutOfRange { offset: None, .. }) => {}
        other => panic!("expected OffsetOutOfRange, got {other:?}"),
    }

    broker.producer().send("t", Record::new("after"))?;
    for consumer in [&mut earliest, &mut latest, &mut default] {
        let records = poll_n(consumer, 1)?;
        assert_eq!(
            (records[0].offset(), records[0].value()),
            (5, &b"after"[..])
        );
        assert_eq!(consumer.position(&tp), Some(6));
    }
    none.seek(&tp, 2)?;
    assert_eq!(offsets(&poll_n(&mut none, 4)?), [2, 3, 4, 5]);
    broker.close()
}

#[test]
fn seek_past_the_end_resets_on_next_poll() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("t", TopicConfig::default())?;
    fill(&broker, "t", 0, 10)?;
    let tp = TopicPartition::new("t", 0);

    // Earliest: back to the log start.
    let mut earliest = broker.consumer(consumer_config(OffsetReset::Earliest));
    earliest.assign(std::slice::from_ref(&tp))?;
    earliest.seek(&tp, 1_000)?;
    assert_eq!(
        earliest.position(&tp),
        Some(1_000),
        "seek stores the offset as given"
    );
    let records = poll_n(&mut earliest, 10)?;
    assert_eq!(offsets(&records), (0..10).collect::<Vec<_>>());
    assert_eq!(earliest.position(&tp), Some(10));

    // The high watermark itself is a valid position, not out of range.
    earliest.seek(&tp, 10)?;
    assert!(
        earliest.poll(BRIEF)?.is_empty(),
        "seek to the end re-read the log"
    );
    assert_eq!(earliest.position(&tp), Some(10));

    // Latest: to the end, and from there on new records.
    let mut latest = broker.consumer(consumer_config(OffsetReset::Latest));
    latest.assign(std::slice::from_ref(&tp))?;
    latest.seek(&tp, u64::MAX)?;
    assert!(latest.poll(BRIEF)?.is_empty());
    assert_eq!(latest.position(&tp), Some(10));

    // None: an error naming the offset and the partition's range, until a valid seek.
    let mut none = broker.consumer(consumer_config(OffsetReset::None));
    none.assign(std::slice::from_ref(&tp))?;
    none.seek(&tp, 11)?;
    match none.poll(BRIEF) {
        Err(
            ref err @ Error::OffsetOutOfRange {
                ref topic,
                partition: 0,
                offset: Some(11),
                log_start_offset: 0,
                high_watermark: 10,
            },
        ) if topic == "t" => {
            let message = err.to_string();
            assert!(
                message.contains("t-0") && message.contains("11"),
                "{message}"
            );
        }
        other => panic!("expected OffsetOutOfRange at 11, got {other:?}"),
    }
    // Still an error: the reset is not silently applied.
    assert!(matches!(
        none.poll(BRIEF),
        Err(Error::OffsetOutOfRange { .. })
    ));
    none.seek(&tp, 10)?;
    assert!(none.poll(BRIEF)?.is_empty());

    broker.producer().send("t", Record::new("new"))?;
    for consumer in [&mut earliest, &mut latest, &mut none] {
        assert_eq!(offsets(&poll_n(consumer, 1)?), [10]);
    }
    broker.close()
}
