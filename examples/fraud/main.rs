//! Real-time fraud detection, exactly once: a bank writes card transactions to
//! `transactions`, a stream application (`strom::streams`, application id and consumer
//! group `fraud-detector`) checks each against three rules and writes alerts to
//! `fraud_alerts`, an alert consumer reads them, and an auditor replays one flagged
//! customer's history from a point in time.
//!
//! The Kafka tutorials' idea: stream every transaction to a consumer that flags suspicious
//! ones (`amount > 900`, too many withdrawals in 5 minutes, two places too far apart) and
//! publishes alerts for others to act on, with no duplicates. Shown here on top of that:
//! keys that keep each user in one partition (so a user's state lives in one task), event
//! time in record timestamps, the rules as a Kafka Streams topology (`topology.rs`: a
//! filter, a windowed count and an aggregate per user; the rules themselves, plain Rust, in
//! `detector.rs`), and `seek_to_timestamp`. The simulated bank, with its planted frauds, is
//! in `traffic.rs`.
//!
//! Exactly once. The application runs with `ProcessingGuarantee::ExactlyOnce`: each task
//! (one per partition) reads `transactions` with `ReadCommitted` and writes, in one
//! transaction, its alerts, its stores' changelog records and its input offsets. What the
//! rules remember (withdrawals per user and window, withdrawals already flagged, where
//! each card was last seen) is in those stores, so it moves with the offsets: a task that
//! starts again (after a crash, a rebalance, a restart) restores its stores from
//! `__fraud-detector-<store>-changelog` as of the last commit and goes on from the
//! committed offsets, meeting no record twice.
//!
//! The application runs in a process of its own, which `--crash-after N` makes die in the
//! middle of a transaction (`std::process::exit` at an alert after the N-th, once alerts it
//! sent are in the log and not committed; that process runs one thread and commits only
//! when it has caught up, so that its transaction is open when it dies). The example starts it again: `Broker::open` aborts the
//! transactions the dead process left open, the tasks' new transactional producers (same
//! ids, `fraud-detector-task-<partition>`) fence the old ones, and the tasks resume from
//! the committed offsets and restored stores. strom lets one process at a time write a
//! data directory, so the bank writes before the detector process starts, and the results
//! are read after it ends. The summary reads `fraud_alerts` with `ReadCommitted` and
//! checks every alert is there exactly once: ids (the flagged transaction and the rule)
//! unique, and the same alerts as the rules applied directly in a clean single pass.
//!
//! ```text
//! cargo run --example fraud                      # a second or so, in a temporary directory
//! cargo run --example fraud -- --crash-after 3   # the detector process dies and restarts
//! cargo run --example fraud -- --dir /tmp/bank   # keeps the data: run it twice
//! cargo test --example fraud                     # the rules' tests, and both runs checked
//! ```

mod detector;
mod topology;
mod traffic;

use std::collections::{BTreeMap, HashMap};
use std::error::Error;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use detector::{Alert, Rule, Transaction};
use serde::{Deserialize, Serialize};
use strom::streams::{ProcessingGuarantee, Streams, StreamsConfig};
use strom::{
    Broker, Consumer, ConsumerConfig, ConsumerRecord, IsolationLevel, OffsetReset, Record,
    TopicConfig, TopicPartition,
};
use traffic::{datetime, Traffic, DAY_MS};

const TRANSACTIONS: &str = "transactions";
const ALERTS: &str = "fraud_alerts";
const GROUP: &str = "fraud-detector";
const PRINTER: &str = "alert-printer";
/// How far back the auditor replays a flagged customer's history.
const AUDIT_MS: i64 = DAY_MS;
/// How many times a dead detector process is started again before the example gives up.
const RESTARTS: usize = 3;
/// Set, to the detector process's settings as JSON, in the environment of the detector
/// process: this program started again by itself.
const DETECTOR_PROCESS: &str = "STROM_FRAUD_DETECTOR_PROCESS";

