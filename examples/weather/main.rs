//! A weather feed: a producer collects the weather of eight cities every interval and sends
//! it as JSON to `open_weather_api_cities_data`; a consumer on its own thread prints each
//! record as it arrives. The log is durable: run it twice with `--dir` and the second run
//! finds the first one's rounds and reads them again before the new ones.
//!
//! The Kafka tutorial this follows polls the openweathermap.org API for these cities every
//! 10 s in a `while True` loop, and reads the topic back with `auto_offset_reset =
//! 'earliest'`. Here the API is a deterministic simulation (no network, no API key):
//! plausible climates, a daily swing and seeded noise, in the fields the tutorial keeps.
//! And where the tutorial sends each round's list as one message, each reading here is a
//! record of its own, keyed by city.
//!
//! Next to that consumer, a stream application (`strom::streams`, Kafka Streams' model in
//! process; `averages.rs`) keeps a rolling average per city: 3-hour windows advancing by an
//! hour (hopping windows) on event time, each round's record timestamp being the simulated
//! hour it was observed. It writes each window's average to `weather_averages` as it
//! changes; the summary prints the windows per city and checks each against a direct
//! computation over the readings in the topic.
//!
//! `--compression CODEC` (none, gzip, snappy, lz4 or zstd: Kafka's `compression.type`)
//! creates the topic with that codec, and the summary ends with the topic's bytes on disk.
//! Each reading is sent on its own, so each is a batch of one record, which stays
//! uncompressed where compressing would not make it smaller: with one small JSON reading
//! per batch the codecs save little, if anything.
//!
//! ```text
//! cargo run --example weather                               # 3 rounds, then a summary
//! cargo run --example weather -- --dir /tmp/w               # twice: the second finds the first
//! cargo run --example weather -- --follow --interval 10000  # the tutorial's loop, until Ctrl-C
//! cargo run --example weather -- --compression zstd         # a compressed topic
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use strom::{
    Broker, Compression, Consumer, ConsumerConfig, OffsetReset, Record, TopicConfig, TopicPartition,
};

mod averages;
mod simulation;

use simulation::{pull_weather_data, thousands, Weather, CITIES};

const TOPIC: &str = "open_weather_api_cities_data";
const USAGE: &str = "\
Simulated weather for eight cities, sent as JSON to the topic open_weather_api_cities_data
every interval and printed by a consumer (auto_offset_reset = earliest) as it arrives;
a stream application (weather-averages) keeps each city's average temperature over
3-hour windows advancing by 1 hour (event time: a round is a simulated hour), writes
them to weather_averages and, at the end, prints them, checked against a direct
computation over the readings.

usage: cargo run --example weather -- [options]
  --rounds N       rounds of eight readings, then stop with a summary (default 3)
  --interval MS    time between rounds in milliseconds (default 200)
  --follow         run until interrupted (Ctrl-C), like the tutorial's `while True`;
                   the data directory then stays behind
  --dir PATH       keep the log in PATH; run again to find the earlier rounds there
                   (default: a fresh temporary directory, removed at the end)
  --compression CODEC
                   compress the topic's batches with CODEC: none, gzip, snappy, lz4 or
                   zstd (Kafka's compression.type; default none, or for a topic already
                   in --dir, the codec it has); the summary shows the bytes on disk.
                   Each reading is its own batch, which stays uncompressed where
                   compression would not make it smaller
  --help           this text";

struct Options {
    rounds: Option<u64>,
    interval: Duration,
    dir: Option<PathBuf>,
    /// The codec asked for, if one was.
    compression: Option<Compression>,
}

