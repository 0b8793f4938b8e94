//! With the `metrics` feature, a recorder installed before the broker opens sees exactly the
//! work done: records and bytes appended and read per partition, one fsync per `Always`
//! send, segment rolls, retention's deletions, compaction's removals, a group's lag after
//! its commits and as the log grows, its rebalances, and transactions committed and
//! aborted.
//!
//! Each test installs its own `DebuggingRecorder` on its thread: strom registers its
//! handles there (at open, topic creation, join, producer creation), and they report to it
//! from any thread.

#![expect(
    clippy::float_cmp,
    reason = "a lag gauge holds a whole number of records, exact in an f64"
)]

use std::collections::BTreeMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use strom::{
    Broker, BrokerConfig, CleanupPolicy, ConsumerConfig, IsolationLevel, OffsetReset, Record,
    Result, SyncPolicy, TopicConfig, TopicPartition,
};

const WAIT: Duration = Duration::from_secs(5);

/// What the recorder saw: metric name and sorted labels → value. Taking it resets the
/// recorder's counters, gauges and histograms: each look sees what happened since the last.
#[derive(Debug)]
struct Seen(BTreeMap<(String, Vec<(String, String)>), DebugValue>);

impl Seen {
    fn take(snapshotter: &Snapshotter) -> Self {
        let mut seen = BTreeMap::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let mut labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_string(), l.value().to_string()))
                .collect();
            labels.sort();
            seen.insert((key.name().to_string(), labels), value);
        }
        Self(seen)
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        labels.sort();
        self.0.get(&(name.to_string(), labels))
    }

    /// A counter's value (0 if it was never registered).
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.value(name, labels) {
            Some(DebugValue::Counter(n)) => *n,
            None => 0,
            other => panic!("{name} {labels:?} is not a counter: {other:?}"),
        }
    }

    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.value(name, labels) {
            Some(DebugValue::Gauge(v)) => v.0,
            other => panic!("{name} {labels:?} is not a registered gauge: {other:?}"),
        }
    }

    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        match self.value(name, labels) {
            Some(DebugValue::Histogram(v)) => v.iter().map(|x| x.0).collect(),
            None => Vec::new(),
            other => panic!("{name} {labels:?} is not a histogram: {other:?}"),
        }
    }
}

fn partition_labels<'a>(topic: &'a str, partition: &'a str) -> [(&'a str, &'a str); 2] {
    [("topic", topic), ("partition", partition)]
}

/// Reads `topic`-`partition` from the start with polls of at most `max` records, until
/// `count` records came back.
fn read_all(broker: &Broker, topic: &str, partition: u32, max: usize, count: usize) -> Result<()> {
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .max_poll_records(max),
    );
    consumer.assign(&[TopicPartition::new(topic, partition)])?;
    let mut read = 0;
    while read < count {
        let records = consumer.poll(WAIT)?;
        assert!(
            !records.is_empty(),
            "{topic}-{partition}: only {read} of {count} records"
        );
        read += records.len();
    }
    assert_eq!(read, count);
    Ok(())
}

#[test]
fn appends_and_reads_are_counted_per_partition() -> Result<()> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("orders", TopicConfig::default().partitions(2))?;
    let producer = broker.producer();
    // Partition 0: two batches of 10; partition 1: three single sends.
    for _ in 0..2 {
        producer.send_batch(
            "orders",
            (0..10).map(|i| Record::new(format!("order {i}")).key("k").partition(0)),
        )?;
    }
    for i in 0..3 {
        producer.send("orders", Record::new(format!("single {i}")).partition(1))?;
    }
    // Polls of 3 records stop inside batches: a batch's bytes count once, when a poll is
    // past it, so what was read adds up to what was appended.
    read_all(&broker, "orders", 0, 3, 20)?;
    read_all(&broker, "orders", 1, 2, 3)?;

    let seen = Seen::take(&snapshotter);
    let sizes: Vec<u64> = broker
        .describe_topic("orders")?
        .partitions
        .iter()
        .map(|p| p.size_bytes)
        .collect();
    for (partition, records, size) in [("0", 20, sizes[0]), ("1", 3, sizes[1])] {
        let labels = partition_labels("orders", partition);
        assert_eq!(
            seen.counter("strom_records_appended_total", &labels),
            records
        );
        assert_eq!(seen.counter("strom_records_read_total", &labels), records);
        assert_eq!(seen.counter("strom_bytes_appended_total", &labels), size);
        assert_eq!(seen.counter("strom_bytes_read_total", &labels), size);
        // `SyncPolicy::Never`: nothing was fsynced, nothing rolled.
        assert_eq!(seen.counter("strom_fsyncs_total", &labels), 0);
        assert_eq!(seen.counter("strom_segment_rolls_total", &labels), 0);
    }
    assert!(sizes.iter().all(|&s| s > 0));
    broker.close()
}

