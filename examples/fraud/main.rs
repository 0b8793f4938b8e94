//! Real-time fraud detection: a producer writes card transactions to `transactions`, the
//! consumer group `fraud-detector` checks each against three rules and writes alerts to
//! `fraud_alerts`, an alert consumer prints them, and an auditor replays one flagged
//! customer's history from a point in time.
//!
//! The Kafka tutorials' idea: stream every transaction to a consumer that flags suspicious
//! ones (`amount > 900`, too many withdrawals in 5 minutes, two places too far apart) and
//! publishes alerts for others to act on. Shown here on top of that: keys that keep each
//! user in one partition (so a user's state lives in one group member), event time in
//! record timestamps, commits after the alerts are written (at-least-once), and
//! `seek_to_timestamp`. The rules are in `detector.rs`; the simulated bank, with its
//! planted frauds, in `traffic.rs`.
//!
//! ```text
//! cargo run --example fraud                      # under a second, in a temporary directory
//! cargo run --example fraud -- --dir /tmp/bank   # keeps the data: run it twice
//! cargo test --example fraud                     # the rules' unit tests
//! ```

mod detector;
mod traffic;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::error::Error;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use detector::{Alert, Detector, Rule, Rules, Transaction};
use strom::{Broker, Consumer, ConsumerConfig, OffsetReset, Record, TopicConfig, TopicPartition};
use traffic::{datetime, DAY_MS};

const TRANSACTIONS: &str = "transactions";
const ALERTS: &str = "fraud_alerts";
const GROUP: &str = "fraud-detector";
const PRINTER: &str = "alert-printer";
/// How far back the auditor replays a flagged customer's history.
const AUDIT_MS: i64 = DAY_MS;

const HELP: &str = "\
Fraud detection on strom. A producer writes a day of card transactions (a seeded random
mix with planted frauds) to the topic `transactions`; the consumer group `fraud-detector`
flags amounts over 900, more than 3 withdrawals by a user within 5 minutes of event time,
and travel faster than 900 km/h, and writes alerts to `fraud_alerts`; an alert consumer
prints them; an auditor replays a flagged user's history with seek_to_timestamp.
Exits non-zero if a planted fraud is missed or an alert lost.

Usage: cargo run --example fraud -- [OPTIONS]

Options:
  --transactions N  transactions in the day, frauds included (default 2000, at least 100)
  --detectors N     members of the detector group, one thread each (default 3)
  --seed N          seed of the random mix: the same seed, the same run (default 42)
  --dir PATH        keep the data in PATH; each run adds the next day to its history
                    (default: a fresh temporary directory, removed at the end)
  -h, --help        print this help
";

struct Options {
    transactions: usize,
    detectors: usize,
    seed: u64,
    dir: Option<PathBuf>,
}

/// What one member of the detector group did.
#[derive(Default)]
struct Member {
    partitions: BTreeSet<u32>,
    records: usize,
    alerts: usize,
    commits: usize,
    users: usize,
}

/// Each detector's partitions, by member id, as it saw them after its last `poll`.
type Owned = Mutex<HashMap<String, Vec<TopicPartition>>>;

fn main() -> Result<(), Box<dyn Error>> {
    let Some(options) = parse(std::env::args().skip(1))? else {
        print!("{HELP}");
        return Ok(());
    };
    let temporary = std::env::temp_dir().join(format!("strom-fraud-{}", std::process::id()));
    let dir = options.dir.clone().unwrap_or(temporary);
    let broker = Broker::open(&dir)?;
    let kept = if options.dir.is_some() {
        "kept"
    } else {
        "temporary"
    };
    println!(
        "fraud detection on strom, data in {} ({kept})",
        dir.display()
    );
    let outcome = run(&broker, &options);
    broker.close()?;
    if options.dir.is_none() {
        std::fs::remove_dir_all(&dir)?;
    }
    outcome
}

