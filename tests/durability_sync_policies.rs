//! Every `SyncPolicy` acknowledges the same records the same way: concurrent `Always`
//! senders (which share fsyncs) each get their own contiguous offsets, `Interval` keeps
//! syncing in the background, and `flush` works under each policy; all of it survives a
//! close and reopen.

use std::thread;
use std::time::Duration;

use strom::{
    Broker, BrokerConfig, ConsumerConfig, OffsetReset, Record, Result, SyncPolicy, TopicConfig,
    TopicPartition,
};

fn read_all(broker: &Broker, topic: &str) -> Result<Vec<(u64, Vec<u8>)>> {
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .max_poll_records(10_000),
    );
    consumer.assign(&[TopicPartition::new(topic, 0)])?;
    let mut out = Vec::new();
    loop {
        let records = consumer.poll(Duration::from_millis(50))?;
        if records.is_empty() {
            return Ok(out);
        }
        out.extend(records.iter().map(|r| (r.offset(), r.value().to_vec())));
    }
}

fn exercise(policy: SyncPolicy) -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = BrokerConfig::default().sync(policy);
    let broker = Broker::open_with(dir.path(), config.clone())?;
    broker.create_topic("t", TopicConfig::default().segment_bytes(16 * 1024))?;
    let producer = broker.producer();
    let senders: Vec<_> = (0..8)
        .map(|t| {
            let producer = producer.clone();
            thread::spawn(move || -> Result<Vec<u64>> {
                (0..40)
                    .map(|i| Ok(producer.send("t", Record::new(format!("{t}-{i}")))?.offset))
                    .collect()
            })
        })
        .collect();
    let mut offsets: Vec<u64> = Vec::new();
    for sender in senders {
        offsets.extend(sender.join().expect("sender thread")?);
    }
    producer.flush()?;
    offsets.sort_unstable();
    assert_eq!(offsets, (0..320).collect::<Vec<_>>(), "{policy:?}");
    if let SyncPolicy::Interval(every) = policy {
        // Let the background thread run a few rounds alongside more sends.
        for i in 0..5 {
            producer.send("t", Record::new(format!("late-{i}")))?;
            thread::sleep(every);
        }
    }
    let before = read_all(&broker, "t")?;
    broker.close()?;
    let broker = Broker::open_with(dir.path(), config)?;
    assert_eq!(read_all(&broker, "t")?, before, "{policy:?}");
    broker.close()
}

#[test]
fn always_shares_fsyncs_between_concurrent_senders() -> Result<()> {
    exercise(SyncPolicy::Always)
}

#[test]
fn interval_syncs_in_the_background() -> Result<()> {
    exercise(SyncPolicy::Interval(Duration::from_millis(5)))
}

#[test]
fn never_leaves_syncing_to_the_os_and_flush() -> Result<()> {
    exercise(SyncPolicy::Never)
}
