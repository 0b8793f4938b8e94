//! Rebalance time of a consumer group: from a new member's `subscribe` until every
//! partition is owned again (the old owners let go at their next poll, the new member
//! takes over), and from a member's `close` until its partitions are owned by the others.
//! Members poll with a 200 µs timeout, so the figures are the hand-over itself rather
//! than how long a poll waits for records. Custom timing: the median of several rounds.
//!
//! Run: `cargo bench --bench group`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use strom::{Broker, ConsumerConfig, TopicConfig};

const PARTITIONS: u32 = 12;
const ROUNDS: usize = 15;

/// Members polling on their own threads, publishing how many partitions they hold.
fn start_members(
    broker: &Broker,
    n: usize,
    stop: &Arc<AtomicBool>,
) -> (Vec<Arc<AtomicUsize>>, Vec<thread::JoinHandle<()>>) {
    let mut held = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..n {
        let count = Arc::new(AtomicUsize::new(0));
        held.push(Arc::clone(&count));
        let (broker, stop) = (broker.clone(), Arc::clone(stop));
        handles.push(thread::spawn(move || {
            let mut consumer = broker.consumer(ConsumerConfig::default().group_id("bench"));
            consumer.subscribe(["events"]).expect("subscribe");
            while !stop.load(Ordering::Acquire) {
                consumer.poll(Duration::from_micros(200)).expect("poll");
                count.store(consumer.assignment().len(), Ordering::Release);
            }
            consumer.close().expect("close");
        }));
    }
    (held, handles)
}

fn total(held: &[Arc<AtomicUsize>]) -> usize {
    held.iter().map(|h| h.load(Ordering::Acquire)).sum()
}

fn wait_until(deadline: Duration, done: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !done() && start.elapsed() < deadline {
        thread::yield_now();
    }
    start.elapsed()
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path()).expect("open");
    broker
        .create_topic("events", TopicConfig::default().partitions(PARTITIONS))
        .expect("topic");
    let stop = Arc::new(AtomicBool::new(false));
    let (held, handles) = start_members(&broker, 3, &stop);
    wait_until(Duration::from_secs(10), || {
        total(&held) == PARTITIONS as usize
    });

    let mut joins = Vec::new();
    let mut leaves = Vec::new();
    for _ in 0..ROUNDS {
        let member_stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let (new, new_handles) = start_members(&broker, 1, &member_stop);
        let all: Vec<Arc<AtomicUsize>> = held.iter().chain(&new).cloned().collect();
        wait_until(Duration::from_secs(10), || {
            new[0].load(Ordering::Acquire) > 0 && total(&all) == PARTITIONS as usize
        });
        joins.push(start.elapsed());
        let start = Instant::now();
        member_stop.store(true, Ordering::Release);
        for h in new_handles {
            h.join().expect("member");
        }
        wait_until(Duration::from_secs(10), || {
            total(&held) == PARTITIONS as usize
        });
        leaves.push(start.elapsed());
    }
    stop.store(true, Ordering::Release);
    for h in handles {
        h.join().expect("member");
    }
    joins.sort();
    leaves.sort();
    let median = |v: &[Duration]| v[v.len() / 2].as_secs_f64() * 1e3;
    println!("| rebalance ({PARTITIONS} partitions, 3 members) | median ms | max ms |");
    println!("|---|---|---|");
    println!(
        "| a 4th member joins until all partitions are owned | {:.2} | {:.2} |",
        median(&joins),
        joins[joins.len() - 1].as_secs_f64() * 1e3
    );
    println!(
        "| it closes until the others own its partitions | {:.2} | {:.2} |",
        median(&leaves),
        leaves[leaves.len() - 1].as_secs_f64() * 1e3
    );
    broker.close().expect("close");
}
