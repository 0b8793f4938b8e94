//! `kafka-load`: Kafka's wire protocol under load, 100-byte records over loopback, with
//! requests encoded and responses decoded by the `kafka-protocol` crate and batches built by
//! strom's own v2 encoder.
//!
//! ```text
//! kafka-load [produce|fetch|latency|cpu|mirror|all] [--inproc | --serve | --bootstrap HOST:PORT]
//!            [--records N] [--connections K] [--in-flight P] [--batch-bytes B]
//!            [--fetch-bytes F] [--samples S] [--strom PATH] [--rdkafka PATH] [--quick]
//! ```
//!
//! - `produce`: K connections, each pipelining up to P produce requests (acks=1) of ~16 KiB
//!   batches to its own partition, N records in all; records/s and MB/s.
//! - `fetch`: the topic just produced read from offset 0 to its end with fetch requests of
//!   up to F bytes; records counted from the batch headers, and checked to be exactly N.
//! - `latency` (in process only): a fetch waiting at the end of the log (`max_wait` 500 ms)
//!   and a `Producer::send` in the same process; the time from the send to the response's
//!   arrival, median and p99.
//! - `cpu` (against `--serve` only): the CPU time of the `strom serve` child per record
//!   produced, read from /proc/PID/stat, beside the CPU time per record of the same batches
//!   appended in process with `Producer::send_batch`.
//! - `mirror`: what the target takes from librdkafka alone — N keyed records of 100 bytes
//!   produced by `rdkafka-produce` (bench/kafka-load/rdkafka/produce.c, `--rdkafka PATH`: an
//!   idempotent producer, acks=all, librdkafka's default linger and batch size) — beside
//!   `strom_kafka::Mirror` copying the same N records from a strom directory (written in
//!   batches of 1000 sends) to another topic of the same target, `once`; both topics of 4
//!   partitions, both timed end to end, and the mirror's count checked to be exactly N.
//!   Not part of `all`.
//! - `compare` (a command of its own, `kafka-load compare --help`; see `compare/mod.rs` and
//!   `scripts/compare.sh`): strom embedded, `strom serve` and Apache Kafka side by side,
//!   driven by the same clients, printed as one table with a line per goal.
//!
//! The server is, by default, a `KafkaServer` in this process (`--inproc`); `--serve` runs
//! `strom serve` on a fresh directory as a child (the `strom` binary beside this one unless
//! `--strom PATH`); `--bootstrap` points at any broker, such as Apache Kafka started by
//! `kafka/tests/reference/broker.sh start DIR`. `--quick` runs a small N for CI: its figures
//! mean nothing, but every check (exact counts, no error codes) still holds.

#![expect(
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    reason = "rates and percentiles of counts and nanoseconds, far below 2^52; offsets far below 2^63"
)]
#![allow(
    clippy::big_endian_bytes,
    reason = "Kafka's wire protocol is big-endian"
)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, FetchRequest,
    FetchResponse, MetadataRequest, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use strom::storage::batch::{self, Entry};
use strom::{Broker, Record, TopicConfig};
use strom_kafka::KafkaServer;

type Failed = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, Failed>;

/// Bytes of every record's value.
const VALUE: usize = 100;
/// Kafka's error code for a topic that exists already.
const TOPIC_ALREADY_EXISTS: i16 = 36;

mod compare;

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    let outcome = match args.peek().map(String::as_str) {
        Some("compare") => compare::run(args.skip(1)),
        Some("compare-writer") => compare::writer(args.skip(1)),
        _ => Options::parse(args).and_then(|options| run(&options)),
    };
    match outcome {
        Ok(()) => {}
        Err(e) => {
            eprintln!("kafka-load: {e}");
            std::process::exit(1);
        }
    }
}

/// What to run, against what, how much.
#[derive(Debug, Clone)]
struct Options {
    workloads: Vec<&'static str>,
    target: Target,
    records: u64,
    connections: usize,
    in_flight: usize,
    batch_bytes: usize,
    fetch_bytes: i32,
    samples: usize,
    strom: Option<PathBuf>,
    rdkafka: Option<PathBuf>,
}

