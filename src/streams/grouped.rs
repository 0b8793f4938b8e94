//! Groupings and aggregations: [`KGroupedStream`] (`count`, `reduce`, `aggregate` into a
//! key-value store) and its windowed forms [`TimeWindowedKStream`] and
//! [`SessionWindowedKStream`] (into windowed stores), each returning a [`KTable`].
//!
//! Every aggregation is one processor around a step `(key, value, previous aggregate) ->
//! aggregate`; the previous aggregate is read from the task's store (encoded) and the new
//! one written back in place. Without the record cache the write is emitted to the
//! store's changelog and the table at once; with it (key-value and time-windowed
//! aggregations) the entry is marked dirty, and the processor hands its downstream chain
//! to the task (a [`Flush`] registered on the first record), which emits the entry's
//! latest value when it flushes. A record without a key or value is dropped and counted,
//! as Kafka does.

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, Result};

use super::builder::{add_node, KStream};
use super::codec::{Codec, Windowed};
use super::processor::{encoded, fan_out, Context, Decode, Encode, Flush, Processor, Source, Step};
use super::store::{key_value_view, window_key, windowed_view, Layout, StoreSpec};
use super::table::{Closing, KTable};
use super::topology::{typed, Graph, Make, MakeSource, Node, Role};
use super::window::{SessionWindows, TimeWindows, Window};

/// How long a windowed store's changelog keeps records beyond the store's own retention:
/// Kafka Streams' `windowstore.changelog.additional.retention.ms` default, one day.
const CHANGELOG_EXTRA_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

impl<K: Codec, V: Codec> KStream<K, V> {
    /// Groups the records by their key, for an aggregation. If an operator upstream may
    /// have changed the key (`map`, `select_key`, `flat_map`), the aggregation first writes
    /// the records to a repartition topic `__<application_id>-<store>-repartition` and
    /// reads them back, so that equal keys meet in one task.
    pub fn group_by_key(&self) -> KGroupedStream<K, V> {
        KGroupedStream {
            stream: self.clone(),
            repartition: self.key_changed(),
        }
    }

    /// Groups the records by the key `selector` makes of each, for an aggregation; always
    /// through a repartition topic `__<application_id>-<store>-repartition`.
    ///
    /// ```
    /// # use strom::streams::{StreamsBuilder, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("orders") // user → country
    ///     .group_by(|_user, country| country.clone())
    ///     .count("orders-per-country");
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// for (user, country) in [("ann", "fr"), ("bob", "de"), ("cid", "fr")] {
    ///     driver.pipe("orders", &user.to_string(), &country.to_string(), 0)?;
    /// }
    /// let counts = driver.store::<String, u64>("orders-per-country")?;
    /// assert_eq!(counts.all(), [("de".to_string(), 1), ("fr".to_string(), 2)]);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn group_by<K2: Codec, F>(&self, selector: F) -> KGroupedStream<K2, V>
    where
        F: Fn(&K, &V) -> K2 + Send + Sync + 'static,
    {
        KGroupedStream {
            stream: self.select_key(selector),
            repartition: true,
        }
    }
}

/// A stream grouped by key, ready to be aggregated: Kafka Streams' `KGroupedStream`.
///
/// Each aggregation keeps its results in a named state store, in memory per task, whose
/// writes go to the compacted changelog `__<application_id>-<store>-changelog`; the
/// store can be read with [`TopologyTestDriver::store`](super::TopologyTestDriver::store).
/// Records without a key or without a value (no bytes: Kafka's `null`, which is how `()`
/// is written) are skipped and counted, as Kafka's aggregations skip them; a value made
/// by an operator (`map_values`…) is never `null`.
///
/// The resulting [`KTable`] carries the updates of the aggregate (with the record cache of
/// [`StreamsConfig::cache_max_bytes`](super::StreamsConfig::cache_max_bytes), the latest
/// per key per commit; without, each one), with the largest
/// timestamp of the records aggregated into it so far (as Kafka's timestamped stores): an
/// out-of-order record's update is not dated before its key's (or window's) latest.
/// Session updates carry the session's end, and the deletes of merged sessions each
/// one's own end, as Kafka's session aggregation dates them.
#[must_use = "a grouped stream does nothing until it is aggregated"]
pub struct KGroupedStream<K, V> {
    stream: KStream<K, V>,
    /// Whether aggregations go through a repartition topic first.
    repartition: bool,
}

