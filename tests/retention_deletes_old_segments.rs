//! Retention deletes whole old segments — by record age, by partition size, and after
//! `segment_ms` rolls an idle segment — moving the log start; consumers below it reset.

use std::thread;
use std::time::Duration;

use strom::{
    Broker, ConsumerConfig, Error, OffsetReset, Record, Result, TopicConfig, TopicPartition,
};

mod common;

use common::{now_ms, DAY_MS};

fn offsets_read(broker: &Broker, reset: OffsetReset, from: u64) -> Result<Vec<u64>> {
    let mut consumer = broker.consumer(ConsumerConfig::default().auto_offset_reset(reset));
    let tp = TopicPartition::new("events", 0);
    consumer.assign(std::slice::from_ref(&tp))?;
    consumer.seek(&tp, from)?;
    let mut out = Vec::new();
    loop {
        let records = consumer.poll(Duration::from_millis(20))?;
        if records.is_empty() {
            return Ok(out);
        }
        out.extend(records.iter().map(strom::ConsumerRecord::offset));
    }
}

#[test]
fn segments_older_than_retention_ms_are_deleted() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(
        "events",
        TopicConfig::default()
            .segment_bytes(4096)
            .retention_ms(DAY_MS),
    )?;
    let producer = broker.producer();
    let old = now_ms() - 10 * DAY_MS;
    for i in 0..200 {
        producer.send("events", Record::new(vec![b'o'; 100]).timestamp(old + i))?;
    }
    for _ in 0..50 {
        producer.send("events", Record::new(vec![b'n'; 100]))?;
    }
    let before = broker.describe_topic("events")?.partitions[0].clone();
    assert!(before.segments > 5);
    broker.run_maintenance()?;
    let after = broker.describe_topic("events")?.partitions[0].clone();
    assert!(
        after.log_start_offset > 150 && after.log_start_offset <= 200,
        "{after:?}"
    );
    assert_eq!(after.high_watermark, 250);
    assert!(after.segments < before.segments);
    let logs = std::fs::read_dir(dir.path().join("events").join("0"))
        .expect("partition dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "log"))
        })
        .count();
    assert_eq!(logs, after.segments);
    // Every record that is left is readable, and the recent ones are all there.
    let left = offsets_read(&broker, OffsetReset::Earliest, after.log_start_offset)?;
    assert_eq!(left, (after.log_start_offset..250).collect::<Vec<_>>());
    // A position below the log start is reset by auto_offset_reset...
    assert_eq!(
        offsets_read(&broker, OffsetReset::Earliest, 0)?.first(),
        Some(&after.log_start_offset)
    );
    assert!(offsets_read(&broker, OffsetReset::Latest, 0)?.is_empty());
    // ...or is an error without one.
    let err = offsets_read(&broker, OffsetReset::None, 0).expect_err("below the log start");
    assert!(
        matches!(
            err,
            Error::OffsetOutOfRange {
                offset: Some(0),
                ..
            }
        ),
        "{err:?}"
    );
    // The log start survives a reopen.
    broker.close()?;
    let broker = Broker::open(dir.path())?;
    assert_eq!(
        broker.describe_topic("events")?.partitions[0].log_start_offset,
        after.log_start_offset
    );
    broker.close()
}

#[test]
fn the_oldest_segments_go_while_the_partition_is_over_retention_bytes() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(
        "events",
        TopicConfig::default()
            .segment_bytes(4096)
            .retention_ms(-1)
            .retention_bytes(16 * 1024),
    )?;
    let producer = broker.producer();
    for _ in 0..500 {
        producer.send("events", Record::new(vec![b'x'; 100]))?;
    }
    broker.run_maintenance()?;
    let after = broker.describe_topic("events")?.partitions[0].clone();
    assert!(after.size_bytes <= 16 * 1024 + 4096, "{after:?}");
    assert!(
        after.size_bytes >= 16 * 1024 - 4096,
        "kept too little: {after:?}"
    );
    assert!(after.log_start_offset > 0);
    assert_eq!(
        offsets_read(&broker, OffsetReset::Earliest, 0)?.len() as u64,
        500 - after.log_start_offset
    );
    broker.close()
}

#[test]
fn an_idle_segment_is_rolled_by_segment_ms_and_then_expires() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(
        "events",
        TopicConfig::default().segment_ms(50).retention_ms(100),
    )?;
    let producer = broker.producer();
    for _ in 0..10 {
        producer.send("events", Record::new("soon gone"))?;
    }
    thread::sleep(Duration::from_millis(250));
    broker.run_maintenance()?;
    let after = broker.describe_topic("events")?.partitions[0].clone();
    assert_eq!(
        (after.log_start_offset, after.high_watermark),
        (10, 10),
        "{after:?}"
    );
    // The log goes on at the next offset.
    assert_eq!(producer.send("events", Record::new("next"))?.offset, 10);
    broker.close()
}

#[test]
fn the_background_thread_applies_retention() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open_with(
        dir.path(),
        strom::BrokerConfig::default().maintenance_interval(Duration::from_millis(20)),
    )?;
    broker.create_topic(
        "events",
        TopicConfig::default()
            .segment_bytes(4096)
            .retention_ms(DAY_MS),
    )?;
    let old = now_ms() - 10 * DAY_MS;
    let producer = broker.producer();
    for i in 0..100 {
        producer.send("events", Record::new(vec![b'o'; 100]).timestamp(old + i))?;
    }
    producer.send("events", Record::new("recent"))?;
    let mut start = 0;
    for _ in 0..250 {
        start = broker.describe_topic("events")?.partitions[0].log_start_offset;
        if start > 0 {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        start > 0,
        "the maintenance thread never deleted the old segments"
    );
    broker.close()
}