const HELP: &str = "\
Fraud detection on strom, exactly once. A bank writes a day of card transactions (a
seeded random mix with planted frauds) to the topic `transactions`; the stream application
`fraud-detector` (strom::streams, ExactlyOnce), in a process of its own, flags amounts over
900, more than 3 withdrawals by a user in a 5-minute window of event time, and travel
faster than 900 km/h, and writes alerts to `fraud_alerts` in transactions that also commit
its offsets and its state stores' changelogs; an alert consumer
reads them with ReadCommitted; an auditor replays a flagged user's history with
seek_to_timestamp. Exits non-zero if a planted fraud is missed, or an alert is missing,
repeated or not what a clean single pass gives.

Usage: cargo run --example fraud -- [OPTIONS]

Options:
  --transactions N  transactions in the day, frauds included (default 2000, at least 100)
  --detectors N     threads of the application, members of its group (default 3)
  --seed N          seed of the random mix: the same seed, the same run (default 42)
  --crash-after N   the detector process (one thread) dies (process::exit) at an alert
                    after the N-th, once alerts it sent are in the log uncommitted: in
                    the middle of a transaction; it is started again
  --dir PATH        keep the data in PATH; each run adds the next day to its history
                    (default: a fresh temporary directory, removed at the end)
  -h, --help        print this help
";

struct Options {
    transactions: usize,
    detectors: usize,
    seed: u64,
    crash_after: Option<usize>,
    dir: Option<PathBuf>,
}

/// What the detector process is told, through [`DETECTOR_PROCESS`].
#[derive(Debug, Serialize, Deserialize)]
struct Settings {
    dir: PathBuf,
    detectors: usize,
    crash_after: Option<usize>,
}

/// What a run found, for the tests.
#[derive(Debug)]
#[cfg_attr(not(test), expect(dead_code, reason = "read by the tests"))]
struct Outcome {
    /// Times the detector process died and was started again.
    restarts: usize,
    /// Alerts in `fraud_alerts` as `ReadCommitted` readers see them, each once.
    alerts: usize,
    /// Alert records of aborted transactions, which only `ReadUncommitted` readers see.
    aborted: usize,
    planted: usize,
    caught: usize,
}

fn main() -> Result<(), Box<dyn Error>> {
    if let Ok(settings) = std::env::var(DETECTOR_PROCESS) {
        return detector_process(&settings);
    }
    let Some(options) = parse(std::env::args().skip(1))? else {
        print!("{HELP}");
        return Ok(());
    };
    let temporary = std::env::temp_dir().join(format!("strom-fraud-{}", std::process::id()));
    let dir = options.dir.clone().unwrap_or(temporary);
    let kept = if options.dir.is_some() {
        "kept"
    } else {
        "temporary"
    };
    println!(
        "fraud detection on strom, data in {} ({kept})",
        dir.display()
    );
    let outcome = run(&dir, &options);
    if options.dir.is_none() {
        std::fs::remove_dir_all(&dir)?;
    }
    outcome.map(drop)
}

/// The bank writes the day, the detector process checks it (started again if it dies),
/// and the results are read and checked.
fn run(dir: &Path, options: &Options) -> Result<Outcome, Box<dyn Error>> {
    let broker = Broker::open(dir)?;
    let day = prepare(&broker)?;
    let traffic = traffic::generate(options.seed, day, options.transactions);
    println!("{traffic}");
    let started = Instant::now();
    let producer = broker.producer();
    for tx in &traffic.transactions {
        // Keyed by user: a user's transactions go to one partition, in order. The record
        // timestamp is the event time, which `seek_to_timestamp` searches.
        let record = Record::new(serde_json::to_vec(tx)?).key(tx.user_id.to_string());
        producer.send(TRANSACTIONS, record.timestamp(tx.timestamp))?;
    }
    let count = traffic.transactions.len();
    println!(
        "the bank sent {count} transactions to `{TRANSACTIONS}` in {:.0?}",
        started.elapsed()
    );
    // One writer process at a time: the detector process opens the directory next.
    broker.close()?;

    let restarts = supervise(dir, options)?;

    let broker = Broker::open(dir)?;
    let outcome = report(&broker, &traffic, day, restarts);
    broker.close()?;
    outcome
}

