//! Concurrent producers (clones of one `Producer`) get unique, contiguous offsets per partition, and every record is read back exactly once, in offset order, with each thread's records in the order it sent them.

use std::collections::{BTreeMap, HashMap};
use std::thread;
use std::time::Duration;

use strom::{
    Broker, ConsumerConfig, OffsetReset, Producer, Record, RecordMetadata, Result, TopicConfig,
    TopicPartition,
};

const THREADS: u32 = 4;
const PER_THREAD: u32 = 5_000;
const SINGLE: &str = "single";
const KEYED: &str = "keyed";
const KEYED_PARTITIONS: u32 = 3;

/// The value of record `seq` of thread `thread`: both numbers, readable back.
fn value(thread: u32, seq: u32) -> String {
    format!("{thread}:{seq}")
}

fn parse(value: &[u8]) -> (u32, u32) {
    let text = std::str::from_utf8(value).expect("values are UTF-8");
    let (t, s) = text.split_once(':').expect("values are thread:seq");
    (
        t.parse().expect("thread number"),
        s.parse().expect("sequence number"),
    )
}

fn record(topic: &str, thread: u32, seq: u32) -> Record {
    let record = Record::new(value(thread, seq));
    if topic == KEYED {
        // Keys shared between threads, so the threads contend for every partition.
        record.key(format!("key-{}", seq % 29))
    } else {
        record
    }
}

/// Sends `PER_THREAD` records to `topic` from one thread, alternating single sends and
/// batches of varying size; returns `(seq, metadata)` for each.
fn produce(producer: &Producer, topic: &str, thread: u32) -> Result<Vec<(u32, RecordMetadata)>> {
    let mut sent = Vec::with_capacity(PER_THREAD as usize);
    let mut seq = 0;
    let mut round = 0_u32;
    while seq < PER_THREAD {
        if round.is_multiple_of(2) {
            let meta = producer.send(topic, record(topic, thread, seq))?;
            sent.push((seq, meta));
            seq += 1;
        } else {
            let len = (1 + (round + thread) % 37).min(PER_THREAD - seq);
            let batch: Vec<Record> = (seq..seq + len).map(|s| record(topic, thread, s)).collect();
            let metas = producer.send_batch(topic, batch)?;
            assert_eq!(metas.len(), len as usize, "one metadata per record");
            for (i, meta) in metas.into_iter().enumerate() {
                sent.push((seq + i as u32, meta));
            }
            seq += len;
        }
        round += 1;
    }
    Ok(sent)
}

/// (topic, partition) -> offset -> (thread, seq): where each send said its record went.
type Placement = BTreeMap<(String, u32), BTreeMap<u64, (u32, u32)>>;

/// Runs the producer threads and collects where every record went, checking that no
/// offset is handed out twice.
fn produce_concurrently(producer: &Producer) -> Result<Placement> {
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let producer = producer.clone();
            thread::spawn(move || -> Result<_> {
                // Interleave the two topics differently per thread.
                let (first, second) = if thread.is_multiple_of(2) {
                    (SINGLE, KEYED)
                } else {
                    (KEYED, SINGLE)
                };
                let a = produce(&producer, first, thread)?;
                let b = produce(&producer, second, thread)?;
                Ok(((first, a), (second, b)))
            })
        })
        .collect();

    let mut placement = Placement::new();
    for (thread, handle) in (0..THREADS).zip(handles) {
        let ((t1, a), (t2, b)) = handle.join().expect("producer thread panicked")?;
        for (topic, sent) in [(t1, a), (t2, b)] {
            assert_eq!(sent.len(), PER_THREAD as usize);
            for (seq, meta) in sent {
                assert_eq!(meta.topic, topic);
                if topic == SINGLE {
                    assert_eq!(meta.partition, 0);
                } else {
                    assert!(meta.partition < KEYED_PARTITIONS, "{meta:?}");
                }
                let previous = placement
                    .entry((meta.topic.clone(), meta.partition))
                    .or_default()
                    .insert(meta.offset, (thread, seq));
                assert_eq!(
                    previous, None,
                    "offset {} of {}-{} handed out twice",
                    meta.offset, meta.topic, meta.partition
                );
            }
        }
    }
    Ok(placement)
}

/// Reads `tp` from the start and checks it against what the sends reported.
fn check_read_back(
    broker: &Broker,
    tp: &TopicPartition,
    expected: &BTreeMap<u64, (u32, u32)>,
) -> Result<()> {
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .max_poll_records(1_000),
    );
    consumer.assign(std::slice::from_ref(tp))?;
    let mut read = Vec::with_capacity(expected.len());
    while read.len() < expected.len() {
        let records = consumer.poll(Duration::from_secs(5))?;
        assert!(
            !records.is_empty(),
            "{tp}: poll timed out after {} of {} records",
            read.len(),
            expected.len()
        );
        read.extend(records);
    }
    assert!(consumer.poll(Duration::from_millis(10))?.is_empty());
    assert_eq!(read.len(), expected.len(), "{tp}: record count");

    let mut last_seq: HashMap<u32, u32> = HashMap::new();
    for (i, r) in read.iter().enumerate() {
        assert_eq!(
            (r.topic(), r.partition()),
            (tp.topic.as_str(), tp.partition)
        );
        assert_eq!(r.offset(), i as u64, "{tp}: records out of offset order");
        let (thread, seq) = parse(r.value());
        assert_eq!(
            expected.get(&r.offset()),
            Some(&(thread, seq)),
            "{tp}@{}: not the record whose send returned this offset",
            r.offset()
        );
        if let Some(prev) = last_seq.insert(thread, seq) {
            assert!(
                prev < seq,
                "{tp}: thread {thread} sent {prev} before {seq}, read back after it"
            );
        }
        if tp.topic == KEYED {
            assert_eq!(r.key(), Some(format!("key-{}", seq % 29).as_bytes()));
        } else {
            assert_eq!(r.key(), None);
        }
    }
    Ok(())
}

#[test]
fn concurrent_producers_get_contiguous_unique_offsets() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(SINGLE, TopicConfig::default())?;
    broker.create_topic(KEYED, TopicConfig::default().partitions(KEYED_PARTITIONS))?;
    let placement = produce_concurrently(&broker.producer())?;

    // Per partition: offsets are exactly 0..n, and the high watermark agrees.
    let mut totals: HashMap<&str, u64> = HashMap::new();
    for ((topic, partition), offsets) in &placement {
        let n = offsets.len() as u64;
        assert!(
            offsets.keys().copied().eq(0..n),
            "offsets of {topic}-{partition} are not exactly 0..{n}"
        );
        *totals.entry(topic.as_str()).or_default() += n;
        let desc = broker.describe_topic(topic)?;
        assert_eq!(desc.partitions[*partition as usize].high_watermark, n);
    }
    let expected_total = u64::from(THREADS * PER_THREAD);
    assert_eq!(totals.get(SINGLE), Some(&expected_total));
    assert_eq!(totals.get(KEYED), Some(&expected_total));
    // Every keyed partition got something: 29 keys over 3 partitions.
    assert_eq!(
        placement.keys().filter(|(t, _)| t == KEYED).count(),
        KEYED_PARTITIONS as usize
    );

    // Read every partition back from the start.
    for ((topic, partition), expected) in &placement {
        check_read_back(
            &broker,
            &TopicPartition::new(topic.clone(), *partition),
            expected,
        )?;
    }
    broker.close()
}
