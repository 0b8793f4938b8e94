//! strom next to the alternatives, on the same work in one process and one run: a framed
//! `write()` baseline, the `commitlog` crate, `SQLite` in WAL mode (`rusqlite`, bundled) and
//! `crossbeam-channel` for latency. Records carry 100-byte values. Last, strom against
//! itself: appends and reads of JSON weather readings uncompressed, with LZ4 and with Zstd.
//!
//! Each workload runs its systems in interleaved rounds (A, B, C, A, B, C, …) so that a
//! slow patch of the machine hurts every system alike; the table shows the median,
//! minimum and maximum over the rounds, and the ratio of strom's median to each one's.
//! Appends go to a fresh temporary directory per round; reads are of data written once
//! and hot in the page cache.
//!
//! Run: `cargo bench -p strom-bench`. With `--test` (`cargo bench -p strom-bench -- --test`,
//! criterion's flag for running each bench once) it does one round on a hundredth of the
//! work: a check that every system still runs, whose figures mean nothing.

#![expect(
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    reason = "rates and percentiles of counts and nanoseconds, far below 2^52"
)]

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use commitlog::message::{MessageBuf, MessageSet};
use commitlog::{CommitLog, LogOptions, ReadLimit};
use crossbeam_channel::TryRecvError;
use rusqlite::Connection;
use strom::{
    Broker, BrokerConfig, Compression, Consumer, ConsumerConfig, OffsetReset, Record,
    RecordMetadata, SyncPolicy, TopicConfig, TopicPartition,
};

#[path = "../../benches/weather/mod.rs"]
#[allow(
    dead_code,
    unused_imports,
    reason = "shared with the compression bench, whose table helper is not used here"
)]
mod weather;

mod v2_floor;

/// The rows of [`v2_floor`]: what the stored format alone costs.
const V2_APPEND_FLOOR: &str =
    "Kafka's v2 format alone: stamp, encode, CRC-32C, write() (64 KiB buffer)";
const V2_READ_FLOOR: &str = "Kafka's v2 format alone: decode in memory, no CRC, nothing handed out";

const DURABLE_FLOOR: &str = "16 records written in place, one fdatasync, 1 thread";

/// The rows of durable sends: blocking from threads, and async from tasks.
const DURABLE_THREADS_ROW: &str = "strom send (Always), 16 threads";
const DURABLE_TASKS_CURRENT: &str =
    "strom send_async (Always), 1,000 tasks, tokio current-thread runtime";
const DURABLE_TASKS_MULTI: &str =
    "strom send_async (Always), 1,000 tasks, tokio multi-thread runtime";

/// The latency rows of the blocking consumer that parks, and of `recv` under tokio.
const LATENCY_PARKS: &str = "strom send → waiting poll (default: parks after 50 µs)";
const LATENCY_ASYNC_PARKED: &str =
    "strom send → recv().await, tokio current-thread runtime, parked";
const LATENCY_ASYNC_BUSY: &str =
    "strom send → recv().await, tokio multi-thread runtime, workers busy";

/// Bytes of each record's value.
const VALUE: usize = 100;
/// Records per batch in the batch-append workload.
const BATCH: usize = 1000;
/// Threads sending to strom with `SyncPolicy::Always`.
const DURABLE_THREADS: usize = 16;
/// Tasks sending to strom with `send_async` under `SyncPolicy::Always`.
const DURABLE_TASKS: usize = 1_000;
/// Pause between latency samples, so each one finds the receiver waiting.
const LATENCY_GAP: Duration = Duration::from_micros(100);
/// The framed baseline's buffer: one `write()` each time it fills.
const FRAME_BUFFER: usize = 64 << 10;

/// How much work a run does.
#[derive(Debug)]
struct Scale {
    /// Rounds of each workload per system.
    rounds: usize,
    /// Records appended per round in batches (a multiple of `BATCH`).
    batch_records: usize,
    /// Records appended per round one per call (strom, commitlog).
    single_records: usize,
    /// Records appended per round one per statement by `SQLite` (much slower per record).
    sqlite_single_records: usize,
    /// How long each durable-append round runs.
    durable_for: Duration,
    /// Records read back per round (a multiple of `BATCH`).
    read_records: usize,
    /// Latency samples per round.
    latency_samples: usize,
}

/// The measured run.
const FULL: Scale = Scale {
    rounds: 5,
    batch_records: 300_000,
    single_records: 100_000,
    sqlite_single_records: 20_000,
    durable_for: Duration::from_secs(1),
    read_records: 500_000,
    latency_samples: 2_000,
};

/// `--test`: one round on a hundredth of the work.
const QUICK: Scale = Scale {
    rounds: 1,
    batch_records: 3_000,
    single_records: 1_000,
    sqlite_single_records: 200,
    durable_for: Duration::from_millis(10),
    read_records: 5_000,
    latency_samples: 20,
};

/// This run's scale, chosen in `main`.
static SCALE: OnceLock<&'static Scale> = OnceLock::new();

fn scale() -> &'static Scale {
    SCALE.get().expect("scale chosen in main")
}

/// What a row's figures are.
#[derive(Clone, Copy, PartialEq)]
enum Unit {
    /// Records per second: higher is better.
    Rate,
    /// Microseconds: lower is better.
    Micros,
}

/// One system on one workload: a figure per round.
struct Row {
    work: &'static str,
    system: &'static str,
    unit: Unit,
    rounds: Vec<f64>,
}

