//! The stateless operators, each against a small reference computation on a `Vec`; chains,
//! branches and merges; decoding once per chain; and the errors of building and driving.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use proptest::prelude::*;

use super::*;
use crate::error::Error;

/// An input record: key, value, timestamp.
type Input = (String, u64, i64);

fn inputs() -> impl Strategy<Value = Vec<Input>> {
    proptest::collection::vec(("[a-c]{1,2}", 0_u64..1_000, 0_i64..10_000), 0..40)
}

/// Runs `inputs` into topic "in" of the topology `shape` builds, returns what "out" got.
fn run<K2: Codec, V2: Codec>(
    inputs: &[Input],
    shape: impl FnOnce(&KStream<String, u64>) -> KStream<K2, V2>,
) -> Vec<(K2, V2, i64)> {
    let builder = StreamsBuilder::new();
    shape(&builder.stream::<String, u64>("in")).to("out");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    for (key, value, ts) in inputs {
        driver.pipe("in", key, value, *ts).unwrap();
    }
    driver.read_output("out").unwrap()
}

proptest! {
    #[test]
    fn filter_and_filter_not_split_the_stream(inputs in inputs()) {
        let kept = run(&inputs, |s| s.filter(|_, v| v % 3 == 0));
        let dropped = run(&inputs, |s| s.filter_not(|_, v| v % 3 == 0));
        let want_kept: Vec<Input> = inputs.iter().filter(|(_, v, _)| v % 3 == 0).cloned().collect();
        let want_dropped: Vec<Input> = inputs.iter().filter(|(_, v, _)| v % 3 != 0).cloned().collect();
        prop_assert_eq!(kept, want_kept);
        prop_assert_eq!(dropped, want_dropped);
    }

    #[test]
    fn map_changes_key_and_value(inputs in inputs()) {
        let got = run(&inputs, |s| s.map(|k, v| (v * 2, format!("{k}:{v}"))));
        let want: Vec<(u64, String, i64)> =
            inputs.iter().map(|(k, v, t)| (v * 2, format!("{k}:{v}"), *t)).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn map_values_keeps_the_key(inputs in inputs()) {
        let got = run(&inputs, |s| s.map_values(|v| i64::try_from(*v).unwrap_or(0) - 500));
        let want: Vec<(String, i64, i64)> =
            inputs.iter().map(|(k, v, t)| (k.clone(), i64::try_from(*v).unwrap() - 500, *t)).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn flat_map_emits_zero_or_more_per_record(inputs in inputs()) {
        let got = run(&inputs, |s| s.flat_map(|k, v| (0..v % 4).map(move |i| (format!("{k}-{i}"), i)).collect::<Vec<_>>()));
        let want: Vec<(String, u64, i64)> = inputs
            .iter()
            .flat_map(|(k, v, t)| (0..v % 4).map(move |i| (format!("{k}-{i}"), i, *t)))
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn flat_map_values_repeats_the_key(inputs in inputs()) {
        let got = run(&inputs, |s| s.flat_map_values(|v| vec![*v; usize::try_from(v % 3).unwrap_or(0)]));
        let want: Vec<Input> = inputs
            .iter()
            .flat_map(|(k, v, t)| std::iter::repeat_n((k.clone(), *v, *t), usize::try_from(v % 3).unwrap()))
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn select_key_keeps_the_value(inputs in inputs()) {
        let got = run(&inputs, |s| s.select_key(|k, v| format!("{v}/{k}")));
        let want: Vec<(String, u64, i64)> =
            inputs.iter().map(|(k, v, t)| (format!("{v}/{k}"), *v, *t)).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn peek_sees_every_record_and_changes_none(inputs in inputs()) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let got = run(&inputs, move |s| s.peek(move |k, v| log.lock().unwrap().push((k.clone(), *v))));
        let want_seen: Vec<(String, u64)> = inputs.iter().map(|(k, v, _)| (k.clone(), *v)).collect();
        prop_assert_eq!(&*seen.lock().unwrap(), &want_seen);
        prop_assert_eq!(got, inputs);
    }

    #[test]
    fn a_chain_of_operators_equals_the_chain_on_a_vec(inputs in inputs()) {
        let got = run(&inputs, |s| {
            s.filter(|k, _| k != "b")
                .map_values(|v| v + 1)
                .flat_map(|k, v| vec![(k.clone(), *v), (format!("{k}!"), v * 10)])
                .filter_not(|_, v| v % 7 == 0)
                .select_key(|k, _| k.to_uppercase())
                .map(|k, v| (Json(vec![k.clone()]), *v))
        });
        let want: Vec<(Json<Vec<String>>, u64, i64)> = inputs
            .iter()
            .filter(|(k, _, _)| k != "b")
            .map(|(k, v, t)| (k.clone(), v + 1, *t))
            .flat_map(|(k, v, t)| vec![(k.clone(), v, t), (format!("{k}!"), v * 10, t)])
            .filter(|(_, v, _)| v % 7 != 0)
            .map(|(k, v, t)| (Json(vec![k.to_uppercase()]), v, t))
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn merge_interleaves_two_streams_in_processing_order(
        inputs in proptest::collection::vec((any::<bool>(), "[a-c]", 0_u64..100, 0_i64..100), 0..40)
    ) {
        let builder = StreamsBuilder::new();
        let left = builder.stream::<String, u64>("left").map_values(|v| v + 1_000);
        let right = builder.stream::<String, u64>("right").filter(|_, v| v % 2 == 0);
        left.merge(&right).map_values(|v| v * 2).to("out");
        let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
        let mut want = Vec::new();
        for (to_left, key, value, ts) in &inputs {
            let topic = if *to_left { "left" } else { "right" };
            driver.pipe(topic, key, value, *ts).unwrap();
            if *to_left {
                want.push((key.clone(), (value + 1_000) * 2, *ts));
            } else if value % 2 == 0 {
                want.push((key.clone(), value * 2, *ts));
            }
        }
        prop_assert_eq!(driver.read_output::<String, u64>("out").unwrap(), want);
    }
}

proptest! {
    /// Hostile input: whatever the bytes, a topology errors or processes, never panics, and
    /// a record that fails leaves the next one unaffected.
    #[test]
    fn arbitrary_bytes_never_panic_a_topology(
        records in proptest::collection::vec(
            (
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..12)),
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..12)),
            ),
            0..20,
        )
    ) {
        let builder = StreamsBuilder::new();
        builder.stream::<String, u64>("in").map_values(|v| v / 2).to("longs");
        builder
            .stream::<Windowed<u64>, Json<Vec<i64>>>("in")
            .map(|w, v| (w.start_ms, Json(v.len())))
            .to("windows");
        let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
        let mut decodable = 0;
        for (key, value) in &records {
            let ok = driver.pipe_raw("in", key.as_deref(), value.as_deref(), 0).is_ok();
            let key_ok = String::decode(key.as_deref().unwrap_or_default()).is_ok();
            let value_ok = value.as_ref().is_some_and(|v| v.len() == 8);
            // The first chain decides whether the record fails; later ones are not reached.
            if key_ok && value_ok {
                decodable += 1;
            } else {
                prop_assert!(!ok);
            }
        }
        prop_assert_eq!(driver.read_output_raw("longs").len(), decodable);
    }
}

#[test]
fn for_each_ends_the_stream_and_sees_every_record() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, u64>("in")
        .for_each(move |k, v| log.lock().unwrap().push(format!("{k}={v}")));
    let topology = builder.build().unwrap();
    assert!(topology.sink_topics().is_empty());
    let mut driver = TopologyTestDriver::new(topology).unwrap();
    driver.pipe("in", &"a".to_string(), &1_u64, 0).unwrap();
    driver.pipe("in", &"b".to_string(), &2_u64, 0).unwrap();
    assert_eq!(*seen.lock().unwrap(), ["a=1", "b=2"]);
}

