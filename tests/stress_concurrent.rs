//! Everything at once for a bounded time: 4 producers on a retention-trimmed topic and a
//! compacted one, 2 consumer groups whose members keep joining and leaving, and a thread
//! running maintenance in a loop. Afterwards the logs are checked against every
//! acknowledged record, and what the groups processed against the logs: every record once
//! per group, by one member at a time, with its acknowledged value, and nothing left out
//! that retention did not delete.
//!
//! `STROM_STRESS_SECS` sets the duration (20 s by default).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strom::{
    AssignmentStrategy, Broker, CleanupPolicy, ConsumerConfig, OffsetReset, RebalanceListener,
    Record, Result, Revoked, TopicConfig, TopicPartition,
};

mod common;

use common::{checked_body, checksummed, env_number, fnv, SplitMix64};

const SECS_ENV: &str = "STROM_STRESS_SECS";
const DEFAULT_SECS: u64 = 20;
/// Delete policy, trimmed by `retention_bytes`.
const EVENTS: &str = "events";
const EVENTS_PARTITIONS: u32 = 3;
const RETENTION_BYTES: u64 = 16 * 1024;
/// Compact policy, with `KEYS` keys.
const TABLE: &str = "table";
const TABLE_PARTITIONS: u32 = 2;
const KEYS: u64 = 300;
const SEGMENT_BYTES: u64 = 4096;
const PRODUCERS: u32 = 4;
const MEMBERS_PER_GROUP: u32 = 2;
/// Auto-commit on (commits on poll, revoke and close), `Range`, reads `EVENTS`.
const AUTO_GROUP: &str = "auto";
/// Commits after each poll, `CooperativeSticky`, reads both topics.
const MANUAL_GROUP: &str = "manual";

/// `topic.thread.seq.filler.checksum`, self-checking.
fn value(topic: &str, thread: u32, seq: u64) -> String {
    let len = usize::try_from(seq * 29 % 150).expect("small");
    let filler = &"0123456789abcdef".repeat(10)[..len];
    checksummed(&format!("{topic}.{thread}.{seq}.{filler}"))
}

fn well_formed(stored: &[u8]) -> bool {
    let Some(body) = checked_body(stored) else {
        return false;
    };
    let parts: Vec<&str> = body.split('.').collect();
    match parts[..] {
        [topic, thread, seq, _] => match (thread.parse::<u32>(), seq.parse::<u64>()) {
            (Ok(t), Ok(s)) => value(topic, t, s).as_bytes() == stored,
            _ => false,
        },
        _ => false,
    }
}

/// Where a record is.
type At = (&'static str, u32, u64);

/// An acknowledged record: its key, and its value (`None`: a tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Acked {
    key: Option<String>,
    value: Option<String>,
}

fn table_key(n: u64) -> String {
    format!("key-{n}")
}

