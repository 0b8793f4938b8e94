// Shared by the fuzz targets (`fuzz/fuzz_targets/*.rs`), the corpus replay test
// (`tests/fuzz_corpus_replay.rs`) and the corpus generator (`tests/fuzz_corpus_generate.rs`),
// each of which `include!`s it, so it compiles as part of each of those crates: no `use` of
// anything but `std` and `strom` (and `tempfile`, which all of them have).
//
// A harness may panic only through the assertions below, each of which states a property
// strom promises: never a panic, never a hang, records as the format documents them.

/// The topic the `open_dir` harness lays out, with one partition.
const FUZZ_TOPIC: &str = "t";

/// `t/topic.json`: one partition, small segments, nothing deleted by retention.
const FUZZ_TOPIC_JSON: &str = r#"{
  "partitions": 1,
  "segment_bytes": 4096,
  "segment_ms": 604800000,
  "retention_ms": -1,
  "retention_bytes": null,
  "max_record_bytes": 1048576,
  "cleanup_policy": "delete",
  "delete_retention_ms": 86400000,
  "index_interval_bytes": 128
}"#;

/// `open_dir` flag: write a `.clean` marker (a clean shutdown) with the header's fields.
const FLAG_CLEAN: u8 = 1;
/// `open_dir` flag: no `.index` file at all.
const FLAG_NO_INDEX: u8 = 2;
/// `open_dir` flag: no `.timeindex` file at all.
const FLAG_NO_TIMEINDEX: u8 = 4;
/// `open_dir` flag: append a record after reading, then read again.
const FLAG_APPEND: u8 = 8;
/// `open_dir` flag: recompute the CRC of every batch of the `.log` before writing it, so that
/// mutated records get past the checksum.
const FLAG_FIX_CRC: u8 = 16;

/// Bytes of the `open_dir` input header (missing bytes read as zero):
///
/// | at | size | field                                               |
/// |---:|-----:|-----------------------------------------------------|
/// |  0 |    1 | flags (`FLAG_*`)                                    |
/// |  1 |    2 | u16: bytes of `.log` (at most what is left)         |
/// |  3 |    2 | u16: bytes of `.index` (at most what is left)       |
/// |  5 |    8 | i64: timestamp for `seek_to_timestamp`              |
/// | 13 |    8 | u64: `.clean` `next_offset` (with `FLAG_CLEAN`)     |
/// | 21 |    8 | i64: `.clean` `max_timestamp` (with `FLAG_CLEAN`)   |
///
/// The rest is the `.log`, then the `.index`, then the `.timeindex`.
const OPEN_DIR_HEADER: usize = 29;

/// Upper bound on polls per pass: every non-empty poll returns at least one record and a record
/// takes at least 7 bytes of log, so more polls than this means strom loops.
fn max_polls(log_len: usize) -> usize {
    log_len / 7 + 16
}

/// The CRC-32 (zlib's) of `parts`, as one stream; bitwise, as inputs are small.
fn fuzz_crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = u32::MAX;
    for part in parts {
        for &byte in *part {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
    }
    !crc
}

/// Rewrites the `crc` field of every batch whose header reads and that fits in `buf`, walking
/// batches back to back from the start, so that mutations inside records get past `check`.
fn fix_crcs(buf: &mut [u8]) {
    use strom::storage::batch;
    let mut pos = 0usize;
    while let Ok(header) = batch::read_header(&buf[pos..]) {
        let end = pos + header.length as usize;
        if end > buf.len() {
            break;
        }
        let crc = fuzz_crc32(&[&buf[pos..pos + 8], &buf[pos + 16..end]]);
        buf[pos + 12..pos + 16].copy_from_slice(&crc.to_le_bytes());
        pos = end;
    }
}

/// `read_header`, `check`, `records` and `headers` on `data` as given and with its checksums
/// recomputed.
fn batch_decode(data: &[u8]) {
    decode_one(data);
    let mut fixed = data.to_vec();
    fix_crcs(&mut fixed);
    decode_one(&fixed);
}