#[derive(Debug, Clone)]
enum Target {
    InProcess,
    Serve,
    Bootstrap(String),
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self> {
        let mut options = Self {
            workloads: Vec::new(),
            target: Target::InProcess,
            records: 10_000_000,
            connections: 1,
            in_flight: 8,
            batch_bytes: 16 * 1024,
            fetch_bytes: 8 << 20,
            samples: 2_000,
            strom: None,
            rdkafka: None,
        };
        let mut quick = false;
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| Failed::from(format!("{name} needs a value")))
            };
            match arg.as_str() {
                "produce" => options.workloads.push("produce"),
                "fetch" => options.workloads.push("fetch"),
                "latency" => options.workloads.push("latency"),
                "cpu" => options.workloads.push("cpu"),
                "mirror" => options.workloads.push("mirror"),
                "all" => options
                    .workloads
                    .extend(["produce", "fetch", "latency", "cpu"]),
                "--inproc" => options.target = Target::InProcess,
                "--serve" => options.target = Target::Serve,
                "--bootstrap" => options.target = Target::Bootstrap(value(&arg)?),
                "--records" => options.records = value(&arg)?.parse()?,
                "--connections" => options.connections = value(&arg)?.parse()?,
                "--in-flight" => options.in_flight = value(&arg)?.parse()?,
                "--batch-bytes" => options.batch_bytes = value(&arg)?.parse()?,
                "--fetch-bytes" => options.fetch_bytes = value(&arg)?.parse()?,
                "--samples" => options.samples = value(&arg)?.parse()?,
                "--strom" => options.strom = Some(PathBuf::from(value(&arg)?)),
                "--rdkafka" => options.rdkafka = Some(PathBuf::from(value(&arg)?)),
                "--quick" => quick = true,
                "-h" | "--help" => {
                    println!(
                        "kafka-load [produce|fetch|latency|cpu|mirror|all] \
                         [--inproc|--serve|--bootstrap HOST:PORT] [--records N] \
                         [--connections K] [--in-flight P] [--batch-bytes B] [--fetch-bytes F] \
                         [--samples S] [--strom PATH] [--rdkafka PATH] [--quick]\n\
                         kafka-load compare --help"
                    );
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?} (see --help)").into()),
            }
        }
        if quick {
            options.records = 20_000;
            options.samples = 50;
        }
        if options.workloads.is_empty() {
            options
                .workloads
                .extend(["produce", "fetch", "latency", "cpu"]);
        }
        if options.connections == 0 || options.in_flight == 0 || options.records == 0 {
            return Err("--connections, --in-flight and --records must be at least 1".into());
        }
        if !(1..=i32::MAX / 2).contains(&options.fetch_bytes) {
            return Err("--fetch-bytes must be positive".into());
        }
        Ok(options)
    }
}

/// One row of the table.
struct Row {
    workload: String,
    figure: String,
}

fn run(options: &Options) -> Result<()> {
    let mut rows = Vec::new();
    let server = Server::start(options)?;
    let topic = format!(
        "kafka-load-{}-{}",
        std::process::id(),
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis()
    );
    let wants = |w: &str| options.workloads.contains(&w);
    let mut produced = false;
    if wants("produce") || wants("fetch") || wants("cpu") {
        create_topic(server.addr, &topic, options.connections)?;
        let cpu_before = server.cpu_time()?;
        let (elapsed, bytes) = produce(server.addr, &topic, options)?;
        let cpu_after = server.cpu_time()?;
        produced = true;
        if wants("produce") {
            rows.push(Row {
                workload: format!(
                    "produce, {} connection(s) × {} in flight, ~{} B batches, acks=1",
                    options.connections, options.in_flight, options.batch_bytes
                ),
                figure: format!(
                    "{} records/s, {:.0} MB/s",
                    per_second(options.records, elapsed),
                    bytes as f64 / elapsed.as_secs_f64() / 1e6
                ),
            });
        }
        if wants("cpu") {
            match (cpu_before, cpu_after) {
                (Some(before), Some(after)) => {
                    let server_ns =
                        after.saturating_sub(before).as_nanos() as f64 / options.records as f64;
                    let appended = in_process_append_cpu(options)?;
                    rows.push(Row {
                        workload: "server CPU per record produced (strom serve, /proc)".into(),
                        figure: format!(
                            "{server_ns:.0} ns; in-process send_batch {appended:.0} ns; ratio {:.2}",
                            server_ns / appended
                        ),
                    });
                }
                _ => rows.push(Row {
                    workload: "server CPU per record produced".into(),
                    figure: "n/a (needs --serve on Linux)".into(),
                }),
            }
        }
    }
    if wants("fetch") {
        let (elapsed, count) = fetch_all(server.addr, &topic, options.connections, options)?;
        if produced && count != options.records {
            return Err(format!(
                "fetched {count} records of topic {topic}, but {} were produced",
                options.records
            )
            .into());
        }
        rows.push(Row {
            workload: format!(
                "fetch from offset 0 to the end, max_bytes {}",
                options.fetch_bytes
            ),
            figure: format!("{} records/s ({count} records)", per_second(count, elapsed)),
        });
    }
    if wants("latency") {
        match &server.in_process {
            Some(broker) => {
                let (median, p99) = latency(broker, server.addr, options)?;
                rows.push(Row {
                    workload: "in-process send → waiting fetch's response (max_wait 500 ms)".into(),
                    figure: format!("median {median:.1} µs, p99 {p99:.1} µs"),
                });
            }
            None => rows.push(Row {
                workload: "in-process send → waiting fetch's response".into(),
                figure: "n/a (needs --inproc)".into(),
            }),
        }
    }
    if wants("mirror") {
        rows.extend(mirror(server.addr, &topic, options)?);
    }
    server.stop()?;
    print_table(options, &rows);
    Ok(())
}

