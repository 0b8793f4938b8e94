//! `Broker::fetch_batches` and the other reads of a Kafka-protocol server: whole batches as
//! stored, within `max_bytes` but never fewer than one, up to the high watermark or the last
//! stable offset with the aborted transactions listed; offsets by timestamp; committed
//! offsets outside group membership; and `wait_for_data`, Fetch's long-poll.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use strom::storage::batch;
use strom::{
    Broker, ConsumerConfig, Error, IsolationLevel, Record, Result, TimestampOffset, TopicConfig,
    TopicPartition,
};

const TOPIC: &str = "readings";

fn tp() -> TopicPartition {
    TopicPartition::new(TOPIC, 0)
}

fn setup() -> Result<(tempfile::TempDir, Broker)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default())?;
    Ok((dir, broker))
}

/// Headers of the batches in `bytes`, each checked whole.
fn batches(bytes: &[u8]) -> Vec<batch::BatchHeader> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let header = batch::check(rest).expect("a whole, valid batch");
        rest = &rest[header.length as usize..];
        out.push(header);
    }
    out
}

/// Sends batches of 3 records: offsets 0-2, 3-5, 6-8, ...
fn send_batches(broker: &Broker, count: i64) -> Result<()> {
    let producer = broker.producer();
    for b in 0..count {
        let records: Vec<Record> = (0..3)
            .map(|i| Record::new(format!("reading {b}.{i}")).timestamp(1000 * b + i))
            .collect();
        producer.send_batch(TOPIC, records)?;
    }
    Ok(())
}