/// Runs the detector process until it finishes, starting it again when it dies; returns
/// how many times it died.
fn supervise(dir: &Path, options: &Options) -> Result<usize, Box<dyn Error>> {
    let mut crash_after = options.crash_after;
    for restarts in 0..=RESTARTS {
        let settings = Settings {
            dir: dir.to_path_buf(),
            detectors: options.detectors,
            // Only the first process crashes.
            crash_after: crash_after.take(),
        };
        let crashing = settings.crash_after;
        let status = run_detector_process(&settings)?;
        if status.success() {
            if let Some(after) = crashing {
                println!(
                    "  (fewer than {after} + 1 alerts: --crash-after {after} did not come into effect)"
                );
            }
            return Ok(restarts);
        }
        println!(
            "the detector process died ({status}); starting it again. Broker::open aborts the"
        );
        println!(
            "  transactions it left open, the tasks' new producers (same transactional ids) fence"
        );
        println!("  the dead ones, restore their stores from the changelogs, and resume from the");
        println!("  group's committed offsets");
    }
    Err(format!("the detector process died {} times", RESTARTS + 1).into())
}

/// Starts the detector process (this program again) and waits for it, printing what it
/// prints.
fn run_detector_process(settings: &Settings) -> Result<ExitStatus, Box<dyn Error>> {
    let mut command = Command::new(std::env::current_exe()?);
    if cfg!(test) {
        // Under `cargo test` this program is the test harness: run only the test that
        // turns into the detector process.
        command.args(["tests::detector_process", "--exact", "--nocapture"]);
    }
    let mut child = command
        .env(DETECTOR_PROCESS, serde_json::to_string(settings)?)
        .stdout(Stdio::piped())
        .spawn()?;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            println!("{}", line?);
        }
    }
    Ok(child.wait()?)
}

/// The detector process: the stream application, its threads the members of the group
/// `fraud-detector`, until every transaction is checked and committed.
fn detector_process(settings: &str) -> Result<(), Box<dyn Error>> {
    let settings: Settings = serde_json::from_str(settings)?;
    // Opening finishes what a crashed process left: its open transactions are aborted.
    let broker = Broker::open(&settings.dir)?;

    let started = Instant::now();
    let alerts = Arc::new(AtomicUsize::new(0));
    let on_alert = {
        let (alerts, crash_after, watched) = (alerts.clone(), settings.crash_after, broker.clone());
        move |alert: &Alert| {
            let before = alerts.fetch_add(1, Ordering::AcqRel);
            // Dies only once alerts it sent are in the log uncommitted (an open
            // transaction holds a partition's last stable offset below its end): its one
            // thread is the only writer, and it is here, so nothing commits them first.
            if crash_after.is_some_and(|after| before >= after)
                && watched.describe_topic(ALERTS).is_ok_and(|alerts| {
                    alerts
                        .partitions
                        .iter()
                        .any(|p| p.last_stable_offset < p.high_watermark)
                })
            {
                println!(
                    "  the process dies before sending alert {} ({} {}), its transaction open",
                    before + 1,
                    alert.tx_id,
                    alert.rule
                );
                let _ = std::io::stdout().flush();
                // A crash: no destructor runs, nothing is closed, the transactions stay
                // open with the alerts sent since the last commit.
                std::process::exit(1);
            }
        }
    };
    let mut config = StreamsConfig::new(GROUP)
        .processing_guarantee(ProcessingGuarantee::ExactlyOnce)
        // The rules read every update of the per-user aggregates as an event (impossible
        // travel compares each location with the one before): no record cache, which
        // would send only a user's latest update per commit down the tables.
        .cache_max_bytes(0);
    let threads = if settings.crash_after.is_some() {
        // The process that is to crash runs one thread that commits only when it has
        // caught up, so that its transaction is open, with alerts in it, when it dies.
        config = config.commit_interval(Duration::from_secs(3_600));
        1
    } else {
        settings.detectors
    };
    config = config.num_threads(threads);
    let mut app = Streams::new(
        &broker,
        topology::topology(TRANSACTIONS, ALERTS, on_alert)?,
        config,
    )?;
    println!(
        "detector process {}: the stream application `{GROUP}` ({threads} thread{}, ExactlyOnce)",
        std::process::id(),
        if threads == 1 { "" } else { "s" }
    );
    app.start()?;
    if !app.wait_until_caught_up(Duration::from_secs(30))? {
        return Err("the detectors did not catch up in 30 s".into());
    }
    let done_in = started.elapsed();
    let group = broker.describe_group(GROUP)?;
    for member in &group.members {
        let mut partitions: Vec<u32> = member
            .assignment
            .iter()
            .filter(|tp| tp.topic == TRANSACTIONS)
            .map(|tp| tp.partition)
            .collect();
        partitions.sort_unstable();
        println!("  {}: {TRANSACTIONS} {partitions:?}", member.member_id);
    }
    println!("  stores: {}", topology::store_sizes(&app)?);
    let (sent, dropped) = (alerts.load(Ordering::Acquire), app.dropped_records());
    println!(
        "  caught up in {done_in:.0?}: {sent} alerts sent by this process, {dropped} records dropped"
    );
    app.close()?;
    broker.close()?;
    Ok(())
}

