//! `BatchBuilder` and `TopicProducer` append what `Producer` would, where it would: keyed
//! records land on `send_batch`'s partitions with contiguous offsets in push order, the
//! builder is reusable, and a bad push leaves earlier records alone.

use std::thread;
use std::time::Duration;

use strom::{
    Broker, BrokerConfig, ConsumerConfig, Error, OffsetReset, PartitionRange, Record, Result,
    TopicConfig, TopicPartition,
};

/// What a consumer reads back: partition, offset, key, value.
type Read = (u32, u64, Option<Vec<u8>>, Vec<u8>);

/// A [`Read`] borrowed, without its partition: offset, key, value.
type Row<'a> = (u64, Option<&'a [u8]>, &'a [u8]);

/// Every record of `topic`'s partition `partition`, from the start.
fn read_partition(broker: &Broker, topic: &str, partition: u32) -> Result<Vec<Read>> {
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new(topic, partition)])?;
    let mut out = Vec::new();
    loop {
        let records = consumer.poll(Duration::from_millis(50))?;
        if records.is_empty() {
            return Ok(out);
        }
        out.extend(records.iter().map(|r| {
            (
                r.partition(),
                r.offset(),
                r.key().map(<[u8]>::to_vec),
                r.value().to_vec(),
            )
        }));
    }
}

fn open_with_topic(partitions: u32) -> Result<(tempfile::TempDir, Broker)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("clicks", TopicConfig::default().partitions(partitions))?;
    Ok((dir, broker))
}

fn key(i: usize) -> Vec<u8> {
    format!("user-{}", i % 17).into_bytes()
}

fn value(i: usize) -> Vec<u8> {
    format!("click-{i}").into_bytes()
}

#[test]
fn keyed_records_land_where_send_batch_puts_them() -> Result<()> {
    let (_dir, broker) = open_with_topic(3)?;
    let producer = broker.producer();
    // The same keys through send_batch to another topic of 3 partitions: the reference.
    broker.create_topic("reference", TopicConfig::default().partitions(3))?;
    let reference = producer.send_batch(
        "reference",
        (0..60).map(|i| Record::new(value(i)).key(key(i))),
    )?;

    let mut batch = producer.batch("clicks")?;
    for i in 0..60 {
        batch.push(Some(&key(i)), &value(i))?;
    }
    assert_eq!(batch.len(), 60);
    let meta = batch.send()?;

    // One range per partition, in partition order, counts matching send_batch's spread.
    let partitions: Vec<u32> = meta.ranges.iter().map(|r| r.partition).collect();
    assert_eq!(partitions, [0, 1, 2], "17 keys over 3 partitions hit each");
    for range in &meta.ranges {
        let expected = reference
            .iter()
            .filter(|m| m.partition == range.partition)
            .count() as u64;
        assert_eq!(range.count, expected, "partition {}", range.partition);
        assert_eq!(range.base_offset, 0);
    }
    assert_eq!(meta.ranges.iter().map(|r| r.count).sum::<u64>(), 60);

    // Read back: every record in the partition send_batch chose for it, at the offset the
    // range gives in push order, key and value exact.
    let mut next = [0u64; 3];
    let mut expected: Vec<Vec<Read>> = vec![Vec::new(); 3];
    for (i, m) in reference.iter().enumerate() {
        let p = m.partition as usize;
        let range = meta
            .ranges
            .iter()
            .find(|r| r.partition == m.partition)
            .expect("range");
        expected[p].push((
            m.partition,
            range.base_offset + next[p],
            Some(key(i)),
            value(i),
        ));
        next[p] += 1;
    }
    for p in 0..3 {
        assert_eq!(read_partition(&broker, "clicks", p)?, expected[p as usize]);
    }
    broker.close()
}

