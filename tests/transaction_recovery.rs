//! A transaction a crash interrupts is wholly committed or wholly aborted at the next open:
//! one still open when the process was killed is aborted; one whose commit was decided (the
//! decision on stable storage) but whose markers were never written is committed, its
//! offsets included — and finishing it twice never writes a second marker.

use std::io::Write;
use std::time::Duration;

use strom::{
    Broker, ConsumerConfig, IsolationLevel, OffsetReset, Record, Result, TopicConfig,
    TopicPartition,
};

mod common;

const CHILD_ENV: &str = "STROM_TXN_RECOVERY_DIR";
const TOPIC: &str = "payments";
const PARTITIONS: u32 = 3;
const STATE_TOPIC: &str = "__transaction_state";

/// Every record of `topic` read with `level`: (partition, offset, value).
fn read_all(broker: &Broker, level: IsolationLevel) -> Result<Vec<(u32, u64, String)>> {
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .isolation_level(level),
    );
    let tps: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(TOPIC, p))
        .collect();
    consumer.assign(&tps)?;
    let mut out = Vec::new();
    loop {
        let records = consumer.poll(Duration::ZERO)?;
        if records.is_empty() {
            break;
        }
        for r in &records {
            out.push((
                r.partition(),
                r.offset(),
                String::from_utf8_lossy(r.value()).into_owned(),
            ));
        }
    }
    out.sort();
    Ok(out)
}

fn assert_stable(broker: &Broker) -> Result<Vec<u64>> {
    let desc = broker.describe_topic(TOPIC)?;
    for p in &desc.partitions {
        assert_eq!(
            p.last_stable_offset, p.high_watermark,
            "partition {} has no transaction open after open",
            p.partition
        );
    }
    Ok(desc.partitions.iter().map(|p| p.high_watermark).collect())
}

/// The child: commits one transaction, opens a second, sends to every partition, says so,
/// and waits to be killed.
#[test]
fn txn_recovery_child() -> Result<()> {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return Ok(());
    };
    let broker = Broker::open(&dir)?;
    let producer = broker.transactional_producer("killed")?;
    producer.begin_transaction()?;
    for p in 0..PARTITIONS {
        producer.send(TOPIC, Record::new(format!("committed-{p}")).partition(p))?;
    }
    producer.commit_transaction()?;
    producer.begin_transaction()?;
    for p in 0..PARTITIONS {
        producer.send(TOPIC, Record::new(format!("open-{p}")).partition(p))?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "SENT").expect("stdout");
    out.flush().expect("stdout");
    drop(out);
    std::thread::sleep(Duration::from_secs(600));
    Ok(())
}

#[test]
fn a_transaction_open_when_the_process_is_killed_is_aborted_at_open() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let broker = Broker::open(dir.path())?;
        broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
        broker.close()?;
    }
    let envs = [(CHILD_ENV, dir.path().as_os_str())];
    let (killed, status) =
        common::run_child_until_killed("txn_recovery_child", &envs, |line| line.ends_with("SENT"));
    assert!(killed, "the child stopped by itself: {status}");

    let broker = Broker::open(dir.path())?;
    let highs = assert_stable(&broker)?;
    // Each partition: committed record, its marker, the open record, its abort marker.
    assert_eq!(highs, vec![4; PARTITIONS as usize]);
    let committed: Vec<String> = read_all(&broker, IsolationLevel::ReadCommitted)?
        .into_iter()
        .map(|(_, _, v)| v)
        .collect();
    assert_eq!(committed, ["committed-0", "committed-1", "committed-2"]);
    assert_eq!(read_all(&broker, IsolationLevel::ReadUncommitted)?.len(), 6);
    // The next producer with the id starts clean, and a second open changes nothing.
    let producer = broker.transactional_producer("killed")?;
    producer.begin_transaction()?;
    producer.send(TOPIC, Record::new("after").partition(0))?;
    producer.commit_transaction()?;
    drop(producer);
    broker.close()?;
    let broker = Broker::open(dir.path())?;
    assert_eq!(assert_stable(&broker)?, [6, 4, 4]);
    Ok(())
}

/// The id's producer id and epoch, from the state topic's latest record for it.
fn producer_fields(broker: &Broker, id: &str) -> Result<(i64, i64)> {
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new(STATE_TOPIC, 0)])?;
    let mut fields = None;
    loop {
        let records = consumer.poll(Duration::ZERO)?;
        if records.is_empty() {
            break;
        }
        for r in &records {
            if r.key() == Some(id.as_bytes()) {
                let state: serde_json::Value = r.json()?;
                fields = Some((
                    state["producer_id"].as_i64().expect("producer_id"),
                    state["producer_epoch"].as_i64().expect("producer_epoch"),
                ));
            }
        }
    }
    Ok(fields.expect("a state record"))
}

