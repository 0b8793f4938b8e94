//! `Mirror` against a second strom broker served over Kafka's protocol as the "cluster":
//! what arrives there is what was stored here, partition by partition.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use strom::storage::batch;
use strom::{
    Broker, Compression, ConsumerConfig, IsolationLevel, Record, TopicConfig, TopicPartition,
};
use strom_kafka::{KafkaServer, Mirror, MirrorError};

/// One record as both sides must hold it:
/// (key, value, headers, timestamp, whether a tombstone).
type Seen = (Option<Vec<u8>>, Vec<u8>, Vec<(String, Vec<u8>)>, i64, bool);

/// Every record of `topic`'s partition `partition` in `broker`, in order.
fn records(broker: &Broker, topic: &str, partition: u32) -> Vec<Seen> {
    records_as(broker, topic, partition, IsolationLevel::ReadUncommitted)
}

/// Every record of `topic`'s partition `partition` in `broker` that a consumer at
/// `isolation` reads, in order.
fn records_as(
    broker: &Broker,
    topic: &str,
    partition: u32,
    isolation: IsolationLevel,
) -> Vec<Seen> {
    let tp = TopicPartition::new(topic, partition);
    let described = &broker.describe_topic(topic).unwrap().partitions[partition as usize];
    let end = match isolation {
        IsolationLevel::ReadUncommitted => described.high_watermark,
        IsolationLevel::ReadCommitted => described.last_stable_offset,
    };
    let mut consumer = broker.consumer(ConsumerConfig::default().isolation_level(isolation));
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    consumer
        .seek_to_beginning(std::slice::from_ref(&tp))
        .unwrap();
    let mut out = Vec::new();
    // Until the partition's end as described: the records are all there already, and the
    // position steps over markers and aborted records.
    while consumer.position(&tp).unwrap_or(0) < end {
        for record in &consumer.poll(Duration::from_secs(5)).unwrap() {
            out.push((
                record.key().map(<[u8]>::to_vec),
                record.value().to_vec(),
                record
                    .headers()
                    .map(|(k, v)| (k.to_string(), v.to_vec()))
                    .collect(),
                record.timestamp(),
                record.is_tombstone(),
            ));
        }
    }
    out
}

fn record(i: i64) -> Record {
    Record::new(format!("reading {i}"))
        .key(format!("station-{}", i % 7))
        .header("unit", "celsius")
        .header("seq", i.to_string())
        .timestamp(1_700_000_000_000 + i * 13)
}

