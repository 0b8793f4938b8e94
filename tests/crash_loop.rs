//! Many SIGKILLs on one data directory: each iteration runs a child with three producer
//! threads and a committing group member (each child compressing with the next codec of
//! `Compression::ALL`), kills it at a pseudo-random moment, then reopens
//! the directory and checks every acknowledged record at its offset with its value, offsets
//! contiguous from the log start, every stored value intact, and the group's committed
//! offsets between the last printed commit and the high watermark.
//!
//! `STROM_CRASH_ITERATIONS` sets the number of iterations (100 by default) for longer runs.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strom::{
    Broker, Compression, ConsumerConfig, OffsetReset, Record, Result, TopicConfig, TopicPartition,
};

mod common;

use common::{checked_body, checksummed, env_number, SplitMix64};

/// The codecs the children write with, one after the other.
const CODECS: [Compression; 5] = Compression::ALL;
const CHILD_ENV: &str = "STROM_CRASH_LOOP_DIR";
const ITERATION_ENV: &str = "STROM_CRASH_LOOP_ITERATION";
const ITERATIONS_ENV: &str = "STROM_CRASH_ITERATIONS";
const DEFAULT_ITERATIONS: u32 = 100;
const TOPIC: &str = "loop";
const GROUP: &str = "loop-group";
const PARTITIONS: u32 = 3;
const PRODUCERS: u32 = 3;
/// Small segments, so that rolls happen in most iterations.
const SEGMENT_BYTES: u64 = 16 * 1024;
/// The child is killed after a number of its output lines drawn from this range.
const MIN_LINES: u64 = 5;
const MAX_LINES: u64 = 600;

/// `iteration.thread.seq.filler.checksum`: printable, without spaces, self-checking.
fn value(iteration: u32, thread: u32, seq: u64) -> String {
    let len = usize::try_from(seq * 17 % 120).expect("small");
    let filler = &"0123456789abcdef".repeat(8)[..len];
    checksummed(&format!("{iteration}.{thread}.{seq}.{filler}"))
}

/// Whether a stored value is one `value` made (its checksum and filler agree).
fn well_formed(stored: &[u8]) -> bool {
    let Some(body) = checked_body(stored) else {
        return false;
    };
    let parts: Vec<&str> = body.split('.').collect();
    match parts[..] {
        [iteration, thread, seq, _] => match (
            iteration.parse::<u32>(),
            thread.parse::<u32>(),
            seq.parse::<u64>(),
        ) {
            (Ok(i), Ok(t), Ok(s)) => value(i, t, s).as_bytes() == stored,
            _ => false,
        },
        _ => false,
    }
}

/// One producer of the child: keyed sends and small batches, each acknowledged record
/// printed as `ACK partition offset value` once the call returned.
fn produce(broker: &Broker, iteration: u32, thread: u32, until: Instant) -> Result<()> {
    let producer = broker.producer();
    let mut seq = 0u64;
    while Instant::now() < until {
        let n = if seq % 3 == 2 { 2 + seq % 4 } else { 1 };
        let seqs: Vec<u64> = (seq..seq + n).collect();
        let record = |s: u64| Record::new(value(iteration, thread, s)).key(format!("k{}", s % 50));
        let metas = if n == 1 {
            vec![producer.send(TOPIC, record(seq))?]
        } else {
            producer.send_batch(TOPIC, seqs.iter().map(|&s| record(s)))?
        };
        let mut out = std::io::stdout().lock();
        for (meta, &s) in metas.iter().zip(&seqs) {
            writeln!(
                out,
                "ACK {} {} {}",
                meta.partition,
                meta.offset,
                value(iteration, thread, s)
            )
            .expect("stdout");
        }
        out.flush().expect("stdout");
        seq += n;
    }
    Ok(())
}

/// The child's group member: polls, checks what it reads, commits, and prints
/// `START partition offset` for the first record of each partition and
/// `COMMIT partition offset` for each position once `commit()` returned. Anything wrong
/// it reads is printed as a `BAD` line.
fn consume(broker: &Broker, until: Instant) -> Result<()> {
    let config = ConsumerConfig::default()
        .group_id(GROUP)
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false)
        .max_poll_records(40);
    let mut consumer = broker.consumer(config);
    consumer.subscribe([TOPIC])?;
    let mut next: BTreeMap<u32, u64> = BTreeMap::new();
    while Instant::now() < until {
        let records = consumer.poll(Duration::from_millis(5))?;
        let mut out = std::io::stdout().lock();
        for r in &records {
            let p = r.partition();
            match next.get(&p) {
                None => writeln!(out, "START {p} {}", r.offset()).expect("stdout"),
                Some(&expected) if expected != r.offset() => {
                    writeln!(out, "BAD {p}: read {} after {}", r.offset(), expected - 1)
                        .expect("stdout");
                }
                Some(_) => {}
            }
            if !well_formed(r.value()) {
                writeln!(out, "BAD {p}@{}: damaged value", r.offset()).expect("stdout");
            }
            next.insert(p, r.offset() + 1);
        }
        out.flush().expect("stdout");
        drop(out);
        consumer.commit()?;
        let mut out = std::io::stdout().lock();
        for tp in consumer.assignment() {
            if let Some(position) = consumer.position(&tp) {
                writeln!(out, "COMMIT {} {position}", tp.partition).expect("stdout");
            }
        }
        out.flush().expect("stdout");
    }
    Ok(())
}

