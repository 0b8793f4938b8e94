//! A "latest state" topic: account balances, compacted down to the last value per key
//! and read back as a table — Kafka's `cleanup.policy=compact`, in process.
//!
//! ```text
//! cargo run --example compaction
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use strom::{
    Broker, CleanupPolicy, ConsumerConfig, OffsetReset, Record, TopicConfig, TopicPartition,
};

const ACCOUNTS: u64 = 8;
const UPDATES: u64 = 4_000;

/// Account -> (offset of its latest record, balance).
type Table = BTreeMap<String, (u64, String)>;

/// Reads the whole topic into a table (a tombstone deletes); also returns the records read.
fn table(broker: &Broker) -> strom::Result<(usize, Table)> {
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new("balances", 0)])?;
    let (mut records, mut table) = (0, BTreeMap::new());
    loop {
        let batch = consumer.poll(Duration::from_millis(50))?;
        if batch.is_empty() {
            return Ok((records, table));
        }
        for r in &batch {
            records += 1;
            let key = String::from_utf8_lossy(r.key().unwrap_or_default()).into_owned();
            if r.is_tombstone() {
                table.remove(&key);
            } else {
                table.insert(
                    key,
                    (r.offset(), String::from_utf8_lossy(r.value()).into_owned()),
                );
            }
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("strom-compaction-{}", std::process::id()));
    let broker = Broker::open(&dir)?;
    broker.create_topic(
        "balances",
        TopicConfig::default()
            .cleanup_policy(CleanupPolicy::Compact)
            .segment_bytes(16 * 1024)
            // Tombstones are dropped at once here; by default they stay a day, so that
            // consumers catching up still see the deletion.
            .delete_retention_ms(0),
    )?;
    let producer = broker.producer();
    let mut balance = [1_000i64; ACCOUNTS as usize];
    for i in 0..UPDATES {
        let account = (i * 7 + i / 3) % ACCOUNTS;
        let slot = &mut balance[account as usize];
        *slot += i64::try_from(i % 97).unwrap_or(0) - 48;
        producer.send(
            "balances",
            Record::new(slot.to_string()).key(format!("account-{account}")),
        )?;
    }
    // Account 5 is closed: a tombstone deletes its key.
    producer.send("balances", Record::tombstone("account-5"))?;

    let before = broker.describe_topic("balances")?.partitions[0].clone();
    let (read_before, state_before) = table(&broker)?;
    broker.run_maintenance()?;
    let after = broker.describe_topic("balances")?.partitions[0].clone();
    let (read_after, state_after) = table(&broker)?;

    println!(
        "before compaction: {read_before} records in {} segments, {} bytes",
        before.segments, before.size_bytes
    );
    println!(
        "after compaction:  {read_after} records in {} segments, {} bytes",
        after.segments, after.size_bytes
    );
    println!("(the active segment is never compacted, so a few of its records remain)\n");
    println!("{:<12} {:>8} {:>8}", "account", "balance", "offset");
    for (account, (offset, value)) in &state_after {
        println!("{account:<12} {value:>8} {offset:>8}");
    }
    broker.close()?;
    std::fs::remove_dir_all(&dir)?;
    if state_after != state_before || read_after >= read_before {
        return Err("compaction changed the table or removed nothing".into());
    }
    println!("\nthe table read back is the same; offsets are the originals");
    Ok(())
}
