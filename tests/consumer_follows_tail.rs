//! A consumer following the end of a log, one record at a time, across segment rolls, a
//! compressed topic, markers of transactions, seeks and a compaction that rewrites the
//! segments under it: every poll returns exactly the records after its position.
//!
//! A read picks up where the one before stopped without searching the segment; these
//! tests hold that shortcut to the same answers as a search.

use std::time::Duration;

use strom::{
    Broker, CleanupPolicy, Compression, ConsumerConfig, OffsetReset, Record, Result, TopicConfig,
    TopicPartition,
};

fn follow(config: TopicConfig) -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("t", config.segment_bytes(4096))?;
    let tp = TopicPartition::new("t", 0);
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .max_poll_records(3),
    );
    consumer.assign(std::slice::from_ref(&tp))?;
    let producer = broker.producer().topic("t")?;
    for i in 0..400u64 {
        // One, two or three records between polls; a poll takes at most three.
        let n = i % 3 + 1;
        let mut sent = Vec::new();
        for j in 0..n {
            let value = format!("{i}-{j}");
            let meta = producer.send(Record::new(value.clone()).key(format!("k{}", i % 7)))?;
            sent.push((meta.offset, value));
        }
        let got: Vec<_> = consumer
            .poll(Duration::ZERO)?
            .into_iter()
            .map(|r| {
                (
                    r.offset(),
                    String::from_utf8(r.value().to_vec()).expect("utf8"),
                )
            })
            .collect();
        assert_eq!(got, sent, "round {i}");
        if i % 50 == 49 {
            // Back a few records, then on again: the same records, in order.
            let back = sent[0].0.saturating_sub(2);
            consumer.seek(&tp, back)?;
            let again: Vec<u64> = consumer
                .poll(Duration::ZERO)?
                .into_iter()
                .map(|r| r.offset())
                .collect();
            assert_eq!(again, (back..back + 3).collect::<Vec<_>>(), "round {i}");
            consumer.seek(&tp, sent[n as usize - 1].0 + 1)?;
        }
    }
    broker.close()
}

#[test]
fn a_consumer_follows_a_plain_topic() -> Result<()> {
    follow(TopicConfig::default())
}

#[test]
fn a_consumer_follows_a_compressed_topic() -> Result<()> {
    follow(TopicConfig::default().compression(Compression::Gzip))
}

#[test]
fn a_consumer_follows_the_tail_through_compaction() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(
        "t",
        TopicConfig::default()
            .segment_bytes(4096)
            .cleanup_policy(CleanupPolicy::Compact),
    )?;
    let tp = TopicPartition::new("t", 0);
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(std::slice::from_ref(&tp))?;
    let producer = broker.producer().topic("t")?;
    let mut compacted = false;
    for i in 0..300u64 {
        let meta = producer.send(Record::new(format!("v{i}")).key(format!("k{}", i % 5)))?;
        let got: Vec<u64> = consumer
            .poll(Duration::ZERO)?
            .into_iter()
            .map(|r| r.offset())
            .collect();
        assert_eq!(got, [meta.offset], "round {i}");
        if i % 60 == 59 {
            // The sealed segments are rewritten; the consumer goes back into them.
            broker.run_maintenance()?;
            let from = meta.offset / 2;
            consumer.seek(&tp, from)?;
            let mut offsets = Vec::new();
            loop {
                let records = consumer.poll(Duration::ZERO)?;
                if records.is_empty() {
                    break;
                }
                offsets.extend(records.into_iter().map(|r| r.offset()));
            }
            assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
            assert_eq!(offsets.last(), Some(&meta.offset));
            compacted |= (offsets.len() as u64) < meta.offset - from + 1;
        }
    }
    assert!(
        compacted,
        "compaction removed no record the consumer went back over"
    );
    broker.close()
}
