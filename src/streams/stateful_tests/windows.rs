//! Windowed aggregations, sessions and suppression, each against a naive reference:
//! windows at their edges, grace, late records, eviction, session merges and their
//! tombstones, and final results.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;

use super::{drive, inputs, s, Input};
use crate::error::Error;
use crate::streams::store::split_window_key;
use crate::streams::*;

proptest! {
    #[test]
    fn windowed_counts_equal_a_reference_with_stream_time_and_grace(
        inputs in inputs(),
        size in 1_i64..400,
        advance_div in 1_i64..4,
        grace in 0_i64..300,
    ) {
        let advance = (size / advance_div).max(1);
        let windows = TimeWindows::of(Duration::from_millis(size.unsigned_abs()))
            .advance_by(Duration::from_millis(advance.unsigned_abs()))
            .grace(Duration::from_millis(grace.unsigned_abs()));
        let mut driver = drive(&inputs, |s| {
            s.group_by_key().windowed_by(windows).count("w").to_stream().to("updates");
        });
        // The reference: every window containing t, by the definition; stream time the
        // running maximum; a window is closed once stream time reaches end + grace.
        let mut stream_time = -1_i64;
        let mut counts: BTreeMap<(String, i64), (u64, i64)> = BTreeMap::new();
        let mut updates = Vec::new();
        let mut dropped = 0;
        for (k, _, t) in &inputs {
            stream_time = stream_time.max(*t);
            let mut start = 0;
            while start <= *t {
                let end = start + size;
                if *t < end {
                    if end + grace <= stream_time {
                        dropped += 1;
                    } else {
                        // A window's update carries the largest timestamp of its records.
                        let (c, at) = counts.entry((k.clone(), start)).or_insert((0, *t));
                        *c += 1;
                        *at = (*at).max(*t);
                        updates.push((Windowed { key: k.clone(), start_ms: start, end_ms: end }, *c, *at));
                    }
                }
                start += advance;
            }
        }
        let got: Vec<(Windowed<String>, u64, i64)> = driver
            .read_output_raw("updates")
            .into_iter()
            .map(|r| {
                let w = Windowed::<String>::decode_with_size(&r.key.unwrap(), size).unwrap();
                (w, u64::decode(&r.value.unwrap()).unwrap(), r.timestamp_ms)
            })
            .collect();
        prop_assert_eq!(got, updates);
        prop_assert_eq!(driver.dropped_records(), dropped);
        prop_assert_eq!(driver.stream_time_ms(), stream_time);
        // Closed windows are evicted: the store holds the open ones only.
        let open: Vec<(Windowed<String>, u64)> = counts
            .into_iter()
            .filter(|((_, start), _)| start + size + grace > stream_time)
            .map(|((key, start), (c, _))| (Windowed { key, start_ms: start, end_ms: start + size }, c))
            .collect();
        let mut stored = driver.store::<Windowed<String>, u64>("w").unwrap().all();
        stored.sort_by(|a, b| (&a.0.key, a.0.start_ms).cmp(&(&b.0.key, b.0.start_ms)));
        prop_assert_eq!(stored, open);
    }

    #[test]
    fn session_counts_in_any_arrival_order_equal_the_runs_of_sorted_times(
        times in proptest::collection::vec(0_i64..500, 1..30),
        gap in 1_i64..60,
    ) {
        // With a grace longer than the input nothing is late or evicted, and a record joins
        // every session within the gap whatever the order: the sessions are the runs of the
        // sorted timestamps separated by at most the gap.
        let inputs: Vec<Input> = times.iter().map(|t| (s("k"), 0, *t)).collect();
        let sessions = SessionWindows::with_inactivity_gap(Duration::from_millis(gap.unsigned_abs()))
            .grace(Duration::from_secs(1));
        let mut driver = drive(&inputs, |s| {
            s.group_by_key().windowed_by(sessions).count("sessions");
        });
        let mut sorted = times.clone();
        sorted.sort_unstable();
        let mut want: Vec<(Windowed<String>, u64)> = Vec::new();
        for t in &sorted {
            match want.last_mut() {
                Some((w, c)) if t - w.end_ms <= gap => {
                    w.end_ms = *t;
                    *c += 1;
                }
                _ => want.push((Windowed { key: s("k"), start_ms: *t, end_ms: *t }, 1)),
            }
        }
        prop_assert_eq!(driver.store::<Windowed<String>, u64>("sessions").unwrap().all(), want.clone());
        // The changelog's writes and tombstones, applied in order, leave the same sessions.
        let mut replayed: BTreeMap<(i64, i64), u64> = BTreeMap::new();
        for r in driver.read_output_raw("__test-app-sessions-changelog") {
            let key = r.key.unwrap();
            let (_, start, end) = split_window_key(&key).unwrap();
            match r.value {
                Some(v) => replayed.insert((start, end), u64::decode(&v).unwrap()),
                None => replayed.remove(&(start, end)),
            };
        }
        let want: BTreeMap<(i64, i64), u64> =
            want.into_iter().map(|(w, c)| ((w.start_ms, w.end_ms), c)).collect();
        prop_assert_eq!(replayed, want);
    }

    #[test]
    fn suppression_emits_the_final_count_of_every_closed_window_once(
        inputs in inputs(),
        size in 1_i64..300,
        grace in 0_i64..100,
    ) {
        let windows = TimeWindows::of(Duration::from_millis(size.unsigned_abs()))
            .grace(Duration::from_millis(grace.unsigned_abs()));
        let mut driver = drive(&inputs, |s| {
            s.group_by_key()
                .windowed_by(windows)
                .count("c")
                .suppress_until_window_closes()
                .to_stream()
                .to("final");
        });
        // A record far ahead closes every window before it.
        let flush = 1_000_000;
        driver.pipe("in", &s("flush"), &0_u64, flush).unwrap();
        let mut stream_time = -1;
        let mut want: BTreeMap<(String, i64), u64> = BTreeMap::new();
        for (k, _, t) in &inputs {
            stream_time = stream_time.max(*t);
            let start = t - t % size;
            if start + size + grace > stream_time {
                *want.entry((k.clone(), start)).or_insert(0) += 1;
            }
        }
        let got: Vec<((String, i64), u64)> = driver
            .read_output::<Windowed<String>, u64>("final")
            .unwrap()
            .into_iter()
            .map(|(w, c, _)| ((w.key, w.start_ms), c))
            .collect();
        let mut sorted = got.clone();
        sorted.sort();
        sorted.dedup_by(|a, b| a.0 == b.0);
        prop_assert_eq!(sorted.len(), got.len(), "a window was emitted twice: {:?}", got);
        prop_assert_eq!(sorted, want.into_iter().collect::<Vec<_>>());
    }
}

