//! The rolling averages: a `strom::streams` application next to the tutorial's consumer.
//! Per city, the mean temperature over 3-hour windows that start every hour (hopping
//! windows), on the readings' event time (their record timestamps), written to
//! `weather_averages` as each window's average changes.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strom::streams::{
    Json, Streams, StreamsBuilder, StreamsConfig, TimeWindows, Topology, Windowed,
};
use strom::{Broker, Consumer, ConsumerConfig, OffsetReset, TopicConfig, TopicPartition};

use crate::simulation::Weather;

/// The output topic: one record per update of a city's window.
const AVERAGES: &str = "weather_averages";
/// The application id: the consumer group of its tasks, and the prefix of its changelog,
/// `__weather-averages-temperature-3h-changelog`.
const APPLICATION: &str = "weather-averages";
/// The windowed state store, per city and window: the sum and count of the readings.
const STORE: &str = "temperature-3h";
const HOUR_MS: i64 = 3_600_000;
/// A round is an hour of simulated weather: round `r` is observed at `SIM_START_MS + r`
/// hours (2026-01-01T00:00Z), the record's timestamp, so that windows are on event time
/// and a run with `--dir` continues the previous run's day.
const SIM_START_MS: i64 = 1_767_225_600_000;
const WINDOW_HOURS: i64 = 3;

/// The event time of round `round`'s readings.
pub(crate) fn observed_at(round: u64) -> i64 {
    SIM_START_MS + i64::try_from(round).unwrap_or(i64::MAX / HOUR_MS) * HOUR_MS
}

/// 3-hour windows, a new one every hour: each reading counts in three windows. Rounds
/// arrive in event-time order, so no grace is needed.
fn windows() -> TimeWindows {
    TimeWindows::of(Duration::from_millis(
        (WINDOW_HOURS * HOUR_MS).unsigned_abs(),
    ))
    .advance_by(Duration::from_millis(HOUR_MS.unsigned_abs()))
}

/// A window's running mean: the aggregate kept in the store.
#[derive(Clone, Copy, Default, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Mean {
    pub(crate) sum: f64,
    pub(crate) count: u64,
}

impl Mean {
    fn add(self, value: f64) -> Self {
        Self {
            sum: self.sum + value,
            count: self.count + 1,
        }
    }

    #[expect(clippy::cast_precision_loss, reason = "a handful of readings")]
    pub(crate) fn average(&self) -> f64 {
        self.sum / self.count as f64
    }
}

/// What `weather_averages` holds, keyed by city.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WindowAverage {
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    pub(crate) readings: u64,
    pub(crate) average: f64,
}

/// The application: `group_by_key` (the city), `windowed_by` hopping windows, `aggregate`
/// into a [`Mean`] per city and window, and every update out to [`AVERAGES`].
fn topology(source: &str) -> strom::Result<Topology> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, Json<Weather>>(source)
        .group_by_key()
        .windowed_by(windows())
        .aggregate(STORE, Json::<Mean>::default, |_city, reading, mean| {
            Json(mean.add(reading.temperature))
        })
        .to_stream()
        .map(|window, mean| {
            let average = WindowAverage {
                start_ms: window.start_ms,
                end_ms: window.end_ms,
                readings: mean.count,
                average: mean.average(),
            };
            (window.key.clone(), Json(average))
        })
        .to(AVERAGES);
    builder.build()
}

