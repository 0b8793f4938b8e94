//! The stateful operators, each against a naive reference computation on a `BTreeMap`:
//! aggregations, repartitioning, tables, store views, the changelog every store write
//! emits and the restore from it; windows, sessions and suppression are in `windows`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::store::split_window_key;
use super::*;
use crate::error::Error;

mod windows;

/// An input record: key, value, timestamp.
pub(super) type Input = (String, u64, i64);

pub(super) fn inputs() -> impl Strategy<Value = Vec<Input>> {
    proptest::collection::vec(("[a-c]{1,2}", 0_u64..100, 0_i64..2_000), 0..60)
}

pub(super) fn s(text: &str) -> String {
    text.to_string()
}

/// Runs `inputs` into "in" of the topology `shape` builds.
pub(super) fn drive(
    inputs: &[Input],
    shape: impl FnOnce(&KStream<String, u64>),
) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    shape(&builder.stream::<String, u64>("in"));
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    for (key, value, ts) in inputs {
        driver.pipe("in", key, value, *ts).unwrap();
    }
    driver
}

proptest! {
    #[test]
    fn count_reduce_and_aggregate_equal_a_hashmap_fold(inputs in inputs()) {
        let driver = drive(&inputs, |s| {
            let grouped = s.group_by_key();
            grouped.count("count").to_stream().to("count-updates");
            grouped.reduce("max", |a, v| *a.max(v)).to_stream().to("max-updates");
            grouped
                .aggregate("csv", String::new, |_k, v, agg| format!("{agg}{v},"))
                .to_stream()
                .to("csv-updates");
        });
        let mut driver = driver;
        let (mut count, mut max, mut csv) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        let (mut count_updates, mut max_updates, mut csv_updates) = (Vec::new(), Vec::new(), Vec::new());
        // An update carries the largest timestamp of its key's records so far.
        let mut latest: BTreeMap<String, i64> = BTreeMap::new();
        for (k, v, t) in &inputs {
            let at = latest.entry(k.clone()).or_insert(*t);
            *at = (*at).max(*t);
            let t = *at;
            let c = count.entry(k.clone()).or_insert(0_u64);
            *c += 1;
            count_updates.push((k.clone(), *c, t));
            let m = max.entry(k.clone()).or_insert(*v);
            *m = (*m).max(*v);
            max_updates.push((k.clone(), *m, t));
            let x = csv.entry(k.clone()).or_insert_with(String::new);
            write!(x, "{v},").unwrap();
            csv_updates.push((k.clone(), x.clone(), t));
        }
        prop_assert_eq!(driver.read_output::<String, u64>("count-updates").unwrap(), count_updates);
        prop_assert_eq!(driver.read_output::<String, u64>("max-updates").unwrap(), max_updates);
        prop_assert_eq!(driver.read_output::<String, String>("csv-updates").unwrap(), csv_updates);
        prop_assert_eq!(driver.store::<String, u64>("count").unwrap().all(), count.into_iter().collect::<Vec<_>>());
        prop_assert_eq!(driver.store::<String, u64>("max").unwrap().all(), max.into_iter().collect::<Vec<_>>());
        prop_assert_eq!(driver.store::<String, String>("csv").unwrap().all(), csv.into_iter().collect::<Vec<_>>());
        prop_assert_eq!(driver.dropped_records(), 0);
    }

    /// Hostile input into every stateful operator at once: errors or results, never a
    /// panic; the stores hold only what decoded.
    #[test]
    fn arbitrary_bytes_never_panic_stateful_operators(
        records in proptest::collection::vec(
            (
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..10)),
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..10)),
                0_i64..1_000,
            ),
            0..30,
        )
    ) {
        let builder = StreamsBuilder::new();
        let stream = builder.stream::<Vec<u8>, Vec<u8>>("in");
        stream.group_by_key().count("count");
        stream.group_by(|_, v| v.len() as u64).reduce("longest", |a, b| if b.len() > a.len() { b.clone() } else { a.clone() });
        stream
            .group_by_key()
            .windowed_by(TimeWindows::of(Duration::from_millis(100)).grace(Duration::from_millis(10)))
            .count("windows")
            .suppress_until_window_closes()
            .to_stream()
            .to("final");
        stream
            .group_by_key()
            .windowed_by(SessionWindows::with_inactivity_gap(Duration::from_millis(20)))
            .aggregate("sessions", Vec::new, |_, v, a: &Vec<u8>| [a.as_slice(), v].concat(), |_, a, b| [a.as_slice(), b].concat());
        let _table = builder.table::<String, u64>("table-in", "table").filter(|_, v| *v > 3);
        let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
        let mut want_table = BTreeMap::new();
        for (key, value, t) in &records {
            prop_assert!(driver.pipe_raw("in", key.as_deref(), value.as_deref(), *t).is_ok());
            let piped = driver.pipe_raw("table-in", key.as_deref(), value.as_deref(), *t);
            let key_ok = key.as_ref().is_some_and(|k| std::str::from_utf8(k).is_ok());
            let value_ok = value.as_ref().is_none_or(|v| v.len() == 8);
            prop_assert_eq!(piped.is_ok(), key.is_none() || (key_ok && value_ok));
            if let (true, true, Some(k)) = (piped.is_ok(), key_ok, key) {
                let k = String::from_utf8(k.clone()).unwrap();
                match value {
                    Some(v) => want_table.insert(k, u64::decode(v).unwrap()),
                    None => want_table.remove(&k),
                };
            }
        }
        let counted: u64 = driver.store::<Vec<u8>, u64>("count").unwrap().all().iter().map(|(_, c)| c).sum();
        let with_both = records.iter().filter(|(k, v, _)| k.is_some() && v.is_some()).count() as u64;
        prop_assert_eq!(counted, with_both);
        prop_assert_eq!(driver.store::<String, u64>("table").unwrap().all(), want_table.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn a_table_equals_a_map_of_the_latest_values(
        updates in proptest::collection::vec(("[a-d]", proptest::option::of(0_u64..100)), 0..40),
    ) {
        let builder = StreamsBuilder::new();
        builder.table::<String, u64>("t", "t").to_stream().to("updates");
        let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
        let mut want = BTreeMap::new();
        let mut forwarded = Vec::new();
        for (i, (k, v)) in updates.iter().enumerate() {
            let t = i64::try_from(i).unwrap();
            match v {
                Some(v) => {
                    driver.pipe("t", k, v, t).unwrap();
                    want.insert(k.clone(), *v);
                    forwarded.push((k.clone(), *v, t));
                }
                None => {
                    driver.pipe_raw("t", Some(k.as_bytes()), None, t).unwrap();
                    want.remove(k);
                }
            }
        }
        prop_assert_eq!(driver.store::<String, u64>("t").unwrap().all(), want.into_iter().collect::<Vec<_>>());
        prop_assert_eq!(driver.read_output::<String, u64>("updates").unwrap(), forwarded);
    }
}

#[test]
fn a_changed_key_is_repartitioned_and_aggregated_by_the_new_key() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("orders") // order id → "user:amount"
        .map(|_id, v| {
            let (user, amount) = v.split_once(':').unwrap_or_default();
            (user.to_string(), amount.parse::<u64>().unwrap_or(0))
        })
        .group_by_key()
        .reduce("spent", |a, b| a + b)
        .to_stream()
        .to("totals");
    let topology = builder.build().unwrap();
    let internal: Vec<(String, &str)> = topology
        .internal_topics()
        .iter()
        .map(|t| (t.name("shop"), t.cleanup_policy()))
        .collect();
    assert_eq!(
        internal,
        [
            (s("__shop-spent-changelog"), "compact"),
            (s("__shop-spent-repartition"), "delete")
        ]
    );
    assert_eq!(topology.source_topics(), ["orders"]);
    let mut driver = TopologyTestDriver::with_application_id(topology, "shop").unwrap();
    for (id, v, t) in [("o1", "ann:5", 1), ("o2", "bob:7", 2), ("o3", "ann:4", 3)] {
        driver.pipe("orders", &s(id), &s(v), t).unwrap();
    }
    // The records went through the repartition topic under their new key…
    let moved = driver
        .read_output::<String, u64>("__shop-spent-repartition")
        .unwrap();
    assert_eq!(
        moved,
        [(s("ann"), 5, 1), (s("bob"), 7, 2), (s("ann"), 4, 3)]
    );
    // …and were aggregated as read back from it.
    let totals = driver.read_output::<String, u64>("totals").unwrap();
    assert_eq!(
        totals,
        [(s("ann"), 5, 1), (s("bob"), 7, 2), (s("ann"), 9, 3)]
    );
    assert_eq!(
        driver.store::<String, u64>("spent").unwrap().get(&s("ann")),
        Some(9)
    );
}