#[test]
fn a_branching_stream_gives_every_record_to_every_branch() {
    let builder = StreamsBuilder::new();
    let source = builder.stream::<String, u64>("in");
    source.filter(|_, v| *v > 1).to("big");
    source.to("all");
    source.map_values(|v| v * 100).to("scaled");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    for v in 1..=3_u64 {
        driver.pipe("in", &"k".to_string(), &v, 10).unwrap();
    }
    let values = |out: Vec<(String, u64, i64)>| out.into_iter().map(|r| r.1).collect::<Vec<_>>();
    assert_eq!(values(driver.read_output("big").unwrap()), [2, 3]);
    assert_eq!(values(driver.read_output("all").unwrap()), [1, 2, 3]);
    assert_eq!(
        values(driver.read_output("scaled").unwrap()),
        [100, 200, 300]
    );
}

#[test]
fn merging_a_stream_with_itself_doubles_it() {
    let builder = StreamsBuilder::new();
    let s = builder.stream::<String, u64>("in");
    s.merge(&s).to("out");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    driver.pipe("in", &"k".to_string(), &7_u64, 1).unwrap();
    assert_eq!(driver.read_output::<String, u64>("out").unwrap().len(), 2);
}

static DECODES: AtomicUsize = AtomicUsize::new(0);

