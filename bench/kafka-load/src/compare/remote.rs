//! `strom serve` and Apache Kafka, each in a process of its own, driven by the same clients.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, FetchResponse, MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{
    children_cpu, cpu_seconds, dir_bytes, Latency, Rate, Row, Settings, Startup, ACKS, JAVA,
    JAVA_BATCH_BYTES, KAFKA, RDKAFKA, SERVE, SIZES,
};
use crate::{count_batches, create_topic, Connection, Result};

/// A broker in a process of its own: `strom serve` or Apache Kafka.
pub(super) struct Remote {
    system: &'static str,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    /// `strom serve`'s process; Kafka's pid is in `dir/kafka/pid`.
    child: Option<Child>,
    broker_sh: PathBuf,
    kafka_heap: String,
    strom: PathBuf,
}

impl Remote {
    pub(super) fn start(system: &'static str, settings: &Settings) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut remote = Self {
            system,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir,
            child: None,
            broker_sh: settings.broker_sh.clone(),
            kafka_heap: settings.kafka_heap.clone(),
            strom: settings.strom.clone(),
        };
        if system == SERVE {
            // A fixed port, so that a restart answers where clients look.
            remote.addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
            remote.launch()?;
        } else {
            let out = remote.broker_sh("start")?;
            let bootstrap = std::fs::read_to_string(remote.dir.path().join("kafka/bootstrap"))
                .map_err(|e| format!("broker.sh start printed {out:?}, and no bootstrap: {e}"))?;
            remote.addr = bootstrap.trim().parse()?;
        }
        Ok(remote)
    }

    fn broker_sh(&self, verb: &str) -> Result<String> {
        let out = Command::new(&self.broker_sh)
            .arg(verb)
            .arg(self.dir.path().join("kafka"))
            .env("KAFKA_HEAP", &self.kafka_heap)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.broker_sh.display()))?;
        if !out.status.success() {
            return Err(format!("broker.sh {verb} failed ({})", out.status).into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Starts the broker on its data and returns the time from exec to a Metadata answer.
    fn launch(&mut self) -> Result<Duration> {
        let start = Instant::now();
        let mut kafka = None;
        if self.system == SERVE {
            let log = std::fs::File::create(self.dir.path().join("serve.log"))?;
            self.child = Some(
                Command::new(&self.strom)
                    .args(["serve", "--dir"])
                    .arg(self.dir.path().join("data"))
                    .args(["--listen", &self.addr.to_string()])
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .map_err(|e| format!("cannot run {}: {e}", self.strom.display()))?,
            );
        } else {
            // broker.sh restart: stop (nothing runs) and launch, which waits for an answer
            // too, on a coarser clock than ours.
            kafka = Some(
                Command::new(&self.broker_sh)
                    .arg("restart")
                    .arg(self.dir.path().join("kafka"))
                    .env("KAFKA_HEAP", &self.kafka_heap)
                    .stdout(Stdio::null())
                    .spawn()?,
            );
        }
        let answered = {
            // The process that must stay up meanwhile: strom serve, or broker.sh until it
            // has seen Kafka answer too.
            let watched = match (&mut kafka, &mut self.child) {
                (Some(script), _) => Some(script),
                (None, child) => child.as_mut(),
            };
            wait_for_metadata(self.addr, self.system, watched)
        };
        if let Some(mut script) = kafka {
            let status = script.wait()?;
            if !status.success() {
                return Err(format!("broker.sh restart failed ({status})").into());
            }
        }
        Ok(answered?.duration_since(start))
    }

    fn pid(&self) -> Result<u32> {
        match &self.child {
            Some(child) => Ok(child.id()),
            None => Ok(std::fs::read_to_string(self.dir.path().join("kafka/pid"))?
                .trim()
                .parse()?),
        }
    }

    fn cpu(&self) -> Result<f64> {
        let pid = self.pid()?;
        cpu_seconds(&std::fs::read_to_string(format!("/proc/{pid}/stat"))?, 11)
    }

    /// A clean stop: SIGTERM, and the process waited for.
    pub(super) fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            Command::new("kill").arg(child.id().to_string()).status()?;
            let status = child.wait()?;
            if !status.success() {
                return Err(format!("strom serve exited with {status}").into());
            }
        } else if self.system == KAFKA {
            self.broker_sh("stop")?;
        }
        Ok(())
    }

    /// SIGKILL, and the process gone.
    fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
            return Ok(());
        }
        let pid = self.pid()?;
        Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()?;
        // Not our child (broker.sh started it): gone once /proc has no entry for it, or only
        // a zombie's.
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        }) {
            if Instant::now() > deadline {
                return Err(format!("Kafka (pid {pid}) outlived SIGKILL by 30 s").into());
            }
            thread::sleep(Duration::from_millis(10));
        }
        // broker.sh restart would otherwise wait for a zombie to go.
        std::fs::remove_file(self.dir.path().join("kafka/pid"))?;
        Ok(())
    }

    fn on_disk(&self) -> Result<u64> {
        dir_bytes(&self.dir.path().join(if self.system == SERVE {
            "data"
        } else {
            "kafka/data"
        }))
    }
}

