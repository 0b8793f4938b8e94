//! The handles have the thread-safety API.md promises: `Broker` and `Producer` are
//! `Clone + Send + Sync`, `Consumer` is `Send`, records are `Clone + Send + Sync`, and the
//! data types derive what it lists.

use std::collections::HashSet;

use strom::{Broker, Consumer, ConsumerRecord, Error, Producer, Records, TopicPartition};

fn clone_send_sync<T: Clone + Send + Sync>() {}
fn send<T: Send>() {}

#[test]
fn handles_can_cross_threads() {
    clone_send_sync::<Broker>();
    clone_send_sync::<Producer>();
    send::<Consumer>();
    // Records read on one thread may be handed to, or shared with, workers on others.
    clone_send_sync::<ConsumerRecord>();
    clone_send_sync::<Records>();
    send::<Error>();
}

#[test]
fn topic_partitions_are_ordered_hashable_values() {
    let mut tps = vec![
        TopicPartition::new("b", 1),
        TopicPartition::new("a", 2),
        TopicPartition::new("a", 0),
    ];
    tps.sort();
    assert_eq!(
        tps,
        [
            TopicPartition::new("a", 0),
            TopicPartition::new("a", 2),
            TopicPartition::new("b", 1)
        ]
    );
    let set: HashSet<TopicPartition> = tps.iter().cloned().collect();
    assert!(set.contains(&TopicPartition::new("a", 2)));
    assert_eq!(
        format!("{:?}", tps[0]),
        r#"TopicPartition { topic: "a", partition: 0 }"#
    );
}
