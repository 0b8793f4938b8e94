//! The metadata string committed with an offset (Kafka's `OffsetAndMetadata`) is read back
//! with it, replaced by every later commit of its partition (with "" by the commits that
//! carry none: plain, consumer and transactional ones), durable as the offsets are (and
//! files written before metadata existed still load), followed by read-only brokers, and
//! refused past 4096 bytes, naming the group and the partition.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use strom::{
    Broker, BrokerConfig, ConsumerConfig, Error, JoinGroup, OffsetAndMetadata, OffsetReset, Record,
    Result, TopicConfig, TopicPartition,
};

const TOPIC: &str = "orders";
const GROUP: &str = "mirror";

fn tp(partition: u32) -> TopicPartition {
    TopicPartition::new(TOPIC, partition)
}

fn meta(offset: u64, metadata: &str) -> OffsetAndMetadata {
    OffsetAndMetadata::with_metadata(offset, metadata)
}

fn broker(dir: &Path) -> Result<Broker> {
    let broker = Broker::open(dir)?;
    if broker.describe_topic(TOPIC).is_err() {
        broker.create_topic(TOPIC, TopicConfig::default().partitions(3))?;
    }
    Ok(broker)
}

/// Where a group's committed offsets are stored: its id in hex (ids up to 100 bytes).
fn offsets_path(dir: &Path, group_id: &str) -> std::path::PathBuf {
    let hex = group_id.bytes().fold(String::new(), |mut hex, b| {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{b:02x}");
        hex
    });
    dir.join("__consumer_offsets").join(format!("{hex}.json"))
}

/// The group's file of committed offsets, as JSON.
fn offsets_file(dir: &Path, group_id: &str) -> serde_json::Value {
    let path = offsets_path(dir, group_id);
    let bytes = std::fs::read(&path).expect("the group's offsets file");
    serde_json::from_slice(&bytes).expect("JSON")
}

#[test]
fn metadata_round_trips_and_each_commit_replaces_it() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = broker(dir.path())?;
    assert!(broker.committed_offsets_with_metadata(GROUP)?.is_empty());

    broker.commit_offsets_with_metadata(
        GROUP,
        &[
            (tp(2), meta(7, "upstream 700")),
            (tp(0), meta(3, "upstream 300")),
        ],
    )?;
    assert_eq!(
        broker.committed_offsets_with_metadata(GROUP)?,
        [
            (tp(0), meta(3, "upstream 300")),
            (tp(2), meta(7, "upstream 700"))
        ],
        "sorted by partition, as committed_offsets"
    );
    assert_eq!(broker.committed_offsets(GROUP)?, [(tp(0), 3), (tp(2), 7)]);

    // A later commit with metadata replaces the partition's; the other keeps its own.
    broker.commit_offsets_with_metadata(GROUP, &[(tp(0), meta(4, "upstream 400"))])?;
    // A plain commit leaves "".
    broker.commit_offsets(GROUP, &[(tp(2), 8), (tp(1), 1)])?;
    assert_eq!(
        broker.committed_offsets_with_metadata(GROUP)?,
        [
            (tp(0), meta(4, "upstream 400")),
            (tp(1), OffsetAndMetadata::new(1)),
            (tp(2), OffsetAndMetadata::new(8)),
        ]
    );
    // A commit with "" clears it too.
    broker.commit_offsets_with_metadata(GROUP, &[(tp(0), OffsetAndMetadata::new(5))])?;
    assert_eq!(
        broker.committed_offsets_with_metadata(GROUP)?[0],
        (tp(0), OffsetAndMetadata::new(5))
    );

    // A consumer's commit leaves "" as well.
    broker.commit_offsets_with_metadata(GROUP, &[(tp(1), meta(1, "kept?"))])?;
    let mut consumer = broker.consumer(ConsumerConfig::default().group_id(GROUP));
    consumer.commit_offsets(&[(tp(1), 2)])?;
    assert_eq!(
        broker.committed_offsets_with_metadata(GROUP)?[1],
        (tp(1), OffsetAndMetadata::new(2))
    );
    Ok(())
}

