//! `Consumer::recv` and `Consumer::stream` under tokio's current-thread and multi-thread
//! runtimes and under `futures::executor::block_on`: woken by records sent from threads
//! and from tasks after the future was seen pending; cancelled under `select!` and
//! timeouts with nothing lost or read twice; a dropped stream leaves the position right
//! after its last record; async members of a group share the partitions and wait past
//! `max_poll_interval` without being expired; a close ends a waiting `recv`.
//!
//! The timeouts around the awaits only turn a hang into a failure: each is far longer than
//! any wake-up takes.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::pin;
use std::sync::mpsc;
use std::task::Poll;
use std::thread;
use std::time::Duration;

use futures::StreamExt;
use strom::{Broker, ConsumerConfig, Error, OffsetReset, Record, TopicConfig, TopicPartition};

/// Turns a hang into a failure.
const HANG: Duration = Duration::from_secs(30);

fn earliest() -> ConsumerConfig {
    ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest)
}

fn broker_with(topic: &str, partitions: u32) -> (tempfile::TempDir, Broker) {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path()).expect("open");
    broker
        .create_topic(topic, TopicConfig::default().partitions(partitions))
        .expect("create topic");
    (dir, broker)
}

/// Whether `future` is pending at its first poll (it is kept, to be awaited later).
async fn pending_once<F: Future + Unpin>(future: &mut F) -> bool {
    std::future::poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut *future).poll(cx).is_pending()))
        .await
}

fn value_u64(record: &strom::ConsumerRecord) -> u64 {
    std::str::from_utf8(record.value())
        .expect("utf-8")
        .parse()
        .expect("a number")
}

/// A record sent from another thread once `recv` is known to be waiting wakes it, on
/// `runtime`.
fn woken_by_a_thread(runtime: &tokio::runtime::Runtime) {
    let (_dir, broker) = broker_with("t", 2);
    let mut consumer = broker.consumer(earliest());
    consumer
        .assign(&[TopicPartition::new("t", 0), TopicPartition::new("t", 1)])
        .expect("assign");
    let (go, went) = mpsc::channel::<()>();
    let producer = broker.producer();
    let sender = thread::spawn(move || {
        went.recv().expect("go");
        producer
            .send("t", Record::new("late").partition(1))
            .expect("send");
    });
    runtime.block_on(async {
        let mut recv = pin!(consumer.recv());
        assert!(pending_once(&mut recv).await, "nothing was sent yet");
        go.send(()).expect("go");
        let records = tokio::time::timeout(HANG, recv)
            .await
            .expect("woken")
            .expect("recv");
        let values: Vec<&[u8]> = records.iter().map(strom::ConsumerRecord::value).collect();
        assert_eq!(values, [&b"late"[..]]);
    });
    sender.join().expect("sender");
}

#[test]
fn recv_is_woken_by_a_thread_on_a_current_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    woken_by_a_thread(&runtime);
}

#[test]
fn recv_is_woken_by_a_thread_on_a_multi_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    woken_by_a_thread(&runtime);
}

#[test]
fn recv_under_block_on_is_woken_by_a_thread() {
    let (_dir, broker) = broker_with("t", 1);
    let mut consumer = broker.consumer(earliest());
    consumer
        .assign(&[TopicPartition::new("t", 0)])
        .expect("assign");
    let (go, went) = mpsc::channel::<()>();
    let producer = broker.producer();
    let sender = thread::spawn(move || {
        went.recv().expect("go");
        producer.send("t", Record::new("late")).expect("send");
    });
    let records = futures::executor::block_on(async {
        let mut recv = pin!(consumer.recv());
        assert!(pending_once(&mut recv).await);
        go.send(()).expect("go");
        recv.await
    })
    .expect("recv");
    assert_eq!(records.len(), 1);
    sender.join().expect("sender");
}

