//! Joins: stream-stream (windowed), stream-table and table-table, inner and left.
//!
//! A join has two inputs of different types, so it is two nodes, one below each input,
//! both feeding one merge node whose children see the joined records (Kafka's
//! `JOINTHIS`, `JOINOTHER` and `MERGE` processors). Each side's node keeps what it saw
//! in the task's stores and looks the other side's store up; both nodes of one join are
//! in the same task because their inputs are co-partitioned: a stream whose key may have
//! changed is first written to a repartition topic and read back, as groupings do, and
//! the join's input topics are recorded for [`Topology::co_partition_groups`].
//!
//! Stores (names relative to the application; each has a changelog):
//!
//! | Store                              | For                 | Entries                          |
//! |------------------------------------|---------------------|----------------------------------|
//! | `<join>-this-join-store`           | stream-stream       | (key, t) → the left values at t  |
//! | `<join>-other-join-store`          | stream-stream       | (key, t) → the right values at t |
//! | `<join>-left-shared-join-store`    | stream-stream left  | (key, t) → left values unmatched |
//! | `<join>-table-store`               | stream-table        | key → the table's value, unless  |
//! |                                    |                     | the table has a store already    |
//! | `<join>-this-table-store`, `-other-table-store` | table-table | key → each side's value  |
//!
//! where `<join>` is the join's node name (`KSTREAM-JOIN-0000000004`). Windowed entries
//! use the window key layout of `store.rs` with start = end = t, and hold every value of
//! that key at that time (Kafka's join stores retain duplicates), each as a u32
//! big-endian length and the bytes.
//!
//! [`Topology::co_partition_groups`]: super::Topology::co_partition_groups

use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::Result;

use super::builder::{add_node, KStream};
use super::codec::{codec_error, Codec};
use super::grouped::repartitioned;
use super::processor::{encoded, fan_out, Context, Decode, Processor, Source, Step};
use super::store::{key_value_view, split_window_key, window_key, Layout, Store, StoreSpec};
use super::table::KTable;
use super::topology::{typed, Graph, Make, MakeSource, Node, Role};
use super::window::JoinWindows;

/// How long a windowed changelog keeps records past the store's own retention, as Kafka's
/// `windowstore.changelog.additional.retention.ms` default (one day).
const CHANGELOG_EXTRA_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// The user's joiner, made total over a missing right value: an inner join's returns
/// `None` for it (no output), a left join's calls the user's closure with `None`.
type Joiner<V, W, X> = Arc<dyn Fn(&V, Option<&W>) -> Option<X> + Send + Sync>;

/// Whether a join is inner or left.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Inner,
    Left,
}

