//! The `kafka_request` fuzz target's seeds (`fuzz/corpus/kafka_request`), replayed by the
//! test command: each is a valid request the server answers, and every truncation and
//! single-byte change of it is answered or refused without a panic.

use std::path::Path;

use strom::Broker;
use strom_kafka::{answer_frame, ServerConfig};

#[test]
fn seeds_are_answered_and_their_mutations_never_panic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/kafka_request");
    let mut seeds: Vec<_> = std::fs::read_dir(&corpus)
        .expect("the kafka_request corpus")
        .map(|entry| entry.unwrap().path())
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 10, "{}: seeds missing", corpus.display());
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    let config = ServerConfig::default().max_partitions_per_topic(8);
    for seed in &seeds {
        let frame = std::fs::read(seed).unwrap();
        let response = answer_frame(&broker, &config, &frame)
            .unwrap_or_else(|| panic!("{} refused", seed.display()));
        assert_answers(&frame, &response, &seed.display().to_string());
        for cut in 0..frame.len() {
            let _ = answer_frame(&broker, &config, &frame[..cut]);
        }
        for at in 8..frame.len() {
            for byte in [0x00, 0x7f, 0xff] {
                let mut mutated = frame.clone();
                mutated[at] = byte;
                if let Some(response) = answer_frame(&broker, &config, &mutated) {
                    assert_answers(&mutated, &response, &seed.display().to_string());
                }
            }
        }
    }
    broker.close().unwrap();
}

/// A response carries its request's correlation id, unless it is the empty answer to a
/// Produce with `acks = 0`, which the server does not send.
fn assert_answers(frame: &[u8], response: &[u8], what: &str) {
    if response.is_empty() {
        assert_eq!(frame[..2], [0, 0], "{what}: only a Produce goes unanswered");
        return;
    }
    assert_eq!(response[4..8], frame[4..8], "{what}");
}
