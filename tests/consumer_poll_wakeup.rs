//! A consumer blocked in a long `poll` wakes for a record sent from another thread (to any assigned partition), returns `Err(Closed)` when the broker closes and `UnknownTopic` when its topic is deleted (parked or spinning), and `iter()` yields records as they are sent.
//!
//! The sending thread acts only once the polling thread is waiting inside `poll`, which it
//! sees in /proc (Linux): the thread is asleep, or, for a consumer that spins instead of
//! parking, has spun for several clock ticks. So a slow start of the polling thread cannot
//! turn a wake-up into a record that was simply there when `poll` began. Elsewhere the test
//! cannot tell, and sends at once.

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
/// Bounds the wait for the polling thread to be waiting in `poll`.
const DEADLINE: Duration = Duration::from_secs(30);
/// CPU time, in clock ticks, after which a thread spinning in `poll` is surely in its wait:
/// the polling thread does nothing between saying that it calls `poll` and the call, and
/// `poll` takes microseconds of CPU to reach its wait.
const SPIN_TICKS: u64 = 5;

/// How the polling thread waits in `poll`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waits {
    Parked,
    Spinning,
}

/// On the polling thread: its kernel thread id, if /proc tells it.
fn this_thread() -> Option<u64> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// The state letter and the CPU time (user + system, in clock ticks) of this process's
/// thread `tid`, or `None` once the thread has ended.
fn thread_stat(tid: u64) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold anything:
    // state, ppid, pgrp, session, tty_nr, tpgid, flags, 4 fault counts, utime, stime.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((state, utime + stime))
}

/// Returns once thread `tid`, which has said that it is calling `poll`, waits inside it:
/// asleep (state `S`) or, if it spins, after `SPIN_TICKS` of CPU time. Fails if the thread
/// ended first: its `poll` returned although nothing had been sent. Without /proc (`tid`
/// is `None`), returns at once.
///
/// On its way into the wait the thread sleeps only if it must wait for a lock that the
/// broker's maintenance thread holds, which is rare and brief; the send may then come
/// before the wait, and the round passes without proving the wake-up, but never fails.
fn wait_until_waiting(tid: Option<u64>, waits: Waits) {
    let Some(tid) = tid else { return };
    let gone = "the polling thread ended: poll returned before anything was sent";
    let (_, cpu_before) = thread_stat(tid).expect(gone);
    let until = Instant::now() + DEADLINE;
    loop {
        let (state, cpu) = thread_stat(tid).expect(gone);
        let waiting = match waits {
            Waits::Parked => state == 'S',
            Waits::Spinning => cpu >= cpu_before + SPIN_TICKS,
        };
        if waiting {
            return;
        }
        assert!(
            Instant::now() < until,
            "the polling thread is not waiting in poll after {DEADLINE:?}: state {state}, {} ticks of CPU",
            cpu - cpu_before
        );
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn blocked_poll_returns_the_record_sent_by_another_thread() -> Result<()> {
    blocked_poll_wakes(ConsumerConfig::default(), Waits::Parked)
}

#[test]
fn a_consumer_that_parks_at_once_wakes_too() -> Result<()> {
    blocked_poll_wakes(
        ConsumerConfig::default().spin_wait(Duration::ZERO),
        Waits::Parked,
    )
}

#[test]
fn a_consumer_spinning_through_the_wait_sees_the_record() -> Result<()> {
    blocked_poll_wakes(ConsumerConfig::default().spin_wait(LONG), Waits::Spinning)
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

fn blocked_poll_wakes(config: ConsumerConfig, waits: Waits) -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("t", TopicConfig::default())?;
    let tp = TopicPartition::new("t", 0);
    let mut consumer = broker.consumer(config.auto_offset_reset(OffsetReset::Latest));
    consumer.assign(std::slice::from_ref(&tp))?;

    let (ready_tx, ready_rx) = mpsc::channel();
    let waiter = thread::spawn(move || -> Result<_> {
        ready_tx.send(this_thread()).expect("main thread waits");
        let records = consumer.poll(LONG)?;
        Ok((Instant::now(), records, consumer))
    });
    let tid = ready_rx.recv().expect("consumer thread started");
    wait_until_waiting(tid, waits);
    let sent = Instant::now();
    let meta = broker
        .producer()
        .send("t", Record::new("wake up").key("k"))?;

    let (returned, records, consumer) = waiter.join().expect("consumer thread panicked")?;
    let took = returned.saturating_duration_since(sent);
    assert!(took < WOKEN_WITHIN, "poll took {took:?} to see the record");
    let records: Vec<_> = records.into_iter().collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].offset(), meta.offset);
    assert_eq!(records[0].value(), b"wake up");
    assert_eq!(records[0].key(), Some(&b"k"[..]));
    assert_eq!(consumer.position(&tp), Some(meta.offset + 1));
    broker.close()
}

