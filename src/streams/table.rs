//! [`KTable`]: a changelog stream read as a table, the latest value per key.
//!
//! A table's node passes `(key, Option<value>)` down its chain: `Some` is an update, `None`
//! a delete (Kafka forwards `null`). `filter` turns the updates it refuses into deletes,
//! as Kafka's table filter does; `to_stream` forwards the updates and drops the deletes,
//! so that a `KStream<K, V>` never has to invent a value for a missing one.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::Result;

use super::builder::{add_node, KStream, StreamsBuilder};
use super::codec::{Codec, Windowed};
use super::processor::{encoded, fan_out, Context, Encode, Processor, SinkRecord, Source, Step};
use super::store::{
    buffer_record, key_value_view, split_window_key, window_key, Layout, StoreSpec,
};
use super::topology::{typed, Graph, Make, MakeSource, Node, Role};
use super::window::{SessionWindows, TimeWindows};

/// How the windows of a windowed table close, for `suppress_until_window_closes`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Closing {
    Time(TimeWindows),
    Session(SessionWindows),
}

impl Closing {
    fn is_closed(self, end_ms: i64, stream_time_ms: i64) -> bool {
        match self {
            Closing::Time(w) => w.is_closed(end_ms, stream_time_ms),
            Closing::Session(w) => w.is_final(end_ms, stream_time_ms),
        }
    }
}

/// A table: the latest value of each key, changing as updates arrive. Kafka Streams'
/// `KTable`.
///
/// Made by [`StreamsBuilder::table`] and by aggregations. Its operators see every update
/// and every delete that reaches it (an aggregation's record cache coalesces a key's
/// updates between commits, see
/// [`StreamsConfig::cache_max_bytes`](super::StreamsConfig::cache_max_bytes));
/// [`to_stream`](Self::to_stream) turns the updates into a stream.
pub struct KTable<K, V> {
    graph: Arc<Mutex<Graph>>,
    node: usize,
    /// For a windowed aggregation's table (and tables derived from it): how its windows
    /// close.
    closing: Option<Closing>,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for KTable<K, V> {
    fn clone(&self) -> Self {
        Self {
            graph: Arc::clone(&self.graph),
            node: self.node,
            closing: self.closing,
            types: PhantomData,
        }
    }
}

impl<K, V> fmt::Debug for KTable<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let graph = self.graph.lock();
        let name = graph.nodes.get(self.node).map_or("?", |n| n.name.as_str());
        f.debug_struct("KTable")
            .field("node", &name)
            .field("key", &std::any::type_name::<K>())
            .field("value", &std::any::type_name::<V>())
            .field("windowed", &self.closing.is_some())
            .finish_non_exhaustive()
    }
}

impl StreamsBuilder {
    /// A table of the records of `topic`: per key, the latest value; a record with no
    /// value (a tombstone) deletes its key. The table is kept in the state store `store`
    /// (backed by the changelog `__<application_id>-<store>-changelog`). Records without a
    /// key are dropped and counted, as Kafka does.
    ///
    /// ```
    /// # use strom::streams::{StreamsBuilder, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// let _prices = builder.table::<String, u64>("prices", "prices-store");
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe("prices", &"apple".to_string(), &3_u64, 0)?;
    /// driver.pipe("prices", &"pear".to_string(), &4_u64, 1)?;
    /// driver.pipe("prices", &"apple".to_string(), &5_u64, 2)?;
    /// driver.pipe_raw("prices", Some(b"pear"), None, 3)?; // a tombstone
    /// let prices = driver.store::<String, u64>("prices-store")?;
    /// assert_eq!(prices.all(), [("apple".to_string(), 5)]);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn table<K: Codec, V: Codec>(&self, topic: &str, store: &str) -> KTable<K, V> {
        let graph = self.graph_handle();
        let mut g = graph.lock();
        let id = g.add_store(StoreSpec {
            name: Arc::from(store),
            retention_ms: None,
            keep_ms: None,
            layout: Layout::KeyValue,
            own_clock: false,
            view: key_value_view::<K, V>(),
        });
        let name = g.next_name("SOURCE");
        let node_name = name.clone();
        let make: MakeSource = Arc::new(move |children| {
            let next = fan_out(typed::<K, Option<V>>(children, &node_name)?);
            Ok(Box::new(TableSource { store: id, next }) as Box<dyn Source>)
        });
        let node = g.add(Node {
            name,
            role: Role::Source {
                topic: Arc::from(topic),
            },
            parents: Vec::new(),
            children: Vec::new(),
            key_changed: false,
            make: Make::Source(make),
        });
        g.table_stores.insert(node, id);
        drop(g);
        KTable::at(graph, node, None)
    }
}

