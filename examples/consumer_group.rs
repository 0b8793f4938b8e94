//! A consumer group in one process: one producer, three members of the group on three
//! threads. Partitions are shared among them; when one member leaves half-way, its
//! partitions move to the others, and every record is still processed exactly once.
//!
//! ```text
//! cargo run --example consumer_group
//! ```

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use strom::{
    Broker, ConsumerConfig, OffsetReset, RebalanceListener, Record, Revoked, TopicConfig,
    TopicPartition,
};

const TOPIC: &str = "orders";
const RECORDS: u64 = 6_000;

/// Prints every change of a member's partitions.
struct Announce {
    name: &'static str,
}

impl RebalanceListener for Announce {
    fn on_partitions_revoked(&mut self, revoked: &mut Revoked<'_>) -> strom::Result<()> {
        println!("  {}: revoked  {}", self.name, names(revoked.partitions()));
        Ok(())
    }

    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) -> strom::Result<()> {
        println!("  {}: assigned {}", self.name, names(partitions));
        Ok(())
    }
}

fn names(tps: &[TopicPartition]) -> String {
    let parts: Vec<String> = tps.iter().map(|tp| tp.partition.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile_dir()?;
    let broker = Broker::open(&dir)?;
    broker.create_topic(TOPIC, TopicConfig::default().partitions(6))?;
    let processed = Arc::new(Mutex::new(Vec::<(u32, u64)>::new()));
    let stop = Arc::new(AtomicBool::new(false));

    let members: Vec<_> = ["alice", "bob", "carol"]
        .into_iter()
        .map(|name| {
            let broker = broker.clone();
            let processed = Arc::clone(&processed);
            let stop = Arc::clone(&stop);
            thread::spawn(move || -> strom::Result<usize> {
                let mut consumer = broker.consumer(
                    ConsumerConfig::default()
                        .group_id("order-processors")
                        .auto_offset_reset(OffsetReset::Earliest),
                );
                consumer.subscribe_with_listener([TOPIC], Announce { name })?;
                println!(
                    "  {name}: joined as {}",
                    consumer.member_id().unwrap_or("?")
                );
                let mut mine = 0;
                // carol leaves after her first 1,000 records.
                let quota = if name == "carol" { 1_000 } else { usize::MAX };
                while !stop.load(Ordering::Acquire) && mine < quota {
                    let records = consumer.poll(Duration::from_millis(50))?;
                    let batch: Vec<(u32, u64)> = records
                        .iter()
                        .map(|r| (r.partition(), r.offset()))
                        .collect();
                    mine += batch.len();
                    processed.lock().expect("no panics").extend(batch);
                    // Processed: commit, so that a successor starts right after.
                    consumer.commit()?;
                }
                if name == "carol" {
                    println!("  carol: leaving the group after {mine} records");
                }
                consumer.close()?;
                Ok(mine)
            })
        })
        .collect();

    let producer = broker.producer();
    for i in 0..RECORDS {
        producer.send(
            TOPIC,
            Record::new(format!("order {i}")).key(format!("customer-{}", i % 97)),
        )?;
        if i % 1_000 == 999 {
            thread::sleep(Duration::from_millis(20));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while processed.lock().expect("no panics").len() < RECORDS as usize && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(10));
    }
    let group = broker.describe_group("order-processors")?;
    stop.store(true, Ordering::Release);
    let counts: Vec<usize> = members
        .into_iter()
        .map(|m| m.join().expect("member thread"))
        .collect::<strom::Result<_>>()?;

    let processed = processed.lock().expect("no panics");
    let unique: BTreeSet<&(u32, u64)> = processed.iter().collect();
    println!("\ngeneration {} at the end, members:", group.generation);
    for member in &group.members {
        println!("  {} owns {}", member.member_id, names(&member.assignment));
    }
    println!(
        "\nrecords: {RECORDS} sent, {} processed ({} distinct; alice {}, bob {}, carol {})",
        processed.len(),
        unique.len(),
        counts[0],
        counts[1],
        counts[2]
    );
    let total_lag: u64 = broker
        .describe_group("order-processors")?
        .partitions
        .iter()
        .map(|p| p.lag)
        .sum();
    println!("lag after the last commit: {total_lag}");
    broker.close()?;
    std::fs::remove_dir_all(&dir)?;
    if unique.len() as u64 != RECORDS || processed.len() != unique.len() {
        return Err("some record was lost or processed twice".into());
    }
    println!("every record processed exactly once");
    Ok(())
}

/// A fresh directory under the system's temporary directory.
fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("strom-consumer-group-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