/// Creates the topics on a first run; on later runs (`--dir`), says what is kept, and
/// returns the first day with no transactions yet, so that history accumulates.
fn prepare(broker: &Broker) -> Result<i64, Box<dyn Error>> {
    if !broker.topics().iter().any(|t| t == TRANSACTIONS) {
        // Time retention compares record timestamps (event times in 2024 here) with the
        // clock, as Kafka's does, and would delete the kept days: keep them for ever, for
        // the audit.
        broker.create_topic(
            TRANSACTIONS,
            TopicConfig::default().partitions(6).retention_ms(-1),
        )?;
        broker.create_topic(ALERTS, TopicConfig::default().partitions(3))?;
    }
    // The first day from which `seek_to_timestamp` finds nothing: every partition's end.
    let (mut probe, ends) = reader(broker, TRANSACTIONS, IsolationLevel::ReadCommitted)?;
    let mut day = traffic::FIRST_DAY;
    loop {
        probe.seek_to_timestamp(day * DAY_MS)?;
        if ends
            .iter()
            .all(|(tp, end)| probe.position(tp) == Some(*end))
        {
            break;
        }
        day += 1;
    }
    let earlier: u64 = ends.iter().map(|(_, end)| end).sum();
    if earlier > 0 {
        println!(
            "kept: {earlier} transactions up to {}; `{GROUP}` resumes at its committed offsets",
            &datetime(day * DAY_MS - 1)[..10]
        );
    }
    Ok(day)
}

/// Reads the results: this run's alerts, whether every alert is in `fraud_alerts` exactly
/// once, the score, and the audit.
fn report(
    broker: &Broker,
    traffic: &Traffic,
    day: i64,
    restarts: usize,
) -> Result<Outcome, Box<dyn Error>> {
    let alerts = print_alerts(broker)?;
    let check = verify(broker)?;
    println!("\nsummary");
    let ours: Vec<&Alert> = alerts.iter().collect();
    let score = traffic.score(&ours);
    println!("{score}");
    println!("{check}");
    // The audit prefers a user flagged for travel: the history shows the trip.
    let today = day * DAY_MS;
    let flagged = alerts
        .iter()
        .filter(|a| a.timestamp >= today)
        .min_by_key(|a| (a.rule != Rule::ImpossibleTravel, a.timestamp));
    if let Some(alert) = flagged {
        audit(broker, alert, &check.alerts, today)?;
    }
    if score.caught < score.planted {
        return Err(format!("missed {} planted frauds", score.planted - score.caught).into());
    }
    if !check.exactly_once() {
        return Err("the alerts in `fraud_alerts` are not each there exactly once".into());
    }
    Ok(Outcome {
        restarts,
        alerts: check.alerts.len(),
        aborted: check.aborted,
        planted: score.planted,
        caught: score.caught,
    })
}

