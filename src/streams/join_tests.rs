//! Joins through the test driver, each against a naive reference: stream-stream joins
//! (inner and left) against a nested loop over the records in arrival order with stream
//! time and grace; stream-table and table-table joins against maps of the tables.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::processor::{encoded, SinkRecord};
use super::topology::Task;
use super::*;
use crate::error::Error;

fn s(text: &str) -> String {
    text.to_string()
}

fn ms(n: i64) -> Duration {
    Duration::from_millis(n.unsigned_abs())
}

/// A two-sided input: (left side?, key, value, timestamp).
type Input = (bool, String, u64, i64);

fn two_sided() -> impl Strategy<Value = Vec<Input>> {
    proptest::collection::vec((any::<bool>(), "[a-c]{1,2}", 0_u64..100, 0_i64..600), 0..60)
}

/// A topology joining "left" with "right" (`left` joins: left join, else inner), output to
/// "out" as "lv/rv" (`-` for a missing right value).
/// An output record as bytes: key, value, timestamp.
type Raw<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, i64);

fn windowed(inputs: &[Input], d: i64, grace: i64, left: bool) -> TopologyTestDriver {
    let mut driver = TopologyTestDriver::new(windowed_topology(d, grace, left)).unwrap();
    for (is_left, k, v, t) in inputs {
        let topic = if *is_left { "left" } else { "right" };
        driver.pipe(topic, k, v, *t).unwrap();
    }
    driver
}

fn windowed_topology(d: i64, grace: i64, left: bool) -> Topology {
    let builder = StreamsBuilder::new();
    let l = builder.stream::<String, u64>("left");
    let r = builder.stream::<String, u64>("right");
    let windows = JoinWindows::of(ms(d)).grace(ms(grace));
    let out = if left {
        l.left_join(&r, windows, |a, b| {
            format!("{a}/{}", b.map_or(s("-"), u64::to_string))
        })
    } else {
        l.join(&r, windows, |a, b| format!("{a}/{b}"))
    };
    out.to("out");
    builder.build().unwrap()
}

/// Runs `inputs` through `task` (offsets from `offset`) and returns all it emitted.
fn run(task: &mut Task, inputs: &[Input], offset: u64) -> Vec<SinkRecord> {
    let mut out = Vec::new();
    for ((is_left, k, v, t), at) in inputs.iter().zip(offset..) {
        let topic = if *is_left { "left" } else { "right" };
        let value = encoded(v).unwrap();
        task.process(topic, 0, at, *t, Some(k.as_bytes()), value.as_deref())
            .unwrap();
        out.extend(task.take_output());
    }
    out
}

/// The reference, Kafka Streams' rules: every record in arrival order; stream time is the
/// largest timestamp so far; each side keeps its records while they are newer than its
/// own latest minus `2d + grace` (a record already older than that is not kept); a
/// record meets every kept record of the other side with the key and `|t1 - t2| <= d`,
/// earliest first, at the later timestamp, however late it is. For left joins: a record
/// at stream time first emits, with `-`, the unmatched left records whose window closed
/// (`t + d + grace < stream time`), by timestamp, then key (as the store orders them: by
/// length, then bytes), then arrival, unless the pass is skipped because the record the
/// last pass ended on, or one added since, is still in its window (Kafka's `minTime`); an
/// unmatched left record comes out with `-` at once when stream time is past `t + d`,
/// else waits.
fn reference(
    inputs: &[Input],
    d: i64,
    grace: i64,
    left: bool,
) -> (Vec<(String, String, i64)>, u64) {
    let keep = 2 * d + grace;
    let mut out = Vec::new();
    let mut now = -1_i64;
    // Each side's latest timestamp: left, right.
    let mut latest = [i64::MIN, i64::MIN];
    let mut kept: Vec<&Input> = Vec::new();
    // (t, key length, key, arrival, value) of unmatched left records.
    let mut pending: Vec<(i64, usize, String, usize, u64)> = Vec::new();
    let mut since: Option<i64> = None;
    for (i, record) in inputs.iter().enumerate() {
        let (is_left, k, v, t) = record;
        now = now.max(*t);
        if left && *t == now && since.is_none_or(|m| m + d + grace < now) {
            pending.sort();
            since = pending.last().map(|p| p.0);
            let (closed, open): (Vec<_>, Vec<_>) =
                pending.drain(..).partition(|p| p.0 + d + grace < now);
            pending = open;
            for (pt, _, pk, _, pv) in closed {
                out.push((pk, format!("{pv}/-"), pt));
            }
        }
        let (this, other) = if *is_left { (0, 1) } else { (1, 0) };
        let mut partners: Vec<&Input> = kept
            .iter()
            .copied()
            .filter(|o| o.0 != *is_left && o.1 == *k && (o.3 - t).abs() <= d)
            .filter(|o| o.3 + keep > latest[other])
            .collect();
        partners.sort_by_key(|o| o.3);
        latest[this] = latest[this].max(*t);
        if t + keep > latest[this] {
            kept.push(record);
        }
        if left && *is_left && partners.is_empty() {
            if t + d < now {
                out.push((k.clone(), format!("{v}/-"), *t));
            } else {
                pending.push((*t, k.len(), k.clone(), i, *v));
                since = Some(since.map_or(*t, |m| m.min(*t)));
            }
            continue;
        }
        for o in &partners {
            let (lv, rv) = if *is_left { (v, &o.2) } else { (&o.2, v) };
            out.push((k.clone(), format!("{lv}/{rv}"), (*t).max(o.3)));
        }
        if left && !*is_left {
            pending.retain(|p| !partners.iter().any(|o| p.2 == o.1 && p.0 == o.3));
        }
    }
    (out, 0)
}

