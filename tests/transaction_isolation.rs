//! What consumers see of transactions: `ReadCommitted` never returns a record of an aborted
//! transaction nor one at or past the last stable offset; `ReadUncommitted` returns every
//! data record at once; markers take one offset each, are never returned, and positions
//! move past them; `describe_topic` reports the last stable offset.

use std::time::Duration;

use strom::{
    Broker, Consumer, ConsumerConfig, IsolationLevel, OffsetReset, Record, Result, TopicConfig,
    TopicPartition,
};

const TOPIC: &str = "payments";

fn consumer(broker: &Broker, level: IsolationLevel, partition: u32) -> Result<Consumer> {
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .isolation_level(level),
    );
    consumer.assign(&[TopicPartition::new(TOPIC, partition)])?;
    Ok(consumer)
}

/// (offset, value) of everything one poll after another returns, until a poll is empty.
fn drain(consumer: &mut Consumer) -> Result<Vec<(u64, String)>> {
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

fn record(value: &str) -> Record {
    Record::new(value.to_string()).partition(0)
}

fn stable_and_high(broker: &Broker) -> Result<(u64, u64)> {
    let p = &broker.describe_topic(TOPIC)?.partitions[0];
    Ok((p.last_stable_offset, p.high_watermark))
}

#[test]
fn read_committed_sees_committed_and_plain_records_only() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default())?;
    let plain = broker.producer();
    let txn = broker.transactional_producer("writer")?;

    plain.send(TOPIC, record("plain-0"))?; // 0
    txn.begin_transaction()?;
    txn.send_batch(TOPIC, [record("aborted-1"), record("aborted-2")])?; // 1, 2
    plain.send(TOPIC, record("plain-3"))?; // 3, inside the aborted range
    txn.abort_transaction()?; // marker 4
    txn.begin_transaction()?;
    txn.send(TOPIC, record("committed-5"))?; // 5
    txn.send(TOPIC, record("committed-6"))?; // 6
    txn.commit_transaction()?; // marker 7
    plain.send(TOPIC, record("plain-8"))?; // 8

    assert_eq!(stable_and_high(&broker)?, (9, 9));
    let committed = drain(&mut consumer(&broker, IsolationLevel::ReadCommitted, 0)?)?;
    let want = [
        (0, "plain-0"),
        (3, "plain-3"),
        (5, "committed-5"),
        (6, "committed-6"),
        (8, "plain-8"),
    ];
    assert_eq!(committed, want.map(|(o, v)| (o, v.to_string())));

    // Uncommitted: every data record, aborted ones too; markers never.
    let all = drain(&mut consumer(&broker, IsolationLevel::ReadUncommitted, 0)?)?;
    let offsets: Vec<u64> = all.iter().map(|(o, _)| *o).collect();
    assert_eq!(offsets, [0, 1, 2, 3, 5, 6, 8]);
    Ok(())
}

#[test]
fn an_open_transaction_holds_back_read_committed_at_its_first_offset() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(2))?;
    let plain = broker.producer();
    let txn = broker.transactional_producer("writer")?;

    plain.send(TOPIC, record("before"))?; // 0
    txn.begin_transaction()?;
    txn.send(TOPIC, record("open"))?; // 1
    plain.send(TOPIC, record("after"))?; // 2: past the last stable offset
    assert_eq!(stable_and_high(&broker)?, (1, 3));
    // The partition the transaction did not write is stable up to its end.
    let other = &broker.describe_topic(TOPIC)?.partitions[1];
    assert_eq!(other.last_stable_offset, other.high_watermark);

    let mut committed = consumer(&broker, IsolationLevel::ReadCommitted, 0)?;
    assert_eq!(drain(&mut committed)?, [(0, "before".to_string())]);
    assert_eq!(committed.position(&TopicPartition::new(TOPIC, 0)), Some(1));
    let mut uncommitted = consumer(&broker, IsolationLevel::ReadUncommitted, 0)?;
    assert_eq!(drain(&mut uncommitted)?.len(), 3);

    // A waiting ReadCommitted poll is woken by the commit, and skips the marker.
    let waiter = std::thread::spawn(move || -> Result<Vec<(u64, String)>> {
        let records = committed.poll(Duration::from_secs(30))?;
        let got = records
            .iter()
            .map(|r| (r.offset(), String::from_utf8_lossy(r.value()).into_owned()))
            .collect();
        Ok(got)
    });
    txn.commit_transaction()?; // marker 3
    let got = waiter.join().expect("poll thread")?;
    assert_eq!(got, [(1, "open".to_string()), (2, "after".to_string())]);
    assert_eq!(stable_and_high(&broker)?, (4, 4));
    Ok(())
}

