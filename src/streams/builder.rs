//! The DSL: [`StreamsBuilder`] and [`KStream`], which record operators into a shared graph.
//!
//! A `KStream` is a cheap handle (the graph, a node index, and its types); each operator adds
//! a node whose factory captures the user's closure in an `Arc` and knows the node's input
//! and output types. [`StreamsBuilder::build`] freezes a copy of the graph into a
//! [`Topology`].

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::Result;

use super::codec::Codec;
use super::processor::{fan_out, Context, Decode, Encode, Processor, Step};
use super::topology::{typed, Erased, Graph, Make, MakeOperator, MakeSource, Node, Role, Topology};

/// Records a stream processing program: where records come from, what is done to them, and
/// where they go. Kafka Streams' `StreamsBuilder`.
///
/// Calls on the builder and its streams take `&self` and cannot fail; what is wrong with
/// the program (an illegal topic name, an empty window) is reported by
/// [`build`](Self::build).
///
/// # Examples
///
/// ```
/// use strom::streams::{StreamsBuilder, TopologyTestDriver};
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream::<String, String>("words")
///     .filter(|_, word| !word.is_empty())
///     .map_values(|word| word.to_uppercase())
///     .to("shouted");
/// let topology = builder.build()?;
/// assert_eq!(topology.source_topics(), ["words"]);
///
/// let mut driver = TopologyTestDriver::new(topology)?;
/// driver.pipe("words", &"k".to_string(), &"hello".to_string(), 1_000)?;
/// driver.pipe("words", &"k".to_string(), &String::new(), 1_001)?;
/// let out = driver.read_output::<String, String>("shouted")?;
/// assert_eq!(out, [("k".to_string(), "HELLO".to_string(), 1_000)]);
/// # Ok::<(), strom::Error>(())
/// ```
#[derive(Default)]
pub struct StreamsBuilder {
    graph: Arc<Mutex<Graph>>,
}

impl StreamsBuilder {
    /// An empty program.
    pub fn new() -> Self {
        Self::default()
    }

    /// A stream of the records of `topic`, their keys decoded as `K` and values as `V`.
    ///
    /// A record without a key (or value) is decoded from no bytes: fine for `()`,
    /// `Vec<u8>` and `String` (empty), an error for `u64`. A topic may be read by several
    /// streams; each decodes its records once.
    pub fn stream<K: Codec, V: Codec>(&self, topic: &str) -> KStream<K, V> {
        let mut graph = self.graph.lock();
        let name = graph.next_name("SOURCE");
        let node_name = name.clone();
        let make: MakeSource = Arc::new(move |children: Vec<Erased>| {
            let next = fan_out(typed::<K, V>(children, &node_name)?);
            Ok(Box::new(Decode { next }) as Box<dyn super::processor::Source>)
        });
        let node = graph.add(Node {
            name,
            role: Role::Source {
                topic: Arc::from(topic),
            },
            parents: Vec::new(),
            children: Vec::new(),
            key_changed: false,
            make: Make::Source(make),
        });
        KStream::at(&self.graph, node)
    }

    pub(crate) fn graph_handle(&self) -> &Arc<Mutex<Graph>> {
        &self.graph
    }

    /// Freezes the program into a [`Topology`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTopology`](crate::Error::InvalidTopology) when it reads no topic or
    /// merges streams of two builders; [`Error::InvalidTopicName`](crate::Error::InvalidTopicName)
    /// for a source or sink topic whose name Kafka would refuse (sinks may not write
    /// `__`-prefixed internal topics).
    pub fn build(self) -> Result<Topology> {
        // A copy: streams still alive may go on adding nodes, to a graph no one builds.
        let graph = self.graph.lock().clone();
        Topology::new(graph)
    }
}

impl fmt::Debug for StreamsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamsBuilder")
            .field("nodes", &self.graph.lock().nodes.len())
            .finish()
    }
}

/// An unbounded stream of keyed records, each processed on its own: Kafka Streams'
/// `KStream`.
///
/// A handle into its builder's program: every operator returns a new stream and leaves
/// this one usable, so a stream can feed several operators (each gets every record).
/// Closures take the key and value by reference, and must be `Fn + Send + Sync + 'static`
/// because every task of the topology, on any thread, calls them.
#[must_use = "a stream does nothing until an operator such as `to` or `for_each` ends it"]
pub struct KStream<K, V> {
    graph: Arc<Mutex<Graph>>,
    node: usize,
    // `fn() -> _`: the handle holds no K or V, so it is Send and Sync whatever they are.
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        Self {
            graph: Arc::clone(&self.graph),
            node: self.node,
            types: PhantomData,
        }
    }
}

impl<K, V> fmt::Debug for KStream<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let graph = self.graph.lock();
        let name = graph.nodes.get(self.node).map_or("?", |n| n.name.as_str());
        f.debug_struct("KStream")
            .field("node", &name)
            .field("key", &std::any::type_name::<K>())
            .field("value", &std::any::type_name::<V>())
            .finish()
    }
}

