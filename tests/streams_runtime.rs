//! `Streams` against a real broker: stateless pipelines end to end, a windowed count per key
//! against a reference, restart after `close` (stores restored, nothing reprocessed), and two
//! instances of one application sharing its partitions.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use strom::streams::{
    Codec, ProcessingGuarantee, Streams, StreamsBuilder, StreamsConfig, TimeWindows, Topology,
    Windowed, DEFAULT_CACHE_MAX_BYTES,
};
use strom::{Broker, IsolationLevel, Record, Result, TopicConfig};

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn filter_map_to_end_to_end() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("words", TopicConfig::default().partitions(3))?;
    broker.create_topic("long-words", TopicConfig::default().partitions(2))?;
    let words = ["a", "streams", "in", "process", "kafka", "be", "topology"];
    for (i, w) in words.iter().enumerate() {
        common::send_at(&broker, "words", &format!("k{i}"), w, 1_000)?;
    }
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("words")
        .filter(|_, w| w.len() > 2)
        .map(|_, w| (w.clone(), w.to_uppercase()))
        .to("long-words");
    let mut app = Streams::new(&broker, builder.build()?, StreamsConfig::new("upper"))?;
    app.start()?;
    assert!(app.wait_until_caught_up(WAIT)?);
    let mut got: Vec<(String, String)> =
        common::read_keyed(&broker, "long-words", IsolationLevel::ReadUncommitted)?
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v).expect("utf-8")))
            .collect();
    got.sort();
    let mut want: Vec<(String, String)> = words
        .iter()
        .filter(|w| w.len() > 2)
        .map(|w| ((*w).to_string(), w.to_uppercase()))
        .collect();
    want.sort();
    assert_eq!(got, want);
    // Partitioned by the encoded key, as `Producer::send` would.
    let probe = broker
        .producer()
        .send("long-words", Record::new("x").key("kafka"))?;
    let kafka = common::read_keyed(&broker, "long-words", IsolationLevel::ReadUncommitted)?;
    assert_eq!(kafka.iter().filter(|(k, _)| k == "kafka").count(), 2);
    let _ = probe;
    app.close()
}

fn windowed_count(
    app_id: &str,
    guarantee: ProcessingGuarantee,
) -> Result<(Topology, StreamsConfig)> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("clicks")
        .group_by_key()
        .windowed_by(TimeWindows::of(Duration::from_secs(60)).grace(Duration::from_secs(3600)))
        .count("clicks-per-minute")
        .to_stream()
        .map(|w, n| (w.key.clone(), *n))
        .to("click-counts");
    Ok((
        builder.build()?,
        StreamsConfig::new(app_id)
            .processing_guarantee(guarantee)
            .commit_interval(Duration::from_millis(20)),
    ))
}

/// `(key, window start) → count` of the records `(key, ts)`.
fn reference(records: &[(String, i64)]) -> BTreeMap<(String, i64), u64> {
    let mut counts = BTreeMap::new();
    for (key, ts) in records {
        *counts
            .entry((key.clone(), ts / 60_000 * 60_000))
            .or_insert(0) += 1;
    }
    counts
}

fn store_counts(app: &Streams) -> Result<BTreeMap<(String, i64), u64>> {
    Ok(app
        .store::<Windowed<String>, u64>("clicks-per-minute")?
        .all()
        .into_iter()
        .map(|(w, n)| ((w.key, w.start_ms), n))
        .collect())
}

fn click(i: u32) -> (String, i64) {
    (
        format!("user-{}", i % 7),
        1_000_000 + i64::from(i) * 7_919 % 400_000,
    )
}

fn produce_clicks(broker: &Broker, range: std::ops::Range<u32>) -> Result<Vec<(String, i64)>> {
    let mut sent = Vec::new();
    for i in range {
        let (key, ts) = click(i);
        common::send_at(broker, "clicks", &key, "c", ts)?;
        sent.push((key, ts));
    }
    Ok(sent)
}

