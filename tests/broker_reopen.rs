//! Reopening a directory right after dropping the last handle of its broker.
//!
//! In a file of its own: a test spawning a child process while this one drops its broker
//! would hold a copy of the lock file's descriptor from fork to exec, and with it the lock
//! (as any process spawning children does), which this test must not take for the
//! maintenance thread's doing.

use strom::{Broker, BrokerConfig, Record, Result, TopicConfig};

/// The maintenance thread holds the broker for the length of a round; when the last handle
/// is dropped during one, the close runs on that thread. A reopen right after the drop
/// must still get the directory (it waits for the round), never `Locked`.
#[test]
fn a_reopen_right_after_the_last_drop_is_not_locked_by_a_maintenance_round() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    // A round every millisecond, so that drops land inside rounds often.
    let config =
        || BrokerConfig::default().maintenance_interval(std::time::Duration::from_millis(1));
    let mut broker = Broker::open_with(dir.path(), config())?;
    broker.create_topic("t", TopicConfig::default())?;
    for i in 0..300u32 {
        broker
            .producer()
            .send("t", Record::new(i.to_le_bytes().to_vec()))?;
        drop(broker);
        broker = Broker::open_with(dir.path(), config())?;
    }
    assert_eq!(
        broker.describe_topic("t")?.partitions[0].high_watermark,
        300
    );
    broker.close()
}