/// Adds a node below `parents` whose processor `wrap` makes, per task, around the
/// processor of its children, which take `(KO, VO)`; the node takes `(KI, VI)`. Tables use
/// it with `Option<V>` values (a delete is `None`), which is why these are not `Codec`s.
pub(crate) fn add_node<KI, VI, KO, VO>(
    graph: &Arc<Mutex<Graph>>,
    parents: &[usize],
    kind: &str,
    role: Role,
    changes_key: bool,
    wrap: impl Fn(Box<dyn Processor<KO, VO>>) -> Box<dyn Processor<KI, VI>> + Send + Sync + 'static,
) -> usize
where
    KI: 'static,
    VI: 'static,
    KO: Clone + Send + 'static,
    VO: Clone + Send + 'static,
{
    let mut graph = graph.lock();
    let name = graph.next_name(kind);
    let node_name = name.clone();
    let make: MakeOperator = Arc::new(move |children: Vec<Erased>| {
        let next = fan_out(typed::<KO, VO>(children, &node_name)?);
        Ok(Box::new(wrap(next)) as Erased)
    });
    let key_changed = changes_key || parents.iter().any(|&p| graph.key_changed(p));
    graph.add(Node {
        name,
        role,
        parents: parents.to_vec(),
        children: Vec::new(),
        key_changed,
        make: Make::Operator(make),
    })
}

impl<K: Codec, V: Codec> KStream<K, V> {
    pub(crate) fn at(graph: &Arc<Mutex<Graph>>, node: usize) -> Self {
        Self {
            graph: Arc::clone(graph),
            node,
            types: PhantomData,
        }
    }

    /// Adds a node below this stream whose processor `wrap` makes, per task, around the
    /// processor of its children. `changes_key`: whether the operator may change the key.
    fn then<K2: Codec, V2: Codec>(
        &self,
        kind: &str,
        role: Role,
        changes_key: bool,
        wrap: impl Fn(Box<dyn Processor<K2, V2>>) -> Box<dyn Processor<K, V>> + Send + Sync + 'static,
    ) -> KStream<K2, V2> {
        self.then_from(&[self.node], kind, role, changes_key, wrap)
    }

    fn then_from<K2: Codec, V2: Codec>(
        &self,
        parents: &[usize],
        kind: &str,
        role: Role,
        changes_key: bool,
        wrap: impl Fn(Box<dyn Processor<K2, V2>>) -> Box<dyn Processor<K, V>> + Send + Sync + 'static,
    ) -> KStream<K2, V2> {
        let node = add_node(&self.graph, parents, kind, role, changes_key, wrap);
        KStream::at(&self.graph, node)
    }

    pub(crate) fn graph(&self) -> &Arc<Mutex<Graph>> {
        &self.graph
    }

    pub(crate) fn node(&self) -> usize {
        self.node
    }

    /// Whether an operator between the source and here may have changed the key: a
    /// grouping or join below this stream then goes through a repartition topic.
    pub(crate) fn key_changed(&self) -> bool {
        self.graph.lock().key_changed(self.node)
    }