/// The child process: produces and consumes until it is killed.
#[test]
fn crash_loop_child() -> Result<()> {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return Ok(());
    };
    let iteration: u32 = env_number(ITERATION_ENV).expect("iteration");
    let broker = Broker::open(&dir)?;
    // On a line of its own: the test harness has printed "test crash_loop_child ... ".
    println!();
    // A bound in case the parent never kills this process.
    let until = Instant::now() + Duration::from_secs(60);
    let failed = Arc::new(AtomicBool::new(false));
    let mut threads: Vec<_> = (0..PRODUCERS)
        .map(|thread| {
            let broker = broker.clone();
            std::thread::spawn(move || produce(&broker, iteration, thread, until))
        })
        .collect();
    threads.push({
        let broker = broker.clone();
        std::thread::spawn(move || consume(&broker, until))
    });
    for thread in threads {
        if let Err(e) = thread.join().expect("child thread") {
            println!("ERROR {e}");
            failed.store(true, Ordering::SeqCst);
        }
    }
    assert!(!failed.load(Ordering::SeqCst), "a child thread failed");
    Ok(())
}

/// What one child printed before it died.
#[derive(Debug, Default)]
struct Run {
    acks: usize,
    lines: u64,
    /// The first offset the member read per partition.
    started: BTreeMap<u32, u64>,
    /// The last committed position printed per partition.
    committed: BTreeMap<u32, u64>,
    commits: usize,
}

/// Acknowledged records: (partition, offset) → value.
type Acks = BTreeMap<(u32, u64), String>;

fn field<T: std::str::FromStr>(parts: &mut std::str::Split<'_, char>, line: &str) -> T {
    parts
        .next()
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| panic!("malformed line from the child: {line:?}"))
}

/// Runs the child for one iteration, kills it once it printed `kill_after` lines, and
/// adds the records it acknowledged to `acks`.
fn run_child(dir: &Path, iteration: u32, kill_after: u64, acks: &mut Acks) -> Run {
    let mut run = Run::default();
    let iteration_text = iteration.to_string();
    let envs = [
        (CHILD_ENV, dir.as_os_str()),
        (ITERATION_ENV, OsStr::new(&iteration_text)),
    ];
    let (killed, status) = common::run_child_until_killed("crash_loop_child", &envs, |text| {
        let mut parts = text.split(' ');
        match parts.next() {
            Some("ACK") => {
                let partition: u32 = field(&mut parts, text);
                let offset: u64 = field(&mut parts, text);
                let value: String = field(&mut parts, text);
                if let Some(old) = acks.insert((partition, offset), value.clone()) {
                    panic!("iteration {iteration}: {TOPIC}-{partition}@{offset} acknowledged twice: {old} and {value}");
                }
                run.acks += 1;
            }
            Some("START") => {
                let partition: u32 = field(&mut parts, text);
                let offset: u64 = field(&mut parts, text);
                run.started.insert(partition, offset);
            }
            Some("COMMIT") => {
                let partition: u32 = field(&mut parts, text);
                let offset: u64 = field(&mut parts, text);
                let previous = run.committed.insert(partition, offset);
                assert!(
                    previous.is_none_or(|p| p <= offset),
                    "iteration {iteration}: the member's commits of {partition} went back: {previous:?} then {offset}"
                );
                run.commits += 1;
            }
            Some("BAD" | "ERROR") => panic!("iteration {iteration}: the child reported {text:?}"),
            _ => return false,
        }
        run.lines += 1;
        run.lines >= kill_after
    });
    assert!(
        killed,
        "iteration {iteration}: the child stopped by itself after {} lines ({status})",
        run.lines
    );
    run
}

