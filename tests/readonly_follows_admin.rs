//! A reader of a directory opened read-only sees the writer's admin work as it happens:
//! topics created, altered (more partitions, another config), deleted and created again, and
//! groups' commits; a consumer of a deleted topic is told so.

use std::time::{Duration, Instant};

use strom::{
    Broker, BrokerConfig, ConsumerConfig, Error, OffsetReset, Record, Result, TopicConfig,
    TopicPartition,
};

#[test]
fn topics_and_commits_follow_the_writer() -> Result<()> {
    let tmp = tempfile::tempdir().expect("dir");
    let dir = tmp.path();
    let writer = Broker::open(dir)?;
    let reader = Broker::open_with(dir, BrokerConfig::default().read_only(true))?;
    assert!(reader.topics().is_empty());
    assert!(matches!(
        reader.describe_topic("t"),
        Err(Error::UnknownTopic { .. })
    ));

    writer.create_topic("t", TopicConfig::default().partitions(2))?;
    assert_eq!(reader.topics(), ["t"]);
    assert_eq!(reader.describe_topic("t")?.partitions.len(), 2);

    // Altered: a third partition and a new retention; records in the new partition are read.
    writer.alter_topic(
        "t",
        TopicConfig::default().partitions(3).retention_ms(60_000),
    )?;
    let desc = reader.describe_topic("t")?;
    assert_eq!(desc.partitions.len(), 3);
    assert_eq!(desc.config.retention_ms, 60_000);
    writer
        .producer()
        .send("t", Record::new("in the new partition").partition(2))?;
    let mut consumer =
        reader.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new("t", 2)])?;
    let records = consumer.poll(Duration::from_secs(10))?;
    assert_eq!(
        records
            .iter()
            .map(|r| r.value().to_vec())
            .collect::<Vec<_>>(),
        [b"in the new partition".to_vec()]
    );

    // Commits appear in groups and their lag.
    assert!(reader.groups().is_empty());
    let mut committer = writer.consumer(ConsumerConfig::default().group_id("g"));
    committer.commit_offsets(&[(TopicPartition::new("t", 2), 1)])?;
    assert_eq!(reader.groups(), ["g"]);
    let group = reader.describe_group("g")?;
    assert_eq!(group.partitions[0].committed, Some(1));
    assert_eq!(group.partitions[0].lag, 0);
    writer
        .producer()
        .send("t", Record::new("more").partition(2))?;
    assert_eq!(reader.describe_group("g")?.partitions[0].lag, 1);
    let group_reader = reader.consumer(ConsumerConfig::default().group_id("g"));
    assert_eq!(
        group_reader.committed(&TopicPartition::new("t", 2))?,
        Some(1)
    );
    committer.commit_offsets(&[(TopicPartition::new("t", 2), 2)])?;
    assert_eq!(
        group_reader.committed(&TopicPartition::new("t", 2))?,
        Some(2)
    );

    // Deleted: the reader's consumer is told, the topic is gone from the list; created
    // again, it is a new, empty topic.
    writer.delete_topic("t")?;
    assert!(reader.topics().is_empty());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match consumer.poll(Duration::from_millis(50)) {
            Err(Error::UnknownTopic { topic }) => {
                assert_eq!(topic, "t");
                break;
            }
            other => assert!(
                Instant::now() < deadline,
                "no error for a deleted topic: {other:?}"
            ),
        }
    }
    writer.create_topic("t", TopicConfig::default())?;
    let desc = reader.describe_topic("t")?;
    assert_eq!(desc.partitions.len(), 1);
    assert_eq!(desc.partitions[0].high_watermark, 0);
    writer.close()?;
    reader.close()?;
    Ok(())
}

#[test]
fn a_position_below_the_writers_new_log_start_moves_as_auto_offset_reset_says() -> Result<()> {
    let tmp = tempfile::tempdir().expect("dir");
    let dir = tmp.path();
    let writer = Broker::open(dir)?;
    writer.create_topic(
        "t",
        TopicConfig::default()
            .segment_bytes(4096)
            .retention_bytes(8192),
    )?;
    writer.producer().send("t", Record::new("first"))?;
    let reader = Broker::open_with(dir, BrokerConfig::default().read_only(true))?;
    let tp = TopicPartition::new("t", 0);
    let mut strict =
        reader.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::None));
    strict.assign(std::slice::from_ref(&tp))?;
    strict.seek(&tp, 0)?;
    let mut earliest =
        reader.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    earliest.assign(std::slice::from_ref(&tp))?;
    earliest.seek(&tp, 0)?;

    // The writer rolls many segments and its retention deletes all but the last few.
    for i in 0..500 {
        writer
            .producer()
            .send("t", Record::new(format!("record {i:>40}")))?;
    }
    writer.run_maintenance()?;
    let start = writer.describe_topic("t")?.partitions[0].log_start_offset;
    assert!(start > 0, "retention deleted segments");
    assert_eq!(
        reader.describe_topic("t")?.partitions[0].log_start_offset,
        start
    );

    match strict.poll(Duration::from_millis(100)) {
        Err(Error::OffsetOutOfRange {
            offset,
            log_start_offset,
            ..
        }) => {
            assert_eq!(offset, Some(0));
            assert_eq!(log_start_offset, start);
        }
        other => panic!("expected OffsetOutOfRange, got {other:?}"),
    }
    let records = earliest.poll(Duration::from_millis(100))?;
    assert_eq!(
        records.iter().next().map(strom::ConsumerRecord::offset),
        Some(start)
    );
    writer.close()?;
    reader.close()?;
    Ok(())
}

/// Compaction in the writer renames its output over sealed segments the reader has already
/// mapped: the reader takes the new files (and lets the old ones go) and reads what the
/// writer reads.
#[test]
fn a_reader_takes_in_segments_the_writer_compacted() -> Result<()> {
    let tmp = tempfile::tempdir().expect("dir");
    let dir = tmp.path();
    let writer = Broker::open(dir)?;
    writer.create_topic(
        "balances",
        TopicConfig::default()
            .segment_bytes(4096)
            .cleanup_policy(strom::CleanupPolicy::Compact),
    )?;
    for i in 0..400 {
        writer.producer().send(
            "balances",
            Record::new(format!("balance {i}")).key(format!("account-{}", i % 5)),
        )?;
    }
    let reader = Broker::open_with(dir, BrokerConfig::default().read_only(true))?;
    let read_all = |broker: &Broker| -> Result<Vec<(u64, Vec<u8>)>> {
        let mut consumer = broker.consumer(
            ConsumerConfig::default()
                .auto_offset_reset(OffsetReset::Earliest)
                .max_poll_records(10_000),
        );
        consumer.assign(&[TopicPartition::new("balances", 0)])?;
        let mut out = Vec::new();
        loop {
            let records = consumer.poll(Duration::ZERO)?;
            if records.is_empty() {
                return Ok(out);
            }
            out.extend(records.iter().map(|r| (r.offset(), r.value().to_vec())));
        }
    };
    // The reader maps every sealed segment as it is before compaction.
    assert_eq!(read_all(&reader)?.len(), 400);
    writer.run_maintenance()?;
    let compacted = read_all(&writer)?;
    assert!(compacted.len() < 400, "compaction removed records");
    let size = writer.describe_topic("balances")?.partitions[0].size_bytes;
    let deadline = Instant::now() + Duration::from_secs(20);
    while reader.describe_topic("balances")?.partitions[0].size_bytes != size {
        assert!(
            Instant::now() < deadline,
            "the reader kept the segments compaction replaced"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(read_all(&reader)?, compacted);
    writer.close()?;
    reader.close()?;
    Ok(())
}
