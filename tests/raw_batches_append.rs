//! `Broker::append_batch`, the produce path of a Kafka-protocol server: batches in Kafka's
//! format, as a client encodes them (here with the library's public encoder), are checked,
//! stored at the partition's next offsets and read back by an ordinary consumer; an
//! idempotent producer's retries are answered with the first answer, gaps and old epochs
//! are refused, and the producer state survives a reopen.

use std::time::Duration;

use strom::storage::batch::{self, Compression, Entry, Origin};
use strom::{
    Broker, BrokerConfig, ConsumerConfig, Error, OffsetReset, Result, TopicConfig, TopicPartition,
};

const TOPIC: &str = "readings";

/// One record per value, keyed `k<i>`, with a header and timestamps 1000, 1001, ...
fn batch_of(values: &[&str], origin: Origin, codec: Compression) -> Vec<u8> {
    let keys: Vec<String> = (0..values.len()).map(|i| format!("k{i}")).collect();
    let headers = vec![("station".to_string(), b"oslo".to_vec())];
    let entries: Vec<Entry<'_>> = values
        .iter()
        .zip(&keys)
        .enumerate()
        .map(|(i, (value, key))| Entry {
            timestamp: 1000 + i64::try_from(i).expect("small"),
            key: Some(key.as_bytes()),
            value: Some(value.as_bytes()),
            headers: &headers,
        })
        .collect();
    let mut plain = vec![0; batch::encoded_len(&entries)];
    // A client's base offset is 0; strom assigns the real one.
    batch::encode_with(&mut plain, 0, origin, &entries).expect("encode");
    batch::compress(&plain, codec).expect("compress")
}

fn idempotent(producer_id: i64, epoch: i16, base_sequence: i32) -> Origin {
    Origin {
        producer_id,
        producer_epoch: epoch,
        base_sequence,
        transactional: false,
    }
}

/// (offset, key, value, timestamp, headers) of every record from the start.
type Seen = (u64, String, String, i64, Vec<(String, Vec<u8>)>);

fn read_all(broker: &Broker) -> Result<Vec<Seen>> {
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new(TOPIC, 0)])?;
    let mut out = Vec::new();
    loop {
        let records = consumer.poll(Duration::ZERO)?;
        if records.is_empty() {
            return Ok(out);
        }
        for r in &records {
            out.push((
                r.offset(),
                String::from_utf8_lossy(r.key().unwrap_or_default()).into_owned(),
                String::from_utf8_lossy(r.value()).into_owned(),
                r.timestamp(),
                r.headers()
                    .map(|(k, v)| (k.to_string(), v.to_vec()))
                    .collect(),
            ));
        }
    }
}

fn tp() -> TopicPartition {
    TopicPartition::new(TOPIC, 0)
}

#[test]
fn batches_of_every_codec_are_stored_and_read_back_by_a_consumer() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default())?;
    let mut expected = Vec::new();
    let mut next = 0;
    for codec in Compression::ALL.into_iter().filter(|c| c.is_available()) {
        let values: Vec<String> = (0..20).map(|i| format!("{codec} reading {i}")).collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let bytes = batch_of(&refs, Origin::NONE, codec);
        assert_eq!(
            batch::read_header(&bytes).expect("header").compression(),
            codec
        );
        let appended = broker.append_batch(&tp(), &bytes)?;
        assert_eq!(
            (
                appended.base_offset,
                appended.last_offset,
                appended.duplicate
            ),
            (next, next + 19, false)
        );
        // Served as stored: the client's bytes, but for the base offset assigned here.
        let fetched = broker.fetch_batches(
            &tp(),
            next,
            usize::MAX,
            strom::IsolationLevel::ReadUncommitted,
        )?;
        assert_eq!(fetched.bytes.len(), bytes.len(), "{codec}");
        assert_eq!(fetched.bytes[8..], bytes[8..], "{codec}");
        assert_eq!(
            batch::check(&fetched.bytes).expect("valid").base_offset,
            next
        );
        for (i, value) in values.iter().enumerate() {
            expected.push((
                next + i as u64,
                format!("k{i}"),
                value.clone(),
                1000 + i64::try_from(i).expect("small"),
                vec![("station".to_string(), b"oslo".to_vec())],
            ));
        }
        next += 20;
    }
    assert_eq!(read_all(&broker)?, expected);
    Ok(())
}

