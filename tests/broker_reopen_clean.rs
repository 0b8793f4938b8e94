//! Over several clean close/reopen rounds, topics, their configs, `describe_topic` figures and every record stay exactly as they were, and appends continue at the next offset.

use std::collections::BTreeMap;
use std::time::Duration;

use strom::{
    Broker, BrokerConfig, CleanupPolicy, ConsumerConfig, OffsetReset, Record, Result, TopicConfig,
    TopicDescription, TopicPartition,
};

mod common;

use common::{now_ms, DAY_MS};

/// A record header: (name, value).
type Header = (String, Vec<u8>);

/// (key, value, header, timestamp) of a record, at its offset's index.
type Stored = (Option<Vec<u8>>, Vec<u8>, Option<Header>, i64);

/// What every partition of every topic should hold.
type Model = BTreeMap<(String, u32), Vec<Stored>>;

fn topics() -> Vec<(&'static str, TopicConfig)> {
    vec![
        (
            "orders",
            TopicConfig::default()
                .partitions(3)
                .segment_bytes(4096)
                .segment_ms(3 * DAY_MS)
                .retention_ms(30 * DAY_MS)
                .retention_bytes(64 << 20)
                .max_record_bytes(2048)
                .delete_retention_ms(12_345)
                .index_interval_bytes(256),
        ),
        (
            "compacted",
            TopicConfig::default()
                .partitions(2)
                .segment_bytes(8192)
                .cleanup_policy(CleanupPolicy::Compact)
                .delete_retention_ms(60_000),
        ),
        ("untouched", TopicConfig::default()),
    ]
}

fn stored(record: &Record, header: Option<Header>, ts: i64) -> Stored {
    (
        record.key_bytes().map(<[u8]>::to_vec),
        record.value_bytes().unwrap_or_default().to_vec(),
        header,
        ts,
    )
}

/// Appends one round of records: keyed single sends, a keyed batch spread over the
/// partitions, and records with an explicit partition.
fn append_round(broker: &Broker, model: &mut Model, round: u32) -> Result<()> {
    let producer = broker.producer();
    let ts = now_ms();
    let mut sent: Vec<(Record, Option<Header>, &str)> = Vec::new();
    for i in 0..150u32 {
        let value = format!("order {round}/{i} {}", "x".repeat((i * 7 % 60) as usize));
        let header = i
            .is_multiple_of(4)
            .then(|| ("round".to_string(), round.to_le_bytes().to_vec()));
        let mut record = Record::new(value)
            .key(format!("customer-{}", i % 23))
            .timestamp(ts + i64::from(i));
        if let Some((k, v)) = &header {
            record = record.header(k.clone(), v.clone());
        }
        if i % 10 == 9 {
            record = record.partition(i % 3);
        }
        sent.push((record, header, "orders"));
    }
    for i in 0..12u32 {
        let record = Record::new(format!("state {round}/{i}"))
            .key(format!("c-{round}-{i}"))
            .timestamp(ts);
        sent.push((record, None, "compacted"));
    }
    let (singles, batch) = sent.split_at(60);
    for (record, header, topic) in singles {
        let meta = producer.send(topic, record.clone())?;
        let log = model
            .entry(((*topic).to_string(), meta.partition))
            .or_default();
        assert_eq!(
            meta.offset,
            log.len() as u64,
            "{topic}-{}: the next offset",
            meta.partition
        );
        log.push(stored(record, header.clone(), meta.timestamp));
    }
    for topic in ["orders", "compacted"] {
        let records: Vec<_> = batch.iter().filter(|(_, _, t)| *t == topic).collect();
        let metas = producer.send_batch(topic, records.iter().map(|(r, _, _)| r.clone()))?;
        for (meta, (record, header, _)) in metas.iter().zip(records) {
            let log = model
                .entry((topic.to_string(), meta.partition))
                .or_default();
            assert_eq!(
                meta.offset,
                log.len() as u64,
                "{topic}-{}: the next offset",
                meta.partition
            );
            log.push(stored(record, header.clone(), meta.timestamp));
        }
    }
    Ok(())
}

