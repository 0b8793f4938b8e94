//! `strom::streams` beside Kafka Streams: seven topologies written with `strom::streams`
//! here and with Kafka Streams in `kafka/tests/reference/streams` (the same names, windows
//! and joiners), fed the same generated input, their outputs compared record by record.
//!
//! - [`generate`] makes the input: seeded, with out-of-order records inside the windows'
//!   grace and late ones past it, tombstones for the table, records without a key.
//! - [`run`] drives one topology with strom's `TopologyTestDriver` and returns what it
//!   wrote, as [`Output`]s; Kafka's side writes the same [`Output`]s as JSON lines.
//! - [`compare`] holds the two side by side, topic by topic ([`VIEWS`]): the stream of
//!   updates in order, and the final value per key and window.
//!
//! ```
//! use strom_streams_reference::{generate, run, Group};
//!
//! let input = generate(200, 7, &[Group::Lines]);
//! let out = run("wordcount", &input)?;
//! assert!(out.iter().all(|o| o.topic == "wordcount-out"));
//! # Ok::<(), strom::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use strom::streams::{
    Codec, JoinWindows, Json, SessionWindows, StreamsBuilder, TimeWindows, Topology,
    TopologyTestDriver, Windowed,
};

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;

/// The tumbling count's windows: a minute, records up to 10 s late counted.
pub const TUMBLING: (i64, i64) = (MINUTE, 10 * SECOND);
/// The hopping count's windows: size, advance and grace.
pub const HOPPING: (i64, i64, i64) = (MINUTE, 20 * SECOND, 15 * SECOND);
/// The session count's inactivity gap and grace.
pub const SESSION: (i64, i64) = (30 * SECOND, 10 * SECOND);
/// The stream-stream joins' time difference and grace.
pub const JOIN: (i64, i64) = (10 * SECOND, 5 * SECOND);
/// `examples/fraud`'s velocity rule: 5-minute windows every 10 s, an hour of grace.
pub const FRAUD: (i64, i64, i64) = (5 * MINUTE, 10 * SECOND, 60 * MINUTE);
/// More withdrawals than this in one window raise an alert.
pub const FRAUD_THRESHOLD: u64 = 3;

/// The topologies, in the order both sides run them.
pub const TOPOLOGIES: [&str; 7] = [
    "wordcount",
    "tumbling",
    "hopping",
    "session",
    "stream-table",
    "stream-stream",
    "fraud",
];

/// One input record, a line of the input file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// The topic it is piped into.
    pub topic: String,
    /// Its key; `None` is Kafka's `null`.
    pub key: Option<String>,
    /// Its value; `None` is a tombstone.
    pub value: Option<String>,
    /// Its timestamp, ms since the epoch.
    pub ts: i64,
}

/// One record a topology wrote, as both sides write it: a line of an output file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// The topology that wrote it.
    pub topology: String,
    /// The topic it went to.
    pub topic: String,
    /// Its key (for a windowed key, the record key).
    pub key: Option<String>,
    /// A windowed key's window start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
    /// A windowed key's window end, where the topic's key format carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<i64>,
    /// Its value: a number for counts, a string for joins and alerts, `null` for a delete.
    pub value: Value,
    /// Its timestamp, ms since the epoch.
    pub ts: i64,
}

/// The input topics, in groups each topology reads one of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// `lines`: sentences of a few words, for the word count.
    Lines,
    /// `events`: user events, for the tumbling, hopping and session counts.
    Events,
    /// `users` (a table: regions, and tombstones) and `clicks`, for the stream-table joins.
    Users,
    /// `left` and `right`, for the stream-stream joins.
    Pairs,
    /// `transactions`: withdrawals and deposits, for the fraud rule.
    Transactions,
}

impl Group {
    /// Every group.
    pub const ALL: [Group; 5] = [
        Group::Lines,
        Group::Events,
        Group::Users,
        Group::Pairs,
        Group::Transactions,
    ];