    /// The records for which `predicate` is true.
    ///
    /// ```
    /// # use strom::streams::{StreamsBuilder, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder.stream::<String, u64>("amounts").filter(|_, amount| *amount > 100).to("large");
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// for amount in [50_u64, 150] {
    ///     driver.pipe("amounts", &"u1".to_string(), &amount, 0)?;
    /// }
    /// assert_eq!(driver.read_output::<String, u64>("large")?, [("u1".to_string(), 150, 0)]);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn filter<F>(&self, predicate: F) -> KStream<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.keep_if("FILTER", predicate, true)
    }

    /// The records for which `predicate` is false.
    pub fn filter_not<F>(&self, predicate: F) -> KStream<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.keep_if("FILTER", predicate, false)
    }

    fn keep_if<F>(&self, kind: &str, predicate: F, keep: bool) -> KStream<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let predicate = Arc::new(predicate);
        self.then(kind, Role::Operator, false, move |mut next| {
            let predicate = Arc::clone(&predicate);
            Box::new(Step(move |ctx: &mut Context, key: K, value: V| {
                if predicate(&key, &value) == keep {
                    next.process(ctx, key, value)
                } else {
                    Ok(())
                }
            }))
        })
    }

    /// Each record turned into a new key and value. The key may change: a grouping or join
    /// downstream repartitions.
    pub fn map<K2: Codec, V2: Codec, F>(&self, mapper: F) -> KStream<K2, V2>
    where
        F: Fn(&K, &V) -> (K2, V2) + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        self.then("MAP", Role::Operator, true, move |mut next| {
            let mapper = Arc::clone(&mapper);
            Box::new(Step(move |ctx: &mut Context, key: K, value: V| {
                let (key, value) = mapper(&key, &value);
                ctx.keyed(|ctx| ctx.valued(|ctx| next.process(ctx, key, value)))
            }))
        })
    }

    /// Each record's value turned into a new one; the key stays.
    pub fn map_values<V2: Codec, F>(&self, mapper: F) -> KStream<K, V2>
    where
        F: Fn(&V) -> V2 + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        self.then("MAPVALUES", Role::Operator, false, move |mut next| {
            let mapper = Arc::clone(&mapper);
            Box::new(Step(move |ctx: &mut Context, key: K, value: V| {
                let value = mapper(&value);
                ctx.valued(|ctx| next.process(ctx, key, value))
            }))
        })
    }

    /// Each record turned into zero or more records, each with the input's timestamp.
    pub fn flat_map<K2: Codec, V2: Codec, I, F>(&self, mapper: F) -> KStream<K2, V2>
    where
        I: IntoIterator<Item = (K2, V2)>,
        F: Fn(&K, &V) -> I + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        self.then("FLATMAP", Role::Operator, true, move |mut next| {
            let mapper = Arc::clone(&mapper);
            Box::new(Step(move |ctx: &mut Context, key: K, value: V| {
                ctx.keyed(|ctx| {
                    ctx.valued(|ctx| {
                        for (key, value) in mapper(&key, &value) {
                            next.process(ctx, key, value)?;
                        }
                        Ok(())
                    })
                })
            }))
        })
    }

    /// Each record's value turned into zero or more values, each with the record's key.
    pub fn flat_map_values<V2: Codec, I, F>(&self, mapper: F) -> KStream<K, V2>
    where
        I: IntoIterator<Item = V2>,
        F: Fn(&V) -> I + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        self.then("FLATMAPVALUES", Role::Operator, false, move |mut next| {
            let mapper = Arc::clone(&mapper);
            Box::new(Step(move |ctx: &mut Context, key: K, value: V| {
                ctx.valued(|ctx| {
                    for value in mapper(&value) {
                        next.process(ctx, key.clone(), value)?;
                    }
                    Ok(())
                })
            }))
        })
    }

    /// Each record with a new key computed from it; the value stays. A grouping or join
    /// downstream repartitions.
    pub fn select_key<K2: Codec, F>(&self, selector: F) -> KStream<K2, V>
    where
        F: Fn(&K, &V) -> K2 + Send + Sync + 'static,
    {
        let selector = Arc::new(selector);
        self.then("KEY-SELECT", Role::Operator, true, move |mut next| {
            let selector = Arc::clone(&selector);
            Box::new(Step(move |ctx: &mut Context, key: K, value: V| {
                let key = selector(&key, &value);
                ctx.keyed(|ctx| next.process(ctx, key, value))
            }))
        })
    }

    /// The same records, after `action` has looked at each (for logging or metrics).
    pub fn peek<F>(&self, action: F) -> KStream<K, V>
    where
        F: Fn(&K, &V) + Send + Sync + 'static,
    {
        let action = Arc::new(action);
        self.then("PEEK", Role::Operator, false, move |mut next| {
            let action = Arc::clone(&action);
            Box::new(Step(move |ctx: &mut Context, key: K, value: V| {
                action(&key, &value);
                next.process(ctx, key, value)
            }))
        })
    }

    /// Calls `action` on each record; the stream ends here.
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// # use strom::streams::{StreamsBuilder, TopologyTestDriver};
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let builder = StreamsBuilder::new();
    /// let sink = Arc::clone(&seen);
    /// builder.stream::<(), String>("log").for_each(move |_, line| sink.lock().unwrap().push(line.clone()));
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe("log", &(), &"started".to_string(), 0)?;
    /// assert_eq!(*seen.lock().unwrap(), ["started"]);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn for_each<F>(&self, action: F)
    where
        F: Fn(&K, &V) + Send + Sync + 'static,
    {
        let action = Arc::new(action);
        let _end: KStream<(), ()> = self.then("FOREACH", Role::Operator, false, move |_next| {
            let action = Arc::clone(&action);
            Box::new(Step(move |_ctx: &mut Context, key: K, value: V| {
                action(&key, &value);
                Ok(())
            }))
        });
    }

    /// The records of this stream and of `other`, interleaved as they are processed (no
    /// order between the two is kept). Both must come from the same builder.
    pub fn merge(&self, other: &KStream<K, V>) -> KStream<K, V> {
        if !Arc::ptr_eq(&self.graph, &other.graph) {
            self.graph
                .lock()
                .problems
                .push("merge: the two streams come from different StreamsBuilders".into());
            return self.clone();
        }
        self.then_from(
            &[self.node, other.node],
            "MERGE",
            Role::Operator,
            false,
            |next| next,
        )
    }

    /// Writes each record to `topic`, its key and value encoded with their [`Codec`]s and
    /// its timestamp kept; the stream ends here. The topic must exist when the
    /// application runs; it is partitioned by the encoded key as `Producer::send` would.
    pub fn to(&self, topic: &str) {
        let topic: Arc<str> = Arc::from(topic);
        let role = Role::Sink {
            topic: Arc::clone(&topic),
        };
        let _end: KStream<(), ()> = self.then("SINK", role, false, move |_next| {
            let sink = Encode {
                topic: Arc::clone(&topic),
            };
            Box::new(Step(move |ctx: &mut Context, key: K, value: V| {
                sink.emit(ctx, &key, &value)
            }))
        });
    }
}