impl Drop for Remote {
    /// A run that failed part way leaves no broker behind.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.system == KAFKA {
            let _ = Command::new(&self.broker_sh)
                .arg("stop")
                .arg(self.dir.path().join("kafka"))
                .status();
        }
    }
}

/// Polls `addr` with Metadata requests until one is answered with a broker in it; the instant
/// it was. Fails early if `watched` exits with a failure.
fn wait_for_metadata(
    addr: SocketAddr,
    system: &str,
    mut watched: Option<&mut Child>,
) -> Result<Instant> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Ok(instant) = metadata_answered(addr) {
            return Ok(instant);
        }
        if let Some(status) = watched
            .as_mut()
            .map(|c| c.try_wait())
            .transpose()?
            .flatten()
        {
            if !status.success() {
                return Err(
                    format!("{system} at {addr} exited ({status}) before it answered").into(),
                );
            }
        }
        if Instant::now() > deadline {
            return Err(format!("{system} at {addr} answered no Metadata within 180 s").into());
        }
        // Starting brokers offer nothing to wait on but their port.
        thread::sleep(Duration::from_millis(5));
    }
}

fn metadata_answered(addr: SocketAddr) -> Result<Instant> {
    let mut connection = connect(addr)?;
    let version = connection.metadata_version;
    let metadata = connection.call(
        &MetadataRequest::default().with_topics(Some(vec![])),
        version,
    )?;
    if metadata.brokers.is_empty() {
        return Err("no brokers yet".into());
    }
    Ok(Instant::now())
}

/// A connection that gives up on a broker silent for 5 s (one still starting may accept and
/// not answer).
fn connect(addr: SocketAddr) -> Result<Connection> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    Connection::over(stream, addr)
}

/// A fetch at `offset` of `topic`/`partition`, retried until it succeeds (and, if `records`,
/// returns a record): the instant it did, and the partition's high watermark.
fn fetched(
    addr: SocketAddr,
    topic: &str,
    partition: i32,
    offset: i64,
    records: bool,
) -> Result<(Instant, i64)> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let outcome = fetch_at(addr, topic, partition, offset);
        match outcome {
            Ok((n, high_watermark)) if n > 0 || !records => {
                return Ok((Instant::now(), high_watermark))
            }
            _ if Instant::now() > deadline => {
                return Err(format!(
                    "{topic}/{partition} at {offset}: nothing fetched within 180 s ({outcome:?})"
                )
                .into())
            }
            // Kafka answers NOT_LEADER_OR_FOLLOWER while it loads the partition.
            _ => thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Records fetched at `offset` of `topic`/`partition`, and the partition's high watermark.
fn fetch_at(addr: SocketAddr, topic: &str, partition: i32, offset: i64) -> Result<(u64, i64)> {
    let mut connection = connect(addr)?;
    let version = connection.fetch_version;
    let request = FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])]);
    let response: FetchResponse = connection.call(&request, version)?;
    let answer = response
        .responses
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or_else(|| format!("fetch {topic}/{partition}: no partition in the response"))?;
    if response.error_code != 0 || answer.error_code != 0 {
        return Err(format!("fetch {topic}/{partition}: error {}", answer.error_code).into());
    }
    let records = answer.records.clone().unwrap_or_default();
    let (n, _) = count_batches(&records, offset)?;
    Ok((n, answer.high_watermark))
}