/// A `u64` codec that counts its decodes.
#[derive(Clone, Debug, PartialEq)]
struct Counted(u64);

impl Codec for Counted {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
    }

    fn decode(bytes: &[u8]) -> crate::Result<Self> {
        DECODES.fetch_add(1, Ordering::Relaxed);
        u64::decode(bytes).map(Counted)
    }
}

#[test]
fn a_record_is_decoded_once_per_chain_not_per_operator() {
    let builder = StreamsBuilder::new();
    let source = builder.stream::<String, Counted>("in");
    let chain = source
        .filter(|_, v| v.0 > 0)
        .map_values(|v| Counted(v.0 + 1))
        .peek(|_, _| {})
        .select_key(|k, _| k.clone());
    chain.to("a");
    chain.filter(|_, v| v.0 > 5).to("b");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let before = DECODES.load(Ordering::Relaxed);
    for v in 0..10_u64 {
        driver.pipe("in", &"k".to_string(), &Counted(v), 0).unwrap();
    }
    assert_eq!(DECODES.load(Ordering::Relaxed) - before, 10);
    assert_eq!(driver.read_output_raw("a").len(), 9);
    assert_eq!(driver.read_output_raw("b").len(), 5);
}

#[test]
fn unit_keys_and_values_are_written_as_none() {
    let builder = StreamsBuilder::new();
    let s = builder.stream::<(), String>("in");
    s.to("keyless");
    s.map(|(), v| (v.clone(), ())).to("tombstones");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    driver
        .pipe_raw("in", Some(b"ignored"), Some(b"v"), 5)
        .unwrap();
    assert_eq!(
        driver.read_output_raw("keyless"),
        [TestRecord {
            key: None,
            value: Some(b"v".to_vec()),
            timestamp_ms: 5
        }]
    );
    assert_eq!(
        driver.read_output_raw("tombstones"),
        [TestRecord {
            key: Some(b"v".to_vec()),
            value: None,
            timestamp_ms: 5
        }]
    );
}

#[test]
fn a_missing_key_or_value_is_decoded_from_no_bytes() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, Vec<u8>>("in")
        .map(|k, v| (format!("<{k}>"), v.len() as u64))
        .to("out");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    driver.pipe_raw("in", None, None, 3).unwrap();
    driver.pipe_raw("in", Some(b"k"), Some(b"abc"), 4).unwrap();
    assert_eq!(
        driver.read_output::<String, u64>("out").unwrap(),
        [("<>".to_string(), 0, 3), ("<k>".to_string(), 3, 4)]
    );
}

