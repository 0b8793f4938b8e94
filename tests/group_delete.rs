//! Deleting a consumer group, or some of its committed offsets, as Kafka's admin client
//! does: refused while a member holds the group (or the partitions' topic), done for good
//! once it left — the deletion survives a reopen, and a consumer of the group starts again
//! from `auto_offset_reset`.

use std::time::Duration;

use strom::{
    Broker, ConsumerConfig, Error, OffsetReset, Record, Result, TopicConfig, TopicPartition,
};

const TOPIC: &str = "invoices";
const GROUP: &str = "billing";

#[test]
fn a_group_is_deleted_only_without_members_and_stays_deleted() -> Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(2))?;
    broker.create_topic("audit", TopicConfig::default())?;
    for i in 0..10 {
        broker
            .producer()
            .send(TOPIC, Record::new(format!("invoice {i}")))?;
    }
    let config = ConsumerConfig::default()
        .group_id(GROUP)
        .auto_offset_reset(OffsetReset::Earliest);
    let mut consumer = broker.consumer(config.clone());
    consumer.subscribe([TOPIC])?;
    let mut read = 0;
    while read < 10 {
        read += consumer.poll(Duration::from_secs(5))?.len();
    }
    consumer.commit()?;
    broker.commit_offsets(GROUP, &[(TopicPartition::new("audit", 0), 1)])?;

    // A member holds the group and the topic: neither the group nor that topic's offsets go.
    assert!(matches!(
        broker.delete_group(GROUP),
        Err(Error::GroupNotEmpty { ref group_id, .. }) if group_id == GROUP
    ));
    let held = TopicPartition::new(TOPIC, 0);
    let refused = broker.delete_committed_offsets(GROUP, std::slice::from_ref(&held));
    assert!(
        matches!(&refused, Err(Error::GroupNotEmpty { reason, .. }) if reason.contains(TOPIC)),
        "{refused:?}"
    );
    // Another topic's offsets go.
    broker.delete_committed_offsets(GROUP, &[TopicPartition::new("audit", 0)])?;
    let mut committed = broker.committed_offsets(GROUP)?;
    committed.sort();
    assert_eq!(committed.len(), 2, "{committed:?}");
    assert!(committed.iter().all(|(tp, _)| tp.topic == TOPIC));
    assert_eq!(committed.iter().map(|(_, o)| o).sum::<u64>(), 10);

    consumer.close()?;
    broker.delete_group(GROUP)?;
    assert!(broker.groups().is_empty());
    assert!(matches!(
        broker.delete_group(GROUP),
        Err(Error::UnknownGroup { .. })
    ));
    assert!(matches!(
        broker.delete_committed_offsets(GROUP, &[held]),
        Err(Error::UnknownGroup { .. })
    ));
    broker.close()?;

    // Reopened: still gone, and the group reads everything again from the earliest.
    let broker = Broker::open(dir.path())?;
    assert!(broker.groups().is_empty());
    assert!(broker.committed_offsets(GROUP)?.is_empty());
    let mut consumer = broker.consumer(config);
    consumer.subscribe([TOPIC])?;
    let mut again = 0;
    while again < 10 {
        again += consumer.poll(Duration::from_secs(5))?.len();
    }
    assert_eq!(again, 10);
    consumer.close()?;
    broker.close()
}
