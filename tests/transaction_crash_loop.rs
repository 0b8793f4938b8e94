//! Exactly-once copying under SIGKILL: each iteration runs a child that copies an input topic
//! to an output topic with a `TransactionalProducer` (records and the consuming group's
//! offsets committed together), kills it at a pseudo-random moment, then reopens the data
//! directory (which ends the transaction the child left open) and checks that:
//!
//! - no output partition has a transaction open (`last_stable_offset == high_watermark`);
//! - a `ReadCommitted` reader of the whole output finds each input record at most once, with
//!   its key, value and a partition that depends only on its key;
//! - the group's committed offsets are exactly what the committed output covers: every input
//!   offset below the committed offset is in it, none at or above it;
//! - commits the child saw return are there, and committed offsets never go back;
//! - a `ReadUncommitted` reader sees every committed copy at the same offset, and maybe
//!   more (the aborted copies), while markers are never returned and readers end at the
//!   high watermark.
//!
//! At the end a last child finishes the copy: then every input record is in the committed
//! output exactly once. The child aborts some transactions on purpose, and after an abort
//! (or a `CommitFailed`), as at its start, rewinds its consumer to the group's committed
//! offsets, as a Kafka exactly-once application does; the parent checks that each rewind
//! goes to the offsets committed last.
//!
//! `STROM_TXN_CRASH_ITERATIONS` sets the number of kills (100 by default); with
//! `STROM_TXN_CRASH_VERBOSE` set, the children's lines are echoed and the directory is kept.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use strom::{
    Broker, Consumer, ConsumerConfig, Error, IsolationLevel, OffsetReset, Record, Result,
    TopicConfig, TopicPartition,
};

mod common;

use common::{checked_body, checksummed, env_number, SplitMix64};

const CHILD_ENV: &str = "STROM_TXN_CRASH_DIR";
const ITERATION_ENV: &str = "STROM_TXN_CRASH_ITERATION";
const FINISH_ENV: &str = "STROM_TXN_CRASH_FINISH";
const ITERATIONS_ENV: &str = "STROM_TXN_CRASH_ITERATIONS";
const VERBOSE_ENV: &str = "STROM_TXN_CRASH_VERBOSE";
const DEFAULT_ITERATIONS: u32 = 100;
const INPUT: &str = "txn-input";
const OUTPUT: &str = "txn-output";
const INPUT_PARTITIONS: u32 = 4;
const OUTPUT_PARTITIONS: u32 = 3;
/// Input records per kill: enough that the kills mostly come while there is copying to do
/// (a kill costs the child about 30 copied records), however many iterations run.
const INPUT_RECORDS_PER_KILL: u64 = 40;
const GROUP: &str = "txn-copier";
const TRANSACTIONAL_ID: &str = "txn-copier-1";
/// The header naming the input record a copy was made from, as `partition:offset`.
const SOURCE_HEADER: &str = "src";
/// At most this many input records per transaction.
const MAX_POLL: usize = 16;
/// Small output segments, so that rolls happen during the runs.
const SEGMENT_BYTES: u64 = 16 * 1024;
/// The child is killed after a number of its output lines drawn from this range.
const MIN_LINES: u64 = 1;
const MAX_LINES: u64 = 100;
/// About one transaction in this many is aborted by the child on purpose.
const ABORT_ONE_IN: u64 = 5;

/// The value of input record `i`: self-checking, of varied length.
fn input_value(i: u64) -> String {
    let len = usize::try_from(i * 13 % 90).expect("small");
    checksummed(&format!("in.{i}.{}", &"abcdefghij".repeat(9)[..len]))
}

fn input_key(i: u64) -> String {
    format!("key-{}", i % 101)
}

/// With `STROM_TXN_CRASH_VERBOSE` set, the child's lines are echoed to stderr and the data
/// directory is kept.
fn verbose() -> bool {
    std::env::var_os(VERBOSE_ENV).is_some()
}

/// `p=o,p=o` for a map of partition → offset.
fn offsets_text(offsets: &BTreeMap<u32, u64>) -> String {
    let parts: Vec<String> = offsets.iter().map(|(p, o)| format!("{p}={o}")).collect();
    parts.join(",")
}

