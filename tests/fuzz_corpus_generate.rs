//! Writes the seed corpora `fuzz/corpus/batch_decode/*` and `fuzz/corpus/open_dir/*`.
//! Deterministic; run by hand after a format change and commit the bytes:
//! `cargo test --test fuzz_corpus_generate -- --ignored`.

use std::fs;
use std::path::{Path, PathBuf};

use strom::storage::batch::{self, Entry};
use strom::{Broker, Record, TopicConfig};

include!("../fuzz/common.rs");

mod common;

use common::XorShift64;

const TS0: i64 = 1_700_000_000_000;

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    fs::create_dir_all(&dir).expect("corpus dir");
    dir
}

fn encode(base_offset: u64, entries: &[Entry<'_>]) -> Vec<u8> {
    let mut out = vec![0; batch::encoded_len(entries)];
    let n = batch::encode(&mut out, base_offset, entries).expect("encode");
    assert_eq!(n, out.len());
    out
}

fn entry<'a>(
    timestamp: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: &'a [(String, Vec<u8>)],
) -> Entry<'a> {
    Entry {
        timestamp,
        key,
        value,
        headers,
    }
}

fn valid_batches() -> Vec<(&'static str, Vec<u8>)> {
    let hs = vec![
        ("trace".to_string(), b"abc".to_vec()),
        (String::new(), Vec::new()),
        ("ü".to_string(), vec![0xff; 3]),
    ];
    let none: &[(String, Vec<u8>)] = &[];
    vec![
        ("valid-minimal", encode(0, &[entry(0, None, None, none)])),
        (
            "valid-key-value",
            encode(7, &[entry(TS0, Some(b"key-1"), Some(b"value-1"), none)]),
        ),
        (
            "valid-empty-key-tombstone",
            encode(0, &[entry(TS0, Some(b""), None, none)]),
        ),
        (
            "valid-headers",
            encode(42, &[entry(TS0, Some(b"k"), Some(b"v"), &hs)]),
        ),
        (
            "valid-three-records-jitter",
            encode(
                100,
                &[
                    entry(TS0, Some(b"a"), Some(b"1"), none),
                    entry(TS0 - 5, None, Some(b"22"), &hs),
                    entry(TS0 + 9, Some(b"c"), Some(b""), none),
                ],
            ),
        ),
        (
            "valid-extreme-timestamps",
            encode(
                0,
                &[
                    entry(i64::MIN, None, Some(b"min"), none),
                    entry(i64::MAX, None, Some(b"max"), none),
                ],
            ),
        ),
        (
            "valid-last-offsets",
            encode(
                u64::MAX - 2,
                &[entry(1, None, None, none), entry(2, None, None, none)],
            ),
        ),
        (
            "valid-long-value",
            encode(0, &[entry(TS0, Some(b"big"), Some(&[b'x'; 300]), none)]),
        ),
    ]
}

fn write_batch_corpus() {
    let dir = corpus("batch_decode");
    let mut rng = XorShift64(0x5eed_0001);
    let valid = valid_batches();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, bytes) in &valid {
        files.push(((*name).to_string(), bytes.clone()));
    }
    let three = &valid[4].1;
    let headers = &valid[3].1;
    // Two batches back to back: only the first is looked at.
    files.push((
        "valid-two-batches".into(),
        [&valid[1].1[..], three].concat(),
    ));
    for cut in [0, 1, 16, 39, 40, 41, three.len() - 1] {
        files.push((format!("truncated-at-{cut}"), three[..cut].to_vec()));
    }
    for at in [
        0,
        8,
        12,
        16,
        17,
        18,
        20,
        24,
        32,
        40,
        41,
        44,
        three.len() - 1,
    ] {
        let mut b = three.clone();
        b[at] ^= 0x01 << (at % 8);
        files.push((format!("flipped-byte-{at}"), b));
    }
    for at in [40, 45, headers.len() - 4] {
        let mut b = headers.clone();
        b[at] ^= 0x80;
        files.push((format!("flipped-headers-byte-{at}"), b));
    }
    let field = |name: &str, at: usize, value: &[u8]| {
        let mut b = three.clone();
        b[at..at + value.len()].copy_from_slice(value);
        (name.to_string(), b)
    };
    files.push(field("bad-version-2", 16, &[2]));
    files.push(field("bad-attributes", 17, &[1]));
    files.push(field("bad-reserved", 18, &[0, 1]));
    files.push(field("bad-record-count-0", 20, &0u32.to_le_bytes()));
    files.push(field("bad-record-count-huge", 20, &u32::MAX.to_le_bytes()));
    files.push(field("bad-length-46", 8, &46u32.to_le_bytes()));
    files.push(field("bad-length-huge", 8, &u32::MAX.to_le_bytes()));
    files.push(field("bad-max-below-first", 32, &0i64.to_le_bytes()));
    files.push(field("bad-overlong-varint", 40, &[0x80 | three[40], 0x00]));
    files.push(("zeroed-16".into(), vec![0; 16]));
    files.push(("zeroed-64".into(), vec![0; 64]));
    files.push(("empty".into(), Vec::new()));
    for n in [20, 47, 120] {
        files.push((format!("garbage-{n}"), rng.bytes(n)));
    }
    // A plausible header over garbage records: lets `records` get going without a valid CRC.
    let mut g = three[..HEADER].to_vec();
    g.extend(rng.bytes(three.len() - HEADER));
    files.push(("garbage-records-valid-header".into(), g));
    for (name, bytes) in files {
        if std::panic::catch_unwind(|| batch_decode(&bytes)).is_err() {
            eprintln!("batch_decode seed {name} fails the harness");
        }
        fs::write(dir.join(format!("{name}.bin")), bytes).expect("write seed");
    }
}

