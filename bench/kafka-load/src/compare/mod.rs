//! `kafka-load compare`: strom embedded, `strom serve` and Apache Kafka on the same work, in
//! one run, printed as the README's table and one line per goal.
//!
//! - strom embedded: `Producer::send` (one record per call) and `send_batch` (1000 a call)
//!   into a topic of `--partitions` partitions, from one thread and from a thread per core,
//!   read back with `Consumer::poll` (assigned, no group, 10 000 records a poll), and
//!   `send` → a `poll` waiting at the end of the log.
//! - `strom serve` (the `--strom` binary, its own data directory) and Apache Kafka 4.4.0
//!   (started by `kafka/tests/reference/broker.sh`, heap `KAFKA_HEAP`), both driven by the
//!   same clients with the same settings: `rdkafka-perf` (bench/kafka-load/rdkafka/perf.c,
//!   librdkafka: linger.ms=5, batch.size=1000000, acks=all idempotent) and Kafka's Java tools
//!   (kafka-producer-perf-test: linger.ms=5, batch.size=65536; kafka-consumer-perf-test;
//!   `EndToEndLatency`), with acks=1 and acks=all, 100-byte and 1 KiB records.
//! - Time to start: process exec → a Metadata request answered, on the data just written
//!   (embedded: `Broker::open` of it). Time to recover: the same after SIGKILL (embedded: a
//!   child process appending to the directory, killed), and until a fetch of the tail
//!   returns the last record.
//!
//! Every count is checked: a produce reports only what was acknowledged, a consume reads
//! exactly what was produced.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Failed, Result};

mod embedded;
mod remote;
mod table;

pub(crate) use embedded::writer;
use remote::Remote;

/// Record sizes compared, in bytes of value.
const SIZES: [usize; 2] = [100, 1024];
/// Producer acknowledgements compared.
const ACKS: [&str; 2] = ["1", "all"];
/// Records a `send_batch` call takes in the embedded row.
const EMBEDDED_BATCH: usize = 1000;
/// Records a `poll` returns at most in the embedded row.
const EMBEDDED_POLL: usize = 10_000;
/// The Java producer's batch size (its default is 16384, too small for 1 KiB records to
/// batch at all).
const JAVA_BATCH_BYTES: usize = 65_536;

/// What `compare` runs with.
#[derive(Debug)]
struct Settings {
    records: u64,
    samples: usize,
    partitions: usize,
    strom: PathBuf,
    rdkafka: PathBuf,
    broker_sh: PathBuf,
    kafka_heap: String,
    quick: bool,
}

impl Settings {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self> {
        let exe = std::env::current_exe()?;
        let mut settings = Self {
            records: 2_000_000,
            samples: 1_000,
            partitions: 4,
            strom: exe.with_file_name("strom"),
            rdkafka: exe.with_file_name("rdkafka-perf"),
            broker_sh: PathBuf::from("kafka/tests/reference/broker.sh"),
            kafka_heap: std::env::var("KAFKA_HEAP").unwrap_or_else(|_| "-Xmx1g".into()),
            quick: false,
        };
        let mut records = None;
        let mut samples = None;
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| Failed::from(format!("{name} needs a value")))
            };
            match arg.as_str() {
                "--records" => records = Some(value(&arg)?.parse()?),
                "--samples" => samples = Some(value(&arg)?.parse()?),
                "--partitions" => settings.partitions = value(&arg)?.parse()?,
                "--strom" => settings.strom = value(&arg)?.into(),
                "--rdkafka-perf" => settings.rdkafka = value(&arg)?.into(),
                "--broker-sh" => settings.broker_sh = value(&arg)?.into(),
                "--kafka-heap" => settings.kafka_heap = value(&arg)?,
                "--quick" => settings.quick = true,
                "-h" | "--help" => {
                    println!(
                        "kafka-load compare [--records N] [--samples S] [--partitions P] \
                         [--strom PATH] [--rdkafka-perf PATH] [--broker-sh PATH] \
                         [--kafka-heap -XmxM] [--quick]"
                    );
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?} (see --help)").into()),
            }
        }
        if settings.quick {
            settings.records = 20_000;
            settings.samples = 50;
        }
        settings.records = records.unwrap_or(settings.records);
        settings.samples = samples.unwrap_or(settings.samples);
        if settings.records < 1000 || settings.samples < 10 || settings.partitions == 0 {
            return Err("--records ≥ 1000, --samples ≥ 10 and --partitions ≥ 1, please".into());
        }
        Ok(settings)
    }

    /// Records of `size` bytes a produce run sends: 1 KiB runs send a quarter as many.
    fn records_of(&self, size: usize) -> u64 {
        if size > 100 {
            self.records / 4
        } else {
            self.records
        }
    }
}

/// A throughput figure.
#[derive(Debug, Clone, Copy)]
struct Rate {
    records: u64,
    size: usize,
    seconds: f64,
}

impl Rate {
    fn per_second(self) -> f64 {
        self.records as f64 / self.seconds
    }

