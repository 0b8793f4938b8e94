//! The graph a [`StreamsBuilder`](super::StreamsBuilder) records, the [`Topology`] it
//! builds, and the [`Task`]s a topology is instantiated into, one per input partition.
//!
//! Each node of the graph keeps a factory that knows its node's types; the graph itself does
//! not. To instantiate a task, [`operator`] walks from each source down, asks the children
//! for their processors first (type-erased as `Box<dyn Any>`), and the node's factory
//! downcasts them back to `Box<dyn Processor<K2, V2>>` — once per task, at build time, never
//! per record — and wraps them in its own processor. A node reachable by two paths (after a
//! `merge`) is built once per path: a task's chains are trees.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::topic::validate_name;

use super::processor::{internal_name, Context, Processor, SinkRecord, Source};
use super::store::{Buffer, Store, StoreSpec};

/// A node's processor before its factory's parent has claimed it: a
/// `Box<dyn Processor<K, V>>` with its types erased.
pub(crate) type Erased = Box<dyn Any + Send>;

/// Builds an operator's processor from its children's.
pub(crate) type MakeOperator = Arc<dyn Fn(Vec<Erased>) -> Result<Erased> + Send + Sync>;

/// Builds a source from its children's processors.
pub(crate) type MakeSource = Arc<dyn Fn(Vec<Erased>) -> Result<Box<dyn Source>> + Send + Sync>;

/// How a node becomes a processor in each task.
#[derive(Clone)]
pub(crate) enum Make {
    Source(MakeSource),
    Operator(MakeOperator),
}

/// What a node is, for the topology's description and its topic lists.
#[derive(Clone, Debug)]
pub(crate) enum Role {
    Source {
        topic: Arc<str>,
    },
    Operator,
    Sink {
        topic: Arc<str>,
    },
    /// Writes `__<application_id>-<name>`; `name` is relative (`counts-repartition`).
    RepartitionSink {
        name: Arc<str>,
    },
    /// Reads `__<application_id>-<name>`: the start of another sub-topology.
    RepartitionSource {
        name: Arc<str>,
    },
}

/// One operator of the graph.
#[derive(Clone)]
pub(crate) struct Node {
    /// Kafka Streams' style of name, `KSTREAM-FILTER-0000000003`: the kind and the place.
    pub(crate) name: String,
    pub(crate) role: Role,
    pub(crate) parents: Vec<usize>,
    pub(crate) children: Vec<usize>,
    /// Whether some operator between a source and here may have changed the key, so that
    /// records with equal keys may sit in different partitions: a grouping or join after
    /// this node must go through a repartition topic.
    pub(crate) key_changed: bool,
    pub(crate) make: Make,
}

/// The graph of a builder: nodes in the order they were added, so that a node's parents
/// always come before it (no cycles).
#[derive(Clone, Default)]
pub(crate) struct Graph {
    pub(crate) nodes: Vec<Node>,
    /// Mistakes made through the builder's infallible calls, reported by `build`.
    pub(crate) problems: Vec<String>,
    /// The state stores, by index: processors refer to their store by its place here.
    pub(crate) stores: Vec<StoreSpec>,
    /// The names of the `suppress_until_window_closes` buffers a task has, by index
    /// (`KTABLE-SUPPRESS-STATE-STORE-<n>`, as Kafka names them): each has a changelog.
    pub(crate) buffers: Vec<Arc<str>>,
    /// For each join, the nodes whose source topics must be co-partitioned.
    pub(crate) co_partitioned: Vec<Vec<usize>>,
    /// The store of each table read from a topic, by its source node: a stream-table
    /// join looks such a table up there instead of keeping a copy.
    pub(crate) table_stores: HashMap<usize, usize>,
}

impl Graph {
    /// The name the next node of `kind` gets.
    pub(crate) fn next_name(&self, kind: &str) -> String {
        format!("KSTREAM-{kind}-{:010}", self.nodes.len())
    }

    /// Whether `node`'s key may differ from its source's.
    pub(crate) fn key_changed(&self, node: usize) -> bool {
        self.nodes.get(node).is_some_and(|n| n.key_changed)
    }