    /// The group `name` (`lines`, `events`, `users`, `pairs`, `transactions`).
    pub fn named(name: &str) -> Option<Group> {
        Self::ALL.into_iter().find(|g| g.name() == name)
    }

    /// The group's name.
    pub fn name(self) -> &'static str {
        match self {
            Group::Lines => "lines",
            Group::Events => "events",
            Group::Users => "users",
            Group::Pairs => "pairs",
            Group::Transactions => "transactions",
        }
    }
}

/// splitmix64: a small seeded generator, so that the input is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// `lo..hi` in ms.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + i64::try_from(self.below((hi - lo).unsigned_abs())).unwrap_or(0)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Event time: mostly forward, some records out of order (`back_ms` behind the newest,
/// inside the windows' grace) and some late (`late_ms` behind, past it).
struct Clock {
    now: i64,
    step_ms: i64,
    jump: (u64, i64, i64),
    back: (u64, i64),
    late: (u64, i64, i64),
}

impl Clock {
    fn tick(&mut self, rng: &mut Rng) -> i64 {
        self.now += rng.between(0, self.step_ms);
        if rng.chance(self.jump.0) {
            self.now += rng.between(self.jump.1, self.jump.2);
        }
        let ts = if rng.chance(self.back.0) {
            self.now - rng.between(1, self.back.1)
        } else if rng.chance(self.late.0) {
            self.now - rng.between(self.late.1, self.late.2)
        } else {
            self.now
        };
        ts.max(0)
    }
}

const WORDS: [&str; 16] = [
    "the", "log", "is", "a", "stream", "of", "records", "kafka", "strom", "window", "late",
    "early", "join", "table", "count", "key",
];

/// `records` records of each of `groups`, from `seed`, in one interleaved sequence.
///
/// The event times are those each topology's windows are about: forward steps with pauses
/// (sessions end), records out of order inside the grace and records past it (dropped).
pub fn generate(records: usize, seed: u64, groups: &[Group]) -> Vec<Input> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(records * groups.len());
    for &group in groups {
        let mut clock = match group {
            Group::Lines => Clock {
                now: 0,
                step_ms: SECOND,
                jump: (0, 0, 1),
                back: (20, 5 * SECOND),
                late: (0, 0, 1),
            },
            Group::Events => Clock {
                now: 0,
                step_ms: 4 * SECOND,
                jump: (5, 40 * SECOND, 90 * SECOND),
                back: (20, 20 * SECOND),
                late: (6, 60 * SECOND, 200 * SECOND),
            },
            Group::Users => Clock {
                now: 0,
                step_ms: 2 * SECOND,
                jump: (0, 0, 1),
                back: (10, 10 * SECOND),
                late: (0, 0, 1),
            },
            Group::Pairs => Clock {
                now: 0,
                step_ms: 3 * SECOND,
                jump: (3, 20 * SECOND, 40 * SECOND),
                back: (20, 15 * SECOND),
                late: (5, 20 * SECOND, 60 * SECOND),
            },
            Group::Transactions => Clock {
                now: 0,
                step_ms: 30 * SECOND,
                jump: (3, 10 * MINUTE, 30 * MINUTE),
                back: (15, 10 * MINUTE),
                late: (3, 62 * MINUTE, 120 * MINUTE),
            },
        };
        for i in 0..records {
            let ts = clock.tick(&mut rng);
            let record = match group {
                Group::Lines => {
                    let words = 1 + rng.below(6);
                    let line: Vec<&str> = (0..words)
                        .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
                        .collect();
                    let key = (!rng.chance(10)).then(|| format!("s{i}"));
                    input("lines", key, Some(line.join(" ")), ts)
                }
                Group::Events => {
                    // Skewed keys: some busy, some rare (whose sessions close).
                    let busy = 1 + rng.below(8);
                    let key = format!("user{}", rng.below(busy));
                    input("events", Some(key), Some(format!("e{i}")), ts)
                }
                Group::Users if rng.chance(30) => {
                    let key = format!("user{}", rng.below(8));
                    let region = ["eu", "us", "asia"][rng.below(3) as usize];
                    let value = (!rng.chance(20)).then(|| format!("{region}{i}"));
                    input("users", Some(key), value, ts)
                }
                Group::Users => {
                    let key = (!rng.chance(5)).then(|| format!("user{}", rng.below(10)));
                    input("clicks", key, Some(format!("c{i}")), ts)
                }
                Group::Pairs => {
                    let (topic, tag) = if rng.chance(50) {
                        ("left", "l")
                    } else {
                        ("right", "r")
                    };
                    let key = (!rng.chance(2)).then(|| format!("k{}", rng.below(6)));
                    input(topic, key, Some(format!("{tag}{i}")), ts)
                }
                Group::Transactions => {
                    let key = format!("u{}", rng.below(6));
                    let kind = if rng.chance(60) {
                        "withdrawal"
                    } else {
                        "deposit"
                    };
                    let value = format!("{kind}:{}", 10 + rng.below(990));
                    input("transactions", Some(key), Some(value), ts)
                }
            };
            out.push(record);
        }
    }
    out
}

