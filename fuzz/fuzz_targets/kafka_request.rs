//! Arbitrary Kafka request frames answered by the Kafka-protocol server: never a panic,
//! never an allocation out of proportion to the frame (run with `-malloc_limit_mb`), and a
//! response only with the request's correlation id.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use strom::Broker;
use strom_kafka::ServerConfig;

/// One broker for the whole run, in a directory that lives as long as the process.
fn broker() -> &'static Broker {
    static BROKER: OnceLock<(tempfile::TempDir, Broker)> = OnceLock::new();
    &BROKER
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("a scratch directory");
            let broker = Broker::open(dir.path()).expect("a fresh data directory opens");
            (dir, broker)
        })
        .1
}

fuzz_target!(|frame: &[u8]| {
    let broker = broker();
    // Few partitions per topic: a topic's creation costs a directory and files each.
    let config = ServerConfig::default().max_partitions_per_topic(8);
    if let Some(response) = strom_kafka::answer_frame(broker, &config, frame) {
        if response.is_empty() {
            // Produce with acks = 0: the server sends nothing.
            assert_eq!(frame[..2], [0, 0], "only a Produce goes unanswered");
            return;
        }
        let size = i32::from_be_bytes(response[..4].try_into().unwrap());
        assert_eq!(usize::try_from(size).unwrap(), response.len() - 4);
        assert_eq!(response[4..8], frame[4..8], "the request's correlation id");
    }
    // Inputs that create topics: keep the directory small.
    let topics = broker.topics();
    if topics.len() > 20 {
        for topic in topics {
            let _ = broker.delete_topic(&topic);
        }
    }
});