    /// Declares the store `name` and returns its index; a name used twice is a problem
    /// reported by `build`.
    pub(crate) fn add_store(&mut self, spec: StoreSpec) -> usize {
        if self.stores.iter().any(|s| s.name == spec.name) {
            self.problems
                .push(format!("two state stores are named {:?}", spec.name));
        }
        self.stores.push(spec);
        self.stores.len() - 1
    }

    /// The topics `node` reads from, through its ancestors: source topics as named,
    /// repartition topics under their names relative to the application (`Err`).
    pub(crate) fn sources_of(&self, node: usize) -> Vec<std::result::Result<Arc<str>, Arc<str>>> {
        let mut seen = vec![false; self.nodes.len()];
        let mut todo = vec![node];
        let mut out = Vec::new();
        while let Some(id) = todo.pop() {
            let Some(n) = self.nodes.get(id) else {
                continue;
            };
            if seen.get(id).copied().unwrap_or(true) {
                continue;
            }
            if let Some(s) = seen.get_mut(id) {
                *s = true;
            }
            match &n.role {
                Role::Source { topic } => out.push(Ok(Arc::clone(topic))),
                Role::RepartitionSource { name } => out.push(Err(Arc::clone(name))),
                _ => todo.extend(n.parents.iter().copied()),
            }
        }
        out
    }

    /// Adds a node below `parents` and returns its index.
    pub(crate) fn add(&mut self, node: Node) -> usize {
        let id = self.nodes.len();
        for &parent in &node.parents {
            if let Some(p) = self.nodes.get_mut(parent) {
                p.children.push(id);
            }
        }
        self.nodes.push(node);
        id
    }
}

/// An internal inconsistency of the graph: a bug in strom, reported rather than panicked on.
pub(crate) fn broken(node: &str, what: &str) -> Error {
    Error::InvalidTopology {
        reason: format!("operator {node}: {what} (a bug in strom's topology builder)"),
    }
}

/// Takes back the children's processors as the types `node` gives them.
pub(crate) fn typed<K: 'static, V: 'static>(
    children: Vec<Erased>,
    node: &str,
) -> Result<Vec<Box<dyn Processor<K, V>>>> {
    children
        .into_iter()
        .map(|child| {
            child
                .downcast::<Box<dyn Processor<K, V>>>()
                .map(|processor| *processor)
                .map_err(|_| broken(node, "a child takes other types than its parent gives"))
        })
        .collect()
}

/// The processor of node `id` and everything below it, for one task.
fn operator(nodes: &[Node], id: usize) -> Result<Erased> {
    let node = nodes
        .get(id)
        .ok_or_else(|| broken(&format!("#{id}"), "missing"))?;
    let children = node
        .children
        .iter()
        .map(|&child| operator(nodes, child))
        .collect::<Result<Vec<_>>>()?;
    match &node.make {
        Make::Operator(make) => make(children),
        Make::Source(_) => Err(broken(&node.name, "a source below another node")),
    }
}

/// A built, immutable stream processing program: its sources, operators and sinks.
///
/// Made by [`StreamsBuilder::build`](super::StreamsBuilder::build), run by a
/// [`TopologyTestDriver`](super::TopologyTestDriver). It is instantiated once per task
/// (per input partition); cloning it is cheap.
///
/// `Display` describes it as Kafka's `Topology::describe` does, one operator per line with
/// the operators it feeds.
#[derive(Clone)]
pub struct Topology {
    graph: Arc<Graph>,
}

impl Topology {
    /// Checks the graph and freezes it.
    pub(crate) fn new(graph: Graph) -> Result<Self> {
        if let Some(problem) = graph.problems.first() {
            return Err(Error::InvalidTopology {
                reason: problem.clone(),
            });
        }
        for node in &graph.nodes {
            match &node.role {
                Role::Source { topic } => validate_name(topic, true)?,
                Role::Sink { topic } => validate_name(topic, false)?,
                Role::RepartitionSink { name } | Role::RepartitionSource { name } => {
                    validate_internal(name)?;
                }
                Role::Operator => {}
            }
        }
        for store in &graph.stores {
            validate_internal(&format!("{}-changelog", store.name))?;
        }
        let topology = Self {
            graph: Arc::new(graph),
        };
        if topology.source_topics().is_empty() {
            return Err(Error::InvalidTopology {
                reason: "the topology reads no topic: call StreamsBuilder::stream first".into(),
            });
        }
        // Instantiating once here turns a builder bug into an error at build, not at run.
        topology.task("check")?;
        Ok(topology)
    }

