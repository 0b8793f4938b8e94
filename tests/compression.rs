//! Compressed topics, with every codec: records come back exactly as sent (from any offset,
//! inside a batch too), the codec can change under a topic's feet, compaction, transactions
//! and reopening work on compressed batches, and the batches on disk carry the codec in
//! Kafka's attribute bits.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use strom::storage::batch;
use strom::{
    Broker, CleanupPolicy, Compression, ConsumerConfig, IsolationLevel, OffsetReset, Record,
    Result, TopicConfig, TopicPartition,
};

mod common;

const CODECS: [Compression; 4] = [
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// A weather reading as the tutorial's producer sends it: key, value, timestamp, headers.
fn parts(i: usize) -> (String, String, i64, Vec<(String, Vec<u8>)>) {
    let cities = [
        "New York", "London", "Tokyo", "Paris", "Sydney", "Cairo", "Lima", "Oslo",
    ];
    let city = cities[i % cities.len()];
    let value = format!(
        r#"{{"city":"{city}","temp":{}.{},"feels_like":{}.{},"humidity":{},"reading":{i}}}"#,
        10 + i % 17,
        i % 10,
        8 + i % 13,
        (i * 7) % 10,
        50 + i % 40
    );
    let headers = if i % 10 == 3 {
        vec![("source".to_string(), b"openweather".to_vec())]
    } else {
        Vec::new()
    };
    (
        city.to_string(),
        value,
        1_700_000_000_000 + i64::try_from(i).expect("small"),
        headers,
    )
}

fn reading(i: usize) -> Record {
    let (key, value, timestamp, headers) = parts(i);
    headers.into_iter().fold(
        Record::new(value).key(key).timestamp(timestamp),
        |r, (k, v)| r.header(k, v),
    )
}

/// Every record of `tp` from `from`: (offset, key, value, timestamp, headers).
type Seen = (u64, Option<Vec<u8>>, Vec<u8>, i64, Vec<(String, Vec<u8>)>);

fn read(
    broker: &Broker,
    tp: &TopicPartition,
    from: u64,
    level: IsolationLevel,
) -> Result<Vec<Seen>> {
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .isolation_level(level),
    );
    consumer.assign(std::slice::from_ref(tp))?;
    consumer.seek(tp, from)?;
    let mut seen = Vec::new();
    loop {
        let records = consumer.poll(Duration::ZERO)?;
        if records.is_empty() {
            return Ok(seen);
        }
        for r in &records {
            let headers = r
                .headers()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .collect();
            seen.push((
                r.offset(),
                r.key().map(<[u8]>::to_vec),
                r.value().to_vec(),
                r.timestamp(),
                headers,
            ));
        }
    }
}

/// What `reading(i)` is when read back at `offset`.
fn expected(i: usize, offset: u64) -> Seen {
    let (key, value, timestamp, headers) = parts(i);
    (
        offset,
        Some(key.into_bytes()),
        value.into_bytes(),
        timestamp,
        headers,
    )
}

/// The codec of every batch in a partition's segment files, in order.
fn codecs_on_disk(dir: &Path, topic: &str, partition: u32) -> Vec<Compression> {
    let mut codecs = Vec::new();
    for path in common::segment_logs(dir, topic, partition) {
        let bytes = fs::read(&path).expect("segment");
        let mut at = 0;
        while let Ok(header) = batch::check(&bytes[at..]) {
            codecs.push(header.compression());
            at += header.length as usize;
        }
    }
    codecs
}