/// Starts the application on `source`, from where it left off in an earlier run (the
/// group's committed offsets, its windows restored from their changelog); creates its
/// output topic the first time.
pub(crate) fn start(broker: &Broker, source: &str) -> Result<Streams, Box<dyn std::error::Error>> {
    // Dated by the readings' simulated hours: no time retention, as for the readings.
    match broker.create_topic(AVERAGES, TopicConfig::default().retention_ms(-1)) {
        Ok(()) | Err(strom::Error::TopicExists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let config = StreamsConfig::new(APPLICATION);
    let mut app = Streams::new(broker, topology(source)?, config)?;
    app.start()?;
    Ok(app)
}

/// What the application published, and what it should have.
pub(crate) struct Report {
    published: Windows,
    expected: Windows,
    /// Windows still open (not past their end in stream time) in the store.
    open: usize,
}

/// Waits until the application has every reading sent in its windows, closes it, and reads
/// its output and the readings back.
pub(crate) fn finish(
    app: Streams,
    broker: &Broker,
    source: &str,
) -> Result<Report, Box<dyn std::error::Error>> {
    if !app.wait_until_caught_up(Duration::from_secs(10))? {
        return Err("the rolling averages did not catch up in 10 s".into());
    }
    // The store as of now: closed windows have been evicted from it.
    let open = app.store::<Windowed<String>, Json<Mean>>(STORE)?.len();
    app.close()?;
    Ok(Report {
        published: published(broker)?,
        expected: direct(broker, source)?,
        open,
    })
}

impl Report {
    /// Prints the windows; an error if any differs from the direct computation.
    pub(crate) fn print_and_check(&self) -> Result<(), String> {
        print(&self.published);
        check(&self.published, &self.expected)?;
        let windows: usize = self.published.values().map(BTreeMap::len).sum();
        println!(
            "{windows} windows, each with the count and average computed directly from the \
             readings; {} still open in the store `{STORE}`",
            self.open
        );
        Ok(())
    }
}

/// City → window start → the window's mean.
type Windows = BTreeMap<String, BTreeMap<i64, Mean>>;

/// The windows computed directly from every reading in `topic`, by their timestamps: what
/// the application must have found. By hand, not through `TimeWindows`: a reading at `t`
/// is in the windows starting at the three whole hours at or before `t`.
fn direct(broker: &Broker, topic: &str) -> Result<Windows, Box<dyn std::error::Error>> {
    let mut expected = Windows::new();
    for record in read_all(broker, topic)? {
        let reading: Weather = record.json()?;
        let per_city = expected.entry(reading.city).or_default();
        let hour_start = record.timestamp().div_euclid(HOUR_MS) * HOUR_MS;
        for back in 0..WINDOW_HOURS {
            let mean = per_city.entry(hour_start - back * HOUR_MS).or_default();
            *mean = mean.add(reading.temperature);
        }
    }
    Ok(expected)
}

/// The last update of each window in [`AVERAGES`]: what the application published.
fn published(broker: &Broker) -> Result<Windows, Box<dyn std::error::Error>> {
    let mut found = Windows::new();
    for record in read_all(broker, AVERAGES)? {
        let city = record.key().ok_or("an average without a city")?;
        let city = String::from_utf8_lossy(city).into_owned();
        let update: WindowAverage = record.json()?;
        #[expect(clippy::cast_precision_loss, reason = "a handful of readings")]
        let sum = update.average * update.readings as f64;
        let mean = Mean {
            sum,
            count: update.readings,
        };
        found.entry(city).or_default().insert(update.start_ms, mean);
    }
    Ok(found)
}

/// Every record of partition 0 of `topic` (one partition), from the start.
fn read_all(
    broker: &Broker,
    topic: &str,
) -> Result<Vec<strom::ConsumerRecord>, Box<dyn std::error::Error>> {
    let end = broker.describe_topic(topic)?.partitions[0].high_watermark;
    let config = ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest);
    let mut consumer: Consumer = broker.consumer(config);
    consumer.assign(&[TopicPartition::new(topic, 0)])?;
    let mut records = Vec::new();
    while (records.len() as u64) < end {
        let batch = consumer.poll(Duration::from_secs(1))?;
        if batch.is_empty() {
            return Err(format!("{topic}: {} of {end} records read", records.len()).into());
        }
        records.extend(batch);
    }
    Ok(records)
}

/// Prints each city's windows on one line: start hour (UTC), average, readings.
fn print(windows: &Windows) {
    println!(
        "\nrolling averages (`{APPLICATION}`: {WINDOW_HOURS}-hour windows advancing by 1 hour, \
         event time),\n  per window: hours (UTC) average °C (readings)"
    );
    for (city, per_window) in windows {
        let shown: Vec<String> = per_window
            .iter()
            .map(|(start, mean)| {
                let hour = (start - SIM_START_MS).div_euclid(HOUR_MS);
                let (from, to) = (hour.rem_euclid(24), (hour + WINDOW_HOURS).rem_euclid(24));
                format!("{from:02}-{to:02}h {:5.2} ({})", mean.average(), mean.count)
            })
            .collect();
        println!("  {city:<13} {}", shown.join(" | "));
    }
}

/// The published windows against the direct computation: the same windows, the same
/// counts, the same averages (to rounding).
fn check(published: &Windows, expected: &Windows) -> Result<(), String> {
    for (city, want) in expected {
        let got = published
            .get(city)
            .ok_or(format!("no averages for {city}"))?;
        if got.len() != want.len() {
            let (g, w) = (got.len(), want.len());
            return Err(format!("{city}: {g} windows published, {w} computed"));
        }
        for ((start, g), (w_start, w)) in got.iter().zip(want) {
            if start != w_start || g.count != w.count || (g.average() - w.average()).abs() > 1e-9 {
                return Err(format!(
                    "{city}: window at {start} is {g:?}, computed {w:?}"
                ));
            }
        }
    }
    if published.len() != expected.len() {
        return Err(format!(
            "averages for {} cities, readings for {}",
            published.len(),
            expected.len()
        ));
    }
    Ok(())
}