/// The rows of `strom serve` or Kafka, and their start and recovery.
pub(super) fn rows(remote: &mut Remote, settings: &Settings) -> Result<(Vec<Row>, Startup)> {
    let addr = remote.addr;
    let mut rows = Vec::new();
    let mut written = 0;
    let mut last_topic = String::new();
    for size in SIZES {
        let n = settings.records_of(size);
        for acks in ACKS {
            // A quick run proves each path once: each size and each acks, not every pair.
            if settings.quick && (size == 100) != (acks == "1") {
                continue;
            }
            let (row, topic) = rdkafka_row(remote, settings, size, acks)?;
            rows.push(row);
            rows.push(java_row(remote, settings, size, acks)?);
            written += 2 * n;
            last_topic = topic;
        }
    }

    // A clean stop, then a start on the same data.
    remote.stop()?;
    let start = remote.launch()?;
    // The last record of the last topic written, to be fetched after the kill: that of its
    // first partition holding any (a sticky partitioner may leave some empty).
    let mut tail = None;
    for partition in 0..i32::try_from(settings.partitions)? {
        let (_, high_watermark) = fetched(addr, &last_topic, partition, 0, false)?;
        if high_watermark > 0 {
            tail = Some((partition, high_watermark - 1));
            break;
        }
    }
    let (partition, offset) =
        tail.ok_or_else(|| format!("every partition of {last_topic} is empty"))?;
    let on_disk = remote.on_disk()?;
    remote.kill()?;
    let launched = Instant::now();
    let recover = remote.launch()?;
    let tail = fetched(addr, &last_topic, partition, offset, true)?
        .0
        .duration_since(launched);
    Ok((
        rows,
        Startup {
            system: remote.system,
            on_disk,
            records: written,
            start,
            recover,
            tail,
        },
    ))
}

/// rdkafka-perf's produce, consume and latency on one record size and acks; the row, and the
/// topic produced.
fn rdkafka_row(
    remote: &Remote,
    settings: &Settings,
    size: usize,
    acks: &'static str,
) -> Result<(Row, String)> {
    let addr = remote.addr;
    let bootstrap = addr.to_string();
    let n = settings.records_of(size);
    let topic = format!("rdkafka-{size}-{acks}");
    create_topic(addr, &topic, settings.partitions)?;
    let cpu = (remote.cpu()?, children_cpu()?);
    let seconds: f64 = run_client(Command::new(&settings.rdkafka).args([
        "produce",
        &bootstrap,
        &topic,
        &n.to_string(),
        &size.to_string(),
        acks,
    ]))?
    .trim()
    .parse()?;
    let cpu = (
        (remote.cpu()? - cpu.0) / seconds,
        Some((children_cpu()? - cpu.1) / seconds),
    );
    let produce = Rate {
        records: n,
        size,
        seconds,
    };
    let seconds: f64 = run_client(Command::new(&settings.rdkafka).args([
        "consume",
        &bootstrap,
        &topic,
        &n.to_string(),
    ]))?
    .trim()
    .parse()?;
    let consume = Rate {
        records: n,
        size,
        seconds,
    };
    let latency_topic = format!("rdkafka-latency-{size}-{acks}");
    create_topic(addr, &latency_topic, 1)?;
    let out = run_client(Command::new(&settings.rdkafka).args([
        "latency",
        &bootstrap,
        &latency_topic,
        &settings.samples.to_string(),
        &size.to_string(),
        acks,
    ]))?;
    let mut figures = out.split_whitespace().map(str::parse::<f64>);
    let latency = match (figures.next(), figures.next()) {
        (Some(Ok(p50)), Some(Ok(p99))) => Latency { p50, p99 },
        _ => return Err(format!("rdkafka-perf latency printed {out:?}").into()),
    };
    let row = Row {
        system: remote.system,
        client: RDKAFKA,
        size,
        acks,
        produce: Some(produce),
        consume: Some(consume),
        latency: Some(latency),
        cpu: Some(cpu),
    };
    Ok((row, topic))
}

