//! The handles have the thread-safety API.md promises: `Broker` and `Producer` are
//! `Clone + Send + Sync`, `Consumer` is `Send`, `TransactionalProducer` is `Send + Sync`,
//! `GroupMember` is `Clone + Send + Sync`,
//! records are `Clone + Send + Sync`, and the data types derive what it lists.

use std::collections::HashSet;

use strom::{
    Broker, Consumer, ConsumerRecord, Error, GroupMember, IsolationLevel, MembershipError,
    Producer, Records, TopicPartition, TransactionalProducer,
};

fn clone_send_sync<T: Clone + Send + Sync>() {}
fn send<T: Send>() {}
fn send_sync<T: Send + Sync>() {}
fn value<T: Copy + Eq + std::hash::Hash + std::fmt::Debug + Default>() {}

#[test]
fn handles_can_cross_threads() {
    clone_send_sync::<Broker>();
    clone_send_sync::<Producer>();
    send::<Consumer>();
    // One transactional producer may be shared by the threads of one processing step.
    send_sync::<TransactionalProducer>();
    // A Kafka-protocol server's connections share the remote members they drive.
    clone_send_sync::<GroupMember>();
    send_sync::<MembershipError>();
    value::<IsolationLevel>();
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

#[test]
fn stream_processing_types_can_cross_threads() {
    use strom::streams::{
        InternalTopic, JoinWindows, Json, KGroupedStream, KStream, KTable, SessionWindowedKStream,
        SessionWindows, StoreView, StreamsBuilder, TestRecord, TimeWindowedKStream, TimeWindows,
        Topology, TopologyTestDriver, Window, Windowed,
    };
    fn copy_eq<T: Copy + Eq + std::hash::Hash + std::fmt::Debug + Send + Sync>() {}
    // A topology is built on one thread and instantiated by the worker threads' tasks.
    send_sync::<StreamsBuilder>();
    clone_send_sync::<KStream<String, Json<Vec<u8>>>>();
    clone_send_sync::<KGroupedStream<String, Json<Vec<u8>>>>();
    clone_send_sync::<TimeWindowedKStream<String, u64>>();
    clone_send_sync::<SessionWindowedKStream<String, u64>>();
    clone_send_sync::<KTable<Windowed<String>, u64>>();
    send_sync::<StoreView<Windowed<String>, u64>>();
    clone_send_sync::<InternalTopic>();
    clone_send_sync::<Topology>();
    send::<TopologyTestDriver>();
    clone_send_sync::<TestRecord>();
    clone_send_sync::<Windowed<String>>();
    copy_eq::<TimeWindows>();
    copy_eq::<SessionWindows>();
    copy_eq::<JoinWindows>();
    copy_eq::<Window>();
    // A running application is shared with the threads that query its stores.
    send_sync::<strom::streams::Streams>();
    clone_send_sync::<strom::streams::StreamsConfig>();
    copy_eq::<strom::streams::ProcessingGuarantee>();
}
