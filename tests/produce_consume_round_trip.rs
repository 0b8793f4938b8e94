//! Records sent are read back with their keys, values, headers, timestamps and offsets.

use std::time::Duration;

use strom::{Broker, ConsumerConfig, OffsetReset, Record, Result, TopicConfig, TopicPartition};

#[test]
fn records_come_back_as_they_were_sent() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("events", TopicConfig::default().partitions(2))?;
    let producer = broker.producer();
    let a = producer.send(
        "events",
        Record::new("v1")
            .key("k")
            .header("h1", "x")
            .header("h2", Vec::<u8>::new())
            .timestamp(1234)
            .partition(1),
    )?;
    assert_eq!(
        (a.topic.as_str(), a.partition, a.offset, a.timestamp),
        ("events", 1, 0, 1234)
    );
    let b = producer.send("events", Record::new(Vec::<u8>::new()).key("").partition(1))?;
    assert_eq!(b.offset, 1);
    let c = producer.send("events", Record::tombstone("gone").partition(1))?;
    assert_eq!(c.offset, 2);
    let batch = producer.send_batch(
        "events",
        (0..10).map(|i| Record::new(format!("n{i}")).partition(1)),
    )?;
    assert_eq!(
        batch.iter().map(|m| m.offset).collect::<Vec<_>>(),
        (3..13).collect::<Vec<_>>()
    );

    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new("events", 1)])?;
    let records: Vec<_> = consumer.poll(Duration::from_secs(1))?.into_iter().collect();
    assert_eq!(records.len(), 13);
    let r = &records[0];
    assert_eq!(
        (r.topic(), r.partition(), r.offset(), r.timestamp()),
        ("events", 1, 0, 1234)
    );
    assert_eq!(r.key(), Some(&b"k"[..]));
    assert_eq!(r.value(), b"v1");
    assert_eq!(
        r.headers().collect::<Vec<_>>(),
        vec![("h1", &b"x"[..]), ("h2", &b""[..])]
    );
    assert_eq!(records[1].key(), Some(&b""[..]));
    assert!(!records[1].is_tombstone());
    assert!(records[2].is_tombstone());
    assert_eq!(records[2].value(), b"");
    for (i, r) in records[3..].iter().enumerate() {
        assert_eq!(r.value(), format!("n{i}").as_bytes());
        assert_eq!(r.key(), None);
    }
    assert_eq!(
        consumer.position(&TopicPartition::new("events", 1)),
        Some(13)
    );
    assert!(consumer.poll(Duration::from_millis(10))?.is_empty());
    broker.close()
}
