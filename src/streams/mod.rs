//! Stream processing in process: Kafka Streams' model on strom's topics.
//!
//! A program is recorded with a [`StreamsBuilder`]: [`KStream`]s read from topics, are
//! transformed record by record (`filter`, `map`, `flat_map`, `merge`, …) and written to
//! topics with `to`. Grouped ([`KStream::group_by_key`], [`KStream::group_by`]) they are
//! aggregated (`count`, `reduce`, `aggregate`; in [`TimeWindows`] or [`SessionWindows`]
//! with `windowed_by`) into [`KTable`]s, kept per key in named state stores; a table is also
//! read from a topic with [`StreamsBuilder::table`]. Streams and tables are joined by key
//! ([`KStream::join`] in [`JoinWindows`], [`KStream::join_table`], [`KTable::join`], and
//! their left joins). Keys and values carry their encoding through the [`Codec`] trait
//! (`String`, `Vec<u8>`, `u64`, `i64`, `()`, [`Json<T>`], [`Windowed<K>`]), byte-compatible
//! with Kafka's serializers, so no serde object is passed around. [`StreamsBuilder::build`]
//! freezes the program into a [`Topology`], which [`TopologyTestDriver`] runs by hand.
//! Windows ([`TimeWindows`], [`SessionWindows`], [`JoinWindows`]) are on event time.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use strom::streams::{Json, StreamsBuilder, TopologyTestDriver};
//!
//! #[derive(Clone, Serialize, Deserialize)]
//! struct Tx { kind: String, amount: f64 }
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream::<String, Json<Tx>>("transactions")
//!     .filter(|_user, tx| tx.kind == "withdrawal" && tx.amount > 1_000.0) // Json<T> derefs to T
//!     .map_values(|tx| format!("large withdrawal of {}", tx.amount))
//!     .to("alerts");
//! let mut driver = TopologyTestDriver::new(builder.build()?)?;
//! let tx = |kind: &str, amount| Json(Tx { kind: kind.into(), amount });
//! driver.pipe("transactions", &"u1".to_string(), &tx("withdrawal", 5_000.0), 1)?;
//! driver.pipe("transactions", &"u2".to_string(), &tx("deposit", 9_000.0), 2)?;
//! let alerts = driver.read_output::<String, String>("alerts")?;
//! assert_eq!(alerts, [("u1".to_string(), "large withdrawal of 5000".to_string(), 1)]);
//! # Ok::<(), strom::Error>(())
//! ```
//!
//! Aggregations keep state per key, here the fraud rule of more than three withdrawals per
//! user in five-minute windows (records up to 30 s late still count):
//!
//! ```
//! use std::time::Duration;
//! use serde::{Deserialize, Serialize};
//! use strom::streams::{Json, StreamsBuilder, TimeWindows, TopologyTestDriver, Windowed};
//!
//! #[derive(Clone, Serialize, Deserialize)] struct Tx { kind: String, amount: f64 }
//! #[derive(Clone, Serialize, Deserialize)] struct Alert { user: String, withdrawals: u64 }
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream::<String, Json<Tx>>("transactions")
//!     .filter(|_user, tx| tx.kind == "withdrawal")
//!     .group_by_key()
//!     .windowed_by(TimeWindows::of(Duration::from_secs(300)).grace(Duration::from_secs(30)))
//!     .count("withdrawals-5min") // KTable<Windowed<String>, u64>
//!     .to_stream()
//!     .filter(|_w, n| *n > 3)
//!     .map(|w, n| (w.key.clone(), Json(Alert { user: w.key.clone(), withdrawals: *n })))
//!     .to("fraud_alerts");
//! let mut driver = TopologyTestDriver::new(builder.build()?)?;
//! let withdrawal = Json(Tx { kind: "withdrawal".into(), amount: 500.0 });
//! for seconds in [10, 50, 90, 130] {
//!     driver.pipe("transactions", &"ann".to_string(), &withdrawal, seconds * 1_000)?;
//! }
//! let alerts = driver.read_output::<String, Json<Alert>>("fraud_alerts")?;
//! assert_eq!(alerts.len(), 1);
//! assert_eq!((alerts[0].1.user.as_str(), alerts[0].1.withdrawals), ("ann", 4));
//! let counts = driver.store::<Windowed<String>, u64>("withdrawals-5min")?;
//! let window = Windowed { key: "ann".to_string(), start_ms: 0, end_ms: 300_000 };
//! assert_eq!(counts.get(&window), Some(4));
//! # Ok::<(), strom::Error>(())
//! ```
//!
//! # How a record flows
//!
//! A topology is instantiated once per task (one per input partition). In a task each
//! source topic has a chain of processors, a tree built from the graph: the source decodes
//! the record's key and value once with their codecs, then the typed pair is moved from
//! operator to operator, each a `Box<dyn Processor<K, V>>` around the user's monomorphised
//! closure; a branching stream clones it for all but its last branch. A sink (`to`) encodes
//! the pair and adds `(topic, key bytes, value bytes, timestamp)` to the task's output,
//! which the caller (the test driver; the runtime, later) takes after each record.
//!
//! The builder records a graph of nodes behind an `Arc<Mutex<_>>` shared by the cheap
//! `KStream` handles. Each node keeps a factory that knows its input and output types and
//! captures the user's closure in an `Arc`; to instantiate a task the graph is walked from
//! each source down, children first, and each factory takes its children's processors
//! (type-erased as `Box<dyn Any>` only during this walk) back to their types. No `Any` is
//! looked at per record. A node reachable by two paths (below a `merge`) is instantiated
//! once per path, so its state must live in the task's context, not in the processor.
//!
//! # State, stream time and internal topics
//!
//! A task's `Context` holds its **stream time** (the largest timestamp it has seen, `-1`
//! before any; it never goes back with out-of-order records), its **state stores** and
//! the buffers of `suppress_until_window_closes`, all shared by the copies of an operator
//! below a `merge`. Window rules are decided against the task's stream time, except that a
//! windowed aggregation closes its windows by the largest timestamp of the records that
//! reached it (as each of Kafka's does), and each side of a stream-stream join keeps its
//! records by its own latest timestamp.
//!
//! A store maps encoded keys to encoded values (windowed stores key by key, window start
//! and end; see `store.rs`), so that restoring it is applying its changelog's records in
//! order without knowing its types. Every write is also a record for the store's
//! changelog, `__<application_id>-<store>-changelog`, added to the task's output like a
//! sink's (an aggregation's, when the record cache flushes it); a delete is a tombstone. Closed windows are evicted from the store without a
//! changelog record (as Kafka's window stores drop old segments; windowed changelogs are
//! `compact,delete` with a retention, see [`InternalTopic`]). A typed [`StoreView`] is
//! made from a store by a function the aggregation registered with the store's types.
//! A suppression buffer has a compacted changelog too,
//! `__<application_id>-KTABLE-SUPPRESS-STATE-STORE-<n>-changelog`: each update it holds
//! back is written there (keyed by its window key, valued by its timestamp and value), and
//! a tombstone once the window's result is forwarded, so that a restarted task forwards
//! what the stopped one held, once.
//!
//! A grouping whose key may have changed (`map`, `flat_map`, `select_key` upstream, or any
//! `group_by`) writes its records to `__<application_id>-<store>-repartition` through a
//! sink and reads them back through a new source: the graph splits into sub-topologies.
//! The topology keeps internal topic names relative (`<store>-changelog`) and lists them
//! with [`Topology::internal_topics`]; a task is instantiated for an application id,
//! which prefixes them. The test driver feeds records written to a repartition topic
//! straight back to its source.
//!
//! A table's chain carries `(key, Option<value>)`: `None` is a delete (Kafka's `null`),
//! which [`KTable::filter`] also makes of the updates it refuses; [`KTable::to_stream`]
//! forwards the updates only. Records without a key are dropped by aggregations and
//! tables and counted, as are records without a value reaching an aggregation (the
//! context tracks whether the value is still the source's missing one: `map_values` and
//! the like make a new one) and records for closed windows
//! ([`TopologyTestDriver::dropped_records`]).
//!
//! # Where the rest plugs in
//!
//! What remains of issue 16, and how it attaches.
//!
//! - **Joins** are in place (`join.rs`): [`KStream::join`] and [`KStream::left_join`]
//!   (windowed), [`KStream::join_table`] and [`KStream::left_join_table`],
//!   [`KTable::join`] and [`KTable::left_join`]. A join is a node below each input and a
//!   merge of the two; each side writes what it saw to the task's stores (stream-stream:
//!   windowed stores of each side's records, and for left joins a store of the left
//!   records still unmatched, emitted with `None` once their window closes; table-table:
//!   each side's values) and looks the other side's store up. A stream-table join reads
//!   the table's store (a table read from a topic has one; a derived table gets one
//!   from the join). A stream whose key may have changed goes through
//!   `__<application_id>-<join>-this-repartition` (or `-other-`) first. Each join records
//!   its inputs, and [`Topology::co_partition_groups`] gives the runtime the topics that
//!   must have equal partition counts: before it starts it calls
//!   `Topology::check_co_partitioned` with the existing topics' counts (else
//!   [`Error::InvalidTopology`](crate::Error::InvalidTopology)) and creates the group's
//!   repartition topics with that count. The join stores restore through `Task::restore`
//!   like any other; a left join's pending records are not evicted by `Task::resume_at`,
//!   so a restored task still emits them.
//! - **The runtime** ([`Streams`], [`StreamsConfig`], in `runtime.rs`, `thread.rs` and
//!   `config.rs`) is in place; what it does is below, in "The runtime" (its speed: the
//!   README and `benches/streams.rs`). Tasks are per partition number, not per sub-topology as Kafka's `0_1`
//!   are: a task runs every sub-topology for its number, which the co-partitioned
//!   assignment keeps on one member (a member holding several numbers cannot spread one
//!   number's sub-topologies over its threads).
//!
//! # The runtime
//!
//! [`Streams::new`] checks the topology against the broker and creates the internal topics
//! (`Broker::create_internal_topic`): only the topics a join reads together must be
//! co-partitioned (Kafka's rule, `Topology::check_co_partitioned`, else
//! [`Error::InvalidTopology`](crate::Error::InvalidTopology) naming the topics and
//! counts); a repartition topic a join reads gets its group's partition count, other
//! repartition topics and changelogs as many partitions as the largest source;
//! changelogs are compacted (windowed ones `compact,delete` with the topology's
//! retention). [`Streams::start`] spawns
//! `num_threads` threads; each is a member of the consumer group named by the application
//! id, subscribed to the source and repartition topics with a rebalance listener:
//!
//! - **Tasks.** A thread runs a task per partition number it holds: the partitions of that
//!   number of every input meet in one task. The threads' consumers use
//!   [`AssignmentStrategy::CoPartitioned`](crate::AssignmentStrategy::CoPartitioned),
//!   which gives all of them to one member even when the inputs' partition counts differ
//!   (the range assignor would split partition number `i` of a 2- and a 3-partition topic
//!   between two members: two tasks `i`, two writers of changelog partition `i`, two
//!   producers fencing each other). When assigned, a task is made by `Topology::task(application_id)` and its
//!   stores restored: each changelog's partition `i` is read to its end with a plain
//!   assigned consumer (`ReadCommitted` under `ExactlyOnce`, so that aborted writes are
//!   not restored) into `Task::restore`. On revoke, the task is dropped.
//! - **Stream time** is in no changelog and strom's committed offsets carry no metadata,
//!   so it is recovered as the largest timestamp of the restored changelog records (each
//!   store write is dated by its records) and given to `Task::resume_at`. A task without
//!   stores restarts its stream time from its next record.
//! - **Rewind.** A consumer keeps its position in a partition it is given back by a
//!   rebalance, but the task that read up to there is gone; a newly assigned partition is
//!   sought back to its committed offset (what was polled before is discarded).
//! - **Output.** Each polled record goes to its task's `process`; what it emitted (sink,
//!   repartition and changelog records) is sent at once: a changelog record to the task's
//!   partition, anything else partitioned by its encoded key as `Producer::send` does.
//!   `AtLeastOnce` sends with a `Producer`; every commit interval it flushes, then commits
//!   the offsets processed; on revoke the listener does the same. `ExactlyOnce` gives each
//!   task a `TransactionalProducer` with the transactional id
//!   `<application_id>-task-<partition>` (a restarted instance's producer fences the old
//!   one; no other member runs task `i` meanwhile, see "Tasks"); the
//!   first output opens a transaction, and every commit interval the task's
//!   offsets go into it with the consumer's group metadata and it commits. A revoked
//!   task's open transaction is aborted (dropped): its new owner redoes the work since the
//!   last commit. A commit refused because the group moved on aborts; the task is dropped
//!   and its partitions rewound to the committed offsets, and its next record rebuilds it
//!   from the changelogs.
//! - **Record cache.** An aggregation's update (key-value or time-windowed) changes the
//!   store at once but only marks the entry dirty; the task's `flush` emits each dirty
//!   entry once, its update down the table then its changelog record, in the order of the
//!   entries' latest changes and with the timestamp and stream time each had then (so a
//!   suppression downstream closes windows as it would have, after their final values).
//!   The thread flushes every task before it commits (inside the transaction under
//!   `ExactlyOnce`, before the offsets under `AtLeastOnce`, and before a revoked task's
//!   offsets are committed), and a task flushes a store early once its dirty entries pass
//!   its share of `cache_max_bytes`; a dirty window that expires first is kept aside for
//!   the flush. The test driver flushes after every record.
//! - **Errors.** An undecodable record (`Error::Serde` naming `topic-partition@offset`)
//!   stops its partition there: nothing after it is processed, its committed offset stays
//!   at it, and the error is kept for [`Streams::wait_until_caught_up`] or
//!   [`Streams::close`]; with `skip_undecodable` it is skipped and counted. Any other error
//!   of a thread (a closed broker, a deleted input topic, which each thread checks every
//!   commit interval, a failed commit) stops every thread and is kept the same way.
//! - **Caught up** means the group's committed offsets reached the ends (high watermark;
//!   last stable offset under `ExactlyOnce`) of the source partitions as they were at the
//!   call, then of the repartition topics as they are once the sources are, while every
//!   local thread acts on the group's current assignment with its tasks restored.
//!   [`Streams::store`] merges the views of the local tasks as they are: during a
//!   rebalance it may miss the keys of tasks being moved.

mod builder;
mod codec;
mod config;
mod grouped;
mod join;
mod processor;
mod runtime;
mod store;
mod table;
mod test_driver;
mod thread;
mod topology;
mod window;

pub use self::builder::{KStream, StreamsBuilder};
pub use self::codec::{codec_error, Codec, Json, Windowed};
pub use self::config::{ProcessingGuarantee, StreamsConfig, DEFAULT_CACHE_MAX_BYTES};
pub use self::grouped::{KGroupedStream, SessionWindowedKStream, TimeWindowedKStream, Windowing};
pub use self::runtime::Streams;
pub use self::store::StoreView;
pub use self::table::KTable;
pub use self::test_driver::{TestRecord, TopologyTestDriver, TEST_APPLICATION_ID};
pub use self::topology::{InternalTopic, Topology};
pub use self::window::{JoinWindows, SessionWindows, TimeWindows, Window};

#[cfg(test)]
mod join_tests;
#[cfg(test)]
mod stateful_tests;
#[cfg(test)]
mod tests;