#[test]
fn an_unchanged_key_is_not_repartitioned_and_group_by_always_is() {
    let builder = StreamsBuilder::new();
    let stream = builder.stream::<String, u64>("in");
    stream.filter(|_, v| *v > 0).group_by_key().count("by-key");
    stream.group_by(|_, v| v % 2).count("by-parity");
    let topology = builder.build().unwrap();
    let names: Vec<&str> = topology
        .internal_topics()
        .iter()
        .map(|t| {
            if t.is_changelog() {
                "changelog"
            } else {
                "repartition"
            }
        })
        .collect();
    assert_eq!(names, ["changelog", "changelog", "repartition"]);
    let suffixes: Vec<String> = topology
        .internal_topics()
        .iter()
        .map(|t| t.suffix().to_string())
        .collect();
    assert_eq!(
        suffixes,
        [
            "by-key-changelog",
            "by-parity-changelog",
            "by-parity-repartition"
        ]
    );
    let mut driver = TopologyTestDriver::new(topology).unwrap();
    for v in [1_u64, 2, 3, 0] {
        driver.pipe("in", &s("k"), &v, 0).unwrap();
    }
    assert_eq!(
        driver.store::<String, u64>("by-key").unwrap().all(),
        [(s("k"), 3)]
    );
    assert_eq!(
        driver.store::<u64, u64>("by-parity").unwrap().all(),
        [(0, 2), (1, 2)]
    );
}