/// The options, or `None` for `--help`.
fn parse_args() -> Result<Option<Options>, String> {
    let mut options = Options {
        rounds: Some(3),
        interval: Duration::from_millis(200),
        dir: None,
        compression: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        let number = |v: String| v.parse().map_err(|e| format!("{arg} {v}: {e}"));
        match arg.as_str() {
            "--rounds" => options.rounds = Some(number(value()?)?),
            "--interval" => options.interval = Duration::from_millis(number(value()?)?),
            "--follow" => options.rounds = None,
            "--dir" => options.dir = Some(PathBuf::from(value()?)),
            "--compression" => {
                let codec = value()?.parse::<Compression>();
                options.compression = Some(codec.map_err(|e| format!("--compression: {e}"))?);
            }
            "--help" | "-h" => return Ok(None),
            other => return Err(format!("unknown option {other} (see --help)")),
        }
    }
    Ok(Some(options))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(options) = parse_args()? else {
        println!("{USAGE}");
        return Ok(());
    };
    let temporary = std::env::temp_dir().join(format!("strom-weather-{}", std::process::id()));
    let dir = options.dir.clone().unwrap_or(temporary);
    let result = run(&options, &dir);
    if options.dir.is_none() && dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    result
}

fn run(options: &Options, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let broker = Broker::open(dir)?;
    let codec = options.compression.unwrap_or_default();
    // Time retention compares record timestamps (the simulated hours, from 2026-01-01) with
    // the clock, as Kafka's does, and would delete the rounds kept with --dir: kept for ever.
    let config = TopicConfig::default().compression(codec).retention_ms(-1);
    match broker.create_topic(TOPIC, config) {
        Ok(()) => println!("created topic {TOPIC} ({codec}) in {}", dir.display()),
        Err(strom::Error::TopicExists { .. }) => {
            let config = broker.describe_topic(TOPIC)?.config;
            println!(
                "opened {TOPIC} ({}) in {}",
                config.compression,
                dir.display()
            );
            // Another codec asked for: it compresses the batches sent from now on.
            if let Some(codec) = options.compression.filter(|&c| c != config.compression) {
                let was = config.compression;
                broker.alter_topic(TOPIC, config.compression(codec))?;
                println!("compression {was} -> {codec} for the batches sent from now on");
            }
        }
        Err(e) => return Err(e.into()),
    }
    let app = averages::start(&broker, TOPIC)?;

    // One partition (Kafka's default), so offsets give the order of every record.
    let earlier = broker.describe_topic(TOPIC)?.partitions[0].high_watermark;

    // As the tutorial's consumer without a group: from the earliest offset, committing
    // nothing, so every run reads the whole topic again, earlier runs' records first.
    let config = ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest);
    let mut consumer = broker.consumer(config);
    consumer.assign(&[TopicPartition::new(TOPIC, 0)])?;
    replay(&mut consumer, earlier)?;
    let start = Instant::now();
    let end = Arc::new(AtomicU64::new(u64::MAX)); // the offset to stop at; none yet
    let reader = thread::spawn({
        let end = Arc::clone(&end);
        move || print_arrivals(&mut consumer, start, earlier, &end)
    });

    if options.rounds.is_none() {
        println!(
            "following: Ctrl-C to stop; the log stays in {}",
            dir.display()
        );
    }
    let producer = broker.producer();
    let first_round = earlier / CITIES.len() as u64;
    let mut sent = 0u32;
    for round in first_round.. {
        if options.rounds.is_some_and(|n| round - first_round >= n) {
            break;
        }
        if round > first_round {
            thread::sleep(options.interval);
        }
        println!("round {}: sending {} readings", round + 1, CITIES.len());
        for weather in pull_weather_data(round, unix_now()) {
            let record = Record::new(serde_json::to_vec(&weather)?)
                .key(weather.city.as_str()) // a city's readings stay in order in one partition
                .timestamp(averages::observed_at(round)) // event time: the simulated hour
                .header("sent-at-ns", start.elapsed().as_nanos().to_string());
            producer.send(TOPIC, record)?;
            sent += 1;
        }
    }
    end.store(earlier + u64::from(sent), Ordering::Release);
    let mut latencies = reader.join().map_err(|_| "the consumer panicked")??;
    let elapsed = start.elapsed().as_secs_f64();
    let averages = averages::finish(app, &broker, TOPIC)?;
    let topic = broker.describe_topic(TOPIC)?;
    let total = topic.partitions[0].high_watermark;
    let on_disk: u64 = topic.partitions.iter().map(|p| p.size_bytes).sum();
    broker.close()?;

    latencies.sort();
    let median = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or_default();
    let max = latencies.last().copied().unwrap_or_default();
    println!(
        "\nsummary: {sent} readings ({} cities × {} rounds) sent and received in {elapsed:.2} s \
         ({:.0}/s, paced by --interval)\nsend to receive: median {} µs, max {} µs\n\
         bytes on disk: {} ({})",
        CITIES.len(),
        sent / CITIES.len() as u32,
        f64::from(sent) / elapsed,
        median.as_micros(),
        max.as_micros(),
        thousands(on_disk),
        topic.config.compression,
    );
    let then = match options.dir {
        Some(_) => "run again to find them",
        None => "removed (keep it with --dir)",
    };
    let dir = dir.display();
    println!("the log holds {total} records ({earlier} from earlier runs) in {dir}: {then}");
    if latencies.len() != sent as usize || total != earlier + u64::from(sent) {
        let got = latencies.len();
        return Err(format!("sent {sent}, received {got}; the log holds {total}").into());
    }
    averages.print_and_check()?;
    Ok(())
}

