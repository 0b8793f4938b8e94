//! A batch of a format version newer than this build's is refused clearly: a directory a
//! newer build closed cleanly is not opened (`Error::Corrupt` with `CorruptKind::Version`)
//! rather than cut at the first batch this build cannot read, which would destroy the newer
//! build's data.

use std::fs;

use strom::{Broker, CorruptKind, Error, Record, Result, TopicConfig};

mod common;

use common::{batch_spans, segment_logs};

const TOPIC: &str = "future";

#[test]
fn a_newer_batch_after_a_clean_close_is_refused_not_cut() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let broker = Broker::open(dir.path())?;
        broker.create_topic(TOPIC, TopicConfig::default())?;
        for i in 0..3 {
            broker
                .producer()
                .send(TOPIC, Record::new(format!("r{i}")))?;
        }
        broker.close()?;
    }
    // A newer build appended a batch of version 3 and closed cleanly (its clean marker
    // names a later end, which this build cannot confirm).
    let log = segment_logs(dir.path(), TOPIC, 0).pop().expect("segment");
    let mut bytes = fs::read(&log).expect("read segment");
    let last = *batch_spans(&bytes).last().expect("batches");
    let mut newer = bytes[usize::try_from(last.start).expect("pos")..].to_vec();
    newer[16] = 3;
    bytes.extend_from_slice(&newer);
    fs::write(&log, &bytes).expect("write segment");

    match Broker::open(dir.path()) {
        Err(Error::Corrupt { path, kind, .. }) => {
            assert_eq!(path, log);
            assert_eq!(kind, CorruptKind::Version(3));
        }
        other => panic!("expected a version error, got {other:?}"),
    }
    assert_eq!(fs::read(&log).expect("read segment"), bytes, "nothing cut");
    Ok(())
}