/// The alert consumer: a group member reading `fraud_alerts` with `ReadCommitted` from its
/// committed offsets to the end (this run's alerts), printing them in event-time order.
fn print_alerts(broker: &Broker) -> Result<Vec<Alert>, Box<dyn Error>> {
    let config = ConsumerConfig::default()
        .group_id(PRINTER)
        .enable_auto_commit(false)
        .isolation_level(IsolationLevel::ReadCommitted)
        .auto_offset_reset(OffsetReset::Earliest);
    let mut consumer = broker.consumer(config);
    consumer.subscribe([ALERTS])?;
    let ends = ends(broker, ALERTS, IsolationLevel::ReadCommitted)?;
    let mut alerts = Vec::new();
    wait_for("the alert consumer to read to the end", || {
        for record in &consumer.poll(Duration::from_millis(20))? {
            alerts.push(record.json::<Alert>()?);
        }
        Ok(consumer.assignment().len() == ends.len()
            && ends
                .iter()
                .all(|(tp, end)| consumer.position(tp) >= Some(*end)))
    })?;
    consumer.commit()?;
    consumer.close()?;
    alerts.sort_by_key(|a| a.timestamp);
    println!("alerts, as the alert consumer reads them from `{ALERTS}` (ReadCommitted):");
    for alert in &alerts {
        let (time, user, rule, reason) = (
            &datetime(alert.timestamp)[11..],
            alert.user_id,
            alert.rule,
            &alert.reason,
        );
        println!("  {time}  user {user}  {rule:<17}  {reason}");
    }
    Ok(alerts)
}

/// Every alert in `fraud_alerts`, checked against a clean single pass over `transactions`.
struct Check {
    /// The alerts as `ReadCommitted` readers see them.
    alerts: Vec<Alert>,
    /// Alert records of aborted transactions: what `ReadUncommitted` readers see besides.
    aborted: usize,
    transactions: usize,
    /// Ids found more than once.
    repeated: Vec<(String, Rule)>,
    /// Alerts of the clean pass missing from the topic, or different there.
    missing: Vec<Alert>,
    /// Alerts in the topic that the clean pass does not give.
    unexpected: Vec<Alert>,
}

impl Check {
    fn exactly_once(&self) -> bool {
        self.repeated.is_empty() && self.missing.is_empty() && self.unexpected.is_empty()
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per_rule: Vec<String> = Rule::ALL
            .iter()
            .map(|rule| {
                let n = self.alerts.iter().filter(|a| a.rule == *rule).count();
                format!("{n} {rule}")
            })
            .collect();
        let (alerts, transactions) = (self.alerts.len(), self.transactions);
        let verdict = if self.exactly_once() {
            "every alert exactly once"
        } else {
            "NOT exactly once"
        };
        writeln!(
            f,
            "  {verdict} in `{ALERTS}`, read with ReadCommitted: {alerts} alerts for the {transactions}"
        )?;
        write!(f, "  transactions ({})", per_rule.join(", "))?;
        if self.exactly_once() {
            writeln!(f, ", no id (flagged record, rule)")?;
            write!(
                f,
                "  twice, the same as a clean single pass over `{TRANSACTIONS}` gives"
            )?;
        } else {
            let (repeated, missing) = (self.repeated.len(), self.missing.len());
            let unexpected = self.unexpected.len();
            write!(f, ": {repeated} ids repeated, {missing} alerts missing or different, {unexpected} unexpected")?;
            for (source, rule) in &self.repeated {
                write!(f, "\n    repeated: {source} {rule}")?;
            }
            for alert in &self.missing {
                write!(f, "\n    missing: {alert:?}")?;
            }
            for alert in &self.unexpected {
                write!(f, "\n    unexpected: {alert:?}")?;
            }
        }
        if self.aborted > 0 {
            let aborted = self.aborted;
            write!(f, "\n  {aborted} alert records of aborted transactions are in the log too: ReadUncommitted")?;
            write!(f, "\n  readers see them, ReadCommitted ones never do")?;
        }
        Ok(())
    }
}