impl<K, V> Clone for KGroupedStream<K, V> {
    fn clone(&self) -> Self {
        Self {
            stream: self.stream.clone(),
            repartition: self.repartition,
        }
    }
}

impl<K, V> fmt::Debug for KGroupedStream<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KGroupedStream")
            .field("stream", &self.stream)
            .field("repartition", &self.repartition)
            .finish()
    }
}

/// Records an error of an infallible builder call, for `build` to report.
fn problem(graph: &Arc<Mutex<Graph>>, reason: String) {
    graph.lock().problems.push(reason);
}

impl<K: Codec, V: Codec> KGroupedStream<K, V> {
    /// The stream the aggregation named `store` reads: this one, or the records read back
    /// from the repartition topic `<store>-repartition`.
    fn input(&self, store: &str) -> KStream<K, V> {
        if self.repartition {
            repartitioned(&self.stream, store)
        } else {
            self.stream.clone()
        }
    }

    /// The number of records per key, in the store `store`.
    ///
    /// ```
    /// # use strom::streams::{StreamsBuilder, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder.stream::<String, String>("logins").group_by_key().count("logins").to_stream().to("login-counts");
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// for user in ["ann", "ann", "bob"] {
    ///     driver.pipe("logins", &user.to_string(), &String::new(), 5)?;
    /// }
    /// let updates = driver.read_output::<String, u64>("login-counts")?;
    /// assert_eq!(updates, [("ann".into(), 1, 5), ("ann".into(), 2, 5), ("bob".into(), 1, 5)]);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn count(&self, store: &str) -> KTable<K, u64> {
        self.aggregate_with(store, |_, _, count: Option<u64>| {
            count.unwrap_or(0).saturating_add(1)
        })
    }

    /// Per key, the values combined by `reducer(aggregate, value)`, the first value as it
    /// is; in the store `store`.
    pub fn reduce<F>(&self, store: &str, reducer: F) -> KTable<K, V>
    where
        F: Fn(&V, &V) -> V + Send + Sync + 'static,
    {
        self.aggregate_with(store, move |_, value: &V, agg: Option<V>| match agg {
            Some(agg) => reducer(&agg, value),
            None => value.clone(),
        })
    }

    /// Per key, `aggregator(key, value, aggregate)` folded over the values from
    /// `initializer()`; in the store `store`.
    pub fn aggregate<A: Codec, I, F>(
        &self,
        store: &str,
        initializer: I,
        aggregator: F,
    ) -> KTable<K, A>
    where
        I: Fn() -> A + Send + Sync + 'static,
        F: Fn(&K, &V, &A) -> A + Send + Sync + 'static,
    {
        self.aggregate_with(store, move |key, value, agg: Option<A>| {
            let agg = agg.unwrap_or_else(&initializer);
            aggregator(key, value, &agg)
        })
    }

    /// Aggregates by `step(key, value, previous)`, `previous` being `None` for a key's first
    /// record.
    fn aggregate_with<A: Codec>(
        &self,
        store: &str,
        step: impl Fn(&K, &V, Option<A>) -> A + Send + Sync + 'static,
    ) -> KTable<K, A> {
        let input = self.input(store);
        let graph = input.graph();
        let id = graph.lock().add_store(StoreSpec {
            name: Arc::from(store),
            retention_ms: None,
            keep_ms: None,
            layout: Layout::KeyValue,
            own_clock: false,
            view: key_value_view::<K, A>(),
        });
        let step = Arc::new(step);
        let store: Arc<str> = Arc::from(store);
        let node = add_node::<K, V, K, Option<A>>(
            graph,
            &[input.node()],
            "AGGREGATE",
            Role::Operator,
            false,
            move |next| {
                let (step, store) = (Arc::clone(&step), Arc::clone(&store));
                // Handed to the record cache on the first record when the cache is on.
                let mut next = Some(next);
                let mut key_bytes = Vec::new();
                Box::new(Step(move |ctx: &mut Context, key: K, value: V| {
                    if !grouping_key(ctx, &key, &store, &mut key_bytes)? {
                        return Ok(());
                    }
                    if ctx.caching() {
                        if let Some(next) = next.take() {
                            ctx.register(id, Box::new(ForwardKeyValue { next }));
                        }
                    }
                    let mut new = None;
                    let mut encoding = false;
                    let at = ctx
                        .aggregate(id, &key_bytes, None, |old, out| {
                            let old = old.map(A::decode).transpose()?;
                            encoding = true;
                            encode_into(new.insert(step(&key, &value, old)), out)
                        })
                        .map_err(|e| ctx.locate(&aggregate_context(encoding, &store), e))?;
                    match (next.as_mut(), new) {
                        (Some(next), Some(new)) if !ctx.caching() => {
                            ctx.at_time(at, |ctx| next.process(ctx, key, Some(new)))
                        }
                        _ => Ok(()),
                    }
                }))
            },
        );
        // Its store always holds the latest aggregate (the record cache holds back only what
        // is emitted), so a join looks the table up there, never behind by a commit.
        graph.lock().table_stores.insert(node, id);
        KTable::at(graph, node, None)
    }

    /// Aggregates in windows on event time: [`TimeWindows`] (fixed size, tumbling or
    /// hopping) give a [`TimeWindowedKStream`], [`SessionWindows`] a
    /// [`SessionWindowedKStream`]; their aggregations return `KTable<Windowed<K>, _>`.
    pub fn windowed_by<W: Windowing>(&self, windows: W) -> W::Stream<K, V> {
        windows.window(self.clone())
    }
}