fn input(topic: &str, key: Option<String>, value: Option<String>, ts: i64) -> Input {
    Input {
        topic: topic.to_string(),
        key,
        value,
        ts,
    }
}

fn ms(ms: i64) -> Duration {
    Duration::from_millis(ms.unsigned_abs())
}

/// How an output topic's records are read back.
#[derive(Clone, Copy, Debug)]
enum Keys {
    Plain,
    /// A time-windowed key of windows of this size (the end is start + size).
    TimeWindowed(i64),
    /// A session-windowed key as strom's `KTable::to` writes it: key and start.
    SessionStart,
    /// A JSON `[key, start, end]`.
    Triple,
}

/// The topics a topology reads, and those it writes with how to read them back.
type Topics = (&'static [&'static str], Vec<(&'static str, Keys, bool)>);

/// A topology, the topics it reads and the topics it writes.
struct Reference {
    topology: Topology,
    inputs: &'static [&'static str],
    outputs: Vec<(&'static str, Keys, bool)>,
}

fn reference(name: &str) -> strom::Result<Reference> {
    let builder = StreamsBuilder::new();
    let (inputs, outputs): (&[&str], _) = match name {
        "wordcount" => {
            builder
                .stream::<String, String>("lines")
                .flat_map_values(|line| line.split(' ').map(str::to_string).collect::<Vec<_>>())
                .group_by(|_, word| word.clone())
                .count("word-counts")
                .to_stream()
                .to("wordcount-out");
            (&["lines"], vec![("wordcount-out", Keys::Plain, true)])
        }
        "tumbling" => {
            let (size, grace) = TUMBLING;
            windowed_count(
                &builder,
                "tumbling-counts",
                "tumbling-out",
                TimeWindows::of(ms(size)).grace(ms(grace)),
            );
            (
                &["events"],
                vec![("tumbling-out", Keys::TimeWindowed(size), true)],
            )
        }
        "hopping" => {
            let (size, advance, grace) = HOPPING;
            windowed_count(
                &builder,
                "hopping-counts",
                "hopping-out",
                TimeWindows::of(ms(size))
                    .advance_by(ms(advance))
                    .grace(ms(grace)),
            );
            (
                &["events"],
                vec![("hopping-out", Keys::TimeWindowed(size), true)],
            )
        }
        "session" => session(&builder),
        "stream-table" => stream_table(&builder),
        "stream-stream" => stream_stream(&builder),
        "fraud" => fraud(&builder),
        other => {
            return Err(strom::Error::InvalidTopology {
                reason: format!("no reference topology {other:?}; there are {TOPOLOGIES:?}"),
            })
        }
    };
    Ok(Reference {
        topology: builder.build()?,
        inputs,
        outputs,
    })
}

/// The session count: updates and deletes, and the updates with their ends.
fn session(builder: &StreamsBuilder) -> Topics {
    let (gap, grace) = SESSION;
    let counts = builder
        .stream::<String, String>("events")
        .group_by_key()
        .windowed_by(SessionWindows::with_inactivity_gap(ms(gap)).grace(ms(grace)))
        .count("session-counts");
    // Updates and deletes, as Kafka's `toStream().to()` writes them (but the key
    // without the session's end), and the updates with their ends.
    counts.to("session-out");
    counts
        .to_stream()
        .map(|w, n| (Json((w.key.clone(), w.start_ms, w.end_ms)), *n))
        .to("session-updates");
    (
        &["events"],
        vec![
            ("session-out", Keys::SessionStart, true),
            ("session-updates", Keys::Triple, true),
        ],
    )
}

/// The stream-table joins, inner and left.
fn stream_table(builder: &StreamsBuilder) -> Topics {
    let users = builder.table::<String, String>("users", "users");
    let clicks = builder.stream::<String, String>("clicks");
    clicks
        .join_table(&users, |click, region| format!("{click}@{region}"))
        .to("stream-table-join");
    clicks
        .left_join_table(&users, |click, region| {
            format!("{click}@{}", region.map_or("-", String::as_str))
        })
        .to("stream-table-left-join");
    (
        &["users", "clicks"],
        vec![
            ("stream-table-join", Keys::Plain, false),
            ("stream-table-left-join", Keys::Plain, false),
        ],
    )
}

/// The windowed stream-stream joins, inner and left.
fn stream_stream(builder: &StreamsBuilder) -> Topics {
    let (difference, grace) = JOIN;
    let windows = JoinWindows::of(ms(difference)).grace(ms(grace));
    let left = builder.stream::<String, String>("left");
    let right = builder.stream::<String, String>("right");
    left.join(&right, windows, |l, r| format!("{l}+{r}"))
        .to("stream-stream-join");
    left.left_join(&right, windows, |l, r| {
        format!("{l}+{}", r.map_or("-", String::as_str))
    })
    .to("stream-stream-left-join");
    (
        &["left", "right"],
        vec![
            ("stream-stream-join", Keys::Plain, false),
            ("stream-stream-left-join", Keys::Plain, false),
        ],
    )
}

/// `examples/fraud`'s velocity rule: the windowed counts and the alerts.
fn fraud(builder: &StreamsBuilder) -> Topics {
    let (size, advance, grace) = FRAUD;
    let counts = builder
        .stream::<String, String>("transactions")
        .filter(|_user, tx| tx.starts_with("withdrawal:"))
        .group_by_key()
        .windowed_by(
            TimeWindows::of(ms(size))
                .advance_by(ms(advance))
                .grace(ms(grace)),
        )
        .count("withdrawals-5min")
        .to_stream();
    counts.to("fraud-counts");
    counts
        .filter(|_, n| *n > FRAUD_THRESHOLD)
        .map(|w, n| {
            let alert = format!("{} made {n} withdrawals from {}", w.key, w.start_ms);
            (w.key.clone(), alert)
        })
        .to("fraud-alerts");
    (
        &["transactions"],
        vec![
            ("fraud-counts", Keys::TimeWindowed(size), true),
            ("fraud-alerts", Keys::Plain, false),
        ],
    )
}

fn windowed_count(builder: &StreamsBuilder, store: &str, topic: &str, windows: TimeWindows) {
    builder
        .stream::<String, String>("events")
        .group_by_key()
        .windowed_by(windows)
        .count(store)
        .to_stream()
        .to(topic);
}

/// The input topics of `topology`.
///
/// # Errors
///
/// [`strom::Error::InvalidTopology`] for a name not in [`TOPOLOGIES`].
pub fn inputs(topology: &str) -> strom::Result<&'static [&'static str]> {
    Ok(reference(topology)?.inputs)
}

