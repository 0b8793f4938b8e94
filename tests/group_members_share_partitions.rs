//! Three members of one group, each polling on its own thread, split a 6-partition topic: once settled, their assignments (as each member sees it and as `describe_group` reports it) are disjoint and cover every partition, and 30,000 keyed records are processed exactly once across the members.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use strom::{Broker, ConsumerConfig, OffsetReset, Record, Result, TopicConfig, TopicPartition};

mod common;

use common::{assert_processed_once, Rendezvous, StopOnDrop};

const TOPIC: &str = "orders";
const GROUP: &str = "billing";
const PARTITIONS: u32 = 6;
const MEMBERS: usize = 3;
const RECORDS: usize = 30_000;
const POLL: Duration = Duration::from_millis(50);
/// Bounds every wait and every member loop, so that nothing hangs.
const DEADLINE: Duration = Duration::from_secs(30);

/// A member's id and assignment, as it sees them.
type MemberView = (String, Vec<TopicPartition>);

/// What the members share with the test thread.
#[derive(Default)]
struct Shared {
    /// Per member, after its latest poll: its member id and assignment.
    seen: Mutex<Vec<Option<MemberView>>>,
    /// Every record processed: (member, partition, offset).
    processed: Mutex<Vec<(usize, u32, u64)>>,
    stop: AtomicBool,
}

/// One member: subscribes, polls until told to stop, waits for the others to stop polling
/// too (so that no close rebalances a member still polling), then closes.
fn member(broker: &Broker, index: usize, shared: &Shared, stopped: &Rendezvous) -> Result<()> {
    let config = ConsumerConfig::default()
        .group_id(GROUP)
        .auto_offset_reset(OffsetReset::Earliest)
        .max_poll_records(200);
    let mut consumer = broker.consumer(config);
    let until = Instant::now() + DEADLINE;
    let result = (|| -> Result<()> {
        consumer.subscribe([TOPIC])?;
        while !shared.stop.load(Ordering::Acquire) && Instant::now() < until {
            let records = consumer.poll(POLL)?;
            let mut processed = shared.processed.lock().expect("lock");
            for r in &records {
                assert_eq!(r.topic(), TOPIC);
                processed.push((index, r.partition(), r.offset()));
            }
            drop(processed);
            let id = consumer.member_id().expect("subscribed").to_string();
            shared.seen.lock().expect("lock")[index] = Some((id, consumer.assignment()));
        }
        Ok(())
    })();
    stopped.arrive_and_wait();
    let closed = consumer.close();
    result?;
    closed
}

fn all_partitions() -> BTreeSet<TopicPartition> {
    (0..PARTITIONS)
        .map(|p| TopicPartition::new(TOPIC, p))
        .collect()
}

/// Waits until every member has a non-empty assignment equal to its target in
/// `describe_group`; returns member id → assignment as the members see them.
fn settled(broker: &Broker, shared: &Shared) -> Result<BTreeMap<String, Vec<TopicPartition>>> {
    let until = Instant::now() + DEADLINE;
    loop {
        let seen: Vec<_> = shared.seen.lock().expect("lock").clone();
        let mine: BTreeMap<String, Vec<TopicPartition>> = seen.into_iter().flatten().collect();
        if mine.len() == MEMBERS && mine.values().all(|a| !a.is_empty()) {
            let desc = broker.describe_group(GROUP)?;
            let targets: BTreeMap<String, Vec<TopicPartition>> = desc
                .members
                .into_iter()
                .map(|m| (m.member_id, m.assignment))
                .collect();
            let sorted = |m: &BTreeMap<String, Vec<TopicPartition>>| {
                m.iter()
                    .map(|(id, a)| (id.clone(), a.iter().cloned().collect::<BTreeSet<_>>()))
                    .collect::<BTreeMap<_, _>>()
            };
            if sorted(&targets) == sorted(&mine) {
                return Ok(mine);
            }
        }
        assert!(
            Instant::now() < until,
            "the group did not settle with three non-empty assignments: members see {mine:?}, describe_group says {:?}",
            broker.describe_group(GROUP)
        );
        thread::sleep(Duration::from_millis(10));
    }
}