    fn megabytes(self) -> f64 {
        self.per_second() * self.size as f64 / 1e6
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy)]
struct Latency {
    p50: f64,
    p99: f64,
}

/// One row of the table.
#[derive(Debug)]
struct Row {
    system: &'static str,
    client: &'static str,
    size: usize,
    acks: &'static str,
    produce: Option<Rate>,
    consume: Option<Rate>,
    latency: Option<Latency>,
    /// Cores the broker and the client used while producing (CPU time ÷ the run's time).
    cpu: Option<(f64, Option<f64>)>,
}

/// Start and recovery of one system.
#[derive(Debug)]
struct Startup {
    system: &'static str,
    on_disk: u64,
    records: u64,
    start: Duration,
    recover: Duration,
    tail: Duration,
}

const EMBEDDED: &str = "strom embedded";
const SERVE: &str = "strom serve";
const KAFKA: &str = "Apache Kafka 4.4.0";
const RDKAFKA: &str = "librdkafka";
const JAVA: &str = "Kafka's Java tools";

/// `kafka-load compare ...`
pub(crate) fn run(args: impl Iterator<Item = String>) -> Result<()> {
    let settings = Settings::parse(args)?;
    for (what, path) in [
        ("--strom", &settings.strom),
        ("--rdkafka-perf", &settings.rdkafka),
        ("--broker-sh", &settings.broker_sh),
    ] {
        if !path.is_file() {
            return Err(format!("{what} {} is not a file", path.display()).into());
        }
    }
    let began = Instant::now();
    let mut rows = Vec::new();
    let mut startups = Vec::new();
    // Progress on stderr: a full run takes minutes.
    let (embedded, startup) = embedded::rows(&settings)?;
    eprintln!(
        "compare: {EMBEDDED} measured ({:.0} s)",
        began.elapsed().as_secs_f64()
    );
    rows.extend(embedded);
    startups.push(startup);
    for system in [SERVE, KAFKA] {
        let phase = Instant::now();
        let mut remote = Remote::start(system, &settings)?;
        let (measured, startup) = remote::rows(&mut remote, &settings)?;
        remote.stop()?;
        eprintln!(
            "compare: {system} measured ({:.0} s)",
            phase.elapsed().as_secs_f64()
        );
        rows.extend(measured);
        startups.push(startup);
    }
    table::print(&settings, &rows, &startups, began.elapsed());
    Ok(())
}

fn percentiles(mut micros: Vec<f64>) -> Latency {
    micros.sort_by(f64::total_cmp);
    let at = |q: f64| micros[((micros.len() - 1) as f64 * q) as usize];
    Latency {
        p50: at(0.5),
        p99: at(0.99),
    }
}

/// Seconds of CPU (user + system) in a /proc stat line, from field `at` (counted after the
/// command name) and the next: 11 for the process's own, 13 for its waited-for children's.
fn cpu_seconds(stat: &str, at: usize) -> Result<f64> {
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(at).ok_or("short /proc stat")?.parse::<u64>()?
        + fields
            .get(at + 1)
            .ok_or("short /proc stat")?
            .parse::<u64>()?;
    Ok(ticks as f64 / crate::clock_ticks() as f64)
}

fn own_cpu() -> Result<f64> {
    cpu_seconds(&std::fs::read_to_string("/proc/self/stat")?, 11)
}

/// CPU of the clients run so far (children waited for).
fn children_cpu() -> Result<f64> {
    cpu_seconds(&std::fs::read_to_string("/proc/self/stat")?, 13)
}

/// Bytes the files under `dir` take on disk (as `du`: blocks allocated, so that files made
/// long ahead of their data count what they hold).
fn dir_bytes(dir: &Path) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            total += dir_bytes(&entry.path())?;
        } else if kind.is_file() {
            total += entry.metadata()?.blocks() * 512;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_comes_from_the_fields_after_the_command_name() {
        let tick = crate::clock_ticks() as f64;
        // pid (name with ) and spaces) state ppid ... utime stime cutime cstime
        let stat = format!("7 (a) b c) S {} 300 100 50 25 0", "1 ".repeat(10));
        assert!((cpu_seconds(&stat, 11).unwrap() - 400.0 / tick).abs() < 1e-9);
        assert!((cpu_seconds(&stat, 13).unwrap() - 75.0 / tick).abs() < 1e-9);
        assert!(cpu_seconds("7 (a) S 1", 11).is_err());
    }

    #[test]
    fn settings_quick_shrinks_and_1_kib_runs_send_a_quarter() {
        let parse = |args: &[&str]| Settings::parse(args.iter().map(ToString::to_string));
        let quick = parse(&["--quick"]).unwrap();
        assert_eq!((quick.records, quick.samples), (20_000, 50));
        assert_eq!(quick.records_of(1024), 5_000);
        let full = parse(&["--records", "4000", "--samples", "20"]).unwrap();
        assert_eq!((full.records_of(100), full.samples), (4000, 20));
        assert!(parse(&["--records", "10"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }
}