/// Reads the `earlier` records already in the log, and shows the first and the last.
fn replay(consumer: &mut Consumer, earlier: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut replayed = Vec::new();
    while (replayed.len() as u64) < earlier {
        let records = consumer.poll(Duration::from_secs(1))?;
        if records.is_empty() {
            return Err(format!("only {} of {earlier} earlier records", replayed.len()).into());
        }
        for record in &records {
            let weather: Weather = record.json()?;
            let age = unix_now().saturating_sub(weather.last_update_time);
            let offset = record.offset();
            replayed.push(format!("@{offset:<3} {}, {age} s old", show(&weather)));
        }
    }
    if let (Some(first), Some(last)) = (replayed.first(), replayed.last()) {
        println!("found {earlier} records from earlier runs (the log is durable):");
        println!("  replayed {first}\n  ...\n  replayed {last}");
    }
    Ok(())
}

/// The tutorial's `for message in consumer: print(...)`: prints each record as it arrives,
/// from offset `next` until `end`, checking that offsets follow each other. Returns the
/// time each one took from `send` to here.
fn print_arrivals(
    consumer: &mut Consumer,
    start: Instant,
    mut next: u64,
    end: &AtomicU64,
) -> Result<Vec<Duration>, String> {
    let (mut latencies, mut quiet) = (Vec::new(), Instant::now());
    while next < end.load(Ordering::Acquire) {
        let records = consumer
            .poll(Duration::from_millis(100))
            .map_err(|e| e.to_string())?;
        for record in &records {
            let sent = record.headers().find(|(name, _)| *name == "sent-at-ns");
            let sent = sent.and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok());
            let after = start
                .elapsed()
                .saturating_sub(Duration::from_nanos(sent.unwrap_or(0)));
            let weather: Weather = record.json().map_err(|e| e.to_string())?;
            let offset = record.offset();
            let micros = after.as_micros();
            println!(
                "  received @{offset:<3} {}  ({micros} µs after send)",
                show(&weather)
            );
            if offset != next {
                return Err(format!("offset {offset} arrived where {next} was next"));
            }
            (next, quiet) = (offset + 1, Instant::now());
            latencies.push(after);
        }
        // Once everything is sent, it is all in the log: a pause means records went missing.
        if end.load(Ordering::Acquire) != u64::MAX && quiet.elapsed() > Duration::from_secs(5) {
            return Err(format!("nothing new for 5 s after offset {next}"));
        }
    }
    Ok(latencies)
}

/// One reading on one line.
fn show(w: &Weather) -> String {
    let place = format!("{}, {}", w.city, w.country);
    let (t, feels, rh) = (w.temperature, w.feels_like, w.humidity);
    format!("{place:<16} {t:6.2} °C (feels {feels:6.2} °C), humidity {rh:3}%")
}

fn unix_now() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_secs()).unwrap_or(i64::MAX)
}
