//! Kafka's quick start, in process: create a topic, write three events, read them back.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! Kafka's version needs a broker started from a shell, `kafka-topics.sh --create`, a
//! console producer and a console consumer with `--from-beginning`. Here the broker is a
//! directory and the rest is a few calls.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use strom::{Broker, ConsumerConfig, OffsetReset, TopicConfig, TopicPartition};

#[derive(Debug, Serialize, Deserialize)]
struct Event {
    id: u32,
    text: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("strom-quickstart-{}", std::process::id()));
    let broker = Broker::open(&dir)?;
    broker.create_topic("quickstart-events", TopicConfig::default())?;
    println!("created topic quickstart-events in {}", dir.display());

    let producer = broker.producer();
    for (id, text) in [
        (1, "This is my first event"),
        (2, "This is my second event"),
        (3, "And a third"),
    ] {
        let event = Event {
            id,
            text: text.to_string(),
        };
        let meta = producer.send_json("quickstart-events", None, &event)?;
        println!(
            "sent     {}-{}@{}: {:?}",
            meta.topic, meta.partition, meta.offset, event.text
        );
    }
    producer.flush()?;

    // `--from-beginning`: start at the earliest offset.
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new("quickstart-events", 0)])?;
    let mut received = 0;
    while received < 3 {
        let records = consumer.poll(Duration::from_secs(5))?;
        if records.is_empty() {
            break;
        }
        for record in &records {
            let event: Event = record.json()?;
            println!(
                "received {}-{}@{}: {:?}",
                record.topic(),
                record.partition(),
                record.offset(),
                event.text
            );
            received += 1;
        }
    }
    broker.close()?;
    // The example cleans up after itself; a real application keeps its data directory.
    std::fs::remove_dir_all(&dir)?;
    if received != 3 {
        return Err(format!("expected 3 events, read {received}").into());
    }
    println!("all 3 events read back");
    Ok(())
}