impl Row {
    /// The cells every table starts with: workload, system, median, min, max.
    fn cells(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {}",
            self.work,
            self.system,
            format_figure(self.unit, self.median()),
            format_figure(self.unit, self.min()),
            format_figure(self.unit, self.max()),
        )
    }

    fn median(&self) -> f64 {
        let mut v = self.rounds.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            f64::midpoint(v[n / 2 - 1], v[n / 2])
        }
    }

    fn min(&self) -> f64 {
        self.rounds.iter().copied().fold(f64::INFINITY, f64::min)
    }

    fn max(&self) -> f64 {
        self.rounds
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

fn rate(records: usize, elapsed: Duration) -> f64 {
    records as f64 / elapsed.as_secs_f64()
}

fn value() -> Vec<u8> {
    vec![b'x'; VALUE]
}

/// Runs `systems` in interleaved rounds and returns a row per system.
fn interleave(
    work: &'static str,
    unit: Unit,
    systems: &mut [(&'static str, &mut dyn FnMut() -> f64)],
) -> Vec<Row> {
    eprintln!("{work}...");
    let mut rows: Vec<Row> = systems
        .iter()
        .map(|(system, _)| Row {
            work,
            system,
            unit,
            rounds: Vec::with_capacity(scale().rounds),
        })
        .collect();
    for _ in 0..scale().rounds {
        for ((_, run), row) in systems.iter_mut().zip(&mut rows) {
            row.rounds.push(run());
        }
    }
    rows
}

// ---------------------------------------------------------------------------------------
// Opening each system in a directory.

fn strom_open(dir: &Path, sync: SyncPolicy) -> Broker {
    let broker = Broker::open_with(dir, BrokerConfig::default().sync(sync)).expect("open strom");
    broker
        .create_topic("bench", TopicConfig::default().segment_bytes(256 << 20))
        .expect("topic");
    broker
}

fn commitlog_open(dir: &Path) -> CommitLog {
    let mut options = LogOptions::new(dir.join("commitlog"));
    options.index_max_items(1_000_000);
    CommitLog::new(options).expect("open commitlog")
}

/// A WAL-mode database with one table, `log(id INTEGER PRIMARY KEY, v BLOB)`.
fn sqlite_open(dir: &Path, synchronous: &str) -> Connection {
    let conn = Connection::open(dir.join("log.db")).expect("open sqlite");
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal");
    conn.execute_batch(&format!(
        "PRAGMA synchronous={synchronous};
         CREATE TABLE log (id INTEGER PRIMARY KEY, v BLOB NOT NULL);"
    ))
    .expect("schema");
    conn
}

// ---------------------------------------------------------------------------------------
// Append in batches of 1000, no fsync.

fn batch_strom() -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = strom_open(dir.path(), SyncPolicy::Never);
    let producer = broker.producer();
    let value = value();
    let start = Instant::now();
    for _ in 0..scale().batch_records / BATCH {
        let meta = producer
            .send_batch("bench", (0..BATCH).map(|_| Record::new(value.as_slice())))
            .expect("send_batch");
        black_box(meta);
    }
    let r = rate(scale().batch_records, start.elapsed());
    broker.close().expect("close");
    r
}

/// The same records pushed as borrowed bytes into one reused `BatchBuilder`: no `Record`
/// and no `RecordMetadata` per record.
fn batch_builder_strom() -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = strom_open(dir.path(), SyncPolicy::Never);
    let mut batch = broker.producer().batch("bench").expect("builder");
    let value = value();
    let start = Instant::now();
    for _ in 0..scale().batch_records / BATCH {
        for _ in 0..BATCH {
            batch.push(None, &value).expect("push");
        }
        black_box(batch.send().expect("send"));
    }
    let r = rate(scale().batch_records, start.elapsed());
    broker.close().expect("close");
    r
}

/// What the API asks for every record before any storage work: the caller builds a
/// `Record` (a copy of the value), strom drops it and returns a `RecordMetadata`, whose
/// `topic` is a `String`. No system above can beat this through strom's API.
fn api_floor(batch: usize, records: usize) -> f64 {
    let value = value();
    let metadata = |offset: usize| RecordMetadata {
        topic: "bench".to_string(),
        partition: 0,
        offset: offset as u64,
        timestamp: 0,
    };
    let start = Instant::now();
    if batch == 1 {
        for i in 0..records {
            drop(black_box(Record::new(value.as_slice())));
            black_box(metadata(i));
        }
        return rate(records, start.elapsed());
    }
    for _ in 0..records / batch {
        let sent: Vec<Record> = (0..batch).map(|_| Record::new(value.as_slice())).collect();
        let meta: Vec<RecordMetadata> = sent
            .into_iter()
            .enumerate()
            .map(|(i, record)| {
                drop(black_box(record));
                metadata(i)
            })
            .collect();
        black_box(meta);
    }
    rate(records, start.elapsed())
}

/// `[u32 len][u32 crc32][payload]` frames into a 64 KiB buffer, one `write()` per full
/// buffer: the least a durable log has to do per record.
fn batch_framed() -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut file = File::create(dir.path().join("framed.log")).expect("create");
    let value = value();
    let mut buf = Vec::with_capacity(FRAME_BUFFER);
    let start = Instant::now();
    for _ in 0..scale().batch_records / BATCH {
        for _ in 0..BATCH {
            if buf.len() + 8 + value.len() > FRAME_BUFFER {
                file.write_all(&buf).expect("write");
                buf.clear();
            }
            buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(&value).to_le_bytes());
            buf.extend_from_slice(&value);
        }
    }
    if !buf.is_empty() {
        file.write_all(&buf).expect("write");
    }
    rate(scale().batch_records, start.elapsed())
}

fn batch_commitlog() -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = commitlog_open(dir.path());
    let value = value();
    let start = Instant::now();
    for _ in 0..scale().batch_records / BATCH {
        let mut buf: MessageBuf = (0..BATCH).map(|_| value.as_slice()).collect();
        black_box(log.append(&mut buf).expect("append"));
    }
    rate(scale().batch_records, start.elapsed())
}

/// Kafka's v2 format alone, `records` in batches of `batch` (see [`v2_floor`]).
fn v2_append_floor(records: usize, batch: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let value = value();
    let start = Instant::now();
    v2_floor::append(&dir.path().join("v2.log"), &value, records, batch);
    rate(records, start.elapsed())
}

// ---------------------------------------------------------------------------------------
// Append one record per call.

fn single_strom() -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = strom_open(dir.path(), SyncPolicy::Never);
    let producer = broker.producer();
    let value = value();
    let start = Instant::now();
    for _ in 0..scale().single_records {
        black_box(
            producer
                .send("bench", Record::new(value.as_slice()))
                .expect("send"),
        );
    }
    let r = rate(scale().single_records, start.elapsed());
    broker.close().expect("close");
    r
}

fn single_commitlog() -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = commitlog_open(dir.path());
    let value = value();
    let start = Instant::now();
    for _ in 0..scale().single_records {
        black_box(log.append_msg(&value).expect("append"));
    }
    rate(scale().single_records, start.elapsed())
}