fn run(broker: &Broker, options: &Options) -> Result<(), Box<dyn Error>> {
    let day = prepare(broker)?;
    let traffic = traffic::generate(options.seed, day, options.transactions);
    println!("{traffic}");
    let stop_detectors = Arc::new(AtomicBool::new(false));
    let stop_printer = Arc::new(AtomicBool::new(false));
    let owned = Arc::new(Owned::default());
    let members: Vec<_> = (0..options.detectors)
        .map(|_| {
            let (broker, stop, owned) = (broker.clone(), stop_detectors.clone(), owned.clone());
            thread::spawn(move || detect(&broker, &stop, &owned))
        })
        .collect();
    let (broker2, stop) = (broker.clone(), stop_printer.clone());
    let printer = thread::spawn(move || print_alerts(&broker2, &stop));
    // Produce once every member holds its final partitions: a partition moving later
    // would leave its users' windows behind, in the member that had it.
    wait_for("the detector group to settle", || {
        settled(broker, &owned, options.detectors)
    })?;
    println!("alerts, as the alert consumer reads them from `{ALERTS}`:");

    let started = Instant::now();
    let producer = broker.producer();
    for tx in &traffic.transactions {
        // Keyed by user: a user's transactions go to one partition, in order. The record
        // timestamp is the event time, which `seek_to_timestamp` searches.
        let record = Record::new(serde_json::to_vec(tx)?).key(tx.user_id.to_string());
        producer.send(TRANSACTIONS, record.timestamp(tx.timestamp))?;
    }
    let sent_in = started.elapsed();
    wait_for("the detectors to commit", || caught_up(broker, GROUP))?;
    let done_in = started.elapsed();
    stop_detectors.store(true, Ordering::Release);
    let members: Vec<Member> = members
        .into_iter()
        .map(|m| m.join().expect("detector"))
        .collect::<strom::Result<_>>()?;
    wait_for("the alert consumer to catch up", || {
        caught_up(broker, PRINTER)
    })?;
    stop_printer.store(true, Ordering::Release);
    let alerts = printer.join().expect("alert consumer")?;

    println!("\nsummary");
    for (i, m) in members.iter().enumerate() {
        let (parts, records, users, alerts, commits) =
            (&m.partitions, m.records, m.users, m.alerts, m.commits);
        println!("  detector-{}: partitions {parts:?}, {records} records of {users} users, {alerts} alerts, {commits} commits", i + 1);
    }
    #[expect(clippy::cast_precision_loss, reason = "a rate to print")]
    let rate = traffic.transactions.len() as f64 / done_in.as_secs_f64();
    println!("  all sent in {sent_in:.0?}; checked, alerted and committed in {done_in:.0?} ({rate:.0} transactions/s)");
    // At-least-once: an alert may come twice. Count each (rule, transaction) once.
    let mut seen = HashSet::new();
    let unique: Vec<&Alert> = alerts
        .iter()
        .filter(|a| seen.insert((a.rule, &a.tx_id)))
        .collect();
    let score = traffic.score(&unique);
    let sent: usize = members.iter().map(|m| m.alerts).sum();
    let repeated = alerts.len() - unique.len();
    println!(
        "{score}\n  alerts: {sent} sent by the detectors, {} received, {repeated} repeated",
        alerts.len()
    );
    println!("  delivery: at-least-once. A detector commits its offsets only after its alerts are written;\n  a crash in between replays those records: an alert may be repeated, never lost.");
    // The audit prefers a user flagged for travel: the history shows the trip.
    let today = day * DAY_MS;
    let flagged = unique
        .iter()
        .filter(|a| a.timestamp >= today)
        .min_by_key(|a| (a.rule != Rule::ImpossibleTravel, a.timestamp));
    if let Some(alert) = flagged {
        audit(broker, alert, &unique, today)?;
    }
    if score.caught < score.planted || alerts.len() < sent {
        return Err(format!(
            "missed {} planted frauds, lost {} alerts",
            score.planted - score.caught,
            sent.saturating_sub(alerts.len())
        )
        .into());
    }
    Ok(())
}