/// The two kinds of windows a grouped stream can be aggregated in:
/// [`TimeWindows`] (giving a [`TimeWindowedKStream`]) and [`SessionWindows`] (giving a
/// [`SessionWindowedKStream`]). Sealed: strom implements it for these two only.
pub trait Windowing: sealed::Sealed {
    /// The windowed stream `windowed_by` returns.
    type Stream<K: Codec, V: Codec>;

    /// Wraps `grouped` in these windows.
    #[doc(hidden)]
    fn window<K: Codec, V: Codec>(self, grouped: KGroupedStream<K, V>) -> Self::Stream<K, V>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::TimeWindows {}
    impl Sealed for super::SessionWindows {}
}

impl Windowing for TimeWindows {
    type Stream<K: Codec, V: Codec> = TimeWindowedKStream<K, V>;

    fn window<K: Codec, V: Codec>(
        self,
        grouped: KGroupedStream<K, V>,
    ) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream {
            grouped,
            windows: self,
        }
    }
}

impl Windowing for SessionWindows {
    type Stream<K: Codec, V: Codec> = SessionWindowedKStream<K, V>;

    fn window<K: Codec, V: Codec>(
        self,
        grouped: KGroupedStream<K, V>,
    ) -> SessionWindowedKStream<K, V> {
        SessionWindowedKStream {
            grouped,
            windows: self,
        }
    }
}

/// Encodes the key for a store into `out`; `false` (the record dropped and counted) for a
/// record without a key or without a value (Kafka's aggregations skip both).
fn grouping_key<K: Codec>(
    ctx: &mut Context,
    key: &K,
    store: &str,
    out: &mut Vec<u8>,
) -> Result<bool> {
    if ctx.key_absent || ctx.value_absent || key.is_absent() {
        ctx.dropped += 1;
        return Ok(false);
    }
    out.clear();
    key.try_encode(out)
        .map_err(|e| ctx.locate(&format!("key for store {store:?} of"), e))?;
    Ok(true)
}

/// What an aggregation's error concerns, before the record's place: the stored aggregate
/// that did not decode, or the new one that did not encode.
fn aggregate_context(encoding: bool, store: &str) -> String {
    if encoding {
        format!("aggregate for store {store:?} of")
    } else {
        format!("stored aggregate of {store:?} for")
    }
}