#[test]
fn every_codec_round_trips_from_any_offset_and_shrinks_json() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("plain", TopicConfig::default())?;
    let producer = broker.producer();
    producer.send_batch("plain", (0..500).map(reading))?;
    let plain_bytes = broker.describe_topic("plain")?.partitions[0].size_bytes;
    for codec in CODECS {
        let topic = format!("readings-{codec}");
        broker.create_topic(&topic, TopicConfig::default().compression(codec))?;
        // Batches of many, then single sends (stored uncompressed when that is smaller).
        for chunk in (0..500).collect::<Vec<_>>().chunks(100) {
            producer.send_batch(&topic, chunk.iter().map(|&i| reading(i)))?;
        }
        for i in 500..505 {
            producer.send(&topic, reading(i))?;
        }
        let tp = TopicPartition::new(topic.clone(), 0);
        let all = read(&broker, &tp, 0, IsolationLevel::ReadUncommitted)?;
        let want: Vec<Seen> = (0..505).map(|i| expected(i, i as u64)).collect();
        assert_eq!(all, want, "{codec}: every record as sent");
        // From inside a compressed batch: exactly from that offset.
        for from in [1, 99, 150, 499, 502] {
            let tail = read(&broker, &tp, from, IsolationLevel::ReadUncommitted)?;
            assert_eq!(tail, want[from as usize..], "{codec}: from {from}");
        }
        let codecs = codecs_on_disk(dir.path(), &topic, 0);
        assert_eq!(
            codecs.len(),
            10,
            "{codec}: 5 batches of 100 and 5 single sends"
        );
        assert!(
            codecs[..5].iter().all(|&c| c == codec),
            "{codec}: {codecs:?}"
        );
        let size = broker.describe_topic(&topic)?.partitions[0].size_bytes;
        assert!(
            size * 2 < plain_bytes,
            "{codec}: {size} bytes on disk against {plain_bytes} uncompressed"
        );
    }
    Ok(())
}

#[test]
fn alter_topic_changes_the_codec_of_later_batches_and_old_ones_stay_readable() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let tp = TopicPartition::new("readings", 0);
    let mut codecs = vec![Compression::None];
    codecs.extend(CODECS);
    codecs.push(Compression::None);
    {
        let broker = Broker::open(dir.path())?;
        broker.create_topic("readings", TopicConfig::default())?;
        let producer = broker.producer();
        for (step, &codec) in codecs.iter().enumerate() {
            let config = broker.describe_topic("readings")?.config.compression(codec);
            broker.alter_topic("readings", config)?;
            producer.send_batch("readings", (step * 50..step * 50 + 50).map(reading))?;
        }
        broker.close()?;
    }
    assert_eq!(codecs_on_disk(dir.path(), "readings", 0), codecs);
    // Reopened, the last codec set is the topic's, and everything reads.
    let broker = Broker::open(dir.path())?;
    assert_eq!(
        broker.describe_topic("readings")?.config.compression,
        Compression::None
    );
    let n = codecs.len() * 50;
    let want: Vec<Seen> = (0..n).map(|i| expected(i, i as u64)).collect();
    assert_eq!(
        read(&broker, &tp, 0, IsolationLevel::ReadUncommitted)?,
        want
    );
    Ok(())
}

const CHILD_ENV: &str = "STROM_COMPRESSION_CHILD_DIR";

/// The child: sends 300 readings to an LZ4 topic in batches, says so, and waits to be
/// killed.
#[test]
fn compression_kill_child() -> Result<()> {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return Ok(());
    };
    let broker = Broker::open(Path::new(&dir))?;
    let producer = broker.producer();
    for chunk in (0..300).collect::<Vec<_>>().chunks(60) {
        producer.send_batch("readings", chunk.iter().map(|&i| reading(i)))?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "SENT").expect("stdout");
    out.flush().expect("stdout");
    drop(out);
    std::thread::sleep(Duration::from_secs(600));
    Ok(())
}

#[test]
fn a_killed_process_loses_no_compressed_batch() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let tp = TopicPartition::new("readings", 0);
    {
        let broker = Broker::open(dir.path())?;
        broker.create_topic(
            "readings",
            TopicConfig::default().compression(Compression::Lz4),
        )?;
        broker.close()?;
    }
    let envs = [(CHILD_ENV, dir.path().as_os_str())];
    let (killed, status) =
        common::run_child_until_killed("compression_kill_child", &envs, |line| {
            line.ends_with("SENT")
        });
    assert!(killed, "the child stopped by itself: {status}");
    let broker = Broker::open(dir.path())?;
    let want: Vec<Seen> = (0..300).map(|i| expected(i, i as u64)).collect();
    assert_eq!(
        read(&broker, &tp, 0, IsolationLevel::ReadUncommitted)?,
        want
    );
    assert_eq!(
        codecs_on_disk(dir.path(), "readings", 0),
        [Compression::Lz4; 5]
    );
    broker
        .producer()
        .send_batch("readings", (300..310).map(reading))?;
    let tail: Vec<Seen> = (300..310).map(|i| expected(i, i as u64)).collect();
    assert_eq!(
        read(&broker, &tp, 300, IsolationLevel::ReadUncommitted)?,
        tail
    );
    Ok(())
}