/// Records from tasks (`send_async`) and from threads (`send`) at once, read by a stream on
/// a multi-thread runtime: every one exactly once, each partition in send order.
#[test]
fn a_stream_reads_records_from_tasks_and_threads_once_each_in_order() {
    const PER_SENDER: u64 = 300;
    let (_dir, broker) = broker_with("mixed", 3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut consumer = broker.consumer(earliest().max_poll_records(7));
    consumer
        .assign(
            &(0..3)
                .map(|p| TopicPartition::new("mixed", p))
                .collect::<Vec<_>>(),
        )
        .expect("assign");
    // Sender s sends s * PER_SENDER + i to partition s % 3, i in order.
    let threads: Vec<_> = (0..2u64)
        .map(|s| {
            let producer = broker.producer();
            thread::spawn(move || {
                for i in 0..PER_SENDER {
                    let value = (s * PER_SENDER + i).to_string();
                    let record = Record::new(value).partition((s % 3) as u32);
                    producer.send("mixed", record).expect("send");
                }
            })
        })
        .collect();
    let seen = runtime.block_on(async {
        let tasks: Vec<_> = (2..4u64)
            .map(|s| {
                let producer = broker.producer();
                tokio::spawn(async move {
                    for i in 0..PER_SENDER {
                        let value = (s * PER_SENDER + i).to_string();
                        let record = Record::new(value).partition((s % 3) as u32);
                        producer.send_async("mixed", record).await.expect("send");
                    }
                })
            })
            .collect();
        let reading = async {
            let mut stream = consumer.stream();
            let mut seen = Vec::new();
            while seen.len() < (4 * PER_SENDER) as usize {
                let record = stream.next().await.expect("never ends").expect("record");
                seen.push((record.partition(), value_u64(&record)));
            }
            seen
        };
        let seen = tokio::time::timeout(HANG, reading).await.expect("all read");
        for task in tasks {
            task.await.expect("task");
        }
        seen
    });
    for t in threads {
        t.join().expect("sender thread");
    }
    let distinct: BTreeSet<u64> = seen.iter().map(|&(_, v)| v).collect();
    assert_eq!(distinct, (0..4 * PER_SENDER).collect::<BTreeSet<_>>());
    for s in 0..4u64 {
        let of_sender: Vec<u64> = seen
            .iter()
            .filter(|&&(_, v)| v / PER_SENDER == s)
            .map(|&(p, v)| {
                assert_eq!(u64::from(p), s % 3, "value {v} in the wrong partition");
                v
            })
            .collect();
        assert!(
            of_sender.windows(2).all(|w| w[0] < w[1]),
            "sender {s} out of order"
        );
    }
}

/// `recv` raced against a timer in `select!` and cut short by timeouts, over and over while
/// a thread sends: every record is returned once. The thread sends in chunks, and starts
/// each only once a `recv` was cancelled since the last, so that cancellations happen
/// however the threads are scheduled.
#[test]
fn cancelled_recvs_lose_and_repeat_nothing() {
    const COUNT: u64 = 2_000;
    const CHUNK: u64 = 100;
    let (_dir, broker) = broker_with("c", 2);
    let mut consumer = broker.consumer(earliest().max_poll_records(5));
    consumer
        .assign(&[TopicPartition::new("c", 0), TopicPartition::new("c", 1)])
        .expect("assign");
    let producer = broker.producer();
    let (cancelled_tx, cancelled_rx) = mpsc::channel::<()>();
    let sender = thread::spawn(move || {
        for i in 0..COUNT {
            if i % CHUNK == 0 && i > 0 {
                cancelled_rx.recv().expect("the reader cancels");
                while cancelled_rx.try_recv().is_ok() {}
            }
            let record = Record::new(i.to_string()).partition((i % 2) as u32);
            producer.send("c", record).expect("send");
            if i % 16 == 0 {
                thread::yield_now();
            }
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (seen, cancelled) = runtime.block_on(async {
        let mut seen = Vec::new();
        let mut cancelled = 0u64;
        let mut round = 0u64;
        let reading = async {
            while (seen.len() as u64) < COUNT {
                round += 1;
                // Alternately a zero timeout (cancelled at its first poll when nothing is
                // there) and a select against a short timer.
                let got = if round.is_multiple_of(2) {
                    tokio::time::timeout(Duration::ZERO, consumer.recv())
                        .await
                        .ok()
                } else {
                    tokio::select! {
                        records = consumer.recv() => Some(records),
                        () = tokio::time::sleep(Duration::from_micros(200)) => None,
                    }
                };
                match got {
                    Some(records) => {
                        seen.extend(records.expect("recv").iter().map(value_u64));
                    }
                    None => {
                        cancelled += 1;
                        // The sender is gone once it has sent everything.
                        let _ = cancelled_tx.send(());
                    }
                }
            }
        };
        tokio::time::timeout(HANG, reading).await.expect("all read");
        (seen, cancelled)
    });
    sender.join().expect("sender");
    let distinct: BTreeSet<u64> = seen.iter().copied().collect();
    assert_eq!(seen.len() as u64, COUNT, "a record was returned twice");
    assert_eq!(distinct, (0..COUNT).collect::<BTreeSet<_>>());
    // At least one per chunk after the first.
    assert!(cancelled >= COUNT / CHUNK - 1);
}

/// A stream dropped part-way through what it fetched: the position is right after the last
/// record it yielded, and a new stream goes on from there.
#[test]
fn a_dropped_stream_leaves_the_position_after_its_last_record() {
    let (_dir, broker) = broker_with("s", 1);
    broker
        .producer()
        .send_batch("s", (0..10u64).map(|i| Record::new(i.to_string())))
        .expect("send");
    let tp = TopicPartition::new("s", 0);
    let mut consumer = broker.consumer(
        earliest()
            .group_id("readers")
            .enable_auto_commit(false)
            .max_poll_records(100),
    );
    consumer.assign(std::slice::from_ref(&tp)).expect("assign");
    futures::executor::block_on(async {
        let first: Vec<u64> = consumer
            .stream()
            .take(3)
            .map(|r| value_u64(&r.expect("record")))
            .collect()
            .await;
        assert_eq!(first, [0, 1, 2]);
        // All ten were fetched at once; seven were never yielded.
        assert_eq!(consumer.position(&tp), Some(3));
        consumer.commit().expect("commit");
        assert_eq!(consumer.committed(&tp).expect("committed"), Some(3));
        let rest: Vec<u64> = consumer
            .stream()
            .take(7)
            .map(|r| value_u64(&r.expect("record")))
            .collect()
            .await;
        assert_eq!(rest, (3..10).collect::<Vec<_>>());
    });
}

/// Three async members of a group, subscribed before any record is sent, each in a task
/// of a multi-thread runtime: each reads two partitions of its own, and every record is
/// read once.
#[test]
fn async_group_members_share_the_partitions() {
    const COUNT: u64 = 1_200;
    let (_dir, broker) = broker_with("g", 6);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let members: Vec<_> = (0..3)
        .map(|_| {
            let mut consumer = broker.consumer(earliest().group_id("sharing"));
            consumer.subscribe(["g"]).expect("subscribe");
            consumer
        })
        .collect();
    let group = broker.describe_group("sharing").expect("describe");
    assert_eq!(group.members.len(), 3);
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let (count_tx, mut count_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let read = runtime.block_on(async {
        let tasks: Vec<_> = members
            .into_iter()
            .map(|mut consumer| {
                let mut done = done_rx.clone();
                let count = count_tx.clone();
                tokio::spawn(async move {
                    let mut read = Vec::new();
                    loop {
                        tokio::select! {
                            records = consumer.recv() => {
                                let records = records.expect("recv");
                                for r in &records {
                                    read.push((r.partition(), value_u64(r)));
                                }
                                count.send(records.len()).expect("count");
                            }
                            _ = done.changed() => break,
                        }
                    }
                    consumer.close().expect("close");
                    read
                })
            })
            .collect();
        let producer = broker.producer();
        for i in 0..COUNT {
            let record = Record::new(i.to_string()).key(format!("key-{}", i % 97));
            producer.send_async("g", record).await.expect("send");
        }
        let counted = async {
            let mut total = 0;
            while total < COUNT as usize {
                total += count_rx.recv().await.expect("members run");
            }
        };
        tokio::time::timeout(HANG, counted).await.expect("all read");
        done_tx.send(true).expect("done");
        let mut read = Vec::new();
        for task in tasks {
            read.push(task.await.expect("member task"));
        }
        read
    });
    let mut all = Vec::new();
    let mut owners = BTreeSet::new();
    for records in &read {
        let partitions: BTreeSet<u32> = records.iter().map(|&(p, _)| p).collect();
        assert_eq!(partitions.len(), 2, "six partitions over three members");
        assert!(
            owners.is_disjoint(&partitions),
            "a partition read by two members"
        );
        owners.extend(partitions);
        all.extend(records.iter().map(|&(_, v)| v));
    }
    assert_eq!(owners, (0..6).collect::<BTreeSet<_>>());
    all.sort_unstable();
    assert_eq!(all, (0..COUNT).collect::<Vec<_>>(), "each record once");
}

/// A member waiting in `recv` for longer than its `max_poll_interval` is as alive as a
/// thread blocked in `poll`: another member's check-in does not expire it.
#[test]
fn a_member_waiting_in_recv_is_not_expired() {
    let (_dir, broker) = broker_with("w", 2);
    let config = earliest()
        .group_id("patient")
        .max_poll_interval(Duration::from_millis(50));
    let mut waiting = broker.consumer(config.clone());
    waiting.subscribe(["w"]).expect("subscribe");
    let mut other = broker.consumer(config);
    other.subscribe(["w"]).expect("subscribe");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut recv = pin!(waiting.recv());
        assert!(pending_once(&mut recv).await);
        // Past the interval, the other member checks in, which expires members that did
        // not poll within theirs.
        tokio::time::sleep(Duration::from_millis(200)).await;
        other.poll(Duration::ZERO).expect("poll");
        assert_eq!(
            broker
                .describe_group("patient")
                .expect("describe")
                .members
                .len(),
            2,
            "the waiting member was expired"
        );
        broker
            .producer()
            .send_batch(
                "w",
                [Record::new("a").partition(0), Record::new("b").partition(1)],
            )
            .expect("send");
        let records = tokio::time::timeout(HANG, recv)
            .await
            .expect("woken")
            .expect("recv");
        assert!(!records.is_empty());
    });
}

/// Closing the broker ends a waiting `recv` with `Error::Closed`, and a stream after it.
#[test]
fn a_close_ends_a_waiting_recv_and_stream() {
    let (_dir, broker) = broker_with("x", 1);
    let mut consumer = broker.consumer(earliest());
    consumer
        .assign(&[TopicPartition::new("x", 0)])
        .expect("assign");
    let (go, went) = mpsc::channel::<()>();
    let closer = thread::spawn(move || {
        went.recv().expect("go");
        broker.close().expect("close");
    });
    futures::executor::block_on(async {
        let mut stream = consumer.stream();
        let mut next = stream.next();
        assert!(pending_once(&mut next).await);
        go.send(()).expect("go");
        assert!(matches!(next.await, Some(Err(Error::Closed))));
        assert!(
            stream.next().await.is_none(),
            "the stream ends after Closed"
        );
    });
    closer.join().expect("closer");
}

/// The futures and the stream can be spawned on a multi-thread runtime.
#[test]
fn futures_and_streams_are_send() {
    fn send<T: Send>(_: &T) {}
    let (_dir, broker) = broker_with("y", 1);
    let mut consumer = broker.consumer(earliest());
    send(&consumer.recv());
    send(&consumer.stream());
    let producer = broker.producer();
    send(&producer.send_async("y", Record::new("v")));
    send(&producer.flush_async());
}

/// A member waiting in `recv` is woken by a rebalance and lets go of the partitions that
/// move: a member that joins later gets its share without the first one receiving a
/// record.
#[test]
fn a_rebalance_wakes_a_member_waiting_in_recv() {
    let (_dir, broker) = broker_with("r", 4);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut first = broker.consumer(earliest().group_id("movers"));
    first.subscribe(["r"]).expect("subscribe");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (polled, first_polled) = mpsc::channel::<()>();
    let waiting = runtime.spawn(async move {
        {
            let mut recv = pin!(first.recv());
            // Pending: it has taken all four partitions and waits for records.
            assert!(pending_once(&mut recv).await);
            polled.send(()).expect("polled");
            tokio::select! {
                records = recv => panic!("no record was sent, got {records:?}"),
                _ = stopped => {}
            }
        }
        first.assignment().len()
    });
    first_polled.recv().expect("first member polled");
    let mut second = broker.consumer(earliest().group_id("movers"));
    second.subscribe(["r"]).expect("subscribe");
    let deadline = std::time::Instant::now() + HANG;
    while second.assignment().len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first member never let go"
        );
        second.poll(Duration::from_millis(10)).expect("poll");
    }
    stop.send(()).expect("stop");
    assert_eq!(runtime.block_on(waiting).expect("first member"), 2);
}

/// A member left without a partition (two members, one partition) waits in `recv` with no
/// log to wake it: the broker's close does, and `recv` returns `Error::Closed`.
#[test]
fn a_close_ends_the_recv_of_a_member_without_partitions() {
    let (_dir, broker) = broker_with("one", 1);
    let mut holder = broker.consumer(earliest().group_id("crowded"));
    holder.subscribe(["one"]).expect("subscribe");
    holder.poll(Duration::ZERO).expect("poll");
    assert_eq!(holder.assignment().len(), 1);
    let mut idle = broker.consumer(earliest().group_id("crowded"));
    idle.subscribe(["one"]).expect("subscribe");
    let (go, went) = mpsc::channel::<()>();
    let closer = thread::spawn(move || {
        went.recv().expect("go");
        broker.close().expect("close");
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut recv = pin!(idle.recv());
        assert!(pending_once(&mut recv).await);
        go.send(()).expect("go");
        let ended = tokio::time::timeout(HANG, recv)
            .await
            .expect("woken by the close");
        assert!(matches!(ended, Err(Error::Closed)), "{ended:?}");
    });
    closer.join().expect("closer");
    drop(holder);
}