/// One producer: sends and small batches to both topics, paced a little, until `until`.
fn produce(broker: &Broker, thread: u32, until: Instant) -> Result<Vec<(At, Acked)>> {
    let producer = broker.producer();
    let mut rng = SplitMix64(u64::from(thread) + 1);
    let mut acks = Vec::new();
    let mut seq = 0u64;
    while Instant::now() < until {
        let topic = if rng.below(2) == 0 { EVENTS } else { TABLE };
        let n = if rng.below(3) == 0 {
            2 + rng.below(4)
        } else {
            1
        };
        let sent: Vec<Acked> = (seq..seq + n)
            .map(|s| {
                if topic == EVENTS {
                    // Keyed, keyless (sticky) and explicit partitions.
                    let key = (s % 3 != 0).then(|| format!("user-{}", s % 97));
                    Acked {
                        key,
                        value: Some(value(topic, thread, s)),
                    }
                } else {
                    let key = Some(table_key(rng.below(KEYS)));
                    let value = (rng.below(40) != 0).then(|| value(topic, thread, s));
                    Acked { key, value }
                }
            })
            .collect();
        let record = |a: &Acked| match (&a.key, &a.value) {
            (Some(k), None) => Record::tombstone(k.clone()),
            (Some(k), Some(v)) => Record::new(v.clone()).key(k.clone()),
            (None, Some(v)) => Record::new(v.clone()),
            (None, None) => unreachable!("keyless tombstone"),
        };
        let metas = if n == 1 {
            vec![producer.send(topic, record(&sent[0]))?]
        } else {
            producer.send_batch(topic, sent.iter().map(record))?
        };
        assert_eq!(metas.len(), sent.len(), "one metadata per record");
        for (meta, a) in metas.into_iter().zip(sent) {
            acks.push(((topic, meta.partition, meta.offset), a));
        }
        seq += n;
        if seq % 4 < n {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(acks)
}

/// Partition → the member tag processing it, per group.
type Claims = Arc<Mutex<HashMap<(&'static str, String, u32), u64>>>;

/// Releases a member's claim on partitions as they are revoked.
struct Releaser {
    group: &'static str,
    tag: u64,
    claims: Claims,
}

impl RebalanceListener for Releaser {
    fn on_partitions_revoked(&mut self, revoked: &mut Revoked<'_>) -> Result<()> {
        let mut claims = self.claims.lock().expect("claims");
        for tp in revoked.partitions() {
            let key = (self.group, tp.topic.clone(), tp.partition);
            if claims.get(&key) == Some(&self.tag) {
                claims.remove(&key);
            }
        }
        Ok(())
    }
}

/// What a group's members processed: (topic, partition, offset) → value hash (0 for a
/// tombstone), and the problems seen while processing.
#[derive(Debug, Default)]
struct Processed {
    records: BTreeMap<(String, u32, u64), Vec<u64>>,
    overlaps: Vec<String>,
    damaged: Vec<String>,
    spans: u64,
}

fn group_config(group: &'static str) -> ConsumerConfig {
    let config = ConsumerConfig::default()
        .group_id(group)
        .auto_offset_reset(OffsetReset::Earliest)
        .max_poll_records(50);
    if group == AUTO_GROUP {
        config.auto_commit_interval(Duration::from_millis(20))
    } else {
        config
            .enable_auto_commit(false)
            .assignment_strategy(AssignmentStrategy::CooperativeSticky)
    }
}

fn group_topics(group: &str) -> &'static [&'static str] {
    if group == AUTO_GROUP {
        &[EVENTS]
    } else {
        &[EVENTS, TABLE]
    }
}

/// Takes one poll's records: checks them, claims their partitions for `tag`, and notes
/// them in `processed`.
fn process(
    group: &'static str,
    tag: u64,
    records: &strom::Records,
    claims: &Claims,
    processed: &Mutex<Processed>,
) {
    let mut processed = processed.lock().expect("processed");
    let mut claims = claims.lock().expect("claims");
    for r in records {
        let key = (group, r.topic().to_string(), r.partition());
        let owner = *claims.entry(key).or_insert(tag);
        if owner != tag {
            processed.overlaps.push(format!(
                "{group}: member {tag} got {}-{}@{} while member {owner} holds the partition",
                r.topic(),
                r.partition(),
                r.offset()
            ));
        }
        let hash = if r.is_tombstone() {
            0
        } else {
            if !well_formed(r.value()) {
                processed.damaged.push(format!(
                    "{group}: {}-{}@{}: {:?}",
                    r.topic(),
                    r.partition(),
                    r.offset(),
                    String::from_utf8_lossy(r.value())
                ));
            }
            fnv(r.value())
        };
        processed
            .records
            .entry((r.topic().to_string(), r.partition(), r.offset()))
            .or_default()
            .push(hash);
    }
}

/// One member slot of a group: joins, polls a while, leaves, and again, until `until`.
fn member(
    broker: &Broker,
    group: &'static str,
    seed: u64,
    until: Instant,
    claims: &Claims,
    processed: &Mutex<Processed>,
) -> Result<()> {
    static TAGS: AtomicU64 = AtomicU64::new(1);
    let mut rng = SplitMix64(seed);
    while Instant::now() < until {
        let tag = TAGS.fetch_add(1, Ordering::Relaxed);
        let mut consumer = broker.consumer(group_config(group));
        let releaser = Releaser {
            group,
            tag,
            claims: Arc::clone(claims),
        };
        consumer.subscribe_with_listener(group_topics(group), releaser)?;
        let mut span = BTreeSet::new();
        for _ in 0..5 + rng.below(40) {
            let records = consumer.poll(Duration::from_millis(10))?;
            for r in &records {
                assert!(
                    span.insert((r.topic().to_string(), r.partition(), r.offset())),
                    "{group}: member {tag} got {}-{}@{} twice in one membership",
                    r.topic(),
                    r.partition(),
                    r.offset()
                );
            }
            process(group, tag, &records, claims, processed);
            if group == MANUAL_GROUP {
                consumer.commit()?;
            }
            if Instant::now() >= until {
                break;
            }
        }
        // Done processing: let the partitions go before leaving.
        claims
            .lock()
            .expect("claims")
            .retain(|(g, _, _), owner| *g != group || *owner != tag);
        consumer.close()?;
        processed.lock().expect("processed").spans += 1;
        std::thread::sleep(Duration::from_millis(rng.below(20)));
    }
    Ok(())
}

/// After the run: one member per group reads everything left, up to the high watermarks.
fn drain(
    broker: &Broker,
    group: &'static str,
    claims: &Claims,
    processed: &Mutex<Processed>,
) -> Result<()> {
    let mut hws = BTreeMap::new();
    for topic in group_topics(group) {
        for p in broker.describe_topic(topic)?.partitions {
            hws.insert(TopicPartition::new(*topic, p.partition), p.high_watermark);
        }
    }
    let mut consumer = broker.consumer(group_config(group).max_poll_records(10_000));
    consumer.subscribe(group_topics(group))?;
    let mut done = false;
    for _ in 0..1000 {
        let records = consumer.poll(Duration::from_millis(10))?;
        process(group, 0, &records, claims, processed);
        if group == MANUAL_GROUP {
            consumer.commit()?;
        }
        done = hws
            .iter()
            .all(|(tp, hw)| consumer.position(tp).is_some_and(|p| p >= *hw));
        if done {
            break;
        }
    }
    assert!(
        done,
        "{group}: the last member reached the high watermarks {hws:?}"
    );
    consumer.close()
}

#[allow(clippy::too_many_lines)]
#[test]
fn producers_groups_and_maintenance_at_once() -> Result<()> {
    let secs: u64 = env_number(SECS_ENV).unwrap_or(DEFAULT_SECS);
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(
        EVENTS,
        TopicConfig::default()
            .partitions(EVENTS_PARTITIONS)
            .segment_bytes(SEGMENT_BYTES)
            .retention_ms(-1)
            .retention_bytes(RETENTION_BYTES),
    )?;
    broker.create_topic(
        TABLE,
        TopicConfig::default()
            .partitions(TABLE_PARTITIONS)
            .segment_bytes(SEGMENT_BYTES)
            .cleanup_policy(CleanupPolicy::Compact),
    )?;

    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let claims: Claims = Arc::default();
    let groups: Vec<(&'static str, Arc<Mutex<Processed>>)> = [AUTO_GROUP, MANUAL_GROUP]
        .into_iter()
        .map(|g| (g, Arc::default()))
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|thread| {
            let broker = broker.clone();
            std::thread::spawn(move || produce(&broker, thread, until))
        })
        .collect();
    let mut members = Vec::new();
    for (g, (group, processed)) in groups.iter().enumerate() {
        for m in 0..MEMBERS_PER_GROUP {
            let broker = broker.clone();
            let claims = Arc::clone(&claims);
            let processed = Arc::clone(processed);
            let group = *group;
            let seed = 100 + (g as u64) * 10 + u64::from(m);
            members.push(std::thread::spawn(move || {
                member(&broker, group, seed, until, &claims, &processed)
            }));
        }
    }
    let maintenance = {
        let broker = broker.clone();
        std::thread::spawn(move || -> Result<u64> {
            let mut runs = 0;
            while Instant::now() < until {
                broker.run_maintenance()?;
                runs += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(runs)
        })
    };

    let mut acks: HashMap<At, Acked> = HashMap::new();
    for producer in producers {
        for (at, acked) in producer.join().expect("producer thread")? {
            if let Some(old) = acks.insert(at, acked.clone()) {
                panic!("{at:?} acknowledged twice: {old:?} and {acked:?}");
            }
        }
    }
    for m in members {
        m.join().expect("member thread")?;
    }
    let maintenance_runs = maintenance.join().expect("maintenance thread")?;
    broker.run_maintenance()?;

    // The delete topic: from the log start on, exactly the acknowledged records.
    let mut deleted = 0;
    let mut log_starts = BTreeMap::new();
    for part in broker.describe_topic(EVENTS)?.partitions {
        let p = part.partition;
        let acked = acks
            .keys()
            .filter(|(t, q, _)| *t == EVENTS && *q == p)
            .count() as u64;
        assert_eq!(
            part.high_watermark, acked,
            "{EVENTS}-{p}: the high watermark is the number of records acknowledged"
        );
        let records = common::read_partition(&broker, EVENTS, p)?;
        assert_eq!(
            records.len() as u64,
            part.high_watermark - part.log_start_offset,
            "{EVENTS}-{p}: every record from the log start {} on",
            part.log_start_offset
        );
        for (r, offset) in records.iter().zip(part.log_start_offset..) {
            assert_eq!(r.offset(), offset, "{EVENTS}-{p}: offsets are contiguous");
            let a = acks
                .get(&(EVENTS, p, offset))
                .unwrap_or_else(|| panic!("{EVENTS}-{p}@{offset} was never acknowledged"));
            assert_eq!(
                Some(r.value()),
                a.value.as_deref().map(str::as_bytes),
                "{EVENTS}-{p}@{offset}: value"
            );
            assert_eq!(
                r.key(),
                a.key.as_deref().map(str::as_bytes),
                "{EVENTS}-{p}@{offset}: key"
            );
        }
        deleted += part.log_start_offset;
        log_starts.insert(p, part.log_start_offset);
    }
    assert!(
        deleted > 0,
        "retention deleted segments of {EVENTS}: {log_starts:?}"
    );

    // The compacted topic: every record acknowledged, the latest of each key kept.
    let mut latest: BTreeMap<String, (u32, u64)> = BTreeMap::new();
    for ((t, p, offset), a) in &acks {
        if *t == TABLE {
            let key = a.key.clone().expect("table records have keys");
            let entry = latest.entry(key).or_insert((*p, *offset));
            assert_eq!(entry.0, *p, "a key stays on its partition");
            entry.1 = entry.1.max(*offset);
        }
    }
    let acked_table = acks.keys().filter(|(t, _, _)| *t == TABLE).count();
    let mut kept = 0;
    let mut last_read: BTreeMap<String, (u32, u64)> = BTreeMap::new();
    for p in 0..TABLE_PARTITIONS {
        let mut previous = None;
        for r in common::read_partition(&broker, TABLE, p)? {
            let offset = r.offset();
            assert!(
                previous.is_none_or(|o| o < offset),
                "{TABLE}-{p}: offsets increase"
            );
            previous = Some(offset);
            let a = acks
                .get(&(TABLE, p, offset))
                .unwrap_or_else(|| panic!("{TABLE}-{p}@{offset} was never acknowledged"));
            let stored = (!r.is_tombstone()).then(|| r.value());
            assert_eq!(
                stored,
                a.value.as_deref().map(str::as_bytes),
                "{TABLE}-{p}@{offset}: value"
            );
            let key = a.key.clone().expect("key");
            assert_eq!(r.key(), Some(key.as_bytes()), "{TABLE}-{p}@{offset}: key");
            last_read.insert(key, (p, offset));
            kept += 1;
        }
    }
    assert_eq!(
        last_read, latest,
        "{TABLE}: the latest acknowledged record of each key is the last one read"
    );
    assert!(
        kept < acked_table,
        "compaction removed records of {TABLE}: {kept} of {acked_table} kept"
    );

    // The groups: each drains what is left, then every record it processed was processed
    // once, with its acknowledged value, and nothing retention kept was left out.
    let mut summary = Vec::new();
    for (group, processed) in &groups {
        drain(&broker, group, &claims, processed)?;
        let processed = processed.lock().expect("processed");
        assert!(
            processed.overlaps.is_empty(),
            "{group}: partitions processed by two members at once: {:?}",
            &processed.overlaps[..processed.overlaps.len().min(10)]
        );
        assert!(
            processed.damaged.is_empty(),
            "{group}: damaged values: {:?}",
            &processed.damaged[..processed.damaged.len().min(10)]
        );
        let twice: Vec<_> = processed
            .records
            .iter()
            .filter(|(_, hashes)| hashes.len() > 1)
            .take(10)
            .collect();
        assert!(
            twice.is_empty(),
            "{group}: records processed more than once: {twice:?}"
        );
        for ((topic, p, offset), hashes) in &processed.records {
            let topic: &'static str = if topic == EVENTS { EVENTS } else { TABLE };
            let a = acks
                .get(&(topic, *p, *offset))
                .unwrap_or_else(|| panic!("{group}: {topic}-{p}@{offset} was never acknowledged"));
            let expected = a.value.as_deref().map_or(0, |v| fnv(v.as_bytes()));
            assert_eq!(
                hashes[0], expected,
                "{group}: {topic}-{p}@{offset}: the value processed is the acknowledged one"
            );
        }
        for part in broker.describe_topic(EVENTS)?.partitions {
            let p = part.partition;
            let missing: Vec<u64> = (part.log_start_offset..part.high_watermark)
                .filter(|o| !processed.records.contains_key(&(EVENTS.to_string(), p, *o)))
                .take(10)
                .collect();
            assert!(
                missing.is_empty(),
                "{group}: {EVENTS}-{p} records never processed (log start {}): {missing:?}",
                part.log_start_offset
            );
        }
        summary.push(format!(
            "{group}: {} records in {} memberships",
            processed.records.len(),
            processed.spans
        ));
    }
    println!(
        "stress: {} s, {} records acknowledged ({} to {TABLE}, {kept} kept, {} keys), {deleted} deleted by retention, {maintenance_runs} maintenance runs, {}",
        started.elapsed().as_secs(),
        acks.len(),
        acked_table,
        latest.len(),
        summary.join(", ")
    );
    for (group, processed) in &groups {
        assert!(
            processed.lock().expect("processed").spans >= 2,
            "{group}: members joined and left"
        );
    }
    assert!(maintenance_runs > 0, "maintenance ran");
    broker.close()
}