#[test]
fn compaction_keeps_the_latest_of_each_key_in_compressed_batches() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    let config = TopicConfig::default()
        .cleanup_policy(CleanupPolicy::Compact)
        .segment_bytes(4096)
        .compression(Compression::Zstd);
    broker.create_topic("latest", config)?;
    let producer = broker.producer();
    // 8 keys (the cities), 40 rounds of readings, in batches of 8.
    for round in 0..40 {
        producer.send_batch("latest", (round * 8..round * 8 + 8).map(reading))?;
    }
    broker.run_maintenance()?;
    let tp = TopicPartition::new("latest", 0);
    let seen = read(&broker, &tp, 0, IsolationLevel::ReadUncommitted)?;
    // Each key's latest survives; the batches still in the active segment stay whole.
    for i in 312..320 {
        assert!(
            seen.contains(&expected(i, i as u64)),
            "latest reading {i} kept"
        );
    }
    assert!(
        seen.len() < 320,
        "older readings compacted away: {} left",
        seen.len()
    );
    let mut last_of_key = std::collections::HashMap::new();
    for (offset, key, ..) in &seen {
        let previous = last_of_key.insert(key.clone(), *offset);
        assert!(previous.is_none_or(|p| p < *offset), "offsets ascend");
    }
    // The rewritten segments are compressed too.
    let codecs = codecs_on_disk(dir.path(), "latest", 0);
    assert!(
        codecs.iter().filter(|&&c| c == Compression::Zstd).count() > codecs.len() / 2,
        "{codecs:?}"
    );
    Ok(())
}

#[test]
fn transactions_commit_and_abort_compressed_batches() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(
        "alerts",
        TopicConfig::default().compression(Compression::Snappy),
    )?;
    let producer = broker.transactional_producer("detector")?;
    producer.begin_transaction()?;
    producer.send_batch("alerts", (0..50).map(reading))?;
    producer.abort_transaction()?;
    producer.begin_transaction()?;
    producer.send_batch("alerts", (50..100).map(reading))?;
    producer.commit_transaction()?;
    let tp = TopicPartition::new("alerts", 0);
    let committed = read(&broker, &tp, 0, IsolationLevel::ReadCommitted)?;
    // 50 aborted records and their marker come first.
    let want: Vec<Seen> = (50..100).map(|i| expected(i, i as u64 + 1)).collect();
    assert_eq!(committed, want);
    assert_eq!(
        read(&broker, &tp, 0, IsolationLevel::ReadUncommitted)?.len(),
        100
    );
    // Data batches compressed, markers as Kafka writes them: uncompressed.
    assert_eq!(
        codecs_on_disk(dir.path(), "alerts", 0),
        [
            Compression::Snappy,
            Compression::None,
            Compression::Snappy,
            Compression::None
        ]
    );
    Ok(())
}