fn per_second(records: u64, elapsed: Duration) -> String {
    let rate = records as f64 / elapsed.as_secs_f64();
    if rate >= 1e6 {
        format!("{:.2} M", rate / 1e6)
    } else {
        format!("{:.0} k", rate / 1e3)
    }
}

fn print_table(options: &Options, rows: &[Row]) {
    let target = match &options.target {
        Target::InProcess => "KafkaServer in process".to_string(),
        Target::Serve => "strom serve (child process)".to_string(),
        Target::Bootstrap(addr) => format!("broker at {addr}"),
    };
    println!(
        "\n{target}: {} records of {VALUE} bytes over loopback",
        options.records
    );
    let width = rows.iter().map(|r| r.workload.len()).max().unwrap_or(0);
    println!("| {:width$} | result |", "workload");
    println!("|{}|--------|", "-".repeat(width + 2));
    for row in rows {
        println!("| {:width$} | {} |", row.workload, row.figure);
    }
}

/// Partitions of both `mirror` topics.
const MIRROR_PARTITIONS: usize = 4;

/// The `mirror` workload: librdkafka alone into one topic, then `Mirror` into another.
fn mirror(addr: SocketAddr, prefix: &str, options: &Options) -> Result<Vec<Row>> {
    let n = options.records;
    let rdkafka = options.rdkafka.as_ref().ok_or(
        "mirror needs --rdkafka PATH: bench/kafka-load/rdkafka/produce.c built with \
         `cc -O2 -o rdkafka-produce produce.c -lrdkafka`",
    )?;
    let alone = format!("{prefix}-rdkafka");
    let mirrored = format!("{prefix}-mirror");
    create_topic(addr, &alone, MIRROR_PARTITIONS)?;
    create_topic(addr, &mirrored, MIRROR_PARTITIONS)?;

    let out = Command::new(rdkafka)
        .args([addr.to_string(), alone, n.to_string()])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", rdkafka.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            rdkafka.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    let seconds: f64 = String::from_utf8(out.stdout)?.trim().parse()?;
    let librdkafka = Duration::from_secs_f64(seconds);

    // The source: a strom directory holding the same records, written as an application's
    // BatchBuilder writes them.
    let dir = tempfile::tempdir()?;
    let source = Broker::open(dir.path())?;
    source.create_topic(
        &mirrored,
        TopicConfig::default().partitions(MIRROR_PARTITIONS as u32),
    )?;
    let mut batch = source.producer().batch(&mirrored)?;
    let value = [b'x'; VALUE];
    for i in 0..n {
        batch.push(Some(format!("user-{}", i % 1000).as_bytes()), &value)?;
        if batch.len() == 1000 {
            batch.send()?;
        }
    }
    if !batch.is_empty() {
        batch.send()?;
    }
    let start = Instant::now();
    let copied = strom_kafka::Mirror::new(source.clone(), addr.to_string())
        .topics([mirrored.as_str()])
        .once(true)
        .run()?;
    let mirror = start.elapsed();
    source.close()?;
    if copied.records != n {
        return Err(format!("the mirror copied {} records of {n}", copied.records).into());
    }
    let payload = |elapsed: Duration| n as f64 * VALUE as f64 / elapsed.as_secs_f64() / 1e6;
    Ok(vec![
        Row {
            workload: format!(
                "librdkafka alone: idempotent, acks=all, default linger and batch size, \
                 {MIRROR_PARTITIONS} partitions"
            ),
            figure: format!(
                "{} records/s, {:.0} MB/s of values",
                per_second(n, librdkafka),
                payload(librdkafka)
            ),
        },
        Row {
            workload: format!(
                "Mirror, once, from a strom directory (batches of 1000 sends), \
                 {MIRROR_PARTITIONS} partitions"
            ),
            figure: format!(
                "{} records/s, {:.0} MB/s of values; {:.2}× librdkafka alone",
                per_second(n, mirror),
                payload(mirror),
                librdkafka.as_secs_f64() / mirror.as_secs_f64()
            ),
        },
    ])
}