fn parse_offsets(text: &str) -> BTreeMap<u32, u64> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (p, o) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("malformed offsets {text:?}"));
            (p.parse().expect("partition"), o.parse().expect("offset"))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The child

/// Moves the consumer back to the group's committed offsets (the log start where none is)
/// in every assigned partition, and prints `REWIND p=o,...`.
fn rewind(consumer: &mut Consumer) -> Result<()> {
    let mut to = BTreeMap::new();
    for tp in consumer.assignment() {
        let offset = consumer.committed(&tp)?.unwrap_or(0);
        consumer.seek(&tp, offset)?;
        to.insert(tp.partition, offset);
    }
    println!("REWIND {}", offsets_text(&to));
    Ok(())
}

/// Whether the consumer has read every input record (the input is written once, before).
fn caught_up(consumer: &Consumer, input_hws: &[u64]) -> bool {
    let assignment = consumer.assignment();
    assignment.len() == input_hws.len()
        && assignment
            .iter()
            .all(|tp| consumer.position(tp) == Some(input_hws[tp.partition as usize]))
}

/// Copies the input to the output, one transaction per poll, until killed (or, with
/// `finish`, until everything is copied). Prints each step once it returned.
fn copy(broker: &Broker, iteration: u32, finish: bool) -> Result<()> {
    let producer = broker.transactional_producer(TRANSACTIONAL_ID)?;
    println!("PRODUCER");
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .group_id(GROUP)
            .enable_auto_commit(false)
            .isolation_level(IsolationLevel::ReadCommitted)
            .auto_offset_reset(OffsetReset::Earliest)
            .max_poll_records(MAX_POLL),
    );
    consumer.subscribe([INPUT])?;
    let input_hws: Vec<u64> = broker
        .describe_topic(INPUT)?
        .partitions
        .iter()
        .map(|p| p.high_watermark)
        .collect();
    let mut rng = SplitMix64(0x7478_6e00 ^ u64::from(iteration));
    // Nothing is assigned before the first poll; then the consumer starts over from the
    // group's committed offsets, whatever that poll returned.
    while consumer.assignment().is_empty() {
        consumer.poll(Duration::from_millis(5))?;
    }
    rewind(&mut consumer)?;
    let mut txn = 0u64;
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        let records = consumer.poll(Duration::from_millis(5))?;
        if records.is_empty() {
            if caught_up(&consumer, &input_hws) {
                if finish {
                    println!("DONE");
                    return Ok(());
                }
                println!("IDLE");
            }
            continue;
        }
        producer.begin_transaction()?;
        println!("BEGIN {txn}");
        let copies: Vec<Record> = records
            .iter()
            .map(|r| {
                Record::new(r.value().to_vec())
                    .key(r.key().expect("input records have keys").to_vec())
                    .header(SOURCE_HEADER, format!("{}:{}", r.partition(), r.offset()))
            })
            .collect();
        let mut next: BTreeMap<u32, u64> = BTreeMap::new();
        for r in &records {
            next.insert(r.partition(), r.offset() + 1);
        }
        if rng.below(3) == 0 {
            let metas = producer.send_batch(OUTPUT, copies)?;
            println!("SENT {txn} batch of {}", metas.len());
        } else {
            for (copy, r) in copies.into_iter().zip(&records) {
                let meta = producer.send(OUTPUT, copy)?;
                println!(
                    "SENT {txn} {}:{} as {}@{}",
                    r.partition(),
                    r.offset(),
                    meta.partition,
                    meta.offset
                );
            }
        }
        let offsets: Vec<(TopicPartition, u64)> = next
            .iter()
            .map(|(&p, &o)| (TopicPartition::new(INPUT, p), o))
            .collect();
        let ended = producer
            .send_offsets_to_transaction(&offsets, &consumer.group_metadata()?)
            .map(|()| println!("OFFSETS {txn}"))
            .and_then(|()| {
                if rng.below(ABORT_ONE_IN) == 0 {
                    producer.abort_transaction()?;
                    println!("ABORTED {txn}");
                    Ok(false)
                } else {
                    producer.commit_transaction()?;
                    println!("COMMITTED {txn} {}", offsets_text(&next));
                    Ok(true)
                }
            });
        match ended {
            Ok(true) => {}
            Ok(false) => rewind(&mut consumer)?,
            Err(Error::CommitFailed { reason, .. }) => {
                println!("COMMIT_FAILED {txn} {}", reason.replace(' ', "_"));
                rewind(&mut consumer)?;
            }
            Err(e) => return Err(e),
        }
        txn += 1;
    }
    Ok(())
}