/// An aggregate's bytes for a store, into `out` (none for a value that is absent).
fn encode_into<A: Codec>(value: &A, out: &mut Vec<u8>) -> Result<()> {
    if value.is_absent() {
        return Ok(());
    }
    value.try_encode(out)
}

/// An aggregate's bytes for a store.
fn value_bytes<A: Codec>(ctx: &Context, value: &A, store: &str) -> Result<Vec<u8>> {
    let bytes =
        encoded(value).map_err(|e| ctx.locate(&format!("aggregate for store {store:?} of"), e))?;
    Ok(bytes.unwrap_or_default())
}

/// Sends a key-value aggregation's flushed updates down its table.
struct ForwardKeyValue<K, A> {
    next: Box<dyn Processor<K, Option<A>>>,
}

impl<K: Codec, A: Codec> Flush for ForwardKeyValue<K, A> {
    fn forward(
        &mut self,
        ctx: &mut Context,
        key: &[u8],
        _window: Option<Window>,
        value: &[u8],
    ) -> Result<()> {
        let (key, value) = decode_cached::<K, A>(key, value)?;
        self.next.process(ctx, key, Some(value))
    }
}

/// Sends a time-windowed aggregation's flushed updates down its table.
struct ForwardWindowed<K, A> {
    next: Box<dyn Processor<Windowed<K>, Option<A>>>,
}

impl<K: Codec, A: Codec> Flush for ForwardWindowed<K, A> {
    fn forward(
        &mut self,
        ctx: &mut Context,
        key: &[u8],
        window: Option<Window>,
        value: &[u8],
    ) -> Result<()> {
        let (key, value) = decode_cached::<K, A>(key, value)?;
        let window = window.unwrap_or(Window {
            start_ms: 0,
            end_ms: 0,
        });
        let windowed = Windowed {
            key,
            start_ms: window.start_ms,
            end_ms: window.end_ms,
        };
        self.next.process(ctx, windowed, Some(value))
    }
}

/// A cached entry's key and value, decoded (they were encoded by the same codecs when
/// the update was made, so this fails only for a codec that does not round-trip).
fn decode_cached<K: Codec, A: Codec>(key: &[u8], value: &[u8]) -> Result<(K, A)> {
    let in_cache = |what: &str, e: Error| match e {
        Error::Serde { context, source } => Error::Serde {
            context: format!("{what} of a cached aggregate: {context}"),
            source,
        },
        other => other,
    };
    let key = K::decode(key).map_err(|e| in_cache("key", e))?;
    let value = A::decode(value).map_err(|e| in_cache("value", e))?;
    Ok((key, value))
}

/// A grouped stream aggregated in fixed-size windows of event time: Kafka Streams'
/// `TimeWindowedKStream`.
///
/// A record is added to every window its timestamp falls in
/// ([`TimeWindows::windows_for`]), unless the window is closed (stream time has reached
/// its end plus grace): then it is dropped for that window and counted
/// ([`TopologyTestDriver::dropped_records`](super::TopologyTestDriver::dropped_records)).
/// Closed windows are evicted from the store, which so stays bounded.
#[must_use = "a windowed stream does nothing until it is aggregated"]
pub struct TimeWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: TimeWindows,
}

impl<K, V> Clone for TimeWindowedKStream<K, V> {
    fn clone(&self) -> Self {
        Self {
            grouped: self.grouped.clone(),
            windows: self.windows,
        }
    }
}

impl<K, V> fmt::Debug for TimeWindowedKStream<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeWindowedKStream")
            .field("grouped", &self.grouped)
            .field("windows", &self.windows)
            .finish()
    }
}

impl<K: Codec, V: Codec> TimeWindowedKStream<K, V> {
    /// The number of records per key and window.
    pub fn count(&self, store: &str) -> KTable<Windowed<K>, u64> {
        self.aggregate_with(store, |_, _, count: Option<u64>| {
            count.unwrap_or(0).saturating_add(1)
        })
    }

