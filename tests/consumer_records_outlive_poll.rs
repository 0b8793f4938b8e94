//! Records handed out by `poll` point into segment maps that they keep alive: whether kept
//! by value, cloned, left in a partly used iterator or sent to another thread, each still
//! reads its own bytes after the poll's `Records` is gone and its topic deleted, and a
//! poll's records take and give back their references in bulk without losing count.

use std::thread;
use std::time::Duration;

use strom::{
    Broker, ConsumerConfig, ConsumerRecord, OffsetReset, Record, Result, TopicConfig,
    TopicPartition,
};

/// Records of the topic, each `topic-offset` padded so that segments roll often.
fn value(offset: u64) -> String {
    format!("value-{offset:06}-{}", "x".repeat(60))
}

fn assert_intact(records: &[ConsumerRecord]) {
    for r in records {
        assert_eq!(r.topic(), "kept");
        assert_eq!(
            r.value(),
            value(r.offset()).as_bytes(),
            "offset {}",
            r.offset()
        );
        assert_eq!(r.key(), Some(format!("k{}", r.offset()).as_bytes()));
    }
}

#[test]
fn records_outlive_their_poll_and_their_segments() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    // Small segments: one poll reads across many of them, so its records have many sources.
    broker.create_topic("kept", TopicConfig::default().segment_bytes(4096))?;
    let producer = broker.producer();
    for chunk in 0..20u64 {
        producer.send_batch(
            "kept",
            (chunk * 50..chunk * 50 + 50).map(|o| Record::new(value(o)).key(format!("k{o}"))),
        )?;
    }
    let tp = TopicPartition::new("kept", 0);
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .max_poll_records(10_000),
    );
    consumer.assign(std::slice::from_ref(&tp))?;

    let mut kept = Vec::new();
    let mut read = 0;
    let mut polls = 0;
    while read < 1000 {
        let records = consumer.poll(Duration::from_secs(5))?;
        assert!(!records.is_empty(), "all 1000 records are there");
        read += records.len();
        polls += 1;
        // A clone of the whole poll, and of every tenth record through a borrow.
        let copy = records.clone();
        kept.extend(records.iter().step_by(10).cloned());
        // Half of the records taken by value; the rest dropped with the iterator.
        let half = records.len() / 2;
        let mut by_value = records.into_iter();
        kept.extend(by_value.by_ref().take(half));
        drop(by_value);
        // The clone outlives the original and is dropped last.
        assert_intact(&copy.iter().cloned().collect::<Vec<_>>());
        drop(copy);
    }
    assert_eq!(read, 1000);
    // Reading across segments, a poll does not stop at a segment's end.
    assert_eq!(polls, 1, "one poll of up to 10,000 records takes all 1000");
    drop(consumer);
    broker.delete_topic("kept")?;
    assert_intact(&kept);
    let kept_count = kept.len();
    assert_eq!(kept_count, 1000 / 10 + 1000 / 2);

    // Moved to other threads and dropped there, in pieces.
    let pieces: Vec<Vec<ConsumerRecord>> = kept.chunks(97).map(<[_]>::to_vec).collect();
    drop(kept);
    let threads: Vec<_> = pieces
        .into_iter()
        .map(|piece| {
            thread::spawn(move || {
                assert_intact(&piece);
                piece.len()
            })
        })
        .collect();
    let total: usize = threads.into_iter().map(|t| t.join().expect("thread")).sum();
    assert_eq!(total, kept_count);
    Ok(())
}