/// The child process: copies until it is killed.
#[test]
fn transaction_crash_loop_child() -> Result<()> {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return Ok(());
    };
    let iteration: u32 = env_number(ITERATION_ENV).expect("iteration");
    let finish = std::env::var_os(FINISH_ENV).is_some();
    let broker = Broker::open(&dir)?;
    // On a line of its own: the test harness has printed "test ... ".
    println!();
    if let Err(e) = copy(&broker, iteration, finish) {
        println!("ERROR {}", e.to_string().replace('\n', " "));
        return Err(e);
    }
    broker.close()
}

// ---------------------------------------------------------------------------------------
// The parent

/// The input: (partition, offset) → (key, value).
type Input = BTreeMap<(u32, u64), (Vec<u8>, Vec<u8>)>;

/// What one child printed before it died.
#[derive(Debug, Default)]
struct Run {
    lines: u64,
    commits: usize,
    aborts: usize,
    rewinds: usize,
    done: bool,
    /// The step whose line decided the kill.
    killed_at: String,
}

/// When the parent kills a child.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// Once it printed this many lines.
    AfterLines(u64),
    /// Once it printed its n-th `OFFSETS` line, so while it commits that transaction (or
    /// after `MAX_LINES` lines, should it not get there).
    InCommit(u64),
    /// Never: the child runs until it copied everything.
    Never,
}

/// Runs a child and kills it as `kill` says, `delay` after the line that decided it: the
/// delay only spreads the kill over the steps that print nothing (a commit's fsyncs);
/// nothing waits on it. `committed` is what the group had committed before; it follows the
/// commits the child prints, so that every rewind can be checked against it.
fn run_child(
    dir: &Path,
    iteration: u32,
    kill: Kill,
    delay: Duration,
    committed: &mut BTreeMap<u32, u64>,
) -> Run {
    let mut run = Run::default();
    let iteration_text = iteration.to_string();
    let mut envs = vec![
        (CHILD_ENV, dir.as_os_str()),
        (ITERATION_ENV, OsStr::new(&iteration_text)),
    ];
    if matches!(kill, Kill::Never) {
        envs.push((FINISH_ENV, OsStr::new("1")));
    }
    let mut offsets_lines = 0;
    let mut fired = false;
    let (killed, status) = common::run_child_until_killed(
        "transaction_crash_loop_child",
        &envs,
        |text| {
            if verbose() {
                eprintln!("child {iteration}: {text}");
            }
            let mut parts = text.split(' ');
            match parts.next() {
                Some("COMMITTED") => {
                    let offsets = parse_offsets(parts.nth(1).unwrap_or(""));
                    for (p, o) in offsets {
                        let previous = committed.insert(p, o);
                        assert!(
                            previous.is_none_or(|before| before < o),
                            "iteration {iteration}: {INPUT}-{p} committed {o} after {previous:?}: {text:?}"
                        );
                    }
                    run.commits += 1;
                }
                Some("REWIND") => {
                    let to = parse_offsets(parts.next().unwrap_or(""));
                    assert_eq!(
                        to.len(),
                        INPUT_PARTITIONS as usize,
                        "iteration {iteration}: the member holds every input partition: {text:?}"
                    );
                    for (p, o) in to {
                        assert_eq!(
                            o,
                            committed.get(&p).copied().unwrap_or(0),
                            "iteration {iteration}: {INPUT}-{p} rewound elsewhere than the committed offset: {text:?}"
                        );
                    }
                    run.rewinds += 1;
                }
                Some("ABORTED") => run.aborts += 1,
                Some("DONE") => run.done = true,
                Some("OFFSETS") => offsets_lines += 1,
                Some("PRODUCER" | "BEGIN" | "SENT" | "IDLE") => {}
                Some("ERROR" | "BAD" | "COMMIT_FAILED") => {
                    panic!("iteration {iteration}: the child reported {text:?}")
                }
                _ => return false,
            }
            run.lines += 1;
            let fire = !fired
                && match kill {
                    Kill::AfterLines(k) => run.lines >= k,
                    Kill::InCommit(n) => {
                        (text.starts_with("OFFSETS") && offsets_lines == n)
                            || run.lines >= MAX_LINES
                    }
                    Kill::Never => false,
                };
            if fire {
                fired = true;
                run.killed_at = text.split(' ').next().unwrap_or_default().to_string();
                std::thread::sleep(delay);
            }
            fire
        },
    );
    match kill {
        Kill::AfterLines(_) | Kill::InCommit(_) => assert!(
            killed,
            "iteration {iteration}: the child stopped by itself after {} lines ({status})",
            run.lines
        ),
        Kill::Never => assert!(
            run.done && status.success(),
            "the last child did not finish the copy: {run:?}, {status}"
        ),
    }
    run
}