/// Reads all of `fraud_alerts` both ways, and `transactions` through fresh detectors.
fn verify(broker: &Broker) -> strom::Result<Check> {
    let mut alerts = Vec::new();
    read_all(broker, ALERTS, IsolationLevel::ReadCommitted, |record| {
        alerts.push(record.json::<Alert>()?);
        Ok(())
    })?;
    let mut everything = 0;
    read_all(broker, ALERTS, IsolationLevel::ReadUncommitted, |_| {
        everything += 1;
        Ok(())
    })?;
    // The clean pass: the rules applied directly, each record once, in offset order.
    let mut direct = topology::Direct::default();
    let mut expected = BTreeMap::new();
    let mut transactions = 0;
    read_all(
        broker,
        TRANSACTIONS,
        IsolationLevel::ReadCommitted,
        |record| {
            transactions += 1;
            let tx = record.json()?;
            for alert in direct.check(record.partition(), record.timestamp(), &tx) {
                expected.insert((alert.source.clone(), alert.rule), alert);
            }
            Ok(())
        },
    )?;
    let mut found = BTreeMap::new();
    let mut repeated = Vec::new();
    for alert in &alerts {
        let id = (alert.source.clone(), alert.rule);
        if found.insert(id.clone(), alert).is_some() {
            repeated.push(id);
        }
    }
    let missing = expected
        .iter()
        .filter(|(id, alert)| found.get(*id) != Some(alert))
        .map(|(_, alert)| alert.clone())
        .collect();
    let unexpected = found
        .iter()
        .filter(|(id, _)| !expected.contains_key(*id))
        .map(|(_, alert)| (*alert).clone())
        .collect();
    Ok(Check {
        aborted: everything - alerts.len(),
        alerts,
        transactions,
        repeated,
        missing,
        unexpected,
    })
}

/// Calls `each` on every record of `topic` as a reader with `isolation` sees it, from the
/// start of each partition to its end.
fn read_all(
    broker: &Broker,
    topic: &str,
    isolation: IsolationLevel,
    mut each: impl FnMut(&ConsumerRecord) -> strom::Result<()>,
) -> strom::Result<()> {
    let (mut consumer, ends) = reader(broker, topic, isolation)?;
    consumer.seek_to_beginning(&[])?;
    while !ends
        .iter()
        .all(|(tp, end)| consumer.position(tp) >= Some(*end))
    {
        for record in &consumer.poll(Duration::from_millis(100))? {
            each(record)?;
        }
    }
    Ok(())
}

/// Replays the flagged user's history from `AUDIT_MS` before the flagged transaction:
/// every partition assigned by hand, `seek_to_timestamp`, read to the end, that user's kept.
fn audit(
    broker: &Broker,
    flagged: &Alert,
    alerts: &[Alert],
    today: i64,
) -> Result<(), Box<dyn Error>> {
    let from = flagged.timestamp - AUDIT_MS;
    let (mut auditor, ends) = reader(broker, TRANSACTIONS, IsolationLevel::ReadCommitted)?;
    auditor.seek_to_timestamp(from)?;
    let key = flagged.user_id.to_string();
    let (mut read, mut history) = (0, Vec::new());
    wait_for("the audit to read to the end", || {
        for record in &auditor.poll(Duration::from_millis(100))? {
            read += 1;
            if record.key() == Some(key.as_bytes()) {
                history.push(record.json::<Transaction>()?);
            }
        }
        Ok(ends
            .iter()
            .all(|(tp, end)| auditor.position(tp) >= Some(*end)))
    })?;
    // A record sent late can follow the seek point with an older event time.
    history.retain(|t| t.timestamp >= from);
    history.sort_by_key(|t| t.timestamp);
    let earlier = history.iter().filter(|t| t.timestamp < today).count();
    let (user, rule, parts) = (flagged.user_id, flagged.rule, ends.len());
    println!(
        "\naudit of user {user} ({rule}): seek_to_timestamp({}) on the {parts} partitions,",
        datetime(from)
    );
    println!(
        "  {read} records read to the end, {} of this user ({earlier} from earlier runs):",
        history.len()
    );
    let rules: HashMap<&str, Rule> = alerts.iter().map(|a| (a.tx_id.as_str(), a.rule)).collect();
    for t in &history {
        let mark = rules
            .get(t.tx_id.as_str())
            .map_or(String::new(), |r| format!("  <- {r}"));
        let (at, place, kind, amount) = (datetime(t.timestamp), &t.location, t.kind, t.amount);
        println!("  {at}  {place:<10} {kind:<10} {amount:>8.2}{mark}");
    }
    Ok(())
}