/// What one wake-up returned: when, and the record's topic, partition, value.
type Seen = (Instant, String, u32, Vec<u8>);

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
        let tid = this_thread();
        let mut seen = Vec::new();
        for _ in 0..rounds {
            ready_tx.send(tid).expect("main thread waits");
            let records: Vec<_> = consumer.poll(LONG)?.into_iter().collect();
            let returned = Instant::now();
            assert_eq!(records.len(), 1, "{records:?}");
            let r = &records[0];
            seen.push((
                returned,
                r.topic().to_string(),
                r.partition(),
                r.value().to_vec(),
            ));
        }
        Ok(seen)
    });
    // Last partition first, so that the wake-up does not come from the first one polled.
    let order: Vec<&TopicPartition> = tps.iter().rev().collect();
    let mut sent = Vec::new();
    for tp in &order {
        let tid = ready_rx.recv().expect("consumer thread is polling");
        wait_until_waiting(tid, Waits::Parked);
        sent.push(Instant::now());
        broker.producer().send(
            &tp.topic,
            Record::new(tp.to_string()).partition(tp.partition),
        )?;
    }
    let seen = waiter.join().expect("consumer thread panicked")?;
    assert_eq!(seen.len(), order.len());
    for (((returned, topic, partition, value), tp), sent) in seen.into_iter().zip(order).zip(sent) {
        let took = returned.saturating_duration_since(sent);
        assert!(took < WOKEN_WITHIN, "{tp}: poll took {took:?}");
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
    blocked_poll_ends(ConsumerConfig::default(), Waits::Parked, Ending::Close)
}

#[test]
fn close_ends_a_spinning_poll_too() -> Result<()> {
    blocked_poll_ends(
        ConsumerConfig::default().spin_wait(LONG),
        Waits::Spinning,
        Ending::Close,
    )
}

#[test]
fn deleting_the_topic_ends_a_blocked_poll() -> Result<()> {
    blocked_poll_ends(
        ConsumerConfig::default(),
        Waits::Parked,
        Ending::DeleteTopic,
    )
}

#[test]
fn deleting_the_topic_ends_a_spinning_poll() -> Result<()> {
    blocked_poll_ends(
        ConsumerConfig::default().spin_wait(LONG),
        Waits::Spinning,
        Ending::DeleteTopic,
    )
}

/// What ends a blocked poll without a record.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Close,
    DeleteTopic,
}

fn blocked_poll_ends(config: ConsumerConfig, waits: Waits, ending: Ending) -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("t", TopicConfig::default().partitions(2))?;
    let mut consumer = broker.consumer(config.auto_offset_reset(OffsetReset::Latest));
    consumer.assign(&[TopicPartition::new("t", 0), TopicPartition::new("t", 1)])?;

    let (ready_tx, ready_rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        ready_tx.send(this_thread()).expect("main thread waits");
        let result = consumer.poll(LONG);
        (Instant::now(), result)
    });
    let tid = ready_rx.recv().expect("consumer thread started");
    wait_until_waiting(tid, waits);
    let ending_at = Instant::now();
    match ending {
        Ending::Close => broker.clone().close()?,
        Ending::DeleteTopic => broker.delete_topic("t")?,
    }

    let (returned, result) = waiter.join().expect("consumer thread panicked");
    let took = returned.saturating_duration_since(ending_at);
    assert!(
        took < WOKEN_WITHIN,
        "poll took {took:?} to notice {ending:?}"
    );
    match ending {
        Ending::Close => assert!(matches!(result, Err(Error::Closed)), "{result:?}"),
        Ending::DeleteTopic => assert!(
            matches!(&result, Err(Error::UnknownTopic { topic }) if topic == "t"),
            "{result:?}"
        ),
    }
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