impl<K: Codec, V: Codec> KStream<K, V> {
    /// Joins each record with the records of `other` with the same key whose timestamps
    /// are within `windows` of its own (`|t1 - t2| <= d`, inclusive): for every such pair
    /// the output has `joiner(left value, right value)`, with the key and the later of
    /// the two timestamps. A pair is emitted when its second record arrives, whichever
    /// side that is. Kafka Streams' `KStream#join(KStream, ValueJoiner, JoinWindows)`.
    ///
    /// Both sides' records are kept in windowed stores (`<join>-this-join-store` and
    /// `<join>-other-join-store`, with changelogs) while they are newer than their side's
    /// latest timestamp minus `2d + grace`, as Kafka's join window stores keep them. A
    /// record meets what the other side keeps however late it is, as Kafka's does (a
    /// record already older than its own side keeps is not kept). Records without a key
    /// or value are dropped and counted. Streams whose key may have changed are repartitioned first; the inputs must
    /// be co-partitioned ([`Topology::co_partition_groups`](super::Topology::co_partition_groups)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use strom::streams::{JoinWindows, StreamsBuilder, TopologyTestDriver};
    ///
    /// let builder = StreamsBuilder::new();
    /// let impressions = builder.stream::<String, String>("impressions");
    /// let clicks = builder.stream::<String, String>("clicks");
    /// impressions
    ///     .join(&clicks, JoinWindows::of(Duration::from_secs(10)), |ad, click| format!("{ad} -> {click}"))
    ///     .to("clicked-ads");
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe("impressions", &"u1".to_string(), &"ad-7".to_string(), 1_000)?;
    /// driver.pipe("clicks", &"u1".to_string(), &"buy".to_string(), 11_000)?; // 10 s later: joins
    /// driver.pipe("clicks", &"u1".to_string(), &"late".to_string(), 11_001)?; // 10.001 s: does not
    /// let out = driver.read_output::<String, String>("clicked-ads")?;
    /// assert_eq!(out, [("u1".to_string(), "ad-7 -> buy".to_string(), 11_000)]);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn join<W: Codec, X: Codec, F>(
        &self,
        other: &KStream<K, W>,
        windows: JoinWindows,
        joiner: F,
    ) -> KStream<K, X>
    where
        F: Fn(&V, &W) -> X + Send + Sync + 'static,
    {
        let joiner: Joiner<V, W, X> = Arc::new(move |v, w| w.map(|w| joiner(v, w)));
        self.window_join(other, windows, joiner, Kind::Inner)
    }

    /// As [`join`](Self::join), and each left record that met no right record gets one
    /// output `joiner(value, None)`, at its own timestamp, once its window has closed
    /// (stream time past `t + d + grace`), and only if no right record met it by then:
    /// Kafka Streams' left join since 3.1, without spurious `None` results. Unmatched
    /// left records wait in `<join>-left-shared-join-store`. A right record never
    /// produces an output alone.
    ///
    /// As Kafka's: the waiting records whose window closed come out when a record at
    /// (or past) stream time arrives, unless the record the last such pass ended on, or
    /// one added since, is still in its window; a left record that arrives when stream
    /// time is already past `t + d` and meets nothing comes out with `None` at once; a
    /// left record without a key is joined with `None` at once (Kafka ≥ 3.7).
    ///
    /// ```
    /// use std::time::Duration;
    /// use strom::streams::{JoinWindows, StreamsBuilder, TopologyTestDriver};
    ///
    /// let builder = StreamsBuilder::new();
    /// let orders = builder.stream::<String, String>("orders");
    /// let payments = builder.stream::<String, String>("payments");
    /// orders
    ///     .left_join(&payments, JoinWindows::of(Duration::from_secs(60)), |order, paid| {
    ///         format!("{order}: {}", paid.map_or("unpaid", String::as_str))
    ///     })
    ///     .to("order-status");
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe("orders", &"o1".to_string(), &"pen".to_string(), 0)?;
    /// driver.pipe("orders", &"o2".to_string(), &"ink".to_string(), 1_000)?;
    /// driver.pipe("payments", &"o2".to_string(), &"card".to_string(), 30_000)?;
    /// assert_eq!(driver.read_output::<String, String>("order-status")?.len(), 1); // o2 only
    /// // Stream time passes o1's window (0 + 60 s): o1 is reported unpaid, once.
    /// driver.pipe("payments", &"o3".to_string(), &"cash".to_string(), 60_001)?;
    /// let out = driver.read_output::<String, String>("order-status")?;
    /// assert_eq!(out, [("o1".to_string(), "pen: unpaid".to_string(), 0)]);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn left_join<W: Codec, X: Codec, F>(
        &self,
        other: &KStream<K, W>,
        windows: JoinWindows,
        joiner: F,
    ) -> KStream<K, X>
    where
        F: Fn(&V, Option<&W>) -> X + Send + Sync + 'static,
    {
        let joiner: Joiner<V, W, X> = Arc::new(move |v, w| Some(joiner(v, w)));
        self.window_join(other, windows, joiner, Kind::Left)
    }

    fn window_join<W: Codec, X: Codec>(
        &self,
        other: &KStream<K, W>,
        windows: JoinWindows,
        joiner: Joiner<V, W, X>,
        kind: Kind,
    ) -> KStream<K, X> {
        let graph = Arc::clone(self.graph());
        if !Arc::ptr_eq(&graph, other.graph()) {
            return mistake(
                &graph,
                "join: the two streams come from different StreamsBuilders",
            );
        }
        let base = graph.lock().next_name("JOIN");
        let this = co_located(self, &format!("{base}-this"));
        let that = co_located(other, &format!("{base}-other"));
        let (before, grace) = (windows.before_ms(), windows.grace_ms());
        // A record at t meets records up to t + d, which are accepted until stream time
        // passes t + 2d + grace: until then it must stay.
        let keep = before
            .saturating_add(windows.after_ms())
            .saturating_add(grace);
        let (this_store, other_store, pending) = {
            let mut g = graph.lock();
            let mut windowed = |suffix: &str, keep_ms: i64, retention_ms: Option<i64>| {
                g.add_store(StoreSpec {
                    name: Arc::from(format!("{base}-{suffix}")),
                    retention_ms,
                    keep_ms: Some(keep_ms),
                    layout: Layout::Sorted,
                    own_clock: true,
                    view: key_value_view::<Vec<u8>, Vec<u8>>(),
                })
            };
            let retention = Some(keep.saturating_add(CHANGELOG_EXTRA_RETENTION_MS));
            let this_store = windowed("this-join-store", keep, retention);
            let other_store = windowed("other-join-store", keep, retention);
            // Pending records leave only by being emitted or matched (each through the
            // changelog), never by eviction: a restored task must still emit them.
            let pending =
                (kind == Kind::Left).then(|| windowed("left-shared-join-store", i64::MAX, None));
            g.co_partitioned.push(vec![this.node(), that.node()]);
            (this_store, other_store, pending)
        };
        let spec = Arc::new(WindowJoin {
            windows,
            keep_ms: keep,
            this_store,
            other_store,
            pending,
            joiner,
            name: Arc::from(base.as_str()),
        });
        let left_spec = Arc::clone(&spec);
        let left = add_node::<K, V, K, X>(
            &graph,
            &[this.node()],
            "JOINTHIS",
            Role::Operator,
            false,
            move |next| {
                Box::new(LeftSide {
                    spec: Arc::clone(&left_spec),
                    next,
                })
            },
        );
        let right = add_node::<K, W, K, X>(
            &graph,
            &[that.node()],
            "JOINOTHER",
            Role::Operator,
            false,
            move |next| {
                Box::new(RightSide {
                    spec: Arc::clone(&spec),
                    next,
                })
            },
        );
        let merged = add_node::<K, X, K, X>(
            &graph,
            &[left, right],
            "MERGE",
            Role::Operator,
            false,
            |next| next,
        );
        KStream::at(&graph, merged)
    }

    /// Joins each record with the current value of its key in `table`: the output has
    /// `joiner(value, table value)`, the record's key and timestamp; a record whose key
    /// the table lacks produces nothing. Updates of the table produce nothing either:
    /// they only change what later records find. Kafka Streams'
    /// `KStream#join(KTable, ValueJoiner)`.
    ///
    /// A table read from a topic is looked up in its store; another (`filter`ed,
    /// `map_values`…) is kept by the join in `<join>-table-store`. Records without
    /// a key or value are dropped and counted. A stream whose key may have changed is
    /// repartitioned first; stream and table must be co-partitioned.
    ///
    /// ```
    /// use strom::streams::{StreamsBuilder, TopologyTestDriver};
    ///
    /// let builder = StreamsBuilder::new();
    /// let names = builder.table::<u64, String>("user-names", "user-names");
    /// builder
    ///     .stream::<u64, String>("logins")
    ///     .join_table(&names, |device, name| format!("{name} on {device}"))
    ///     .to("greetings");
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe("logins", &7_u64, &"phone".to_string(), 1)?; // no name yet: nothing
    /// driver.pipe("user-names", &7_u64, &"Ann".to_string(), 2)?;
    /// driver.pipe("logins", &7_u64, &"laptop".to_string(), 3)?;
    /// let out = driver.read_output::<u64, String>("greetings")?;
    /// assert_eq!(out, [(7, "Ann on laptop".to_string(), 3)]);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn join_table<T: Codec, X: Codec, F>(
        &self,
        table: &KTable<K, T>,
        joiner: F,
    ) -> KStream<K, X>
    where
        F: Fn(&V, &T) -> X + Send + Sync + 'static,
    {
        let joiner: Joiner<V, T, X> = Arc::new(move |v, t| t.map(|t| joiner(v, t)));
        self.table_lookup(table, joiner)
    }

    /// As [`join_table`](Self::join_table), but a record whose key the table lacks is
    /// joined with `None`: every record with a value produces one output, a record
    /// without a key too (joined with `None`, its key left absent, as Kafka Streams ≥ 3.7
    /// does).
    ///
    /// ```
    /// use strom::streams::{StreamsBuilder, TopologyTestDriver};
    ///
    /// let builder = StreamsBuilder::new();
    /// let names = builder.table::<u64, String>("user-names", "user-names");
    /// builder
    ///     .stream::<u64, String>("logins")
    ///     .left_join_table(&names, |device, name| format!("{} on {device}", name.map_or("?", String::as_str)))
    ///     .to("greetings");
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe("logins", &7_u64, &"phone".to_string(), 1)?;
    /// assert_eq!(driver.read_output::<u64, String>("greetings")?, [(7, "? on phone".to_string(), 1)]);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn left_join_table<T: Codec, X: Codec, F>(
        &self,
        table: &KTable<K, T>,
        joiner: F,
    ) -> KStream<K, X>
    where
        F: Fn(&V, Option<&T>) -> X + Send + Sync + 'static,
    {
        let joiner: Joiner<V, T, X> = Arc::new(move |v, t| Some(joiner(v, t)));
        self.table_lookup(table, joiner)
    }

    fn table_lookup<T: Codec, X: Codec>(
        &self,
        table: &KTable<K, T>,
        joiner: Joiner<V, T, X>,
    ) -> KStream<K, X> {
        let graph = Arc::clone(self.graph());
        if !Arc::ptr_eq(&graph, table.graph()) {
            return mistake(
                &graph,
                "join_table: the stream and the table come from different StreamsBuilders",
            );
        }
        let base = graph.lock().next_name("JOIN");
        let stream = co_located(self, &format!("{base}-this"));
        let store = materialize(table, &format!("{base}-table-store"));
        graph
            .lock()
            .co_partitioned
            .push(vec![stream.node(), table.node()]);
        let name: Arc<str> = Arc::from(base.as_str());
        let node = add_node::<K, V, K, X>(
            &graph,
            &[stream.node()],
            "JOIN",
            Role::Operator,
            false,
            move |mut next| {
                let joiner = Arc::clone(&joiner);
                let name = Arc::clone(&name);
                Box::new(Step(move |ctx: &mut Context, key: K, value: V| {
                    if (ctx.key_absent || key.is_absent()) && !ctx.value_absent {
                        // No key finds no table value: a left join passes the record on
                        // joined with none, an inner join drops it (Kafka ≥ 3.7, KIP-962).
                        return match joiner(&value, None) {
                            Some(out) => ctx.valued(|ctx| next.process(ctx, key, out)),
                            None => {
                                ctx.dropped += 1;
                                Ok(())
                            }
                        };
                    }
                    let Some(key_bytes) = join_key(ctx, &key, &name)? else {
                        return Ok(());
                    };
                    let found = lookup::<T>(ctx, store, &key_bytes, &name)?;
                    match joiner(&value, found.as_ref().map(|(_, t)| t)) {
                        Some(out) => ctx.valued(|ctx| next.process(ctx, key, out)),
                        None => Ok(()),
                    }
                }))
            },
        );
        KStream::at(&graph, node)
    }
}