#[test]
fn copies_partitions_and_compressed_topics_as_they_are_then_only_what_is_new() {
    let here_dir = tempfile::tempdir().unwrap();
    let there_dir = tempfile::tempdir().unwrap();
    let here = Broker::open(here_dir.path()).unwrap();
    let there = Broker::open(there_dir.path()).unwrap();
    let server = KafkaServer::bind(there.clone(), "127.0.0.1:0").unwrap();
    let target = server.local_addr().to_string();

    here.create_topic("readings", TopicConfig::default().partitions(3))
        .unwrap();
    here.create_topic(
        "archive",
        TopicConfig::default()
            .partitions(2)
            .compression(Compression::Gzip),
    )
    .unwrap();
    let producer = here.producer();
    for i in 0..40 {
        producer.send("readings", record(i)).unwrap();
    }
    // Several records to a batch, compressed as one.
    producer
        .send_batch(
            "archive",
            (0..30).map(|i| record(i).partition(u32::from(i % 2 == 1))),
        )
        .unwrap();
    producer
        .send("readings", Record::tombstone("station-1"))
        .unwrap();

    let mirror = Mirror::new(here.clone(), target.clone())
        .topics(["readings", "archive"])
        .once(true);
    let first = mirror.run().unwrap();
    assert_eq!(first.records, 71);

    let compare = |expect_partitions: usize| {
        for (topic, partitions) in [("readings", 3), ("archive", 2)] {
            let described = there.describe_topic(topic).unwrap();
            assert_eq!(
                described.partitions.len(),
                expect_partitions.max(partitions)
            );
            for p in 0..partitions {
                let ours = records(&here, topic, p as u32);
                assert!(!ours.is_empty(), "{topic}/{p} holds records");
                assert_eq!(records(&there, topic, p as u32), ours, "{topic}/{p}");
            }
        }
    };
    compare(0);
    assert_eq!(
        there.describe_topic("archive").unwrap().config.compression,
        Compression::None,
        "created with the cluster's defaults"
    );

    // The batches pass through as stored: still gzip on the other side.
    let tp = TopicPartition::new("archive", 1);
    let fetched = there
        .fetch_batches(&tp, 0, 1 << 20, IsolationLevel::ReadUncommitted)
        .unwrap();
    assert_eq!(
        batch::check(&fetched.bytes).unwrap().compression(),
        Compression::Gzip
    );
    // The progress is the group's committed offsets: each partition's end.
    let committed = here.committed_offsets("strom-mirror").unwrap();
    for described in here.describe_topic("readings").unwrap().partitions {
        let tp = TopicPartition::new("readings", described.partition);
        assert!(committed.contains(&(tp, described.high_watermark)));
    }

    // A second run copies only what was added since, to the same partitions.
    for i in 40..50 {
        producer.send("readings", record(i)).unwrap();
    }
    let second = mirror.run().unwrap();
    assert_eq!(second.records, 10);
    compare(0);
    // And with nothing new, nothing.
    assert_eq!(mirror.run().unwrap().records, 0);
    compare(0);

    server.shutdown().unwrap();
    there.close().unwrap();
    here.close().unwrap();
}

#[test]
fn a_target_topic_with_fewer_partitions_is_an_error_not_a_repartitioning() {
    let here_dir = tempfile::tempdir().unwrap();
    let there_dir = tempfile::tempdir().unwrap();
    let here = Broker::open(here_dir.path()).unwrap();
    let there = Broker::open(there_dir.path()).unwrap();
    let server = KafkaServer::bind(there.clone(), "127.0.0.1:0").unwrap();
    here.create_topic("readings", TopicConfig::default().partitions(4))
        .unwrap();
    there
        .create_topic("readings", TopicConfig::default().partitions(2))
        .unwrap();
    here.producer().send("readings", record(1)).unwrap();

    let out = Mirror::new(here.clone(), server.local_addr().to_string())
        .topics(["readings"])
        .once(true)
        .run();
    match out {
        Err(MirrorError::FewerPartitions {
            topic,
            local,
            target,
        }) => assert_eq!((topic.as_str(), local, target), ("readings", 4, 2)),
        other => panic!("expected FewerPartitions, got {other:?}"),
    }
    assert!(there
        .describe_topic("readings")
        .unwrap()
        .partitions
        .iter()
        .all(|p| p.high_watermark == 0));
    server.shutdown().unwrap();
    there.close().unwrap();
    here.close().unwrap();
}

#[test]
fn a_cluster_that_stays_away_is_unavailable_after_the_patience_and_nothing_is_committed() {
    let here_dir = tempfile::tempdir().unwrap();
    let here = Broker::open(here_dir.path()).unwrap();
    here.create_topic("readings", TopicConfig::default())
        .unwrap();
    here.producer().send("readings", record(1)).unwrap();
    // A port just released: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);

    let out = Mirror::new(here.clone(), address)
        .topics(["readings"])
        .once(true)
        .patience(Duration::from_millis(200))
        .run();
    assert!(matches!(out, Err(MirrorError::Unavailable(_))), "{out:?}");
    assert!(here.committed_offsets("strom-mirror").unwrap().is_empty());
    // A topic that does not exist here is named before the network is tried.
    let out = Mirror::new(here.clone(), "127.0.0.1:1")
        .topics(["nowhere"])
        .once(true)
        .run();
    match out {
        Err(e @ MirrorError::Local(_)) => assert!(e.to_string().contains("nowhere"), "{e}"),
        other => panic!("expected a local error, got {other:?}"),
    }
    here.close().unwrap();
}