#[test]
fn every_store_write_is_a_changelog_record_that_restores_the_store() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, u64>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of(Duration::from_millis(10)))
        .reduce("sums", |a, b| a + b);
    let topology = builder.build().unwrap();
    let mut driver = TopologyTestDriver::new(topology.clone()).unwrap();
    for (k, v, t) in [("a", 1_u64, 1), ("b", 2, 3), ("a", 3, 5), ("a", 4, 12)] {
        driver.pipe("in", &s(k), &v, t).unwrap();
    }
    let changelog = driver.read_output_raw("__test-app-sums-changelog");
    let decoded: Vec<(String, i64, i64, u64, i64)> = changelog
        .iter()
        .map(|r| {
            let key = r.key.as_deref().unwrap();
            let (k, start, end) = split_window_key(key).unwrap();
            let v = u64::decode(r.value.as_deref().unwrap()).unwrap();
            (String::decode(k).unwrap(), start, end, v, r.timestamp_ms)
        })
        .collect();
    assert_eq!(
        decoded,
        [
            (s("a"), 0, 10, 1, 1),
            (s("b"), 0, 10, 2, 3),
            (s("a"), 0, 10, 4, 5),
            (s("a"), 10, 20, 4, 12)
        ]
    );
    // What the runtime will do: a fresh task, restored by applying the changelog. The
    // changelog keeps windows the task had evicted (as Kafka's, which expire by time):
    // resuming at the task's stream time, 12 here, evicts them again.
    let mut restored = topology.task("test-app").unwrap();
    for r in changelog {
        let key = r.key.unwrap();
        restored
            .restore(
                "__test-app-sums-changelog",
                &key,
                r.value.as_deref(),
                r.timestamp_ms,
            )
            .unwrap();
    }
    assert_eq!(restored.store(0).unwrap().len(), 3);
    restored.resume_at(12);
    assert_eq!(restored.stream_time_ms(), 12);
    assert!(matches!(
        restored.restore("__test-app-other-changelog", b"k", None, 0),
        Err(Error::UnknownTopic { .. })
    ));
    let want = driver.store::<Windowed<String>, u64>("sums").unwrap().all();
    let (_, spec) = topology.store_spec("sums").unwrap();
    let view = (spec.view)(restored.store(0).unwrap(), "sums").unwrap();
    let got = view
        .downcast::<StoreView<Windowed<String>, u64>>()
        .unwrap()
        .all();
    assert_eq!(got, want);
    assert_eq!(got.len(), 1);
}

#[test]
fn records_without_a_key_are_dropped_by_aggregations_and_tables() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, u64>("in")
        .group_by_key()
        .count("c");
    let _t = builder.table::<String, u64>("t", "table");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    driver.pipe_raw("in", None, Some(&[0; 8]), 0).unwrap();
    driver.pipe_raw("t", None, Some(&[0; 8]), 0).unwrap();
    driver.pipe("in", &s(""), &1_u64, 0).unwrap(); // an empty key is a key
    assert_eq!(driver.dropped_records(), 2);
    assert_eq!(
        driver.store::<String, u64>("c").unwrap().all(),
        [(s(""), 1)]
    );
    assert!(driver.store::<String, u64>("table").unwrap().is_empty());
}