    /// The topics the topology reads, sorted, each once; its internal (repartition)
    /// topics are in [`internal_topics`](Self::internal_topics).
    pub fn source_topics(&self) -> Vec<&str> {
        self.topics(|role| match role {
            Role::Source { topic } => Some(topic),
            _ => None,
        })
    }

    /// The internal topics the application needs besides its inputs and outputs, sorted
    /// by name: one repartition topic per grouping whose key may have changed, one
    /// changelog per state store and one per suppression buffer
    /// ([`KTable::suppress_until_window_closes`](super::KTable::suppress_until_window_closes)). The runtime creates them (with as many partitions as
    /// the inputs) before it starts; [`InternalTopic::name`] gives the full name.
    pub fn internal_topics(&self) -> Vec<InternalTopic> {
        let mut topics: Vec<InternalTopic> = self
            .graph
            .nodes
            .iter()
            .filter_map(|node| match &node.role {
                Role::RepartitionSource { name } => Some(InternalTopic {
                    name: Arc::clone(name),
                    changelog: false,
                    retention_ms: None,
                }),
                _ => None,
            })
            .chain(self.graph.stores.iter().map(|store| InternalTopic {
                name: Arc::from(format!("{}-changelog", store.name)),
                changelog: true,
                retention_ms: store.retention_ms,
            }))
            // A suppression buffer's changelog is compacted: a window's record lives until
            // its tombstone, written when the window's result is forwarded.
            .chain(self.graph.buffers.iter().map(|name| InternalTopic {
                name: Arc::from(format!("{name}-changelog")),
                changelog: true,
                retention_ms: None,
            }))
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        topics.dedup_by(|a, b| a.name == b.name);
        topics
    }