/// kafka-producer-perf-test, kafka-consumer-perf-test and `EndToEndLatency` on one record size
/// and acks.
fn java_row(remote: &Remote, settings: &Settings, size: usize, acks: &'static str) -> Result<Row> {
    let bootstrap = remote.addr.to_string();
    let n = settings.records_of(size);
    let topic = format!("java-{size}-{acks}");
    create_topic(remote.addr, &topic, settings.partitions)?;
    let idempotent = if acks == "all" { "true" } else { "false" };
    let cpu = (remote.cpu()?, children_cpu()?);
    let out = run_client(tool(settings, "kafka-producer-perf-test").args([
        "--topic",
        &topic,
        "--num-records",
        &n.to_string(),
        "--record-size",
        &size.to_string(),
        "--throughput",
        "-1",
        "--producer-props",
        &format!("bootstrap.servers={bootstrap}"),
        &format!("acks={acks}"),
        "linger.ms=5",
        &format!("batch.size={JAVA_BATCH_BYTES}"),
        &format!("enable.idempotence={idempotent}"),
    ]))?;
    // Its summary: "N records sent, R records/sec (M MB/sec), ...".
    let summary = out
        .lines()
        .rfind(|l| l.contains(" records sent, "))
        .ok_or_else(|| format!("kafka-producer-perf-test printed no summary: {out}"))?;
    let mut words = summary.split_whitespace();
    let sent: u64 = words.next().unwrap_or_default().parse()?;
    let rate: f64 = words.nth(2).unwrap_or_default().parse()?;
    if sent != n {
        return Err(format!("kafka-producer-perf-test sent {sent} of {n}: {summary}").into());
    }
    let seconds = n as f64 / rate;
    // The client's CPU includes its JVM's start; the broker's is spread over the tool's own
    // clock.
    let cpu = (
        (remote.cpu()? - cpu.0) / seconds,
        Some((children_cpu()? - cpu.1) / seconds),
    );
    let produce = Rate {
        records: n,
        size,
        seconds,
    };
    let out = run_client(tool(settings, "kafka-consumer-perf-test").args([
        "--bootstrap-server",
        &bootstrap,
        "--topic",
        &topic,
        "--num-records",
        &n.to_string(),
        "--timeout",
        "30000",
    ]))?;
    // The CSV line after the header: ..., data.consumed.in.nMsg (4), ..., fetch.time.ms (7),
    // ... The rate is of the fetching, without the group's join.
    let fields: Vec<&str> = out
        .lines()
        .rfind(|l| l.matches(',').count() >= 9 && !l.starts_with("start.time"))
        .ok_or_else(|| format!("kafka-consumer-perf-test printed no figures: {out}"))?
        .split(',')
        .map(str::trim)
        .collect();
    let consumed: u64 = fields[4].parse()?;
    let fetch_ms: f64 = fields[7].parse()?;
    if consumed != n {
        return Err(
            format!("kafka-consumer-perf-test read {consumed} of {n} records of {topic}").into(),
        );
    }
    let consume = Rate {
        records: n,
        size,
        seconds: (fetch_ms / 1e3).max(1e-3),
    };
    let latency = java_latency(remote, settings, size, acks)?;
    Ok(Row {
        system: remote.system,
        client: JAVA,
        size,
        acks,
        produce: Some(produce),
        consume: Some(consume),
        latency: Some(latency),
        cpu: Some(cpu),
    })
}

/// `EndToEndLatency`: one record at a time, sent, acknowledged and read by Java's clients.
fn java_latency(
    remote: &Remote,
    settings: &Settings,
    size: usize,
    acks: &'static str,
) -> Result<Latency> {
    let bootstrap = remote.addr.to_string();
    let latency_topic = format!("java-latency-{size}-{acks}");
    create_topic(remote.addr, &latency_topic, 1)?;
    let out = run_client(
        tool(settings, "org.apache.kafka.tools.EndToEndLatency").args([
            &bootstrap,
            &latency_topic,
            &settings.samples.to_string(),
            acks,
            &size.to_string(),
        ]),
    )?;
    // "Percentiles: 50th = 6, 99th = 28, 99.9th = 309", in whole milliseconds.
    let line = out
        .lines()
        .find(|l| l.starts_with("Percentiles: "))
        .ok_or_else(|| format!("EndToEndLatency printed no percentiles: {out}"))?;
    let figure = |name: &str| -> Result<f64> {
        let after = line
            .split(name)
            .nth(1)
            .ok_or_else(|| format!("no {name} in {line:?}"))?;
        Ok(after
            .trim_start_matches([' ', '='])
            .split([',', ' '])
            .next()
            .unwrap_or_default()
            .parse::<f64>()?
            * 1e3)
    };
    Ok(Latency {
        p50: figure("50th")?,
        p99: figure("99th")?,
    })
}

/// One of Kafka's tools, as broker.sh runs it.
fn tool(settings: &Settings, name: &str) -> Command {
    let mut command = Command::new(&settings.broker_sh);
    command.args(["tool", name]);
    command
}

/// Runs a client to its end; its standard output, or its failure with what it said.
fn run_client(command: &mut Command) -> Result<String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{command:?} failed ({}): {}{}",
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(stdout)
}