const HEADER: usize = batch::HEADER_BYTES;

/// A real partition written by strom: (log, index, timeindex, `.clean` `next_offset`, `.clean` `max_timestamp`).
fn real_partition(records: u64, jitter: bool) -> (Vec<u8>, Vec<u8>, Vec<u8>, u64, i64) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(tmp.path()).expect("open");
    let config = TopicConfig::default()
        .segment_bytes(4096)
        .retention_ms(-1)
        .index_interval_bytes(128);
    broker.create_topic(FUZZ_TOPIC, config).expect("topic");
    let written =
        fs::read_to_string(tmp.path().join(FUZZ_TOPIC).join("topic.json")).expect("topic.json");
    assert_eq!(
        written, FUZZ_TOPIC_JSON,
        "FUZZ_TOPIC_JSON is what strom writes"
    );
    let producer = broker.producer();
    let mut i = 0;
    while i < records {
        let n = (i % 3 + 1).min(records - i);
        let batch = (i..i + n).map(|j| {
            let ts = TS0 + i64::try_from(j * 10).expect("small")
                - if jitter {
                    i64::try_from(j % 4).expect("small")
                } else {
                    0
                };
            let r = Record::new(format!("value-{j}")).timestamp(ts).partition(0);
            let r = if j % 5 == 0 {
                r.header("h", b"1".to_vec())
            } else {
                r
            };
            if j % 7 == 3 {
                r
            } else {
                r.key(format!("key-{j}"))
            }
        });
        producer.send_batch(FUZZ_TOPIC, batch).expect("send");
        i += n;
    }
    broker.close().expect("close");
    let base = tmp
        .path()
        .join(FUZZ_TOPIC)
        .join("0")
        .join("00000000000000000000");
    let read = |ext: &str| fs::read(base.with_extension(ext)).unwrap_or_default();
    let clean = fs::read_to_string(tmp.path().join(".clean")).expect(".clean");
    let number = |field: &str| -> i128 {
        let at = clean.find(field).expect("field in .clean") + field.len();
        let digits: String = clean[at..]
            .chars()
            .skip_while(|c| *c == ':' || c.is_whitespace())
            .take_while(|c| *c == '-' || c.is_ascii_digit())
            .collect();
        digits.parse().expect("number")
    };
    let mut log = read("log");
    // Preallocated space is zeros; keep a little of it, as strom leaves it.
    let used = end_of_batches(&log);
    log.truncate((used + 64).min(log.len()));
    (
        log,
        read("index"),
        read("timeindex"),
        u64::try_from(number("\"next_offset\"")).expect("u64"),
        i64::try_from(number("\"max_timestamp\"")).expect("i64"),
    )
}

fn end_of_batches(log: &[u8]) -> usize {
    let mut pos = 0;
    while let Ok(h) = batch::check(&log[pos..]) {
        pos += h.length as usize;
    }
    pos
}

