//! What strom does when the disk fails, through the `storage::fault` seam: a failed write
//! or a full disk is an error naming the file and appends nothing; after a failed fsync
//! the partition refuses writes until reopened, and reopening recovers every record
//! acknowledged before the failure; a failed lookup never makes retention delete anything,
//! and a failure in the background is logged and retried. Nothing panics.
//!
//! Run with `cargo test --features fault-injection --test fault_injection`.

use std::fmt::{Debug, Write as _};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

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

/// Async sends waiting for a shared fsync that fails (on the background thread) fail too,
/// and so does everything after: the partition is poisoned as for blocking sends.
#[test]
fn a_failed_fsync_fails_the_async_sends_waiting_for_it() -> Result<()> {
    let _serial = exclusive();
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open_with(dir.path(), BrokerConfig::default().sync(SyncPolicy::Always))?;
    broker.create_topic("t", TopicConfig::default())?;
    let producer = broker.producer();
    futures::executor::block_on(async {
        for i in 0..5 {
            producer
                .send_async("t", Record::new(format!("ok-{i}")))
                .await?;
        }
        fault::inject(FaultPoint::Fsync, 0);
        let poisoned =
            |err: &Error| matches!(err, Error::Poisoned { topic, partition: 0 } if topic == "t");
        let (first, second) = futures::join!(
            producer.send_async("t", Record::new("unsynced-1")),
            producer.send_async("t", Record::new("unsynced-2")),
        );
        for err in [
            first.expect_err("fsync fails"),
            second.expect_err("fsync fails"),
        ] {
            assert!(poisoned(&err), "{err}");
        }
        let err = producer
            .send_async("t", Record::new("refused"))
            .await
            .expect_err("poisoned");
        assert!(poisoned(&err), "{err}");
        let err = producer.flush_async().await.expect_err("poisoned");
        assert!(poisoned(&err), "{err}");
        Ok::<(), Error>(())
    })?;
    assert_eq!(values(&broker)?.len(), 7);
    assert!(broker.close().is_err());
    Ok(())
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

#[test]
fn a_failed_size_lookup_makes_retention_delete_nothing() -> Result<()> {
    let _serial = exclusive();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = TopicConfig::default()
        .segment_bytes(4096)
        .retention_ms(24 * 3600 * 1000);
    let broker = Broker::open(dir.path())?;
    broker.create_topic("t", config)?;
    let producer = broker.producer();
    for i in 0..200 {
        producer.send("t", Record::new(format!("{i:0>100}")))?;
    }
    broker.close()?;
    // Reopened, the sealed segments learn their size when first asked: that lookup fails.
    let broker = Broker::open(dir.path())?;
    let before = broker.describe_topic("t")?.partitions[0].clone();
    assert!(before.segments > 3, "{before:?}");
    broker.close()?;
    let broker = Broker::open(dir.path())?;
    fault::inject(FaultPoint::Metadata, 0);
    let err = broker.run_maintenance().expect_err("the size lookup fails");
    assert!(names_a_log_file(&err), "{err}");
    // Nothing expired, and nothing was taken for an empty segment and deleted.
    let after = broker.describe_topic("t")?.partitions[0].clone();
    assert_eq!(after, before);
    assert_eq!(values(&broker)?.len(), 200);
    broker.close()
}

/// Events logged through `tracing`, as `level message field=value ...` lines.
#[derive(Default)]
struct Captured(Mutex<Vec<String>>);

impl Captured {
    /// The process-wide capture, installed once as the global subscriber.
    fn global() -> &'static Captured {
        static CAPTURED: OnceLock<&'static Captured> = OnceLock::new();
        CAPTURED.get_or_init(|| {
            let captured: &'static Captured = Box::leak(Box::default());
            tracing::subscriber::set_global_default(Capture(captured))
                .expect("no other global subscriber");
            captured
        })
    }

    fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

struct Capture(&'static Captured);

struct Line(String);

impl tracing::field::Visit for Line {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = Line(event.metadata().level().to_string());
        event.record(&mut line);
        (self.0)
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn a_background_failure_is_logged_and_retried() -> Result<()> {
    let _serial = exclusive();
    let captured = Captured::global();
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic(
        "t",
        TopicConfig::default()
            .segment_bytes(4096)
            .retention_ms(1000),
    )?;
    let producer = broker.producer();
    for i in 0..200 {
        // Long expired.
        producer.send("t", Record::new(format!("{i:0>100}")).timestamp(1_000))?;
    }
    broker.close()?;
    let broker = Broker::open_with(
        dir.path(),
        BrokerConfig::default().maintenance_interval(Duration::from_millis(10)),
    )?;
    // The next background round fails on its first size lookup ...
    fault::inject(FaultPoint::Metadata, 0);
    let give_up = Instant::now() + Duration::from_secs(30);
    let logged = loop {
        let found = captured
            .lines()
            .into_iter()
            .find(|l| l.starts_with("WARN") && l.contains("retention or compaction failed"));
        if let Some(line) = found {
            break line;
        }
        assert!(
            Instant::now() < give_up,
            "no failure logged: {:?}",
            captured.lines()
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    // ... which is logged with the topic, the partition and the file ...
    assert!(logged.contains("topic=t"), "{logged}");
    assert!(logged.contains("partition=0"), "{logged}");
    assert!(logged.contains(".log"), "{logged}");
    // ... and retried at the next interval, which deletes the expired segments.
    while !captured
        .lines()
        .iter()
        .any(|l| l.contains("deleted segments past retention") && l.contains("topic=t"))
    {
        assert!(Instant::now() < give_up, "retention was not retried");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(broker.describe_topic("t")?.partitions[0].log_start_offset > 0);
    broker.close()
}

#[test]
fn a_failed_background_fsync_is_logged_and_poisons_the_partition() -> Result<()> {
    let _serial = exclusive();
    let captured = Captured::global();
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open_with(
        dir.path(),
        BrokerConfig::default().sync(SyncPolicy::Interval(Duration::from_millis(10))),
    )?;
    broker.create_topic("interval", TopicConfig::default())?;
    let producer = broker.producer();
    fault::inject(FaultPoint::Fsync, 0);
    producer.send("interval", Record::new("acknowledged"))?;
    // The background fsync fails: logged at ERROR with the partition ...
    let give_up = Instant::now() + Duration::from_secs(30);
    while !captured.lines().iter().any(|l| {
        l.starts_with("ERROR") && l.contains("topic=interval") && l.contains("partition=0")
    }) {
        assert!(
            Instant::now() < give_up,
            "no failure logged: {:?}",
            captured.lines()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // ... which refuses writes from then on.
    let err = producer
        .send("interval", Record::new("refused"))
        .expect_err("poisoned");
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    assert!(broker.close().is_err());
    let broker = Broker::open(dir.path())?;
    assert_eq!(
        broker.describe_topic("interval")?.partitions[0].high_watermark,
        1
    );
    broker.close()
}