#[test]
fn fetches_whole_stored_batches_within_max_bytes_but_at_least_one() -> Result<()> {
    let (_dir, broker) = setup()?;
    send_batches(&broker, 4)?;
    let all = broker.fetch_batches(&tp(), 0, usize::MAX, IsolationLevel::ReadUncommitted)?;
    let headers = batches(&all.bytes);
    let bases: Vec<u64> = headers.iter().map(|h| h.base_offset).collect();
    assert_eq!(bases, [0, 3, 6, 9]);
    assert_eq!(
        (
            all.high_watermark,
            all.last_stable_offset,
            all.log_start_offset
        ),
        (12, 12, 0)
    );
    assert!(all.aborted.is_empty());
    let one = headers[0].length as usize;

    // Room for one and a half batches: one. Room for one byte: still one (KIP-74).
    for max_bytes in [one + one / 2, 1, 0] {
        let fetched = broker.fetch_batches(&tp(), 0, max_bytes, IsolationLevel::ReadUncommitted)?;
        assert_eq!(fetched.bytes, all.bytes[..one], "max_bytes {max_bytes}");
    }
    let two = broker.fetch_batches(&tp(), 0, 2 * one, IsolationLevel::ReadUncommitted)?;
    assert_eq!(batches(&two.bytes).len(), 2);

    // From inside a batch: the batch holding the offset comes first.
    let inside = broker.fetch_batches(&tp(), 7, usize::MAX, IsolationLevel::ReadUncommitted)?;
    let bases: Vec<u64> = batches(&inside.bytes)
        .iter()
        .map(|h| h.base_offset)
        .collect();
    assert_eq!(bases, [6, 9]);
    assert_eq!(inside.bytes, all.bytes[2 * one..]);

    // At the high watermark: nothing. Past it: out of range.
    let at_end = broker.fetch_batches(&tp(), 12, usize::MAX, IsolationLevel::ReadUncommitted)?;
    assert!(at_end.bytes.is_empty());
    match broker.fetch_batches(&tp(), 13, usize::MAX, IsolationLevel::ReadUncommitted) {
        Err(
            e @ Error::OffsetOutOfRange {
                offset: Some(13),
                high_watermark: 12,
                ..
            },
        ) => {
            assert!(e.to_string().contains("readings-0"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[test]
fn an_offset_below_the_log_start_is_out_of_range() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(
        TOPIC,
        TopicConfig::default()
            .segment_bytes(4096)
            .retention_bytes(4096),
    )?;
    let producer = broker.producer();
    for i in 0..400 {
        producer.send(
            TOPIC,
            Record::new(format!("reading number {i:04} of the day")),
        )?;
    }
    broker.run_maintenance()?;
    let start = broker.describe_topic(TOPIC)?.partitions[0].log_start_offset;
    assert!(start > 0, "retention deleted the oldest segments");
    match broker.fetch_batches(
        &tp(),
        start - 1,
        usize::MAX,
        IsolationLevel::ReadUncommitted,
    ) {
        Err(Error::OffsetOutOfRange {
            log_start_offset,
            high_watermark: 400,
            ..
        }) => {
            assert_eq!(log_start_offset, start);
        }
        other => panic!("{other:?}"),
    }
    let fetched =
        broker.fetch_batches(&tp(), start, usize::MAX, IsolationLevel::ReadUncommitted)?;
    assert_eq!(batches(&fetched.bytes)[0].base_offset, start);
    Ok(())
}

#[test]
fn read_committed_stops_at_the_last_stable_offset_and_lists_aborted_transactions() -> Result<()> {
    let (_dir, broker) = setup()?;
    let producer = broker.producer();
    producer.send(TOPIC, Record::new("before"))?; // 0
    let txn = broker.transactional_producer("weather-app")?;
    txn.begin_transaction()?;
    txn.send(TOPIC, Record::new("aborted 1"))?; // 1
    txn.send(TOPIC, Record::new("aborted 2"))?; // 2
    txn.abort_transaction()?; // marker at 3
    producer.send(TOPIC, Record::new("between"))?; // 4
    txn.begin_transaction()?;
    txn.send(TOPIC, Record::new("open"))?; // 5
    producer.send(TOPIC, Record::new("after"))?; // 6

    let committed = broker.fetch_batches(&tp(), 0, usize::MAX, IsolationLevel::ReadCommitted)?;
    assert_eq!(
        (committed.last_stable_offset, committed.high_watermark),
        (5, 7)
    );
    let headers = batches(&committed.bytes);
    assert_eq!(headers.last().expect("batches").next_offset(), 5);
    let pid = headers[1].origin.producer_id;
    assert!(headers[1].is_transactional());
    assert_eq!(
        committed.aborted,
        [strom::AbortedTransaction {
            producer_id: pid,
            first_offset: 1
        }]
    );
    // A read past the aborted transaction does not list it.
    let later = broker.fetch_batches(&tp(), 4, usize::MAX, IsolationLevel::ReadCommitted)?;
    assert!(later.aborted.is_empty());
    assert_eq!(batches(&later.bytes)[0].base_offset, 4);

    let uncommitted =
        broker.fetch_batches(&tp(), 0, usize::MAX, IsolationLevel::ReadUncommitted)?;
    assert_eq!(
        batches(&uncommitted.bytes)
            .last()
            .expect("batches")
            .next_offset(),
        7
    );
    assert!(uncommitted.aborted.is_empty());
    txn.commit_transaction()?;
    let after = broker.fetch_batches(&tp(), 5, usize::MAX, IsolationLevel::ReadCommitted)?;
    assert_eq!(after.last_stable_offset, after.high_watermark);
    Ok(())
}

#[test]
fn offsets_are_found_by_timestamp_with_the_records_own() -> Result<()> {
    let (_dir, broker) = setup()?;
    send_batches(&broker, 3)?; // timestamps 0,1,2, 1000,1001,1002, 2000,2001,2002
    let at = |ts| broker.offset_for_timestamp(&tp(), ts);
    assert_eq!(
        at(1001)?,
        Some(TimestampOffset {
            offset: 4,
            timestamp: 1001
        })
    );
    assert_eq!(
        at(1500)?,
        Some(TimestampOffset {
            offset: 6,
            timestamp: 2000
        })
    );
    assert_eq!(
        at(-5)?,
        Some(TimestampOffset {
            offset: 0,
            timestamp: 0
        })
    );
    assert_eq!(at(2003)?, None);
    assert!(matches!(
        broker.offset_for_timestamp(&TopicPartition::new(TOPIC, 9), 0),
        Err(Error::InvalidPartition { .. })
    ));
    Ok(())
}

#[test]
fn standalone_commits_are_durable_and_a_groups_consumers_see_them() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let broker = Broker::open(dir.path())?;
        broker.create_topic(TOPIC, TopicConfig::default().partitions(2))?;
        assert!(broker.committed_offsets("dashboard")?.is_empty());
        let offsets = [(TopicPartition::new(TOPIC, 1), 7), (tp(), 3)];
        broker.commit_offsets("dashboard", &offsets)?;
        assert_eq!(
            broker.committed_offsets("dashboard")?,
            [(tp(), 3), (TopicPartition::new(TOPIC, 1), 7)]
        );
        let consumer = broker.consumer(ConsumerConfig::default().group_id("dashboard"));
        assert_eq!(consumer.committed(&tp())?, Some(3));
        assert!(matches!(
            broker.commit_offsets("dashboard", &[(TopicPartition::new(TOPIC, 5), 0)]),
            Err(Error::InvalidPartition { .. })
        ));
        assert!(matches!(
            broker.commit_offsets("", &[(tp(), 0)]),
            Err(Error::InvalidConfig { .. })
        ));
        broker.close()?;
    }
    let broker = Broker::open(dir.path())?;
    assert_eq!(
        broker.committed_offsets("dashboard")?,
        [(tp(), 3), (TopicPartition::new(TOPIC, 1), 7)]
    );
    Ok(())
}

/// A waker counting its wakes.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn poll_once<F: std::future::Future + Unpin>(
    future: &mut F,
    count: &Arc<Count>,
) -> Poll<F::Output> {
    let waker = Waker::from(Arc::clone(count));
    std::pin::Pin::new(future).poll(&mut Context::from_waker(&waker))
}

#[test]
fn waiting_for_data_resolves_on_a_send_from_another_thread() -> Result<()> {
    let (_dir, broker) = setup()?;
    send_batches(&broker, 1)?;
    let count = Arc::new(Count::default());
    let mut wait = broker.wait_for_data(&[(tp(), 3)], IsolationLevel::ReadUncommitted);
    assert!(
        poll_once(&mut wait, &count).is_pending(),
        "nothing past offset 3 yet"
    );
    let producer = broker.producer();
    let sender = std::thread::spawn(move || producer.send(TOPIC, Record::new("new")));
    futures::executor::block_on(wait)?;
    sender.join().expect("sender")?;
    assert_eq!(
        broker.describe_topic(TOPIC)?.partitions[0].high_watermark,
        4
    );

    // Data already there, an offset out of range, a partition that does not exist: at once.
    for positions in [
        vec![(tp(), 0)],
        vec![(tp(), 99)],
        vec![(TopicPartition::new("nowhere", 0), 0)],
        vec![],
    ] {
        let mut wait = broker.wait_for_data(&positions, IsolationLevel::ReadUncommitted);
        assert!(poll_once(&mut wait, &count).is_ready(), "{positions:?}");
    }
    Ok(())
}

#[test]
fn waiting_for_committed_data_resolves_only_when_the_transaction_commits() -> Result<()> {
    let (_dir, broker) = setup()?;
    let txn = broker.transactional_producer("weather-app")?;
    txn.begin_transaction()?;
    let count = Arc::new(Count::default());
    let mut committed = broker.wait_for_data(&[(tp(), 0)], IsolationLevel::ReadCommitted);
    let mut uncommitted = broker.wait_for_data(&[(tp(), 0)], IsolationLevel::ReadUncommitted);
    assert!(poll_once(&mut committed, &count).is_pending());
    assert!(poll_once(&mut uncommitted, &count).is_pending());
    txn.send(TOPIC, Record::new("in a transaction"))?;
    assert!(poll_once(&mut uncommitted, &count).is_ready());
    assert!(
        poll_once(&mut committed, &count).is_pending(),
        "the record is past the last stable offset"
    );
    let ending = std::thread::spawn(move || txn.commit_transaction());
    futures::executor::block_on(committed)?;
    ending.join().expect("commit")?;
    let fetched = broker.fetch_batches(&tp(), 0, usize::MAX, IsolationLevel::ReadCommitted)?;
    assert_eq!(fetched.last_stable_offset, 2, "the record and its marker");
    Ok(())
}

#[test]
fn a_dropped_wait_is_unregistered() -> Result<()> {
    let (_dir, broker) = setup()?;
    let count = Arc::new(Count::default());
    let mut wait = broker.wait_for_data(&[(tp(), 0)], IsolationLevel::ReadUncommitted);
    assert!(poll_once(&mut wait, &count).is_pending());
    drop(wait);
    broker
        .producer()
        .send(TOPIC, Record::new("after the drop"))?;
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        0,
        "no wake for a dropped wait"
    );

    // A registered one is woken, once per append at least.
    let mut wait = broker.wait_for_data(&[(tp(), 1)], IsolationLevel::ReadUncommitted);
    assert!(poll_once(&mut wait, &count).is_pending());
    broker.producer().send(TOPIC, Record::new("woken"))?;
    assert!(count.0.load(Ordering::SeqCst) >= 1);
    assert!(poll_once(&mut wait, &count).is_ready());
    Ok(())
}

