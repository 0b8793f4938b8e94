//! `Mirror` against a second strom broker served over Kafka's protocol as the "cluster":
//! what arrives there is what was stored here, partition by partition.

use std::time::Duration;

use strom::storage::batch;
use strom::{
    Broker, Compression, ConsumerConfig, IsolationLevel, Record, TopicConfig, TopicPartition,
};
use strom_kafka::{KafkaServer, Mirror, MirrorError};

/// One record as both sides must hold it.
type Seen = (Option<Vec<u8>>, Vec<u8>, Vec<(String, Vec<u8>)>, i64);

/// Every record of `topic`'s partition `partition` in `broker`, in order.
fn records(broker: &Broker, topic: &str, partition: u32) -> Vec<Seen> {
    let tp = TopicPartition::new(topic, partition);
    let end = broker.describe_topic(topic).unwrap().partitions[partition as usize].high_watermark;
    let mut consumer = broker.consumer(ConsumerConfig::default());
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    consumer.seek_to_beginning(&[tp]).unwrap();
    let mut out = Vec::new();
    let mut next = 0;
    // Until the partition's end as described: the records are all there already.
    while next < end {
        for record in &consumer.poll(Duration::from_secs(5)).unwrap() {
            next = record.offset() + 1;
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