#[allow(clippy::too_many_lines)] // one line per seed
fn write_open_dir_corpus() {
    let dir = corpus("open_dir");
    let mut rng = XorShift64(0x5eed_0002);
    let (log, index, time, next, max_ts) = real_partition(40, true);
    assert!(index.len() >= 16, "the seed needs index entries");
    let (small_log, small_index, small_time, small_next, small_max) = real_partition(3, false);
    let used = end_of_batches(&log);
    let mut files: Vec<(&str, Vec<u8>)> = Vec::new();
    let mid_ts = TS0 + 200;
    let clean = (next, max_ts);
    files.push((
        "real-unclean",
        open_dir_input(0, mid_ts, clean, &log, &index, &time),
    ));
    files.push((
        "real-clean",
        open_dir_input(FLAG_CLEAN, mid_ts, clean, &log, &index, &time),
    ));
    files.push((
        "real-clean-append",
        open_dir_input(FLAG_CLEAN | FLAG_APPEND, TS0, clean, &log, &index, &time),
    ));
    files.push((
        "real-small-clean",
        open_dir_input(
            FLAG_CLEAN,
            TS0 + 10,
            (small_next, small_max),
            &small_log,
            &small_index,
            &small_time,
        ),
    ));
    files.push((
        "real-no-indexes",
        open_dir_input(
            FLAG_NO_INDEX | FLAG_NO_TIMEINDEX,
            mid_ts,
            clean,
            &log,
            &[],
            &[],
        ),
    ));
    files.push((
        "real-no-timeindex",
        open_dir_input(FLAG_NO_TIMEINDEX, i64::MAX, clean, &log, &index, &[]),
    ));
    files.push((
        "real-seek-min",
        open_dir_input(FLAG_APPEND, i64::MIN, clean, &log, &index, &time),
    ));
    files.push((
        "torn-tail",
        open_dir_input(FLAG_APPEND, mid_ts, clean, &log[..used - 5], &index, &time),
    ));
    files.push((
        "torn-tail-clean",
        open_dir_input(FLAG_CLEAN, mid_ts, clean, &log[..used - 5], &index, &time),
    ));
    files.push((
        "torn-header",
        open_dir_input(0, mid_ts, clean, &log[..used - 60], &index, &time),
    ));
    let mut zero_tail = log[..used].to_vec();
    zero_tail.extend([0; 100]);
    files.push((
        "zeroed-tail",
        open_dir_input(FLAG_APPEND, mid_ts, clean, &zero_tail, &index, &time),
    ));
    let mut flipped = log.clone();
    flipped[used / 2] ^= 0x10;
    files.push((
        "flipped-log-clean",
        open_dir_input(FLAG_CLEAN, mid_ts, clean, &flipped, &index, &time),
    ));
    files.push((
        "flipped-log-unclean",
        open_dir_input(FLAG_APPEND, mid_ts, clean, &flipped, &index, &time),
    ));
    files.push((
        "flipped-log-fix-crc",
        open_dir_input(
            FLAG_FIX_CRC | FLAG_CLEAN,
            mid_ts,
            clean,
            &flipped,
            &index,
            &time,
        ),
    ));
    files.push((
        "garbage-index",
        open_dir_input(
            FLAG_CLEAN,
            mid_ts,
            clean,
            &log,
            &rng.bytes(48),
            &rng.bytes(72),
        ),
    ));
    files.push((
        "garbage-index-unclean",
        open_dir_input(0, mid_ts, clean, &log, &rng.bytes(40), &time),
    ));
    let mut past_end = index.clone();
    past_end[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    files.push((
        "index-past-end",
        open_dir_input(FLAG_CLEAN, mid_ts, clean, &log, &past_end, &time),
    ));
    files.push((
        "index-torn",
        open_dir_input(
            FLAG_CLEAN,
            mid_ts,
            clean,
            &log,
            &index[..index.len() - 3],
            &time[..time.len() - 5],
        ),
    ));
    files.push((
        "clean-next-offset-high",
        open_dir_input(
            FLAG_CLEAN,
            mid_ts,
            (next + 1000, max_ts),
            &log,
            &index,
            &time,
        ),
    ));
    files.push((
        "regression-clean-next-offset-below-log-end",
        open_dir_input(
            FLAG_CLEAN | FLAG_APPEND,
            mid_ts,
            (1, max_ts),
            &log,
            &index,
            &time,
        ),
    ));
    files.push((
        "clean-next-offset-max",
        open_dir_input(
            FLAG_CLEAN | FLAG_APPEND,
            mid_ts,
            (u64::MAX, i64::MIN),
            &log,
            &index,
            &time,
        ),
    ));
    files.push((
        "empty-log-clean",
        open_dir_input(FLAG_CLEAN | FLAG_APPEND, 0, (0, 0), &[], &[], &[]),
    ));
    files.push(("empty", Vec::new()));
    files.push((
        "garbage-log",
        open_dir_input(FLAG_APPEND, 0, (0, 0), &rng.bytes(300), &[], &[]),
    ));
    let v = &valid_batches()[4].1;
    files.push((
        "one-batch-no-index",
        open_dir_input(FLAG_NO_INDEX, TS0, (0, 0), v, &[], &[]),
    ));
    let mut gap = v.clone();
    gap.extend(encode(50, &[entry(TS0, None, Some(b"gap"), &[])]));
    gap.extend(encode(10, &[entry(TS0, None, Some(b"back"), &[])]));
    files.push((
        "batches-going-back",
        open_dir_input(FLAG_NO_INDEX | FLAG_APPEND, TS0, (0, 0), &gap, &[], &[]),
    ));
    files.push((
        "batches-going-back-clean",
        open_dir_input(FLAG_CLEAN, TS0, (1000, TS0), &gap, &[], &[]),
    ));
    for (name, bytes) in files {
        // Seeds that fail the harness are regressions: the replay test reports them.
        if std::panic::catch_unwind(|| open_dir(&bytes)).is_err() {
            eprintln!("open_dir seed {name} fails the harness");
        }
        fs::write(dir.join(format!("{name}.bin")), bytes).expect("write seed");
    }
}

#[test]
#[ignore = "writes fuzz/corpus; run by hand"]
fn generate_fuzz_corpus() {
    write_batch_corpus();
    write_open_dir_corpus();
}
