//! Transactional producers committing offsets for one group concurrently, each for its own
//! partition (as the members of a consumer group do): every commit's offsets are the
//! group's committed offsets when `commit_transaction` returns, whatever the order in which
//! the producers' commits were decided and completed, and after a reopen.

use std::thread;

use strom::{Broker, ConsumerConfig, Record, Result, TopicConfig, TopicPartition};

const PRODUCERS: u32 = 4;
const COMMITS: u64 = 150;
const GROUP: &str = "readers";

#[test]
fn concurrent_transactions_of_one_group_never_lose_offsets() -> Result<()> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("in", TopicConfig::default().partitions(PRODUCERS))?;
    broker.create_topic("out", TopicConfig::default().partitions(PRODUCERS))?;
    let threads: Vec<_> = (0..PRODUCERS)
        .map(|i| {
            let broker = broker.clone();
            thread::spawn(move || -> Result<Vec<(u64, Option<u64>)>> {
                let producer = broker.transactional_producer(&format!("writer-{i}"))?;
                // A consumer of the group outside its membership: its metadata commits
                // unchecked, as a standalone Java consumer's does.
                let consumer = broker.consumer(ConsumerConfig::default().group_id(GROUP));
                let metadata = consumer.group_metadata()?;
                let tp = TopicPartition::new("in", i);
                let mut lost = Vec::new();
                for offset in 1..=COMMITS {
                    producer.begin_transaction()?;
                    producer.send("out", Record::new(format!("{i}:{offset}")).partition(i))?;
                    producer.send_offsets_to_transaction(&[(tp.clone(), offset)], &metadata)?;
                    producer.commit_transaction()?;
                    let committed = consumer.committed(&tp)?;
                    if committed != Some(offset) {
                        lost.push((offset, committed));
                    }
                }
                Ok(lost)
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let lost = t.join().expect("no panic")?;
        assert!(
            lost.is_empty(),
            "writer-{i}: commits whose offsets the group did not take (offset, committed after): {lost:?}"
        );
    }
    broker.close()?;
    let broker = Broker::open(dir.path())?;
    let consumer = broker.consumer(ConsumerConfig::default().group_id(GROUP));
    for i in 0..PRODUCERS {
        let tp = TopicPartition::new("in", i);
        assert_eq!(
            consumer.committed(&tp)?,
            Some(COMMITS),
            "{tp:?} after reopen"
        );
    }
    Ok(())
}