/// The broker under load, and what stops it.
struct Server {
    addr: SocketAddr,
    in_process: Option<Broker>,
    kafka: Option<KafkaServer>,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    fn start(options: &Options) -> Result<Self> {
        match &options.target {
            Target::InProcess => {
                let dir = tempfile::tempdir()?;
                let broker = Broker::open(dir.path())?;
                let kafka = KafkaServer::bind(broker.clone(), "127.0.0.1:0")?;
                Ok(Self {
                    addr: kafka.local_addr(),
                    in_process: Some(broker),
                    kafka: Some(kafka),
                    child: None,
                    _dir: Some(dir),
                })
            }
            Target::Serve => {
                let dir = tempfile::tempdir()?;
                let strom = match &options.strom {
                    Some(path) => path.clone(),
                    None => std::env::current_exe()?.with_file_name("strom"),
                };
                let mut child = Command::new(&strom)
                    .args(["serve", "--dir"])
                    .arg(dir.path())
                    .args(["--listen", "127.0.0.1:0"])
                    .stdout(Stdio::piped())
                    .spawn()
                    .map_err(|e| format!("cannot run {}: {e}", strom.display()))?;
                let mut line = String::new();
                let stdout = child.stdout.take().ok_or("no stdout from strom serve")?;
                BufReader::new(stdout).read_line(&mut line)?;
                let addr = line
                    .trim()
                    .rsplit("listening on ")
                    .next()
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(|| format!("strom serve printed {line:?}, not its address"))?;
                Ok(Self {
                    addr,
                    in_process: None,
                    kafka: None,
                    child: Some(child),
                    _dir: Some(dir),
                })
            }
            Target::Bootstrap(addr) => Ok(Self {
                addr: std::net::ToSocketAddrs::to_socket_addrs(addr.as_str())?
                    .next()
                    .ok_or_else(|| format!("{addr} resolves to no address"))?,
                in_process: None,
                kafka: None,
                child: None,
                _dir: None,
            }),
        }
    }

    /// The child's CPU time (user + system) so far, from /proc/PID/stat; `None` unless the
    /// server is a child on Linux.
    fn cpu_time(&self) -> Result<Option<Duration>> {
        let Some(child) = &self.child else {
            return Ok(None);
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", child.id())) else {
            return Ok(None);
        };
        // Fields after the command name, which is in parentheses and may hold spaces:
        // utime and stime are the 14th and 15th fields of the line.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 = fields.get(11).ok_or("short /proc stat")?.parse::<u64>()?
            + fields.get(12).ok_or("short /proc stat")?.parse::<u64>()?;
        Ok(Some(Duration::from_nanos(
            ticks * 1_000_000_000 / clock_ticks(),
        )))
    }

    fn stop(mut self) -> Result<()> {
        if let Some(kafka) = self.kafka.take() {
            kafka.shutdown()?;
        }
        if let Some(broker) = self.in_process.take() {
            broker.close()?;
        }
        if let Some(mut child) = self.child.take() {
            // SIGTERM: strom serve closes its broker cleanly on it.
            Command::new("kill").arg(child.id().to_string()).status()?;
            let status = child.wait()?;
            if !status.success() {
                return Err(format!("strom serve exited with {status}").into());
            }
        }
        Ok(())
    }
}

impl Drop for Server {
    /// A run that failed part way leaves no `strom serve` behind.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`, 100 on Linux).
fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// CPU time of this whole process so far (every thread), from /proc/self/stat.
fn own_cpu_time() -> Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11).ok_or("short /proc stat")?.parse::<u64>()?
        + fields.get(12).ok_or("short /proc stat")?.parse::<u64>()?;
    Ok(Duration::from_nanos(ticks * 1_000_000_000 / clock_ticks()))
}

/// The most 100-byte records a batch of at most `batch_bytes` holds (at least one).
fn records_per_batch(batch_bytes: usize) -> usize {
    let value = vec![0u8; VALUE];
    let entry = Entry {
        timestamp: 0,
        key: None,
        value: Some(&value),
        headers: &[],
    };
    let size = |n: usize| batch::encoded_len(&vec![entry; n]);
    // A first guess from the growth of one record, then down while the offset deltas'
    // longer varints push the batch past the limit.
    let per_record = size(2) - size(1);
    let mut n = (batch_bytes.saturating_sub(size(0)) / per_record).max(1);
    while n > 1 && size(n) > batch_bytes {
        n -= 1;
    }
    n
}