#[test]
fn tumbling_windows_are_epoch_aligned_and_late_records_are_dropped_after_grace() {
    let builder = StreamsBuilder::new();
    let minute = Duration::from_secs(60);
    builder
        .stream::<String, u64>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of(minute * 5).grace(Duration::from_secs(30)))
        .count("c");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let pipe = |d: &mut TopologyTestDriver, t: i64| d.pipe("in", &s("u"), &0_u64, t).unwrap();
    pipe(&mut driver, 299_999); // [0, 300 000)
    pipe(&mut driver, 300_000); // [300 000, 600 000)
    pipe(&mut driver, 329_999); // stream time 329 999: [0, 300 000) is still in grace
    pipe(&mut driver, 1); // late but within grace: counted
    pipe(&mut driver, 330_000); // stream time reaches end + grace: [0, 300 000) closes
    pipe(&mut driver, 2); // dropped
    pipe(&mut driver, 10); // out of order: stream time stays
    assert_eq!(driver.stream_time_ms(), 330_000);
    assert_eq!(driver.dropped_records(), 2);
    let store = driver.store::<Windowed<String>, u64>("c").unwrap();
    // The closed window is evicted; the open one has its three records.
    assert_eq!(
        store.all(),
        [(
            Windowed {
                key: s("u"),
                start_ms: 300_000,
                end_ms: 600_000
            },
            3
        )]
    );
    let w = Windowed {
        key: s("u"),
        start_ms: 300_000,
        end_ms: 0, // not encoded: a window is found by key and start
    };
    assert_eq!(store.get(&w), Some(3));
}

#[test]
fn a_record_bridging_two_sessions_merges_them_and_deletes_the_old_ones() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, u64>("in")
        .group_by_key()
        .windowed_by(
            SessionWindows::with_inactivity_gap(Duration::from_millis(10))
                .grace(Duration::from_millis(100)),
        )
        .reduce("sessions", |a, b| a + b)
        .to_stream()
        .to("out");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    for (v, t) in [(1_u64, 0), (2, 20), (4, 10)] {
        driver.pipe("in", &s("k"), &v, t).unwrap();
    }
    let session = |start_ms, end_ms| Windowed {
        key: s("k"),
        start_ms,
        end_ms,
    };
    // The store and the changelog: the two sessions deleted, the merged one written.
    assert_eq!(
        driver
            .store::<Windowed<String>, u64>("sessions")
            .unwrap()
            .all(),
        [(session(0, 20), 7)]
    );
    let changelog: Vec<((i64, i64), Option<u64>)> = driver
        .read_output_raw("__test-app-sessions-changelog")
        .into_iter()
        .map(|r| {
            let key = r.key.unwrap();
            let (_, start, end) = split_window_key(&key).unwrap();
            ((start, end), r.value.map(|v| u64::decode(&v).unwrap()))
        })
        .collect();
    assert_eq!(
        changelog,
        [
            ((0, 0), Some(1)),
            ((20, 20), Some(2)),
            ((0, 0), None),
            ((20, 20), None),
            ((0, 20), Some(7))
        ]
    );
    // The stream of updates carries the updates, not the deletes.
    let out: Vec<(i64, u64)> = driver
        .read_output::<Windowed<String>, u64>("out")
        .unwrap()
        .into_iter()
        .map(|(w, v, _)| (w.start_ms, v))
        .collect();
    assert_eq!(out, [(0, 1), (20, 2), (0, 7)]);
    // A record inside a session updates it in place: no delete.
    driver.pipe("in", &s("k"), &1_u64, 5).unwrap();
    let changelog = driver.read_output_raw("__test-app-sessions-changelog");
    assert_eq!(changelog.len(), 1);
    assert!(changelog[0].value.is_some());
}