    /// Per key and window, the values combined by `reducer(aggregate, value)`.
    pub fn reduce<F>(&self, store: &str, reducer: F) -> KTable<Windowed<K>, V>
    where
        F: Fn(&V, &V) -> V + Send + Sync + 'static,
    {
        self.aggregate_with(store, move |_, value: &V, agg: Option<V>| match agg {
            Some(agg) => reducer(&agg, value),
            None => value.clone(),
        })
    }

    /// Per key and window, `aggregator(key, value, aggregate)` folded over the values from
    /// `initializer()`.
    pub fn aggregate<A: Codec, I, F>(
        &self,
        store: &str,
        initializer: I,
        aggregator: F,
    ) -> KTable<Windowed<K>, A>
    where
        I: Fn() -> A + Send + Sync + 'static,
        F: Fn(&K, &V, &A) -> A + Send + Sync + 'static,
    {
        self.aggregate_with(store, move |key, value, agg: Option<A>| {
            let agg = agg.unwrap_or_else(&initializer);
            aggregator(key, value, &agg)
        })
    }

    fn aggregate_with<A: Codec>(
        &self,
        store: &str,
        step: impl Fn(&K, &V, Option<A>) -> A + Send + Sync + 'static,
    ) -> KTable<Windowed<K>, A> {
        let windows = self.windows;
        let input = self.grouped.input(store);
        let graph = input.graph();
        if let Err(e) = windows.validate() {
            problem(graph, format!("store {store:?}: {e}"));
        }
        let retention = windows.size_ms().saturating_add(windows.grace_ms());
        let id = graph.lock().add_store(StoreSpec {
            name: Arc::from(store),
            retention_ms: Some(retention.saturating_add(CHANGELOG_EXTRA_RETENTION_MS)),
            keep_ms: Some(windows.grace_ms().saturating_sub(1)),
            layout: Layout::TimeWindows,
            own_clock: false,
            view: windowed_view::<K, A>(),
        });
        let step = Arc::new(step);
        let store: Arc<str> = Arc::from(store);
        let node = add_node::<K, V, Windowed<K>, Option<A>>(
            graph,
            &[input.node()],
            "AGGREGATE",
            Role::Operator,
            false,
            move |next| {
                let (step, store) = (Arc::clone(&step), Arc::clone(&store));
                // Handed to the record cache on the first record when the cache is on.
                let mut next = Some(next);
                let mut key_bytes = Vec::new();
                Box::new(Step(move |ctx: &mut Context, key: K, value: V| {
                    if !grouping_key(ctx, &key, &store, &mut key_bytes)? {
                        return Ok(());
                    }
                    if ctx.caching() {
                        if let Some(next) = next.take() {
                            ctx.register(id, Box::new(ForwardWindowed { next }));
                        }
                    }
                    // The aggregation's own clock, not the task's: Kafka's window
                    // aggregation closes windows by the records it has seen.
                    let stream_time = ctx.observe(id);
                    for window in windows.windows_for(ctx.timestamp_ms) {
                        if windows.is_closed(window.end_ms, stream_time) {
                            ctx.dropped += 1;
                            continue;
                        }
                        let mut new = None;
                        let mut encoding = false;
                        let at = ctx
                            .aggregate(id, &key_bytes, Some(window), |old, out| {
                                let old = old.map(A::decode).transpose()?;
                                encoding = true;
                                encode_into(new.insert(step(&key, &value, old)), out)
                            })
                            .map_err(|e| ctx.locate(&aggregate_context(encoding, &store), e))?;
                        if let (Some(next), Some(new)) = (next.as_mut(), new) {
                            if !ctx.caching() {
                                let windowed = Windowed {
                                    key: key.clone(),
                                    start_ms: window.start_ms,
                                    end_ms: window.end_ms,
                                };
                                ctx.at_time(at, |ctx| next.process(ctx, windowed, Some(new)))?;
                            }
                        }
                    }
                    if let Some(s) = ctx.stores.get_mut(id) {
                        s.evict_expired(stream_time);
                    }
                    Ok(())
                }))
            },
        );
        KTable::at(graph, node, Some(Closing::Time(windows)))
    }
}