/// Single sends are stored one record a batch, which does not compress; with
/// `rebatch_sealed`, maintenance merges sealed segments' runs into compressed batches.
/// Records, offsets and what readers of committed data see stay as they were.
#[test]
fn maintenance_rebatches_single_sends_into_compressed_batches() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    // Kept for ever: the readings' timestamps are from 2023.
    let config = TopicConfig::default()
        .segment_bytes(64 << 10)
        .retention_ms(-1)
        .compression(Compression::Zstd)
        .rebatch_sealed(true);
    broker.create_topic("readings", config)?;
    let producer = broker.producer();
    let txn = broker.transactional_producer("detector")?;
    for i in 0..2000 {
        producer.send("readings", reading(i))?;
        if i == 700 || i == 900 {
            // A transaction in the middle: aborted, then committed.
            txn.begin_transaction()?;
            txn.send("readings", Record::new(format!("in transaction {i}")))?;
            if i == 700 {
                txn.abort_transaction()?;
            } else {
                txn.commit_transaction()?;
            }
        }
    }
    let tp = TopicPartition::new("readings", 0);
    let committed = read(&broker, &tp, 0, IsolationLevel::ReadCommitted)?;
    let everything = read(&broker, &tp, 0, IsolationLevel::ReadUncommitted)?;
    assert_eq!(everything.len(), 2002);
    let before = broker.describe_topic("readings")?.partitions[0].size_bytes;
    broker.run_maintenance()?;
    let after = broker.describe_topic("readings")?.partitions[0].size_bytes;
    assert!(
        after * 3 < before,
        "{after} bytes after rebatching, {before} before"
    );
    let offsets = |seen: &[Seen]| seen.iter().map(|s| s.0).collect::<Vec<_>>();
    let after_committed = read(&broker, &tp, 0, IsolationLevel::ReadCommitted)?;
    assert_eq!(offsets(&after_committed), offsets(&committed));
    assert!(after_committed == committed, "records as before");
    let after_everything = read(&broker, &tp, 0, IsolationLevel::ReadUncommitted)?;
    assert_eq!(offsets(&after_everything), offsets(&everything));
    assert!(after_everything == everything, "records as before");
    for from in [1, 333, 701, 702, 1500] {
        assert_eq!(
            read(&broker, &tp, from, IsolationLevel::ReadUncommitted)?,
            everything
                .iter()
                .filter(|s| s.0 >= from)
                .cloned()
                .collect::<Vec<_>>(),
            "from {from}"
        );
    }
    // A second round has nothing left to do; a reopened broker reads the same.
    broker.run_maintenance()?;
    assert_eq!(
        broker.describe_topic("readings")?.partitions[0].size_bytes,
        after
    );
    broker.close()?;
    let broker = Broker::open(dir.path())?;
    broker.run_maintenance()?;
    assert_eq!(
        broker.describe_topic("readings")?.partitions[0].size_bytes,
        after,
        "nothing rebatched twice"
    );
    assert!(read(&broker, &tp, 0, IsolationLevel::ReadCommitted)? == committed);
    Ok(())
}

/// Retention deletes whole sealed segments of compressed batches by their records' age
/// and size, as it does uncompressed ones; readers go on from the new log start.
#[test]
fn retention_deletes_old_compressed_segments() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    let day_ms = 24 * 3600 * 1000;
    let config = TopicConfig::default()
        .segment_bytes(8 << 10)
        .retention_ms(day_ms)
        .compression(Compression::Gzip);
    broker.create_topic("readings", config)?;
    let producer = broker.producer();
    let now = common::now_ms();
    // Ten batches from two days ago, each about a segment's worth, then ten from now.
    for (round, age) in [(0, 2 * day_ms), (1, 0)] {
        for batch in 0..10 {
            let first = round * 1000 + batch * 100;
            let records = (first..first + 100).map(|i| reading(i).timestamp(now - age));
            producer.send_batch("readings", records)?;
        }
    }
    let tp = TopicPartition::new("readings", 0);
    let before = broker.describe_topic("readings")?.partitions[0].clone();
    broker.run_maintenance()?;
    let after = broker.describe_topic("readings")?.partitions[0].clone();
    // Segments of old readings only went; the one where the new ones begin stays whole.
    let start = after.log_start_offset;
    assert!((500..=1000).contains(&start), "log start {start}");
    assert!(after.size_bytes < before.size_bytes);
    let seen = read(&broker, &tp, 0, IsolationLevel::ReadUncommitted)?;
    let offsets: Vec<u64> = seen.iter().map(|s| s.0).collect();
    assert_eq!(offsets, (start..2000).collect::<Vec<_>>());
    for s in &seen {
        let (key, value, ..) = parts(usize::try_from(s.0).expect("small"));
        assert_eq!((&s.1, &s.2), (&Some(key.into_bytes()), &value.into_bytes()));
    }
    Ok(())
}
