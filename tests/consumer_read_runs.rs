//! A consumer reads on through runs of plain, already verified batches without being handed
//! each batch on its own; anything else (a compressed batch, a transaction's batches and
//! markers, a batch not verified since the segment was opened) stops the run and is read
//! batch by batch. Both ways give the same records: a poll of one record never goes on
//! into a run, so it is the batch-by-batch reference.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::time::Duration;

use strom::{
    Broker, Compression, Consumer, ConsumerConfig, Error, IsolationLevel, OffsetReset, Record,
    Result, TopicConfig, TopicPartition,
};

mod common;

const TOPIC: &str = "mixed";

fn record(value: String) -> Record {
    Record::new(value).partition(0)
}

fn set_codec(broker: &Broker, codec: Compression) -> Result<()> {
    let config = broker.describe_topic(TOPIC)?.config.compression(codec);
    broker.alter_topic(TOPIC, config)
}

/// Single sends, a compressed batch, an aborted and a committed transaction with plain
/// sends between their batches, and a plain batch of several records. Values name what
/// wrote them: `a…` for the aborted transaction's records.
fn fill(broker: &Broker) -> Result<()> {
    broker.create_topic(TOPIC, TopicConfig::default().retention_ms(-1))?;
    let plain = broker.producer();
    let txn = broker.transactional_producer("writer")?;
    let mut n = 0;
    let mut next = |tag: &str| {
        n += 1;
        format!("{tag}{n:04} {}", "v".repeat(60))
    };
    for _ in 0..5 {
        plain.send(TOPIC, record(next("p")))?;
    }
    set_codec(broker, Compression::Gzip)?;
    plain.send_batch(TOPIC, (0..10).map(|_| record(next("z"))))?;
    set_codec(broker, Compression::None)?;
    for _ in 0..5 {
        plain.send(TOPIC, record(next("p")))?;
    }
    txn.begin_transaction()?;
    txn.send(TOPIC, record(next("a")))?;
    plain.send(TOPIC, record(next("p")))?;
    txn.send_batch(TOPIC, (0..2).map(|_| record(next("a"))))?;
    plain.send(TOPIC, record(next("p")))?;
    txn.abort_transaction()?;
    for _ in 0..4 {
        plain.send(TOPIC, record(next("p")))?;
    }
    txn.begin_transaction()?;
    txn.send(TOPIC, record(next("c")))?;
    plain.send(TOPIC, record(next("p")))?;
    txn.send(TOPIC, record(next("c")))?;
    txn.commit_transaction()?;
    for _ in 0..5 {
        plain.send(TOPIC, record(next("p")))?;
    }
    plain.send_batch(TOPIC, (0..3).map(|_| record(next("b"))))?;
    for _ in 0..3 {
        plain.send(TOPIC, record(next("p")))?;
    }
    Ok(())
}

fn consumer(broker: &Broker, level: IsolationLevel, max: usize) -> Result<Consumer> {
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .isolation_level(level)
            .max_poll_records(max),
    );
    consumer.assign(&[TopicPartition::new(TOPIC, 0)])?;
    Ok(consumer)
}

/// (offset, value) of everything polls return from `from` on, until a poll is empty.
fn read_from(consumer: &mut Consumer, from: u64) -> Result<Vec<(u64, String)>> {
    consumer.seek(&TopicPartition::new(TOPIC, 0), from)?;
    let mut out = Vec::new();
    loop {
        let records = consumer.poll(Duration::ZERO)?;
        if records.is_empty() {
            return Ok(out);
        }
        for r in &records {
            out.push((r.offset(), String::from_utf8_lossy(r.value()).into_owned()));
        }
    }
}

/// Reads from every offset in both isolation levels with polls of several sizes, and
/// compares each with the batch-by-batch reference.
fn check_every_offset(broker: &Broker) -> Result<()> {
    let high_watermark = broker.describe_topic(TOPIC)?.partitions[0].high_watermark;
    for level in [
        IsolationLevel::ReadUncommitted,
        IsolationLevel::ReadCommitted,
    ] {
        let reference = read_from(&mut consumer(broker, level, 1)?, 0)?;
        let aborted = reference.iter().filter(|(_, v)| v.starts_with('a')).count();
        let want_aborted = if level == IsolationLevel::ReadCommitted {
            0
        } else {
            3
        };
        assert_eq!(aborted, want_aborted, "{reference:?}");
        for max in [2, 3, 7, 1000] {
            let mut consumer = consumer(broker, level, max)?;
            for from in 0..=high_watermark {
                let want: Vec<_> = reference
                    .iter()
                    .filter(|(o, _)| *o >= from)
                    .cloned()
                    .collect();
                let got = read_from(&mut consumer, from)?;
                assert_eq!(got, want, "{level:?}, polls of {max}, from {from}");
            }
        }
    }
    Ok(())
}

#[test]
fn runs_read_the_same_records_as_batch_by_batch_from_every_offset() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let broker = Broker::open(dir.path())?;
        fill(&broker)?;
        // Written by this process: every batch is known good, runs go as far as they can.
        check_every_offset(&broker)?;
        broker.close()?;
    }
    // Reopened: nothing is verified; the first reads check batches one by one and later
    // ones run through what those verified.
    let broker = Broker::open(dir.path())?;
    let mut partial = consumer(&broker, IsolationLevel::ReadUncommitted, 12)?;
    let first = partial.poll(Duration::ZERO)?;
    assert_eq!(first.len(), 12);
    check_every_offset(&broker)?;
    Ok(())
}

#[test]
fn a_run_stops_where_verified_bytes_end() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let broker = Broker::open(dir.path())?;
        broker.create_topic("t", TopicConfig::default().retention_ms(-1))?;
        let producer = broker.producer();
        for i in 0..100 {
            producer.send("t", Record::new(format!("value {i:04} {}", "x".repeat(40))))?;
        }
        broker.close()?;
    }
    // Damage a value in batch 60 while closed: reopened, no batch is verified.
    let log = &common::segment_logs(dir.path(), "t", 0)[0];
    let bytes = std::fs::read(log).expect("segment");
    let span = common::batch_spans(&bytes)
        .into_iter()
        .find(|s| s.base_offset == 60)
        .expect("batch 60");
    let mut file = OpenOptions::new()
        .write(true)
        .open(log)
        .expect("open segment");
    file.seek(SeekFrom::Start(span.end - 3)).expect("seek");
    file.write_all(b"!").expect("write");
    drop(file);
    let broker = Broker::open(dir.path())?;
    let tp = TopicPartition::new("t", 0);
    // A first read verifies the first 40 batches.
    let mut first = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .max_poll_records(40),
    );
    first.assign(std::slice::from_ref(&tp))?;
    assert_eq!(first.poll(Duration::ZERO)?.len(), 40);
    // A second reader runs through those, checks the rest and stops at the damage.
    let mut second = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .max_poll_records(1000),
    );
    second.assign(std::slice::from_ref(&tp))?;
    let records = second.poll(Duration::ZERO)?;
    let offsets: Vec<u64> = records.iter().map(strom::ConsumerRecord::offset).collect();
    assert_eq!(offsets, (0..60).collect::<Vec<_>>());
    match second.poll(Duration::ZERO) {
        Err(Error::Corrupt { .. }) => Ok(()),
        other => panic!("expected the damaged batch to be reported, got {other:?}"),
    }
}
