//! A process killed with SIGKILL while several threads append loses no acknowledged record: after recovery every acknowledged record is at its offset with its value, offsets are contiguous from 0, and appends continue at the high watermark — over repeated crashes on the same directory.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strom::{
    Broker, BrokerConfig, ConsumerConfig, OffsetReset, Record, Result, SyncPolicy, TopicConfig,
    TopicPartition,
};

mod common;

use common::{checked_body, checksummed, env_number};

const CHILD_ENV: &str = "STROM_CRASH_CHILD";
const ROUND_ENV: &str = "STROM_CRASH_ROUND";
const SYNC_ENV: &str = "STROM_CRASH_SYNC";
const TOPIC: &str = "crash";
const PARTITIONS: u32 = 3;
const THREADS: u32 = 3;
/// The "thread" number of the records the parent appends after each recovery.
const PARENT: u32 = 9;
/// Segments are small, so that rolls happen during every run.
const SEGMENT_BYTES: u64 = 64 * 1024;

/// What a record says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Origin {
    round: u32,
    thread: u32,
    seq: u64,
    /// The first seq of the `send`/`send_batch` call it was part of.
    call: u64,
}

fn filler(seq: u64) -> String {
    let len = usize::try_from(seq * 13 % 200).expect("small");
    "abcdefghijklmnopqrstuvwxyz".repeat(8)[..len].to_string()
}

fn key(thread: u32, seq: u64) -> String {
    format!("k{thread}-{}", seq % 40)
}

/// `round.thread.seq.call.filler.checksum`: printable, without spaces, self-checking.
fn value(o: Origin) -> String {
    checksummed(&format!(
        "{}.{}.{}.{}.{}",
        o.round,
        o.thread,
        o.seq,
        o.call,
        filler(o.seq)
    ))
}

/// Parses and checks a value; `None` if it is not one `value` made.
fn parse(value: &[u8]) -> Option<Origin> {
    let body = checked_body(value)?;
    let mut parts = body.split('.');
    let origin = Origin {
        round: parts.next()?.parse().ok()?,
        thread: parts.next()?.parse().ok()?,
        seq: parts.next()?.parse().ok()?,
        call: parts.next()?.parse().ok()?,
    };
    (parts.next()? == filler(origin.seq) && parts.next().is_none()).then_some(origin)
}

fn record(o: Origin) -> Record {
    Record::new(value(o)).key(key(o.thread, o.seq))
}

/// One writer thread of the child: single sends and batches of up to 7 records, each
/// acknowledged record printed as `ACK partition offset value` once `send` returned.
fn write_forever(broker: &Broker, round: u32, thread: u32, until: Instant) -> Result<()> {
    let producer = broker.producer();
    let mut seq = 0;
    while Instant::now() < until {
        let n = if seq % 4 == 3 { 1 + seq % 7 } else { 1 };
        let origins: Vec<Origin> = (seq..seq + n)
            .map(|s| Origin {
                round,
                thread,
                seq: s,
                call: seq,
            })
            .collect();
        let metas = if n == 1 {
            vec![producer.send(TOPIC, record(origins[0]))?]
        } else {
            producer.send_batch(TOPIC, origins.iter().map(|&o| record(o)))?
        };
        let mut out = std::io::stdout().lock();
        for (meta, &o) in metas.iter().zip(&origins) {
            writeln!(out, "ACK {} {} {}", meta.partition, meta.offset, value(o)).expect("stdout");
        }
        out.flush().expect("stdout");
        seq += n;
    }
    Ok(())
}

/// The child process: appends from several threads until it is killed.
#[test]
fn crash_child() -> Result<()> {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return Ok(());
    };
    let round: u32 = env_number(ROUND_ENV).expect("round");
    let sync = match std::env::var(SYNC_ENV).as_deref() {
        Ok("always") => SyncPolicy::Always,
        _ => SyncPolicy::Never,
    };
    let broker = Arc::new(Broker::open_with(&dir, BrokerConfig::default().sync(sync))?);
    // On a line of its own: the test harness has printed "test crash_child ... " already.
    println!();
    // A bound in case the parent never kills this process.
    let until = Instant::now() + Duration::from_secs(60);
    let writers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let broker = Arc::clone(&broker);
            std::thread::spawn(move || write_forever(&broker, round, thread, until))
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer thread")?;
    }
    Ok(())
}

/// Acknowledged records: (partition, offset) → value.
type Acks = BTreeMap<(u32, u64), String>;

/// Runs the child for one round and kills it once it has acknowledged `target` records;
/// adds every acknowledged record to `acks` and returns how many this round had.
fn crash_round(dir: &Path, round: u32, sync: &str, target: usize, acks: &mut Acks) -> usize {
    let mut count = 0;
    let round_text = round.to_string();
    let envs = [
        (CHILD_ENV, dir.as_os_str()),
        (ROUND_ENV, OsStr::new(&round_text)),
        (SYNC_ENV, OsStr::new(sync)),
    ];
    // Lines already in the pipe when the child died were acknowledged too.
    let (killed, status) = common::run_child_until_killed("crash_child", &envs, |text| {
        if let Some(ack) = text.strip_prefix("ACK ") {
            let mut parts = ack.split(' ');
            let partition: u32 = parts
                .next()
                .and_then(|p| p.parse().ok())
                .expect("partition");
            let offset: u64 = parts.next().and_then(|o| o.parse().ok()).expect("offset");
            let value = parts.next().expect("value").to_string();
            if let Some(old) = acks.insert((partition, offset), value.clone()) {
                panic!("round {round}: {TOPIC}-{partition}@{offset} acknowledged twice: {old} and {value}");
            }
            count += 1;
        }
        count >= target
    });
    assert!(
        killed,
        "round {round}: the child stopped after {count} acks ({status})"
    );
    count
}

