//! Keyed records land on the partition Kafka's Java client picks, `(murmur2(key) & 0x7fffffff) % n`, checked against Kafka's own test vectors; keyless records stick to a partition then move on over all of them; an explicit partition beats the key.

use std::collections::BTreeMap;
use std::time::Duration;

use strom::{Broker, ConsumerConfig, OffsetReset, Record, Result, TopicConfig, TopicPartition};

/// apache/kafka `UtilsTest.testMurmur2`: input and the Java `int` `Utils.murmur2` returns.
const MURMUR2: [(&str, i32); 6] = [
    ("21", -973_932_308),
    ("foobar", -790_332_482),
    ("a-little-bit-long-string", -985_981_536),
    ("a-little-bit-longer-string", -1_486_304_829),
    (
        "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
        -58_897_971,
    ),
    ("abc", 479_470_107),
];

const COUNTS: [u32; 5] = [1, 2, 3, 7, 12];

fn kafka_partition(murmur2: i32, partitions: u32) -> u32 {
    (murmur2.cast_unsigned() & 0x7fff_ffff) % partitions
}

fn topic(n: u32) -> String {
    format!("p{n}")
}

#[test]
fn keys_land_where_kafka_puts_them() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    let producer = broker.producer();
    // Where every record must be: (topic, partition) -> values in offset order.
    let mut expected: BTreeMap<(String, u32), Vec<String>> = BTreeMap::new();
    for n in COUNTS {
        broker.create_topic(&topic(n), TopicConfig::default().partitions(n))?;
        for (key, hash) in MURMUR2 {
            let want = kafka_partition(hash, n);
            let value = format!("{key}/send");
            let meta = producer.send(&topic(n), Record::new(value.clone()).key(key))?;
            assert_eq!(
                meta.partition, want,
                "key {key:?} with {n} partitions (send)"
            );
            expected.entry((topic(n), want)).or_default().push(value);

            // The same key through send_json and in a batch, with other keys.
            let meta = producer.send_json(&topic(n), Some(key), &key)?;
            assert_eq!(
                meta.partition, want,
                "key {key:?} with {n} partitions (send_json)"
            );
            expected
                .entry((topic(n), want))
                .or_default()
                .push(serde_json::to_string(key).expect("json"));
        }
        let metas = producer.send_batch(
            &topic(n),
            MURMUR2.map(|(key, _)| Record::new(format!("{key}/batch")).key(key)),
        )?;
        for ((key, hash), meta) in MURMUR2.iter().zip(&metas) {
            let want = kafka_partition(*hash, n);
            assert_eq!(
                meta.partition, want,
                "key {key:?} with {n} partitions (send_batch)"
            );
            expected
                .entry((topic(n), want))
                .or_default()
                .push(format!("{key}/batch"));
        }
    }

    // The records are really stored in those partitions.
    for ((topic, partition), values) in &expected {
        let mut consumer =
            broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
        consumer.assign(&[TopicPartition::new(topic.clone(), *partition)])?;
        let records = consumer.poll(Duration::from_secs(5))?;
        let got: Vec<String> = records
            .iter()
            .map(|r| String::from_utf8_lossy(r.value()).into_owned())
            .collect();
        assert_eq!(&got, values, "{topic}-{partition}");
    }
    for n in COUNTS {
        let desc = broker.describe_topic(&topic(n))?;
        let stored: u64 = desc.partitions.iter().map(|p| p.high_watermark).sum();
        assert_eq!(stored, 3 * MURMUR2.len() as u64, "{}", topic(n));
    }
    broker.close()
}

/// Kafka Streams' tests list where keys "0".."9" go among 3 partitions.
#[test]
fn digit_keys_over_three_partitions() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("digits", TopicConfig::default().partitions(3))?;
    let producer = broker.producer();
    let got: Vec<u32> = (0..10)
        .map(|k| {
            producer
                .send("digits", Record::new("v").key(k.to_string()))
                .map(|m| m.partition)
        })
        .collect::<Result<_>>()?;
    assert_eq!(got, [2, 0, 2, 2, 1, 0, 1, 0, 0, 2]);
    // A key always goes to the same partition.
    for (k, &partition) in got.iter().enumerate() {
        let again = producer.send("digits", Record::new("again").key(k.to_string()))?;
        assert_eq!(again.partition, partition, "key {k:?}");
    }
    broker.close()
}

/// An empty key is a key: it is hashed, not treated as "no key".
#[test]
fn empty_key_is_hashed() -> Result<()> {
    // murmur2 of the empty input is 0x106e08d9 (librdkafka's vectors from the Java client).
    const EMPTY: u32 = 0x106e_08d9;
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("seven", TopicConfig::default().partitions(7))?;
    let producer = broker.producer();
    for _ in 0..50 {
        let meta = producer.send("seven", Record::new(vec![0_u8; 1000]).key(""))?;
        assert_eq!(meta.partition, (EMPTY & 0x7fff_ffff) % 7);
    }
    broker.close()
}

#[test]
fn keyless_records_stick_then_spread_over_all_partitions() -> Result<()> {
    const N: usize = 400;
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("spread", TopicConfig::default().partitions(4))?;
    let producer = broker.producer();
    let partitions: Vec<u32> = (0..N)
        .map(|i| {
            producer
                .send(
                    "spread",
                    Record::new(vec![b'x'; 1024]).header("i", i.to_string()),
                )
                .map(|m| m.partition)
        })
        .collect::<Result<_>>()?;
    let mut counts = [0_usize; 4];
    for &p in &partitions {
        counts[p as usize] += 1;
    }
    assert!(
        counts.iter().all(|&c| c > 0),
        "not every partition used: {counts:?}"
    );
    // Sticky: the partition changes far less often than once per record.
    let switches = partitions.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(switches > 0, "never moved on");
    assert!(
        switches <= N / 4,
        "{switches} partition changes in {N} keyless sends is not sticky"
    );
    // Roughly even: no partition got more than half.
    assert!(counts.iter().all(|&c| c <= N / 2), "uneven: {counts:?}");

    // A keyless batch is not split.
    for _ in 0..10 {
        let metas = producer.send_batch("spread", (0..20).map(|_| Record::new(vec![b'y'; 100])))?;
        let first = metas[0].partition;
        assert!(metas.iter().all(|m| m.partition == first), "{metas:?}");
        let offsets: Vec<u64> = metas.iter().map(|m| m.offset).collect();
        assert_eq!(offsets, (offsets[0]..offsets[0] + 20).collect::<Vec<_>>());
    }
    broker.close()
}

#[test]
fn explicit_partition_beats_the_key() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("twelve", TopicConfig::default().partitions(12))?;
    let producer = broker.producer();
    for (key, hash) in MURMUR2 {
        let natural = kafka_partition(hash, 12);
        let forced = (natural + 5) % 12;
        let meta = producer.send("twelve", Record::new("forced").key(key).partition(forced))?;
        assert_eq!(meta.partition, forced, "key {key:?}");
        let metas = producer.send_batch(
            "twelve",
            vec![
                Record::new("natural").key(key),
                Record::new("forced").key(key).partition(forced),
            ],
        )?;
        assert_eq!((metas[0].partition, metas[1].partition), (natural, forced));
        let mut consumer =
            broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
        let tp = TopicPartition::new("twelve", forced);
        consumer.assign(std::slice::from_ref(&tp))?;
        consumer.seek(&tp, meta.offset)?;
        let records = consumer.poll(Duration::from_secs(5))?;
        let r = records.iter().next().expect("the forced record");
        assert_eq!((r.key(), r.value()), (Some(key.as_bytes()), &b"forced"[..]));
    }
    broker.close()
}