fn assert_disjoint_cover<'a>(
    what: &str,
    assignments: impl IntoIterator<Item = (&'a String, &'a Vec<TopicPartition>)>,
) {
    let mut union = BTreeSet::new();
    let mut count = 0;
    for (id, assignment) in assignments {
        count += 1;
        assert!(!assignment.is_empty(), "{what}: {id} has no partition");
        for tp in assignment {
            assert!(
                union.insert(tp.clone()),
                "{what}: {tp:?} is assigned to two members"
            );
        }
    }
    assert_eq!(count, MEMBERS, "{what}: number of members");
    assert_eq!(
        union,
        all_partitions(),
        "{what}: the assignments cover the topic"
    );
}

/// Sends the records, keyed; returns every (partition, offset) acknowledged.
fn produce(broker: &Broker) -> Result<BTreeSet<(u32, u64)>> {
    let producer = broker.producer();
    let mut sent = BTreeSet::new();
    for chunk in 0..RECORDS / 1000 {
        let records = (chunk * 1000..(chunk + 1) * 1000)
            .map(|i| Record::new(format!("order {i}")).key(format!("customer-{i}")));
        for meta in producer.send_batch(TOPIC, records)? {
            assert!(sent.insert((meta.partition, meta.offset)));
        }
    }
    assert_eq!(sent.len(), RECORDS);
    for p in 0..PARTITIONS {
        assert!(
            sent.iter().any(|&(q, _)| q == p),
            "keys spread over every partition, {p} included"
        );
    }
    Ok(sent)
}

#[test]
fn three_members_split_the_partitions_and_process_every_record_once() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    let shared = Arc::new(Shared {
        seen: Mutex::new(vec![None; MEMBERS]),
        ..Shared::default()
    });
    let stopped = Arc::new(Rendezvous::new(MEMBERS, DEADLINE));
    let members: Vec<_> = (0..MEMBERS)
        .map(|index| {
            let (broker, shared, stopped) =
                (broker.clone(), Arc::clone(&shared), Arc::clone(&stopped));
            thread::spawn(move || member(&broker, index, &shared, &stopped))
        })
        .collect();
    let stop = StopOnDrop(&shared.stop);

    let mine = settled(&broker, &shared)?;
    assert_disjoint_cover("Consumer::assignment", &mine);
    let desc = broker.describe_group(GROUP)?;
    assert_disjoint_cover(
        "describe_group",
        desc.members.iter().map(|m| (&m.member_id, &m.assignment)),
    );

    let sent = produce(&broker)?;
    let until = Instant::now() + DEADLINE;
    loop {
        let unique: BTreeSet<(u32, u64)> = shared
            .processed
            .lock()
            .expect("lock")
            .iter()
            .map(|&(_, p, o)| (p, o))
            .collect();
        if unique.len() >= RECORDS {
            break;
        }
        assert!(
            Instant::now() < until,
            "only {} of {RECORDS} records processed",
            unique.len()
        );
        thread::sleep(Duration::from_millis(5));
    }
    drop(stop);
    for m in members {
        m.join().expect("member thread")?;
    }

    let processed = shared.processed.lock().expect("lock").clone();
    let seen = assert_processed_once(&processed);
    let missing: Vec<_> = sent.difference(&seen).collect();
    assert!(missing.is_empty(), "records never processed: {missing:?}");
    assert_eq!(seen, sent, "exactly the records sent");
    // Each record was processed by the member that held its partition.
    let owner: BTreeMap<u32, &String> = mine
        .iter()
        .flat_map(|(id, a)| a.iter().map(move |tp| (tp.partition, id)))
        .collect();
    let ids: Vec<Option<String>> = shared
        .seen
        .lock()
        .expect("lock")
        .iter()
        .map(|s| s.as_ref().map(|(id, _)| id.clone()))
        .collect();
    for &(index, p, o) in &processed {
        assert_eq!(
            ids[index].as_ref(),
            Some(owner[&p]),
            "{TOPIC}-{p}@{o} was processed by a member that did not hold the partition"
        );
    }
    // Every member has left: the group has no members, only its committed offsets.
    let after = broker.describe_group(GROUP)?;
    assert!(after.members.is_empty(), "{after:?}");
    // Closing committed every member's position: nothing is left to read.
    assert_eq!(after.partitions.len(), PARTITIONS as usize, "{after:?}");
    for lag in &after.partitions {
        assert_eq!(lag.committed, Some(lag.high_watermark), "{lag:?}");
        assert_eq!(lag.lag, 0, "{lag:?}");
    }
    broker.close()
}