impl<K: Codec, V: Codec> KTable<K, V> {
    /// The table of `joiner(v, w)` for the keys both tables have: an update on either
    /// side emits the joined row's update when the other side has the key, and a delete
    /// on either side emits a delete of the joined row when it existed. The update is
    /// dated by the later of the two sides' timestamps. Kafka Streams'
    /// `KTable#join(KTable, ValueJoiner)`.
    ///
    /// Each side is kept in a store of the join (`<join>-this-table-store`,
    /// `<join>-other-table-store`); the tables must be co-partitioned.
    ///
    /// ```
    /// use strom::streams::{StreamsBuilder, TopologyTestDriver};
    ///
    /// let builder = StreamsBuilder::new();
    /// let names = builder.table::<u64, String>("names", "names");
    /// let cities = builder.table::<u64, String>("cities", "cities");
    /// names.join(&cities, |name, city| format!("{name} in {city}")).to("whereabouts");
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe("names", &1_u64, &"Ann".to_string(), 1)?;
    /// driver.pipe("cities", &1_u64, &"Oslo".to_string(), 2)?;
    /// driver.pipe_raw("cities", Some(&1_u64.to_be_bytes()), None, 3)?; // Ann's city deleted
    /// let out = driver.read_output_raw("whereabouts");
    /// assert_eq!(out[0].value.as_deref(), Some(&b"Ann in Oslo"[..]));
    /// assert_eq!((out[1].value.as_deref(), out.len()), (None, 2)); // the row is deleted
    /// # Ok::<(), strom::Error>(())
    /// ```
    #[must_use]
    pub fn join<W: Codec, X: Codec, F>(&self, other: &KTable<K, W>, joiner: F) -> KTable<K, X>
    where
        F: Fn(&V, &W) -> X + Send + Sync + 'static,
    {
        let joiner: Joiner<V, W, X> = Arc::new(move |v, w| w.map(|w| joiner(v, w)));
        self.table_join(other, joiner, Kind::Inner)
    }