/// One autocommitted INSERT per record.
fn single_sqlite() -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let conn = sqlite_open(dir.path(), "NORMAL");
    let value = value();
    let mut insert = conn
        .prepare("INSERT INTO log (v) VALUES (?1)")
        .expect("prepare");
    let start = Instant::now();
    for _ in 0..scale().sqlite_single_records {
        insert.execute([value.as_slice()]).expect("insert");
    }
    rate(scale().sqlite_single_records, start.elapsed())
}

// ---------------------------------------------------------------------------------------
// Durable append: every acknowledged record fsynced.

/// `DURABLE_THREADS` threads each `send` one record at a time for `Scale::durable_for`; an fsync
/// is shared by the senders waiting on it (group commit).
fn durable_strom() -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = strom_open(dir.path(), SyncPolicy::Always);
    let sent = AtomicU64::new(0);
    let durable_for = scale().durable_for;
    let start = Instant::now();
    thread::scope(|s| {
        for _ in 0..DURABLE_THREADS {
            let producer = broker.producer();
            let sent = &sent;
            s.spawn(move || {
                let value = value();
                let mut n = 0;
                while start.elapsed() < durable_for {
                    producer
                        .send("bench", Record::new(value.as_slice()))
                        .expect("send");
                    n += 1;
                }
                sent.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    let r = rate(sent.load(Ordering::Relaxed) as usize, start.elapsed());
    broker.close().expect("close");
    r
}

/// Which tokio runtime the async rows run on.
#[derive(Clone, Copy)]
enum Flavor {
    /// One thread that runs every task and parks when none is ready.
    CurrentThread,
    /// A worker per core.
    MultiThread,
}

/// A runtime of `flavor` with its I/O and timer drivers on, as a service's `#[tokio::main]`
/// would build it: a parked runtime waits in the I/O driver, and a wake-up goes through it.
fn tokio_runtime(flavor: Flavor) -> tokio::runtime::Runtime {
    let mut builder = match flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build().expect("tokio runtime")
}

/// `DURABLE_TASKS` tasks on a runtime of `flavor` each `send_async` one record at a time for
/// `Scale::durable_for`; they share fsyncs (with each other, and with blocking senders were
/// there any), which a background thread makes.
fn durable_strom_async(flavor: Flavor) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = strom_open(dir.path(), SyncPolicy::Always);
    let runtime = tokio_runtime(flavor);
    let durable_for = scale().durable_for;
    let start = Instant::now();
    let sent: u64 = runtime.block_on(async {
        let tasks: Vec<_> = (0..DURABLE_TASKS)
            .map(|_| {
                let producer = broker.producer();
                tokio::spawn(async move {
                    let value = value();
                    let mut n = 0;
                    while start.elapsed() < durable_for {
                        producer
                            .send_async("bench", Record::new(value.as_slice()))
                            .await
                            .expect("send_async");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut sent = 0;
        for task in tasks {
            sent += task.await.expect("sending task");
        }
        sent
    });
    let r = rate(sent as usize, start.elapsed());
    drop(runtime);
    broker.close().expect("close");
    r
}

/// The least a durable append by `DURABLE_THREADS` senders, each waiting for its record,
/// can cost: one thread writes that many 100-byte records in place into a file already
/// allocated and synced, then one `fdatasync` — no waking of senders, no file growth.
fn durable_floor() -> f64 {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = File::create(dir.path().join("floor.log")).expect("create");
    let group = vec![b'x'; DURABLE_THREADS * VALUE];
    let size = 1 << 20;
    file.write_all_at(&vec![0; size], 0).expect("allocate");
    file.sync_all().expect("sync");
    let (mut n, mut at) = (0, 0);
    let durable_for = scale().durable_for;
    let start = Instant::now();
    while start.elapsed() < durable_for {
        file.write_all_at(&group, at as u64).expect("write");
        file.sync_data().expect("fdatasync");
        at = (at + group.len()) % (size - group.len());
        n += DURABLE_THREADS;
    }
    rate(n, start.elapsed())
}

/// One thread, one row per (autocommitted) transaction, `synchronous=FULL`.
fn durable_sqlite() -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let conn = sqlite_open(dir.path(), "FULL");
    let value = value();
    let mut insert = conn
        .prepare("INSERT INTO log (v) VALUES (?1)")
        .expect("prepare");
    let mut n = 0;
    let durable_for = scale().durable_for;
    let start = Instant::now();
    while start.elapsed() < durable_for {
        insert.execute([value.as_slice()]).expect("insert");
        n += 1;
    }
    rate(n, start.elapsed())
}

// ---------------------------------------------------------------------------------------
// Read everything back in order.

/// How the records read back were appended.
#[derive(Clone, Copy, PartialEq)]
enum Fill {
    /// In batches of `BATCH`.
    Batches,
    /// One per call: a batch each in strom, a message set each in `commitlog`.
    Single,
}

/// A strom consumer reading partition 0 of "bench" from its start.
fn strom_reader(broker: &Broker) -> (Consumer, TopicPartition) {
    let tp = TopicPartition::new("bench", 0);
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .max_poll_records(10_000),
    );
    consumer.assign(std::slice::from_ref(&tp)).expect("assign");
    (consumer, tp)
}

/// Reads all `records` back from `tp`'s start, touching every value: the rate, and the
/// bytes of the values read.
fn strom_read_bytes(consumer: &mut Consumer, tp: &TopicPartition, records: usize) -> (f64, usize) {
    consumer.seek(tp, 0).expect("seek");
    let start = Instant::now();
    let (mut n, mut bytes) = (0, 0);
    while n < records {
        let polled = consumer.poll(Duration::ZERO).expect("poll");
        for r in &polled {
            bytes += r.value().len();
        }
        n += polled.len();
    }
    (rate(n, start.elapsed()), black_box(bytes))
}

/// [`strom_read_bytes`] of records with `VALUE`-byte values.
fn strom_read(consumer: &mut Consumer, tp: &TopicPartition, records: usize) -> f64 {
    let (r, bytes) = strom_read_bytes(consumer, tp, records);
    assert_eq!(bytes, records * VALUE);
    r
}

/// Reads all `records` back from the start of `log`, touching every payload.
fn commitlog_read(log: &CommitLog, records: usize) -> f64 {
    let start = Instant::now();
    let (mut n, mut bytes, mut next) = (0, 0, 0);
    while n < records {
        let buf = log.read(next, ReadLimit::max_bytes(1 << 20)).expect("read");
        for m in buf.iter() {
            bytes += m.payload().len();
            next = m.offset() + 1;
            n += 1;
        }
    }
    let r = rate(n, start.elapsed());
    assert_eq!(black_box(bytes), records * VALUE);
    r
}

fn read_all(fill: Fill) -> Vec<Row> {
    let read_records = scale().read_records;
    eprintln!("filling {read_records} records into each system to read back...");
    let dir = tempfile::tempdir().expect("temp dir");
    let value = value();

    let broker = strom_open(&dir.path().join("strom"), SyncPolicy::Never);
    let mut log = commitlog_open(dir.path());
    match fill {
        Fill::Batches => {
            let producer = broker.producer();
            for _ in 0..read_records / BATCH {
                producer
                    .send_batch("bench", (0..BATCH).map(|_| Record::new(value.as_slice())))
                    .expect("fill strom");
                let mut buf: MessageBuf = (0..BATCH).map(|_| value.as_slice()).collect();
                log.append(&mut buf).expect("fill commitlog");
            }
        }
        Fill::Single => {
            let producer = broker.producer().topic("bench").expect("topic");
            for _ in 0..read_records {
                producer
                    .send(Record::new(value.as_slice()))
                    .expect("fill strom");
                log.append_msg(&value).expect("fill commitlog");
            }
        }
    }
    let v2_log = dir.path().join("v2.log");
    let per_batch = if fill == Fill::Batches { BATCH } else { 1 };
    v2_floor::append(&v2_log, &value, read_records, per_batch);
    let v2_log = std::fs::read(&v2_log).expect("read the v2 log");
    let (mut consumer, tp) = strom_reader(&broker);
    // SQLite stores rows the same however they were inserted: it is read once, beside the
    // batched fill.
    let mut conn = (fill == Fill::Batches).then(|| {
        let mut conn = sqlite_open(dir.path(), "NORMAL");
        let tx = conn.transaction().expect("begin");
        {
            let mut insert = tx
                .prepare("INSERT INTO log (v) VALUES (?1)")
                .expect("prepare");
            for _ in 0..read_records {
                insert.execute([value.as_slice()]).expect("fill sqlite");
            }
        }
        tx.commit().expect("commit");
        conn
    });
    let mut strom = || strom_read(&mut consumer, &tp, read_records);
    let mut commitlog = || commitlog_read(&log, read_records);
    let mut v2 = || {
        let start = Instant::now();
        let read = v2_floor::read(&v2_log);
        let r = rate(read_records, start.elapsed());
        assert_eq!(read, Some((read_records, read_records * VALUE)));
        r
    };
    let mut sqlite = || {
        let conn = conn.as_mut().expect("filled");
        let mut select = conn
            .prepare_cached("SELECT v FROM log ORDER BY id")
            .expect("prepare");
        let start = Instant::now();
        let (mut n, mut bytes) = (0, 0);
        let mut rows = select.query([]).expect("query");
        while let Some(row) = rows.next().expect("row") {
            bytes += row.get_ref(0).expect("v").as_blob().expect("blob").len();
            n += 1;
        }
        let r = rate(n, start.elapsed());
        assert_eq!(black_box(bytes), read_records * VALUE);
        r
    };
    let mut systems: Vec<(&'static str, &mut dyn FnMut() -> f64)> = vec![
        ("strom poll (max_poll_records 10 000)", &mut strom),
        ("commitlog read (1 MiB limit)", &mut commitlog),
        (V2_READ_FLOOR, &mut v2),
    ];
    let work = match fill {
        Fill::Batches => {
            systems.push(("SQLite SELECT … ORDER BY id", &mut sqlite));
            "read all back in order"
        }
        Fill::Single => "read all back, appended one per call",
    };
    let rows = interleave(work, Unit::Rate, &mut systems);
    drop(systems);
    drop(consumer);
    broker.close().expect("close");
    rows
}

// ---------------------------------------------------------------------------------------
// Two cores: producers on their own partitions, and sharing one.

/// Topic "bench" with `partitions`, and `threads` producers each sending
/// `Scale::single_records` records one per call, producer `i` to partition `i % partitions`.
fn producers_strom(threads: usize, partitions: u32) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open_with(dir.path(), BrokerConfig::default().sync(SyncPolicy::Never))
        .expect("open strom");
    broker
        .create_topic(
            "bench",
            TopicConfig::default()
                .partitions(partitions)
                .segment_bytes(256 << 20),
        )
        .expect("topic");
    let records = scale().single_records;
    let ready = Barrier::new(threads + 1);
    let start = thread::scope(|s| {
        for i in 0..threads {
            let producer = broker.producer().topic("bench").expect("topic");
            let partition = i as u32 % partitions;
            let ready = &ready;
            s.spawn(move || {
                let value = value();
                ready.wait();
                for _ in 0..records {
                    black_box(
                        producer
                            .send(Record::new(value.as_slice()).partition(partition))
                            .expect("send"),
                    );
                }
            });
        }
        ready.wait();
        Instant::now()
    });
    let r = rate(records * threads, start.elapsed());
    broker.close().expect("close");
    r
}

fn two_cores() -> Vec<Row> {
    interleave(
        "single sends from several threads",
        Unit::Rate,
        &mut [
            ("strom 1 producer, 1 partition", &mut || {
                producers_strom(1, 1)
            }),
            ("strom 2 producers, 2 partitions", &mut || {
                producers_strom(2, 2)
            }),
            ("strom 4 producers, 1 partition", &mut || {
                producers_strom(4, 1)
            }),
        ],
    )
}

// ---------------------------------------------------------------------------------------
// One-way latency: a timestamp in the value, sent on one thread, received on another.

/// A 100-byte value whose first 8 bytes are nanoseconds since `base`.
fn stamped(base: Instant) -> Vec<u8> {
    let mut v = vec![0u8; VALUE];
    v[..8].copy_from_slice(&(base.elapsed().as_nanos() as u64).to_le_bytes());
    v
}

/// Nanoseconds from the stamp in `value` until now.
fn since_stamp(base: Instant, value: &[u8]) -> u64 {
    let sent = u64::from_le_bytes(value[..8].try_into().expect("8 bytes"));
    base.elapsed().as_nanos() as u64 - sent
}

/// p50 and p99 of latencies in ns, in µs.
fn percentiles(mut ns: Vec<u64>) -> (f64, f64) {
    ns.sort_unstable();
    let at = |p: f64| {
        let i = ((ns.len() as f64 - 1.0) * p).round() as usize;
        ns[i] as f64 / 1000.0
    };
    (at(0.5), at(0.99))
}

/// Sends `Scale::latency_samples` stamped values through `send`, pausing between them, once the
/// receiver has passed `ready`.
fn paced_sends(base: Instant, ready: &Barrier, mut send: impl FnMut(Vec<u8>)) {
    ready.wait();
    thread::sleep(Duration::from_millis(5));
    for _ in 0..scale().latency_samples {
        send(stamped(base));
        thread::sleep(LATENCY_GAP);
    }
}

/// A spin long enough to cover the gap between records: the consumer never parks.
const SPIN_THROUGH: Duration = Duration::from_millis(5);

fn latency_strom(spin_wait: Duration) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = strom_open(dir.path(), SyncPolicy::Never);
    let base = Instant::now();
    let ready = Arc::new(Barrier::new(2));
    let receiver = {
        let broker = broker.clone();
        let ready = Arc::clone(&ready);
        thread::spawn(move || {
            let mut consumer = broker.consumer(
                ConsumerConfig::default()
                    .auto_offset_reset(OffsetReset::Earliest)
                    .spin_wait(spin_wait),
            );
            consumer
                .assign(&[TopicPartition::new("bench", 0)])
                .expect("assign");
            ready.wait();
            let samples = scale().latency_samples;
            let mut out = Vec::with_capacity(samples);
            while out.len() < samples {
                for record in &consumer.poll(Duration::from_secs(5)).expect("poll") {
                    out.push(since_stamp(base, record.value()));
                }
            }
            out
        })
    };
    let producer = broker.producer();
    paced_sends(base, &ready, |v| {
        producer.send("bench", Record::new(v)).expect("send");
    });
    let out = receiver.join().expect("receiver");
    broker.close().expect("close");
    percentiles(out)
}

fn latency_crossbeam(busy: bool) -> (f64, f64) {
    let (tx, rx) = crossbeam_channel::unbounded::<Vec<u8>>();
    let base = Instant::now();
    let ready = Arc::new(Barrier::new(2));
    let receiver = {
        let ready = Arc::clone(&ready);
        thread::spawn(move || {
            ready.wait();
            let samples = scale().latency_samples;
            let mut out = Vec::with_capacity(samples);
            while out.len() < samples {
                let v = if busy {
                    match rx.try_recv() {
                        Ok(v) => v,
                        Err(TryRecvError::Empty) => {
                            std::hint::spin_loop();
                            continue;
                        }
                        Err(TryRecvError::Disconnected) => panic!("sender gone"),
                    }
                } else {
                    rx.recv().expect("recv")
                };
                out.push(since_stamp(base, &v));
            }
            out
        })
    };
    paced_sends(base, &ready, |v| tx.send(v).expect("send"));
    percentiles(receiver.join().expect("receiver"))
}

/// The records of `Scale::latency_samples` sends, through `recv`: each one's latency in ns.
async fn recv_stamps(mut consumer: Consumer, base: Instant) -> Vec<u64> {
    let samples = scale().latency_samples;
    let mut out = Vec::with_capacity(samples);
    while out.len() < samples {
        for record in &consumer.recv().await.expect("recv") {
            out.push(since_stamp(base, record.value()));
        }
    }
    out
}

/// Work that keeps a worker busy: about a microsecond of arithmetic between yields, so that
/// the runtime's workers never park but a woken task is still run soon.
async fn keep_busy(stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let mut x = 0u64;
        for i in 0..1_000 {
            x = black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        black_box(x);
        tokio::task::yield_now().await;
    }
}

/// Like [`latency_strom`], but the consumer is a task awaiting `recv` on a runtime of
/// `flavor`: with nothing else to run (the runtime parks between records), or (`busy`)
/// beside two tasks per worker that keep every worker busy.
fn latency_strom_async(flavor: Flavor, busy: bool) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = strom_open(dir.path(), SyncPolicy::Never);
    let base = Instant::now();
    let ready = Arc::new(Barrier::new(2));
    let receiver = {
        let broker = broker.clone();
        let ready = Arc::clone(&ready);
        thread::spawn(move || {
            let runtime = tokio_runtime(flavor);
            let stop = Arc::new(AtomicBool::new(false));
            if busy {
                let workers = runtime.metrics().num_workers();
                for _ in 0..2 * workers {
                    runtime.spawn(keep_busy(Arc::clone(&stop)));
                }
            }
            let mut consumer =
                broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
            consumer
                .assign(&[TopicPartition::new("bench", 0)])
                .expect("assign");
            ready.wait();
            // Spawned, so that on the multi-thread runtime it runs on the (busy) workers.
            let out = runtime
                .block_on(runtime.spawn(recv_stamps(consumer, base)))
                .expect("receiving task");
            stop.store(true, Ordering::Relaxed);
            out
        })
    };
    let producer = broker.producer();
    paced_sends(base, &ready, |v| {
        producer.send("bench", Record::new(v)).expect("send");
    });
    let out = receiver.join().expect("receiver");
    broker.close().expect("close");
    percentiles(out)
}

/// One latency round of one system: (p50, p99) in µs.
type LatencyRun = fn() -> (f64, f64);

/// Latency rows: p50 and p99 per system, from the same rounds.
fn latency() -> Vec<Row> {
    let systems: [(&'static str, LatencyRun); 6] = [
        (LATENCY_PARKS, || {
            latency_strom(ConsumerConfig::default().spin_wait)
        }),
        ("strom send → waiting poll (spin_wait 5 ms)", || {
            latency_strom(SPIN_THROUGH)
        }),
        ("crossbeam recv (parked)", || latency_crossbeam(false)),
        ("crossbeam try_recv (busy-poll)", || latency_crossbeam(true)),
        (LATENCY_ASYNC_PARKED, || {
            latency_strom_async(Flavor::CurrentThread, false)
        }),
        (LATENCY_ASYNC_BUSY, || {
            latency_strom_async(Flavor::MultiThread, true)
        }),
    ];
    eprintln!("one-way latency...");
    let mut p50 = vec![Vec::new(); systems.len()];
    let mut p99 = vec![Vec::new(); systems.len()];
    for _ in 0..scale().rounds {
        for (i, (_, run)) in systems.iter().enumerate() {
            let (a, b) = run();
            p50[i].push(a);
            p99[i].push(b);
        }
    }
    let mut rows = Vec::new();
    for (work, figures) in [("latency p50", p50), ("latency p99", p99)] {
        for ((system, _), rounds) in systems.iter().zip(figures) {
            rows.push(Row {
                work,
                system,
                unit: Unit::Micros,
                rounds,
            });
        }
    }
    rows
}

// ---------------------------------------------------------------------------------------
// Compression: strom against itself, uncompressed and with LZ4 and Zstd, on the JSON
// weather readings of `cargo bench --bench compression` (`benches/weather`). The 100-byte
// values above are one byte repeated, which any codec squeezes to almost nothing.

/// Records per batch in the compression workloads, as in `cargo bench --bench compression`.
const JSON_BATCH: usize = 100;
/// Distinct readings the appends cycle through.
const JSON_POOL: usize = 10_000;
/// The codecs compared, uncompressed first, with the name of each one's row.
const CODECS: [(Compression, &str); 3] = [
    (Compression::None, "strom uncompressed"),
    (Compression::Lz4, "strom LZ4"),
    (Compression::Zstd, "strom Zstd"),
];

/// The compression workloads' rows, and the bytes on disk of the readings read back.
struct Compressed {
    rows: Vec<Row>,
    /// Per codec of `CODECS`.
    bytes: Vec<u64>,
}

/// A `SyncPolicy::Never` broker with a topic per codec of `CODECS`, named after it.
fn strom_open_codecs(dir: &Path) -> Broker {
    let broker = Broker::open(dir).expect("open strom");
    for (codec, _) in CODECS {
        let config = TopicConfig::default()
            .segment_bytes(256 << 20)
            .compression(codec);
        broker.create_topic(codec.name(), config).expect("topic");
    }
    broker
}

fn reading_record(reading: &weather::Reading) -> Record {
    Record::new(reading.json.as_slice()).key(reading.city.as_str())
}

fn json_append_strom(codec: Compression, pool: &[weather::Reading]) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = strom_open_codecs(dir.path());
    let producer = broker.producer();
    let mut readings = pool.iter().cycle();
    let start = Instant::now();
    for _ in 0..scale().batch_records / JSON_BATCH {
        let records = readings.by_ref().take(JSON_BATCH).map(reading_record);
        black_box(
            producer
                .send_batch(codec.name(), records)
                .expect("send_batch"),
        );
    }
    let r = rate(scale().batch_records, start.elapsed());
    broker.close().expect("close");
    r
}

/// Reads the topic of `tp` from offset 0 to `records`; returns the rate.
fn json_read_strom(consumer: &mut Consumer, tp: &TopicPartition, records: usize) -> f64 {
    strom_read_bytes(consumer, tp, records).0
}

fn compression() -> Compressed {
    let pool: Vec<weather::Reading> = weather::readings().take(JSON_POOL).collect();
    let [none, lz4, zstd] = CODECS;
    let mut rows = interleave(
        "append weather JSON, batches of 100, no fsync",
        Unit::Rate,
        &mut [
            (none.1, &mut || json_append_strom(none.0, &pool)),
            (lz4.1, &mut || json_append_strom(lz4.0, &pool)),
            (zstd.1, &mut || json_append_strom(zstd.0, &pool)),
        ],
    );

    let read_records = scale().read_records;
    eprintln!("filling {read_records} weather readings into a topic per codec...");
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = strom_open_codecs(dir.path());
    let producer = broker.producer();
    let mut topics = CODECS.map(|(codec, _)| {
        let mut readings = weather::readings();
        for _ in 0..read_records / JSON_BATCH {
            let records = readings.by_ref().take(JSON_BATCH);
            let records = records.map(|reading| reading_record(&reading));
            producer.send_batch(codec.name(), records).expect("fill");
        }
        let topic = broker.describe_topic(codec.name()).expect("describe");
        let bytes: u64 = topic.partitions.iter().map(|p| p.size_bytes).sum();
        let tp = TopicPartition::new(codec.name(), 0);
        let mut consumer = broker.consumer(
            ConsumerConfig::default()
                .auto_offset_reset(OffsetReset::Earliest)
                .max_poll_records(10_000),
        );
        consumer.assign(std::slice::from_ref(&tp)).expect("assign");
        (bytes, tp, consumer)
    });
    let bytes = topics.iter().map(|(bytes, _, _)| *bytes).collect();
    let [(_, tp0, c0), (_, tp1, c1), (_, tp2, c2)] = &mut topics;
    rows.extend(interleave(
        "read weather JSON back in order",
        Unit::Rate,
        &mut [
            (none.1, &mut || json_read_strom(c0, tp0, read_records)),
            (lz4.1, &mut || json_read_strom(c1, tp1, read_records)),
            (zstd.1, &mut || json_read_strom(c2, tp2, read_records)),
        ],
    ));
    drop(topics);
    broker.close().expect("close");
    Compressed { rows, bytes }
}

/// The compression rows as a markdown table, each codec's median against uncompressed.
fn print_compression(compressed: &Compressed) {
    println!();
    println!("| workload | system | median | min | max | ÷ uncompressed (median) |");
    println!("|---|---|---|---|---|---|");
    for row in &compressed.rows {
        let none = find(&compressed.rows, row.work, CODECS[0].1);
        let ratio = if row.system == CODECS[0].1 {
            "—".to_string()
        } else {
            format!("{:.2}×", row.median() / none.median())
        };
        println!("{} | {ratio} |", row.cells());
    }
    let none = compressed.bytes[0] as f64;
    let sizes: Vec<String> = CODECS
        .iter()
        .zip(&compressed.bytes)
        .map(|((codec, _), &b)| format!("{codec} {b} ({:.2}×)", b as f64 / none))
        .collect();
    println!(
        "
bytes on disk of the {} readings read back: {}",
        scale().read_records,
        sizes.join(", ")
    );
}

// ---------------------------------------------------------------------------------------

fn format_figure(unit: Unit, x: f64) -> String {
    match unit {
        Unit::Rate if x >= 1e6 => format!("{:.2} M/s", x / 1e6),
        Unit::Rate if x >= 1e3 => format!("{:.1} k/s", x / 1e3),
        Unit::Rate => format!("{x:.0} /s"),
        Unit::Micros => format!("{x:.1} µs"),
    }
}

/// The first row of `work` whose system starts with `prefix`.
fn find<'a>(rows: &'a [Row], work: &str, prefix: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.work == work && r.system.starts_with(prefix))
        .expect("row")
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--test");
    SCALE
        .set(if quick { &QUICK } else { &FULL })
        .expect("scale chosen once");
    let started = Instant::now();
    let mut rows = Vec::new();
    rows.extend(interleave(
        "append, batches of 1000, no fsync",
        Unit::Rate,
        &mut [
            (
                "strom BatchBuilder push + send (Never)",
                &mut batch_builder_strom,
            ),
            (
                "strom send_batch of owned Records (Never)",
                &mut batch_strom,
            ),
            ("framed write() (64 KiB buffer)", &mut batch_framed),
            (
                "commitlog append (MessageBuf of 1000)",
                &mut batch_commitlog,
            ),
            (
                "API work alone: Records in, RecordMetadata out, no storage",
                &mut || api_floor(BATCH, scale().batch_records),
            ),
            (V2_APPEND_FLOOR, &mut || {
                v2_append_floor(scale().batch_records, BATCH)
            }),
        ],
    ));
    rows.extend(interleave(
        "append, one record per call",
        Unit::Rate,
        &mut [
            ("strom send (Never)", &mut single_strom),
            ("commitlog append_msg", &mut single_commitlog),
            ("SQLite WAL NORMAL, INSERT autocommit", &mut single_sqlite),
            (
                "API work alone: a Record in, a RecordMetadata out, no storage",
                &mut || api_floor(1, scale().single_records),
            ),
            (V2_APPEND_FLOOR, &mut || {
                v2_append_floor(scale().single_records, 1)
            }),
        ],
    ));
    rows.extend(interleave(
        "durable append",
        Unit::Rate,
        &mut [
            (DURABLE_THREADS_ROW, &mut durable_strom),
            ("SQLite WAL FULL, 1 row/txn, 1 thread", &mut durable_sqlite),
            (DURABLE_FLOOR, &mut durable_floor),
            (DURABLE_TASKS_CURRENT, &mut || {
                durable_strom_async(Flavor::CurrentThread)
            }),
            (DURABLE_TASKS_MULTI, &mut || {
                durable_strom_async(Flavor::MultiThread)
            }),
        ],
    ));
    rows.extend(read_all(Fill::Batches));
    rows.extend(read_all(Fill::Single));
    rows.extend(two_cores());
    rows.extend(latency());
    let compressed = compression();
    print_table(&rows);
    print_compression(&compressed);
    if quick {
        // Computed, not printed: a row a goal names that is missing fails here, not at the
        // end of the long run.
        black_box(goals(&rows).len() + more_goals(&rows, &compressed).len());
        println!("\n--test: one short round, to show that every system runs; not a measurement.");
    } else {
        print_goals(&rows, &compressed);
    }
    println!("\ntotal run time {:.0} s", started.elapsed().as_secs_f64());
}

/// The figures as a markdown table.
fn print_table(rows: &[Row]) {
    println!();
    println!("| workload | system | median | min | max | MB/s (median) | strom ÷ this (median) |");
    println!("|---|---|---|---|---|---|---|");
    for row in rows {
        let strom = find(rows, row.work, "strom");
        let mb = match row.unit {
            Unit::Rate => format!("{:.1}", row.median() * VALUE as f64 / 1e6),
            Unit::Micros => "—".to_string(),
        };
        let ratio = if row.system.starts_with("strom") {
            "—".to_string()
        } else {
            format!("{:.2}×", strom.median() / row.median())
        };
        println!("{} | {mb} | {ratio} |", row.cells());
    }
    let rounds = match scale().rounds {
        1 => "1 round".to_string(),
        n => format!("{n} rounds, interleaved"),
    };
    println!(
        "\n{rounds}; MB/s counts 100-byte values only; the ratio is the workload's first strom \
         row's median over this one's; for latency, a ratio below 1 means strom is faster."
    );
}

/// The median of `work`'s row whose system starts with `this` over that of `other`'s.
fn of(rows: &[Row], work: &str, this: &str, other: &str) -> f64 {
    find(rows, work, this).median() / find(rows, work, other).median()
}

/// Which side of a goal's ratio a result must be on.
#[derive(Clone, Copy)]
enum Bound {
    AtLeast(f64),
    AtMost(f64),
}

/// A goal set for strom, the ratio of medians it is judged by, and where one was measured
/// the same ratio for the least work strom cannot avoid (the stored format alone, or the
/// API's own work): the most strom could reach.
struct Goal {
    name: &'static str,
    measured: f64,
    bound: Bound,
    ceiling: Option<f64>,
}

impl Goal {
    fn new(name: &'static str, measured: f64, bound: Bound) -> Self {
        Goal {
            name,
            measured,
            bound,
            ceiling: None,
        }
    }

    fn ceiling(self, ceiling: f64) -> Self {
        Goal {
            ceiling: Some(ceiling),
            ..self
        }
    }
}

/// Each goal set for strom's appends, reads and scaling.
fn goals(rows: &[Row]) -> Vec<Goal> {
    let of = |work: &str, this: &str, other: &str| of(rows, work, this, other);
    let ratio = |work: &str, other: &str| of(work, "strom", other);
    let batch = "append, batches of 1000, no fsync";
    let single = "append, one record per call";
    let read = "read all back in order";
    let read_single = "read all back, appended one per call";
    vec![
        Goal::new(
            "BatchBuilder append ≥ 1.5× framed write()",
            ratio(batch, "framed"),
            Bound::AtLeast(1.5),
        )
        .ceiling(of(batch, V2_APPEND_FLOOR, "framed")),
        Goal::new(
            "BatchBuilder append ≥ 2× commitlog",
            ratio(batch, "commitlog"),
            Bound::AtLeast(2.0),
        )
        .ceiling(of(batch, V2_APPEND_FLOOR, "commitlog")),
        Goal::new(
            "send_batch ≥ 1× commitlog",
            of(batch, "strom send_batch", "commitlog"),
            Bound::AtLeast(1.0),
        )
        .ceiling(of(batch, "API work alone", "commitlog")),
        Goal::new(
            "single append ≥ 5× commitlog",
            ratio(single, "commitlog"),
            Bound::AtLeast(5.0),
        )
        .ceiling(of(single, V2_APPEND_FLOOR, "commitlog")),
        Goal::new(
            "single append ≥ 50× SQLite NORMAL",
            ratio(single, "SQLite"),
            Bound::AtLeast(50.0),
        )
        .ceiling(of(single, V2_APPEND_FLOOR, "SQLite")),
        Goal::new(
            "read ≥ 1.5× commitlog",
            ratio(read, "commitlog"),
            Bound::AtLeast(1.5),
        )
        .ceiling(of(read, V2_READ_FLOOR, "commitlog")),
        Goal::new(
            "read after single appends ≥ 1.5× commitlog",
            ratio(read_single, "commitlog"),
            Bound::AtLeast(1.5),
        )
        .ceiling(of(read_single, V2_READ_FLOOR, "commitlog")),
        Goal::new(
            "2 producers on 2 partitions ≥ 1.6× 1 producer",
            of(
                "single sends from several threads",
                "strom 2 producers",
                "strom 1 producer",
            ),
            Bound::AtLeast(1.6),
        ),
        Goal::new(
            "4 producers on 1 partition ≥ 1× 1 producer",
            of(
                "single sends from several threads",
                "strom 4 producers",
                "strom 1 producer",
            ),
            Bound::AtLeast(1.0),
        ),
    ]
}

/// [`goals`] of durability, latency and compression.
fn more_goals(rows: &[Row], compressed: &Compressed) -> Vec<Goal> {
    let ratio = |work: &str, other: &str| of(rows, work, "strom", other);
    let spinning = |work: &str| find(rows, work, "strom send → waiting poll (spin").median();
    let against_none = |work: &str, codec: &str| {
        let c = &compressed.rows;
        find(c, work, codec).median() / find(c, work, CODECS[0].1).median()
    };
    let zstd_bytes = compressed.bytes[2] as f64 / compressed.bytes[0] as f64;
    vec![
        Goal::new(
            "Always, 16 threads ≥ 10× SQLite FULL",
            ratio("durable append", "SQLite"),
            Bound::AtLeast(10.0),
        )
        .ceiling(of(rows, "durable append", DURABLE_FLOOR, "SQLite")),
        Goal::new(
            "latency p50 ≤ 3× crossbeam busy-poll (strom spinning)",
            spinning("latency p50") / find(rows, "latency p50", "crossbeam try_recv").median(),
            Bound::AtMost(3.0),
        ),
        Goal::new(
            "latency p99 ≤ crossbeam parked (strom default)",
            ratio("latency p99", "crossbeam recv"),
            Bound::AtMost(1.0),
        ),
        Goal::new(
            "latency p99 ≤ crossbeam parked (strom spinning)",
            spinning("latency p99") / find(rows, "latency p99", "crossbeam recv").median(),
            Bound::AtMost(1.0),
        ),
        Goal::new(
            "send_async, 1,000 tasks, current-thread runtime ≥ 1× send, 16 threads (Always)",
            of(
                rows,
                "durable append",
                DURABLE_TASKS_CURRENT,
                DURABLE_THREADS_ROW,
            ),
            Bound::AtLeast(1.0),
        ),
        Goal::new(
            "send_async, 1,000 tasks, multi-thread runtime ≥ 1× send, 16 threads (Always)",
            of(
                rows,
                "durable append",
                DURABLE_TASKS_MULTI,
                DURABLE_THREADS_ROW,
            ),
            Bound::AtLeast(1.0),
        ),
        Goal::new(
            "latency p50: recv, parked runtime ≤ 1× waiting poll (strom default)",
            of(rows, "latency p50", LATENCY_ASYNC_PARKED, LATENCY_PARKS),
            Bound::AtMost(1.0),
        ),
        Goal::new(
            "latency p99: recv, parked runtime ≤ 1× waiting poll (strom default)",
            of(rows, "latency p99", LATENCY_ASYNC_PARKED, LATENCY_PARKS),
            Bound::AtMost(1.0),
        ),
        Goal::new(
            "latency p50: recv, busy runtime ≤ 1× waiting poll (strom default)",
            of(rows, "latency p50", LATENCY_ASYNC_BUSY, LATENCY_PARKS),
            Bound::AtMost(1.0),
        ),
        Goal::new(
            "Zstd weather bytes ≤ 0.25× uncompressed",
            zstd_bytes,
            Bound::AtMost(0.25),
        ),
        Goal::new(
            "LZ4 batch append ≥ 0.7× uncompressed",
            against_none("append weather JSON, batches of 100, no fsync", "strom LZ4"),
            Bound::AtLeast(0.7),
        ),
        Goal::new(
            "LZ4 read ≥ 0.6× uncompressed",
            against_none("read weather JSON back in order", "strom LZ4"),
            Bound::AtLeast(0.6),
        ),
    ]
}

/// Whether strom met each goal set for it, with the ratio measured, and where one was
/// measured the same ratio for the work strom cannot avoid.
fn print_goals(rows: &[Row], compressed: &Compressed) {
    println!("\n| goal | measured | met | the least work alone |\n|---|---|---|---|");
    for goal in goals(rows).into_iter().chain(more_goals(rows, compressed)) {
        let met = match goal.bound {
            Bound::AtLeast(x) => goal.measured >= x,
            Bound::AtMost(x) => goal.measured <= x,
        };
        let ceiling = goal
            .ceiling
            .map_or_else(|| "—".to_string(), |c| format!("{c:.2}×"));
        println!(
            "| {} | {:.2}× | {} | {ceiling} |",
            goal.name,
            goal.measured,
            if met { "yes" } else { "**no**" }
        );
    }
    println!(
        "\nThe last column is the same ratio for the least work strom cannot avoid: Kafka's v2 \
         format alone (appends and reads), the API's own work alone (send_batch), one fdatasync \
         per 16 records (Always)."
    );
}