/// What a full read of the output found.
#[derive(Debug, Default)]
struct OutputView {
    /// Each copy: its output partition and offset, and the input record it names.
    copies: Vec<((u32, u64), (u32, u64))>,
}

/// Reads every output partition from offset 0 with `isolation`, checking each copy against
/// the input, that keys stay on one partition, that no marker is returned, and that the
/// reader ends at the high watermark.
fn read_output(
    broker: &Broker,
    input: &Input,
    isolation: IsolationLevel,
    hws: &[u64],
    context: &str,
) -> Result<OutputView> {
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .isolation_level(isolation)
            .max_poll_records(100_000),
    );
    let tps: Vec<TopicPartition> = (0..OUTPUT_PARTITIONS)
        .map(|p| TopicPartition::new(OUTPUT, p))
        .collect();
    consumer.assign(&tps)?;
    let mut view = OutputView::default();
    let mut key_partition: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut last: BTreeMap<u32, u64> = BTreeMap::new();
    loop {
        let records = consumer.poll(Duration::ZERO)?;
        if records.is_empty() {
            break;
        }
        for r in &records {
            let at = format!(
                "{context}: {isolation:?} {OUTPUT}-{}@{}",
                r.partition(),
                r.offset()
            );
            if let Some(&previous) = last.get(&r.partition()) {
                assert!(r.offset() > previous, "{at}: offsets go forward");
            }
            last.insert(r.partition(), r.offset());
            let headers: Vec<(&str, &[u8])> = r.headers().collect();
            let [(SOURCE_HEADER, source)] = headers[..] else {
                panic!("{at}: one {SOURCE_HEADER:?} header, not {headers:?} (a marker returned?)");
            };
            let source = std::str::from_utf8(source).expect("utf-8 header");
            let (p, o) = source.split_once(':').expect("partition:offset");
            let from: (u32, u64) = (p.parse().expect("partition"), o.parse().expect("offset"));
            let (key, value) = input
                .get(&from)
                .unwrap_or_else(|| panic!("{at}: names no input record: {source}"));
            assert_eq!(r.key(), Some(&key[..]), "{at}: key of the copy of {source}");
            assert_eq!(r.value(), &value[..], "{at}: value of the copy of {source}");
            assert!(checked_body(r.value()).is_some(), "{at}: damaged value");
            let first = *key_partition.entry(key.clone()).or_insert(r.partition());
            assert_eq!(first, r.partition(), "{at}: a key on two partitions");
            view.copies.push(((r.partition(), r.offset()), from));
        }
    }
    for tp in &tps {
        assert_eq!(
            consumer.position(tp),
            Some(hws[tp.partition as usize]),
            "{context}: {isolation:?} reader of {tp} ends at the high watermark, past every marker"
        );
    }
    Ok(view)
}

/// The group's committed offsets on the input, read by a fresh consumer.
fn group_committed(broker: &Broker) -> Result<BTreeMap<u32, u64>> {
    let consumer = broker.consumer(ConsumerConfig::default().group_id(GROUP));
    let mut offsets = BTreeMap::new();
    for p in 0..INPUT_PARTITIONS {
        if let Some(o) = consumer.committed(&TopicPartition::new(INPUT, p))? {
            offsets.insert(p, o);
        }
    }
    Ok(offsets)
}

/// Totals over the checks, for the summary line.
#[derive(Debug, Default)]
struct Seen {
    committed_copies: usize,
    uncommitted_copies: usize,
    markers: u64,
}