    /// The table of `joiner(v, Option<w>)` for every key of this table: an update on
    /// this side emits the joined row (with `None` when `other` lacks the key); an update
    /// or delete on `other` emits the row again when this side has the key; a delete on
    /// this side deletes the row. Kafka Streams' `KTable#leftJoin(KTable, ValueJoiner)`.
    ///
    /// ```
    /// use strom::streams::{StreamsBuilder, TopologyTestDriver};
    ///
    /// let builder = StreamsBuilder::new();
    /// let users = builder.table::<String, String>("users", "users");
    /// let plans = builder.table::<String, String>("plans", "plans");
    /// users
    ///     .left_join(&plans, |name, plan| format!("{name}: {}", plan.map_or("free", String::as_str)))
    ///     .to("accounts");
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe("users", &"u1".to_string(), &"Ann".to_string(), 1)?;
    /// driver.pipe("plans", &"u1".to_string(), &"pro".to_string(), 2)?;
    /// driver.pipe_raw("plans", Some(b"u1"), None, 3)?; // the plan ends: the row stays
    /// let rows = driver.read_output::<String, String>("accounts")?;
    /// let rows: Vec<&str> = rows.iter().map(|(_, row, _)| row.as_str()).collect();
    /// assert_eq!(rows, ["Ann: free", "Ann: pro", "Ann: free"]);
    /// # Ok::<(), strom::Error>(())
    /// ```
    #[must_use]
    pub fn left_join<W: Codec, X: Codec, F>(&self, other: &KTable<K, W>, joiner: F) -> KTable<K, X>
    where
        F: Fn(&V, Option<&W>) -> X + Send + Sync + 'static,
    {
        let joiner: Joiner<V, W, X> = Arc::new(move |v, w| Some(joiner(v, w)));
        self.table_join(other, joiner, Kind::Left)
    }