#[test]
fn a_record_without_a_key_is_written_without_one_until_an_operator_makes_one() {
    // Kafka's `null` key passes `filter` and `map_values` unchanged (strom wrote the empty
    // string's bytes); `map`, `flat_map` and `select_key` make a key. Found by holding strom
    // beside Kafka Streams on the same input (bench/streams-reference).
    let builder = StreamsBuilder::new();
    let lines = builder.stream::<String, String>("in");
    let kept = lines
        .filter(|_, v| !v.is_empty())
        .map_values(|v| v.to_uppercase());
    kept.to("kept");
    kept.select_key(|_, v| v.clone()).to("selected");
    kept.map(|_, v| (v.clone(), v.len() as u64)).to("mapped");
    kept.flat_map(|_, v| [(v.clone(), 1_u64)]).to("flat");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    driver.pipe_raw("in", None, Some(b"a"), 1).unwrap();
    driver.pipe_raw("in", Some(b""), Some(b"b"), 2).unwrap();
    let keys =
        |out: Vec<TestRecord>| -> Vec<Option<Vec<u8>>> { out.into_iter().map(|r| r.key).collect() };
    assert_eq!(keys(driver.read_output_raw("kept")), [None, Some(vec![])]);
    for made in ["selected", "mapped", "flat"] {
        let want = [Some(b"A".to_vec()), Some(b"B".to_vec())];
        assert_eq!(keys(driver.read_output_raw(made)), want, "{made}");
    }
}

#[test]
fn an_undecodable_record_is_an_error_naming_its_place_and_later_records_go_on() {
    let builder = StreamsBuilder::new();
    builder.stream::<String, u64>("in").to("out");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    driver.pipe("in", &"a".to_string(), &1_u64, 0).unwrap();
    let err = driver
        .pipe_raw("in", Some(b"b"), Some(b"short"), 0)
        .unwrap_err();
    match &err {
        Error::Serde { context, .. } => {
            assert_eq!(context, "value of in-0@1: u64: expected 8 bytes, found 5");
        }
        other => panic!("expected Error::Serde, got {other:?}"),
    }
    let err = driver
        .pipe_raw("in", Some(b"\xff"), Some(&[0; 8]), 0)
        .unwrap_err();
    assert!(err.to_string().contains("in-0@2"), "{err}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the codec's error is kept as the source"
    );
    // A missing value is no bytes: a u64 refuses it.
    assert!(driver.pipe_raw("in", Some(b"c"), None, 0).is_err());
    driver.pipe("in", &"d".to_string(), &4_u64, 0).unwrap();
    let out = driver.read_output::<String, u64>("out").unwrap();
    assert_eq!(out, [("a".to_string(), 1, 0), ("d".to_string(), 4, 0)]);
}

