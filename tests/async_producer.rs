//! `Producer::send_async` and `flush_async` under `SyncPolicy::Always`: a thousand sends on
//! a current-thread runtime wait for their fsync without holding up a ticker task on the
//! same thread; async and blocking senders share the rounds, and every offset is handed
//! out once; sends dropped while they wait leave the others to finish; what was sent is
//! there after a reopen.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::thread;
use std::time::Duration;

use strom::{
    Broker, BrokerConfig, ConsumerConfig, OffsetReset, Record, SyncPolicy, TopicConfig,
    TopicPartition,
};

/// Turns a hang into a failure.
const HANG: Duration = Duration::from_secs(60);

fn always(dir: &std::path::Path) -> Broker {
    Broker::open_with(dir, BrokerConfig::default().sync(SyncPolicy::Always)).expect("open")
}

/// Every record of `topic`'s partition 0, read from the start.
fn values(broker: &Broker, topic: &str) -> Vec<String> {
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer
        .assign(&[TopicPartition::new(topic, 0)])
        .expect("assign");
    let mut out = Vec::new();
    loop {
        let records = consumer.poll(Duration::ZERO).expect("poll");
        if records.is_empty() {
            return out;
        }
        out.extend(
            records
                .iter()
                .map(|r| String::from_utf8(r.value().to_vec()).expect("utf-8")),
        );
    }
}

/// A thousand sends in flight on one thread: while they wait for their fsync, a ticker
/// task on that thread runs. A send that fsynced on the executor's thread would finish
/// within its first poll, and the ticker, polled after them all, would find none pending.
#[test]
fn a_thousand_sends_wait_for_their_fsync_while_a_ticker_ticks() {
    const SENDS: usize = 1_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = always(dir.path());
    broker
        .create_topic("ticks", TopicConfig::default())
        .expect("create");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let (offsets, pending_at_first_tick, ticks_while_pending) = runtime.block_on(async {
        let sends: Vec<_> = (0..SENDS)
            .map(|i| {
                let producer = broker.producer();
                let (started, done) = (Arc::clone(&started), Arc::clone(&done));
                tokio::spawn(async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    let meta = producer
                        .send_async("ticks", Record::new(i.to_string()))
                        .await
                        .expect("send");
                    done.fetch_add(1, Ordering::SeqCst);
                    meta.offset
                })
            })
            .collect();
        // Spawned after the sends, so first polled after each has appended.
        let ticker = {
            let (started, done) = (Arc::clone(&started), Arc::clone(&done));
            tokio::spawn(async move {
                assert_eq!(started.load(Ordering::SeqCst), SENDS);
                let pending_at_first_tick = SENDS - done.load(Ordering::SeqCst);
                let mut ticks_while_pending = 0;
                while done.load(Ordering::SeqCst) < SENDS {
                    ticks_while_pending += 1;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                (pending_at_first_tick, ticks_while_pending)
            })
        };
        let mut offsets = BTreeSet::new();
        for send in sends {
            offsets.insert(
                tokio::time::timeout(HANG, send)
                    .await
                    .expect("sent")
                    .expect("task"),
            );
        }
        let (pending, ticks) = ticker.await.expect("ticker");
        (offsets, pending, ticks)
    });
    assert_eq!(offsets, (0..SENDS as u64).collect::<BTreeSet<_>>());
    assert!(
        pending_at_first_tick > 0,
        "every send had finished (fsync and all) before the ticker ran"
    );
    assert!(ticks_while_pending >= 1);
    drop(broker);
    let broker = always(dir.path());
    assert_eq!(values(&broker, "ticks").len(), SENDS);
}