/// Two brokers, the second served over Kafka's protocol as the mirror's target.
struct Pair {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    here: Broker,
    there: Broker,
    server: KafkaServer,
}

impl Pair {
    fn new() -> Self {
        let here_dir = tempfile::tempdir().unwrap();
        let there_dir = tempfile::tempdir().unwrap();
        let here = Broker::open(here_dir.path()).unwrap();
        let there = Broker::open(there_dir.path()).unwrap();
        let server = KafkaServer::bind(there.clone(), "127.0.0.1:0").unwrap();
        Self {
            _dirs: (here_dir, there_dir),
            here,
            there,
            server,
        }
    }

    fn mirror(&self, topics: &[&str]) -> Mirror {
        Mirror::new(self.here.clone(), self.server.local_addr().to_string())
            .topics(topics.iter().copied())
            .patience(Duration::from_secs(10))
    }

    fn close(self) {
        self.server.shutdown().unwrap();
        self.there.close().unwrap();
        self.here.close().unwrap();
    }
}

/// The records of every partition of `topic` on both sides are the same (`here` read
/// committed).
fn assert_same(pair: &Pair, topic: &str) {
    let partitions = pair.here.describe_topic(topic).unwrap().partitions.len();
    for p in 0..partitions as u32 {
        let ours = records_as(&pair.here, topic, p, IsolationLevel::ReadCommitted);
        assert_eq!(records(&pair.there, topic, p), ours, "{topic}/{p}");
    }
}

/// The records `broker` holds in `topic`, all partitions (high watermarks, markers counted).
fn stored(broker: &Broker, topic: &str) -> u64 {
    broker
        .describe_topic(topic)
        .map_or(0, |d| d.partitions.iter().map(|p| p.high_watermark).sum())
}

#[test]
fn following_copies_what_is_appended_until_stopped() {
    let pair = Pair::new();
    pair.here
        .create_topic("readings", TopicConfig::default().partitions(2))
        .unwrap();
    let producer = pair.here.producer();
    for i in 0..10 {
        producer.send("readings", record(i)).unwrap();
    }
    // Made on the target beforehand, so that the test can watch it from the start.
    pair.there
        .create_topic("readings", TopicConfig::default().partitions(2))
        .unwrap();
    let mirror = pair.mirror(&["readings"]);
    let stop = Arc::new(AtomicBool::new(false));
    let follower = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || mirror.run_until(&stop))
    };
    // The target's state is what the test waits on: a consumer there waits for its
    // appends, and the high watermarks tell when all have arrived.
    let tps: Vec<TopicPartition> = (0..2).map(|p| TopicPartition::new("readings", p)).collect();
    let mut watcher = pair.there.consumer(ConsumerConfig::default());
    watcher.assign(&tps).unwrap();
    let mut wait_for = |count: u64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while stored(&pair.there, "readings") < count {
            assert!(
                std::time::Instant::now() < deadline,
                "the target stays short of {count}"
            );
            let _ = watcher.poll(Duration::from_millis(50)).unwrap();
        }
    };
    wait_for(10);
    for i in 10..25 {
        producer.send("readings", record(i)).unwrap();
    }
    wait_for(25);
    // A transaction decided while followed: its records, and a plain one written behind
    // it, go once it commits.
    let tx = pair.here.transactional_producer("payer").unwrap();
    tx.begin_transaction().unwrap();
    for i in 25..28 {
        tx.send("readings", record(i).partition(0)).unwrap();
    }
    producer.send("readings", record(28).partition(0)).unwrap();
    tx.commit_transaction().unwrap();
    wait_for(29);
    stop.store(true, Ordering::Relaxed);
    let copied = follower.join().unwrap().unwrap();
    assert_eq!(copied.records, 29);
    assert_same(&pair, "readings");
    // Stopped with everything committed: the group's lag is nothing.
    let lag = pair.here.describe_group("strom-mirror").unwrap();
    assert!(lag.partitions.iter().all(|p| p.lag == 0), "{lag:?}");
    pair.close();
}