/// Runs `topology` over the records of `input` for its topics, with strom's
/// `TopologyTestDriver`; what it wrote, topic by topic in the order of its outputs.
///
/// # Errors
///
/// [`strom::Error::InvalidTopology`] for a name not in [`TOPOLOGIES`]; any error of the
/// driver (an output that does not decode).
pub fn run(topology: &str, input: &[Input]) -> strom::Result<Vec<Output>> {
    let mut out = Vec::new();
    drive(topology, input, Some(&mut out))?;
    Ok(out)
}

/// Runs `topology` as [`run`] does; `into`, when given, gets the outputs. Returns the
/// numbers of records in and out.
///
/// # Errors
///
/// As [`run`].
pub fn drive(
    topology: &str,
    input: &[Input],
    into: Option<&mut Vec<Output>>,
) -> strom::Result<(u64, u64)> {
    let Reference {
        topology: built,
        inputs,
        outputs: topics,
    } = reference(topology)?;
    let mut driver = TopologyTestDriver::new(built)?;
    let mut outputs: Vec<Vec<Output>> = vec![Vec::new(); topics.len()];
    let (mut piped, mut written) = (0_u64, 0_u64);
    for record in input {
        if !inputs.contains(&record.topic.as_str()) {
            continue;
        }
        driver.pipe_raw(
            &record.topic,
            record.key.as_deref().map(str::as_bytes),
            record.value.as_deref().map(str::as_bytes),
            record.ts,
        )?;
        piped += 1;
        // Drained as it goes, as Kafka's side does, so that a long input does not pile up.
        if piped % 10_000 == 0 {
            written += drain(topology, &topics, &mut driver, &mut outputs, into.is_some())?;
        }
    }
    written += drain(topology, &topics, &mut driver, &mut outputs, into.is_some())?;
    if let Some(into) = into {
        into.extend(outputs.into_iter().flatten());
    }
    Ok((piped, written))
}