    /// The groups of topics that must be co-partitioned (have the same number of
    /// partitions) for the application `application_id`, so that a join's inputs with
    /// equal keys meet in one task: each group sorted, groups sharing a topic merged.
    /// Repartition topics appear under their full names; the runtime creates them with
    /// the group's partition count and reports [`Error::InvalidTopology`] when the source
    /// topics of a group differ.
    ///
    /// ```
    /// use std::time::Duration;
    /// use strom::streams::{JoinWindows, StreamsBuilder};
    ///
    /// let builder = StreamsBuilder::new();
    /// let clicks = builder.stream::<String, String>("clicks");
    /// let views = builder.stream::<String, String>("views");
    /// clicks
    ///     .join(&views, JoinWindows::of(Duration::from_secs(5)), |c, v| format!("{c}/{v}"))
    ///     .to("clicked-views");
    /// let groups = builder.build()?.co_partition_groups("site");
    /// assert_eq!(groups, [vec!["clicks".to_string(), "views".to_string()]]);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn co_partition_groups(&self, application_id: &str) -> Vec<Vec<String>> {
        let mut groups: Vec<Vec<String>> = Vec::new();
        for nodes in &self.graph.co_partitioned {
            let mut group: Vec<String> = nodes
                .iter()
                .flat_map(|&n| self.graph.sources_of(n))
                .map(|topic| match topic {
                    Ok(topic) => topic.to_string(),
                    Err(name) => internal_name(application_id, &name),
                })
                .collect();
            // Groups that share a topic are one group: all their topics must agree.
            let (joined, apart): (Vec<_>, Vec<_>) = std::mem::take(&mut groups)
                .into_iter()
                .partition(|g| g.iter().any(|t| group.contains(t)));
            groups = apart;
            group.extend(joined.into_iter().flatten());
            group.sort_unstable();
            group.dedup();
            groups.push(group);
        }
        groups.sort();
        groups
    }

    /// Checks that the topics of each co-partition group that exist have one partition
    /// count: what the runtime does once it knows the topics, before it starts.
    /// `partitions` gives a topic's count, `None` for one that does not exist yet (a
    /// repartition topic the runtime then creates with the group's count).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTopology`] naming the topics and their counts.
    pub(crate) fn check_co_partitioned(
        &self,
        application_id: &str,
        partitions: impl Fn(&str) -> Option<u32>,
    ) -> Result<()> {
        for group in self.co_partition_groups(application_id) {
            let counts: Vec<(String, u32)> = group
                .into_iter()
                .filter_map(|topic| partitions(&topic).map(|n| (topic, n)))
                .collect();
            if counts.windows(2).any(|pair| pair[0].1 != pair[1].1) {
                let listed: Vec<String> = counts
                    .iter()
                    .map(|(topic, n)| format!("{topic} has {n}"))
                    .collect();
                return Err(Error::InvalidTopology {
                    reason: format!(
                        "joined topics must be co-partitioned (have as many partitions): {}",
                        listed.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    /// The names of the state stores, in the order they were declared.
    pub fn store_names(&self) -> Vec<&str> {
        self.graph.stores.iter().map(|s| &*s.name).collect()
    }

    /// The store `name`'s declaration.
    pub(crate) fn store_spec(&self, name: &str) -> Option<(usize, &StoreSpec)> {
        self.graph
            .stores
            .iter()
            .enumerate()
            .find(|(_, s)| &*s.name == name)
    }

    /// The topics the topology writes with `to`, sorted, each once.
    pub fn sink_topics(&self) -> Vec<&str> {
        self.topics(|role| match role {
            Role::Sink { topic } => Some(topic),
            _ => None,
        })
    }

    fn topics(&self, pick: impl Fn(&Role) -> Option<&Arc<str>>) -> Vec<&str> {
        let mut topics: Vec<&str> = self
            .graph
            .nodes
            .iter()
            .filter_map(|node| pick(&node.role).map(|t| &**t))
            .collect();
        topics.sort_unstable();
        topics.dedup();
        topics
    }

    /// A fresh task of the application `application_id`: every source (repartition topics
    /// under their full names) with its chain of processors, empty stores, and a context
    /// whose stream time has not started.
    pub(crate) fn task(&self, application_id: &str) -> Result<Task> {
        let nodes = &self.graph.nodes;
        let mut sources: Vec<Chains> = Vec::new();
        for node in nodes {
            let topic: Arc<str> = match (&node.role, &node.make) {
                (Role::Source { topic }, Make::Source(_)) => Arc::clone(topic),
                (Role::RepartitionSource { name }, Make::Source(_)) => {
                    Arc::from(internal_name(application_id, name))
                }
                _ => continue,
            };
            let Make::Source(make) = &node.make else {
                continue;
            };
            let children = node
                .children
                .iter()
                .map(|&child| operator(nodes, child))
                .collect::<Result<Vec<_>>>()?;
            let source = make(children)?;
            match sources.iter_mut().find(|(t, _)| *t == topic) {
                Some((_, chains)) => chains.push(source),
                None => sources.push((topic, vec![source])),
            }
        }
        let stores = self
            .graph
            .stores
            .iter()
            .map(|spec| {
                let store = Store::new(&spec.name, spec.layout, spec.keep_ms);
                if spec.own_clock {
                    store.with_own_clock()
                } else {
                    store
                }
            })
            .collect();
        let buffers = self
            .graph
            .buffers
            .iter()
            .map(|name| Buffer::new(Arc::from(format!("{name}-changelog"))))
            .collect();
        Ok(Task {
            sources,
            ctx: Context::new(application_id, stores, buffers),
        })
    }
}

/// Checks that an internal topic's relative name makes a legal topic name for any
/// application id of up to 100 characters.
fn validate_internal(name: &str) -> Result<()> {
    validate_name(&internal_name(&"a".repeat(100), name), true)
}

/// An internal topic a topology needs: a repartition topic or a store's changelog, as
/// [`Topology::internal_topics`] lists them.
///
/// # Examples
///
/// ```
/// use strom::streams::StreamsBuilder;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream::<String, String>("page-views")
///     .group_by(|_user, page| page.clone())
///     .count("views-per-page");
/// let topics = builder.build()?.internal_topics();
/// let names: Vec<String> = topics.iter().map(|t| t.name("site")).collect();
/// assert_eq!(names, ["__site-views-per-page-changelog", "__site-views-per-page-repartition"]);
/// assert_eq!(topics[0].cleanup_policy(), "compact");
/// assert_eq!(topics[1].cleanup_policy(), "delete");
/// # Ok::<(), strom::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InternalTopic {
    name: Arc<str>,
    changelog: bool,
    retention_ms: Option<i64>,
}

impl InternalTopic {
    /// The topic's full name for the application `application_id`:
    /// `__<application_id>-<store>-changelog` or `__<application_id>-<name>-repartition`.
    pub fn name(&self, application_id: &str) -> String {
        internal_name(application_id, &self.name)
    }

    /// The name without the application's prefix: `<store>-changelog` or
    /// `<name>-repartition`.
    pub fn suffix(&self) -> &str {
        &self.name
    }

    /// Whether this is a changelog, of a state store or a suppression buffer (else a
    /// repartition topic).
    pub fn is_changelog(&self) -> bool {
        self.changelog
    }

    /// The topic's `cleanup.policy`: `compact` for a key-value store's changelog,
    /// `compact,delete` for a windowed store's (old windows expire by time, see
    /// [`retention_ms`](Self::retention_ms)), `delete` for a repartition topic.
    pub fn cleanup_policy(&self) -> &'static str {
        match (self.changelog, self.retention_ms) {
            (true, None) => "compact",
            (true, Some(_)) => "compact,delete",
            (false, _) => "delete",
        }
    }

    /// The topic's `retention.ms` when it has one: for a windowed store's changelog, the
    /// store's retention (window size and grace, or gap and grace for sessions) plus one
    /// day, as Kafka Streams' `windowstore.changelog.additional.retention.ms` default.
    pub fn retention_ms(&self) -> Option<i64> {
        self.retention_ms
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes = &self.graph.nodes;
        let names = |ids: &[usize]| {
            let names: Vec<&str> = ids
                .iter()
                .filter_map(|&id| nodes.get(id).map(|n| n.name.as_str()))
                .collect();
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        };
        writeln!(f, "Topology:")?;
        for node in nodes {
            match &node.role {
                Role::Source { topic } => write!(f, "  Source: {} (topic: {topic})", node.name)?,
                Role::Sink { topic } => write!(f, "  Sink: {} (topic: {topic})", node.name)?,
                Role::RepartitionSink { name } => {
                    write!(
                        f,
                        "  Sink: {} (topic: __<application_id>-{name})",
                        node.name
                    )?;
                }
                Role::RepartitionSource { name } => {
                    write!(
                        f,
                        "  Source: {} (topic: __<application_id>-{name})",
                        node.name
                    )?;
                }
                Role::Operator => write!(f, "  Processor: {}", node.name)?,
            }
            writeln!(f)?;
            writeln!(f, "    --> {}", names(&node.children))?;
            if !node.parents.is_empty() {
                writeln!(f, "    <-- {}", names(&node.parents))?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The topic a task reads (its full name) and the chains that start from it.
type Chains = (Arc<str>, Vec<Box<dyn Source>>);

/// One instance of a topology: the processors of one input partition (or of one set of
/// co-partitioned partitions), fed one record at a time.
pub(crate) struct Task {
    /// Per topic read, its chains: a short list (a task reads a few topics), searched
    /// faster than a hash of the topic name per record.
    sources: Vec<Chains>,
    ctx: Context,
}

impl Task {
    /// Runs one consumed record through every chain that reads `topic`.
    ///
    /// Outputs emitted before an error stay in the output; the caller decides what an error
    /// means for them (the runtime fails the task and does not commit).
    pub(crate) fn process(
        &mut self,
        topic: &str,
        partition: u32,
        offset: u64,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<()> {
        let Some((name, sources)) = self.sources.iter_mut().find(|(t, _)| **t == *topic) else {
            return Err(Error::UnknownTopic {
                topic: topic.to_string(),
            });
        };
        if !Arc::ptr_eq(name, &self.ctx.topic) {
            self.ctx.topic = Arc::clone(name);
        }
        self.ctx.partition = partition;
        self.ctx.offset = offset;
        self.ctx.timestamp_ms = timestamp_ms;
        self.ctx.stream_time_ms = self.ctx.stream_time_ms.max(timestamp_ms);
        self.ctx.key_absent = key.is_none();
        self.ctx.value_absent = value.is_none();
        for source in sources {
            source.process(&mut self.ctx, key, value)?;
        }
        Ok(())
    }

    /// Whether the task has a source for `topic`.
    pub(crate) fn reads(&self, topic: &str) -> bool {
        self.sources.iter().any(|(t, _)| **t == *topic)
    }

    /// The largest timestamp the task has processed; `-1` before the first record.
    pub(crate) fn stream_time_ms(&self) -> i64 {
        self.ctx.stream_time_ms
    }

    /// Records dropped so far: for closed windows, or without the key they needed.
    pub(crate) fn dropped_records(&self) -> u64 {
        self.ctx.dropped
    }

    /// The task's instance of store number `index`.
    pub(crate) fn store(&self, index: usize) -> Option<&Store> {
        self.ctx.stores.get(index)
    }

    /// Applies one record of a store's changelog (`topic` is its full name,
    /// `__<application_id>-<store>-changelog`) to that store, or of a suppression
    /// buffer's changelog to that buffer, emitting nothing: how the
    /// runtime restores a task before it processes, record by record, from the changelog
    /// partition of the task's input partition.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`] if `topic` is not the changelog of one of the task's stores
    /// or buffers; [`Error::Serde`] for a buffer record that does not decode.
    pub(crate) fn restore(
        &mut self,
        topic: &str,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp_ms: i64,
    ) -> Result<()> {
        let changelogs: Vec<Arc<str>> = self
            .ctx
            .stores
            .iter()
            .map(|s| Arc::clone(s.changelog()))
            .collect();
        if let Some(index) = changelogs
            .iter()
            .position(|c| &*self.ctx.internal_topic(c) == topic)
        {
            if let Some(store) = self.ctx.stores.get_mut(index) {
                store.apply(key.to_vec(), value.map(<[u8]>::to_vec), timestamp_ms);
            }
            return Ok(());
        }
        let buffers: Vec<Arc<str>> = self
            .ctx
            .buffers
            .iter()
            .map(|b| Arc::clone(b.changelog()))
            .collect();
        let index = buffers
            .iter()
            .position(|c| &*self.ctx.internal_topic(c) == topic)
            .ok_or_else(|| Error::UnknownTopic {
                topic: topic.to_string(),
            })?;
        match self.ctx.buffers.get_mut(index) {
            Some(buffer) => buffer.restore(topic, key, value),
            None => Ok(()),
        }
    }

    /// Sets the task's stream time to where it was (the runtime keeps it with the committed
    /// offsets, as Kafka keeps it in their metadata) and evicts the restored windows that
    /// have expired by then. Stream time never goes back: an earlier time is ignored.
    pub(crate) fn resume_at(&mut self, stream_time_ms: i64) {
        self.ctx.stream_time_ms = self.ctx.stream_time_ms.max(stream_time_ms);
        let now = self.ctx.stream_time_ms;
        for store in &mut self.ctx.stores {
            store.evict_expired_at(now);
        }
    }

    /// Sets the bound of the task's record cache, in bytes (0: no cache).
    pub(crate) fn set_cache_max_bytes(&mut self, bytes: usize) {
        self.ctx.cache_max_bytes = bytes;
    }

    /// Emits what the record cache held back: each dirty store entry's changelog record
    /// and its update down the table (see [`Context::flush_store`]). The runtime does this
    /// before it commits; the test driver after every record.
    pub(crate) fn flush(&mut self) -> Result<()> {
        self.ctx.flush()
    }

    /// The records the sinks emitted since the last call, in order.
    pub(crate) fn take_output(&mut self) -> Vec<SinkRecord> {
        std::mem::take(&mut self.ctx.output)
    }
}