/// Writes a transaction with records in partitions 0 and 1 of `TOPIC` and, as the
/// coordinator writes it, its commit decision naming `ends` (each partition's high
/// watermark when it was decided, if any) and committing offset 42 of `input-0` for
/// `copiers`; then stops as a killed process would, before any marker.
fn decide_and_die(dir: &std::path::Path, ends: [Option<u64>; 2]) -> Result<()> {
    let broker = Broker::open(dir)?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    broker.create_topic("input", TopicConfig::default())?;
    let producer = broker.transactional_producer("decided")?;
    producer.begin_transaction()?;
    for p in 0..2 {
        producer.send(TOPIC, Record::new(format!("decided-{p}")).partition(p))?;
    }
    broker.producer().flush()?;
    // Forged here as a crash leaves it.
    let (producer_id, epoch) = producer_fields(&broker, "decided")?;
    let partitions: Vec<serde_json::Value> = (0..2)
        .map(|p| serde_json::json!({"topic": TOPIC, "partition": p, "start": 0, "end": ends[p]}))
        .collect();
    let decision = serde_json::json!({
        "producer_id": producer_id,
        "producer_epoch": epoch,
        "phase": "prepare_commit",
        "partitions": partitions,
        "offsets": [{"group_id": "copiers", "offsets": [["input", 0, 42]]}],
    });
    broker.producer().send(
        STATE_TOPIC,
        Record::new(decision.to_string()).key("decided"),
    )?;
    std::mem::forget(producer); // no abort on drop: the process is gone
    broker.close()
}

#[test]
fn a_decided_commit_whose_markers_were_never_written_is_committed_at_open() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    decide_and_die(dir.path(), [None, Some(1)])?;
    let broker = Broker::open(dir.path())?;
    assert_eq!(assert_stable(&broker)?, [2, 2, 0], "a commit marker each");
    let committed: Vec<String> = read_all(&broker, IsolationLevel::ReadCommitted)?
        .into_iter()
        .map(|(_, _, v)| v)
        .collect();
    assert_eq!(committed, ["decided-0", "decided-1"]);
    let group = broker.consumer(ConsumerConfig::default().group_id("copiers"));
    let input = TopicPartition::new("input", 0);
    assert_eq!(group.committed(&input)?, Some(42));
    drop(group);
    broker.close()?;
    // Finished once: a second open writes no further marker.
    let broker = Broker::open(dir.path())?;
    assert_eq!(assert_stable(&broker)?, [2, 2, 0]);
    Ok(())
}

/// A machine crash can keep a commit decision while losing records it names (a decision
/// whose commit never returned): the transaction is aborted, its offsets not committed.
#[test]
fn a_decision_naming_records_the_disk_lost_is_aborted_with_its_offsets() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    // Partition 1's decision names two records; the disk kept one.
    decide_and_die(dir.path(), [Some(1), Some(2)])?;
    let broker = Broker::open(dir.path())?;
    assert_eq!(assert_stable(&broker)?, [2, 2, 0], "an abort marker each");
    assert!(read_all(&broker, IsolationLevel::ReadCommitted)?.is_empty());
    let group = broker.consumer(ConsumerConfig::default().group_id("copiers"));
    assert_eq!(group.committed(&TopicPartition::new("input", 0))?, None);
    drop(group);
    broker.close()?;
    let broker = Broker::open(dir.path())?;
    let group = broker.consumer(ConsumerConfig::default().group_id("copiers"));
    assert_eq!(
        group.committed(&TopicPartition::new("input", 0))?,
        None,
        "nor later"
    );
    Ok(())
}

/// A machine crash can keep a transaction's records while losing the coordinator's note of
/// it: the partition's own log shows them open, and they are aborted at open, across a
/// segment roll too.
#[test]
fn records_of_a_transaction_the_state_lost_are_aborted_at_open() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let broker = Broker::open(dir.path())?;
        let config = TopicConfig::default()
            .partitions(PARTITIONS)
            .segment_bytes(4096);
        broker.create_topic(TOPIC, config)?;
        let plain = broker.producer();
        let producer = broker.transactional_producer("forgotten")?;
        producer.begin_transaction()?;
        producer.send(TOPIC, Record::new("lost-0").partition(0))?;
        // Enough after it to roll partition 0 twice while the transaction is open.
        for i in 0..100 {
            plain.send(
                TOPIC,
                Record::new(format!("plain-{i:03}-{}", "y".repeat(80))).partition(0),
            )?;
        }
        producer.send(TOPIC, Record::new("lost-1").partition(1))?;
        assert!(broker.describe_topic(TOPIC)?.partitions[0].segments > 2);
        std::mem::forget(producer);
        broker.close()?;
    }
    // The crash: no clean marker, and the coordinator's state gone.
    std::fs::remove_file(dir.path().join(".clean")).expect("clean marker");
    std::fs::remove_dir_all(dir.path().join(STATE_TOPIC)).expect("state topic");

    let broker = Broker::open(dir.path())?;
    let highs = assert_stable(&broker)?;
    assert_eq!(
        highs,
        [102, 2, 0],
        "an abort marker in each partition written"
    );
    let committed = read_all(&broker, IsolationLevel::ReadCommitted)?;
    assert_eq!(committed.len(), 100);
    assert!(committed
        .iter()
        .all(|(p, _, v)| *p == 0 && v.starts_with("plain-")));
    // A new producer gets a producer id of its own.
    let producer = broker.transactional_producer("fresh")?;
    producer.begin_transaction()?;
    producer.send(TOPIC, Record::new("new").partition(2))?;
    producer.commit_transaction()?;
    assert_eq!(read_all(&broker, IsolationLevel::ReadCommitted)?.len(), 101);
    Ok(())
}