fn decode_one(data: &[u8]) {
    use strom::storage::batch;
    let header = batch::read_header(data);
    let checked = batch::check(data);
    if let Ok(h) = &checked {
        assert_eq!(
            header.as_ref().ok(),
            Some(h),
            "check Ok but read_header not"
        );
        assert!(h.length as usize <= data.len());
    }
    // Display must work for every error.
    if let Err(e) = &checked {
        assert!(!e.to_string().is_empty());
    }
    // Arbitrary bytes as encoded headers, with a count from the input.
    let count = data
        .get(..4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let pairs = batch::headers(data, count).count();
    assert!(pairs <= count as usize && pairs <= data.len() / 2);

    let it = match batch::records(data) {
        Ok(it) => it,
        Err(e) => {
            assert!(checked.is_err(), "check Ok but records failed: {e:?}");
            return;
        }
    };
    let h = *it.header();
    assert_eq!(header.as_ref().ok(), Some(&h));
    let len = h.length as usize;
    let mut ok = 0u64;
    let mut errors = 0u32;
    let mut decoded = Vec::new();
    for (i, record) in it.enumerate() {
        assert!(
            i < h.record_count as usize,
            "records yielded more than record_count"
        );
        match record {
            Ok(r) => {
                assert_eq!(errors, 0, "a record after an error");
                assert_eq!(r.offset, h.base_offset + ok, "offset");
                assert!(r.timestamp <= h.max_timestamp, "timestamp above max");
                for range in [r.key.clone(), r.value.clone(), Some(r.headers.clone())]
                    .into_iter()
                    .flatten()
                {
                    assert!(range.start <= range.end && range.end <= len, "range");
                }
                let pairs: Vec<_> = batch::headers(&data[r.headers.clone()], r.header_count)
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .collect();
                assert_eq!(
                    pairs.len(),
                    r.header_count as usize,
                    "headers of a good record"
                );
                decoded.push((
                    r.timestamp,
                    r.key.map(|k| data[k].to_vec()),
                    r.value.map(|v| data[v].to_vec()),
                    pairs,
                ));
                ok += 1;
            }
            Err(e) => {
                assert!(matches!(e, batch::DecodeError::Record(_)), "{e:?}");
                errors += 1;
            }
        }
    }
    assert!(errors <= 1, "more than one error");
    if errors == 0 {
        assert_eq!(ok, u64::from(h.record_count), "records ended early");
        reencode(data, &h, &decoded);
    } else {
        assert!(ok < u64::from(h.record_count));
    }
    if checked.is_ok() {
        assert!(
            (errors == 0 && ok == u64::from(h.record_count)) || errors == 1,
            "checked batch: {ok} records and {errors} errors for {}",
            h.record_count
        );
    }
}

type Decoded = (
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(Vec<u8>, Vec<u8>)>,
);

/// A batch whose records all decode is canonical: encoding what was decoded gives back the same
/// bytes, checksum aside (`records` does not verify it). Skipped for header keys that are not
/// UTF-8, which `encode` cannot take (readers do not validate them).
fn reencode(data: &[u8], h: &strom::storage::batch::BatchHeader, decoded: &[Decoded]) {
    use strom::storage::batch;
    let Some(headers) = decoded
        .iter()
        .map(|(_, _, _, hs)| {
            hs.iter()
                .map(|(k, v)| String::from_utf8(k.clone()).ok().map(|k| (k, v.clone())))
                .collect::<Option<Vec<_>>>()
        })
        .collect::<Option<Vec<_>>>()
    else {
        return;
    };
    let entries: Vec<batch::Entry<'_>> = decoded
        .iter()
        .zip(&headers)
        .map(|((timestamp, key, value, _), headers)| batch::Entry {
            timestamp: *timestamp,
            key: key.as_deref(),
            value: value.as_deref(),
            headers,
        })
        .collect();
    let len = batch::encoded_len(&entries);
    let mut out = vec![0; len];
    assert_eq!(batch::encode(&mut out, h.base_offset, &entries), Ok(len));
    let original = &data[..h.length as usize];
    assert_eq!(len, original.len(), "re-encoded length");
    // The header's max_timestamp is only checked to be at least every record's timestamp.
    assert_eq!(&out[..12], &original[..12], "re-encoded header");
    assert_eq!(&out[16..32], &original[16..32], "re-encoded header");
    assert_eq!(&out[40..], &original[40..], "re-encoded records");
}

/// Builds an `open_dir` input (the inverse of the split `open_dir` does).
#[allow(dead_code)]
fn open_dir_input(
    flags: u8,
    seek_ts: i64,
    clean: (u64, i64),
    log: &[u8],
    index: &[u8],
    timeindex: &[u8],
) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(
        &u16::try_from(log.len())
            .expect("log fits u16")
            .to_le_bytes(),
    );
    out.extend_from_slice(
        &u16::try_from(index.len())
            .expect("index fits u16")
            .to_le_bytes(),
    );
    out.extend_from_slice(&seek_ts.to_le_bytes());
    out.extend_from_slice(&clean.0.to_le_bytes());
    out.extend_from_slice(&clean.1.to_le_bytes());
    out.extend_from_slice(log);
    out.extend_from_slice(index);
    out.extend_from_slice(timeindex);
    out
}

