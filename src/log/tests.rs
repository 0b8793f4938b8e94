//! White-box tests of `PartitionLog`: states that concurrency makes possible but rare.

use std::ops::ControlFlow;
use std::sync::Arc;

use super::{LogSettings, PartitionLog};
use crate::config::SyncPolicy;
use crate::storage::batch::{self, Entry, Origin};

fn open(dir: &std::path::Path) -> PartitionLog {
    let settings = LogSettings {
        segment_bytes: 1 << 20,
        segment_ms: i64::MAX,
        index_interval_bytes: 4096,
        sync: SyncPolicy::Never,
        compression: batch::Compression::None,
    };
    PartitionLog::open(dir, Arc::from("t"), 0, settings, None, 0).expect("open")
}

fn entries(values: &[&'static [u8]]) -> Vec<Entry<'static>> {
    values
        .iter()
        .map(|v| Entry {
            timestamp: 1,
            key: None,
            value: Some(v),
            headers: &[],
        })
        .collect()
}

fn offsets_read(log: &PartitionLog, from: u64) -> Vec<u64> {
    let mut seen = Vec::new();
    log.read_batches(from, |batch| {
        for record in batch.records_from(from)? {
            seen.push(record?.offset);
        }
        Ok(ControlFlow::Continue(()))
    })
    .expect("read");
    seen
}

// Found by the concurrency stress test: a reader that loaded the high watermark, then the
// segment's size while an append was between writing its bytes and publishing the new
// high watermark, handed out records past the watermark; the consumer's position then lay
// beyond the log's end, was reset to the log start, and records were delivered twice.
#[test]
fn a_read_stops_at_the_high_watermark_even_when_more_bytes_are_written() {
    let dir = tempfile::tempdir().expect("dir");
    let log = open(dir.path());
    log.append(entries(&[b"a", b"b"]).into_iter(), Origin::NONE, 1)
        .expect("append");
    assert_eq!(log.high_watermark(), 2);
    // An append caught half way: its bytes are in the segment, the watermark not yet moved.
    {
        let mut writer = log.writer().expect("a writer");
        let more = entries(&[b"c", b"d"]);
        let len = batch::encoded_len(&more);
        writer
            .active
            .append(len, |buf, base| {
                batch::encode_from(buf, base, Origin::NONE, more.into_iter())
            })
            .expect("write bytes");
    }
    assert_eq!(log.high_watermark(), 2);
    assert_eq!(offsets_read(&log, 0), vec![0, 1]);
    assert_eq!(offsets_read(&log, 2), Vec::<u64>::new());
    assert_eq!(log.offset_for_timestamp(1).expect("time lookup"), Some(0));
    assert_eq!(log.offset_for_timestamp(2).expect("time lookup"), None);
}

/// A batch encoded before its offsets were known (as a Kafka client sends one) is stored at
/// the log's next offset, unchanged but for its base offset and leader epoch; transactional
/// batches and markers handed over so keep the partition's transactional state; invalid
/// bytes are refused and append nothing.
#[test]
fn batches_encoded_elsewhere_are_stored_at_the_next_offset() {
    let dir = tempfile::tempdir().expect("dir");
    let log = open(dir.path());
    log.append(entries(&[b"a", b"b"]).into_iter(), Origin::NONE, 1)
        .expect("append");
    let origin = Origin {
        producer_id: 5,
        producer_epoch: 0,
        base_sequence: 0,
        transactional: true,
    };
    let mut encoded = vec![0; batch::encoded_len(&entries(&[b"c", b"d", b"e"]))];
    batch::encode_with(&mut encoded, 1000, origin, &entries(&[b"c", b"d", b"e"])).expect("encode");
    assert_eq!(
        log.append_encoded(&encoded, 2).expect("store").base_offset,
        2
    );
    assert_eq!(log.high_watermark(), 5);
    assert_eq!(
        (log.last_stable_offset(), log.transaction_open(5)),
        (2, true)
    );
    assert_eq!(offsets_read(&log, 0), [0, 1, 2, 3, 4]);
    let mut stored = Vec::new();
    log.read_batches(2, |b| {
        stored = b.bytes().to_vec();
        Ok(ControlFlow::Break(()))
    })
    .expect("read");
    assert_eq!(
        &stored[16..],
        &encoded[16..],
        "the same bytes after the leader epoch"
    );

    let mut marker = [0; batch::CONTROL_BATCH_BYTES];
    let abort = batch::ControlRecord {
        kind: batch::ControlType::Abort,
        coordinator_epoch: 0,
    };
    batch::encode_control(&mut marker, 0, origin, abort, 3).expect("marker");
    assert_eq!(
        log.append_encoded(&marker, 3)
            .expect("store marker")
            .base_offset,
        5
    );
    assert_eq!(log.last_stable_offset(), 6);
    assert_eq!(log.aborted_from(0).len(), 1);

    let mut damaged = encoded.clone();
    damaged[40] ^= 1;
    assert!(log.append_encoded(&damaged, 4).is_err());
    assert!(log
        .append_encoded(&encoded[..encoded.len() - 1], 4)
        .is_err());
    assert_eq!(log.high_watermark(), 6);
}

// Found by tests/transaction_crash_loop.rs: `list_segments` took `aborted.txnindex` for an
// index file without its log (its name ends in "index") and deleted it at every open, so
// after any restart `ReadCommitted` readers returned the records of aborted transactions.
#[test]
fn the_aborted_transaction_index_survives_a_reopen() {
    let dir = tempfile::tempdir().expect("dir");
    let origin = Origin {
        producer_id: 7,
        producer_epoch: 0,
        base_sequence: -1,
        transactional: true,
    };
    let abort = batch::ControlRecord {
        kind: batch::ControlType::Abort,
        coordinator_epoch: 0,
    };
    let aborted = {
        let log = open(dir.path());
        log.append(entries(&[b"a"]).into_iter(), Origin::NONE, 1)
            .expect("append");
        log.append(entries(&[b"b", b"c"]).into_iter(), origin, 1)
            .expect("append");
        log.append_control(origin, abort, 1, 1).expect("marker");
        log.aborted_from(0)
    };
    assert_eq!(aborted.len(), 1);
    assert_eq!((aborted[0].first_offset, aborted[0].last_offset), (1, 3));
    let log = open(dir.path());
    assert_eq!(log.aborted_from(0), aborted, "the index after a reopen");
}

/// A compressed batch from elsewhere (as a Kafka client sends one) is checked decompressed
/// and stored as it came; one whose records decompress past the limit is refused. Should
/// one reach a segment anyway (a damaged disk), reading it is an error naming the file.
#[cfg(all(feature = "lz4", feature = "zstd"))]
#[test]
fn compressed_batches_from_elsewhere_are_checked_and_bombs_never_read() {
    let dir = tempfile::tempdir().expect("dir");
    let log = open(dir.path());
    let owned: Vec<&'static [u8]> = (0..100)
        .map(|i| [&b"reading 0"[..], b"reading 1", b"reading 2"][i % 3])
        .collect();
    let mut plain = vec![0; batch::encoded_len(&entries(&owned))];
    batch::encode(&mut plain, 0, &entries(&owned)).expect("encode");
    let packed = batch::compress(&plain, batch::Compression::Lz4).expect("compress");
    assert_eq!(
        log.append_encoded(&packed, 1).expect("store").base_offset,
        0
    );
    assert_eq!(offsets_read(&log, 37), (37..100).collect::<Vec<_>>());

    // One record's batch whose records section is a zstd frame of 64 MiB and a byte of
    // zeroes: a few kilobytes.
    let zeros = vec![0; batch::MAX_DECOMPRESSED_BYTES + 1];
    let frame = zstd::stream::encode_all(&zeros[..], 3).expect("zstd");
    let bomb = batch::with_records(
        &plain[..batch::HEADER_BYTES + 10],
        batch::Compression::Zstd,
        &frame,
    );
    let refused = log.append_encoded(&bomb, 2);
    assert!(
        matches!(
            &refused,
            Err(crate::Error::Encode {
                source: batch::EncodeError::Invalid(batch::DecodeError::Compression { .. }),
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(log.high_watermark(), 100);
    let header = batch::read_header(&bomb).expect("header");
    log.append_copy(&bomb, &header, super::Effect::None, 2)
        .expect("stored unchecked, as a damaged disk might hold it");
    let read = log.read_batches(100, |_| Ok(ControlFlow::Continue(())));
    assert!(
        matches!(
            &read,
            Err(crate::Error::Corrupt {
                kind: crate::CorruptKind::Compression { .. },
                ..
            })
        ),
        "{read:?}"
    );
}