#[test]
fn builder_is_empty_after_send_and_reusable() -> Result<()> {
    let (_dir, broker) = open_with_topic(1)?;
    let mut batch = broker.producer().batch("clicks")?;
    batch.push(Some(b"a"), b"1")?;
    batch.push(None, b"2")?;
    let first = batch.send()?;
    assert_eq!(
        first.ranges,
        [PartitionRange {
            partition: 0,
            base_offset: 0,
            count: 2
        }]
    );
    assert!(batch.is_empty());
    assert_eq!(batch.len(), 0);

    batch.push(Some(b"b"), b"3")?;
    batch.push_record(&Record::tombstone("c"))?;
    batch.push_record(&Record::new("5").header("h", "x"))?;
    let second = batch.send()?;
    assert_eq!(
        second.ranges,
        [PartitionRange {
            partition: 0,
            base_offset: 2,
            count: 3
        }]
    );
    assert!(batch.is_empty());

    let read = read_partition(&broker, "clicks", 0)?;
    let got: Vec<Row<'_>> = read
        .iter()
        .map(|(_, o, k, v)| (*o, k.as_deref(), v.as_slice()))
        .collect();
    assert_eq!(
        got,
        [
            (0, Some(&b"a"[..]), &b"1"[..]),
            (1, None, b"2"),
            (2, Some(b"b"), b"3"),
            (3, Some(b"c"), b""),
            (4, None, b"5"),
        ]
    );
    // The tombstone and the header survive too.
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new("clicks", 0)])?;
    let records: Vec<_> = consumer.poll(Duration::from_secs(1))?.into_iter().collect();
    assert!(records[3].is_tombstone());
    assert_eq!(records[4].headers().collect::<Vec<_>>(), [("h", &b"x"[..])]);
    broker.close()
}

#[test]
fn clear_drops_pushed_records() -> Result<()> {
    let (_dir, broker) = open_with_topic(1)?;
    let mut batch = broker.producer().batch("clicks")?;
    batch.push(Some(b"gone"), b"never sent")?;
    batch.push_record(&Record::new("gone too").header("h", "x"))?;
    batch.clear();
    assert!(batch.is_empty());
    batch.push(Some(b"k"), b"kept")?;
    let meta = batch.send()?;
    assert_eq!(
        meta.ranges,
        [PartitionRange {
            partition: 0,
            base_offset: 0,
            count: 1
        }]
    );
    assert_eq!(
        read_partition(&broker, "clicks", 0)?,
        [(0, 0, Some(b"k".to_vec()), b"kept".to_vec())]
    );
    broker.close()
}

#[test]
fn too_large_push_leaves_earlier_records() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("clicks", TopicConfig::default().max_record_bytes(10))?;
    let mut batch = broker.producer().batch("clicks")?;
    batch.push(Some(b"k1"), b"small")?;
    let err = batch.push(Some(b"k2"), b"far too large").unwrap_err();
    assert!(
        matches!(
            err,
            Error::RecordTooLarge {
                size: 15,
                max: 10,
                ..
            }
        ),
        "{err:?}"
    );
    let err = batch
        .push_record(&Record::new("far too large, as a record"))
        .unwrap_err();
    assert!(matches!(err, Error::RecordTooLarge { .. }), "{err:?}");
    // Exactly at the limit is fine, as for `send`.
    batch.push(Some(b"k3"), b"12345678")?;
    assert_eq!(batch.len(), 2);
    let meta = batch.send()?;
    assert_eq!(meta.ranges[0].count, 2);
    assert_eq!(
        read_partition(&broker, "clicks", 0)?,
        [
            (0, 0, Some(b"k1".to_vec()), b"small".to_vec()),
            (0, 1, Some(b"k3".to_vec()), b"12345678".to_vec()),
        ]
    );
    broker.close()
}

#[test]
fn push_record_checks_partition_and_timestamp() -> Result<()> {
    let (_dir, broker) = open_with_topic(2)?;
    let mut batch = broker.producer().batch("clicks")?;
    let err = batch
        .push_record(&Record::new("x").partition(2))
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidPartition { partition: 2, .. }),
        "{err:?}"
    );
    let err = batch
        .push_record(&Record::new("x").timestamp(-1))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRecord { .. }), "{err:?}");
    assert!(batch.is_empty());
    batch.push_record(&Record::new("x").partition(1).timestamp(42))?;
    let meta = batch.send()?;
    assert_eq!(
        meta.ranges,
        [PartitionRange {
            partition: 1,
            base_offset: 0,
            count: 1
        }]
    );
    broker.close()
}

#[test]
fn empty_send_is_ok_with_no_ranges() -> Result<()> {
    let (_dir, broker) = open_with_topic(3)?;
    let mut batch = broker.producer().batch("clicks")?;
    assert!(batch.send()?.ranges.is_empty());
    assert!(broker
        .describe_topic("clicks")?
        .partitions
        .iter()
        .all(|p| p.high_watermark == 0));
    broker.close()
}