/// Reads every partition from its log start and checks it against the acknowledgements
/// and the values' own checksums; returns the high watermarks.
fn check_log(broker: &Broker, acks: &Acks, context: &str) -> Result<Vec<u64>> {
    let desc = broker.describe_topic(TOPIC)?;
    let mut hws = Vec::new();
    for p in 0..PARTITIONS {
        let part = &desc.partitions[p as usize];
        let config = ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .max_poll_records(100_000);
        let mut consumer = broker.consumer(config);
        consumer.assign(&[TopicPartition::new(TOPIC, p)])?;
        let mut offset = part.log_start_offset;
        loop {
            let records = consumer.poll(Duration::ZERO)?;
            if records.is_empty() {
                break;
            }
            for r in &records {
                let at = format!("{context}: {TOPIC}-{p}@{offset}");
                assert_eq!(r.offset(), offset, "{at}: offsets are contiguous");
                assert!(
                    well_formed(r.value()),
                    "{at}: damaged value {:?}",
                    String::from_utf8_lossy(r.value())
                );
                if let Some(acked) = acks.get(&(p, offset)) {
                    assert_eq!(r.value(), acked.as_bytes(), "{at}: the acknowledged value");
                }
                offset += 1;
            }
        }
        assert_eq!(
            part.high_watermark, offset,
            "{context}: high watermark of {p}"
        );
        hws.push(offset);
    }
    for ((p, offset), value) in acks {
        assert!(
            *offset < hws[*p as usize],
            "{context}: acknowledged {TOPIC}-{p}@{offset} ({value}) is lost (high watermark {})",
            hws[*p as usize]
        );
    }
    Ok(hws)
}

/// The group's committed offsets, read back by a fresh consumer.
fn committed(broker: &Broker) -> Result<BTreeMap<u32, u64>> {
    let consumer = broker.consumer(ConsumerConfig::default().group_id(GROUP));
    let mut offsets = BTreeMap::new();
    for p in 0..PARTITIONS {
        if let Some(o) = consumer.committed(&TopicPartition::new(TOPIC, p))? {
            offsets.insert(p, o);
        }
    }
    Ok(offsets)
}

#[test]
fn acknowledged_records_and_commits_survive_a_crash_loop() -> Result<()> {
    let iterations: u32 = env_number(ITERATIONS_ENV).unwrap_or(DEFAULT_ITERATIONS);
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    let config = TopicConfig::default()
        .partitions(PARTITIONS)
        .segment_bytes(SEGMENT_BYTES)
        .retention_ms(-1);
    broker.create_topic(TOPIC, config)?;
    broker.close()?;

    let started = Instant::now();
    let mut rng = SplitMix64(0x5354_524f_4d21);
    let mut acks = Acks::new();
    let mut kills = 0u32;
    let mut commits = 0usize;
    let mut checks = 0usize;
    let mut before = BTreeMap::new();
    for iteration in 0..iterations {
        let kill_after = rng.range(MIN_LINES, MAX_LINES);
        let run = run_child(dir.path(), iteration, kill_after, &mut acks);
        kills += 1;
        commits += run.commits;
        let context = format!("after kill {iteration} (after {} lines)", run.lines);
        // The member started each partition where the group had committed, else at 0.
        for (p, first) in &run.started {
            assert_eq!(
                *first,
                before.get(p).copied().unwrap_or(0),
                "{context}: where the member started {TOPIC}-{p}"
            );
        }

        let broker = Broker::open(dir.path())?;
        let hws = check_log(&broker, &acks, &context)?;
        // The next child writes with the next codec (none first): kills land in compressed
        // batches of every codec, and segments mix them.
        let codec = CODECS[(iteration as usize + 1) % CODECS.len()];
        let config = broker.describe_topic(TOPIC)?.config.compression(codec);
        broker.alter_topic(TOPIC, config)?;
        checks += acks.len();
        let after = committed(&broker)?;
        for p in 0..PARTITIONS {
            let stored = after.get(&p).copied();
            let hw = hws[p as usize];
            assert!(
                stored.is_none_or(|s| s <= hw),
                "{context}: {TOPIC}-{p} committed {stored:?} is past the high watermark {hw}"
            );
            if let Some(&printed) = run.committed.get(&p) {
                assert!(
                    stored.is_some_and(|s| s >= printed),
                    "{context}: {TOPIC}-{p} committed {stored:?} after the child printed {printed}"
                );
            }
            if let Some(&earlier) = before.get(&p) {
                assert!(
                    stored.is_some_and(|s| s >= earlier),
                    "{context}: {TOPIC}-{p} committed {stored:?}, below the {earlier} committed before"
                );
            }
        }
        broker.close()?;
        before = after;
    }

    let broker = Broker::open(dir.path())?;
    let desc = broker.describe_topic(TOPIC)?;
    broker.close()?;
    let segments: usize = desc.partitions.iter().map(|p| p.segments).sum();
    println!(
        "crash loop: {iterations} iterations, {kills} kills, {} acknowledged records verified ({checks} checks), {commits} commits printed, {segments} segments, committed {before:?}, in {:.1} s",
        acks.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(kills, iterations, "every iteration ended in a kill");
    assert!(
        acks.len() >= iterations as usize,
        "the children acknowledged records: {}",
        acks.len()
    );
    assert!(commits > 0, "the children committed");
    assert!(
        before.len() == PARTITIONS as usize,
        "the group committed every partition: {before:?}"
    );
    assert!(
        segments > PARTITIONS as usize,
        "segments rolled during the runs: {desc:?}"
    );
    Ok(())
}