/// Creates the topics on a first run; on later runs (`--dir`), says what is kept, and
/// returns the first day with no transactions yet, so that history accumulates.
fn prepare(broker: &Broker) -> Result<i64, Box<dyn Error>> {
    if !broker.topics().iter().any(|t| t == TRANSACTIONS) {
        // Time retention compares record timestamps (event times in 2024 here) with the
        // clock, as Kafka's does, and would delete the kept days: keep them for ever.
        broker.create_topic(
            TRANSACTIONS,
            TopicConfig::default().partitions(6).retention_ms(-1),
        )?;
        broker.create_topic(ALERTS, TopicConfig::default().partitions(3))?;
    }
    // The first day from which `seek_to_timestamp` finds nothing: every partition's end.
    let (mut probe, ends) = reader(broker)?;
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

/// A member of the detector group. Its offsets are committed only after the alerts for
/// the records read are in `fraud_alerts`, which makes the pipeline at-least-once.
fn detect(broker: &Broker, stop: &AtomicBool, owned: &Owned) -> strom::Result<Member> {
    let mut consumer = member(broker, GROUP, TRANSACTIONS)?;
    let producer = broker.producer();
    let mut detector = Detector::new(Rules::default());
    let mut me = Member::default();
    while !stop.load(Ordering::Acquire) {
        let records = consumer.poll(Duration::from_millis(20))?;
        let id = consumer.member_id().unwrap_or_default().to_string();
        owned
            .lock()
            .expect("no panics")
            .insert(id, consumer.assignment());
        if records.is_empty() {
            continue;
        }
        for record in &records {
            me.partitions.insert(record.partition());
            let tx: Transaction = record.json()?;
            for alert in detector.check(&tx) {
                producer.send_json(ALERTS, Some(&tx.user_id.to_string()), &alert)?;
                me.alerts += 1;
            }
        }
        me.records += records.len();
        // IMPORTANT: commit only now that `send` has returned for every alert of these
        // records. A crash before this line re-reads them and may repeat an alert; a
        // commit before the sends could lose one.
        consumer.commit()?;
        me.commits += 1;
    }
    me.users = detector.users();
    consumer.close()?;
    Ok(me)
}

/// The alert consumer: prints each alert as it arrives, and hands them all back.
fn print_alerts(broker: &Broker, stop: &AtomicBool) -> strom::Result<Vec<Alert>> {
    let mut consumer = member(broker, PRINTER, ALERTS)?;
    let mut alerts = Vec::new();
    while !stop.load(Ordering::Acquire) {
        for record in &consumer.poll(Duration::from_millis(20))? {
            let alert: Alert = record.json()?;
            let (time, user, rule, reason) = (
                &datetime(alert.timestamp)[11..],
                alert.user_id,
                alert.rule,
                &alert.reason,
            );
            println!("  {time}  user {user}  {rule:<17}  {reason}");
            alerts.push(alert);
        }
        consumer.commit()?;
    }
    consumer.close()?;
    Ok(alerts)
}

/// Replays the flagged user's history from `AUDIT_MS` before the flagged transaction:
/// every partition assigned by hand, `seek_to_timestamp`, read to the end, that user's kept.
fn audit(
    broker: &Broker,
    flagged: &Alert,
    alerts: &[&Alert],
    today: i64,
) -> Result<(), Box<dyn Error>> {
    let from = flagged.timestamp - AUDIT_MS;
    let (mut auditor, ends) = reader(broker)?;
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

/// A group member that commits by hand, from the earliest record the first time.
fn member(broker: &Broker, group: &str, topic: &str) -> strom::Result<Consumer> {
    let config = ConsumerConfig::default()
        .group_id(group)
        .enable_auto_commit(false);
    let mut consumer = broker.consumer(config.auto_offset_reset(OffsetReset::Earliest));
    consumer.subscribe([topic])?;
    Ok(consumer)
}

/// A consumer outside any group, assigned every partition of `transactions`, and each
/// partition's end (high watermark) as it is now.
fn reader(broker: &Broker) -> strom::Result<(Consumer, Vec<(TopicPartition, u64)>)> {
    let partitions = broker.describe_topic(TRANSACTIONS)?.partitions;
    let ends: Vec<_> = partitions
        .iter()
        .map(|p| {
            (
                TopicPartition::new(TRANSACTIONS, p.partition),
                p.high_watermark,
            )
        })
        .collect();
    let mut consumer = broker.consumer(ConsumerConfig::default());
    consumer.assign(&ends.iter().map(|(tp, _)| tp.clone()).collect::<Vec<_>>())?;
    Ok((consumer, ends))
}

/// Whether the detector group has `members` members, each holding its assigned partitions.
fn settled(broker: &Broker, owned: &Owned, members: usize) -> strom::Result<bool> {
    let group = match broker.describe_group(GROUP) {
        Err(strom::Error::UnknownGroup { .. }) => return Ok(false), // nobody joined yet
        group => group?,
    };
    let owned = owned.lock().expect("no panics");
    let holds = |m: &strom::MemberDescription| {
        owned
            .get(&m.member_id)
            .is_some_and(|o| o.iter().collect::<HashSet<_>>() == m.assignment.iter().collect())
    };
    Ok(group.members.len() == members && group.members.iter().all(holds))
}

/// Whether `group` has committed everything there is to read.
fn caught_up(broker: &Broker, group: &str) -> strom::Result<bool> {
    Ok(broker
        .describe_group(group)?
        .partitions
        .iter()
        .all(|p| p.lag == 0))
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
            "--dir" => options.dir = Some(value?.into()),
            _ => return Err(format!("unknown argument {arg:?} (see --help)").into()),
        }
    }
    if options.transactions < 100 || options.detectors == 0 {
        return Err("--transactions must be at least 100, --detectors at least 1".into());
    }
    Ok(Some(options))
}