#[test]
fn committed_transactions_are_copied_aborted_ones_and_markers_never_open_ones_once_decided() {
    let pair = Pair::new();
    pair.here
        .create_topic("payments", TopicConfig::default().partitions(2))
        .unwrap();
    let plain = pair.here.producer();
    let tx = pair.here.transactional_producer("payer").unwrap();
    plain.send("payments", record(0).partition(0)).unwrap();
    tx.begin_transaction().unwrap();
    for i in 1..4 {
        tx.send("payments", record(i).partition(u32::from(i % 2 == 1)))
            .unwrap();
    }
    tx.commit_transaction().unwrap();
    tx.begin_transaction().unwrap();
    for i in 100..104 {
        tx.send("payments", record(i).partition(u32::from(i % 2 == 1)))
            .unwrap();
    }
    // Plain records written in the middle of the aborted transaction are kept.
    plain.send("payments", record(4).partition(0)).unwrap();
    tx.abort_transaction().unwrap();
    plain.send("payments", record(5).partition(1)).unwrap();
    // Left open while the mirror runs: its batches wait.
    tx.begin_transaction().unwrap();
    tx.send("payments", record(6).partition(0)).unwrap();
    plain.send("payments", record(7).partition(0)).unwrap();

    let mirror = pair.mirror(&["payments"]).once(true);
    let first = mirror.run().unwrap();
    // 0, 1..4 and 4 in partition 0 before the open transaction; 1..4's odd ones and 5 in 1.
    assert_eq!(first.records, 6);
    let there_values = |p: u32| -> Vec<Vec<u8>> {
        records(&pair.there, "payments", p)
            .into_iter()
            .map(|r| r.1)
            .collect()
    };
    assert!(!there_values(0).contains(&b"reading 6".to_vec()));
    assert!(!there_values(0).contains(&b"reading 7".to_vec()));

    tx.commit_transaction().unwrap();
    let second = mirror.run().unwrap();
    assert_eq!(second.records, 2);
    assert_same(&pair, "payments");
    for p in 0..2 {
        assert!(
            !there_values(p).iter().any(|v| v.starts_with(b"reading 10")),
            "aborted records copied"
        );
        // Copied as plain idempotent batches: no transaction (nor marker) there.
        let described = &pair.there.describe_topic("payments").unwrap().partitions[p as usize];
        assert_eq!(described.last_stable_offset, described.high_watermark);
        assert_eq!(
            described.high_watermark,
            records(&pair.there, "payments", p).len() as u64
        );
    }
    pair.close();
}

#[test]
fn two_hundred_thousand_records_over_four_partitions_arrive_identical_and_the_lag_is_nothing() {
    let pair = Pair::new();
    pair.here
        .create_topic("clicks", TopicConfig::default().partitions(4))
        .unwrap();
    let producer = pair.here.producer();
    for chunk in 0..200 {
        producer
            .send_batch(
                "clicks",
                (0..1000).map(|i| {
                    let n = chunk * 1000 + i;
                    Record::new(format!("click {n:>90}")).key(format!("user-{}", n % 1009))
                }),
            )
            .unwrap();
    }
    let copied = pair.mirror(&["clicks"]).once(true).run().unwrap();
    assert_eq!(copied.records, 200_000);
    for p in 0..4 {
        let ours = records(&pair.here, "clicks", p);
        assert_eq!(records(&pair.there, "clicks", p), ours, "clicks/{p}");
    }
    let committed = pair.here.committed_offsets("strom-mirror").unwrap();
    for described in pair.here.describe_topic("clicks").unwrap().partitions {
        let tp = TopicPartition::new("clicks", described.partition);
        assert!(committed.contains(&(tp, described.high_watermark)));
    }
    let group = pair.here.describe_group("strom-mirror").unwrap();
    assert_eq!(group.partitions.len(), 4);
    assert!(group.partitions.iter().all(|p| p.lag == 0), "{group:?}");
    pair.close();
}