#[test]
fn positions_move_past_markers_and_aborted_batches() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(TOPIC, TopicConfig::default())?;
    let txn = broker.transactional_producer("writer")?;
    txn.begin_transaction()?;
    txn.send(TOPIC, record("a"))?; // 0
    txn.abort_transaction()?; // 1
    let tp = TopicPartition::new(TOPIC, 0);

    // Nothing to return, but the position ends past the marker, at the high watermark.
    for level in [
        IsolationLevel::ReadCommitted,
        IsolationLevel::ReadUncommitted,
    ] {
        let mut c = consumer(&broker, level, 0)?;
        let got = drain(&mut c)?;
        assert_eq!(
            got.len(),
            usize::from(level == IsolationLevel::ReadUncommitted)
        );
        assert_eq!(c.position(&tp), Some(2), "{level:?}");
    }

    // seek_to_end and a Latest reset stop at the last stable offset for ReadCommitted.
    txn.begin_transaction()?;
    txn.send(TOPIC, record("b"))?; // 2
    let mut c = consumer(&broker, IsolationLevel::ReadCommitted, 0)?;
    c.seek_to_end(&[])?;
    assert_eq!(c.position(&tp), Some(2));
    let mut u = consumer(&broker, IsolationLevel::ReadUncommitted, 0)?;
    u.seek_to_end(&[])?;
    assert_eq!(u.position(&tp), Some(3));
    txn.commit_transaction()?;
    assert_eq!(drain(&mut c)?, [(2, "b".to_string())]);
    assert_eq!(c.position(&tp), Some(4));
    Ok(())
}

#[test]
fn read_committed_filters_aborted_transactions_across_segments_and_reopen() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = TopicConfig::default().segment_bytes(4096);
    let mut want = Vec::new();
    {
        let broker = Broker::open(dir.path())?;
        broker.create_topic(TOPIC, config)?;
        let txn = broker.transactional_producer("writer")?;
        let plain = broker.producer();
        for round in 0..40 {
            txn.begin_transaction()?;
            let values: Vec<String> = (0..5)
                .map(|i| format!("r{round}-{i}-{}", "x".repeat(60)))
                .collect();
            txn.send_batch(TOPIC, values.iter().map(|v| record(v)))?;
            let interleaved = format!("plain-{round}");
            plain.send(TOPIC, record(&interleaved))?;
            if round % 3 == 0 {
                txn.abort_transaction()?;
            } else {
                txn.commit_transaction()?;
                want.extend(values);
            }
            want.push(interleaved);
        }
        assert!(broker.describe_topic(TOPIC)?.partitions[0].segments > 3);
        let before: Vec<String> = drain(&mut consumer(&broker, IsolationLevel::ReadCommitted, 0)?)?
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        assert_eq!(before.len(), want.len(), "before reopen");
        assert!(before == want, "before reopen");
        broker.close()?;
    }
    // The aborted-transaction index survives the restart; so does the order.
    let broker = Broker::open(dir.path())?;
    let got: Vec<String> = drain(&mut consumer(&broker, IsolationLevel::ReadCommitted, 0)?)?
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(got.len(), want.len(), "after reopen");
    assert!(got == want, "after reopen");
    // Reading from the middle of an aborted transaction skips the rest of it.
    let mut c = consumer(&broker, IsolationLevel::ReadCommitted, 0)?;
    c.seek(&TopicPartition::new(TOPIC, 0), 2)?;
    let first = drain(&mut c)?.first().cloned().expect("records");
    assert_eq!(first.1, "plain-0");
    Ok(())
}