#[test]
fn metadata_survives_reopen_in_the_offsets_file() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let broker = broker(dir.path())?;
        broker.commit_offsets(GROUP, &[(tp(0), 1)])?;
        assert!(
            offsets_file(dir.path(), GROUP).get("metadata").is_none(),
            "a group without metadata writes no metadata field"
        );
        broker.commit_offsets_with_metadata(
            GROUP,
            &[(tp(1), meta(9, "ünïcode ✓")), (tp(2), meta(4, "x"))],
        )?;
        broker.commit_offsets(GROUP, &[(tp(2), 5)])?;
        broker.close()?;
    }
    assert_eq!(
        offsets_file(dir.path(), GROUP)["metadata"],
        serde_json::json!({ TOPIC: { "1": "ünïcode ✓" } })
    );
    let broker = broker(dir.path())?;
    assert_eq!(
        broker.committed_offsets_with_metadata(GROUP)?,
        [
            (tp(0), OffsetAndMetadata::new(1)),
            (tp(1), meta(9, "ünïcode ✓")),
            (tp(2), OffsetAndMetadata::new(5)),
        ]
    );
    // Deleting the topic forgets its metadata with its offsets.
    broker.delete_topic(TOPIC)?;
    assert!(broker.committed_offsets_with_metadata(GROUP)?.is_empty());
    Ok(())
}

#[test]
fn an_offsets_file_from_before_metadata_loads() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    broker(dir.path())?.close()?;
    // As written before offsets carried metadata: no `metadata` field.
    let path = offsets_path(dir.path(), "legacy");
    std::fs::write(
        &path,
        br#"{"group_id":"legacy","offsets":{"orders":{"0":5,"2":11}}}"#,
    )
    .expect("write the old file");

    let broker = broker(dir.path())?;
    assert_eq!(
        broker.committed_offsets("legacy")?,
        [(tp(0), 5), (tp(2), 11)]
    );
    assert_eq!(
        broker.committed_offsets_with_metadata("legacy")?,
        [
            (tp(0), OffsetAndMetadata::new(5)),
            (tp(2), OffsetAndMetadata::new(11))
        ]
    );
    broker.commit_offsets_with_metadata("legacy", &[(tp(2), meta(12, "new"))])?;
    assert_eq!(
        broker.committed_offsets_with_metadata("legacy")?[1],
        (tp(2), meta(12, "new"))
    );
    Ok(())
}

/// The leader epoch a commit carries is kept beside its metadata, durably, replaced by
/// each commit of the partition; a file without epochs (written before they were kept) loads
/// with none.
#[test]
fn leader_epochs_are_kept_and_replaced_by_each_commit() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let broker = broker(dir.path())?;
        broker.commit_offsets_with_metadata(
            GROUP,
            &[
                (tp(0), meta(4, "").with_leader_epoch(Some(0))),
                (tp(1), meta(6, "six").with_leader_epoch(Some(3))),
                (tp(2), meta(8, "eight").with_leader_epoch(Some(1))),
            ],
        )?;
        broker.commit_offsets(GROUP, &[(tp(2), 9)])?;
        broker.close()?;
    }
    assert_eq!(
        offsets_file(dir.path(), GROUP)["leader_epochs"],
        serde_json::json!({ TOPIC: { "0": 0, "1": 3 } })
    );
    let broker = broker(dir.path())?;
    assert_eq!(
        broker.committed_offsets_with_metadata(GROUP)?,
        [
            (tp(0), OffsetAndMetadata::new(4).with_leader_epoch(Some(0))),
            (tp(1), meta(6, "six").with_leader_epoch(Some(3))),
            (tp(2), OffsetAndMetadata::new(9)),
        ]
    );
    broker.commit_offsets_with_metadata(GROUP, &[(tp(0), meta(5, "no epoch"))])?;
    assert_eq!(
        broker.committed_offsets_with_metadata(GROUP)?[0],
        (tp(0), meta(5, "no epoch"))
    );
    Ok(())
}

#[test]
fn metadata_over_4096_bytes_is_refused_and_nothing_is_committed() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = broker(dir.path())?;
    let longest = "m".repeat(OffsetAndMetadata::MAX_METADATA_BYTES);
    broker.commit_offsets_with_metadata(GROUP, &[(tp(0), meta(1, &longest))])?;
    assert_eq!(
        broker.committed_offsets_with_metadata(GROUP)?,
        [(tp(0), meta(1, &longest))],
        "4096 bytes are accepted"
    );

    let too_long = format!("{longest}!");
    let refused = broker.commit_offsets_with_metadata(
        GROUP,
        &[(tp(0), meta(2, "fine")), (tp(1), meta(2, &too_long))],
    );
    match refused {
        Err(
            ref e @ Error::OffsetMetadataTooLarge {
                ref group_id,
                ref topic,
                partition,
                size,
                max,
            },
        ) => {
            assert_eq!(
                (group_id.as_str(), topic.as_str(), partition, size, max),
                (GROUP, TOPIC, 1, 4097, 4096)
            );
            let message = e.to_string();
            assert!(
                message.contains("orders-1") && message.contains("\"mirror\""),
                "{message}"
            );
        }
        other => panic!("expected OffsetMetadataTooLarge, got {other:?}"),
    }
    assert_eq!(
        broker.committed_offsets_with_metadata(GROUP)?,
        [(tp(0), meta(1, &longest))],
        "nothing of the refused commit was taken"
    );

    // A remote member's commit is refused the same way.
    let member = broker.join_group(GROUP, JoinGroup::new([TOPIC]))?;
    member.sync()?;
    assert!(matches!(
        member.commit_with_metadata(member.generation(), &[(tp(0), meta(3, &too_long))]),
        Err(Error::OffsetMetadataTooLarge { partition: 0, .. })
    ));
    member.commit_with_metadata(member.generation(), &[(tp(0), meta(3, "member"))])?;
    assert_eq!(
        broker.committed_offsets_with_metadata(GROUP)?,
        [(tp(0), meta(3, "member"))]
    );
    Ok(())
}

