//! Every API that takes a `Duration` accepts any value, `Duration::ZERO` and `Duration::MAX`
//! included: users write `Duration::MAX` to mean "wait for ever", and a deadline that does
//! not fit an `Instant` means no deadline — never "overflow when adding duration to
//! instant".

use std::thread;
use std::time::{Duration, Instant};

use strom::{
    Broker, BrokerConfig, ConsumerConfig, OffsetReset, Record, Result, SyncPolicy, TopicConfig,
    TopicPartition,
};

mod common;

use common::{now_ms, DAY_MS};

/// Sends one record to `topic` from another thread, after `poll` has had the chance to
/// start waiting (or not: the record is returned either way).
fn send_from_another_thread(broker: &Broker, topic: &'static str) -> thread::JoinHandle<()> {
    let producer = broker.producer();
    thread::spawn(move || {
        thread::yield_now();
        producer
            .send(topic, Record::new("late"))
            .expect("send from another thread");
    })
}

/// A broker on a fresh directory (kept while the `TempDir` lives) with topic `t`.
fn broker_with_topic_t() -> Result<(tempfile::TempDir, Broker)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("t", TopicConfig::default())?;
    Ok((dir, broker))
}

#[test]
fn poll_with_duration_max_waits_until_a_record_arrives() -> Result<()> {
    let (_dir, broker) = broker_with_topic_t()?;
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new("t", 0)])?;
    let sender = send_from_another_thread(&broker, "t");
    let records = consumer.poll(Duration::MAX)?;
    sender.join().expect("sender");
    let values: Vec<&[u8]> = records.iter().map(strom::ConsumerRecord::value).collect();
    assert_eq!(values, [b"late"]);
    Ok(())
}

#[test]
fn poll_with_duration_zero_only_looks() -> Result<()> {
    let (_dir, broker) = broker_with_topic_t()?;
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new("t", 0)])?;
    assert!(consumer.poll(Duration::ZERO)?.is_empty());
    broker.producer().send("t", Record::new("there"))?;
    assert_eq!(consumer.poll(Duration::ZERO)?.len(), 1);
    Ok(())
}

#[test]
fn a_group_member_with_every_interval_at_max_polls_for_ever() -> Result<()> {
    let (_dir, broker) = broker_with_topic_t()?;
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .group_id("g")
            .auto_offset_reset(OffsetReset::Earliest)
            .auto_commit_interval(Duration::MAX)
            .max_poll_interval(Duration::MAX)
            .spin_wait(Duration::MAX),
    );
    consumer.subscribe(["t"])?;
    let sender = send_from_another_thread(&broker, "t");
    let records = consumer.poll(Duration::MAX)?;
    sender.join().expect("sender");
    assert_eq!(records.len(), 1);
    // `Duration::MAX` auto-commit interval: nothing committed until the close.
    assert_eq!(consumer.committed(&TopicPartition::new("t", 0))?, None);
    consumer.close()?;
    let reader = broker.consumer(ConsumerConfig::default().group_id("g"));
    assert_eq!(reader.committed(&TopicPartition::new("t", 0))?, Some(1));
    Ok(())
}

#[test]
fn a_group_member_with_zero_intervals_still_reads() -> Result<()> {
    let (_dir, broker) = broker_with_topic_t()?;
    broker.producer().send("t", Record::new("one"))?;
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .group_id("g")
            .auto_offset_reset(OffsetReset::Earliest)
            .auto_commit_interval(Duration::ZERO)
            .spin_wait(Duration::ZERO),
    );
    consumer.subscribe(["t"])?;
    let mut seen = 0;
    let give_up = Instant::now() + Duration::from_secs(30);
    while seen == 0 && Instant::now() < give_up {
        seen += consumer.poll(Duration::from_millis(50))?.len();
    }
    assert_eq!(seen, 1);
    // A zero auto-commit interval commits at the next poll.
    consumer.poll(Duration::ZERO)?;
    assert_eq!(consumer.committed(&TopicPartition::new("t", 0))?, Some(1));
    Ok(())
}

#[test]
fn a_zero_max_poll_interval_still_waits_out_the_timeout() -> Result<()> {
    let (_dir, broker) = broker_with_topic_t()?;
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .group_id("g")
            .max_poll_interval(Duration::ZERO),
    );
    consumer.subscribe(["t"])?;
    let started = Instant::now();
    let records = consumer.poll(Duration::from_millis(50))?;
    assert!(records.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(50));
    Ok(())
}

#[test]
fn broker_intervals_accept_zero_and_max() -> Result<()> {
    for (sync, maintenance) in [
        (SyncPolicy::Interval(Duration::ZERO), Duration::ZERO),
        (SyncPolicy::Interval(Duration::MAX), Duration::MAX),
        (SyncPolicy::Interval(Duration::ZERO), Duration::MAX),
        (SyncPolicy::Interval(Duration::MAX), Duration::ZERO),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = BrokerConfig::default()
            .sync(sync)
            .maintenance_interval(maintenance);
        let broker = Broker::open_with(dir.path(), config)?;
        broker.create_topic("t", TopicConfig::default())?;
        broker.producer().send("t", Record::new("kept"))?;
        broker.producer().flush()?;
        broker.close()?;
        let broker = Broker::open(dir.path())?;
        assert_eq!(
            broker.describe_topic("t")?.partitions[0].high_watermark,
            1,
            "{sync:?}, maintenance every {maintenance:?}"
        );
    }
    Ok(())
}

#[test]
fn a_zero_maintenance_interval_runs_retention_at_every_tick() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open_with(
        dir.path(),
        BrokerConfig::default().maintenance_interval(Duration::ZERO),
    )?;
    broker.create_topic(
        "t",
        TopicConfig::default()
            .segment_bytes(4096)
            .retention_ms(DAY_MS),
    )?;
    let producer = broker.producer();
    let old = now_ms() - 10 * DAY_MS;
    for i in 0..200 {
        producer.send("t", Record::new(vec![b'o'; 100]).timestamp(old + i))?;
    }
    producer.send("t", Record::new("new"))?;
    // The background thread deletes the expired segments by itself, without
    // `run_maintenance`. (It may run while the records are still being sent, so wait for
    // its work to be done, not merely begun.)
    let give_up = Instant::now() + Duration::from_secs(30);
    while broker.describe_topic("t")?.partitions[0].log_start_offset <= 100 {
        assert!(Instant::now() < give_up, "retention never ran");
        thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

#[test]
fn a_poll_waiting_for_ever_ends_when_the_broker_closes() -> Result<()> {
    let (_dir, broker) = broker_with_topic_t()?;
    let mut consumer = broker.consumer(ConsumerConfig::default());
    consumer.assign(&[TopicPartition::new("t", 0)])?;
    let mut member = broker.consumer(ConsumerConfig::default().group_id("g"));
    member.subscribe(["t"])?;
    let waiting = thread::spawn(move || {
        (
            consumer.poll(Duration::MAX).map(|r| r.len()),
            member.poll(Duration::MAX).map(|r| r.len()),
        )
    });
    broker.close()?;
    let (assigned, subscribed) = waiting.join().expect("poller");
    assert!(
        matches!(assigned, Err(strom::Error::Closed)),
        "{assigned:?}"
    );
    assert!(
        matches!(subscribed, Err(strom::Error::Closed)),
        "{subscribed:?}"
    );
    Ok(())
}
