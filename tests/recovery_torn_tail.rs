//! After an unclean stop, a last segment cut at any byte (bare, zero-extended, or followed by garbage or a stale batch) reopens as an exact prefix: every batch that ended before the cut, nothing after.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use strom::{Broker, ConsumerRecord, Record, Result, TopicConfig};

mod common;

use common::{batch_spans, copy_dir, read_partition, segment_logs, BatchSpan};

const TOPIC: &str = "torn";
const SEGMENT_BYTES: u64 = 4096;
const TS0: i64 = 1_700_000_000_000;

/// What a record was sent as, and the offset it got.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sent {
    offset: u64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
    timestamp: i64,
}

impl Sent {
    /// The `i`-th record of the test: keys, values, headers and tombstones of many shapes.
    fn nth(i: u64) -> Self {
        let key = match i % 11 {
            0 => None,
            5 => Some(Vec::new()),
            _ => Some(format!("key-{i}").into_bytes()),
        };
        let value = if i % 17 == 9 && key.is_some() {
            None
        } else {
            let fill = "abcdefghijklmnopqrstuvwxyz".repeat(5);
            let len = usize::try_from(i * 13 % 120).expect("small");
            Some(format!("value-{i}-{}", &fill[..len]).into_bytes())
        };
        let headers = if i.is_multiple_of(5) {
            vec![("trace".to_string(), format!("t{i}").into_bytes())]
        } else {
            Vec::new()
        };
        let delta = i64::try_from(i).expect("small");
        Self {
            offset: i,
            key,
            value,
            headers,
            timestamp: TS0 + delta * 10,
        }
    }

    /// A record with a short key and value.
    fn small(i: u64) -> Self {
        Self {
            key: Some(format!("s{i}").into_bytes()),
            value: Some(format!("v{i}").into_bytes()),
            headers: Vec::new(),
            ..Self::nth(i)
        }
    }

    fn record(&self) -> Record {
        let mut record = match (&self.key, &self.value) {
            (Some(k), None) => Record::tombstone(k.clone()),
            (_, value) => Record::new(value.clone().unwrap_or_default()),
        };
        if let (Some(k), Some(_)) = (&self.key, &self.value) {
            record = record.key(k.clone());
        }
        for (name, value) in &self.headers {
            record = record.header(name.clone(), value.clone());
        }
        record.timestamp(self.timestamp).partition(0)
    }

    fn assert_matches(&self, got: &ConsumerRecord, context: &str) {
        assert_eq!(got.offset(), self.offset, "{context}: offset");
        assert_eq!(
            got.key(),
            self.key.as_deref(),
            "{context}: key of {}",
            self.offset
        );
        assert_eq!(
            got.is_tombstone(),
            self.value.is_none(),
            "{context}: tombstone of {}",
            self.offset
        );
        assert_eq!(
            got.value(),
            self.value.as_deref().unwrap_or_default(),
            "{context}: value of {}",
            self.offset
        );
        assert_eq!(
            got.timestamp(),
            self.timestamp,
            "{context}: timestamp of {}",
            self.offset
        );
        let headers: Vec<(String, Vec<u8>)> = got
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect();
        assert_eq!(
            headers, self.headers,
            "{context}: headers of {}",
            self.offset
        );
    }
}

fn assert_prefix(got: &[ConsumerRecord], want: &[Sent], context: &str) {
    assert_eq!(
        got.len(),
        want.len(),
        "{context}: number of records read back"
    );
    for (g, w) in got.iter().zip(want) {
        w.assert_matches(g, context);
    }
}