#[test]
fn a_record_the_target_refuses_is_a_refusal_naming_the_partition_and_kafkas_error() {
    let pair = Pair::new();
    pair.here
        .create_topic("readings", TopicConfig::default())
        .unwrap();
    pair.there
        .create_topic("readings", TopicConfig::default().max_record_bytes(16))
        .unwrap();
    pair.here
        .producer()
        .send("readings", Record::new(vec![7u8; 200]))
        .unwrap();
    let out = pair.mirror(&["readings"]).once(true).run();
    match out {
        Err(e @ MirrorError::Refused(_)) => {
            let message = e.to_string();
            assert!(message.contains("readings/0"), "{message}");
            assert!(message.contains("MessageTooLarge"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    pair.close();
}

/// The batches `broker` stores in `topic`'s partition `partition`, as headers.
fn batch_headers(broker: &Broker, topic: &str, partition: u32) -> Vec<batch::BatchHeader> {
    let tp = TopicPartition::new(topic, partition);
    let start =
        broker.describe_topic(topic).unwrap().partitions[partition as usize].log_start_offset;
    let fetched = broker
        .fetch_batches(&tp, start, 64 << 20, IsolationLevel::ReadUncommitted)
        .unwrap();
    let mut headers = Vec::new();
    let mut rest = fetched.bytes.as_slice();
    while !rest.is_empty() {
        let header = batch::check(rest).unwrap();
        rest = &rest[header.length as usize..];
        headers.push(header);
    }
    headers
}

#[test]
fn single_sends_and_compacted_batches_travel_joined_with_offsets_without_gaps() {
    let pair = Pair::new();
    pair.here
        .create_topic("clicks", TopicConfig::default())
        .unwrap();
    let producer = pair.here.producer();
    for i in 0..300 {
        producer.send("clicks", record(i)).unwrap();
    }
    pair.here
        .create_topic(
            "profiles",
            TopicConfig::default()
                .cleanup_policy(strom::CleanupPolicy::Compact)
                .segment_bytes(4096),
        )
        .unwrap();
    // Every key, then the even ones again: compaction keeps the odd ones of the first
    // batch, with gaps between their offsets (each kept run a batch of its own). The filler seals the segments (compaction
    // leaves the active one alone).
    let profile =
        |key: u32, round: u32| Record::new(format!("{round:>200}")).key(format!("user-{key}"));
    producer
        .send_batch("profiles", (0..10).map(|k| profile(k, 0)))
        .unwrap();
    producer
        .send_batch("profiles", (0..10).step_by(2).map(|k| profile(k, 1)))
        .unwrap();
    for filler in 10..30 {
        producer
            .send_batch("profiles", (0..8).map(|_| profile(filler, 2)))
            .unwrap();
    }
    pair.here.run_maintenance().unwrap();
    let compacted = batch_headers(&pair.here, "profiles", 0);
    assert!(
        compacted
            .windows(2)
            .any(|w| w[0].next_offset() != w[1].base_offset),
        "compaction left gaps between offsets"
    );

    let copied = pair
        .mirror(&["clicks", "profiles"])
        .once(true)
        .run()
        .unwrap();
    assert_same(&pair, "clicks");
    assert_same(&pair, "profiles");
    let joined = batch_headers(&pair.there, "clicks", 0);
    assert!(
        joined.len() < 30,
        "{} batches for 300 single sends",
        joined.len()
    );
    assert!(batch_headers(&pair.there, "profiles", 0)
        .iter()
        .all(|h| h.last_offset_delta + 1 == h.record_count));
    let profiles = records(&pair.there, "profiles", 0).len() as u64;
    assert_eq!(copied.records, 300 + profiles);
    pair.close();
}

#[test]
fn a_target_that_restarts_while_followed_gets_every_record_once() {
    let here_dir = tempfile::tempdir().unwrap();
    let there_dir = tempfile::tempdir().unwrap();
    let here = Broker::open(here_dir.path()).unwrap();
    let there = Broker::open(there_dir.path()).unwrap();
    let server = KafkaServer::bind(there.clone(), "127.0.0.1:0").unwrap();
    let address = server.local_addr();
    here.create_topic("readings", TopicConfig::default().partitions(2))
        .unwrap();
    there
        .create_topic("readings", TopicConfig::default().partitions(2))
        .unwrap();
    let producer = here.producer();
    let mirror = Mirror::new(here.clone(), address.to_string())
        .topics(["readings"])
        .patience(Duration::from_secs(30));
    let stop = Arc::new(AtomicBool::new(false));
    let follower = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || mirror.run_until(&stop))
    };
    let tps: Vec<TopicPartition> = (0..2).map(|p| TopicPartition::new("readings", p)).collect();
    let mut watcher = there.consumer(ConsumerConfig::default());
    watcher.assign(&tps).unwrap();
    let mut wait_for = |count: u64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while stored(&there, "readings") < count {
            assert!(
                std::time::Instant::now() < deadline,
                "the target stays short of {count}"
            );
            let _ = watcher.poll(Duration::from_millis(50)).unwrap();
        }
    };
    for i in 0..20 {
        producer.send("readings", record(i)).unwrap();
    }
    wait_for(20);
    // The target goes away while records keep coming, then comes back on its address.
    server.shutdown().unwrap();
    for i in 20..40 {
        producer.send("readings", record(i)).unwrap();
    }
    let server = KafkaServer::bind(there.clone(), address).unwrap();
    for i in 40..60 {
        producer.send("readings", record(i)).unwrap();
    }
    wait_for(60);
    stop.store(true, Ordering::Relaxed);
    let copied = follower.join().unwrap().unwrap();
    assert_eq!(copied.records, 60);
    for p in 0..2 {
        assert_eq!(
            records(&there, "readings", p),
            records(&here, "readings", p),
            "readings/{p}"
        );
    }
    server.shutdown().unwrap();
    there.close().unwrap();
    here.close().unwrap();
}

#[test]
fn a_topic_deleted_and_recreated_while_followed_is_an_error_naming_it() {
    let pair = Pair::new();
    pair.here
        .create_topic("readings", TopicConfig::default())
        .unwrap();
    pair.there
        .create_topic("readings", TopicConfig::default())
        .unwrap();
    for i in 0..5 {
        pair.here.producer().send("readings", record(i)).unwrap();
    }
    let mirror = pair.mirror(&["readings"]);
    let stop = Arc::new(AtomicBool::new(false));
    let follower = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || mirror.run_until(&stop))
    };
    let mut watcher = pair.there.consumer(ConsumerConfig::default());
    watcher
        .assign(&[TopicPartition::new("readings", 0)])
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while stored(&pair.there, "readings") < 5 {
        assert!(std::time::Instant::now() < deadline, "nothing copied");
        let _ = watcher.poll(Duration::from_millis(50)).unwrap();
    }
    // Gone from under the follower, and back empty: its position means nothing now.
    pair.here.delete_topic("readings").unwrap();
    pair.here
        .create_topic("readings", TopicConfig::default())
        .unwrap();
    let out = follower.join().unwrap();
    match out {
        Err(e @ MirrorError::Local(_)) => assert!(e.to_string().contains("readings"), "{e}"),
        other => panic!("expected an error naming the topic, got {other:?}"),
    }
    pair.close();
}