/// CPU time per record of `options.records` records appended in process in batches of the
/// produce run's size.
fn in_process_append_cpu(options: &Options) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let broker = Broker::open(dir.path())?;
    broker.create_topic("append", TopicConfig::default())?;
    let producer = broker.producer();
    let per_batch = records_per_batch(options.batch_bytes) as u64;
    let value = vec![b'x'; VALUE];
    let before = own_cpu_time()?;
    let mut left = options.records;
    while left > 0 {
        let n = left.min(per_batch);
        producer.send_batch("append", (0..n).map(|_| Record::new(value.clone())))?;
        left -= n;
    }
    let spent = own_cpu_time()?.saturating_sub(before);
    broker.close()?;
    Ok(spent.as_nanos() as f64 / options.records as f64)
}

/// A blocking connection speaking Kafka's framing.
struct Connection {
    stream: TcpStream,
    next_correlation: i32,
    produce_version: i16,
    fetch_version: i16,
    create_topics_version: i16,
    metadata_version: i16,
}

impl Connection {
    fn open(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("connect to {addr}: {e}"))?;
        Self::over(stream, addr)
    }

    /// A connection over `stream`, already connected to `addr`, its versions agreed.
    fn over(stream: TcpStream, addr: SocketAddr) -> Result<Self> {
        stream.set_nodelay(true)?;
        let mut connection = Self {
            stream,
            next_correlation: 0,
            produce_version: 0,
            fetch_version: 0,
            create_topics_version: 0,
            metadata_version: 0,
        };
        let versions: ApiVersionsResponse = connection.call(&ApiVersionsRequest::default(), 0)?;
        if versions.error_code != 0 {
            return Err(format!("ApiVersions: error {}", versions.error_code).into());
        }
        // The newest version both sides know, capped at those that name topics by name.
        let pick = |key: ApiKey, cap: i16| -> Result<i16> {
            let range = versions
                .api_keys
                .iter()
                .find(|k| k.api_key == key as i16)
                .ok_or_else(|| format!("the broker at {addr} does not serve {key:?}"))?;
            let ours = key.valid_versions();
            let (lo, hi) = (ours.min, ours.max);
            let version = range.max_version.min(cap).min(hi);
            if version < range.min_version.max(lo) {
                return Err(format!("no common version of {key:?} with {addr}").into());
            }
            Ok(version)
        };
        connection.produce_version = pick(ApiKey::Produce, 9)?;
        connection.fetch_version = pick(ApiKey::Fetch, 12)?;
        connection.create_topics_version = pick(ApiKey::CreateTopics, 7)?;
        connection.metadata_version = pick(ApiKey::Metadata, 12)?;
        Ok(connection)
    }

    /// Encodes `request` at `version` as a frame (size prefix included).
    fn frame<Req: Request>(&mut self, request: &Req, version: i16) -> Result<(i32, Bytes)> {
        self.next_correlation += 1;
        let correlation = self.next_correlation;
        let header = RequestHeader::default()
            .with_request_api_key(Req::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(StrBytes::from_static_str("kafka-load")));
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&[0; 4]);
        header.encode(&mut frame, Req::header_version(version))?;
        request.encode(&mut frame, version)?;
        let size = i32::try_from(frame.len() - 4)?;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        Ok((correlation, frame.freeze()))
    }

    fn send(&mut self, frame: &[u8]) -> Result<()> {
        self.stream.write_all(frame)?;
        Ok(())
    }

    /// Reads the next response and decodes it, checking its correlation id.
    fn receive<Resp: Decodable + HeaderVersion>(
        &mut self,
        correlation: i32,
        version: i16,
    ) -> Result<Resp> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size)?;
        let size = usize::try_from(i32::from_be_bytes(size))
            .map_err(|_| "the broker sent a negative frame size")?;
        let mut body = vec![0u8; size];
        self.stream.read_exact(&mut body)?;
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, Resp::header_version(version))?;
        if header.correlation_id != correlation {
            return Err(format!(
                "response to request {} where {correlation} was due",
                header.correlation_id
            )
            .into());
        }
        let response = Resp::decode(&mut body, version)?;
        if body.has_remaining() {
            return Err("bytes left after a response".into());
        }
        Ok(response)
    }

    fn call<Req: Request>(&mut self, request: &Req, version: i16) -> Result<Req::Response>
    where
        Req::Response: Decodable + HeaderVersion,
    {
        let (correlation, frame) = self.frame(request, version)?;
        self.send(&frame)?;
        self.receive(correlation, version)
    }
}