/// Writes the log: single-record and multi-record batches over several 4 KiB segments.
fn write_log(dir: &Path) -> Result<Vec<Sent>> {
    let broker = Broker::open(dir)?;
    let config = TopicConfig::default()
        .segment_bytes(SEGMENT_BYTES)
        .index_interval_bytes(256)
        .retention_ms(-1);
    broker.create_topic(TOPIC, config)?;
    let producer = broker.producer();
    let mut sent = Vec::new();
    let mut sizes: Vec<u64> = [1, 4, 1, 1, 3, 7, 1, 2, 1, 5].repeat(5);
    // A tail of small batches, so that cutting at each of their bytes stays cheap.
    sizes.extend([2, 1, 3]);
    let mut next = 0;
    for (round, &size) in sizes.iter().enumerate() {
        let small = round + 3 >= sizes.len();
        let batch: Vec<Sent> = (next..next + size)
            .map(|i| if small { Sent::small(i) } else { Sent::nth(i) })
            .collect();
        let offsets: Vec<u64> = if size == 1 {
            vec![producer.send(TOPIC, batch[0].record())?.offset]
        } else {
            let metas = producer.send_batch(TOPIC, batch.iter().map(Sent::record))?;
            metas.iter().map(|m| m.offset).collect()
        };
        assert_eq!(offsets, (next..next + size).collect::<Vec<_>>());
        sent.extend(batch);
        next += size;
    }
    broker.close()?;
    Ok(sent)
}

/// Deterministic bytes that are not a batch.
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[3]
        })
        .collect()
}

/// What follows the cut in the damaged copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// Nothing: the file ends at the cut.
    Bare,
    /// Zeroes, as in the preallocated part of an active segment.
    Zeroes,
    /// Random bytes.
    Garbage,
    /// A valid copy of an earlier batch of the segment: right checksum, wrong offsets.
    StaleBatch,
}

struct Case<'a> {
    pristine: &'a Path,
    work: &'a Path,
    sent: &'a [Sent],
    spans: &'a [BatchSpan],
    cut: u64,
    tail: Tail,
    reopen_after: bool,
}

impl Case<'_> {
    fn context(&self) -> String {
        format!("cut at byte {} with {:?} tail", self.cut, self.tail)
    }

    /// Copies the pristine log, damages its last segment and removes the clean marker;
    /// returns the original and the damaged bytes of that segment.
    fn prepare(&self) -> (Vec<u8>, Vec<u8>) {
        if self.work.exists() {
            fs::remove_dir_all(self.work).expect("remove old copy");
        }
        copy_dir(self.pristine, self.work);
        fs::remove_file(self.work.join(".clean")).expect("a clean close leaves .clean");
        let last = segment_logs(self.work, TOPIC, 0).pop().expect("a segment");
        let original = fs::read(&last).expect("read segment");
        // A batch whose offsets are not the ones expected at the cut.
        let stale_span = if self.cut == self.spans[0].start {
            self.spans[1]
        } else {
            self.spans[0]
        };
        let stale_range = usize::try_from(stale_span.start).expect("pos")
            ..usize::try_from(stale_span.end).expect("pos");
        let mut file = OpenOptions::new()
            .append(true)
            .open(&last)
            .expect("open segment");
        file.set_len(self.cut).expect("cut");
        let tail = match self.tail {
            Tail::Bare => Vec::new(),
            Tail::Zeroes => vec![0; 8192],
            Tail::Garbage => garbage(self.cut, 300),
            Tail::StaleBatch => original[stale_range].to_vec(),
        };
        file.write_all(&tail).expect("append the tail");
        drop(file);
        (original, fs::read(&last).expect("read damaged segment"))
    }

    /// Offset after the last record of the batches still intact in `damaged`: every batch
    /// that ended at or before the cut, and also the one the cut tore if what followed
    /// the cut happens to restore its bytes (a zero tail after a cut just before a trailing
    /// zero byte does).
    fn surviving(&self, original: &[u8], damaged: &[u8]) -> usize {
        let intact = |s: &&BatchSpan| {
            let range =
                usize::try_from(s.start).expect("pos")..usize::try_from(s.end).expect("pos");
            damaged.get(range.clone()) == original.get(range)
        };
        let whole: u64 = self.spans.iter().take_while(intact).map(|s| s.count).sum();
        let at_least: u64 = self
            .spans
            .iter()
            .filter(|s| s.end <= self.cut)
            .map(|s| s.count)
            .sum();
        assert!(whole >= at_least);
        usize::try_from(self.spans[0].base_offset + whole).expect("small")
    }

    fn run(&self) -> Result<()> {
        let (original, damaged) = self.prepare();
        let context = self.context();
        let survivors = self.surviving(&original, &damaged);
        let broker = Broker::open(self.work)?;
        assert_prefix(
            &read_partition(&broker, TOPIC, 0)?,
            &self.sent[..survivors],
            &context,
        );
        let desc = broker.describe_topic(TOPIC)?;
        assert_eq!(
            desc.partitions[0].high_watermark, survivors as u64,
            "{context}: high watermark"
        );

        let mut after = Sent::nth(1_000_000);
        after.offset = survivors as u64;
        let meta = broker.producer().send(TOPIC, after.record())?;
        assert_eq!(
            meta.offset, survivors as u64,
            "{context}: the next append's offset"
        );
        let mut want = self.sent[..survivors].to_vec();
        want.push(after);
        assert_prefix(&read_partition(&broker, TOPIC, 0)?, &want, &context);
        broker.close()?;

        if self.reopen_after {
            let broker = Broker::open(self.work)?;
            assert_prefix(
                &read_partition(&broker, TOPIC, 0)?,
                &want,
                &format!("{context}, clean reopen"),
            );
            let desc = broker.describe_topic(TOPIC)?;
            assert_eq!(desc.partitions[0].high_watermark, want.len() as u64);
            broker.close()?;
        }
        Ok(())
    }
}