/// Checks a reopened directory; returns the group's committed offsets.
fn check(
    broker: &Broker,
    input: &Input,
    printed: &BTreeMap<u32, u64>,
    before: &BTreeMap<u32, u64>,
    context: &str,
    seen: &mut Seen,
) -> Result<BTreeMap<u32, u64>> {
    assert_eq!(broker.topics(), [INPUT, OUTPUT], "{context}: topics");
    let desc = broker.describe_topic(OUTPUT)?;
    let hws: Vec<u64> = desc.partitions.iter().map(|p| p.high_watermark).collect();
    for part in &desc.partitions {
        assert_eq!(
            part.last_stable_offset, part.high_watermark,
            "{context}: {OUTPUT}-{} has a transaction open after the reopen",
            part.partition
        );
    }
    for part in broker.describe_topic(INPUT)?.partitions {
        assert_eq!(part.last_stable_offset, part.high_watermark, "{context}");
    }

    let committed_view = read_output(broker, input, IsolationLevel::ReadCommitted, &hws, context)?;
    let mut copied: BTreeMap<(u32, u64), (u32, u64)> = BTreeMap::new();
    for &(at, from) in &committed_view.copies {
        if let Some(earlier) = copied.insert(from, at) {
            panic!(
                "{context}: {INPUT}-{}@{} copied twice in the committed output: at {OUTPUT}-{}@{} and {OUTPUT}-{}@{}",
                from.0, from.1, earlier.0, earlier.1, at.0, at.1
            );
        }
    }

    let committed = group_committed(broker)?;
    for p in 0..INPUT_PARTITIONS {
        let upto = committed.get(&p).copied();
        let have: Vec<u64> = copied
            .keys()
            .filter(|(q, _)| *q == p)
            .map(|&(_, o)| o)
            .collect();
        let want: Vec<u64> = (0..upto.unwrap_or(0)).collect();
        if have != want {
            let missing: Vec<u64> = want.iter().filter(|o| !have.contains(o)).copied().collect();
            let extra: Vec<u64> = have.iter().filter(|o| !want.contains(o)).copied().collect();
            panic!(
                "{context}: {INPUT}-{p} committed {upto:?}, but the committed output misses offsets {:?} and has offsets {:?} beyond it",
                &missing[..missing.len().min(20)],
                &extra[..extra.len().min(20)]
            );
        }
        if let Some(&printed) = printed.get(&p) {
            assert!(
                upto.is_some_and(|u| u >= printed),
                "{context}: {INPUT}-{p} committed {upto:?}, though a commit of {printed} returned"
            );
        }
        if let Some(&earlier) = before.get(&p) {
            assert!(
                upto.is_some_and(|u| u >= earlier),
                "{context}: {INPUT}-{p} committed {upto:?}, below the {earlier} committed before"
            );
        }
    }

    let all = read_output(
        broker,
        input,
        IsolationLevel::ReadUncommitted,
        &hws,
        context,
    )?;
    let by_offset: HashMap<(u32, u64), (u32, u64)> = all.copies.iter().copied().collect();
    for &(at, from) in &committed_view.copies {
        assert_eq!(
            by_offset.get(&at),
            Some(&from),
            "{context}: the committed copy at {OUTPUT}-{}@{} is not what ReadUncommitted reads there",
            at.0,
            at.1
        );
    }
    let data = all.copies.len() as u64;
    let total: u64 = hws.iter().sum();
    assert!(data <= total, "{context}: more records than offsets");
    seen.committed_copies = committed_view.copies.len();
    seen.uncommitted_copies = all.copies.len();
    seen.markers = total - data;
    Ok(committed)
}

/// Creates the topics and writes the input once; returns it.
fn prefill(dir: &Path, records: u64) -> Result<Input> {
    let broker = Broker::open(dir)?;
    broker.create_topic(INPUT, TopicConfig::default().partitions(INPUT_PARTITIONS))?;
    broker.create_topic(
        OUTPUT,
        TopicConfig::default()
            .partitions(OUTPUT_PARTITIONS)
            .segment_bytes(SEGMENT_BYTES)
            .retention_ms(-1),
    )?;
    let producer = broker.producer();
    let mut input = Input::new();
    for chunk in (0..records).collect::<Vec<_>>().chunks(100) {
        let records = chunk
            .iter()
            .map(|&i| Record::new(input_value(i)).key(input_key(i)));
        let metas = producer.send_batch(INPUT, records)?;
        for (meta, &i) in metas.iter().zip(chunk) {
            let (key, value) = (input_key(i), input_value(i));
            input.insert(
                (meta.partition, meta.offset),
                (key.into_bytes(), value.into_bytes()),
            );
        }
    }
    let used: usize = (0..INPUT_PARTITIONS)
        .filter(|&p| input.keys().any(|&(q, _)| q == p))
        .count();
    assert_eq!(
        used, INPUT_PARTITIONS as usize,
        "every input partition has records"
    );
    broker.close()?;
    Ok(input)
}