#[test]
fn windowed_count_matches_reference_and_restores_after_close() -> Result<()> {
    for (guarantee, cache_max_bytes) in [
        (ProcessingGuarantee::AtLeastOnce, 0),
        (ProcessingGuarantee::ExactlyOnce, 0),
        (ProcessingGuarantee::AtLeastOnce, DEFAULT_CACHE_MAX_BYTES),
        (ProcessingGuarantee::ExactlyOnce, DEFAULT_CACHE_MAX_BYTES),
    ] {
        let case = format!("{guarantee:?}, cache of {cache_max_bytes} bytes");
        let dir = tempfile::tempdir().expect("tempdir");
        let broker = Broker::open(dir.path())?;
        broker.create_topic("clicks", TopicConfig::default().partitions(3))?;
        broker.create_topic("click-counts", TopicConfig::default().partitions(3))?;
        let mut sent = produce_clicks(&broker, 0..300)?;
        let (topology, config) = windowed_count("clicks-app", guarantee)?;
        let config = config.cache_max_bytes(cache_max_bytes);
        let mut app = Streams::new(&broker, topology.clone(), config.clone().num_threads(2))?;
        app.start()?;
        assert!(app.wait_until_caught_up(WAIT)?);
        assert_eq!(store_counts(&app)?, reference(&sent), "{case}");
        app.close()?;

        // Reopened: the store comes back from its changelog, and only new records count.
        sent.extend(produce_clicks(&broker, 300..450)?);
        let mut app = Streams::new(&broker, topology, config)?;
        app.start()?;
        assert!(app.wait_until_caught_up(WAIT)?);
        assert_eq!(store_counts(&app)?, reference(&sent), "{case} after reopen");
        app.close()?;
        let isolation = match guarantee {
            ProcessingGuarantee::AtLeastOnce => IsolationLevel::ReadUncommitted,
            ProcessingGuarantee::ExactlyOnce => IsolationLevel::ReadCommitted,
        };
        let updates = common::read_keyed(&broker, "click-counts", isolation)?.len();
        if cache_max_bytes == 0 {
            // Without the cache every count update goes out, once per input record.
            assert_eq!(updates, sent.len(), "{case}");
        } else {
            // With it, at most one per window per commit, and at least one per window.
            assert!(updates <= sent.len(), "{case}: {updates} updates");
            assert!(
                updates >= reference(&sent).len(),
                "{case}: {updates} updates"
            );
        }
    }
    Ok(())
}

/// Each key's updates as `count` values, in the order they were written (one partition).
fn updates_per_key(
    broker: &Broker,
    topic: &str,
    isolation: IsolationLevel,
) -> Result<BTreeMap<String, Vec<u64>>> {
    let mut per_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (key, value) in common::read_keyed(broker, topic, isolation)? {
        per_key.entry(key).or_default().push(u64::decode(&value)?);
    }
    Ok(per_key)
}