#[test]
fn keyless_records_share_one_partition() -> Result<()> {
    let (_dir, broker) = open_with_topic(3)?;
    let mut batch = broker.producer().batch("clicks")?;
    for i in 0..10 {
        batch.push(None, &value(i))?;
    }
    let meta = batch.send()?;
    assert_eq!(meta.ranges.len(), 1);
    assert_eq!(meta.ranges[0].count, 10);
    let read = read_partition(&broker, "clicks", meta.ranges[0].partition)?;
    assert_eq!(
        read.iter().map(|r| r.3.clone()).collect::<Vec<_>>(),
        (0..10).map(value).collect::<Vec<_>>()
    );
    broker.close()
}

#[test]
fn topic_producer_sends_as_producer_does() -> Result<()> {
    let (_dir, broker) = open_with_topic(3)?;
    broker.create_topic("reference", TopicConfig::default().partitions(3))?;
    let producer = broker.producer();
    let clicks = producer.topic("clicks")?;
    assert_eq!(clicks.name(), "clicks");

    let a = clicks.send(Record::new("v").key("user-1").timestamp(7))?;
    let b = producer.send("reference", Record::new("v").key("user-1").timestamp(7))?;
    assert_eq!(
        (a.topic.as_str(), a.partition, a.offset, a.timestamp),
        ("clicks", b.partition, b.offset, 7)
    );

    let records = || (0..30).map(|i| Record::new(value(i)).key(key(i)));
    let got = clicks.send_batch(records())?;
    let want = producer.send_batch("reference", records())?;
    assert_eq!(
        got.iter()
            .map(|m| (m.partition, m.offset))
            .collect::<Vec<_>>(),
        want.iter()
            .map(|m| (m.partition, m.offset))
            .collect::<Vec<_>>()
    );
    assert!(got.iter().all(|m| m.topic == "clicks"));

    let value = serde_json::json!({"page": "home"});
    let got = clicks.send_json(Some("user-2"), &value)?;
    let want = producer.send_json("reference", Some("user-2"), &value)?;
    assert_eq!((got.partition, got.offset), (want.partition, want.offset));
    let read = read_partition(&broker, "clicks", got.partition)?;
    let last = read.last().expect("the JSON record");
    assert_eq!(last.2.as_deref(), Some(&b"user-2"[..]));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&last.3).expect("json"),
        value
    );

    // Validation is `send`'s.
    let err = clicks.send(Record::new("x").partition(3)).unwrap_err();
    assert!(matches!(err, Error::InvalidPartition { .. }), "{err:?}");
    broker.close()
}

#[test]
fn unknown_topic_is_refused_or_auto_created_as_send_does() -> Result<()> {
    let (_dir, broker) = open_with_topic(1)?;
    let producer = broker.producer();
    assert!(
        matches!(producer.topic("nope"), Err(Error::UnknownTopic { topic }) if topic == "nope")
    );
    assert!(matches!(
        producer.batch("nope"),
        Err(Error::UnknownTopic { .. })
    ));
    broker.close()?;

    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open_with(dir.path(), BrokerConfig::default().auto_create_topics(true))?;
    let fresh = broker.producer().topic("fresh")?;
    assert!(broker.topics().contains(&"fresh".to_string()));
    assert_eq!(fresh.send(Record::new("x"))?.offset, 0);
    broker.close()
}

#[test]
fn deleted_topic_is_unknown_to_handles_made_before() -> Result<()> {
    let (_dir, broker) = open_with_topic(1)?;
    let producer = broker.producer();
    let clicks = producer.topic("clicks")?;
    let mut batch = producer.batch("clicks")?;
    clicks.send(Record::new("before"))?;
    broker.delete_topic("clicks")?;

    assert!(matches!(
        clicks.send(Record::new("x")),
        Err(Error::UnknownTopic { .. })
    ));
    assert!(matches!(
        clicks.send_batch([Record::new("x")]),
        Err(Error::UnknownTopic { .. })
    ));
    batch.push(None, b"x")?;
    assert!(matches!(batch.send(), Err(Error::UnknownTopic { .. })));
    // Nothing was written before the error: the record waits in the builder.
    assert_eq!(batch.len(), 1);

    // A topic of the same name created again is the one the handles send to now.
    broker.create_topic("clicks", TopicConfig::default())?;
    assert_eq!(clicks.send(Record::new("after"))?.offset, 0);
    assert_eq!(batch.send()?.ranges[0].base_offset, 1);
    let values: Vec<Vec<u8>> = read_partition(&broker, "clicks", 0)?
        .into_iter()
        .map(|r| r.3)
        .collect();
    assert_eq!(values, [b"after".to_vec(), b"x".to_vec()]);
    broker.close()
}

