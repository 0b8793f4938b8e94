//! Readers in this process follow a writer in a child process that appends and rolls fast
//! (4 KiB segments) while its retention deletes segments and its compaction swaps them:
//! every record a reader gets is checked (offsets contiguous, or past a gap compaction or
//! retention made; the value the writer wrote at that offset; none torn), topics the writer
//! creates appear, a reader opened mid-way catches up, and a waiting `poll` gets new records
//! quickly (the latency is printed; only correctness is asserted).

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{checked_body, checksummed, now_ms};
use strom::{
    Broker, BrokerConfig, CleanupPolicy, ConsumerConfig, OffsetReset, Record, Result, TopicConfig,
    TopicPartition,
};

const CHILD_ENV: &str = "STROM_READONLY_WRITER_DIR";
/// Records the writer sends to each topic.
const RECORDS: u64 = 6000;
/// Records sent one by one, with pauses between them, to measure how soon a reader sees one.
const PROBES: u64 = 40;
const WAIT: Duration = Duration::from_secs(120);

fn value(topic: &str, i: u64) -> String {
    checksummed(&format!("{topic}:{i}"))
}

/// The `i` of a value `value(topic, i)`, or a panic naming what is wrong with it.
fn index_of(topic: &str, stored: &[u8], offset: u64) -> u64 {
    let body = checked_body(stored).unwrap_or_else(|| {
        panic!(
            "{topic}@{offset}: torn or foreign value {:?}",
            String::from_utf8_lossy(stored)
        )
    });
    let (t, i) = body.split_once(':').expect("topic:index");
    assert_eq!(t, topic, "{topic}@{offset}: value of another topic");
    i.parse().expect("an index")
}

#[test]
fn readonly_writer_child() -> Result<()> {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return Ok(());
    };
    let broker = Broker::open_with(
        &dir,
        BrokerConfig::default().maintenance_interval(Duration::from_millis(20)),
    )?;
    println!();
    let small = TopicConfig::default().segment_bytes(4096);
    broker.create_topic("plain", small.clone().partitions(2))?;
    broker.create_topic("retained", small.clone().retention_bytes(16 << 10))?;
    broker.create_topic(
        "compacted",
        small
            .clone()
            .cleanup_policy(CleanupPolicy::Compact)
            .delete_retention_ms(i64::MAX / 2),
    )?;
    let producer = broker.producer();
    let mut i = 0;
    while i < RECORDS {
        if i % 4 == 0 && i + 3 < RECORDS {
            // Batches of several records, too.
            producer.send_batch(
                "plain",
                (i..i + 3).map(|j| Record::new(value("plain", j)).key(format!("k{}", j % 7))),
            )?;
            producer.send_batch(
                "retained",
                (i..i + 3).map(|j| Record::new(value("retained", j))),
            )?;
            producer.send_batch(
                "compacted",
                (i..i + 3).map(|j| Record::new(value("compacted", j)).key(format!("k{}", j % 20))),
            )?;
            i += 3;
        } else {
            producer.send(
                "plain",
                Record::new(value("plain", i)).key(format!("k{}", i % 7)),
            )?;
            producer.send("retained", Record::new(value("retained", i)))?;
            producer.send(
                "compacted",
                Record::new(value("compacted", i)).key(format!("k{}", i % 20)),
            )?;
            i += 1;
        }
        if i % 100 == 0 {
            println!("SENT {i}");
        }
        if i % 10 == 0 {
            thread::sleep(Duration::from_millis(1));
        }
    }
    broker.create_topic("probe", TopicConfig::default())?;
    println!("PROBING");
    for p in 0..PROBES {
        thread::sleep(Duration::from_millis(25));
        producer.send("probe", Record::new(p.to_string()))?;
    }
    broker.close()?;
    println!("DONE");
    Ok(())
}

/// What one reader saw.
#[derive(Debug, Default)]
struct Seen {
    plain: BTreeSet<u64>,
    retained_last: Option<u64>,
    compacted_last: Option<u64>,
    retained_gaps: u64,
    compacted_gaps: u64,
}