fn drain(
    topology: &str,
    topics: &[(&str, Keys, bool)],
    driver: &mut TopologyTestDriver,
    outputs: &mut [Vec<Output>],
    keep: bool,
) -> strom::Result<u64> {
    let mut written = 0;
    for (i, &(topic, keys, counts)) in topics.iter().enumerate() {
        for record in driver.read_output_raw(topic) {
            written += 1;
            if !keep {
                continue;
            }
            let key = record.key.as_deref();
            let text = |bytes: &[u8]| String::decode(bytes);
            let (key, start, end) = match (keys, key) {
                (_, None) => (None, None, None),
                (Keys::Plain, Some(bytes)) => (Some(text(bytes)?), None, None),
                (Keys::TimeWindowed(size), Some(bytes)) => {
                    let w = Windowed::<String>::decode_with_size(bytes, size)?;
                    (Some(w.key), Some(w.start_ms), Some(w.end_ms))
                }
                (Keys::SessionStart, Some(bytes)) => {
                    let w = Windowed::<String>::decode(bytes)?;
                    (Some(w.key), Some(w.start_ms), None)
                }
                (Keys::Triple, Some(bytes)) => {
                    let Json((key, start, end)) = Json::<(String, i64, i64)>::decode(bytes)?;
                    (Some(key), Some(start), Some(end))
                }
            };
            let value = match record.value.as_deref() {
                None => Value::Null,
                Some(bytes) if counts => Value::from(u64::decode(bytes)?),
                Some(bytes) => Value::from(text(bytes)?),
            };
            outputs[i].push(Output {
                topology: topology.to_string(),
                topic: topic.to_string(),
                key,
                start,
                end,
                value,
                ts: record.timestamp_ms,
            });
        }
    }
    Ok(written)
}

/// One comparison of Kafka's and strom's outputs.
#[derive(Clone, Copy, Debug)]
pub struct View {
    /// The topology.
    pub topology: &'static str,
    /// What Kafka Streams wrote to this topic…
    pub kafka_topic: &'static str,
    /// …beside what strom wrote to this one.
    pub strom_topic: &'static str,
    /// Only Kafka's records with a value (strom's `to_stream` forwards no deletes).
    pub kafka_updates_only: bool,
    /// Kafka's window ends left out (strom's session key bytes have none).
    pub without_end: bool,
}

const fn view(topology: &'static str, topic: &'static str) -> View {
    View {
        topology,
        kafka_topic: topic,
        strom_topic: topic,
        kafka_updates_only: false,
        without_end: false,
    }
}