/// Tasks on a multi-thread runtime and threads send under `Always` at once: each offset is
/// handed out once, and everything is there after a reopen.
#[test]
fn async_and_blocking_senders_share_the_fsync_rounds() {
    const EACH: usize = 200;
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = always(dir.path());
    broker
        .create_topic("shared", TopicConfig::default())
        .expect("create");
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let producer = broker.producer();
            thread::spawn(move || {
                (0..EACH)
                    .map(|i| {
                        let record = Record::new(format!("thread-{t}-{i}"));
                        producer.send("shared", record).expect("send").offset
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut offsets: Vec<u64> = runtime.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let producer = broker.producer();
                tokio::spawn(async move {
                    let mut offsets = Vec::new();
                    for i in 0..EACH {
                        let record = Record::new(format!("task-{t}-{i}"));
                        offsets.push(
                            producer
                                .send_async("shared", record)
                                .await
                                .expect("send")
                                .offset,
                        );
                    }
                    offsets
                })
            })
            .collect();
        let mut offsets = Vec::new();
        for task in tasks {
            offsets.extend(
                tokio::time::timeout(HANG, task)
                    .await
                    .expect("sent")
                    .expect("task"),
            );
        }
        offsets
    });
    for t in threads {
        offsets.extend(t.join().expect("sender thread"));
    }
    offsets.sort_unstable();
    assert_eq!(offsets, (0..10 * EACH as u64).collect::<Vec<_>>());
    drop(broker);
    let broker = always(dir.path());
    assert_eq!(values(&broker, "shared").len(), 10 * EACH);
}

/// Sends polled once (appended, waiting for their fsync) and then half of them dropped:
/// the other half still finish, under `block_on`, while threads also send.
#[test]
fn dropped_sends_leave_the_others_to_finish() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = always(dir.path());
    broker
        .create_topic("drops", TopicConfig::default())
        .expect("create");
    let producer = broker.producer();
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let producer = broker.producer();
            thread::spawn(move || {
                for i in 0..100 {
                    producer
                        .send("drops", Record::new(format!("thread-{t}-{i}")))
                        .expect("send");
                }
            })
        })
        .collect();
    for round in 0..20 {
        let mut sends: Vec<
            Pin<Box<dyn Future<Output = strom::Result<strom::RecordMetadata>> + Send + '_>>,
        > = (0..20)
            .map(|i| {
                Box::pin(producer.send_async("drops", Record::new(format!("async-{round}-{i}"))))
                    as Pin<
                        Box<dyn Future<Output = strom::Result<strom::RecordMetadata>> + Send + '_>,
                    >
            })
            .collect();
        // A send whose fsync round had already ended finishes at its first poll: it is not
        // polled again (a finished `async fn` must not be).
        let mut finished = vec![false; sends.len()];
        futures::executor::block_on(std::future::poll_fn(|cx| {
            for (send, done) in sends.iter_mut().zip(&mut finished) {
                if let Poll::Ready(result) = send.as_mut().poll(cx) {
                    result.expect("send");
                    *done = true;
                }
            }
            Poll::Ready(())
        }));
        let kept: Vec<_> = sends
            .into_iter()
            .zip(finished)
            .enumerate()
            .filter_map(|(i, (send, done))| (i % 2 == 0 && !done).then_some(send))
            .collect();
        futures::executor::block_on(async {
            for send in kept {
                send.await.expect("send");
            }
        });
    }
    for t in threads {
        t.join().expect("sender thread");
    }
    // Dropped sends were appended all the same (at their first poll).
    assert_eq!(values(&broker, "drops").len(), 200 + 20 * 20);
}

/// `flush_async` after plain sends under the default policy, under `block_on`: everything is
/// there after a reopen; a flush of a closed broker fails.
#[test]
fn flush_async_makes_earlier_sends_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path()).expect("open");
    broker
        .create_topic("f", TopicConfig::default().partitions(3))
        .expect("create");
    let producer = broker.producer();
    for i in 0..30u32 {
        producer
            .send("f", Record::new(i.to_string()).partition(i % 3))
            .expect("send");
    }
    futures::executor::block_on(producer.flush_async()).expect("flush");
    drop(producer);
    drop(broker);
    let broker = Broker::open(dir.path()).expect("reopen");
    assert_eq!(values(&broker, "f").len(), 10);
    let producer = broker.producer();
    broker.close().expect("close");
    assert!(matches!(
        futures::executor::block_on(producer.flush_async()),
        Err(strom::Error::Closed)
    ));
}