/// Creates `topic` with `partitions` (an existing one is taken as it is), then waits until
/// Metadata shows a leader for each partition (Kafka elects them after answering).
fn create_topic(addr: SocketAddr, topic: &str, partitions: usize) -> Result<()> {
    let mut connection = Connection::open(addr)?;
    let name = TopicName(StrBytes::from_string(topic.to_string()));
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name.clone())
            .with_num_partitions(i32::try_from(partitions)?)
            .with_replication_factor(1)]);
    let version = connection.create_topics_version;
    let response = connection.call(&request, version)?;
    for created in &response.topics {
        if created.error_code != 0 && created.error_code != TOPIC_ALREADY_EXISTS {
            return Err(format!("CreateTopics {topic}: error {}", created.error_code).into());
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name.clone())),
        ]));
        let version = connection.metadata_version;
        let metadata = connection.call(&request, version)?;
        let ready = metadata.topics.iter().any(|t| {
            t.error_code == 0
                && t.partitions.len() == partitions
                && t.partitions
                    .iter()
                    .all(|p| p.error_code == 0 && p.leader_id.0 >= 0)
        });
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("topic {topic} has no leaders after 30 s").into());
        }
        // A broker electing leaders: ask again shortly (Kafka offers no wait for it).
        thread::sleep(Duration::from_millis(50));
    }
}

/// The v2 batches one connection sends: `records` 100-byte records, ~`batch_bytes` each.
fn batches(records: u64, batch_bytes: usize) -> Result<Vec<Bytes>> {
    let per_batch = records_per_batch(batch_bytes) as u64;
    let value = vec![b'x'; VALUE];
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
    let mut out = Vec::new();
    let mut left = records;
    while left > 0 {
        let n = left.min(per_batch);
        let entries = vec![
            Entry {
                timestamp: now,
                key: None,
                value: Some(&value),
                headers: &[],
            };
            n as usize
        ];
        let mut buf = vec![0u8; batch::encoded_len(&entries)];
        let len = batch::encode(&mut buf, 0, &entries)?;
        buf.truncate(len);
        out.push(Bytes::from(buf));
        left -= n;
    }
    Ok(out)
}

/// Produces `options.records` over `options.connections` connections (connection i to
/// partition i), each with up to `options.in_flight` requests outstanding. Returns the time
/// from the first request to the last response, and the bytes of batches sent.
fn produce(addr: SocketAddr, topic: &str, options: &Options) -> Result<(Duration, u64)> {
    let k = options.connections as u64;
    let mut work = Vec::new();
    for i in 0..k {
        let records = options.records / k + u64::from(i < options.records % k);
        let connection = Connection::open(addr)?;
        work.push((i, connection, batches(records, options.batch_bytes)?));
    }
    let bytes: u64 = work
        .iter()
        .flat_map(|(_, _, b)| b.iter().map(|b| b.len() as u64))
        .sum();
    let start = Arc::new(std::sync::Barrier::new(work.len() + 1));
    let mut threads = Vec::new();
    for (partition, mut connection, batches) in work {
        let topic = topic.to_string();
        let start = Arc::clone(&start);
        let in_flight = options.in_flight;
        threads.push(thread::spawn(move || -> Result<()> {
            let version = connection.produce_version;
            let frames = batches
                .into_iter()
                .map(|records| {
                    let request = ProduceRequest::default()
                        .with_acks(1)
                        .with_timeout_ms(30_000)
                        .with_topic_data(vec![TopicProduceData::default()
                            .with_name(TopicName(StrBytes::from_string(topic.clone())))
                            .with_partition_data(vec![PartitionProduceData::default()
                                .with_index(i32::try_from(partition)?)
                                .with_records(Some(records))])]);
                    connection.frame(&request, version)
                })
                .collect::<Result<Vec<_>>>()?;
            start.wait();
            let mut pending = VecDeque::new();
            for (correlation, frame) in frames {
                if pending.len() == in_flight {
                    check_produced(&mut connection, pending.pop_front(), version, &topic)?;
                }
                connection.send(&frame)?;
                pending.push_back(correlation);
            }
            while !pending.is_empty() {
                check_produced(&mut connection, pending.pop_front(), version, &topic)?;
            }
            Ok(())
        }));
    }
    start.wait();
    let began = Instant::now();
    for thread in threads {
        thread.join().map_err(|_| "a producing thread panicked")??;
    }
    Ok((began.elapsed(), bytes))
}