/// A grouped stream aggregated in session windows: Kafka Streams'
/// `SessionWindowedKStream`.
///
/// A record at `t` makes a session `[t, t]` and merges it with every session of its key
/// within the inactivity gap (ending at or after `t - gap`, starting at or before `t +
/// gap`): the merged session spans them all, its aggregate combines theirs (with the
/// merger of [`aggregate`](Self::aggregate); by addition for `count`, by the reducer for
/// `reduce`) before the record is added. Each absorbed session's entry is deleted from the
/// store and the table, which forwards a delete for it (Kafka's tombstone, dated at that
/// session's end), even a session the merge leaves as it was (a record inside it), unless
/// the record repeats a session `[t, t]`; then the merged session's update follows, dated
/// at its end. A record whose merged session would be closed (its end plus gap plus grace
/// before stream time, as Kafka's) is dropped and counted. Sessions are evicted once
/// stream time passes their end plus gap plus grace, as no record can then reach them.
#[must_use = "a windowed stream does nothing until it is aggregated"]
pub struct SessionWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: SessionWindows,
}

impl<K, V> Clone for SessionWindowedKStream<K, V> {
    fn clone(&self) -> Self {
        Self {
            grouped: self.grouped.clone(),
            windows: self.windows,
        }
    }
}

impl<K, V> fmt::Debug for SessionWindowedKStream<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionWindowedKStream")
            .field("grouped", &self.grouped)
            .field("windows", &self.windows)
            .finish()
    }
}

/// How a session aggregation steps: `(key, value, aggregate so far) -> aggregate`.
type SessionStep<K, V, A> = dyn Fn(&K, &V, Option<A>) -> A + Send + Sync;
/// How it merges an absorbed session's aggregate into the one being built.
type SessionMerge<K, A> = dyn Fn(&K, Option<A>, A) -> A + Send + Sync;