    fn table_join<W: Codec, X: Codec>(
        &self,
        other: &KTable<K, W>,
        joiner: Joiner<V, W, X>,
        kind: Kind,
    ) -> KTable<K, X> {
        let graph = Arc::clone(self.graph());
        if !Arc::ptr_eq(&graph, other.graph()) {
            graph
                .lock()
                .problems
                .push("join: the two tables come from different StreamsBuilders".into());
        }
        let base = graph.lock().next_name("JOIN");
        let (this_store, other_store) = {
            let mut g = graph.lock();
            let mut store = |suffix: &str, view| {
                g.add_store(StoreSpec {
                    name: Arc::from(format!("{base}-{suffix}")),
                    retention_ms: None,
                    keep_ms: None,
                    layout: Layout::KeyValue,
                    own_clock: false,
                    view,
                })
            };
            let stores = (
                store("this-table-store", key_value_view::<K, V>()),
                store("other-table-store", key_value_view::<K, W>()),
            );
            g.co_partitioned.push(vec![self.node(), other.node()]);
            stores
        };
        let name: Arc<str> = Arc::from(base.as_str());
        let (left_joiner, left_name) = (Arc::clone(&joiner), Arc::clone(&name));
        let left = add_node::<K, Option<V>, K, Option<X>>(
            &graph,
            &[self.node()],
            "JOINTHIS",
            Role::Operator,
            false,
            move |mut next| {
                let (joiner, name) = (Arc::clone(&left_joiner), Arc::clone(&left_name));
                Box::new(Step(move |ctx: &mut Context, key: K, value: Option<V>| {
                    let Some((key_bytes, had)) =
                        table_write(ctx, this_store, &key, value.as_ref(), &name)?
                    else {
                        return Ok(());
                    };
                    let right = lookup::<W>(ctx, other_store, &key_bytes, &name)?;
                    let row = value
                        .as_ref()
                        .and_then(|v| joiner(v, right.as_ref().map(|(_, w)| w)));
                    // The row existed if this side had the key and, for an inner join,
                    // the other side has it too.
                    let existed = had && (kind == Kind::Left || right.is_some());
                    let at = right.map_or(ctx.timestamp_ms, |(t, _)| t.max(ctx.timestamp_ms));
                    emit_row(ctx, &mut next, key, row, existed, at)
                }))
            },
        );
        let right = add_node::<K, Option<W>, K, Option<X>>(
            &graph,
            &[other.node()],
            "JOINOTHER",
            Role::Operator,
            false,
            move |mut next| {
                let (joiner, name) = (Arc::clone(&joiner), Arc::clone(&name));
                Box::new(Step(move |ctx: &mut Context, key: K, value: Option<W>| {
                    let Some((key_bytes, had)) =
                        table_write(ctx, other_store, &key, value.as_ref(), &name)?
                    else {
                        return Ok(());
                    };
                    // A delete of a key this side never had changes no row.
                    if !had && value.is_none() {
                        return Ok(());
                    }
                    // Without the key on the left, there is no row either way.
                    let Some((t, left)) = lookup::<V>(ctx, this_store, &key_bytes, &name)? else {
                        return Ok(());
                    };
                    let row = joiner(&left, value.as_ref());
                    let existed = had || kind == Kind::Left;
                    let at = t.max(ctx.timestamp_ms);
                    emit_row(ctx, &mut next, key, row, existed, at)
                }))
            },
        );
        let merged = add_node::<K, Option<X>, K, Option<X>>(
            &graph,
            &[left, right],
            "MERGE",
            Role::Operator,
            false,
            |next| next,
        );
        KTable::at(&graph, merged, None)
    }
}

/// Records a mistake of an infallible builder call for `build` to report, and returns a
/// stream that is never fed (the topology will not be built anyway).
fn mistake<K: Codec, X: Codec>(graph: &Arc<Mutex<Graph>>, reason: &str) -> KStream<K, X> {
    let mut g = graph.lock();
    g.problems.push(reason.to_string());
    let name = g.next_name("SOURCE");
    let make: MakeSource = Arc::new(move |children| {
        let next = fan_out(typed::<K, X>(children, "a join's placeholder")?);
        Ok(Box::new(Decode { next }) as Box<dyn Source>)
    });
    let node = g.add(Node {
        name,
        role: Role::Operator,
        parents: Vec::new(),
        children: Vec::new(),
        key_changed: false,
        make: Make::Source(make),
    });
    drop(g);
    KStream::at(graph, node)
}

/// `stream`, or, if its key may have changed, its records written to the repartition
/// topic `<name>-repartition` and read back, so that equal keys meet in one task (as
/// groupings do).
fn co_located<K: Codec, V: Codec>(stream: &KStream<K, V>, name: &str) -> KStream<K, V> {
    if stream.key_changed() {
        repartitioned(stream, name)
    } else {
        stream.clone()
    }
}