/// Every comparison: each output topic of each topology.
pub const VIEWS: [View; 11] = [
    view("wordcount", "wordcount-out"),
    view("tumbling", "tumbling-out"),
    view("hopping", "hopping-out"),
    View {
        without_end: true,
        ..view("session", "session-out")
    },
    View {
        strom_topic: "session-updates",
        kafka_updates_only: true,
        ..view("session", "session-out")
    },
    view("stream-table", "stream-table-join"),
    view("stream-table", "stream-table-left-join"),
    view("stream-stream", "stream-stream-join"),
    view("stream-stream", "stream-stream-left-join"),
    view("fraud", "fraud-counts"),
    view("fraud", "fraud-alerts"),
];

/// What one [`View`] found.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// The view.
    pub view: View,
    /// Kafka's records, in order.
    pub kafka: Vec<Output>,
    /// strom's records, in order.
    pub strom: Vec<Output>,
}

/// A record's key and window: what "the final value per key and window" is per.
type Slot = (Option<String>, Option<i64>, Option<i64>);

impl Comparison {
    /// Whether the two streams of updates are equal, record by record.
    pub fn identical(&self) -> bool {
        self.kafka == self.strom
    }

    /// The last value of each key and window, on each side.
    pub fn finals(&self) -> (BTreeMap<Slot, Value>, BTreeMap<Slot, Value>) {
        let last = |records: &[Output]| {
            records
                .iter()
                .map(|r| ((r.key.clone(), r.start, r.end), r.value.clone()))
                .collect::<BTreeMap<_, _>>()
        };
        (last(&self.kafka), last(&self.strom))
    }

    /// One line: the counts, and the first difference if any.
    pub fn summary(&self) -> String {
        let View {
            topology,
            kafka_topic,
            strom_topic,
            ..
        } = self.view;
        let (kafka_finals, strom_finals) = self.finals();
        let same_finals = kafka_finals
            .iter()
            .filter(|(slot, value)| strom_finals.get(*slot) == Some(value))
            .count();
        let mut line = format!(
            "{topology} {kafka_topic}{}: {} records from Kafka Streams, {} from strom, {}; \
             final values per key and window: {same_finals} of {} equal ({} from strom)",
            if strom_topic == kafka_topic {
                String::new()
            } else {
                format!(" (strom {strom_topic})")
            },
            self.kafka.len(),
            self.strom.len(),
            if self.identical() {
                "identical"
            } else {
                "DIFFERENT"
            },
            kafka_finals.len(),
            strom_finals.len(),
        );
        if let Some(i) = (0..self.kafka.len().max(self.strom.len()))
            .find(|&i| self.kafka.get(i) != self.strom.get(i))
        {
            let show = |r: Option<&Output>| {
                r.map_or("nothing".to_string(), |r| {
                    serde_json::to_string(r).unwrap_or_default()
                })
            };
            let _ = write!(
                line,
                "\n  first difference at record {i}:\n    Kafka Streams {}\n    strom         {}",
                show(self.kafka.get(i)),
                show(self.strom.get(i))
            );
        }
        line
    }
}

/// Kafka's and strom's outputs side by side, one [`Comparison`] per [`View`].
pub fn compare(kafka: &[Output], strom: &[Output]) -> Vec<Comparison> {
    VIEWS
        .iter()
        .map(|&view| {
            let kafka = kafka
                .iter()
                .filter(|r| r.topology == view.topology && r.topic == view.kafka_topic)
                .filter(|r| !view.kafka_updates_only || !r.value.is_null())
                .map(|r| Output {
                    end: if view.without_end { None } else { r.end },
                    topic: view.strom_topic.to_string(),
                    ..r.clone()
                })
                .collect();
            let strom = strom
                .iter()
                .filter(|r| r.topology == view.topology && r.topic == view.strom_topic)
                .cloned()
                .collect();
            Comparison { view, kafka, strom }
        })
        .collect()
}