#[test]
fn every_always_send_is_one_fsync_and_its_latency() -> Result<()> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open_with(dir.path(), BrokerConfig::default().sync(SyncPolicy::Always))?;
    broker.create_topic("ledger", TopicConfig::default())?;
    let producer = broker.producer();
    for i in 0..5 {
        producer.send("ledger", Record::new(format!("entry {i}")))?;
    }
    let seen = Seen::take(&snapshotter);
    let labels = partition_labels("ledger", "0");
    assert_eq!(seen.counter("strom_fsyncs_total", &labels), 5);
    let latencies = seen.histogram("strom_fsync_seconds", &labels);
    assert_eq!(latencies.len(), 5);
    assert!(
        latencies.iter().all(|&s| (0.0..60.0).contains(&s)),
        "{latencies:?}"
    );
    // Everything is durable already: a flush has nothing to fsync.
    producer.flush()?;
    let seen = Seen::take(&snapshotter);
    assert_eq!(seen.counter("strom_fsyncs_total", &labels), 0);
    broker.close()
}

#[test]
fn rolls_retention_and_compaction_are_counted() -> Result<()> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    let value = vec![b'v'; 1000];
    let producer = broker.producer();

    // 4 KiB segments of 1 KB records: the log rolls every few records.
    broker.create_topic(
        "events",
        TopicConfig::default()
            .segment_bytes(4096)
            .retention_bytes(8192),
    )?;
    for _ in 0..20 {
        producer.send("events", Record::new(value.as_slice()))?;
    }
    let segments_written = broker.describe_topic("events")?.partitions[0].segments;
    broker.run_maintenance()?;
    let segments_kept = broker.describe_topic("events")?.partitions[0].segments;
    assert!(segments_kept < segments_written);

    // A compacted topic where each of 2 keys is written 10 times, over several segments.
    broker.create_topic(
        "prices",
        TopicConfig::default()
            .segment_bytes(4096)
            .cleanup_policy(CleanupPolicy::Compact),
    )?;
    for i in 0..20 {
        let key = if i % 2 == 0 { "apple" } else { "pear" };
        producer.send("prices", Record::new(value.as_slice()).key(key))?;
    }
    broker.run_maintenance()?;
    let left = read_partition_count(&broker, "prices")?;

    let seen = Seen::take(&snapshotter);
    let events = partition_labels("events", "0");
    assert_eq!(
        seen.counter("strom_segment_rolls_total", &events),
        segments_written as u64 - 1
    );
    assert_eq!(
        seen.counter("strom_segments_deleted_total", &events),
        (segments_written - segments_kept) as u64
    );
    let prices = partition_labels("prices", "0");
    assert!(seen.counter("strom_compaction_segments_rewritten_total", &prices) >= 1);
    assert_eq!(
        seen.counter("strom_compaction_records_removed_total", &prices),
        20 - left
    );
    assert!(left < 20);
    broker.close()
}

/// Records left in partition 0 of `topic`.
fn read_partition_count(broker: &Broker, topic: &str) -> Result<u64> {
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .max_poll_records(100_000),
    );
    consumer.assign(&[TopicPartition::new(topic, 0)])?;
    let mut n = 0;
    loop {
        let records = consumer.poll(Duration::ZERO)?;
        if records.is_empty() {
            return Ok(n);
        }
        n += records.len() as u64;
    }
}