#[test]
fn a_record_whose_session_is_closed_is_dropped() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, u64>("in")
        .group_by_key()
        .windowed_by(SessionWindows::with_inactivity_gap(Duration::from_millis(
            10,
        )))
        .count("sessions");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    for t in [0, 100, 50, 95] {
        driver.pipe("in", &s("k"), &0_u64, t).unwrap();
    }
    // 50 makes a session [50, 50] already closed at stream time 100; 95 joins [100, 100].
    assert_eq!(driver.dropped_records(), 1);
    let all = driver
        .store::<Windowed<String>, u64>("sessions")
        .unwrap()
        .all();
    let got: Vec<(i64, i64, u64)> = all
        .iter()
        .map(|(w, c)| (w.start_ms, w.end_ms, *c))
        .collect();
    assert_eq!(got, [(95, 100, 2)]); // [0, 0] was evicted: past end + gap + grace
}

#[test]
fn session_updates_and_deletes_are_dated_and_ordered_as_kafka_streams_does() {
    // Kafka Streams (KStreamSessionWindowAggregate, no record cache) dates a session's update
    // at the session's end and each merged session's delete at that session's end, and
    // deletes the session a record falls inside before updating it. Found by holding strom
    // beside Kafka Streams on the same input (bench/streams-reference).
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, u64>("in")
        .group_by_key()
        .windowed_by(
            SessionWindows::with_inactivity_gap(Duration::from_millis(10))
                .grace(Duration::from_millis(100)),
        )
        .count("sessions")
        .to("out");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    for t in [0, 20, 10, 5, 5, 30, 30] {
        driver.pipe("in", &s("k"), &0_u64, t).unwrap();
    }
    let out: Vec<(i64, Option<u64>, i64)> = driver
        .read_output_raw("out")
        .into_iter()
        .map(|r| {
            let w = Windowed::<String>::decode(&r.key.unwrap()).unwrap();
            (
                w.start_ms,
                r.value.map(|v| u64::decode(&v).unwrap()),
                r.timestamp_ms,
            )
        })
        .collect();
    assert_eq!(
        out,
        [
            (0, Some(1), 0),
            (20, Some(1), 20),
            // 10 bridges [0, 0] and [20, 20]: both deleted, each at its end.
            (0, None, 0),
            (20, None, 20),
            (0, Some(3), 20),
            // 5 falls inside [0, 20]: deleted and updated, at 20.
            (0, None, 20),
            (0, Some(4), 20),
            (0, None, 20),
            (0, Some(5), 20),
            // 30 extends [0, 20] to [0, 30]; a second 30 is inside it.
            (0, None, 20),
            (0, Some(6), 30),
            (0, None, 30),
            (0, Some(7), 30),
        ]
    );
}

#[test]
fn a_session_takes_records_until_stream_time_passes_end_plus_gap_plus_grace() {
    // Kafka Streams' rule (its KStreamSessionWindowAggregate closes at stream time - grace -
    // gap): a record more than the grace behind stream time still counts while its session
    // could have been extended by a record within the gap. Found by holding strom beside
    // Kafka Streams on the same input (bench/streams-reference).
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, u64>("in")
        .group_by_key()
        .windowed_by(
            SessionWindows::with_inactivity_gap(Duration::from_millis(30))
                .grace(Duration::from_millis(10)),
        )
        .count("sessions");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    for (key, t) in [("a", 100), ("b", 140), ("a", 125), ("c", 101), ("d", 99)] {
        driver.pipe("in", &s(key), &0_u64, t).unwrap();
    }
    // At stream time 140: a's [100, 100] is open until 140, so 125 joins it (strom used to
    // close it at 110); c's [101, 101] is open until 141; d's [99, 99] closed after 139.
    assert_eq!(driver.dropped_records(), 1);
    let got: Vec<(String, i64, i64, u64)> = driver
        .store::<Windowed<String>, u64>("sessions")
        .unwrap()
        .all()
        .into_iter()
        .map(|(w, n)| (w.key, w.start_ms, w.end_ms, n))
        .collect();
    assert_eq!(
        got,
        [
            (s("a"), 100, 125, 2),
            (s("b"), 140, 140, 1),
            (s("c"), 101, 101, 1)
        ]
    );
}