impl<K: Codec, V: Codec> SessionWindowedKStream<K, V> {
    /// The number of records per key and session.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use strom::streams::{SessionWindows, StreamsBuilder, TopologyTestDriver, Windowed};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("clicks")
    ///     .group_by_key()
    ///     .windowed_by(SessionWindows::with_inactivity_gap(Duration::from_millis(20)).grace(Duration::from_millis(20)))
    ///     .count("sessions");
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// for t in [0, 30, 15] { // the third record bridges the first two sessions
    ///     driver.pipe("clicks", &"ann".to_string(), &String::new(), t)?;
    /// }
    /// let sessions = driver.store::<Windowed<String>, u64>("sessions")?.all();
    /// assert_eq!(sessions, [(Windowed { key: "ann".to_string(), start_ms: 0, end_ms: 30 }, 3)]);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn count(&self, store: &str) -> KTable<Windowed<K>, u64> {
        self.aggregate_with(
            store,
            Arc::new(|_, _, count: Option<u64>| count.unwrap_or(0).saturating_add(1)),
            Arc::new(|_, count: Option<u64>, other: u64| count.unwrap_or(0).saturating_add(other)),
        )
    }

    /// Per key and session, the values combined by `reducer(aggregate, value)`; merged
    /// sessions' aggregates are combined by the reducer too.
    pub fn reduce<F>(&self, store: &str, reducer: F) -> KTable<Windowed<K>, V>
    where
        F: Fn(&V, &V) -> V + Send + Sync + 'static,
    {
        let reducer = Arc::new(reducer);
        let merge = Arc::clone(&reducer);
        self.aggregate_with(
            store,
            Arc::new(move |_, value: &V, agg: Option<V>| match agg {
                Some(agg) => reducer(&agg, value),
                None => value.clone(),
            }),
            Arc::new(move |_, agg: Option<V>, other: V| match agg {
                Some(agg) => merge(&agg, &other),
                None => other,
            }),
        )
    }

    /// Per key and session, `aggregator(key, value, aggregate)` folded over the values from
    /// `initializer()`. When a record merges sessions, their aggregates are combined by
    /// `merger(key, aggregate, other)` first, starting from `initializer()`: the records of
    /// merged sessions are not kept, so the aggregates must be combinable (Kafka's
    /// `SessionWindowedKStream.aggregate` takes the same `Merger`).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use strom::streams::{SessionWindows, StreamsBuilder, TopologyTestDriver, Windowed};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, u64>("spend")
    ///     .group_by_key()
    ///     .windowed_by(SessionWindows::with_inactivity_gap(Duration::from_millis(20)).grace(Duration::from_millis(20)))
    ///     .aggregate("spend-per-visit", || 0_u64, |_user, amount, sum| sum + amount, |_user, a, b| a + b);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// for (amount, t) in [(5_u64, 0), (7, 30), (1, 15)] {
    ///     driver.pipe("spend", &"ann".to_string(), &amount, t)?;
    /// }
    /// let visits = driver.store::<Windowed<String>, u64>("spend-per-visit")?.all();
    /// assert_eq!(visits, [(Windowed { key: "ann".to_string(), start_ms: 0, end_ms: 30 }, 13)]);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn aggregate<A: Codec, I, F, M>(
        &self,
        store: &str,
        initializer: I,
        aggregator: F,
        merger: M,
    ) -> KTable<Windowed<K>, A>
    where
        I: Fn() -> A + Send + Sync + 'static,
        F: Fn(&K, &V, &A) -> A + Send + Sync + 'static,
        M: Fn(&K, &A, &A) -> A + Send + Sync + 'static,
    {
        let initializer = Arc::new(initializer);
        let init = Arc::clone(&initializer);
        self.aggregate_with(
            store,
            Arc::new(move |key, value, agg: Option<A>| {
                let agg = agg.unwrap_or_else(|| initializer());
                aggregator(key, value, &agg)
            }),
            Arc::new(move |key, agg: Option<A>, other: A| {
                let agg = agg.unwrap_or_else(|| init());
                merger(key, &agg, &other)
            }),
        )
    }

    fn aggregate_with<A: Codec>(
        &self,
        store: &str,
        step: Arc<SessionStep<K, V, A>>,
        merge: Arc<SessionMerge<K, A>>,
    ) -> KTable<Windowed<K>, A> {
        let windows = self.windows;
        let input = self.grouped.input(store);
        let graph = input.graph();
        if let Err(e) = windows.validate() {
            problem(graph, format!("store {store:?}: {e}"));
        }
        let gap = windows.inactivity_gap_ms();
        let retention = gap.saturating_add(windows.grace_ms());
        let id = graph.lock().add_store(StoreSpec {
            name: Arc::from(store),
            retention_ms: Some(retention.saturating_add(CHANGELOG_EXTRA_RETENTION_MS)),
            keep_ms: Some(retention),
            layout: Layout::Sorted,
            own_clock: false,
            view: windowed_view::<K, A>(),
        });
        let store: Arc<str> = Arc::from(store);
        let node = add_node::<K, V, Windowed<K>, Option<A>>(
            graph,
            &[input.node()],
            "AGGREGATE",
            Role::Operator,
            false,
            move |mut next| {
                let (step, merge, store) =
                    (Arc::clone(&step), Arc::clone(&merge), Arc::clone(&store));
                Box::new(Step(move |ctx: &mut Context, key: K, value: V| {
                    let mut key_bytes = Vec::new();
                    if !grouping_key(ctx, &key, &store, &mut key_bytes)? {
                        return Ok(());
                    }
                    let (timestamp, stream_time) = (ctx.timestamp_ms, ctx.observe(id));
                    let sessions = ctx.store(id, &store)?.windows_of(&key_bytes);
                    let existing: Vec<Window> = sessions
                        .iter()
                        .map(|(_, start_ms, end_ms, _)| Window {
                            start_ms: *start_ms,
                            end_ms: *end_ms,
                        })
                        .collect();
                    let (merged, absorbed) = windows.merge(timestamp, &existing);
                    let absorbed: Vec<_> =
                        absorbed.iter().filter_map(|&i| sessions.get(i)).collect();
                    let mut agg: Option<A> = None;
                    for (_, _, _, bytes) in &absorbed {
                        let other = A::decode(bytes).map_err(|e| {
                            ctx.locate(&format!("stored aggregate of {store:?} for"), e)
                        })?;
                        agg = Some(merge(&key, agg, other));
                    }
                    if windows.is_closed(merged.end_ms, stream_time) {
                        ctx.dropped += 1;
                        return Ok(());
                    }
                    // As Kafka's: unless the record only repeats a session `[t, t]`, a delete
                    // (dated at the session's end) goes down the table for every session it
                    // reaches, the one the merge leaves as it was too, then the merged
                    // session's update. The store keeps that one's key: the write below
                    // replaces it.
                    let repeat = (merged.start_ms, merged.end_ms) == (timestamp, timestamp);
                    for (at, start_ms, end_ms, _) in absorbed {
                        if repeat {
                            continue;
                        }
                        if (*start_ms, *end_ms) != (merged.start_ms, merged.end_ms) {
                            ctx.write(id, at.clone(), None, timestamp);
                        }
                        let gone = Windowed {
                            key: key.clone(),
                            start_ms: *start_ms,
                            end_ms: *end_ms,
                        };
                        ctx.at_time(*end_ms, |ctx| next.process(ctx, gone, None))?;
                    }
                    let new = step(&key, &value, agg);
                    let bytes = value_bytes(ctx, &new, &store)?;
                    ctx.write(
                        id,
                        window_key(&key_bytes, merged.start_ms, merged.end_ms),
                        Some(bytes),
                        timestamp,
                    );
                    let windowed = Windowed {
                        key,
                        start_ms: merged.start_ms,
                        end_ms: merged.end_ms,
                    };
                    // Dated at the session's end, as Kafka's session updates are.
                    ctx.at_time(merged.end_ms, |ctx| next.process(ctx, windowed, Some(new)))?;
                    if let Some(s) = ctx.stores.get_mut(id) {
                        s.evict_expired(stream_time);
                    }
                    Ok(())
                }))
            },
        );
        KTable::at(graph, node, Some(Closing::Session(windows)))
    }
}