#[test]
fn group_lag_follows_commits_and_appends_and_rebalances_are_counted() -> Result<()> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("clicks", TopicConfig::default())?;
    let producer = broker.producer();
    producer.send_batch("clicks", (0..10).map(|i| Record::new(format!("click {i}"))))?;
    let config = ConsumerConfig::default()
        .group_id("dashboards")
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false);
    let mut first = broker.consumer(config.clone());
    first.subscribe(["clicks"])?;
    while first.assignment().is_empty() {
        first.poll(Duration::from_millis(10))?;
    }
    let tp = TopicPartition::new("clicks", 0);
    first.commit_offsets(&[(tp.clone(), 4)])?;
    let lag = [
        ("group", "dashboards"),
        ("topic", "clicks"),
        ("partition", "0"),
    ];
    let seen = Seen::take(&snapshotter);
    assert_eq!(seen.gauge("strom_consumer_group_lag", &lag), 6.0);
    let group = [("group", "dashboards")];
    assert_eq!(seen.counter("strom_rebalances_total", &group), 1);

    // The log grows without a commit: maintenance moves the gauge.
    producer.send_batch("clicks", (0..5).map(|i| Record::new(format!("late {i}"))))?;
    broker.run_maintenance()?;
    assert_eq!(
        Seen::take(&snapshotter).gauge("strom_consumer_group_lag", &lag),
        11.0
    );

    // A second member joins, then leaves: two more generations since the last look.
    let mut second = broker.consumer(config);
    second.subscribe(["clicks"])?;
    second.poll(Duration::ZERO)?;
    second.close()?;
    first.commit_offsets(&[(tp, 15)])?;
    let seen = Seen::take(&snapshotter);
    assert_eq!(seen.counter("strom_rebalances_total", &group), 2);
    assert_eq!(seen.gauge("strom_consumer_group_lag", &lag), 0.0);
    broker.close()
}

#[test]
fn transactions_committed_and_aborted_are_counted() -> Result<()> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("payments", TopicConfig::default())?;
    broker.create_topic("receipts", TopicConfig::default())?;
    broker
        .producer()
        .send_batch("payments", (0..8).map(|i| Record::new(format!("pay {i}"))))?;
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .group_id("billing")
            .auto_offset_reset(OffsetReset::Earliest)
            .enable_auto_commit(false)
            .isolation_level(IsolationLevel::ReadCommitted),
    );
    consumer.subscribe(["payments"])?;
    while consumer.assignment().is_empty() {
        consumer.poll(Duration::from_millis(10))?;
    }
    let producer = broker.transactional_producer("billing-1")?;
    let tp = TopicPartition::new("payments", 0);
    let group = consumer.group_metadata()?;
    for (round, commit) in [true, false, true].into_iter().enumerate() {
        producer.begin_transaction()?;
        producer.send("receipts", Record::new(format!("receipt {round}")))?;
        let offset = 2 * (round as u64 + 1);
        producer.send_offsets_to_transaction(&[(tp.clone(), offset)], &group)?;
        if commit {
            producer.commit_transaction()?;
        } else {
            producer.abort_transaction()?;
        }
    }
    let seen = Seen::take(&snapshotter);
    let id = [("transactional_id", "billing-1")];
    assert_eq!(seen.counter("strom_transactions_committed_total", &id), 2);
    assert_eq!(seen.counter("strom_transactions_aborted_total", &id), 1);
    // The last commit stored offset 6 of the 8 records.
    let lag = [
        ("group", "billing"),
        ("topic", "payments"),
        ("partition", "0"),
    ];
    assert_eq!(seen.gauge("strom_consumer_group_lag", &lag), 2.0);
    // Records of the user's only: the three transactions' markers are not counted.
    let receipts = partition_labels("receipts", "0");
    assert_eq!(seen.counter("strom_records_appended_total", &receipts), 3);
    drop(producer);
    broker.close()
}