#[test]
fn a_value_that_does_not_encode_is_an_error_naming_the_sink_and_the_input() {
    use std::collections::HashMap;
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, u64>("in")
        .map_values(|v| Json(HashMap::from([((*v, *v), 1_u8)])))
        .to("out");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let err = driver.pipe("in", &"k".to_string(), &3_u64, 0).unwrap_err();
    let text = match &err {
        Error::Serde { context, .. } => context.clone(),
        other => panic!("expected Error::Serde, got {other:?}"),
    };
    assert!(
        text.starts_with(r#"value for "out" from in-0@0: JSON value of type"#),
        "{text}"
    );
    assert!(driver.read_output_raw("out").is_empty());
}

#[test]
fn the_driver_refuses_unknown_topics_and_negative_timestamps() {
    let builder = StreamsBuilder::new();
    builder.stream::<String, String>("in").to("out");
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    assert!(matches!(
        driver.pipe("elsewhere", &String::new(), &String::new(), 0),
        Err(Error::UnknownTopic { topic }) if topic == "elsewhere"
    ));
    assert!(matches!(
        driver.pipe("in", &String::new(), &String::new(), -1),
        Err(Error::InvalidRecord { .. })
    ));
    assert!(driver.read_output_raw("out").is_empty());
    assert!(driver.read_output_raw("never-written").is_empty());
}

#[test]
fn build_refuses_what_cannot_run() {
    assert!(matches!(
        StreamsBuilder::new().build(),
        Err(Error::InvalidTopology { .. })
    ));

    let builder = StreamsBuilder::new();
    builder.stream::<String, String>("bad name").to("out");
    assert!(matches!(
        builder.build(),
        Err(Error::InvalidTopicName { name, .. }) if name == "bad name"
    ));

    let builder = StreamsBuilder::new();
    builder.stream::<String, String>("in").to("__internal");
    assert!(matches!(
        builder.build(),
        Err(Error::InvalidTopicName { .. })
    ));

    let one = StreamsBuilder::new();
    let other = StreamsBuilder::new();
    let a = one.stream::<String, String>("a");
    let b = other.stream::<String, String>("b");
    a.merge(&b).to("out");
    let err = one.build().unwrap_err();
    assert!(
        err.to_string().contains("different StreamsBuilders"),
        "{err}"
    );
}

#[test]
fn streams_remember_whether_their_key_changed() {
    let builder = StreamsBuilder::new();
    let source = builder.stream::<String, u64>("in");
    assert!(!source.key_changed());
    let filtered = source
        .filter(|_, _| true)
        .map_values(|v| v + 1)
        .peek(|_, _| {});
    assert!(!filtered.key_changed());
    assert!(!source.flat_map_values(|v| vec![*v]).key_changed());
    let rekeyed = filtered.select_key(|_, v| v.to_string());
    assert!(rekeyed.key_changed());
    assert!(rekeyed.filter(|_, _| true).key_changed());
    assert!(source.map(|k, v| (k.clone(), *v)).key_changed());
    assert!(source.flat_map(|k, v| vec![(k.clone(), *v)]).key_changed());
    let other = builder.stream::<String, u64>("other");
    assert!(!source.merge(&other).key_changed());
    assert!(source
        .merge(&other.select_key(|k, _| k.clone()))
        .key_changed());
}

#[test]
fn the_topology_lists_its_topics_and_describes_its_operators() {
    let builder = StreamsBuilder::new();
    let a = builder.stream::<String, String>("b-in");
    let b = builder.stream::<String, String>("a-in");
    a.merge(&b).filter(|_, _| true).to("out");
    a.to("out");
    let topology = builder.build().unwrap();
    assert_eq!(topology.source_topics(), ["a-in", "b-in"]);
    assert_eq!(topology.sink_topics(), ["out"]);
    let text = topology.to_string();
    assert!(
        text.contains("Source: KSTREAM-SOURCE-0000000000 (topic: b-in)"),
        "{text}"
    );
    assert!(
        text.contains("Processor: KSTREAM-MERGE-0000000002"),
        "{text}"
    );
    assert!(
        text.contains("<-- KSTREAM-SOURCE-0000000000, KSTREAM-SOURCE-0000000001"),
        "{text}"
    );
    assert!(
        text.contains("Sink: KSTREAM-SINK-0000000004 (topic: out)"),
        "{text}"
    );
}

#[test]
fn handles_and_topologies_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<StreamsBuilder>();
    send_sync::<KStream<String, Json<Vec<u8>>>>();
    send_sync::<Topology>();
    send::<TopologyTestDriver>();
    send::<topology::Task>();
}

#[test]
fn tasks_of_one_topology_are_independent() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, u64>("in")
        .map_values(|v| v + 1)
        .to("out");
    let topology = builder.build().unwrap();
    let mut first = TopologyTestDriver::new(topology.clone()).unwrap();
    let mut second = TopologyTestDriver::new(topology).unwrap();
    first.pipe("in", &"k".to_string(), &1_u64, 0).unwrap();
    second.pipe("in", &"k".to_string(), &2_u64, 0).unwrap();
    assert_eq!(
        first.read_output::<String, u64>("out").unwrap(),
        [("k".to_string(), 2, 0)]
    );
    assert_eq!(
        second.read_output::<String, u64>("out").unwrap(),
        [("k".to_string(), 3, 0)]
    );
}

#[test]
fn streams_added_after_build_do_not_change_the_topology() {
    let builder = StreamsBuilder::new();
    let s = builder.stream::<String, u64>("in");
    s.to("out");
    let topology = builder.build().unwrap();
    s.to("late");
    assert_eq!(topology.sink_topics(), ["out"]);
}
