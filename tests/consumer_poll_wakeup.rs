//! A consumer blocked in a long `poll` wakes for a record sent from another thread (to any assigned partition), returns `Err(Closed)` when the broker closes, and `iter()` yields records as they are sent.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use strom::{
    Broker, ConsumerConfig, Error, OffsetReset, Record, Result, TopicConfig, TopicPartition,
};

/// The poll timeout: far longer than any wake-up may take.
const LONG: Duration = Duration::from_secs(30);
/// Generous bound on the wake-up, so that a loaded machine never fails the test; a poll
/// that sleeps its whole timeout still does.
const WOKEN_WITHIN: Duration = Duration::from_secs(10);
/// Time for the consumer thread to get parked in `poll` (not an assertion).
const SETTLE: Duration = Duration::from_millis(100);

#[test]
fn blocked_poll_returns_the_record_sent_by_another_thread() -> Result<()> {
    blocked_poll_wakes(ConsumerConfig::default())
}

#[test]
fn a_consumer_that_parks_at_once_wakes_too() -> Result<()> {
    blocked_poll_wakes(ConsumerConfig::default().spin_wait(Duration::ZERO))
}

#[test]
fn a_consumer_spinning_through_the_wait_sees_the_record() -> Result<()> {
    blocked_poll_wakes(ConsumerConfig::default().spin_wait(LONG))
}

#[test]
fn a_spinning_poll_still_ends_at_its_timeout() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("t", TopicConfig::default())?;
    let mut consumer = broker.consumer(ConsumerConfig::default().spin_wait(LONG));
    consumer.assign(&[TopicPartition::new("t", 0)])?;
    let started = Instant::now();
    let records = consumer.poll(Duration::from_millis(20))?;
    assert!(records.is_empty());
    let elapsed = started.elapsed();
    assert!(elapsed < WOKEN_WITHIN, "a 20 ms poll spun for {elapsed:?}");
    broker.close()
}

fn blocked_poll_wakes(config: ConsumerConfig) -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("t", TopicConfig::default())?;
    let tp = TopicPartition::new("t", 0);
    let mut consumer = broker.consumer(config.auto_offset_reset(OffsetReset::Latest));
    consumer.assign(std::slice::from_ref(&tp))?;

    let (ready_tx, ready_rx) = mpsc::channel();
    let waiter = thread::spawn(move || -> Result<_> {
        ready_tx.send(()).expect("main thread waits");
        let started = Instant::now();
        let records = consumer.poll(LONG)?;
        Ok((started.elapsed(), records, consumer))
    });
    ready_rx.recv().expect("consumer thread started");
    thread::sleep(SETTLE);
    let meta = broker
        .producer()
        .send("t", Record::new("wake up").key("k"))?;

    let (elapsed, records, consumer) = waiter.join().expect("consumer thread panicked")?;
    assert!(
        elapsed < WOKEN_WITHIN,
        "poll took {elapsed:?} to see the record"
    );
    let records: Vec<_> = records.into_iter().collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].offset(), meta.offset);
    assert_eq!(records[0].value(), b"wake up");
    assert_eq!(records[0].key(), Some(&b"k"[..]));
    assert_eq!(consumer.position(&tp), Some(meta.offset + 1));
    broker.close()
}

/// What one wake-up returned: how long it took, and the record's topic, partition, value.
type Seen = (Duration, String, u32, Vec<u8>);