/// The mirror's commit of `readings/0`: offset and metadata.
fn commit_of(broker: &Broker) -> (u64, String) {
    broker
        .committed_offsets_with_metadata("strom-mirror")
        .unwrap()
        .into_iter()
        .find(|(tp, _)| *tp == TopicPartition::new("readings", 0))
        .map(|(_, c)| (c.offset, c.metadata))
        .unwrap()
}

/// Rewinds the mirror's commit of `readings/0` as a crash between an acknowledgement and
/// its commit leaves it: an earlier offset, the target's end then, and the same producer
/// with its sequence then (the mirror's records follow the target's own four, numbered
/// from 0).
fn rewind(broker: &Broker, offset: u64, target_end: u64) {
    let (_, metadata) = commit_of(broker);
    let producer = metadata
        .split(' ')
        .filter(|field| field.starts_with("producer=") || field.starts_with("epoch="))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(producer.contains("epoch="), "{metadata}");
    commit_readings(
        broker,
        offset,
        &format!(
            "strom-mirror/2 target-end={target_end} {producer} sequence={}",
            target_end - 4
        ),
    );
}

/// Commits `offset` of `readings/0` for the mirror's group with `metadata`.
fn commit_readings(broker: &Broker, offset: u64, metadata: &str) {
    broker
        .commit_offsets_with_metadata(
            "strom-mirror",
            &[(
                TopicPartition::new("readings", 0),
                strom::OffsetAndMetadata::with_metadata(offset, metadata),
            )],
        )
        .unwrap();
}