/// Every partition holds exactly what the model says.
fn check_records(broker: &Broker, model: &Model, context: &str) -> Result<()> {
    for (name, config) in topics() {
        for p in 0..config.partitions {
            let want = model
                .get(&(name.to_string(), p))
                .map_or(&[][..], Vec::as_slice);
            let config = ConsumerConfig::default()
                .auto_offset_reset(OffsetReset::Earliest)
                .max_poll_records(10_000);
            let mut consumer = broker.consumer(config);
            consumer.assign(&[TopicPartition::new(name, p)])?;
            let mut got = Vec::new();
            loop {
                let records = consumer.poll(Duration::ZERO)?;
                if records.is_empty() {
                    break;
                }
                got.extend(records);
            }
            assert_eq!(got.len(), want.len(), "{context}: records in {name}-{p}");
            for (offset, (r, (key, value, header, ts))) in (0..).zip(got.iter().zip(want)) {
                let at = format!("{context}: {name}-{p}@{offset}");
                assert_eq!(r.offset(), offset, "{at}");
                assert_eq!(r.key(), key.as_deref(), "{at}: key");
                assert_eq!(r.value(), &value[..], "{at}: value");
                assert_eq!(r.timestamp(), *ts, "{at}: timestamp");
                let headers: Vec<(String, Vec<u8>)> = r
                    .headers()
                    .map(|(k, v)| (k.to_string(), v.to_vec()))
                    .collect();
                assert_eq!(
                    headers,
                    header.clone().into_iter().collect::<Vec<_>>(),
                    "{at}: headers"
                );
            }
        }
    }
    Ok(())
}

fn describe_all(broker: &Broker) -> Result<Vec<TopicDescription>> {
    topics()
        .iter()
        .map(|(name, _)| broker.describe_topic(name))
        .collect()
}

#[test]
fn everything_survives_clean_reopens() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = BrokerConfig::default().maintenance_interval(Duration::from_secs(3600));
    let mut model = Model::new();
    let mut before: Option<Vec<TopicDescription>> = None;
    for round in 0..4 {
        let context = format!("round {round}");
        let broker = Broker::open_with(dir.path(), config.clone())?;
        match &before {
            None => {
                for (name, config) in topics() {
                    broker.create_topic(name, config)?;
                }
            }
            Some(before) => {
                assert_eq!(
                    &describe_all(&broker)?,
                    before,
                    "{context}: descriptions after reopening"
                );
                check_records(&broker, &model, &context)?;
            }
        }
        let mut names: Vec<&str> = topics().iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        assert_eq!(broker.topics(), names, "{context}: topics");
        for ((name, config), desc) in topics().into_iter().zip(describe_all(&broker)?) {
            assert_eq!(desc.name, name);
            assert_eq!(desc.config, config, "{context}: config of {name}");
            assert_eq!(
                desc.partitions.len() as u32,
                config.partitions,
                "{context}: partitions of {name}"
            );
            for (p, part) in (0..).zip(&desc.partitions) {
                let hw = model.get(&(name.to_string(), p)).map_or(0, Vec::len) as u64;
                assert_eq!(
                    (part.partition, part.log_start_offset, part.high_watermark),
                    (p, 0, hw),
                    "{context}: {name}-{p}"
                );
            }
        }

        append_round(&broker, &mut model, round)?;
        check_records(&broker, &model, &format!("{context}, after appending"))?;
        before = Some(describe_all(&broker)?);
        broker.close()?;
    }

    let last = before.expect("four rounds ran");
    let orders = &last[0];
    assert!(
        orders
            .partitions
            .iter()
            .all(|p| p.segments >= 3 && p.size_bytes > 4096),
        "several segments per partition survive: {orders:?}"
    );
    assert!(last[2]
        .partitions
        .iter()
        .all(|p| p.high_watermark == 0 && p.segments == 1));

    // A final reopen, to check the last round too.
    let broker = Broker::open_with(dir.path(), config)?;
    assert_eq!(
        describe_all(&broker)?,
        last,
        "descriptions after the last reopen"
    );
    check_records(&broker, &model, "last reopen")?;
    broker.close()
}