#[test]
fn a_missing_value_is_skipped_by_aggregations_unless_an_operator_made_one() {
    let builder = StreamsBuilder::new();
    let stream = builder.stream::<String, ()>("in");
    stream.group_by_key().count("raw");
    stream.map_values(|()| 1_u64).group_by_key().count("mapped");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    driver.pipe("in", &s("k"), &(), 0).unwrap();
    driver.pipe("in", &s("k"), &(), 0).unwrap();
    assert!(driver.store::<String, u64>("raw").unwrap().is_empty());
    assert_eq!(driver.dropped_records(), 2);
    assert_eq!(
        driver.store::<String, u64>("mapped").unwrap().all(),
        [(s("k"), 2)]
    );
}

#[test]
fn a_missing_value_stays_missing_through_a_repartition_topic() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by(|_, v| v.len() as u64)
        .count("by-length");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    driver.pipe_raw("in", Some(b"k"), None, 0).unwrap();
    driver.pipe_raw("in", Some(b"k"), Some(b""), 0).unwrap();
    let moved = driver.read_output_raw("__test-app-by-length-repartition");
    let values: Vec<Option<Vec<u8>>> = moved.into_iter().map(|r| r.value).collect();
    assert_eq!(values, [None, Some(Vec::new())]);
    assert_eq!(driver.dropped_records(), 1);
    assert_eq!(
        driver.store::<u64, u64>("by-length").unwrap().all(),
        [(0, 1)]
    );
}

#[test]
fn a_table_keeps_the_latest_value_and_tombstones_delete() {
    let builder = StreamsBuilder::new();
    let table = builder.table::<String, u64>("prices", "prices");
    table.to_stream().to("all-updates");
    table.to("prices-out");
    table
        .filter(|_, v| *v >= 10)
        .map_values(|v| format!("€{v}"))
        .to_stream()
        .to("expensive");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    driver.pipe("prices", &s("apple"), &12_u64, 1).unwrap();
    driver.pipe("prices", &s("pear"), &3_u64, 2).unwrap();
    driver.pipe("prices", &s("apple"), &5_u64, 3).unwrap();
    driver.pipe_raw("prices", Some(b"pear"), None, 4).unwrap();
    driver.pipe("prices", &s("fig"), &20_u64, 5).unwrap();
    assert_eq!(
        driver.store::<String, u64>("prices").unwrap().all(),
        [(s("apple"), 5), (s("fig"), 20)]
    );
    assert_eq!(
        driver.read_output::<String, u64>("all-updates").unwrap(),
        [
            (s("apple"), 12, 1),
            (s("pear"), 3, 2),
            (s("apple"), 5, 3),
            (s("fig"), 20, 5)
        ]
    );
    assert_eq!(
        driver.read_output::<String, String>("expensive").unwrap(),
        [(s("apple"), s("€12"), 1), (s("fig"), s("€20"), 5)]
    );
    let changelog = driver.read_output_raw("__test-app-prices-changelog");
    // Written to a topic, the table's deletes are tombstones.
    let written: Vec<(Vec<u8>, Option<u64>)> = driver
        .read_output_raw("prices-out")
        .into_iter()
        .map(|r| (r.key.unwrap(), r.value.map(|v| u64::decode(&v).unwrap())))
        .collect();
    assert_eq!(
        written,
        [
            (b"apple".to_vec(), Some(12)),
            (b"pear".to_vec(), Some(3)),
            (b"apple".to_vec(), Some(5)),
            (b"pear".to_vec(), None),
            (b"fig".to_vec(), Some(20))
        ]
    );
    assert_eq!(changelog.len(), 5);
    assert_eq!(changelog[3].key.as_deref(), Some(&b"pear"[..]));
    assert_eq!(changelog[3].value, None);
}

#[test]
fn store_views_refuse_unknown_names_and_other_types() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, u64>("in")
        .group_by_key()
        .count("c");
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let unknown = driver.store::<String, u64>("nope").unwrap_err();
    assert!(unknown.to_string().contains("\"nope\""), "{unknown}");
    let wrong = driver.store::<String, String>("c").unwrap_err();
    assert!(matches!(wrong, Error::InvalidTopology { .. }), "{wrong}");
}