#[test]
fn a_transactions_offsets_replace_metadata_with_empty_across_reopen() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let broker = broker(dir.path())?;
        broker
            .producer()
            .send(TOPIC, Record::new("a").partition(0))?;
        broker.commit_offsets_with_metadata(
            GROUP,
            &[(tp(0), meta(0, "before")), (tp(1), meta(0, "untouched"))],
        )?;
        let mut consumer = broker.consumer(
            ConsumerConfig::default()
                .group_id(GROUP)
                .enable_auto_commit(false)
                .auto_offset_reset(OffsetReset::Earliest),
        );
        consumer.subscribe([TOPIC])?;
        let records = consumer.poll(Duration::from_secs(5))?;
        assert_eq!(records.len(), 1);
        let producer = broker.transactional_producer("copier")?;
        producer.begin_transaction()?;
        producer.send_offsets_to_transaction(&[(tp(0), 1)], &consumer.group_metadata()?)?;
        producer.commit_transaction()?;
        assert_eq!(
            broker.committed_offsets_with_metadata(GROUP)?,
            [
                (tp(0), OffsetAndMetadata::new(1)),
                (tp(1), meta(0, "untouched"))
            ]
        );
        consumer.close()?;
        drop(producer);
        broker.close()?;
    }
    // The file still holds "before" (the transaction log holds the newer offset); recovery
    // applies the transaction again and clears it again.
    let broker = broker(dir.path())?;
    assert_eq!(
        broker.committed_offsets_with_metadata(GROUP)?,
        [
            (tp(0), OffsetAndMetadata::new(1)),
            (tp(1), meta(0, "untouched"))
        ]
    );
    Ok(())
}

/// Offsets sent to a transaction with metadata and a leader epoch are the group's with them
/// once it commits, and again after a reopen (the transaction log holds them); metadata too
/// long is refused and leaves the transaction open with nothing added.
#[test]
fn a_transactions_offsets_keep_their_metadata_across_reopen() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let group = strom::GroupMetadata {
        group_id: GROUP.to_string(),
        generation: 0,
        member_id: String::new(),
    };
    let tagged = meta(1, "copied upto 1").with_leader_epoch(Some(2));
    {
        let broker = broker(dir.path())?;
        let producer = broker.transactional_producer("copier")?;
        producer.begin_transaction()?;
        producer.send(TOPIC, Record::new("a").partition(0))?;
        let too_long = meta(5, &"x".repeat(5000));
        assert!(matches!(
            producer.send_offsets_with_metadata_to_transaction(&[(tp(1), too_long)], &group),
            Err(Error::OffsetMetadataTooLarge { partition: 1, .. })
        ));
        producer.send_offsets_with_metadata_to_transaction(&[(tp(0), tagged.clone())], &group)?;
        producer.commit_transaction()?;
        assert_eq!(
            broker.committed_offsets_with_metadata(GROUP)?,
            [(tp(0), tagged.clone())]
        );
        drop(producer);
        broker.close()?;
    }
    let broker = broker(dir.path())?;
    assert_eq!(
        broker.committed_offsets_with_metadata(GROUP)?,
        [(tp(0), tagged)]
    );
    Ok(())
}

#[test]
fn a_read_only_broker_sees_the_writers_metadata() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let writer = broker(dir.path())?;
    let reader = Broker::open_with(dir.path(), BrokerConfig::default().read_only(true))?;
    assert!(reader.committed_offsets_with_metadata(GROUP)?.is_empty());
    writer.commit_offsets_with_metadata(GROUP, &[(tp(1), meta(6, "from the writer"))])?;
    assert_eq!(
        reader.committed_offsets_with_metadata(GROUP)?,
        [(tp(1), meta(6, "from the writer"))]
    );
    assert!(matches!(
        reader.commit_offsets_with_metadata(GROUP, &[(tp(1), meta(7, "no"))]),
        Err(Error::ReadOnly { .. })
    ));
    Ok(())
}
