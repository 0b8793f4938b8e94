//! Checksums are checked once per batch per open: a batch this process wrote, or one a
//! reader already checked from the segment's start, is not checked again. What lies past the
//! checked part still is: damage that appears there while the broker is open (a disk going
//! bad under a running process) is an `Error::Corrupt` naming the file, never records.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::time::Duration;

use strom::{
    Broker, ConsumerConfig, Error, OffsetReset, Record, Result, TopicConfig, TopicPartition,
};

mod common;

#[test]
fn damage_past_what_readers_checked_is_still_found() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let broker = Broker::open(dir.path())?;
        let config = TopicConfig::default()
            .segment_bytes(64 << 10)
            .retention_ms(-1);
        broker.create_topic("t", config)?;
        let producer = broker.producer();
        for i in 0..400 {
            producer.send("t", Record::new(format!("value {i:04} {}", "x".repeat(40))))?;
        }
        broker.close()?;
    }
    // Opened again: nothing is known good, the first reads check.
    let broker = Broker::open(dir.path())?;
    let tp = TopicPartition::new("t", 0);
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .max_poll_records(50),
    );
    consumer.assign(std::slice::from_ref(&tp))?;
    let first = consumer.poll(Duration::ZERO)?;
    assert_eq!(first.len(), 50);
    // Damage a value in batch 300, far past what was read.
    let log = &common::segment_logs(dir.path(), "t", 0)[0];
    let bytes = std::fs::read(log).expect("segment");
    let span = common::batch_spans(&bytes)
        .into_iter()
        .find(|s| s.base_offset == 300)
        .expect("batch 300");
    let mut file = OpenOptions::new()
        .write(true)
        .open(log)
        .expect("open segment");
    file.seek(SeekFrom::Start(span.end - 3)).expect("seek");
    file.write_all(b"!").expect("write");
    drop(file);
    let mut read = 50;
    let error = loop {
        match consumer.poll(Duration::ZERO) {
            Ok(records) if records.is_empty() => panic!("read to the end past damage"),
            Ok(records) => {
                assert!(
                    records.iter().all(|r| r.offset() < 300),
                    "damaged record returned"
                );
                read += records.len();
            }
            Err(e) => break e,
        }
    };
    assert_eq!(read, 300, "every record before the damage");
    assert!(
        matches!(&error, Error::Corrupt { path, .. } if path == log),
        "{error:?}"
    );
    Ok(())
}