fn check_produced(
    connection: &mut Connection,
    correlation: Option<i32>,
    version: i16,
    topic: &str,
) -> Result<()> {
    let correlation = correlation.ok_or("no request pending")?;
    let response: ProduceResponse = connection.receive(correlation, version)?;
    for t in &response.responses {
        for p in &t.partition_responses {
            if p.error_code != 0 {
                return Err(
                    format!("produce to {topic}/{}: error {}", p.index, p.error_code).into(),
                );
            }
        }
    }
    Ok(())
}

/// Reads every partition of `topic` from offset 0 to the end as of the first response,
/// counting records from the batch headers. Returns the time taken and the count.
fn fetch_all(
    addr: SocketAddr,
    topic: &str,
    partitions: usize,
    options: &Options,
) -> Result<(Duration, u64)> {
    let mut connection = Connection::open(addr)?;
    let version = connection.fetch_version;
    let name = TopicName(StrBytes::from_string(topic.to_string()));
    let mut next = vec![0i64; partitions];
    let mut end: Vec<Option<i64>> = vec![None; partitions];
    let mut count = 0u64;
    let began = Instant::now();
    while next.iter().zip(&end).any(|(n, e)| e.is_none_or(|e| *n < e)) {
        let request = FetchRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(options.fetch_bytes)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(name.clone())
                .with_partitions(
                    (0..partitions)
                        .map(|p| {
                            FetchPartition::default()
                                .with_partition(p as i32)
                                .with_fetch_offset(next[p])
                                .with_partition_max_bytes(options.fetch_bytes)
                        })
                        .collect(),
                )]);
        let response: FetchResponse = connection.call(&request, version)?;
        if response.error_code != 0 {
            return Err(format!("fetch {topic}: error {}", response.error_code).into());
        }
        for t in &response.responses {
            for p in &t.partitions {
                let index = usize::try_from(p.partition_index)?;
                if p.error_code != 0 || index >= partitions {
                    return Err(format!(
                        "fetch {topic}/{}: error {}",
                        p.partition_index, p.error_code
                    )
                    .into());
                }
                end[index].get_or_insert(p.high_watermark);
                if let Some(records) = &p.records {
                    let (records_in, after) = count_batches(records, next[index])?;
                    count += records_in;
                    next[index] = after;
                }
            }
        }
    }
    Ok((began.elapsed(), count))
}

/// Records in the whole batches of `bytes` at or after `from` (a fetch may start inside the
/// first batch, and may end with part of a batch), and the offset after the last whole one.
fn count_batches(mut bytes: &[u8], from: i64) -> Result<(u64, i64)> {
    let mut count = 0;
    let mut next = from;
    while bytes.len() >= 12 {
        let length = u32::from_be_bytes(bytes[8..12].try_into()?) as usize;
        let Some(whole) = bytes.get(..12 + length) else {
            break;
        };
        let header = batch::read_header(whole)?;
        if header.next_offset() as i64 > next {
            if header.base_offset as i64 >= next {
                count += u64::from(header.record_count);
            } else {
                // Records before `from` in this batch were counted by an earlier fetch
                // (uncompressed batches of records without gaps, as produced here).
                count += header.next_offset() - next as u64;
            }
            next = header.next_offset() as i64;
        }
        bytes = &bytes[12 + length..];
    }
    Ok((count, next))
}