#[test]
fn poll_on_several_partitions_wakes_for_any_of_them() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("a", TopicConfig::default().partitions(3))?;
    broker.create_topic("b", TopicConfig::default())?;
    let tps = vec![
        TopicPartition::new("a", 0),
        TopicPartition::new("a", 1),
        TopicPartition::new("a", 2),
        TopicPartition::new("b", 0),
    ];
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Latest));
    consumer.assign(&tps)?;

    // One round per partition: the consumer blocks, then a record goes to that partition.
    let (ready_tx, ready_rx) = mpsc::channel();
    let rounds = tps.len();
    let waiter = thread::spawn(move || -> Result<Vec<Seen>> {
        let mut seen = Vec::new();
        for _ in 0..rounds {
            ready_tx.send(()).expect("main thread waits");
            let started = Instant::now();
            let records: Vec<_> = consumer.poll(LONG)?.into_iter().collect();
            let elapsed = started.elapsed();
            assert_eq!(records.len(), 1, "{records:?}");
            let r = &records[0];
            seen.push((
                elapsed,
                r.topic().to_string(),
                r.partition(),
                r.value().to_vec(),
            ));
        }
        Ok(seen)
    });
    // Last partition first, so that the wake-up does not come from the first one polled.
    let order: Vec<&TopicPartition> = tps.iter().rev().collect();
    for tp in &order {
        ready_rx.recv().expect("consumer thread is polling");
        thread::sleep(SETTLE);
        broker.producer().send(
            &tp.topic,
            Record::new(tp.to_string()).partition(tp.partition),
        )?;
    }
    let seen = waiter.join().expect("consumer thread panicked")?;
    assert_eq!(seen.len(), order.len());
    for ((elapsed, topic, partition, value), tp) in seen.into_iter().zip(order) {
        assert!(elapsed < WOKEN_WITHIN, "{tp}: poll took {elapsed:?}");
        assert_eq!(
            (topic.as_str(), partition),
            (tp.topic.as_str(), tp.partition)
        );
        assert_eq!(value, tp.to_string().into_bytes());
    }
    broker.close()
}

#[test]
fn close_from_another_thread_ends_a_blocked_poll_with_closed() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("t", TopicConfig::default().partitions(2))?;
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Latest));
    consumer.assign(&[TopicPartition::new("t", 0), TopicPartition::new("t", 1)])?;

    let (ready_tx, ready_rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        ready_tx.send(()).expect("main thread waits");
        let started = Instant::now();
        let result = consumer.poll(LONG);
        (started.elapsed(), result)
    });
    ready_rx.recv().expect("consumer thread started");
    thread::sleep(SETTLE);
    broker.clone().close()?;

    let (elapsed, result) = waiter.join().expect("consumer thread panicked");
    assert!(
        elapsed < WOKEN_WITHIN,
        "poll took {elapsed:?} to notice the close"
    );
    assert!(matches!(result, Err(Error::Closed)), "{result:?}");
    Ok(())
}

#[test]
fn iter_yields_records_as_they_are_sent() -> Result<()> {
    const N: usize = 20;
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("t", TopicConfig::default().partitions(2))?;
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new("t", 0), TopicPartition::new("t", 1)])?;

    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        for item in consumer.iter() {
            let item = item.map(|r| (r.partition(), r.offset(), r.value().to_vec()));
            let end = item.is_err();
            if tx.send(item).is_err() || end {
                break;
            }
        }
    });

    // Lock step: each record must come out of `iter` before the next is sent, so the
    // iterator cannot be waiting for a batch or for the end of the stream.
    let producer = broker.producer();
    for i in 0..N {
        let value = format!("r{i}");
        let meta = producer.send("t", Record::new(value.clone()).partition((i % 2) as u32))?;
        let got = rx
            .recv_timeout(WOKEN_WITHIN)
            .unwrap_or_else(|_| panic!("iter did not yield record {i} in {WOKEN_WITHIN:?}"))?;
        assert_eq!(got, (meta.partition, meta.offset, value.into_bytes()));
    }
    assert!(
        rx.try_recv().is_err(),
        "iter yielded a record that was never sent"
    );

    // Closing the broker ends the iteration with Closed.
    broker.close()?;
    let last = rx
        .recv_timeout(WOKEN_WITHIN)
        .expect("iter did not end after close");
    assert!(matches!(last, Err(Error::Closed)), "{last:?}");
    reader.join().expect("reader thread panicked");
    Ok(())
}
