//! `Import` from a second strom broker served over Kafka's protocol as the source
//! "cluster": what arrives here is what the source holds, partition by partition, committed
//! transactions only, and its consumer group shows the import's progress.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use strom::storage::batch;
use strom::{
    Broker, Compression, ConsumerConfig, IsolationLevel, OffsetAndMetadata, Record, TopicConfig,
    TopicPartition,
};
use strom_kafka::{Import, KafkaServer, MirrorError};

/// One record as both sides must hold it.
type Seen = (Option<Vec<u8>>, Vec<u8>, Vec<(String, Vec<u8>)>, i64);

/// Every committed record of `topic`'s partition `partition` in `broker`, in order.
fn records(broker: &Broker, topic: &str, partition: u32) -> Vec<Seen> {
    let tp = TopicPartition::new(topic, partition);
    let end =
        broker.describe_topic(topic).unwrap().partitions[partition as usize].last_stable_offset;
    let mut consumer =
        broker.consumer(ConsumerConfig::default().isolation_level(IsolationLevel::ReadCommitted));
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    consumer
        .seek_to_beginning(std::slice::from_ref(&tp))
        .unwrap();
    let mut out = Vec::new();
    // Until the partition's end as described: the records are all there already.
    while consumer.position(&tp).unwrap() < end {
        for record in &consumer.poll(Duration::from_secs(5)).unwrap() {
            out.push((
                record.key().map(<[u8]>::to_vec),
                record.value().to_vec(),
                record
                    .headers()
                    .map(|(k, v)| (k.to_string(), v.to_vec()))
                    .collect(),
                record.timestamp(),
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

/// A source broker served over Kafka's protocol, and an empty local one.
struct Pair {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    here: Broker,
    source: Broker,
    server: KafkaServer,
}

impl Pair {
    fn new() -> Self {
        let here_dir = tempfile::tempdir().unwrap();
        let source_dir = tempfile::tempdir().unwrap();
        let here = Broker::open(here_dir.path()).unwrap();
        let source = Broker::open(source_dir.path()).unwrap();
        let server = KafkaServer::bind(source.clone(), "127.0.0.1:0").unwrap();
        Self {
            _dirs: (here_dir, source_dir),
            here,
            source,
            server,
        }
    }

    fn import(&self, topics: &[&str]) -> Import {
        Import::new(self.here.clone(), self.server.local_addr().to_string())
            .topics(topics.iter().copied())
            .once(true)
    }

    /// Each partition of `topic` holds the same committed records on both sides.
    fn assert_same(&self, topic: &str) {
        let partitions = self.source.describe_topic(topic).unwrap().partitions.len();
        assert_eq!(
            self.here.describe_topic(topic).unwrap().partitions.len(),
            partitions
        );
        for p in 0..partitions {
            let p = u32::try_from(p).unwrap();
            assert_eq!(
                records(&self.here, topic, p),
                records(&self.source, topic, p),
                "{topic}/{p}"
            );
        }
    }

    /// The source group's committed offsets are each partition's end there: no lag.
    fn assert_no_lag(&self, topic: &str) {
        let committed = self.source.committed_offsets("strom-mirror").unwrap();
        for described in self.source.describe_topic(topic).unwrap().partitions {
            let tp = TopicPartition::new(topic, described.partition);
            assert!(
                committed.contains(&(tp.clone(), described.high_watermark)),
                "{tp:?} at {} in {committed:?}",
                described.high_watermark
            );
        }
    }

    fn close(self) {
        self.server.shutdown().unwrap();
        self.source.close().unwrap();
        self.here.close().unwrap();
    }
}

#[test]
fn imports_partitions_and_compressed_topics_as_they_are_then_only_what_is_new() {
    let pair = Pair::new();
    let source = &pair.source;
    source
        .create_topic("readings", TopicConfig::default().partitions(3))
        .unwrap();
    source
        .create_topic(
            "archive",
            TopicConfig::default()
                .partitions(2)
                .compression(Compression::Gzip),
        )
        .unwrap();
    let producer = source.producer();
    for i in 0..40 {
        producer.send("readings", record(i)).unwrap();
    }
    producer
        .send_batch(
            "archive",
            (0..30).map(|i| record(i).partition(u32::from(i % 2 == 1))),
        )
        .unwrap();
    producer
        .send("readings", Record::tombstone("station-1"))
        .unwrap();

    let import = pair.import(&["readings", "archive"]);
    let first = import.run().unwrap();
    assert_eq!((first.records, first.batches), (71, 43));
    pair.assert_same("readings");
    pair.assert_same("archive");
    pair.assert_no_lag("readings");
    pair.assert_no_lag("archive");
    // Created here with the source's partitions, and the batches still gzip.
    let tp = TopicPartition::new("archive", 1);
    let fetched = pair
        .here
        .fetch_batches(&tp, 0, 1 << 20, IsolationLevel::ReadUncommitted)
        .unwrap();
    assert_eq!(
        batch::check(&fetched.bytes).unwrap().compression(),
        Compression::Gzip
    );

    // A second run takes only what was added since, to the same partitions.
    for i in 40..50 {
        producer.send("readings", record(i)).unwrap();
    }
    assert_eq!(import.run().unwrap().records, 10);
    pair.assert_same("readings");
    pair.assert_no_lag("readings");
    assert_eq!(import.run().unwrap().records, 0);
    pair.assert_same("readings");
    pair.close();
}

#[test]
fn takes_committed_transactions_and_drops_aborted_ones_and_their_markers() {
    let pair = Pair::new();
    pair.source
        .create_topic("payments", TopicConfig::default().partitions(2))
        .unwrap();
    let plain = pair.source.producer();
    let transactional = pair.source.transactional_producer("payer").unwrap();
    for round in 0..3_i64 {
        plain.send("payments", record(round * 10)).unwrap();
        transactional.begin_transaction().unwrap();
        for i in 1..4 {
            transactional
                .send("payments", record(round * 10 + i))
                .unwrap();
        }
        if round == 1 {
            transactional.abort_transaction().unwrap();
        } else {
            transactional.commit_transaction().unwrap();
        }
    }

    let imported = pair.import(&["payments"]).run().unwrap();
    // 3 plain records and 2 committed transactions of 3 records.
    assert_eq!(imported.records, 9);
    pair.assert_same("payments");
    pair.assert_no_lag("payments");
    // Here the records are plain: no producer, no transaction, no markers.
    for p in 0..2 {
        let tp = TopicPartition::new("payments", p);
        let described = &pair.here.describe_topic("payments").unwrap().partitions[p as usize];
        assert_eq!(described.last_stable_offset, described.high_watermark);
        let fetched = pair
            .here
            .fetch_batches(&tp, 0, 1 << 20, IsolationLevel::ReadUncommitted)
            .unwrap();
        let mut rest = fetched.bytes.as_slice();
        while !rest.is_empty() {
            let header = batch::check(rest).unwrap();
            assert!(!header.is_control() && !header.is_transactional());
            assert_eq!(header.origin.producer_id, -1);
            rest = &rest[header.length as usize..];
        }
    }
    pair.close();
}

#[test]
fn follows_the_source_until_stopped() {
    let pair = Pair::new();
    pair.source
        .create_topic("readings", TopicConfig::default().partitions(2))
        .unwrap();
    let producer = pair.source.producer();
    for i in 0..10 {
        producer.send("readings", record(i)).unwrap();
    }
    // Here beforehand, as the source has it: the import takes it as it is.
    pair.here
        .create_topic("readings", TopicConfig::default().partitions(2))
        .unwrap();
    let import = pair.import(&["readings"]).once(false);
    let stop = AtomicBool::new(false);
    let imported = std::thread::scope(|s| {
        // Set however the scope ends, so that a failed assertion does not leave the import
        // following for ever.
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let running = s.spawn(|| import.run_until(&stop));
        let stop_guard = StopOnDrop(&stop);
        let partitions = [
            TopicPartition::new("readings", 0),
            TopicPartition::new("readings", 1),
        ];
        let mut consumer = pair.here.consumer(ConsumerConfig::default());
        consumer.assign(&partitions).unwrap();
        consumer.seek_to_beginning(&partitions).unwrap();
        let mut seen = 0;
        // Synchronised on the local state: each poll parks until the import appends.
        let mut wait_for = |count: usize| {
            while seen < count {
                seen += consumer.poll(Duration::from_secs(5)).unwrap().len();
            }
            assert_eq!(seen, count);
        };
        wait_for(10);
        for i in 10..25 {
            producer.send("readings", record(i)).unwrap();
        }
        wait_for(25);
        drop(stop_guard);
        running.join().unwrap()
    })
    .unwrap();
    assert_eq!(imported.records, 25);
    pair.assert_same("readings");
    pair.assert_no_lag("readings");
    pair.close();
}

#[test]
fn a_local_topic_with_fewer_partitions_or_a_missing_source_topic_is_an_error() {
    let pair = Pair::new();
    pair.source
        .create_topic("readings", TopicConfig::default().partitions(4))
        .unwrap();
    pair.here
        .create_topic("readings", TopicConfig::default().partitions(2))
        .unwrap();
    pair.source.producer().send("readings", record(1)).unwrap();
    match pair.import(&["readings"]).run() {
        Err(MirrorError::FewerPartitions {
            topic,
            local,
            target,
        }) => assert_eq!((topic.as_str(), local, target), ("readings", 2, 4)),
        other => panic!("expected FewerPartitions, got {other:?}"),
    }
    match pair.import(&["nowhere"]).run() {
        Err(e @ MirrorError::Refused(_)) => assert!(e.to_string().contains("nowhere"), "{e}"),
        other => panic!("expected a refusal naming the topic, got {other:?}"),
    }
    assert!(pair.here.describe_topic("nowhere").is_err());
    assert!(pair
        .source
        .committed_offsets("strom-mirror")
        .unwrap()
        .is_empty());
    pair.close();
}

#[test]
fn a_source_that_stays_away_is_unavailable_after_the_patience() {
    let dir = tempfile::tempdir().unwrap();
    let here = Broker::open(dir.path()).unwrap();
    // A port just released: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let out = Import::new(here.clone(), address)
        .topics(["readings"])
        .once(true)
        .patience(Duration::from_millis(200))
        .run();
    assert!(matches!(out, Err(MirrorError::Unavailable(_))), "{out:?}");
    assert!(here.topics().is_empty());
    here.close().unwrap();
}

/// The import's progress: its group's commits here, with their metadata.
fn progress(here: &Broker) -> Vec<(TopicPartition, OffsetAndMetadata)> {
    here.committed_offsets_with_metadata("strom-mirror")
        .unwrap()
}

#[test]
fn a_crash_between_appending_and_committing_neither_loses_nor_doubles_records() {
    let pair = Pair::new();
    pair.source
        .create_topic("readings", TopicConfig::default().partitions(2))
        .unwrap();
    let producer = pair.source.producer();
    let import = pair.import(&["readings"]);
    // Single records and batches of several, so that whole batches are skipped.
    let fill = |from: i64| {
        for i in from..from + 5 {
            producer.send("readings", record(i)).unwrap();
        }
        producer
            .send_batch("readings", (from + 5..from + 12).map(record))
            .unwrap();
    };
    // The state before the first run's appends, as its first commits leave it: the
    // source's start, and the local end then.
    import.run().unwrap();
    let before_first = progress(&pair.here);
    for (_, committed) in &before_first {
        assert_eq!(committed.offset, 0);
        assert_eq!(committed.metadata, "strom-import/1 source-offset=0");
    }
    fill(0);
    import.run().unwrap();
    let first = progress(&pair.here);
    fill(100);
    assert_eq!(import.run().unwrap().records, 12);
    let second = progress(&pair.here);
    assert_ne!(first, second);

    // A crash after the second run appended and before it committed leaves the first
    // run's commits; one after the first run's appends leaves the start.
    for crashed in [first, before_first] {
        pair.here
            .commit_offsets_with_metadata("strom-mirror", &crashed)
            .unwrap();
        let again = import.run().unwrap();
        assert_eq!(again.records, 0, "nothing appended twice");
        pair.assert_same("readings");
        assert_eq!(progress(&pair.here), second, "the progress found again");
    }
    // And what comes next is taken as usual.
    fill(200);
    assert_eq!(import.run().unwrap().records, 12);
    pair.assert_same("readings");
    pair.assert_no_lag("readings");
    pair.close();
}

#[test]
fn another_writer_here_is_a_clear_error_naming_the_partition_never_a_guess() {
    let pair = Pair::new();
    pair.source
        .create_topic("readings", TopicConfig::default().partitions(2))
        .unwrap();
    let producer = pair.source.producer();
    for i in 0..10 {
        producer.send("readings", record(i).partition(1)).unwrap();
    }
    let import = pair.import(&["readings"]);
    import.run().unwrap();
    let expect_diverged = |what: &str| match import.run() {
        Err(e @ MirrorError::Diverged { .. }) => {
            let message = e.to_string();
            assert!(message.contains("readings/1"), "{what}: {message}");
            message
        }
        other => panic!("{what}: expected Diverged, got {other:?}"),
    };

    // A record here that the source does not hold.
    pair.here
        .producer()
        .send("readings", record(99).partition(1))
        .unwrap();
    let message = expect_diverged("nothing new on the source");
    assert!(message.contains("source offset 10"), "{message}");
    // A source batch of one record now follows: the count would match, the records not.
    producer.send("readings", record(10).partition(1)).unwrap();
    let message = expect_diverged("a source batch of the same size");
    assert!(message.contains("offset 10"), "{message}");
    // Nor does a batch whose records would need splitting.
    producer
        .send_batch("readings", (11..14).map(|i| record(i).partition(1)))
        .unwrap();
    expect_diverged("a larger source batch");
    let described = pair.here.describe_topic("readings").unwrap();
    assert_eq!(
        described.partitions[1].high_watermark, 11,
        "nothing appended"
    );

    // The local topic deleted and made again: its progress went with it (a topic's
    // committed offsets are deleted with it), so the import starts afresh and copies all.
    pair.here.delete_topic("readings").unwrap();
    pair.here
        .create_topic("readings", TopicConfig::default().partitions(2))
        .unwrap();
    assert_eq!(import.run().unwrap().records, 14);
    pair.assert_same("readings");
    // Progress past the local end: records it counted are gone.
    pair.here
        .commit_offsets_with_metadata(
            "strom-mirror",
            &[(
                TopicPartition::new("readings", 1),
                OffsetAndMetadata::with_metadata(1_000, "strom-import/1 source-offset=14"),
            )],
        )
        .unwrap();
    let message = expect_diverged("progress past the local end");
    assert!(message.contains("removed"), "{message}");
    pair.close();
}

#[test]
fn a_group_committed_by_someone_else_is_refused_by_name() {
    let pair = Pair::new();
    pair.source
        .create_topic("readings", TopicConfig::default())
        .unwrap();
    pair.source.producer().send("readings", record(1)).unwrap();
    pair.here
        .create_topic("readings", TopicConfig::default())
        .unwrap();
    pair.here
        .commit_offsets("strom-mirror", &[(TopicPartition::new("readings", 0), 0)])
        .unwrap();
    match pair.import(&["readings"]).run() {
        Err(e @ MirrorError::Diverged { .. }) => {
            assert!(e.to_string().contains("strom-import/1"), "{e}");
        }
        other => panic!("expected Diverged, got {other:?}"),
    }
    assert!(pair.here.describe_topic("readings").unwrap().partitions[0].high_watermark == 0);

    // Progress past the source's end: Kafka's refusal, by name, with the partition.
    pair.here
        .commit_offsets_with_metadata(
            "strom-mirror",
            &[(
                TopicPartition::new("readings", 0),
                OffsetAndMetadata::with_metadata(0, "strom-import/1 source-offset=50"),
            )],
        )
        .unwrap();
    match pair.import(&["readings"]).run() {
        Err(e @ MirrorError::Refused(_)) => {
            let message = e.to_string();
            assert!(message.contains("readings/0"), "{message}");
            // Kafka's OFFSET_OUT_OF_RANGE, by name where the client names it.
            assert!(
                message.contains("OffsetOutOfRange")
                    || message.contains("error code 1)")
                    || message.ends_with("error code 1"),
                "{message}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    pair.close();
}

#[test]
fn a_compacted_source_topic_is_imported_record_for_record() {
    let pair = Pair::new();
    pair.source
        .create_topic(
            "balances",
            TopicConfig::default()
                .cleanup_policy(strom::CleanupPolicy::Compact)
                .segment_bytes(4096),
        )
        .unwrap();
    let producer = pair.source.producer();
    for round in 0..40 {
        for account in 0..10 {
            producer
                .send(
                    "balances",
                    Record::new(format!("{}", round * 100 + account)).key(format!("a-{account}")),
                )
                .unwrap();
        }
    }
    // Sealed segments are compacted: the records kept keep their offsets, so the source's
    // offsets have gaps, which its batches never hold inside them.
    pair.source.run_maintenance().unwrap();
    let kept = records(&pair.source, "balances", 0).len();
    assert!(kept < 400, "compacted: {kept} records left");
    let imported = pair.import(&["balances"]).run().unwrap();
    assert_eq!(imported.records, kept as u64);
    pair.assert_same("balances");
    pair.assert_no_lag("balances");
    pair.close();
}

#[test]
fn an_open_transaction_holds_the_import_at_its_start_until_it_ends() {
    let pair = Pair::new();
    pair.source
        .create_topic("payments", TopicConfig::default())
        .unwrap();
    let plain = pair.source.producer();
    for i in 0..3 {
        plain.send("payments", record(i)).unwrap();
    }
    let transactional = pair.source.transactional_producer("payer").unwrap();
    transactional.begin_transaction().unwrap();
    for i in 3..6 {
        transactional.send("payments", record(i)).unwrap();
    }
    plain.send("payments", record(6)).unwrap();
    let import = pair.import(&["payments"]);

    // Up to the open transaction's first record, and returns: `once` does not wait for it.
    assert_eq!(import.run().unwrap().records, 3);
    let tp = TopicPartition::new("payments", 0);
    assert_eq!(
        pair.source.committed_offsets("strom-mirror").unwrap(),
        [(tp.clone(), 3)]
    );
    transactional.commit_transaction().unwrap();
    // The transaction's records and the one written meanwhile, in the source's order.
    assert_eq!(import.run().unwrap().records, 4);
    pair.assert_same("payments");
    pair.assert_no_lag("payments");
    pair.close();
}