/// Follows the three topics from the start until it has seen every record; checks each.
fn follow(dir: &std::path::Path, started: Instant) -> Result<Seen> {
    let reader = Broker::open_with(dir, BrokerConfig::default().read_only(true))?;
    // The writer creates the topics after this reader opened: they appear.
    while reader.topics().len() < 3 {
        assert!(started.elapsed() < WAIT, "topics never appeared");
        thread::sleep(Duration::from_millis(5));
    }
    let mut consumer = reader.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .max_poll_records(97),
    );
    consumer.assign(&[
        TopicPartition::new("plain", 0),
        TopicPartition::new("plain", 1),
        TopicPartition::new("retained", 0),
        TopicPartition::new("compacted", 0),
    ])?;
    let mut seen = Seen::default();
    let mut next_plain = [0u64; 2];
    let mut last_plain_index = [None::<u64>; 2];
    let done = |s: &Seen| {
        s.plain.len() as u64 == RECORDS
            && s.retained_last == Some(RECORDS - 1)
            && s.compacted_last == Some(RECORDS - 1)
    };
    while !done(&seen) {
        assert!(
            started.elapsed() < WAIT,
            "reader stuck: {} plain, retained at {:?}, compacted at {:?}",
            seen.plain.len(),
            seen.retained_last,
            seen.compacted_last
        );
        for r in consumer.poll(Duration::from_millis(50))? {
            let offset = r.offset();
            match r.topic() {
                "plain" => {
                    let p = r.partition() as usize;
                    assert_eq!(offset, next_plain[p], "plain-{p}: offsets are contiguous");
                    next_plain[p] += 1;
                    let i = index_of("plain", r.value(), offset);
                    assert!(
                        last_plain_index[p].is_none_or(|last| i > last),
                        "plain-{p}: values in the order sent"
                    );
                    last_plain_index[p] = Some(i);
                    assert!(seen.plain.insert(i), "plain: {i} read twice");
                }
                topic @ ("retained" | "compacted") => {
                    // One record per offset, sent in order: the value names its offset.
                    assert_eq!(
                        index_of(topic, r.value(), offset),
                        offset,
                        "{topic}@{offset}"
                    );
                    let (last, gaps) = if topic == "retained" {
                        (&mut seen.retained_last, &mut seen.retained_gaps)
                    } else {
                        (&mut seen.compacted_last, &mut seen.compacted_gaps)
                    };
                    assert!(last.is_none_or(|l| offset > l), "{topic}: offsets increase");
                    if last.is_some_and(|l| offset > l + 1) {
                        *gaps += 1;
                    }
                    *last = Some(offset);
                }
                other => panic!("record of topic {other}"),
            }
        }
    }
    assert_eq!(seen.plain, (0..RECORDS).collect::<BTreeSet<u64>>());
    reader.close()?;
    Ok(seen)
}

/// Waits for each probe record and returns how long after its send timestamp it came.
fn probe_latencies(dir: &std::path::Path, started: Instant) -> Result<Vec<i64>> {
    let reader = Broker::open_with(dir, BrokerConfig::default().read_only(true))?;
    while !reader.topics().iter().any(|t| t == "probe") {
        assert!(started.elapsed() < WAIT, "the probe topic never appeared");
        thread::sleep(Duration::from_millis(5));
    }
    let mut consumer =
        reader.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new("probe", 0)])?;
    let mut latencies = Vec::new();
    let mut next = 0;
    while next < PROBES {
        assert!(started.elapsed() < WAIT, "probes missing after {next}");
        for r in consumer.poll(Duration::from_secs(1))? {
            assert_eq!(r.offset(), next);
            assert_eq!(r.value(), next.to_string().as_bytes());
            latencies.push(now_ms() - r.timestamp());
            next += 1;
        }
    }
    reader.close()?;
    Ok(latencies)
}

#[test]
fn readers_follow_a_writer_process_that_rolls_deletes_and_compacts() -> Result<()> {
    let tmp = tempfile::tempdir().expect("dir");
    let dir = Arc::new(tmp.path().to_path_buf());
    let started = Instant::now();
    let early = {
        let dir = Arc::clone(&dir);
        thread::spawn(move || follow(&dir, started))
    };
    let halfway = Arc::new(AtomicBool::new(false));
    let late = {
        let (dir, halfway) = (Arc::clone(&dir), Arc::clone(&halfway));
        thread::spawn(move || {
            while !halfway.load(Ordering::Acquire) {
                assert!(started.elapsed() < WAIT, "the writer never got half way");
                thread::sleep(Duration::from_millis(1));
            }
            follow(&dir, started)
        })
    };
    let probes = {
        let dir = Arc::clone(&dir);
        thread::spawn(move || probe_latencies(&dir, started))
    };
    let mut done = false;
    let (_, status) = common::run_child_until_killed(
        "readonly_writer_child",
        &[(CHILD_ENV, OsStr::new(dir.as_os_str()))],
        |line| {
            if line == format!("SENT {}", RECORDS / 2) {
                halfway.store(true, Ordering::Release);
            }
            done |= line == "DONE";
            false
        },
    );
    assert!(done, "the writer stopped early: {status:?}");
    halfway.store(true, Ordering::Release);
    let early = early.join().expect("early reader")?;
    let late = late.join().expect("late reader")?;
    let mut latencies = probes.join().expect("probe reader")?;
    latencies.sort_unstable();
    println!(
        "poll latency after the writer's send (ms, {} probes): median {}, max {}",
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    println!(
        "gaps crossed: early reader retained {} compacted {}; late reader retained {} compacted {}",
        early.retained_gaps, early.compacted_gaps, late.retained_gaps, late.compacted_gaps
    );
    // The writer's retention went on while the readers read: what remains is the tail.
    let reader = Broker::open_with(dir.as_path(), BrokerConfig::default().read_only(true))?;
    let retained = reader.describe_topic("retained")?;
    assert!(
        retained.partitions[0].log_start_offset > 0,
        "retention deleted segments"
    );
    assert_eq!(retained.partitions[0].high_watermark, RECORDS);
    reader.close()?;
    Ok(())
}