/// The index of a key-value store holding the table: the table's own for a table read
/// from a topic or made by a (not windowed) aggregation; else the new store `store`, which a node below the table that forwards
/// nothing keeps up to date (a delete removes the key).
fn materialize<K: Codec, T: Codec>(table: &KTable<K, T>, store: &str) -> usize {
    let graph = table.graph();
    let mut g = graph.lock();
    // A table read from a topic, or an aggregation's, is in its store already, written
    // before it is forwarded (or its forwarding held back by the record cache).
    if let Some(&id) = g.table_stores.get(&table.node()) {
        return id;
    }
    let id = g.add_store(StoreSpec {
        name: Arc::from(store),
        retention_ms: None,
        keep_ms: None,
        layout: Layout::KeyValue,
        own_clock: false,
        view: key_value_view::<K, T>(),
    });
    drop(g);
    let name: Arc<str> = Arc::from(store);
    add_node::<K, Option<T>, (), ()>(
        graph,
        &[table.node()],
        "MATERIALIZE",
        Role::Operator,
        false,
        move |_| {
            let name = Arc::clone(&name);
            Box::new(Step(move |ctx: &mut Context, key: K, value: Option<T>| {
                table_write(ctx, id, &key, value.as_ref(), &name).map(|_| ())
            }))
        },
    );
    id
}

/// Writes a table's update (`None`: a delete) to `store`. Returns the key's bytes and
/// whether the store had the key before, or `None` for a record without a key (dropped
/// and counted).
fn table_write<K: Codec, T: Codec>(
    ctx: &mut Context,
    store: usize,
    key: &K,
    value: Option<&T>,
    name: &str,
) -> Result<Option<(Vec<u8>, bool)>> {
    if key.is_absent() {
        ctx.dropped += 1;
        return Ok(None);
    }
    let key_bytes = encoded(key)
        .map_err(|e| ctx.locate(&format!("key for join {name} of"), e))?
        .unwrap_or_default();
    let value_bytes = value
        .map(|v| encoded(v).map(Option::unwrap_or_default))
        .transpose()
        .map_err(|e| ctx.locate(&format!("value for join {name} of"), e))?;
    let had = ctx.store(store, name)?.get(&key_bytes).is_some();
    // A delete of a key the store lacks changes nothing: no changelog record for it.
    if had || value_bytes.is_some() {
        let at = ctx.timestamp_ms;
        ctx.write(store, key_bytes.clone(), value_bytes, at);
    }
    Ok(Some((key_bytes, had)))
}

/// The value under `key` in the key-value store `store`, decoded, with its timestamp.
fn lookup<T: Codec>(
    ctx: &Context,
    store: usize,
    key: &[u8],
    name: &str,
) -> Result<Option<(i64, T)>> {
    match ctx.store(store, name)?.get(key) {
        Some((at, bytes)) => T::decode(bytes)
            .map(|t| Some((at, t)))
            .map_err(|e| ctx.locate(&format!("stored value of join {name} for"), e)),
        None => Ok(None),
    }
}

/// Forwards a table join's row: its new value, or a delete if it has none now but
/// existed before; nothing if it neither exists nor existed.
fn emit_row<K, X>(
    ctx: &mut Context,
    next: &mut Box<dyn Processor<K, Option<X>>>,
    key: K,
    joined: Option<X>,
    existed: bool,
    at: i64,
) -> Result<()> {
    if joined.is_none() && !existed {
        return Ok(());
    }
    ctx.at_time(at, |ctx| ctx.valued(|ctx| next.process(ctx, key, joined)))
}

/// The key's bytes for a join, or `None` (the record dropped and counted) for a record
/// without a key or a value: Kafka's joins skip both.
fn join_key<K: Codec>(ctx: &mut Context, key: &K, name: &str) -> Result<Option<Vec<u8>>> {
    if ctx.key_absent || ctx.value_absent || key.is_absent() {
        ctx.dropped += 1;
        return Ok(None);
    }
    let bytes = encoded(key).map_err(|e| ctx.locate(&format!("key for join {name} of"), e))?;
    Ok(Some(bytes.unwrap_or_default()))
}

/// A stream-stream join, shared by its two side processors.
struct WindowJoin<V, W, X> {
    windows: JoinWindows,
    /// How long a side keeps a record past its own latest: before + after + grace, the
    /// retention of Kafka's join window stores.
    keep_ms: i64,
    this_store: usize,
    other_store: usize,
    /// Left joins: the left records not matched yet.
    pending: Option<usize>,
    joiner: Joiner<V, W, X>,
    name: Arc<str>,
}

