//! strom inside a tokio application: a producer task sends orders with `send_async` under
//! `SyncPolicy::Always` (each acknowledged once fsynced, without blocking the runtime's
//! threads), and a consumer group of tasks reads them with `Consumer::stream`. Ctrl-C
//! shuts down gracefully: the producer stops, each member commits and leaves the group.
//!
//! By default the run is bounded: it stops once every order sent has been read, then checks
//! that each was read exactly once, by the member that held its partition, and exits
//! non-zero if not.
//!
//! ```text
//! cargo run --example async_tokio
//! cargo run --example async_tokio -- --orders 0   # until Ctrl-C
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use futures::{FutureExt, StreamExt};
use strom::{
    Broker, BrokerConfig, Consumer, ConsumerConfig, OffsetReset, Producer, Record, SyncPolicy,
    TopicConfig,
};
use tokio::sync::{mpsc, watch};

const TOPIC: &str = "orders";
const GROUP: &str = "order-processors";

const USAGE: &str = "\
A producer task and a consumer group of tasks on tokio, sharing one strom broker.

usage: cargo run --example async_tokio -- [options]
  --orders N       orders to send, then stop once all are read and check them
                   (default 5000; 0: send until Ctrl-C)
  --members N      members of the consumer group, one task each (default 3)
  --partitions N   partitions of the topic (default 6)
  --dir PATH       keep the log in PATH (default: a temporary directory, removed at the end)
  --help           this text";

struct Options {
    orders: u64,
    members: usize,
    partitions: u32,
    dir: Option<PathBuf>,
}

/// The options, or `None` for `--help`.
fn parse_args() -> Result<Option<Options>, String> {
    let mut options = Options {
        orders: 5_000,
        members: 3,
        partitions: 6,
        dir: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--orders" => options.orders = number(&arg, &value()?)?,
            "--members" => options.members = number(&arg, &value()?)?,
            "--partitions" => options.partitions = number(&arg, &value()?)?,
            "--dir" => options.dir = Some(PathBuf::from(value()?)),
            "--help" | "-h" => return Ok(None),
            other => return Err(format!("unknown option {other} (see --help)")),
        }
    }
    if options.members == 0 || options.partitions == 0 {
        return Err("--members and --partitions must be at least 1".into());
    }
    Ok(Some(options))
}

fn number<T: std::str::FromStr>(arg: &str, value: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e| format!("{arg} {value}: {e}"))
}

/// What a member read: (partition, order number) in the order it read them.
type Read = Vec<(u32, u64)>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(options) = parse_args()? else {
        println!("{USAGE}");
        return Ok(());
    };
    let temporary = std::env::temp_dir().join(format!("strom-async-tokio-{}", std::process::id()));
    let dir = options.dir.clone().unwrap_or(temporary);
    let result = run(&options, &dir).await;
    if options.dir.is_none() && dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    result
}