#[test]
fn altered_topic_is_followed() -> Result<()> {
    let (_dir, broker) = open_with_topic(1)?;
    let clicks = broker.producer().topic("clicks")?;
    let mut batch = clicks.batch();
    broker.alter_topic("clicks", TopicConfig::default().partitions(2))?;
    let sent = clicks.send(Record::new("x").partition(1))?;
    assert_eq!((sent.partition, sent.offset), (1, 0));
    batch.push_record(&Record::new("y").partition(0))?;
    batch.push(Some(b"k"), b"z")?;
    let meta = batch.send()?;
    assert_eq!(meta.ranges.iter().map(|r| r.count).sum::<u64>(), 2);
    broker.close()
}

#[test]
fn topic_producer_is_shared_across_threads() -> Result<()> {
    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<strom::TopicProducer>();

    let (_dir, broker) = open_with_topic(3)?;
    let clicks = broker.producer().topic("clicks")?;
    thread::scope(|s| -> Result<()> {
        let mut handles = Vec::new();
        for t in 0..4 {
            // Half the threads send through a clone, half through the shared original.
            let owned = clicks.clone();
            let shared = &clicks;
            handles.push(s.spawn(move || -> Result<()> {
                for i in 0..50 {
                    let record = Record::new(format!("{t}-{i}")).key(format!("t{t}"));
                    let handle = if t % 2 == 0 { &owned } else { shared };
                    if i % 2 == 0 {
                        handle.send(record)?;
                    } else {
                        handle.send_batch([record])?;
                    }
                }
                Ok(())
            }));
        }
        for handle in handles {
            handle.join().expect("sender thread")?;
        }
        Ok(())
    })?;
    let total: u64 = broker
        .describe_topic("clicks")?
        .partitions
        .iter()
        .map(|p| p.high_watermark)
        .sum();
    assert_eq!(total, 200);
    // Each thread's records, all of one key, are in one partition in the order sent.
    for t in 0..4 {
        let partition = strom_partition_of(&broker, &format!("t{t}"))?;
        let mine: Vec<Vec<u8>> = read_partition(&broker, "clicks", partition)?
            .into_iter()
            .filter(|r| r.2.as_deref() == Some(format!("t{t}").as_bytes()))
            .map(|r| r.3)
            .collect();
        let want: Vec<Vec<u8>> = (0..50).map(|i| format!("{t}-{i}").into_bytes()).collect();
        assert_eq!(mine, want);
    }
    broker.close()
}

/// The partition `Producer::send` picks for `key` in a fresh 3-partition topic.
fn strom_partition_of(broker: &Broker, key: &str) -> Result<u32> {
    let name = format!("probe-{key}");
    broker.create_topic(&name, TopicConfig::default().partitions(3))?;
    Ok(broker
        .producer()
        .send(&name, Record::new("p").key(key))?
        .partition)
}

#[test]
fn compressed_topic_reads_back_builder_records() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(
        "clicks",
        TopicConfig::default()
            .partitions(2)
            .compression(strom::Compression::Gzip),
    )?;
    let mut batch = broker.producer().batch("clicks")?;
    for i in 0..200 {
        batch.push(Some(&key(i)), &value(i))?;
    }
    let meta = batch.send()?;
    let mut read = 0;
    for range in &meta.ranges {
        let records = read_partition(&broker, "clicks", range.partition)?;
        assert_eq!(records.len() as u64, range.count);
        assert_eq!(records[0].1, range.base_offset);
        read += records.len();
    }
    assert_eq!(read, 200);
    broker.close()
}

/// What one pushed record should read back as: key, value, headers and timestamp (`None`:
/// the time of the send).
type Pushed = (
    Option<Vec<u8>>,
    Vec<u8>,
    Vec<(String, Vec<u8>)>,
    Option<i64>,
);

