//! `alter_topic` changes a topic's settings at run time and grows (never shrinks) its
//! partitions; producers, consumers and groups see the new partitions.

use std::time::Duration;

use strom::{Broker, ConsumerConfig, Error, OffsetReset, Record, Result, TopicConfig};

#[test]
fn partitions_grow_for_producers_groups_and_reopen() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("rides", TopicConfig::default().partitions(2))?;
    let mut member = broker.consumer(
        ConsumerConfig::default()
            .group_id("matchers")
            .auto_offset_reset(OffsetReset::Earliest),
    );
    member.subscribe(["rides"])?;
    member.poll(Duration::from_millis(10))?;
    assert_eq!(member.assignment().len(), 2);

    let grown = TopicConfig::default().partitions(4).retention_ms(3_600_000);
    broker.alter_topic("rides", grown.clone())?;
    let desc = broker.describe_topic("rides")?;
    assert_eq!(desc.partitions.len(), 4);
    assert_eq!(desc.config, grown);
    let meta = broker
        .producer()
        .send("rides", Record::new("to the new one").partition(3))?;
    assert_eq!((meta.partition, meta.offset), (3, 0));

    // The group rebalanced onto the new partitions and reads the new record.
    let mut values = Vec::new();
    for _ in 0..50 {
        let records = member.poll(Duration::from_millis(20))?;
        values.extend(records.iter().map(|r| r.value().to_vec()));
        if !values.is_empty() {
            break;
        }
    }
    assert_eq!(member.assignment().len(), 4);
    assert_eq!(values, [b"to the new one".to_vec()]);

    let err = broker
        .alter_topic("rides", TopicConfig::default().partitions(3))
        .expect_err("shrinking");
    assert!(
        matches!(err, Error::InvalidConfig { ref reason } if reason.contains("rides")),
        "{err:?}"
    );
    let err = broker
        .alter_topic("nope", TopicConfig::default())
        .expect_err("unknown");
    assert!(matches!(err, Error::UnknownTopic { .. }), "{err:?}");
    member.close()?;
    broker.close()?;

    let broker = Broker::open(dir.path())?;
    let desc = broker.describe_topic("rides")?;
    assert_eq!(desc.partitions.len(), 4);
    assert_eq!(desc.config, grown);
    assert_eq!(desc.partitions[3].high_watermark, 1);
    broker.close()
}