/// The source of a table: writes each record to the store (a tombstone deletes) and
/// forwards it as an update or a delete.
struct TableSource<K, V> {
    store: usize,
    next: Box<dyn Processor<K, Option<V>>>,
}

impl<K: Codec, V: Codec> Source for TableSource<K, V> {
    fn process(
        &mut self,
        ctx: &mut Context,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<()> {
        let Some(key_bytes) = key else {
            ctx.dropped += 1;
            return Ok(());
        };
        let typed_key = K::decode(key_bytes).map_err(|e| ctx.locate("key of", e))?;
        let typed_value = value
            .map(|bytes| V::decode(bytes).map_err(|e| ctx.locate("value of", e)))
            .transpose()?;
        // The bytes as they came: the changelog then holds exactly the topic's records.
        let at = ctx.timestamp_ms;
        ctx.write(
            self.store,
            key_bytes.to_vec(),
            value.map(<[u8]>::to_vec),
            at,
        );
        self.next.process(ctx, typed_key, typed_value)
    }
}

impl<K: Codec, V: Codec> KTable<K, V> {
    pub(crate) fn at(graph: &Arc<Mutex<Graph>>, node: usize, closing: Option<Closing>) -> Self {
        Self {
            graph: Arc::clone(graph),
            node,
            closing,
            types: PhantomData,
        }
    }

    pub(crate) fn graph(&self) -> &Arc<Mutex<Graph>> {
        &self.graph
    }

    pub(crate) fn node(&self) -> usize {
        self.node
    }

    fn then<V2: Codec>(
        &self,
        kind: &str,
        wrap: impl Fn(Box<dyn Processor<K, Option<V2>>>) -> Box<dyn Processor<K, Option<V>>>
            + Send
            + Sync
            + 'static,
    ) -> KTable<K, V2> {
        let node = add_node(&self.graph, &[self.node], kind, Role::Operator, false, wrap);
        KTable::at(&self.graph, node, self.closing)
    }

    /// The table of the entries for which `predicate` is true: an update it refuses
    /// deletes the key from the result (Kafka forwards `null`).
    #[must_use]
    pub fn filter<F>(&self, predicate: F) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.keep_if(predicate, true)
    }

    /// The table of the entries for which `predicate` is false.
    #[must_use]
    pub fn filter_not<F>(&self, predicate: F) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.keep_if(predicate, false)
    }

    fn keep_if<F>(&self, predicate: F, keep: bool) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let predicate = Arc::new(predicate);
        self.then("FILTER", move |mut next| {
            let predicate = Arc::clone(&predicate);
            Box::new(Step(move |ctx: &mut Context, key: K, value: Option<V>| {
                let value = value.filter(|v| predicate(&key, v) == keep);
                next.process(ctx, key, value)
            }))
        })
    }

    /// The table with each value turned into `mapper(value)`; deletes stay deletes.
    pub fn map_values<V2: Codec, F>(&self, mapper: F) -> KTable<K, V2>
    where
        F: Fn(&V) -> V2 + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        self.then("MAPVALUES", move |mut next| {
            let mapper = Arc::clone(&mapper);
            Box::new(Step(move |ctx: &mut Context, key: K, value: Option<V>| {
                next.process(ctx, key, value.as_ref().map(|v| mapper(v)))
            }))
        })
    }

    /// The stream of the table's updates: one record per update, with the update's
    /// timestamp. Deletes (a tombstone read by [`StreamsBuilder::table`], an entry
    /// refused by [`filter`](Self::filter), a session absorbed by a merge) are not
    /// forwarded: a `KStream<K, V>` record always has a value. [`to`](Self::to) writes
    /// the deletes too, as tombstones.
    pub fn to_stream(&self) -> KStream<K, V> {
        let node = add_node::<K, Option<V>, K, V>(
            &self.graph,
            &[self.node],
            "TOSTREAM",
            Role::Operator,
            false,
            |mut next| {
                Box::new(Step(
                    move |ctx: &mut Context, key: K, value: Option<V>| match value {
                        Some(value) => next.process(ctx, key, value),
                        None => Ok(()),
                    },
                ))
            },
        );
        KStream::at(&self.graph, node)
    }

    /// Writes each update to `topic`, and each delete as a tombstone (a record without a
    /// value), as Kafka's `toStream().to(topic)` does; the table goes on. The topic must
    /// exist when the application runs; it is partitioned by the encoded key.
    ///
    /// ```
    /// # use strom::streams::{StreamsBuilder, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder.table::<String, u64>("stock", "stock").filter(|_, n| *n > 0).to("in-stock");
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe("stock", &"pen".to_string(), &3_u64, 1)?;
    /// driver.pipe("stock", &"pen".to_string(), &0_u64, 2)?;
    /// let out = driver.read_output_raw("in-stock");
    /// assert_eq!(out[0].value.as_deref(), Some(&3_u64.to_be_bytes()[..]));
    /// assert_eq!(out[1].value, None); // pen left the filtered table
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn to(&self, topic: &str) {
        let topic: Arc<str> = Arc::from(topic);
        let role = Role::Sink {
            topic: Arc::clone(&topic),
        };
        add_node::<K, Option<V>, (), ()>(
            &self.graph,
            &[self.node],
            "SINK",
            role,
            false,
            move |_| {
                let sink = Encode {
                    topic: Arc::clone(&topic),
                };
                Box::new(Step(move |ctx: &mut Context, key: K, value: Option<V>| {
                    sink.emit_update(ctx, &key, value.as_ref())
                }))
            },
        );
    }
}