#[test]
fn two_stores_of_one_name_and_bad_store_names_are_refused() {
    let builder = StreamsBuilder::new();
    let s1 = builder.stream::<String, u64>("in");
    s1.group_by_key().count("c");
    s1.group_by_key().count("c");
    assert!(matches!(
        builder.build(),
        Err(Error::InvalidTopology { .. })
    ));
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, u64>("in")
        .group_by_key()
        .count("a b");
    assert!(matches!(
        builder.build(),
        Err(Error::InvalidTopicName { .. })
    ));
}

#[derive(Clone, Serialize, Deserialize)]
struct Tx {
    kind: String,
    amount: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Alert {
    user: String,
    withdrawals: u64,
}

#[test]
fn the_fraud_rule_of_the_api_alerts_on_the_fourth_withdrawal_in_five_minutes() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, Json<Tx>>("transactions")
        .filter(|_user, tx| tx.kind == "withdrawal")
        .group_by_key()
        .windowed_by(TimeWindows::of(Duration::from_secs(300)).grace(Duration::from_secs(30)))
        .count("withdrawals-5min")
        .to_stream()
        .filter(|_w, n| *n > 3)
        .map(|w, n| {
            (
                w.key.clone(),
                Json(Alert {
                    user: w.key.clone(),
                    withdrawals: *n,
                }),
            )
        })
        .to("fraud_alerts");
    let mut driver =
        TopologyTestDriver::with_application_id(builder.build().unwrap(), "fraud-app").unwrap();
    let tx = |kind: &str| {
        Json(Tx {
            kind: kind.into(),
            amount: 100.0,
        })
    };
    let sec = 1_000;
    // ann: four withdrawals in [0, 300 s), a deposit between; bob: three.
    for (user, kind, t) in [
        ("ann", "withdrawal", 10 * sec),
        ("bob", "withdrawal", 20 * sec),
        ("ann", "withdrawal", 60 * sec),
        ("ann", "deposit", 70 * sec),
        ("bob", "withdrawal", 80 * sec),
        ("ann", "withdrawal", 120 * sec),
        ("bob", "withdrawal", 290 * sec),
        ("ann", "withdrawal", 299 * sec),
        ("ann", "withdrawal", 301 * sec), // the next window: a count of 1
        ("ann", "withdrawal", 250 * sec), // late, within grace: a fifth in [0, 300 s)
        ("bob", "withdrawal", 200 * sec), // late, within grace: bob's fourth
        ("bob", "withdrawal", 330 * sec), // closes [0, 300 s)
        ("bob", "withdrawal", 100 * sec), // too late: dropped
    ] {
        driver.pipe("transactions", &s(user), &tx(kind), t).unwrap();
    }
    let alerts: Vec<(String, u64, i64)> = driver
        .read_output::<String, Json<Alert>>("fraud_alerts")
        .unwrap()
        .into_iter()
        .map(|(user, alert, t)| (user, alert.withdrawals, t))
        .collect();
    assert_eq!(
        alerts,
        [
            (s("ann"), 4, 299 * sec),
            // A late record's update carries its window's latest timestamp, as Kafka's.
            (s("ann"), 5, 299 * sec),
            (s("bob"), 4, 290 * sec)
        ]
    );
    assert_eq!(driver.dropped_records(), 1);
    let counts = driver
        .store::<Windowed<String>, u64>("withdrawals-5min")
        .unwrap();
    let ann_next = Windowed {
        key: s("ann"),
        start_ms: 300 * sec,
        end_ms: 600 * sec,
    };
    assert_eq!(counts.get(&ann_next), Some(1));
    let changelogs: Vec<String> = driver
        .topology()
        .internal_topics()
        .iter()
        .map(|t| t.name(driver.application_id()))
        .collect();
    assert_eq!(changelogs, ["__fraud-app-withdrawals-5min-changelog"]);
}

#[test]
fn the_topology_describes_repartition_topics_relative_to_the_application() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, u64>("in")
        .group_by(|_, v| *v)
        .count("c");
    let description = builder.build().unwrap().to_string();
    assert!(
        description.contains("(topic: __<application_id>-c-repartition)"),
        "{description}"
    );
    assert_eq!(
        description.matches("Source:").count(),
        2,
        "two sub-topologies: {description}"
    );
}

#[test]
fn the_driver_feeds_back_repartition_topics_only() {
    let builder = StreamsBuilder::new();
    let stream = builder.stream::<String, u64>("loop");
    stream.map_values(|v| v + 1).to("loop");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    driver.pipe("loop", &s("k"), &1_u64, 0).unwrap();
    assert_eq!(
        driver.read_output::<String, u64>("loop").unwrap(),
        [(s("k"), 2, 0)]
    );
}