proptest! {
    #[test]
    fn stream_stream_joins_equal_a_nested_loop(
        inputs in two_sided(),
        d in 0_i64..100,
        grace in 0_i64..100,
        left in any::<bool>(),
    ) {
        let mut driver = windowed(&inputs, d, grace, left);
        let got = driver.read_output::<String, String>("out").unwrap();
        let (want, dropped) = reference(&inputs, d, grace, left);
        prop_assert_eq!(got, want);
        prop_assert_eq!(driver.dropped_records(), dropped);
    }

    #[test]
    fn a_join_restored_from_its_changelogs_goes_on_as_if_never_stopped(
        inputs in two_sided(),
        split in 0_usize..60,
        d in 0_i64..100,
        grace in 0_i64..100,
        left in any::<bool>(),
    ) {
        let topology = windowed_topology(d, grace, left);
        let split = split.min(inputs.len());
        let outputs = |records: Vec<SinkRecord>| -> Vec<SinkRecord> {
            records.into_iter().filter(|r| &*r.topic == "out").collect()
        };
        let want = outputs(run(&mut topology.task("app").unwrap(), &inputs, 0));
        // Stop after `split` records, restore a fresh task from the changelogs (what
        // the runtime will do), and go on.
        let mut before = topology.task("app").unwrap();
        let first = run(&mut before, &inputs[..split], 0);
        let mut after = topology.task("app").unwrap();
        for r in first.iter().filter(|r| r.topic.ends_with("-changelog")) {
            let key = r.key.as_deref().unwrap_or_default();
            after.restore(&r.topic, key, r.value.as_deref(), r.timestamp_ms).unwrap();
        }
        after.resume_at(before.stream_time_ms());
        let second = run(&mut after, &inputs[split..], split as u64);
        let got = outputs(first.into_iter().chain(second).collect());
        // When a left join's closed unmatched records come out depends on where its last
        // emission pass ended, which is in no changelog (Kafka's `minTime` neither), so a
        // restored task may emit them at other times. The joins are exactly as if never
        // stopped, and each `None` result is one of a left record's, once at most.
        let alone = |r: &SinkRecord| r.value.as_deref().is_some_and(|v| v.ends_with(b"/-"));
        let (got_alone, got): (Vec<_>, Vec<_>) = got.into_iter().partition(alone);
        let (_, want): (Vec<_>, Vec<_>) = want.into_iter().partition(alone);
        prop_assert_eq!(got, want);
        let mut left_records: Vec<_> = inputs
            .iter()
            .filter(|(is_left, ..)| *is_left)
            .map(|(_, k, v, t)| (Some(k.clone().into_bytes()), Some(format!("{v}/-").into_bytes()), *t))
            .collect();
        for g in got_alone {
            let g = (g.key, g.value, g.timestamp_ms);
            let at = left_records.iter().position(|l| *l == g);
            prop_assert!(at.is_some(), "{g:?} is no left record's, or came out twice");
            left_records.swap_remove(at.unwrap_or_default());
        }
    }

    #[test]
    fn arbitrary_changelog_and_record_bytes_never_panic_a_join(
        restored in proptest::collection::vec(
            (0_usize..8, proptest::collection::vec(any::<u8>(), 0..40),
             proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)), 0_i64..600),
            0..30,
        ),
        records in proptest::collection::vec(
            (0_usize..4, proptest::option::of(proptest::collection::vec(any::<u8>(), 0..12)),
             proptest::option::of(proptest::collection::vec(any::<u8>(), 0..12)), 0_i64..600),
            0..30,
        ),
    ) {
        let builder = StreamsBuilder::new();
        let l = builder.stream::<String, u64>("left");
        let r = builder.stream::<String, u64>("right");
        let t = builder.table::<String, u64>("table", "table");
        let u = builder.table::<String, String>("other-table", "other-table");
        let windows = JoinWindows::of(ms(50)).grace(ms(10));
        l.left_join(&r, windows, |a, b| a.wrapping_add(b.copied().unwrap_or(0))).to("ll");
        l.left_join_table(&t.filter(|_, v| *v > 3), |a, b| a.wrapping_add(b.copied().unwrap_or(0))).to("lt");
        t.left_join(&u, |a, b| format!("{a}{b:?}")).to("tt");
        let topology = builder.build().unwrap();
        let changelogs: Vec<String> = topology
            .internal_topics()
            .iter()
            .filter(|t| t.is_changelog())
            .map(|t| t.name("app"))
            .collect();
        let mut task = topology.task("app").unwrap();
        for (which, key, value, at) in &restored {
            let topic = &changelogs[which % changelogs.len()];
            task.restore(topic, key, value.as_deref(), *at).unwrap();
        }
        task.resume_at(300);
        let topics = ["left", "right", "table", "other-table"];
        for ((which, key, value, at), offset) in records.iter().zip(0..) {
            // Errors are fine (undecodable bytes); panics are not.
            let _ = task.process(topics[*which], 0, offset, *at, key.as_deref(), value.as_deref());
            task.take_output();
        }
    }

    #[test]
    fn stream_table_joins_see_the_table_as_of_each_record(
        inputs in proptest::collection::vec(
            (any::<bool>(), "[a-c]", proptest::option::of(0_u64..100), 0_i64..100),
            0..60,
        ),
        left in any::<bool>(),
    ) {
        let builder = StreamsBuilder::new();
        let table = builder.table::<String, u64>("table", "table");
        let stream = builder.stream::<String, u64>("stream");
        if left {
            stream.left_join_table(&table, |v, t| format!("{v}/{}", t.map_or(s("-"), u64::to_string))).to("out");
        } else {
            stream.join_table(&table, |v, t| format!("{v}/{t}")).to("out");
        }
        let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
        let mut map: BTreeMap<String, u64> = BTreeMap::new();
        let mut want = Vec::new();
        for (to_table, k, v, t) in &inputs {
            if *to_table {
                let bytes = v.map(u64::to_be_bytes);
                driver.pipe_raw("table", Some(k.as_bytes()), bytes.as_ref().map(|b| &b[..]), *t).unwrap();
                match v {
                    Some(v) => map.insert(k.clone(), *v),
                    None => map.remove(k),
                };
            } else {
                let v = v.unwrap_or(0);
                driver.pipe("stream", k, &v, *t).unwrap();
                match (map.get(k), left) {
                    (Some(tv), _) => want.push((k.clone(), format!("{v}/{tv}"), *t)),
                    (None, true) => want.push((k.clone(), format!("{v}/-"), *t)),
                    (None, false) => {}
                }
            }
        }
        prop_assert_eq!(driver.read_output::<String, String>("out").unwrap(), want);
    }

    #[test]
    fn table_table_joins_equal_the_join_of_two_maps(
        inputs in proptest::collection::vec(
            (any::<bool>(), "[a-c]", proptest::option::of(0_u64..100), 0_i64..100),
            0..60,
        ),
        left in any::<bool>(),
    ) {
        let builder = StreamsBuilder::new();
        let a = builder.table::<String, u64>("a", "a");
        let b = builder.table::<String, u64>("b", "b");
        let joined = if left {
            a.left_join(&b, |x, y| format!("{x}/{}", y.map_or(s("-"), u64::to_string)))
        } else {
            a.join(&b, |x, y| format!("{x}/{y}"))
        };
        joined.to("out");
        let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
        let (mut ma, mut mb): (BTreeMap<String, u64>, BTreeMap<String, u64>) = Default::default();
        // The joined table as last emitted, and each side's latest timestamp per key.
        let mut rows: BTreeMap<String, String> = BTreeMap::new();
        let mut times: BTreeMap<(bool, String), i64> = BTreeMap::new();
        let mut want = Vec::new();
        for (to_a, k, v, t) in &inputs {
            let bytes = v.map(u64::to_be_bytes);
            let topic = if *to_a { "a" } else { "b" };
            driver.pipe_raw(topic, Some(k.as_bytes()), bytes.as_ref().map(|b| &b[..]), *t).unwrap();
            let side = if *to_a { &mut ma } else { &mut mb };
            let side_had = side.contains_key(k);
            match v {
                Some(v) => { side.insert(k.clone(), *v); }
                None => { side.remove(k); }
            }
            // The other side's timestamp counts while it has the key.
            let other_has = if *to_a { mb.contains_key(k) } else { ma.contains_key(k) };
            let other_t = times.get(&(!*to_a, k.clone())).copied().filter(|_| other_has);
            times.insert((*to_a, k.clone()), *t);
            let row = match (ma.get(k), mb.get(k), left) {
                (Some(x), Some(y), _) => Some(format!("{x}/{y}")),
                (Some(x), None, true) => Some(format!("{x}/-")),
                _ => None,
            };
            let before = rows.get(k).cloned();
            // An update re-emits the row even when it is equal; a delete of a key the
            // side did not have changes nothing.
            let touched = (row.is_some() || before.is_some()) && (v.is_some() || side_had);
            if touched {
                let at = other_t.map_or(*t, |o| o.max(*t));
                want.push((Some(k.clone().into_bytes()), row.clone().map(String::into_bytes), at));
            }
            match row {
                Some(r) => { rows.insert(k.clone(), r); }
                None => { rows.remove(k); }
            }
        }
        let got: Vec<_> = driver
            .read_output_raw("out")
            .into_iter()
            .map(|r| (r.key, r.value, r.timestamp_ms))
            .collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn window_edges_are_inclusive_and_a_late_record_meets_what_the_other_side_keeps() {
    // d = 10, grace = 5: |t1 - t2| = 10 joins, 11 does not. Each side keeps its records
    // while they are newer than its own latest minus 2d + grace = 25, and a record, late
    // or not, meets what the other side keeps (Kafka Streams' KStreamKStreamJoin; strom
    // used to drop a record past t + d + grace, which Kafka still joins).
    let inputs = [
        (true, s("k"), 1, 100),
        (false, s("k"), 2, 110), // d exactly: joins
        (false, s("k"), 3, 111), // d + 1: does not
        (true, s("k"), 4, 200),  // stream time 200; left keeps t > 175
        (false, s("k"), 5, 185), // meets nothing: 4 is 15 away
        (true, s("k"), 6, 190),  // meets 5
        (false, s("k"), 7, 184), // 184 + 15 < 200, yet meets 6, which the left side keeps
        (false, s("k"), 8, 160), // right keeps t > 160: not kept
        (true, s("k"), 9, 170),  // 8 is 10 away, but no longer kept: nothing
    ];
    let mut driver = windowed(&inputs, 10, 5, false);
    let out = driver.read_output::<String, String>("out").unwrap();
    assert_eq!(
        out,
        [
            (s("k"), s("1/2"), 110),
            (s("k"), s("6/5"), 190),
            (s("k"), s("6/7"), 190)
        ]
    );
    assert_eq!(driver.dropped_records(), 0);
}

#[test]
fn a_left_join_emits_none_at_once_for_a_record_past_its_window_or_without_a_key() {
    // Kafka Streams: a left record that arrives when stream time is already past t + d
    // and meets nothing comes out with null at once (strom held it through the grace),
    // and one without a key is joined with null at once (strom dropped it). Found by
    // holding strom beside Kafka Streams on the same input (bench/streams-reference).
    let mut driver = windowed(&[(false, s("z"), 0, 200)], 10, 50, true);
    driver.pipe("left", &s("a"), &1_u64, 185).unwrap(); // 185 + 10 < 200
    driver
        .pipe_raw("left", None, encoded(&2_u64).unwrap().as_deref(), 199)
        .unwrap();
    driver.pipe("left", &s("b"), &3_u64, 195).unwrap(); // 195 + 10 >= 200: waits
    let out = driver.read_output_raw("out");
    let got: Vec<Raw<'_>> = out
        .iter()
        .map(|r| (r.key.as_deref(), r.value.as_deref(), r.timestamp_ms))
        .collect();
    assert_eq!(
        got,
        [
            (Some(&b"a"[..]), Some(&b"1/-"[..]), 185),
            (None, Some(&b"2/-"[..]), 199)
        ]
    );
}

#[test]
fn left_join_emits_none_once_after_the_window_closes_and_never_for_a_match() {
    let inputs = [
        (true, s("a"), 1, 100),
        (true, s("b"), 2, 100),
        (false, s("b"), 3, 108), // b matches in time: no None for b, ever
        (false, s("z"), 0, 115), // stream time 115 = 100 + 10 + 5: a's window not closed yet
    ];
    let mut driver = windowed(&inputs, 10, 5, true);
    let out = driver.read_output::<String, String>("out").unwrap();
    assert_eq!(out, [(s("b"), s("2/3"), 108)]);
    driver.pipe("right", &s("z"), &0_u64, 116).unwrap(); // closes a's window
    driver.pipe("right", &s("z"), &0_u64, 500).unwrap();
    let out = driver.read_output::<String, String>("out").unwrap();
    assert_eq!(out, [(s("a"), s("1/-"), 100)], "once, at its own timestamp");
    // The pending store is empty again; its changelog deleted a and b.
    let changelog: Vec<_> = driver
        .read_output_raw("__test-app-KSTREAM-JOIN-0000000002-left-shared-join-store-changelog")
        .into_iter()
        .map(|r| r.value.is_some())
        .collect();
    assert_eq!(changelog, [true, true, false, false]);
}

#[test]
fn table_updates_trigger_no_stream_table_output_and_deletes_end_matches() {
    let builder = StreamsBuilder::new();
    let prices = builder.table::<String, u64>("prices", "prices");
    let orders = builder.stream::<String, u64>("orders");
    orders.join_table(&prices, |n, p| n * p).to("totals");
    let topology = builder.build().unwrap();
    assert_eq!(
        topology.store_names(),
        ["prices"],
        "the table's store is looked up"
    );
    let mut driver = TopologyTestDriver::new(topology).unwrap();
    driver.pipe("prices", &s("pen"), &3_u64, 1).unwrap();
    driver.pipe("orders", &s("pen"), &2_u64, 2).unwrap();
    driver.pipe("prices", &s("pen"), &5_u64, 3).unwrap();
    driver.pipe("orders", &s("pen"), &2_u64, 4).unwrap();
    driver.pipe_raw("prices", Some(b"pen"), None, 5).unwrap();
    driver.pipe("orders", &s("pen"), &2_u64, 6).unwrap();
    driver
        .pipe_raw("orders", None, Some(&[0, 0, 0, 0, 0, 0, 0, 1]), 7)
        .unwrap();
    let out = driver.read_output::<String, u64>("totals").unwrap();
    assert_eq!(out, [(s("pen"), 6, 2), (s("pen"), 10, 4)]);
    assert_eq!(driver.dropped_records(), 1, "the order without a key");
}

#[test]
fn a_stream_table_left_join_passes_a_record_without_a_key_on_with_no_table_value() {
    // Kafka Streams ≥ 3.7 (KIP-962) joins a keyless record of a left join with null
    // instead of dropping it; the inner join still drops it. Found by holding strom beside
    // Kafka Streams on the same input (bench/streams-reference).
    let builder = StreamsBuilder::new();
    let regions = builder.table::<String, String>("regions", "regions");
    let clicks = builder.stream::<String, String>("clicks");
    let region = |r: Option<&String>| r.map_or(s("-"), String::clone);
    clicks
        .left_join_table(&regions, move |c, r| format!("{c}@{}", region(r)))
        .to("left");
    clicks
        .join_table(&regions, |c, r| format!("{c}@{r}"))
        .to("inner");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    driver.pipe("regions", &s("ann"), &s("eu"), 1).unwrap();
    driver.pipe_raw("clicks", None, Some(b"c1"), 2).unwrap();
    driver.pipe("clicks", &s("ann"), &s("c2"), 3).unwrap();
    let left = driver.read_output_raw("left");
    let got: Vec<Raw<'_>> = left
        .iter()
        .map(|r| (r.key.as_deref(), r.value.as_deref(), r.timestamp_ms))
        .collect();
    assert_eq!(
        got,
        [
            (None, Some(&b"c1@-"[..]), 2),
            (Some(&b"ann"[..]), Some(&b"c2@eu"[..]), 3)
        ]
    );
    let inner = driver.read_output::<String, String>("inner").unwrap();
    assert_eq!(inner, [(s("ann"), s("c2@eu"), 3)]);
    assert_eq!(
        driver.dropped_records(),
        1,
        "the inner join's keyless click"
    );
}

#[test]
fn a_derived_table_is_kept_by_the_join() {
    let builder = StreamsBuilder::new();
    let cheap = builder
        .table::<String, u64>("prices", "prices")
        .filter(|_, p| *p < 5);
    builder
        .stream::<String, u64>("orders")
        .join_table(&cheap, |n, p| n * p)
        .to("totals");
    let topology = builder.build().unwrap();
    assert_eq!(
        topology.store_names(),
        ["prices", "KSTREAM-JOIN-0000000003-table-store"]
    );
    let mut driver = TopologyTestDriver::new(topology).unwrap();
    driver.pipe("prices", &s("pen"), &3_u64, 1).unwrap();
    driver.pipe("orders", &s("pen"), &2_u64, 2).unwrap();
    driver.pipe("prices", &s("pen"), &7_u64, 3).unwrap(); // filtered out: a delete
    driver.pipe("orders", &s("pen"), &2_u64, 4).unwrap();
    let out = driver.read_output::<String, u64>("totals").unwrap();
    assert_eq!(out, [(s("pen"), 6, 2)]);
}

#[test]
fn table_table_deletes_emit_a_delete_of_an_existing_row_only() {
    let builder = StreamsBuilder::new();
    let a = builder.table::<String, u64>("a", "a");
    let b = builder.table::<String, u64>("b", "b");
    a.join(&b, |x, y| x + y).to("inner");
    a.left_join(&b, |x, y| x + y.copied().unwrap_or(1_000))
        .to("left");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    driver.pipe("a", &s("k"), &1_u64, 1).unwrap();
    driver.pipe_raw("b", Some(b"k"), None, 2).unwrap(); // b never had k
    driver.pipe("b", &s("k"), &10_u64, 3).unwrap();
    driver.pipe_raw("b", Some(b"k"), None, 4).unwrap();
    driver.pipe_raw("a", Some(b"k"), None, 5).unwrap();
    driver.pipe_raw("a", Some(b"k"), None, 6).unwrap(); // already gone
    let values = |records: Vec<TestRecord>| -> Vec<(Option<u64>, i64)> {
        records
            .into_iter()
            .map(|r| (r.value.map(|v| u64::decode(&v).unwrap()), r.timestamp_ms))
            .collect()
    };
    assert_eq!(
        values(driver.read_output_raw("inner")),
        [(Some(11), 3), (None, 4)]
    );
    assert_eq!(
        values(driver.read_output_raw("left")),
        [(Some(1_001), 1), (Some(11), 3), (Some(1_001), 4), (None, 5)]
    );
    // Each side's store reads as a table of its types; both are empty again.
    let this = driver.store::<String, u64>("KSTREAM-JOIN-0000000002-this-table-store");
    assert!(this.unwrap().is_empty());
    driver.pipe("b", &s("k"), &4_u64, 7).unwrap();
    let other = driver.store::<String, u64>("KSTREAM-JOIN-0000000002-other-table-store");
    assert_eq!(other.unwrap().all(), [(s("k"), 4)]);
}

#[test]
fn a_changed_key_is_repartitioned_before_the_join_and_co_partitioned() {
    let builder = StreamsBuilder::new();
    let users = builder.table::<String, String>("users", "users");
    builder
        .stream::<String, String>("visits") // keyed by visit id, value "user:page"
        .select_key(|_, v| v.split(':').next().unwrap_or_default().to_string())
        .join_table(&users, |visit, name| format!("{name} saw {visit}"))
        .to("out");
    let topology = builder.build().unwrap();
    let names: Vec<String> = topology
        .internal_topics()
        .iter()
        .map(|t| t.name("app"))
        .collect();
    assert!(
        names.contains(&s("__app-KSTREAM-JOIN-0000000003-this-repartition")),
        "{names:?}"
    );
    assert_eq!(
        topology.co_partition_groups("app"),
        [vec![
            s("__app-KSTREAM-JOIN-0000000003-this-repartition"),
            s("users")
        ]]
    );
    let mut driver = TopologyTestDriver::new(topology).unwrap();
    driver.pipe("users", &s("u1"), &s("Ann"), 1).unwrap();
    driver.pipe("visits", &s("v9"), &s("u1:/home"), 2).unwrap();
    let out = driver.read_output::<String, String>("out").unwrap();
    assert_eq!(out, [(s("u1"), s("Ann saw u1:/home"), 2)]);
}

#[test]
fn two_re_keyed_streams_are_both_repartitioned_before_their_join() {
    let builder = StreamsBuilder::new();
    let customer = |_: &String, v: &String| v.split(':').next().unwrap_or_default().to_string();
    let orders = builder
        .stream::<String, String>("orders")
        .select_key(customer);
    let payments = builder
        .stream::<String, String>("payments")
        .select_key(customer);
    orders
        .join(
            &payments,
            JoinWindows::of(Duration::from_secs(60)),
            |o, p| format!("{o}+{p}"),
        )
        .to("paid");
    let topology = builder.build().unwrap();
    let repartition = |side: &str| format!("__shop-KSTREAM-JOIN-0000000004-{side}-repartition");
    assert_eq!(
        topology.co_partition_groups("shop"),
        [vec![repartition("other"), repartition("this")]]
    );
    let mut driver = TopologyTestDriver::with_application_id(topology, "shop").unwrap();
    driver
        .pipe("orders", &s("o1"), &s("ann:pen"), 1_000)
        .unwrap();
    driver
        .pipe("payments", &s("p1"), &s("bob:5"), 2_000)
        .unwrap();
    driver
        .pipe("payments", &s("p2"), &s("ann:3"), 61_000)
        .unwrap();
    let out = driver.read_output::<String, String>("paid").unwrap();
    assert_eq!(out, [(s("ann"), s("ann:pen+ann:3"), 61_000)]);
}

#[test]
fn a_stream_joined_with_itself_pairs_each_record_with_every_one_in_the_window() {
    let builder = StreamsBuilder::new();
    let clicks = builder.stream::<String, u64>("clicks");
    clicks
        .join(&clicks, JoinWindows::of(ms(10)), |a, b| format!("{a}/{b}"))
        .to("pairs");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    driver.pipe("clicks", &s("k"), &1_u64, 0).unwrap();
    driver.pipe("clicks", &s("k"), &2_u64, 5).unwrap();
    driver.pipe("clicks", &s("k"), &3_u64, 20).unwrap();
    let out: Vec<(String, i64)> = driver
        .read_output::<String, String>("pairs")
        .unwrap()
        .into_iter()
        .map(|(_, v, t)| (v, t))
        .collect();
    // As Kafka's (unoptimized and KIP-862 self-joins alike): every ordered pair within
    // the window, a record with itself included.
    assert_eq!(
        out,
        [
            (s("1/1"), 0),
            (s("2/1"), 5),
            (s("1/2"), 5),
            (s("2/2"), 5),
            (s("3/3"), 20)
        ]
    );
}

#[test]
fn joins_across_builders_and_overlapping_groups() {
    let one = StreamsBuilder::new();
    let other = StreamsBuilder::new();
    let a = one.stream::<String, u64>("a");
    let b = other.stream::<String, u64>("b");
    a.join(&b, JoinWindows::of(ms(1)), |x, y| x + y).to("out");
    assert!(matches!(one.build(), Err(Error::InvalidTopology { .. })));
    let (one, other) = (StreamsBuilder::new(), StreamsBuilder::new());
    let t = other.table::<String, u64>("t", "t");
    one.stream::<String, u64>("a")
        .join_table(&t, |x, y| x + y)
        .to("out");
    assert!(matches!(one.build(), Err(Error::InvalidTopology { .. })));
    let (one, other) = (StreamsBuilder::new(), StreamsBuilder::new());
    let t = other.table::<String, u64>("t", "t");
    one.table::<String, u64>("a", "a")
        .join(&t, |x, y| x + y)
        .to("out");
    assert!(matches!(one.build(), Err(Error::InvalidTopology { .. })));
    assert!(other.build().is_ok(), "the other builder is untouched");

    // Two joins sharing "b": one group of three topics.
    let builder = StreamsBuilder::new();
    let (a, b, c) = (
        builder.stream::<String, u64>("a"),
        builder.stream::<String, u64>("b"),
        builder.stream::<String, u64>("c"),
    );
    a.join(&b, JoinWindows::of(ms(1)), |x, y| x + y).to("ab");
    c.join(&b, JoinWindows::of(ms(1)), |x, y| x + y).to("cb");
    let topology = builder.build().unwrap();
    assert_eq!(
        topology.co_partition_groups("x"),
        [vec![s("a"), s("b"), s("c")]]
    );
    let changelogs: Vec<String> = topology
        .internal_topics()
        .iter()
        .filter(|t| t.is_changelog())
        .map(|t| format!("{} {}", t.suffix(), t.cleanup_policy()))
        .collect();
    assert_eq!(changelogs.len(), 4);
    assert!(
        changelogs
            .iter()
            .all(|c| c.ends_with("join-store-changelog compact,delete")),
        "{changelogs:?}"
    );
}

#[test]
fn inputs_with_different_partition_counts_are_refused() {
    let builder = StreamsBuilder::new();
    let b = builder.table::<String, u64>("b", "b");
    // "a" is re-keyed: its repartition topic, not "a", is joined with "b".
    let a = builder.stream::<String, u64>("a");
    a.select_key(|k, _| k.clone())
        .join_table(&b, |x, y| x + y)
        .to("ab");
    let c = builder.stream::<String, u64>("c");
    c.join_table(&b, |x, y| x + y).to("cb");
    let topology = builder.build().unwrap();
    let counts = |b: u32, c: u32| {
        move |topic: &str| match topic {
            "a" => Some(7),
            "b" => Some(b),
            "c" => Some(c),
            _ => None, // the repartition topic, not created yet
        }
    };
    assert!(topology.check_co_partitioned("app", counts(3, 3)).is_ok());
    let err = topology
        .check_co_partitioned("app", counts(2, 3))
        .unwrap_err();
    let Error::InvalidTopology { reason } = err else {
        panic!("{err}");
    };
    assert!(
        reason.contains("b has 2") && reason.contains("c has 3"),
        "{reason}"
    );
    assert!(!reason.contains("a has"), "{reason}");
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Location {
    zone: String,
    lat: f64,
    lon: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RideRequest {
    rider: String,
    driver: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Dispatch {
    rider: String,
    driver: String,
    zone: Option<String>,
}

#[test]
fn ride_requests_join_driver_locations_after_a_rekey() {
    let builder = StreamsBuilder::new();
    let locations = builder.table::<String, Json<Location>>("driver-location", "driver-locations");
    builder
        .stream::<String, Json<RideRequest>>("ride-requests") // keyed by request id
        .select_key(|_request, ride| ride.driver.clone())
        .left_join_table(&locations, |ride, at| {
            Json(Dispatch {
                rider: ride.rider.clone(),
                driver: ride.driver.clone(),
                zone: at.map(|l| l.zone.clone()),
            })
        })
        .to("dispatches");
    let topology = builder.build().unwrap();
    assert_eq!(topology.co_partition_groups("rides").len(), 1);
    let mut driver = TopologyTestDriver::new(topology).unwrap();
    let at = |zone: &str| {
        Json(Location {
            zone: s(zone),
            lat: 59.9,
            lon: 10.7,
        })
    };
    let ride = |rider: &str, d: &str| {
        Json(RideRequest {
            rider: s(rider),
            driver: s(d),
        })
    };
    driver
        .pipe("driver-location", &s("d1"), &at("north"), 1)
        .unwrap();
    driver
        .pipe("ride-requests", &s("r1"), &ride("ann", "d1"), 2)
        .unwrap();
    driver
        .pipe("driver-location", &s("d1"), &at("south"), 3)
        .unwrap();
    driver
        .pipe("ride-requests", &s("r2"), &ride("bob", "d1"), 4)
        .unwrap();
    driver
        .pipe("ride-requests", &s("r3"), &ride("cy", "d2"), 5)
        .unwrap();
    let out = driver
        .read_output::<String, Json<Dispatch>>("dispatches")
        .unwrap();
    let zones: Vec<(String, Option<String>, i64)> =
        out.into_iter().map(|(k, d, t)| (k, d.0.zone, t)).collect();
    assert_eq!(
        zones,
        [
            (s("d1"), Some(s("north")), 2),
            (s("d1"), Some(s("south")), 4),
            (s("d2"), None, 5),
        ]
    );
}