#[test]
fn every_cut_of_the_last_segment_recovers_an_exact_prefix() -> Result<()> {
    let root = tempfile::tempdir().expect("temp dir");
    let pristine = root.path().join("pristine");
    let work = root.path().join("work");
    let sent = write_log(&pristine)?;
    let logs = segment_logs(&pristine, TOPIC, 0);
    assert!(
        logs.len() >= 3,
        "the log spans several segments, got {}",
        logs.len()
    );
    let last = logs.last().expect("a segment");
    let bytes = fs::read(last).expect("read last segment");
    let spans = batch_spans(&bytes);
    assert_eq!(
        spans.last().map_or(0, |s| s.end),
        bytes.len() as u64,
        "a cleanly closed segment is cut to its data"
    );
    assert!(spans.len() >= 4, "the last segment holds several batches");
    assert_eq!(
        spans.last().map(|s| s.base_offset + s.count),
        Some(sent.len() as u64),
        "the last segment ends the log"
    );
    assert!(
        spans.iter().rev().take(3).any(|s| s.count > 1),
        "multi-record batches are in the tail"
    );

    let len = spans.last().map_or(0, |s| s.end);
    let boundaries: Vec<u64> = spans.iter().map(|s| s.start).chain([len]).collect();
    let sampled: Vec<u64> = (0..len).step_by(67).collect();
    let from = |batches_from_end: usize| spans[spans.len() - batches_from_end].start..=len;
    let mut cases: Vec<(u64, Tail)> = Vec::new();
    for cut in boundaries.iter().chain(&sampled).copied().chain(from(3)) {
        cases.push((cut, Tail::Bare));
    }
    for cut in boundaries.iter().chain(&sampled).copied().chain(from(2)) {
        cases.push((cut, Tail::Zeroes));
    }
    for cut in boundaries.iter().chain(&sampled).copied().chain(from(1)) {
        cases.push((cut, Tail::Garbage));
    }
    for cut in boundaries.iter().chain(&sampled).copied() {
        cases.push((cut, Tail::StaleBatch));
    }
    cases.sort_unstable_by_key(|&(cut, tail)| (cut, tail as u8));
    cases.dedup();

    for (i, &(cut, tail)) in cases.iter().enumerate() {
        Case {
            pristine: &pristine,
            work: &work,
            sent: &sent,
            spans: &spans,
            cut,
            tail,
            reopen_after: boundaries.contains(&cut) || i % 17 == 0,
        }
        .run()?;
    }
    Ok(())
}