async fn run(options: &Options, dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let broker = Broker::open_with(dir, BrokerConfig::default().sync(SyncPolicy::Always))?;
    match broker.create_topic(TOPIC, TopicConfig::default().partitions(options.partitions)) {
        Ok(()) | Err(strom::Error::TopicExists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    // Orders already in a kept --dir were read by an earlier run; this one checks its own.
    let first_order = broker
        .describe_topic(TOPIC)?
        .partitions
        .iter()
        .map(|p| p.high_watermark)
        .sum::<u64>();

    // `true` once the application should stop: on Ctrl-C, or once everything sent was read.
    let (shutdown, stopping) = watch::channel(false);
    let (read_tx, mut read_rx) = mpsc::unbounded_channel::<usize>();
    // All members join before any reads, so that the partitions do not move while orders
    // flow (they would, correctly, but the check below could no longer tell who read what).
    let mut members = Vec::new();
    for i in 0..options.members {
        let mut consumer = broker.consumer(
            ConsumerConfig::default()
                .group_id(GROUP)
                .auto_offset_reset(OffsetReset::Earliest),
        );
        consumer.subscribe([TOPIC])?;
        members.push(tokio::spawn(member(
            i,
            consumer,
            stopping.clone(),
            read_tx.clone(),
        )));
    }
    drop(read_tx);

    let producer = tokio::spawn(produce(
        broker.producer(),
        first_order,
        options.orders,
        stopping,
    ));

    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    // Scripts that interrupt the run wait for this line (the handler is installed).
    ctrl_c.as_mut().now_or_never();
    println!(
        "{} members reading {TOPIC} in {}; Ctrl-C stops",
        options.members,
        dir.display()
    );
    let mut read = 0u64;
    let all_read = loop {
        tokio::select! {
            _ = &mut ctrl_c => {
                println!("Ctrl-C: stopping");
                break false;
            }
            n = read_rx.recv() => match n {
                Some(n) => read += n as u64,
                // Every member stopped (on an error, returned below).
                None => break false,
            },
        }
        if options.orders != 0 && read >= options.orders {
            break true;
        }
    };
    // Once everything was read, the producer has finished (its last sends may still be
    // waiting for their fsync); else it is stopped first. A send cut short may still have
    // been appended: the check below counts what is in the log, not what was acknowledged.
    if !all_read {
        let _ = shutdown.send(true);
    }
    let sent = producer.await??;
    let _ = shutdown.send(true);
    let mut by_member = Vec::new();
    for member in members {
        by_member.push(member.await?.map_err(|e| e.to_string())?);
    }
    let in_log = broker
        .describe_topic(TOPIC)?
        .partitions
        .iter()
        .map(|p| p.high_watermark)
        .sum::<u64>()
        - first_order;
    println!("sent {sent} orders ({in_log} in the log); read {read}");
    check(&by_member, first_order, in_log, all_read)?;
    broker.close()?;
    println!("ok: every order read once, each partition by one member");
    Ok(())
}

/// Member `i` of the group: reads orders until `stopping`, tells `read_tx` of each, then
/// commits and leaves.
async fn member(
    i: usize,
    mut consumer: Consumer,
    mut stopping: watch::Receiver<bool>,
    read_tx: mpsc::UnboundedSender<usize>,
) -> Result<Read, Box<dyn std::error::Error + Send + Sync>> {
    let mut read: Read = Vec::new();
    {
        let mut orders = consumer.stream();
        loop {
            tokio::select! {
                // Checked first: once stopping, no more orders are taken.
                biased;
                _ = stopping.changed() => break,
                // The stream is cancel-safe: whatever it had not yielded is read again
                // after a restart, never skipped.
                next = orders.next() => {
                    let record = next.expect("a consumer's stream never ends")?;
                    let order: u64 = std::str::from_utf8(record.value())
                        .ok()
                        .and_then(|v| v.strip_prefix("order-"))
                        .and_then(|n| n.parse().ok())
                        .ok_or_else(|| format!("not an order at {record:?}"))?;
                    read.push((record.partition(), order));
                    let _ = read_tx.send(1);
                }
            }
        }
    }
    println!(
        "  member {i}: read {} orders, committing and leaving",
        read.len()
    );
    // Commits the position right after the last order read, and leaves.
    consumer.close()?;
    Ok(read)
}

/// Sends `orders` orders numbered from `first` (0: until `stopping`); returns how many
/// were acknowledged.
async fn produce(
    producer: Producer,
    first: u64,
    orders: u64,
    mut stopping: watch::Receiver<bool>,
) -> strom::Result<u64> {
    let mut sent = 0u64;
    while orders == 0 || sent < orders {
        let order = first + sent;
        let record = Record::new(format!("order-{order}")).key(format!("customer-{}", order % 101));
        tokio::select! {
            // Acknowledged once fsynced; other tasks run meanwhile.
            meta = producer.send_async(TOPIC, record) => { meta?; }
            _ = stopping.changed() => break,
        }
        sent += 1;
    }
    Ok(sent)
}

/// Each order read at most once (each of this run's exactly once when `complete`), and each
/// partition read by a single member (the group did not rebalance while orders flowed).
fn check(by_member: &[Read], first: u64, in_log: u64, complete: bool) -> Result<(), String> {
    let mut times_read: BTreeMap<u64, usize> = BTreeMap::new();
    let mut reader_of: BTreeMap<u32, usize> = BTreeMap::new();
    for (member, read) in by_member.iter().enumerate() {
        for &(partition, order) in read {
            *times_read.entry(order).or_default() += 1;
            if *reader_of.entry(partition).or_insert(member) != member {
                return Err(format!("partition {partition} was read by two members"));
            }
        }
    }
    if let Some((order, n)) = times_read.iter().find(|&(_, &n)| n > 1) {
        return Err(format!("order {order} was read {n} times"));
    }
    if let Some(order) = times_read.keys().find(|&&o| o >= first + in_log) {
        return Err(format!("order {order} was never sent"));
    }
    // Orders below `first` are an earlier run's (in a kept --dir) that it left unread.
    let this_run = times_read.range(first..).count() as u64;
    if complete && this_run != in_log {
        return Err(format!("{this_run} of {in_log} orders read"));
    }
    Ok(())
}
