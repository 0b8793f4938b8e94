//! What strom does when the disk fails, through the `storage::fault` seam: a failed write
//! or a full disk is an error naming the file and appends nothing; after a failed fsync
//! the partition refuses writes until reopened, and reopening recovers every record
//! acknowledged before the failure. Nothing panics.
//!
//! Run with `cargo test --features fault-injection --test fault_injection`.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use strom::storage::fault::{self, FaultPoint};
use strom::{
    Broker, BrokerConfig, ConsumerConfig, Error, OffsetReset, Record, Result, SyncPolicy,
    TopicConfig, TopicPartition,
};

/// Injected faults are process-wide: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// This test's turn, with no fault left over from the one before.
fn exclusive() -> MutexGuard<'static, ()> {
    let turn = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    fault::clear();
    turn
}

fn values(broker: &Broker) -> Result<Vec<Vec<u8>>> {
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new("t", 0)])?;
    let mut out = Vec::new();
    loop {
        let records = consumer.poll(Duration::from_millis(20))?;
        if records.is_empty() {
            return Ok(out);
        }
        out.extend(records.iter().map(|r| r.value().to_vec()));
    }
}

fn names_a_log_file(err: &Error) -> bool {
    matches!(err, Error::Io { path, .. } if path.extension().is_some_and(|e| e == "log"))
}

#[test]
fn a_failed_fsync_poisons_the_partition_until_reopened() -> Result<()> {
    let _serial = exclusive();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = BrokerConfig::default().sync(SyncPolicy::Always);
    let broker = Broker::open_with(dir.path(), config.clone())?;
    broker.create_topic("t", TopicConfig::default())?;
    let producer = broker.producer();
    for i in 0..10 {
        producer.send("t", Record::new(format!("ok-{i}")))?;
    }
    fault::inject(FaultPoint::Fsync, 0);
    let err = producer
        .send("t", Record::new("unsynced"))
        .expect_err("fsync fails");
    assert!(names_a_log_file(&err), "{err}");
    let err = producer
        .send("t", Record::new("refused"))
        .expect_err("poisoned");
    assert!(
        matches!(err, Error::Poisoned { ref topic, partition: 0 } if topic == "t"),
        "{err}"
    );
    assert!(matches!(producer.flush(), Err(Error::Poisoned { .. })));
    // Reads go on; the close reports the failure and leaves recovery to the next open.
    assert_eq!(values(&broker)?.len(), 11);
    assert!(broker.close().is_err());

    let broker = Broker::open_with(dir.path(), config)?;
    let after = values(&broker)?;
    let acked: Vec<Vec<u8>> = (0..10).map(|i| format!("ok-{i}").into_bytes()).collect();
    assert_eq!(after[..10], acked[..], "every acknowledged record is back");
    assert!(
        after.len() <= 11,
        "and at most the unacknowledged one besides"
    );
    let next = producer_send_after_reopen(&broker)?;
    assert_eq!(next, after.len() as u64);
    broker.close()
}

fn producer_send_after_reopen(broker: &Broker) -> Result<u64> {
    Ok(broker.producer().send("t", Record::new("after"))?.offset)
}

#[test]
fn a_failed_write_appends_nothing_and_the_next_send_works() -> Result<()> {
    let _serial = exclusive();
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("t", TopicConfig::default())?;
    let producer = broker.producer();
    fault::inject(FaultPoint::Write, 0);
    let err = producer
        .send("t", Record::new("lost"))
        .expect_err("write fails");
    assert!(names_a_log_file(&err), "{err}");
    assert_eq!(broker.describe_topic("t")?.partitions[0].high_watermark, 0);
    assert_eq!(producer.send("t", Record::new("kept"))?.offset, 0);
    assert_eq!(values(&broker)?, [b"kept".to_vec()]);
    broker.close()
}

#[test]
fn a_full_disk_when_rolling_is_an_error_and_nothing_acknowledged_is_lost() -> Result<()> {
    let _serial = exclusive();
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("t", TopicConfig::default().segment_bytes(4096))?;
    let producer = broker.producer();
    fault::inject(FaultPoint::Grow, 0);
    let mut acked = Vec::new();
    let mut failure = None;
    for i in 0..200 {
        let value = format!("{i:0>100}");
        match producer.send("t", Record::new(value.clone())) {
            Ok(_) => acked.push(value.into_bytes()),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let err = failure.expect("the roll meets the full disk");
    assert!(
        matches!(&err, Error::Io { source, path } if source.raw_os_error() == Some(28) && path.extension().is_some_and(|e| e == "log")),
        "{err}"
    );
    // Space again: the next send rolls and goes on.
    let meta = producer.send("t", Record::new("after"))?;
    assert_eq!(meta.offset, acked.len() as u64);
    acked.push(b"after".to_vec());
    broker.close()?;
    let broker = Broker::open(dir.path())?;
    assert_eq!(values(&broker)?, acked);
    broker.close()
}