/// Reads every partition after a crash and checks it against the acknowledgements and the
/// records' own checksums; returns the high watermarks.
fn check_log(broker: &Broker, acks: &Acks, context: &str) -> Result<Vec<u64>> {
    let desc = broker.describe_topic(TOPIC)?;
    let mut seen: BTreeSet<Origin> = BTreeSet::new();
    let mut hws = Vec::new();
    for p in 0..PARTITIONS {
        let config = ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .max_poll_records(100_000);
        let mut consumer = broker.consumer(config);
        consumer.assign(&[TopicPartition::new(TOPIC, p)])?;
        let mut offset = 0;
        let mut last_seq: BTreeMap<(u32, u32), u64> = BTreeMap::new();
        loop {
            let records = consumer.poll(Duration::ZERO)?;
            if records.is_empty() {
                break;
            }
            for r in &records {
                let at = format!("{context}: {TOPIC}-{p}@{offset}");
                assert_eq!(r.offset(), offset, "{at}: offsets are contiguous from 0");
                let origin = parse(r.value()).unwrap_or_else(|| {
                    panic!(
                        "{at}: damaged value {:?}",
                        String::from_utf8_lossy(r.value())
                    )
                });
                assert_eq!(
                    r.key(),
                    Some(key(origin.thread, origin.seq).as_bytes()),
                    "{at}: key"
                );
                assert!(seen.insert(origin), "{at}: {origin:?} stored twice");
                if let Some(prev) = last_seq.insert((origin.round, origin.thread), origin.seq) {
                    assert!(
                        prev < origin.seq,
                        "{at}: a thread's records are in the order it sent them"
                    );
                }
                if let Some(acked) = acks.get(&(p, offset)) {
                    assert_eq!(r.value(), acked.as_bytes(), "{at}: the acknowledged value");
                }
                offset += 1;
            }
        }
        assert_eq!(
            desc.partitions[p as usize].high_watermark, offset,
            "{context}: high watermark of {p}"
        );
        hws.push(offset);
    }
    for ((p, offset), value) in acks {
        assert!(
            *offset < hws[*p as usize],
            "{context}: acknowledged {TOPIC}-{p}@{offset} ({value}) is lost"
        );
    }
    // A killed process loses at most its last, unacknowledged call per thread: every record
    // a thread sent before the call of its last stored record is stored.
    let mut last_call: BTreeMap<(u32, u32), u64> = BTreeMap::new();
    for o in seen.iter().filter(|o| o.thread != PARENT) {
        let call = last_call.entry((o.round, o.thread)).or_default();
        *call = (*call).max(o.call);
    }
    for (&(round, thread), &call) in &last_call {
        let stored = seen
            .iter()
            .filter(|o| o.round == round && o.thread == thread && o.seq < call)
            .count();
        assert_eq!(
            stored as u64, call,
            "{context}: round {round} thread {thread} lost records before seq {call}"
        );
    }
    Ok(hws)
}

/// Reopens after a crash, checks the log, appends one record per partition and reads it
/// back, then closes cleanly.
fn recover(dir: &Path, round: u32, acks: &mut Acks) -> Result<()> {
    let context = format!("after crash {round}");
    let broker = Broker::open(dir)?;
    let hws = check_log(&broker, acks, &context)?;
    let producer = broker.producer();
    for (p, &hw) in (0..PARTITIONS).zip(&hws) {
        let o = Origin {
            round,
            thread: PARENT,
            seq: u64::from(p),
            call: u64::from(p),
        };
        let meta = producer.send(TOPIC, record(o).partition(p))?;
        assert_eq!(
            meta.offset, hw,
            "{context}: the next append to {p} is at the high watermark"
        );
        acks.insert((p, hw), value(o));
    }
    check_log(&broker, acks, &format!("{context}, after appending"))?;
    broker.close()
}

#[test]
fn acknowledged_records_survive_repeated_kills() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    let config = TopicConfig::default()
        .partitions(PARTITIONS)
        .segment_bytes(SEGMENT_BYTES)
        .retention_ms(-1);
    broker.create_topic(TOPIC, config)?;
    broker.close()?;

    let mut acks = Acks::new();
    // Recovery runs over logs an earlier recovery already cut; one run fsyncs every send.
    for (round, sync, target) in [
        (0, "never", 3000),
        (1, "never", 3000),
        (2, "always", 300),
        (3, "never", 3000),
    ] {
        let acked = crash_round(dir.path(), round, sync, target, &mut acks);
        assert!(acked >= target);
        recover(dir.path(), round, &mut acks)?;
    }
    let broker = Broker::open(dir.path())?;
    let desc = broker.describe_topic(TOPIC)?;
    assert!(
        desc.partitions.iter().all(|p| p.segments >= 3),
        "segments rolled during the runs: {desc:?}"
    );
    broker.close()
}