#[test]
fn a_topic_with_a_codec_recompresses_batches_of_another() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().compression(Compression::Zstd))?;
    let values: Vec<String> = (0..50).map(|i| format!("reading number {i}")).collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    broker.append_batch(&tp(), &batch_of(&refs, Origin::NONE, Compression::Gzip))?;
    broker.append_batch(&tp(), &batch_of(&refs, Origin::NONE, Compression::Zstd))?;
    let fetched =
        broker.fetch_batches(&tp(), 0, usize::MAX, strom::IsolationLevel::ReadUncommitted)?;
    let first = batch::check(&fetched.bytes).expect("first batch");
    let second = batch::check(&fetched.bytes[first.length as usize..]).expect("second batch");
    assert_eq!(
        (first.compression(), second.compression()),
        (Compression::Zstd, Compression::Zstd)
    );
    assert_eq!(read_all(&broker)?.len(), 100);
    Ok(())
}

#[test]
fn invalid_batches_are_refused_with_clear_errors_and_store_nothing() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default())?;
    let good = batch_of(&["a", "b", "c"], Origin::NONE, Compression::None);

    let mut bad_crc = good.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0x40;
    let mut wrong_magic = good.clone();
    wrong_magic[16] = 7;
    // The first record's length varint (just after the 61-byte header) made larger: the
    // record then runs past the batch; the checksum is made right so only the record lies.
    let mut lying = good.clone();
    lying[batch::HEADER_BYTES] += 2;
    let lying = fix_crc(lying);
    // What each is, and what the error's source says.
    let cases: [(&[u8], &str); 5] = [
        (&bad_crc, "checksum mismatch"),
        (&good[..good.len() - 3], "truncated"),
        (&wrong_magic, "version 7"),
        (&lying, "malformed"),
        (&[], "truncated"),
    ];
    for (bytes, what) in cases {
        let refused = broker.append_batch(&tp(), bytes);
        match refused {
            Err(e @ Error::Encode { .. }) => {
                let message = format!("{e}: {}", std::error::Error::source(&e).expect("source"));
                // The partition's directory names the topic.
                assert!(message.contains("readings"), "{what}: {message}");
                assert!(message.contains(what), "{what}: {message}");
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    assert_eq!(
        broker.describe_topic(TOPIC)?.partitions[0].high_watermark,
        0
    );

    let transactional = batch_of(
        &["t"],
        Origin {
            transactional: true,
            ..idempotent(3, 0, 0)
        },
        Compression::None,
    );
    assert!(matches!(
        broker.append_batch(&tp(), &transactional),
        Err(Error::TransactionState(_))
    ));
    assert!(matches!(
        broker.append_batch(&TopicPartition::new(TOPIC, 4), &good),
        Err(Error::InvalidPartition { partition: 4, .. })
    ));
    assert!(matches!(
        broker.append_batch(&TopicPartition::new("nowhere", 0), &good),
        Err(Error::UnknownTopic { .. })
    ));
    assert_eq!(
        broker.describe_topic(TOPIC)?.partitions[0].high_watermark,
        0
    );
    broker.append_batch(&tp(), &good)?;
    assert_eq!(read_all(&broker)?.len(), 3);
    Ok(())
}

/// Recomputes a v2 batch's CRC-32C (bytes 21.. cover attributes to the end).
#[expect(
    clippy::big_endian_bytes,
    reason = "Kafka's batch header is big-endian"
)]
fn fix_crc(mut bytes: Vec<u8>) -> Vec<u8> {
    let crc = crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// CRC-32C (Castagnoli), bitwise: a test's own, independent of the library's.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn unknown_topics_are_created_when_auto_creation_is_on() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open_with(dir.path(), BrokerConfig::default().auto_create_topics(true))?;
    let appended =
        broker.append_batch(&tp(), &batch_of(&["a"], Origin::NONE, Compression::None))?;
    assert_eq!(appended.base_offset, 0);
    assert_eq!(broker.topics(), [TOPIC]);
    Ok(())
}