/// Samples of the time from an in-process `send` to the arrival of the response to a fetch
/// waiting at the end of the log; median and 99th percentile in µs.
fn latency(broker: &Broker, addr: SocketAddr, options: &Options) -> Result<(f64, f64)> {
    let topic = "kafka-load-latency";
    broker.create_topic(topic, TopicConfig::default())?;
    let producer = broker.producer();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (arrived_tx, arrived_rx) = mpsc::channel::<Result<Instant>>();
    let samples = options.samples;
    let reader = thread::spawn(move || {
        let run = || -> Result<()> {
            let mut connection = Connection::open(addr)?;
            let version = connection.fetch_version;
            let name = TopicName(StrBytes::from_static_str(topic));
            let mut offset = 0i64;
            for _ in 0..samples {
                let request = FetchRequest::default()
                    .with_replica_id(kafka_protocol::messages::BrokerId(-1))
                    .with_max_wait_ms(500)
                    .with_min_bytes(1)
                    .with_max_bytes(1 << 20)
                    .with_session_epoch(-1)
                    .with_topics(vec![FetchTopic::default()
                        .with_topic(name.clone())
                        .with_partitions(vec![FetchPartition::default()
                            .with_partition(0)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(1 << 20)])]);
                let (correlation, frame) = connection.frame(&request, version)?;
                connection.send(&frame)?;
                ready_tx.send(()).map_err(|_| "the sender has gone")?;
                let response: FetchResponse = connection.receive(correlation, version)?;
                let arrived = Instant::now();
                let records = response
                    .responses
                    .first()
                    .and_then(|t| t.partitions.first())
                    .and_then(|p| p.records.clone())
                    .unwrap_or_default();
                let (n, after) = count_batches(&records, offset)?;
                if n == 0 {
                    return Err("a waiting fetch was answered without the record sent".into());
                }
                offset = after;
                arrived_tx
                    .send(Ok(arrived))
                    .map_err(|_| "the sender has gone")?;
            }
            Ok(())
        };
        if let Err(e) = run() {
            let _ = arrived_tx.send(Err(e));
        }
    });
    let mut micros = Vec::with_capacity(samples);
    for _ in 0..samples {
        if ready_rx.recv().is_err() {
            break;
        }
        // The fetch is on its way; give the server time to park it at the end of the log
        // (a pacing gap, as the in-process latency rows use, not a synchronisation: a fetch
        // not parked yet finds the record at once and is counted alike).
        thread::sleep(Duration::from_millis(2));
        let sent = Instant::now();
        producer.send(topic, Record::new(vec![b'x'; VALUE]))?;
        let arrived = arrived_rx.recv().map_err(|_| "the reader has gone")??;
        micros.push(arrived.saturating_duration_since(sent).as_nanos() as f64 / 1e3);
    }
    reader.join().map_err(|_| "the reader panicked")?;
    // Surface the reader's error, if it stopped early.
    if micros.len() < samples {
        if let Ok(Err(e)) = arrived_rx.try_recv() {
            return Err(e);
        }
        return Err("the reader stopped early".into());
    }
    micros.sort_by(f64::total_cmp);
    let at = |q: f64| micros[((micros.len() - 1) as f64 * q) as usize];
    Ok((at(0.5), at(0.99)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_about_the_size_asked_and_hold_every_record() {
        let made = batches(10_000, 16 * 1024).unwrap();
        let whole: Vec<_> = made[..made.len() - 1].iter().collect();
        for b in &whole {
            assert!(
                b.len() <= 16 * 1024 && b.len() > 15 * 1024,
                "{} bytes",
                b.len()
            );
        }
        let records: u64 = made
            .iter()
            .map(|b| u64::from(batch::check(b).unwrap().record_count))
            .sum();
        assert_eq!(records, 10_000);
    }

    /// Batches laid end to end as a log stores them: offsets assigned in order.
    fn log_of(made: &[Bytes]) -> Vec<u8> {
        let mut log = Vec::new();
        let mut offset = 0;
        for b in made {
            let mut b = b.to_vec();
            batch::set_base_offset(&mut b, offset).unwrap();
            offset = batch::check(&b).unwrap().next_offset();
            log.extend_from_slice(&b);
        }
        log
    }

    #[test]
    fn counting_stops_at_a_partial_batch_and_resumes_after_it() {
        let made = batches(1_000, 4096).unwrap();
        let log = log_of(&made);
        let (all, end) = count_batches(&log, 0).unwrap();
        assert_eq!((all, end), (1_000, 1_000));
        // A fetch cut inside the third batch counts the first two only...
        let cut = made[0].len() + made[1].len() + 10;
        let (first, next) = count_batches(&log[..cut], 0).unwrap();
        let two = u64::from(batch::check(&made[0]).unwrap().record_count) * 2;
        assert_eq!((first, next), (two, two as i64));
        // ...and the next fetch, from that offset, counts the rest.
        let at = made[0].len() + made[1].len();
        assert_eq!(
            count_batches(&log[at..], next).unwrap(),
            (1_000 - two, 1_000)
        );
    }

    #[test]
    fn a_fetch_from_inside_a_batch_counts_only_what_follows() {
        let made = batches(100, 16 * 1024).unwrap();
        assert_eq!(made.len(), 1);
        let log = log_of(&made);
        assert_eq!(count_batches(&log, 40).unwrap(), (60, 100));
        assert_eq!(count_batches(&log, 100).unwrap(), (0, 100));
    }

    #[test]
    fn options_name_the_target_and_quick_shrinks_the_run() {
        let parse = |args: &[&str]| Options::parse(args.iter().map(ToString::to_string));
        let options = parse(&["fetch", "--bootstrap", "127.0.0.1:9092", "--quick"]).unwrap();
        assert_eq!(options.workloads, ["fetch"]);
        assert!(matches!(options.target, Target::Bootstrap(ref a) if a == "127.0.0.1:9092"));
        assert_eq!(options.records, 20_000);
        assert_eq!(parse(&[]).unwrap().workloads.len(), 4);
        assert!(parse(&["--connections", "0"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }
}