/// A consumer outside any group, assigned every partition of `topic`, and each
/// partition's end as it sees it now.
fn reader(
    broker: &Broker,
    topic: &str,
    isolation: IsolationLevel,
) -> strom::Result<(Consumer, Vec<(TopicPartition, u64)>)> {
    let ends = ends(broker, topic, isolation)?;
    let mut consumer = broker.consumer(ConsumerConfig::default().isolation_level(isolation));
    consumer.assign(&ends.iter().map(|(tp, _)| tp.clone()).collect::<Vec<_>>())?;
    Ok((consumer, ends))
}

/// Each partition of `topic` and its end for a reader with `isolation`: the high
/// watermark, or the last stable offset for committed reads.
fn ends(
    broker: &Broker,
    topic: &str,
    isolation: IsolationLevel,
) -> strom::Result<Vec<(TopicPartition, u64)>> {
    let partitions = broker.describe_topic(topic)?.partitions;
    Ok(partitions
        .iter()
        .map(|p| {
            let end = match isolation {
                IsolationLevel::ReadCommitted => p.last_stable_offset,
                IsolationLevel::ReadUncommitted => p.high_watermark,
            };
            (TopicPartition::new(topic, p.partition), end)
        })
        .collect())
}

/// Calls `done` until it says yes; an error after 30 s.
fn wait_for(
    what: &str,
    mut done: impl FnMut() -> strom::Result<bool>,
) -> Result<(), Box<dyn Error>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done()? {
        if Instant::now() > deadline {
            return Err(format!("gave up waiting for {what}").into());
        }
        thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, Box<dyn Error>> {
    let mut options = Options {
        transactions: 2_000,
        detectors: 3,
        seed: 42,
        crash_after: None,
        dir: None,
    };
    while let Some(arg) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{arg} needs a value (see --help)"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{arg} {v:?}: {e}"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--transactions" => options.transactions = usize::try_from(number(value?)?)?,
            "--detectors" => options.detectors = usize::try_from(number(value?)?)?,
            "--seed" => options.seed = number(value?)?,
            "--crash-after" => options.crash_after = Some(usize::try_from(number(value?)?)?),
            "--dir" => options.dir = Some(value?.into()),
            _ => return Err(format!("unknown argument {arg:?} (see --help)").into()),
        }
    }
    if options.transactions < 100 || options.detectors == 0 {
        return Err("--transactions must be at least 100, --detectors at least 1".into());
    }
    Ok(Some(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Not a test of its own: the detector process of the tests below, which run this
    /// test binary again with only this test and [`DETECTOR_PROCESS`] set.
    #[test]
    fn detector_process() {
        if let Ok(settings) = std::env::var(DETECTOR_PROCESS) {
            let code = match super::detector_process(&settings) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("detector process: {e}");
                    1
                }
            };
            std::process::exit(code);
        }
    }

    fn run_once(crash_after: Option<usize>) -> Outcome {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let options = Options {
            transactions: 2_000,
            detectors: 3,
            seed: 42,
            crash_after,
            dir: Some(dir.path().to_path_buf()),
        };
        run(dir.path(), &options).expect("every planted fraud caught, every alert once")
    }

    #[test]
    fn every_alert_is_in_fraud_alerts_exactly_once() {
        let outcome = run_once(None);
        assert_eq!(outcome.restarts, 0);
        assert_eq!(outcome.caught, outcome.planted);
        assert!(outcome.alerts >= outcome.planted, "{outcome:?}");
    }

    #[test]
    fn a_crash_mid_transaction_neither_loses_nor_repeats_an_alert() {
        let outcome = run_once(Some(3));
        assert_eq!(outcome.restarts, 1, "the process died once: {outcome:?}");
        assert!(
            outcome.aborted >= 1,
            "the alert sent before the crash is in the log, aborted: {outcome:?}"
        );
        // `run` checked the alerts against a clean single pass: each once, none missing.
        assert_eq!(outcome.caught, outcome.planted);
    }
}