impl<V: Codec, W: Codec, X: Codec> WindowJoin<V, W, X> {
    /// What both sides do first with a record: drop it (and count it) without a key or
    /// value; else, when it does not go back in time, emit the pending left records whose
    /// window has closed (Kafka emits them only then). Returns the key's bytes and the
    /// record's value's. A late record is not dropped: as Kafka's, it meets whatever the
    /// other side still keeps ([`partners`](Self::partners)).
    fn admit<K: Codec, A: Codec>(
        &self,
        ctx: &mut Context,
        next: &mut Box<dyn Processor<K, X>>,
        key: &K,
        value: &A,
    ) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let Some(key_bytes) = join_key(ctx, key, &self.name)? else {
            return Ok(None);
        };
        if ctx.timestamp_ms == ctx.stream_time_ms {
            self.emit_closed::<K>(ctx, next)?;
        }
        let value_bytes = encoded(value)
            .map_err(|e| ctx.locate(&format!("value for join {} of", self.name), e))?
            .unwrap_or_default();
        Ok(Some((key_bytes, value_bytes)))
    }

    /// Keeps the record at `t` in its side's store, unless it is already past the side's
    /// retention (its latest timestamp minus `keep_ms`, as Kafka's window store refuses
    /// it), and evicts what that side no longer keeps. Each side keeps by its own latest
    /// timestamp, as each of Kafka's window stores has its own stream time.
    fn keep(&self, ctx: &mut Context, store: usize, key_bytes: &[u8], value: &[u8], t: i64) {
        let latest = ctx
            .stores
            .get(store)
            .and_then(Store::latest_end)
            .map_or(t, |latest| latest.max(t));
        if i128::from(t) + i128::from(self.keep_ms) > i128::from(latest) {
            append(ctx, store, key_bytes, value, t);
        }
        if let Some(s) = ctx.stores.get_mut(store) {
            s.evict_expired(latest);
        }
    }

    /// Emits `joiner(v, None)` for every pending left record whose window has closed,
    /// at its own timestamp, and deletes it from the pending store.
    fn emit_closed<K: Codec>(
        &self,
        ctx: &mut Context,
        next: &mut Box<dyn Processor<K, X>>,
    ) -> Result<()> {
        let Some(pending) = self.pending else {
            return Ok(());
        };
        let now = ctx.stream_time_ms;
        // As Kafka: no pass while the record the last pass ended on (the latest pending
        // then) or a record added since is still in its window; this decides when the
        // closed ones come out.
        // A restored task, whose last pass is unknown, counts from its earliest waiting
        // record (Kafka would pass at once): its first pass comes when that one closes.
        let store = ctx.store(pending, &self.name)?;
        let since = ctx
            .pending_since
            .get(&pending)
            .copied()
            .or_else(|| store.earliest_end());
        if since.is_some_and(|since| !self.windows.is_closed(since, now)) {
            return Ok(());
        }
        match store.latest_end() {
            Some(latest) => ctx.pending_since.insert(pending, latest),
            None => ctx.pending_since.remove(&pending),
        };
        let closed = ctx
            .store(pending, &self.name)?
            .closed_entries(|t| self.windows.is_closed(t, now));
        for (store_key, list) in closed {
            let at = ctx.timestamp_ms;
            ctx.write(pending, store_key.clone(), None, at);
            let Some((key_bytes, t, _)) = split_window_key(&store_key) else {
                continue;
            };
            let key = K::decode(key_bytes).map_err(|e| ctx.locate(&self.what("pending key"), e))?;
            for bytes in values(&list).map_err(|e| ctx.locate(&self.what("pending values"), e))? {
                let value =
                    V::decode(bytes).map_err(|e| ctx.locate(&self.what("pending value"), e))?;
                if let Some(out) = (self.joiner)(&value, None) {
                    ctx.at_time(t, |ctx| {
                        ctx.valued(|ctx| next.process(ctx, key.clone(), out))
                    })?;
                }
            }
        }
        Ok(())
    }

    fn what(&self, part: &str) -> String {
        format!("{part} of join {} at", self.name)
    }

    /// The records of `store` under `key_bytes` within the window of a record at `t`,
    /// earliest first: (timestamp, value bytes).
    fn partners(
        &self,
        ctx: &Context,
        store: usize,
        key_bytes: &[u8],
        t: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>> {
        let mut out = Vec::new();
        let from = t.saturating_sub(self.windows.before_ms());
        let to = t.saturating_add(self.windows.after_ms());
        let stored = ctx.store(store, &self.name)?;
        // What the side still keeps: newer than its latest minus the retention.
        let Some(latest) = stored.latest_end() else {
            return Ok(out);
        };
        let kept = |start: i64| i128::from(start) + i128::from(self.keep_ms) > i128::from(latest);
        // The range is the window already; `contains` keeps the rule in one place.
        for (start, list) in stored
            .windows_starting(key_bytes, from, to)
            .filter(|(start, _)| self.windows.contains(t, *start) && kept(*start))
        {
            let list = values(list).map_err(|e| ctx.locate(&self.what("stored values"), e))?;
            out.extend(list.into_iter().map(|v| (start, v.to_vec())));
        }
        Ok(out)
    }
}

/// Appends `value` to the list under (`key_bytes`, `t`) in the windowed store `store`.
fn append(ctx: &mut Context, store: usize, key_bytes: &[u8], value: &[u8], t: i64) {
    let key = window_key(key_bytes, t, t);
    let mut list = ctx
        .stores
        .get(store)
        .and_then(|s| s.get(&key))
        .map(|(_, list)| list.to_vec())
        .unwrap_or_default();
    push_value(&mut list, value);
    ctx.write(store, key, Some(list), t);
}

/// The processor below the left stream of a stream-stream join.
struct LeftSide<K, V, W, X> {
    spec: Arc<WindowJoin<V, W, X>>,
    next: Box<dyn Processor<K, X>>,
}