impl<K: Codec, V: Codec> KTable<Windowed<K>, V> {
    /// Only each window's final result: updates are held back until stream time closes
    /// their window (reaches its end plus grace for time windows, its end plus gap plus
    /// grace for sessions, as Kafka's),
    /// then the window's latest value is forwarded once, with the timestamp of its last
    /// update. A window deleted before it closes (a session absorbed by a merge) is
    /// forgotten, never forwarded. Held results are forwarded when a later record reaches
    /// this operator, as Kafka's suppression does (there is no wall-clock punctuation).
    ///
    /// What the buffer holds is kept in a compacted changelog,
    /// `__<application_id>-KTABLE-SUPPRESS-STATE-STORE-<n>-changelog` (listed by
    /// [`Topology::internal_topics`](super::Topology::internal_topics)), and restored with
    /// the task's stores: a result held back when the application stopped or crashed is
    /// forwarded after the restart, neither lost nor (under `ExactlyOnce`) repeated.
    ///
    /// Only for the table of a windowed aggregation (or one derived from it by `filter` and
    /// `map_values`); on another table, `build` reports an error.
    #[must_use]
    pub fn suppress_until_window_closes(&self) -> KTable<Windowed<K>, V> {
        let Some(closing) = self.closing else {
            self.graph.lock().problems.push(
                "suppress_until_window_closes: the table is not the result of a windowed aggregation"
                    .into(),
            );
            return self.clone();
        };
        let buffer = {
            let mut g = self.graph.lock();
            let name = format!("KTABLE-SUPPRESS-STATE-STORE-{:010}", g.nodes.len());
            g.buffers.push(Arc::from(name));
            g.buffers.len() - 1
        };
        self.then("SUPPRESS", move |mut next| {
            Box::new(Step(
                move |ctx: &mut Context, key: Windowed<K>, value: Option<V>| {
                    let key_bytes = encoded(&key.key)
                        .map_err(|e| ctx.locate("suppressed key of", e))?
                        .unwrap_or_default();
                    let value = value
                        .map(|v| encoded(&v).map(Option::unwrap_or_default))
                        .transpose()
                        .map_err(|e| ctx.locate("suppressed value of", e))?;
                    let at = window_key(&key_bytes, key.start_ms, key.end_ms);
                    let (timestamp, stream_time) = (ctx.timestamp_ms, ctx.stream_time_ms);
                    let Some(held) = ctx.buffers.get_mut(buffer) else {
                        return Ok(());
                    };
                    // Each change of the buffer goes to its changelog, in the task's
                    // output (and transaction): a restart gets back what was held.
                    let logged = value.as_ref().map(|v| buffer_record(timestamp, v));
                    held.put(at.clone(), key.end_ms, timestamp, value);
                    let ready = held.take_closed(|end| closing.is_closed(end, stream_time));
                    let changelog = Arc::clone(held.changelog());
                    let topic = ctx.internal_topic(&changelog);
                    ctx.output.push(SinkRecord {
                        topic: Arc::clone(&topic),
                        key: Some(at),
                        value: logged,
                        timestamp_ms: timestamp,
                        changelog: true,
                    });
                    for (at, at_ms, bytes) in ready {
                        ctx.output.push(SinkRecord {
                            topic: Arc::clone(&topic),
                            key: Some(at.clone()),
                            value: None,
                            timestamp_ms: timestamp,
                            changelog: true,
                        });
                        let Some((key_bytes, start_ms, end_ms)) = split_window_key(&at) else {
                            continue;
                        };
                        let key =
                            K::decode(key_bytes).map_err(|e| ctx.locate("suppressed key of", e))?;
                        let value =
                            V::decode(&bytes).map_err(|e| ctx.locate("suppressed value of", e))?;
                        ctx.timestamp_ms = at_ms;
                        let sent = next.process(
                            ctx,
                            Windowed {
                                key,
                                start_ms,
                                end_ms,
                            },
                            Some(value),
                        );
                        ctx.timestamp_ms = timestamp;
                        sent?;
                    }
                    Ok(())
                },
            ))
        })
    }
}