/// `stream`'s records written to the repartition topic `<name>-repartition` and read back,
/// so that equal keys meet in one task: what a grouping or a join reads when the key may
/// have changed.
pub(super) fn repartitioned<K: Codec, V: Codec>(
    stream: &KStream<K, V>,
    name: &str,
) -> KStream<K, V> {
    let graph = stream.graph();
    let name: Arc<str> = Arc::from(format!("{name}-repartition"));
    let sink_name = Arc::clone(&name);
    let role = Role::RepartitionSink {
        name: Arc::clone(&name),
    };
    add_node::<K, V, (), ()>(graph, &[stream.node()], "SINK", role, false, move |_| {
        let sink_name = Arc::clone(&sink_name);
        Box::new(Step(move |ctx: &mut Context, key: K, value: V| {
            // Partitioned by the encoded key when the runtime sends it, as
            // `Producer::send` does: equal keys meet in one partition, so one task.
            let topic = ctx.internal_topic(&sink_name);
            Encode { topic }.emit(ctx, &key, &value)?;
            // A missing value stays missing on the way through, so that what
            // reads the topic (an aggregation, a join) skips it as before.
            if ctx.value_absent {
                if let Some(record) = ctx.output.last_mut() {
                    record.value = None;
                }
            }
            Ok(())
        }))
    });
    let mut g = graph.lock();
    let node_name = g.next_name("SOURCE");
    let source_name = node_name.clone();
    let make: MakeSource = Arc::new(move |children| {
        let next = fan_out(typed::<K, V>(children, &source_name)?);
        Ok(Box::new(Decode { next }) as Box<dyn Source>)
    });
    let node = g.add(Node {
        name: node_name,
        role: Role::RepartitionSource { name },
        parents: Vec::new(),
        children: Vec::new(),
        key_changed: false,
        make: Make::Source(make),
    });
    drop(g);
    KStream::at(graph, node)
}