#[test]
fn a_windowed_aggregation_closes_windows_by_the_records_it_sees_not_the_tasks() {
    // Kafka Streams' window aggregations keep their own stream time: a record the filter
    // above removed does not close windows (strom closed them by the task's stream time).
    // Found by holding strom beside Kafka Streams on the same input
    // (bench/streams-reference, the fraud rule's withdrawals among deposits).
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, u64>("in")
        .filter(|_, v| *v > 0)
        .group_by_key()
        .windowed_by(TimeWindows::of(Duration::from_millis(10)).grace(Duration::from_millis(5)))
        .count("c")
        .to_stream()
        .to("out");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    driver.pipe("in", &s("k"), &1_u64, 1).unwrap();
    driver.pipe("in", &s("k"), &0_u64, 100).unwrap(); // filtered out: the task's time only
    driver.pipe("in", &s("k"), &1_u64, 2).unwrap(); // [0, 10) is open for the count
    let out = driver.read_output::<Windowed<String>, u64>("out").unwrap();
    let counts: Vec<(i64, u64)> = out.iter().map(|(w, n, _)| (w.start_ms, *n)).collect();
    assert_eq!(counts, [(0, 1), (0, 2)]);
    assert_eq!(driver.dropped_records(), 0);
}

#[test]
fn suppression_emits_each_window_once_after_it_closes() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, u64>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of(Duration::from_millis(10)).grace(Duration::from_millis(5)))
        .count("c")
        .suppress_until_window_closes()
        .to_stream()
        .to("final");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let mut finals = Vec::new();
    let mut step = |d: &mut TopologyTestDriver, k: &str, t: i64| {
        d.pipe("in", &s(k), &0_u64, t).unwrap();
        let out: Vec<(String, i64, u64, i64)> = d
            .read_output::<Windowed<String>, u64>("final")
            .unwrap()
            .into_iter()
            .map(|(w, c, ts)| (w.key, w.start_ms, c, ts))
            .collect();
        finals.push(out);
    };
    step(&mut driver, "a", 1);
    step(&mut driver, "a", 4);
    step(&mut driver, "b", 9);
    step(&mut driver, "a", 14); // stream time 14 < 10 + 5: nothing final yet
    step(&mut driver, "b", 15); // 15 = end + grace: [0, 10) closes for a and b
    step(&mut driver, "a", 16);
    step(&mut driver, "a", 30); // [10, 20) closes
    assert_eq!(
        finals,
        [
            vec![],
            vec![],
            vec![],
            vec![],
            vec![(s("a"), 0, 2, 4), (s("b"), 0, 1, 9)],
            vec![],
            vec![(s("a"), 10, 2, 16), (s("b"), 10, 1, 15)],
        ]
    );
}

#[test]
fn suppression_needs_a_windowed_table() {
    let builder = StreamsBuilder::new();
    let _t = builder
        .table::<Windowed<String>, u64>("t", "t")
        .suppress_until_window_closes();
    let err = builder.build().unwrap_err();
    assert!(matches!(err, Error::InvalidTopology { .. }), "{err}");
}

#[test]
fn suppressed_sessions_emit_only_the_merged_final_session() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, u64>("in")
        .group_by_key()
        .windowed_by(
            SessionWindows::with_inactivity_gap(Duration::from_millis(10))
                .grace(Duration::from_millis(20)),
        )
        .count("sessions")
        .suppress_until_window_closes()
        .to_stream()
        .to("final");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    for t in [0, 20, 10, 50] {
        driver.pipe("in", &s("k"), &0_u64, t).unwrap();
    }
    // Stream time 50 = end 20 + gap 10 + grace 20: [0, 20] is final (Kafka's suppression
    // emits once stream time reaches it), dated at its end as its updates are; [50, 50] is
    // open.
    let finals: Vec<(i64, i64, u64)> = driver
        .read_output_raw("final")
        .into_iter()
        .map(|r| {
            let key = r.key.unwrap();
            let w = Windowed::<String>::decode(&key).unwrap();
            (
                w.start_ms,
                r.timestamp_ms,
                u64::decode(&r.value.unwrap()).unwrap(),
            )
        })
        .collect();
    assert_eq!(finals, [(0, 20, 3)]);
    driver.pipe("in", &s("k"), &0_u64, 100).unwrap();
    let finals = driver
        .read_output::<Windowed<String>, u64>("final")
        .unwrap();
    assert_eq!(finals.len(), 1);
    assert_eq!((finals[0].0.start_ms, finals[0].1), (50, 1));
}