#[test]
fn the_record_cache_sends_one_update_per_key_per_commit() -> Result<()> {
    for guarantee in [
        ProcessingGuarantee::AtLeastOnce,
        ProcessingGuarantee::ExactlyOnce,
    ] {
        // A cache of one byte is full with any entry: each update is flushed as it is made.
        for cache_max_bytes in [DEFAULT_CACHE_MAX_BYTES, 0, 1] {
            let case = format!("{guarantee:?}, cache of {cache_max_bytes} bytes");
            let dir = tempfile::tempdir().expect("tempdir");
            let broker = Broker::open(dir.path())?;
            broker.create_topic("clicks", TopicConfig::default())?;
            broker.create_topic("click-counts", TopicConfig::default())?;
            for i in 0..300 {
                common::send_at(&broker, "clicks", &format!("user-{}", i % 3), "c", 5_000)?;
            }
            let builder = StreamsBuilder::new();
            builder
                .stream::<String, String>("clicks")
                .group_by_key()
                .count("clicks-per-user")
                .to_stream()
                .to("click-counts");
            // Every record is in the log before the start, and the interval is long: the
            // only commit is the one `wait_until_caught_up` asks for once all are read.
            let config = StreamsConfig::new("cached")
                .processing_guarantee(guarantee)
                .commit_interval(Duration::from_secs(3_600))
                .cache_max_bytes(cache_max_bytes);
            let mut app = Streams::new(&broker, builder.build()?, config)?;
            app.start()?;
            assert!(app.wait_until_caught_up(WAIT)?);
            let counts = app.store::<String, u64>("clicks-per-user")?.all();
            app.close()?;
            let users: Vec<String> = (0..3).map(|u| format!("user-{u}")).collect();
            let want: Vec<(String, u64)> = users.iter().map(|u| (u.clone(), 100)).collect();
            assert_eq!(counts, want, "{case}");
            let isolation = match guarantee {
                ProcessingGuarantee::AtLeastOnce => IsolationLevel::ReadUncommitted,
                ProcessingGuarantee::ExactlyOnce => IsolationLevel::ReadCommitted,
            };
            let updates = updates_per_key(&broker, "click-counts", isolation)?;
            let changelog =
                updates_per_key(&broker, "__cached-clicks-per-user-changelog", isolation)?;
            for user in &users {
                let want: Vec<u64> = if cache_max_bytes == DEFAULT_CACHE_MAX_BYTES {
                    vec![100]
                } else {
                    (1..=100).collect()
                };
                assert_eq!(updates.get(user), Some(&want), "{case}: updates of {user}");
                assert_eq!(
                    changelog.get(user),
                    Some(&want),
                    "{case}: changelog of {user}"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn two_instances_share_the_partitions() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("clicks", TopicConfig::default().partitions(4))?;
    broker.create_topic("click-counts", TopicConfig::default().partitions(4))?;
    let mut sent = produce_clicks(&broker, 0..200)?;
    let (topology, config) = windowed_count("shared-app", ProcessingGuarantee::AtLeastOnce)?;
    let mut a = Streams::new(&broker, topology.clone(), config.clone())?;
    let mut b = Streams::new(&broker, topology, config)?;
    a.start()?;
    b.start()?;
    sent.extend(produce_clicks(&broker, 200..400)?);
    assert!(a.wait_until_caught_up(WAIT)?);
    assert!(b.wait_until_caught_up(WAIT)?);
    // Wait for a stable group in which both hold tasks: each holds some keys, none twice.
    let group = broker.describe_group("shared-app")?;
    assert_eq!(group.members.len(), 2);
    assert!(group.members.iter().all(|m| !m.assignment.is_empty()));
    let from_a = store_counts(&a)?;
    let from_b = store_counts(&b)?;
    assert!(
        from_a.keys().all(|k| !from_b.contains_key(k)),
        "a key in both instances"
    );
    let mut merged = from_a;
    merged.extend(from_b);
    assert_eq!(merged, reference(&sent));
    a.close()?;
    b.close()
}

/// Two `ExactlyOnce` instances over inputs of 2 and 3 partitions, each counted per key:
/// every partition number is run by one member (one task, one transactional producer, one
/// writer of its changelog partitions), nothing is fenced, and the results are exact.
#[test]
fn exactly_once_instances_with_inputs_of_different_partition_counts() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("narrow", TopicConfig::default().partitions(2))?;
    broker.create_topic("wide", TopicConfig::default().partitions(3))?;
    broker.create_topic("copies", TopicConfig::default().partitions(2))?;
    broker.create_topic("narrow-counts", TopicConfig::default())?;
    broker.create_topic("wide-counts", TopicConfig::default())?;
    let send = |from: u32, to: u32| -> Result<()> {
        for i in from..to {
            common::send_at(&broker, "narrow", &format!("n{}", i % 10), "n", 1)?;
            common::send_at(&broker, "wide", &format!("w{}", i % 10), "w", 1)?;
        }
        Ok(())
    };
    send(0, 100)?;
    let topology = || {
        let builder = StreamsBuilder::new();
        for topic in ["narrow", "wide"] {
            let input = builder.stream::<String, String>(topic);
            input.to("copies");
            input
                .group_by_key()
                .count(&format!("{topic}-count"))
                .to_stream()
                .to(&format!("{topic}-counts"));
        }
        builder.build()
    };
    let config = StreamsConfig::new("copier")
        .processing_guarantee(ProcessingGuarantee::ExactlyOnce)
        .commit_interval(Duration::from_millis(10));
    let mut a = Streams::new(&broker, topology()?, config.clone())?;
    let mut b = Streams::new(&broker, topology()?, config)?;
    a.start()?;
    assert!(a.wait_until_caught_up(WAIT)?);
    b.start()?; // moves tasks from a to b in the middle of the run
    send(100, 200)?;
    assert!(b.wait_until_caught_up(WAIT)?);
    assert!(a.wait_until_caught_up(WAIT)?);
    let group = broker.describe_group("copier")?;
    assert_eq!(group.members.len(), 2, "{group:?}");
    for number in 0..3 {
        let holders = group
            .members
            .iter()
            .filter(|m| m.assignment.iter().any(|tp| tp.partition == number))
            .count();
        assert_eq!(holders, 1, "partition number {number}: {group:?}");
    }
    let mut counts = BTreeMap::new();
    for app in [&a, &b] {
        for store in ["narrow-count", "wide-count"] {
            for (key, n) in app.store::<String, u64>(store)?.all() {
                assert!(
                    counts.insert(key.clone(), n).is_none(),
                    "{key} in two tasks"
                );
            }
        }
    }
    let want: BTreeMap<String, u64> = ["n", "w"]
        .iter()
        .flat_map(|p| (0..10).map(move |i| (format!("{p}{i}"), 20)))
        .collect();
    assert_eq!(counts, want);
    a.close()?;
    b.close()?;
    let copies = common::read_keyed(&broker, "copies", IsolationLevel::ReadCommitted)?;
    assert_eq!(copies.len(), 400);
    for topic in ["narrow-counts", "wide-counts"] {
        let mut updates: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for (key, value) in common::read_keyed(&broker, topic, IsolationLevel::ReadCommitted)? {
            updates.entry(key).or_default().push(u64::decode(&value)?);
        }
        assert_eq!(updates.len(), 10, "{topic}: {updates:?}");
        for (key, got) in &updates {
            assert!(
                got.windows(2).all(|w| w[0] < w[1]) && got.last() == Some(&20),
                "committed updates of {key} rise to 20 once each: {got:?}"
            );
        }
    }
    Ok(())
}

/// `dropped_records` keeps counting what the tasks an instance gave up at a rebalance
/// dropped: a late record in each of two partitions, then a second instance takes one.
#[test]
fn dropped_records_are_kept_across_rebalances() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("late", TopicConfig::default().partitions(2))?;
    let producer = broker.producer();
    for partition in 0..2 {
        for ts in [3_600_000, 0] {
            producer.send(
                "late",
                Record::new("x").key("k").partition(partition).timestamp(ts),
            )?;
        }
    }
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("late")
        .group_by_key()
        .windowed_by(TimeWindows::of(Duration::from_secs(60)))
        .count("late-counts");
    let config = StreamsConfig::new("late-app").commit_interval(Duration::from_millis(20));
    let topology = builder.build()?;
    let mut a = Streams::new(&broker, topology.clone(), config.clone())?;
    a.start()?;
    assert!(a.wait_until_caught_up(WAIT)?);
    assert_eq!(a.dropped_records(), 2);
    let mut b = Streams::new(&broker, topology, config)?;
    b.start()?;
    let deadline = std::time::Instant::now() + WAIT;
    while broker
        .describe_group("late-app")?
        .members
        .iter()
        .any(|m| m.assignment.is_empty())
        || broker.describe_group("late-app")?.members.len() < 2
    {
        assert!(std::time::Instant::now() < deadline, "no rebalance");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(a.wait_until_caught_up(WAIT)?);
    assert!(b.wait_until_caught_up(WAIT)?);
    // `a` gave up a task that dropped a record; the count keeps it.
    assert_eq!(a.dropped_records(), 2);
    a.close()?;
    b.close()
}

#[test]
fn suppressed_windows_are_final_with_the_record_cache() -> Result<()> {
    // Flushed at the commit, not cached, and flushed at every update (a full cache).
    for cache_max_bytes in [DEFAULT_CACHE_MAX_BYTES, 0, 1] {
        let dir = tempfile::tempdir().expect("tempdir");
        let broker = Broker::open(dir.path())?;
        broker.create_topic("clicks", TopicConfig::default())?;
        broker.create_topic("final-counts", TopicConfig::default())?;
        // Three users click every second for 100 s: ten 10-second windows each, of which
        // stream time (99 s) has closed the first nine.
        for second in 0..100 {
            for user in 0..3 {
                common::send_at(
                    &broker,
                    "clicks",
                    &format!("user-{user}"),
                    "c",
                    second * 1_000,
                )?;
            }
        }
        let builder = StreamsBuilder::new();
        builder
            .stream::<String, String>("clicks")
            .group_by_key()
            .windowed_by(TimeWindows::of(Duration::from_secs(10)))
            .count("clicks-per-10s")
            .suppress_until_window_closes()
            .to_stream()
            .map(|w, n| (format!("{}@{}", w.key, w.start_ms), *n))
            .to("final-counts");
        // One commit, after everything is read: the cache holds every window's updates
        // until then, and the suppression must still see each window's final count first.
        let config = StreamsConfig::new("final")
            .commit_interval(Duration::from_secs(3_600))
            .cache_max_bytes(cache_max_bytes);
        let mut app = Streams::new(&broker, builder.build()?, config)?;
        app.start()?;
        assert!(app.wait_until_caught_up(WAIT)?);
        app.close()?;
        let got = updates_per_key(&broker, "final-counts", IsolationLevel::ReadUncommitted)?;
        let want: BTreeMap<String, Vec<u64>> = (0..3)
            .flat_map(|user| (0..9).map(move |w| (format!("user-{user}@{}", w * 10_000), vec![10])))
            .collect();
        assert_eq!(got, want, "cache of {cache_max_bytes} bytes");
    }
    Ok(())
}