#[test]
fn closing_the_broker_ends_a_wait() -> Result<()> {
    let (_dir, broker) = setup()?;
    let wait = broker.wait_for_data(&[(tp(), 0)], IsolationLevel::ReadUncommitted);
    let closer = broker.clone();
    let waiting = std::thread::spawn(move || futures::executor::block_on(wait));
    // Whether the wait registered before the close or not, it ends.
    closer.close()?;
    waiting.join().expect("waiter")?;
    assert!(matches!(
        broker.fetch_batches(&tp(), 0, 1, IsolationLevel::ReadUncommitted),
        Err(Error::Closed)
    ));
    Ok(())
}

#[test]
fn a_read_only_broker_fetches_what_the_writer_appends_and_commits() -> Result<()> {
    let (dir, writer) = setup()?;
    send_batches(&writer, 1)?;
    let reader = Broker::open_with(dir.path(), strom::BrokerConfig::default().read_only(true))?;
    let first = reader.fetch_batches(&tp(), 0, usize::MAX, IsolationLevel::ReadUncommitted)?;
    assert_eq!(first.high_watermark, 3);
    // Appended and committed after the reader opened: seen at its next look.
    send_batches(&writer, 1)?;
    writer.commit_offsets("dashboard", &[(tp(), 6)])?;
    let later = reader.fetch_batches(&tp(), 3, usize::MAX, IsolationLevel::ReadUncommitted)?;
    assert_eq!(later.high_watermark, 6);
    assert_eq!(batches(&later.bytes)[0].base_offset, 3);
    assert_eq!(reader.committed_offsets("dashboard")?, [(tp(), 6)]);
    assert!(matches!(
        reader.commit_offsets("dashboard", &[(tp(), 0)]),
        Err(Error::ReadOnly { .. })
    ));
    Ok(())
}
