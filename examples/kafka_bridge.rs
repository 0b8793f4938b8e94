//! An application that produces to its embedded log in process and lets Kafka's own tools
//! read it: the weather simulator's eight cities are sent to topic `weather` with
//! `Producer::send` (keyed by city, so each city stays on one of three partitions), while
//! `strom_kafka::KafkaServer` serves the same broker over Kafka's wire protocol.
//!
//! ```text
//! cargo run --example kafka_bridge                       # 127.0.0.1:9092, until Ctrl-C
//! kcat -b 127.0.0.1:9092 -C -t weather -e -f '%k %s\n'  # in another terminal
//! ```
//!
//! Options: `--listen HOST:PORT` (default 127.0.0.1:9092; port 0 picks one), `--dir DIR`
//! (default a temporary directory, removed at exit), `--interval MS` between rounds of eight
//! readings (default 1000), `--rounds N` to stop producing after N rounds, and
//! `--exit-when-read GROUP` to exit, after the last round, once consumer group GROUP has
//! committed the end of every partition (a reader proving it saw everything).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use strom::{Broker, Record, TopicConfig};
use strom_kafka::KafkaServer;

#[path = "weather/simulation.rs"]
#[allow(
    dead_code,
    reason = "the weather example's formatting helpers are not used here"
)]
mod simulation;

const TOPIC: &str = "weather";
const PARTITIONS: u32 = 3;

struct Options {
    listen: String,
    dir: Option<PathBuf>,
    interval: Duration,
    rounds: Option<u64>,
    exit_when_read: Option<String>,
}

fn parse_args() -> Result<Option<Options>, String> {
    let mut options = Options {
        listen: "127.0.0.1:9092".into(),
        dir: None,
        interval: Duration::from_secs(1),
        rounds: None,
        exit_when_read: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => options.listen = value()?,
            "--dir" => options.dir = Some(PathBuf::from(value()?)),
            "--interval" => {
                let ms = value()?;
                let ms = ms.parse().map_err(|e| format!("--interval {ms}: {e}"))?;
                options.interval = Duration::from_millis(ms);
            }
            "--rounds" => {
                let n = value()?;
                options.rounds = Some(n.parse().map_err(|e| format!("--rounds {n}: {e}"))?);
            }
            "--exit-when-read" => options.exit_when_read = Some(value()?),
            "--help" | "-h" => return Ok(None),
            other => return Err(format!("unknown option {other} (see --help)")),
        }
    }
    Ok(Some(options))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(options) = parse_args()? else {
        println!(
            "kafka_bridge [--listen HOST:PORT] [--dir DIR] [--interval MS] [--rounds N] \
             [--exit-when-read GROUP]"
        );
        return Ok(());
    };
    let temporary = tempfile::tempdir()?;
    let dir = options
        .dir
        .clone()
        .unwrap_or_else(|| temporary.path().into());
    run(&options, &dir)
}

fn run(options: &Options, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let broker = Broker::open(dir)?;
    if !broker.topics().iter().any(|t| t == TOPIC) {
        broker.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;
    }
    let server = KafkaServer::bind(broker.clone(), options.listen.as_str())?;
    let addr = server.local_addr();
    println!("serving {} to Kafka clients on {addr}", dir.display());
    println!("read it with kcat:");
    println!("  kcat -b {addr} -C -t {TOPIC} -e -f '%k %s\\n'");
    println!("or with kafka-python:");
    println!(
        "  python3 -c \"from kafka import KafkaConsumer; \
         c = KafkaConsumer('{TOPIC}', bootstrap_servers='{addr}', \
         auto_offset_reset='earliest', consumer_timeout_ms=2000); \
         [print(m.key.decode(), m.value.decode()) for m in c]\""
    );

    let stop = Arc::new(AtomicBool::new(false));
    watch_ctrl_c(Arc::clone(&stop));
    let producer = broker.producer();
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) && options.rounds.is_none_or(|n| round < n) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        for reading in simulation::pull_weather_data(round, i64::try_from(now)?) {
            let json = serde_json::to_vec(&reading)?;
            producer.send(TOPIC, Record::new(json).key(reading.city.as_str()))?;
        }
        round += 1;
        if options.rounds.is_none_or(|n| round < n) {
            thread::sleep(options.interval);
        }
    }
    println!("produced {} readings", round * 8);
    if let Some(group) = &options.exit_when_read {
        println!("waiting for group {group} to commit the end of {TOPIC}");
        while !stop.load(Ordering::Relaxed) && !read_to_end(&broker, group) {
            // The reader commits over the protocol; look again shortly.
            thread::sleep(Duration::from_millis(20));
        }
        println!("group {group} has read every reading");
    } else if options.rounds.is_some() {
        println!("serving until Ctrl-C");
        while !stop.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(50));
        }
    }
    server.shutdown()?;
    broker.close()?;
    Ok(())
}

/// Whether `group` has committed, on every partition of the topic, the partition's end.
fn read_to_end(broker: &Broker, group: &str) -> bool {
    let Ok(described) = broker.describe_group(group) else {
        return false;
    };
    let ours: Vec<_> = described
        .partitions
        .iter()
        .filter(|p| p.topic_partition.topic == TOPIC)
        .collect();
    ours.len() == PARTITIONS as usize && ours.iter().all(|p| p.committed.is_some() && p.lag == 0)
}

/// Sets `stop` on Ctrl-C (SIGINT), from a thread of its own.
fn watch_ctrl_c(stop: Arc<AtomicBool>) {
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build();
        if let Ok(runtime) = runtime {
            if runtime.block_on(tokio::signal::ctrl_c()).is_ok() {
                stop.store(true, Ordering::Relaxed);
            }
        }
    });
}