/// Lays `data` out as topic `t`'s partition 0 (see `OPEN_DIR_HEADER`), opens it, reads it all
/// from the earliest offset, seeks by timestamp and reads again, maybe appends, and closes.
fn open_dir(data: &[u8]) {
    let mut head = [0u8; OPEN_DIR_HEADER];
    let n = data.len().min(OPEN_DIR_HEADER);
    head[..n].copy_from_slice(&data[..n]);
    let rest = &data[n..];
    let flags = head[0];
    let log_len = usize::from(u16::from_le_bytes([head[1], head[2]])).min(rest.len());
    let (log, rest) = rest.split_at(log_len);
    let index_len = usize::from(u16::from_le_bytes([head[3], head[4]])).min(rest.len());
    let (index, timeindex) = rest.split_at(index_len);
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&head[at..at + 8]);
        b
    };
    let seek_ts = i64::from_le_bytes(word(5));
    let next_offset = u64::from_le_bytes(word(13));
    let max_timestamp = i64::from_le_bytes(word(21));

    let dir = tempfile::tempdir().expect("temp dir");
    let partition = dir.path().join(FUZZ_TOPIC).join("0");
    std::fs::create_dir_all(&partition).expect("partition dir");
    std::fs::write(
        dir.path().join(FUZZ_TOPIC).join("topic.json"),
        FUZZ_TOPIC_JSON,
    )
    .expect("topic.json");
    let base = partition.join("00000000000000000000");
    let mut log = log.to_vec();
    if flags & FLAG_FIX_CRC != 0 {
        fix_crcs(&mut log);
    }
    std::fs::write(base.with_extension("log"), &log).expect(".log");
    if flags & FLAG_NO_INDEX == 0 {
        std::fs::write(base.with_extension("index"), index).expect(".index");
    }
    if flags & FLAG_NO_TIMEINDEX == 0 {
        std::fs::write(base.with_extension("timeindex"), timeindex).expect(".timeindex");
    }
    if flags & FLAG_CLEAN != 0 {
        let marker = format!(
            r#"{{"{FUZZ_TOPIC}":{{"0":{{"next_offset":{next_offset},"max_timestamp":{max_timestamp}}}}}}}"#
        );
        std::fs::write(dir.path().join(".clean"), marker).expect(".clean");
    }

    match open_and_read(dir.path(), flags, seek_ts, log.len()) {
        Ok(()) => {}
        Err(e) => assert!(!e.to_string().is_empty(), "an error without a message"),
    }
}

fn open_and_read(
    dir: &std::path::Path,
    flags: u8,
    seek_ts: i64,
    log_len: usize,
) -> strom::Result<()> {
    use strom::{Broker, ConsumerConfig, OffsetReset, Record, TopicPartition};
    let broker = Broker::open(dir)?;
    let result = (|| {
        let mut consumer =
            broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
        consumer.assign(&[TopicPartition::new(FUZZ_TOPIC, 0)])?;
        let first = read_all(&mut consumer, log_len);
        consumer.seek_to_timestamp(seek_ts)?;
        let after_seek = read_all(&mut consumer, log_len);
        let appended = if flags & FLAG_APPEND != 0 {
            let sent = broker
                .producer()
                .send(FUZZ_TOPIC, Record::new("fuzz").key("k").partition(0));
            if let Ok(meta) = &sent {
                // The new record is readable where the producer says it is.
                consumer.seek(&TopicPartition::new(FUZZ_TOPIC, 0), meta.offset)?;
                let got = consumer.poll(std::time::Duration::ZERO)?;
                let record = got.iter().next().expect("the appended record is readable");
                assert_eq!(record.offset(), meta.offset);
                assert_eq!(record.value(), b"fuzz");
            }
            sent.map(|_| ())
        } else {
            Ok(())
        };
        first.and(after_seek).and(appended)
    })();
    let closed = broker.close();
    result.and(closed)
}

/// Polls until a poll comes back empty (or fails), at most `max_polls` times; offsets must rise.
fn read_all(consumer: &mut strom::Consumer, log_len: usize) -> strom::Result<()> {
    let mut last: Option<u64> = None;
    for _ in 0..max_polls(log_len) {
        let records = consumer.poll(std::time::Duration::ZERO)?;
        if records.is_empty() {
            return Ok(());
        }
        for record in &records {
            assert!(
                last.is_none_or(|l| record.offset() > l),
                "offsets do not rise: {:?} then {}",
                last,
                record.offset()
            );
            last = Some(record.offset());
            let _ = (record.timestamp(), record.key(), record.headers().count());
        }
    }
    panic!(
        "still reading after {} polls of a {log_len}-byte log",
        max_polls(log_len)
    );
}