#[test]
fn transactional_copy_is_exactly_once_across_kills() -> Result<()> {
    let iterations: u32 = env_number(ITERATIONS_ENV).unwrap_or(DEFAULT_ITERATIONS);
    let mut dir = tempfile::tempdir().expect("temp dir");
    if verbose() {
        dir.disable_cleanup(true);
        eprintln!("data directory {}", dir.path().display());
    }
    let input_records = INPUT_RECORDS_PER_KILL * u64::from(iterations.max(1));
    let input = prefill(dir.path(), input_records)?;

    let started = Instant::now();
    let mut rng = SplitMix64(0x7478_6e5f_6b69_6c6c);
    let mut before: BTreeMap<u32, u64> = BTreeMap::new();
    let mut seen = Seen::default();
    let (mut commits, mut aborts, mut rewinds) = (0, 0, 0);
    // Kills by the step whose line decided them, and how many commits the child did not see
    // return were found done at the reopen (the kill came inside commit_transaction, after
    // its decision).
    let mut killed_after: BTreeMap<String, u32> = BTreeMap::new();
    let mut unseen_commits = 0;
    for iteration in 0..iterations {
        // Half the kills at any step, half while a commit runs, up to 2 ms after the line.
        let kill = if rng.below(2) == 0 {
            Kill::AfterLines(rng.range(MIN_LINES, MAX_LINES))
        } else {
            Kill::InCommit(rng.range(1, 3))
        };
        let delay = Duration::from_micros(rng.below(2000));
        let mut printed = before.clone();
        let run = run_child(dir.path(), iteration, kill, delay, &mut printed);
        commits += run.commits;
        aborts += run.aborts;
        rewinds += run.rewinds;
        let context = format!(
            "after kill {iteration} ({kill:?}, {delay:?} after the line, {} lines read)",
            run.lines
        );
        *killed_after.entry(run.killed_at.clone()).or_default() += 1;
        let broker = Broker::open(dir.path())?;
        before = check(&broker, &input, &printed, &before, &context, &mut seen)?;
        broker.close()?;
        if before != printed {
            unseen_commits += 1;
        }
    }

    let copied_under_kills: u64 = before.values().sum();
    let mut printed = before.clone();
    let run = run_child(
        dir.path(),
        iterations,
        Kill::Never,
        Duration::ZERO,
        &mut printed,
    );
    commits += run.commits;
    aborts += run.aborts;
    let broker = Broker::open(dir.path())?;
    let committed = check(
        &broker,
        &input,
        &printed,
        &before,
        "after the copy",
        &mut seen,
    )?;
    let input_hws: BTreeMap<u32, u64> = broker
        .describe_topic(INPUT)?
        .partitions
        .iter()
        .map(|p| (p.partition, p.high_watermark))
        .collect();
    broker.close()?;
    println!(
        "transaction crash loop: {iterations} kills, {commits} commits and {aborts} aborts printed, {rewinds} rewinds, kills after {killed_after:?}, {unseen_commits} commits found done that the child had not seen return, {copied_under_kills} of {input_records} input records copied before the last child; output: {} committed copies, {} copies in all (aborted ones included), {} markers; in {:.1} s",
        seen.committed_copies,
        seen.uncommitted_copies,
        seen.markers,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(committed, input_hws, "the group committed the whole input");
    assert_eq!(
        seen.committed_copies as u64, input_records,
        "every input record is in the committed output once"
    );
    assert!(
        seen.uncommitted_copies > seen.committed_copies,
        "aborted copies stay in the log for ReadUncommitted readers"
    );
    assert!(
        aborts > 0 && commits > 0,
        "the children committed and aborted"
    );
    Ok(())
}