#[test]
fn an_idempotent_producers_retries_gaps_and_old_epochs() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let broker = Broker::open(dir.path())?;
        broker.create_topic(TOPIC, TopicConfig::default())?;
        let id = broker.init_producer_id()?;
        let pid = id.producer_id;
        let first = batch_of(&["a", "b"], idempotent(pid, 0, 0), Compression::None);
        let second = batch_of(&["c"], idempotent(pid, 0, 2), Compression::Lz4);
        assert_eq!(broker.append_batch(&tp(), &first)?.base_offset, 0);
        assert_eq!(broker.append_batch(&tp(), &second)?.base_offset, 2);
        // A retry of the first is answered with its offsets, and stored no second time.
        let retry = broker.append_batch(&tp(), &first)?;
        assert_eq!(
            (retry.base_offset, retry.last_offset, retry.duplicate),
            (0, 1, true)
        );
        // A gap: sequence 5 where 3 is due.
        match broker.append_batch(
            &tp(),
            &batch_of(&["x"], idempotent(pid, 0, 5), Compression::None),
        ) {
            Err(Error::OutOfOrderSequence {
                topic,
                partition: 0,
                producer_id,
                expected: 3,
                received: 5,
            }) => {
                assert_eq!((topic.as_str(), producer_id), (TOPIC, pid));
            }
            other => panic!("{other:?}"),
        }
        // A new epoch starts at sequence 0; the old one is then fenced.
        let bumped = batch_of(&["d"], idempotent(pid, 1, 0), Compression::None);
        assert_eq!(broker.append_batch(&tp(), &bumped)?.base_offset, 3);
        match broker.append_batch(
            &tp(),
            &batch_of(&["y"], idempotent(pid, 0, 3), Compression::None),
        ) {
            Err(
                e @ Error::InvalidProducerEpoch {
                    epoch: 0,
                    current: 1,
                    ..
                },
            ) => {
                assert!(e.to_string().contains("readings-0"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        // Plain batches are never checked.
        broker.append_batch(&tp(), &batch_of(&["e"], Origin::NONE, Compression::None))?;
        broker.close()?;
    }
    let broker = Broker::open(dir.path())?;
    let pid = 0;
    // After the reopen the producer state is rebuilt: the retry is still a duplicate, the
    // next sequence goes on, the old epoch is still fenced.
    let retry = broker.append_batch(
        &tp(),
        &batch_of(&["d"], idempotent(pid, 1, 0), Compression::None),
    )?;
    assert_eq!((retry.base_offset, retry.duplicate), (3, true));
    let next = broker.append_batch(
        &tp(),
        &batch_of(&["f"], idempotent(pid, 1, 1), Compression::None),
    )?;
    assert_eq!((next.base_offset, next.duplicate), (5, false));
    assert!(matches!(
        broker.append_batch(
            &tp(),
            &batch_of(&["z"], idempotent(pid, 0, 4), Compression::None)
        ),
        Err(Error::InvalidProducerEpoch { .. })
    ));
    let values: Vec<String> = read_all(&broker)?.into_iter().map(|r| r.2).collect();
    assert_eq!(values, ["a", "b", "c", "d", "e", "f"]);
    // The id is not handed out again after the restart.
    assert!(broker.init_producer_id()?.producer_id > pid);
    Ok(())
}

#[test]
fn producer_ids_are_distinct_from_each_other_and_from_transactional_ones() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default())?;
    let a = broker.init_producer_id()?;
    let txn = broker.transactional_producer("payments-app")?;
    txn.begin_transaction()?;
    txn.send(TOPIC, strom::Record::new("t"))?;
    txn.commit_transaction()?;
    let b = broker.init_producer_id()?;
    assert_eq!((a.epoch, b.epoch), (0, 0));
    // The transactional producer's id is in its batch's header.
    let fetched =
        broker.fetch_batches(&tp(), 0, usize::MAX, strom::IsolationLevel::ReadUncommitted)?;
    let txn_id = batch::check(&fetched.bytes)
        .expect("batch")
        .origin
        .producer_id;
    let mut ids = [a.producer_id, b.producer_id, txn_id];
    ids.sort_unstable();
    assert!(ids.windows(2).all(|w| w[0] != w[1]), "{ids:?}");
    Ok(())
}

#[test]
fn a_batch_longer_than_the_topics_limit_is_refused() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().max_record_bytes(100))?;
    let big = "x".repeat(200);
    let refused = broker.append_batch(&tp(), &batch_of(&[&big], Origin::NONE, Compression::None));
    assert!(
        matches!(refused, Err(Error::RecordTooLarge { max: 100, .. })),
        "{refused:?}"
    );
    Ok(())
}