impl<K: Codec, V: Codec, W: Codec, X: Codec> Processor<K, V> for LeftSide<K, V, W, X> {
    fn process(&mut self, ctx: &mut Context, key: K, value: V) -> Result<()> {
        let spec = &*self.spec;
        if spec.pending.is_some() && (ctx.key_absent || key.is_absent()) && !ctx.value_absent {
            // No key meets nothing: a left join passes the record on at once, joined with
            // none (Kafka ≥ 3.7, KIP-962).
            if let Some(out) = (spec.joiner)(&value, None) {
                ctx.valued(|ctx| self.next.process(ctx, key, out))?;
            }
            return Ok(());
        }
        let Some((key_bytes, value_bytes)) = spec.admit(ctx, &mut self.next, &key, &value)? else {
            return Ok(());
        };
        let t = ctx.timestamp_ms;
        let partners = spec.partners(ctx, spec.other_store, &key_bytes, t)?;
        spec.keep(ctx, spec.this_store, &key_bytes, &value_bytes, t);
        if partners.is_empty() {
            if let Some(pending) = spec.pending {
                // A record whose window has passed already (stream time beyond t + after)
                // can meet no later right record: its `None` result goes out now, as
                // Kafka's; else it waits for its window to close.
                if i128::from(t) + i128::from(spec.windows.after_ms())
                    < i128::from(ctx.stream_time_ms)
                {
                    if let Some(out) = (spec.joiner)(&value, None) {
                        ctx.valued(|ctx| self.next.process(ctx, key, out))?;
                    }
                } else {
                    // Kafka starts from this record when no pass is pending; a restored
                    // task (whose last pass is unknown) from its earliest waiting record.
                    let earliest = ctx.stores.get(pending).and_then(Store::earliest_end);
                    append(ctx, pending, &key_bytes, &value_bytes, t);
                    let start = earliest.map_or(t, |e| e.min(t));
                    let since = ctx.pending_since.entry(pending).or_insert(start);
                    *since = (*since).min(t);
                }
            }
            return Ok(());
        }
        for (t2, bytes) in partners {
            let other = W::decode(&bytes).map_err(|e| ctx.locate(&spec.what("stored value"), e))?;
            if let Some(out) = (spec.joiner)(&value, Some(&other)) {
                ctx.at_time(t.max(t2), |ctx| {
                    ctx.valued(|ctx| self.next.process(ctx, key.clone(), out))
                })?;
            }
        }
        Ok(())
    }
}

/// The processor below the right stream of a stream-stream join.
struct RightSide<K, V, W, X> {
    spec: Arc<WindowJoin<V, W, X>>,
    next: Box<dyn Processor<K, X>>,
}

impl<K: Codec, V: Codec, W: Codec, X: Codec> Processor<K, W> for RightSide<K, V, W, X> {
    fn process(&mut self, ctx: &mut Context, key: K, value: W) -> Result<()> {
        let spec = &*self.spec;
        let Some((key_bytes, value_bytes)) = spec.admit(ctx, &mut self.next, &key, &value)? else {
            return Ok(());
        };
        let t = ctx.timestamp_ms;
        let partners = spec.partners(ctx, spec.this_store, &key_bytes, t)?;
        spec.keep(ctx, spec.other_store, &key_bytes, &value_bytes, t);
        let mut matched = Vec::new();
        for (t1, bytes) in partners {
            let this = V::decode(&bytes).map_err(|e| ctx.locate(&spec.what("stored value"), e))?;
            if let Some(out) = (spec.joiner)(&this, Some(&value)) {
                ctx.at_time(t.max(t1), |ctx| {
                    ctx.valued(|ctx| self.next.process(ctx, key.clone(), out))
                })?;
            }
            matched.push(t1);
        }
        // The left records met here will never be emitted alone.
        if let Some(pending) = spec.pending {
            matched.dedup();
            for t1 in matched {
                let store_key = window_key(&key_bytes, t1, t1);
                if ctx.store(pending, &spec.name)?.get(&store_key).is_some() {
                    ctx.write(pending, store_key, None, t);
                }
            }
        }
        Ok(())
    }
}

/// Appends one value to a stored list: its length, u32 big-endian, then its bytes.
#[expect(
    clippy::big_endian_bytes,
    reason = "one layout, big-endian like the store keys"
)]
fn push_value(list: &mut Vec<u8>, value: &[u8]) {
    // Values longer than 4 GiB cannot be records; saturating keeps this total.
    let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
    list.extend_from_slice(&len.to_be_bytes());
    list.extend_from_slice(value);
}

/// The values of a stored list; an error if the bytes are not one (a changelog not
/// written by strom).
#[expect(
    clippy::big_endian_bytes,
    reason = "one layout, big-endian like the store keys"
)]
fn values(mut list: &[u8]) -> Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !list.is_empty() {
        let bad = || codec_error("a join store's value list is truncated");
        let (len, rest) = list.split_first_chunk::<4>().ok_or_else(bad)?;
        let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| bad())?;
        if rest.len() < len {
            return Err(bad());
        }
        let (value, rest) = rest.split_at(len);
        out.push(value);
        list = rest;
    }
    Ok(out)
}