/// Whether `commit` is the mirror's, at `offset`, with the target's end `target_end` and
/// the sequence that numbers the records from there.
fn is_commit(commit: &(u64, String), offset: u64, target_end: u64) -> bool {
    commit.0 == offset
        && commit
            .1
            .starts_with(&format!("strom-mirror/2 target-end={target_end} producer="))
        && commit.1.ends_with(&format!(" sequence={}", target_end - 4))
}

/// `readings` with three batches of ten records here, copied once to a target that held
/// four records of its own before the mirror first started.
fn copied_once() -> Pair {
    let pair = Pair::new();
    pair.here
        .create_topic("readings", TopicConfig::default())
        .unwrap();
    pair.there
        .create_topic("readings", TopicConfig::default())
        .unwrap();
    for i in 0..4 {
        pair.there.producer().send("readings", record(-i)).unwrap();
    }
    for chunk in 0..3 {
        pair.here
            .producer()
            .send_batch("readings", (chunk * 10..chunk * 10 + 10).map(record))
            .unwrap();
    }
    let copied = pair.mirror(&["readings"]).once(true).run().unwrap();
    assert_eq!(copied.records, 30);
    // The commit names the target's end after what was copied, and the producer's
    // sequence there.
    let commit = commit_of(&pair.here);
    assert!(is_commit(&commit, 30, 34), "{commit:?}");
    pair
}

/// The target holds its own four records, then each record of `here` once, in order.
fn assert_each_once(pair: &Pair) {
    let there = records(&pair.there, "readings", 0);
    assert_eq!(
        there[4..],
        records(&pair.here, "readings", 0)[..],
        "after the target's own four"
    );
}

#[test]
fn a_crash_between_acknowledgement_and_commit_sends_nothing_twice() {
    let pair = copied_once();
    // As if killed after the cluster stored the last two batches, before their commit.
    rewind(&pair.here, 10, 14);
    let again = pair.mirror(&["readings"]).once(true).run().unwrap();
    assert_eq!(again.records, 0, "passed over, not sent again");
    assert_each_once(&pair);
    let commit = commit_of(&pair.here);
    assert!(is_commit(&commit, 30, 34), "{commit:?}");
    // And it goes on from there.
    pair.here
        .producer()
        .send_batch("readings", (30..35).map(record))
        .unwrap();
    assert_eq!(
        pair.mirror(&["readings"]).once(true).run().unwrap().records,
        5
    );
    assert_each_once(&pair);
    pair.close();
}

