//! A damaged metadata file — a topic's `topic.json`, a group's committed offsets — is an
//! `Error::Corrupt` naming the file and where in it the damage is, with one clear message;
//! and no error says the same thing twice when printed with its chain of sources, as error
//! reporters (`anyhow`, `eyre`, `main` returning `Result`) print it.

use std::error::Error as _;
use std::fs;
use std::path::Path;

use strom::{Broker, ConsumerConfig, CorruptKind, Error, Result, TopicConfig, TopicPartition};

/// The error and all its sources, as a report prints them.
fn report(err: &Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Whether no part of the report repeats a part before it.
fn says_each_thing_once(report: &str) -> bool {
    let parts: Vec<&str> = report.split(": ").collect();
    parts
        .iter()
        .enumerate()
        .all(|(i, part)| part.len() < 4 || !parts[..i].iter().any(|p| p.contains(part)))
}

fn damaged_topic_config(dir: &Path, content: &str) -> Error {
    {
        let broker = Broker::open(dir).expect("open");
        broker
            .create_topic("rides", TopicConfig::default())
            .expect("create");
        broker.close().expect("close");
    }
    fs::write(dir.join("rides").join("topic.json"), content).expect("damage topic.json");
    Broker::open(dir).expect_err("a damaged topic.json")
}

#[test]
fn a_topic_json_that_does_not_parse_is_corrupt_at_its_position() {
    let dir = tempfile::tempdir().expect("temp dir");
    let content = "{\n  \"partitions\": 3,\n  oops\n}";
    let err = damaged_topic_config(dir.path(), content);
    match &err {
        Error::Corrupt {
            path,
            position,
            kind: CorruptKind::Metadata(what),
        } => {
            assert!(path.ends_with("rides/topic.json"), "{err}");
            // The parser stopped at `oops`, on the third line.
            let oops = content.find("oops").expect("oops") as u64;
            assert!(
                (oops..=oops + 4).contains(position),
                "{position} in {content:?}"
            );
            assert!(
                !what.contains("line"),
                "the position is not repeated: {what}"
            );
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let report = report(&err);
    assert!(report.contains("topic.json"), "{report}");
    assert!(says_each_thing_once(&report), "{report}");
}

#[test]
fn a_topic_json_with_nonsense_values_is_corrupt_and_says_which() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = damaged_topic_config(dir.path(), r#"{"partitions": 0}"#);
    match &err {
        Error::Corrupt {
            path,
            kind: CorruptKind::Metadata(what),
            ..
        } => {
            assert!(path.ends_with("rides/topic.json"), "{err}");
            assert!(what.contains("partitions"), "{what}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let report = report(&err);
    assert_eq!(
        report.matches("invalid configuration").count(),
        0,
        "a damaged file is not the caller's configuration: {report}"
    );
    assert!(says_each_thing_once(&report), "{report}");
}

#[test]
fn damaged_committed_offsets_are_corrupt_and_name_the_file() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let broker = Broker::open(dir.path())?;
        broker.create_topic("rides", TopicConfig::default())?;
        let mut consumer = broker.consumer(ConsumerConfig::default().group_id("matchers"));
        consumer.commit_offsets(&[(TopicPartition::new("rides", 0), 0)])?;
        broker.close()?;
    }
    let offsets = dir.path().join("__consumer_offsets");
    let file = fs::read_dir(&offsets)
        .expect("offsets dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("the group's file");
    fs::write(&file, "{\"group_id\": \"matchers\", \"offsets\": ").expect("damage");
    let err = Broker::open(dir.path()).expect_err("damaged offsets");
    assert!(
        matches!(&err, Error::Corrupt { path, kind: CorruptKind::Metadata(_), .. } if *path == file),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn io_errors_name_the_path_once_and_leave_the_cause_to_the_source() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A file where the data directory should be.
    let blocker = dir.path().join("data");
    fs::write(&blocker, "not a directory").expect("write");
    let err = Broker::open(blocker.join("inner")).expect_err("cannot create under a file");
    let Error::Io { path, source } = &err else {
        panic!("expected Io, got {err:?}");
    };
    assert!(path.starts_with(&blocker), "{err}");
    let cause = source.to_string();
    assert!(!err.to_string().contains(&cause), "{err}");
    let report = report(&err);
    assert_eq!(report.matches(&cause).count(), 1, "{report}");
    assert!(says_each_thing_once(&report), "{report}");
}