/// Pushes `records` (`partition` set on those that name one) into a builder for a topic of
/// `partitions` partitions, sends them, and checks that every partition reads back exactly
/// its records in push order, with their keys, values, headers and timestamps.
fn check_pushed_read_back(partitions: u32, records: &[(Pushed, Option<u32>)]) -> Result<()> {
    let (_dir, broker) = open_with_topic(partitions)?;
    let mut batch = broker.producer().batch("clicks")?;
    for ((key, value, headers, timestamp), partition) in records {
        let mut record = Record::new(value.clone());
        if let Some(key) = key {
            record = record.key(key.clone());
        }
        for (name, value) in headers {
            record = record.header(name.clone(), value.clone());
        }
        if let Some(ts) = timestamp {
            record = record.timestamp(*ts);
        }
        if let Some(p) = partition {
            record = record.partition(*p);
        }
        match (headers.is_empty(), timestamp, partition) {
            // The plain ones through `push`, the rest through `push_record`.
            (true, None, None) => batch.push(key.as_deref(), value)?,
            _ => batch.push_record(&record)?,
        }
    }
    let before = strom_now();
    let meta = batch.send()?;
    let after = strom_now();

    // Keyed records go where `send` puts their key; keyless ones to one shared partition.
    let mut keyless = None;
    let mut expected: Vec<Vec<&Pushed>> = vec![Vec::new(); partitions as usize];
    for (pushed, partition) in records {
        let p = match (partition, &pushed.0) {
            (Some(p), _) => *p,
            (None, Some(key)) => partition_in(&broker, partitions, key)?,
            (None, None) => *keyless.get_or_insert_with(|| {
                meta.ranges
                    .iter()
                    .map(|r| r.partition)
                    .find(|&p| {
                        let got = read_partition(&broker, "clicks", p).unwrap_or_default();
                        got.iter().any(|r| r.2.is_none() && r.3 == pushed.1)
                    })
                    .expect("the keyless records' partition")
            }),
        };
        expected[p as usize].push(pushed);
    }
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    for (p, want) in expected.iter().enumerate() {
        let range = meta.ranges.iter().find(|r| r.partition == p as u32);
        assert_eq!(
            range.map_or(0, |r| r.count),
            want.len() as u64,
            "partition {p}"
        );
        consumer.assign(&[TopicPartition::new("clicks", p as u32)])?;
        let mut got = Vec::new();
        loop {
            let records = consumer.poll(Duration::from_millis(50))?;
            if records.is_empty() {
                break;
            }
            got.extend(records.iter().map(|r| {
                (
                    r.offset(),
                    r.key().map(<[u8]>::to_vec),
                    r.value().to_vec(),
                    r.headers()
                        .map(|(k, v)| (k.to_string(), v.to_vec()))
                        .collect::<Vec<_>>(),
                    r.timestamp(),
                )
            }));
        }
        assert_eq!(got.len(), want.len(), "partition {p}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let base = range.expect("range").base_offset;
            assert_eq!(g.0, base + i as u64, "partition {p} record {i}");
            assert_eq!(
                (&g.1, &g.2, &g.3),
                (&w.0, &w.1, &w.2),
                "partition {p} record {i}"
            );
            match w.3 {
                Some(ts) => assert_eq!(g.4, ts, "partition {p} record {i}"),
                None => assert!(
                    (before..=after).contains(&g.4),
                    "partition {p} record {i}: {} not the send's time",
                    g.4
                ),
            }
        }
    }
    broker.close()
}

/// The partition a send of `key` to a topic of `partitions` partitions picks.
fn partition_in(broker: &Broker, partitions: u32, key: &[u8]) -> Result<u32> {
    let name = format!("probe-{partitions}");
    if broker.describe_topic(&name).is_err() {
        broker.create_topic(&name, TopicConfig::default().partitions(partitions))?;
    }
    Ok(broker
        .producer()
        .send(&name, Record::new("p").key(key.to_vec()))?
        .partition)
}

fn strom_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Keyed, keyless and explicitly placed records (to partitions below `partitions`), some
/// with headers or timestamps of their own, interleaved.
fn mixed_records(partitions: u32) -> Vec<(Pushed, Option<u32>)> {
    (0..90)
        .map(|i| {
            let key = (i % 3 != 0).then(|| key(i));
            let headers = match i % 4 {
                0 => vec![("h".to_string(), format!("x{i}").into_bytes())],
                _ => Vec::new(),
            };
            let timestamp = (i % 5 == 0).then_some(1_000 + i64::from((i * 7 % 50) as u16));
            let partition = (i % 7 == 0).then_some(i as u32 % partitions);
            ((key, value(i), headers, timestamp), partition)
        })
        .collect()
}

#[test]
fn mixed_records_read_back_in_push_order_per_partition() -> Result<()> {
    check_pushed_read_back(3, &mixed_records(3))
}

#[test]
fn mixed_records_in_one_partition_read_back_in_push_order() -> Result<()> {
    check_pushed_read_back(1, &mixed_records(1))
}

#[test]
fn records_all_with_timestamps_keep_them() -> Result<()> {
    let records: Vec<_> = (0..20)
        .map(|i| {
            (
                (
                    None,
                    value(i),
                    Vec::new(),
                    Some(5_000 - i64::from(i as u16) * 3),
                ),
                None,
            )
        })
        .collect();
    check_pushed_read_back(3, &records)
}