#[test]
fn a_crash_before_the_first_acknowledged_commit_resumes_from_the_start_commit() {
    let pair = copied_once();
    // The commit made before anything was sent: the log start, and the target's own four.
    rewind(&pair.here, 0, 4);
    assert_eq!(
        pair.mirror(&["readings"]).once(true).run().unwrap().records,
        0
    );
    assert_each_once(&pair);
    // Killed before anything was stored: all of it goes.
    let fresh = copied_once();
    fresh.there.delete_topic("readings").unwrap();
    fresh
        .there
        .create_topic("readings", TopicConfig::default())
        .unwrap();
    for i in 0..4 {
        fresh.there.producer().send("readings", record(-i)).unwrap();
    }
    // As the first version of the commit's format left it: the target's end alone, read
    // still (a new producer then).
    commit_readings(&fresh.here, 0, "strom-mirror/1 target-end=4");
    assert_eq!(
        fresh
            .mirror(&["readings"])
            .once(true)
            .run()
            .unwrap()
            .records,
        30
    );
    assert_each_once(&fresh);
    pair.close();
    fresh.close();
}

#[test]
fn a_target_written_by_someone_else_or_short_of_records_is_refused_not_guessed_about() {
    // A record from another writer after the mirror's commit.
    let pair = copied_once();
    pair.there.producer().send("readings", record(99)).unwrap();
    let out = pair.mirror(&["readings"]).once(true).run();
    match out {
        Err(e @ MirrorError::Refused(_)) => {
            let message = e.to_string();
            assert!(message.contains("readings/0"), "{message}");
            assert!(message.contains("did not write"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The commit says the previous run wrote 25 records past offset 0: that ends inside
    // the third batch of ten.
    rewind(&pair.here, 0, 10);
    let out = pair.mirror(&["readings"]).once(true).run();
    match out {
        Err(e @ MirrorError::Refused(_)) => {
            let message = e.to_string();
            assert!(
                message.contains("readings/0") && message.contains("25"),
                "{message}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The target holds less than the mirror had acknowledged.
    rewind(&pair.here, 30, 1000);
    let out = pair.mirror(&["readings"]).once(true).run();
    match out {
        Err(e @ MirrorError::Refused(_)) => {
            let message = e.to_string();
            assert!(message.contains("readings/0"), "{message}");
            assert!(
                message.contains("1000") && message.contains("35"),
                "{message}"
            );
            assert!(message.contains("lost records"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Nothing was sent by the refused runs.
    assert_eq!(stored(&pair.there, "readings"), 35);
    pair.close();
}

#[test]
fn a_target_topic_with_more_partitions_gets_each_record_at_its_partition_number() {
    let pair = Pair::new();
    pair.here
        .create_topic("readings", TopicConfig::default().partitions(2))
        .unwrap();
    pair.there
        .create_topic("readings", TopicConfig::default().partitions(3))
        .unwrap();
    for i in 0..20 {
        pair.here.producer().send("readings", record(i)).unwrap();
    }
    let copied = pair.mirror(&["readings"]).once(true).run().unwrap();
    assert_eq!(copied.records, 20);
    assert_same(&pair, "readings");
    assert!(records(&pair.there, "readings", 2).is_empty());
    pair.close();
}

#[test]
fn a_missing_target_topic_is_created_with_the_local_topics_retention_and_cleanup() {
    let pair = Pair::new();
    let mut config = TopicConfig::default().partitions(2);
    config.set("cleanup.policy", "compact").unwrap();
    config.set("retention.ms", "3600000").unwrap();
    config.set("segment.bytes", "1048576").unwrap();
    pair.here.create_topic("profiles", config).unwrap();
    pair.here
        .producer()
        .send("profiles", Record::new("v").key("k"))
        .unwrap();
    pair.mirror(&["profiles"]).once(true).run().unwrap();
    let there = pair.there.describe_topic("profiles").unwrap();
    assert_eq!(there.partitions.len(), 2);
    let configs = there.config.kafka_configs();
    assert!(
        configs.contains(&("cleanup.policy", "compact".to_string())),
        "{configs:?}"
    );
    assert!(
        configs.contains(&("retention.ms", "3600000".to_string())),
        "{configs:?}"
    );
    // Segment sizes are the target's own business.
    let default_segment = TopicConfig::default()
        .kafka_configs()
        .into_iter()
        .find(|(name, _)| *name == "segment.bytes")
        .unwrap();
    assert!(configs.contains(&default_segment), "{configs:?}");
    pair.close();
}
