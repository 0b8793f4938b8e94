//! Stream processing in process: Kafka Streams' model on strom's topics.
//!
//! A program is recorded with a [`StreamsBuilder`]: [`KStream`]s read from topics, are
//! transformed record by record (`filter`, `map`, `flat_map`, `merge`, …) and written to
//! topics with `to`. Grouped ([`KStream::group_by_key`], [`KStream::group_by`]) they are
//! aggregated (`count`, `reduce`, `aggregate`; in [`TimeWindows`] or [`SessionWindows`]
//! with `windowed_by`) into [`KTable`]s, kept per key in named state stores; a table is also
//! read from a topic with [`StreamsBuilder::table`]. Keys and values carry their encoding through the [`Codec`] trait
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
//! below a `merge`. Window rules are decided against the task's stream time.
//!
//! A store maps encoded keys to encoded values (windowed stores key by key, window start
//! and end; see `store.rs`), so that restoring it is applying its changelog's records in
//! order without knowing its types. Every write is also a record for the store's
//! changelog, `__<application_id>-<store>-changelog`, added to the task's output like a
//! sink's; a delete is a tombstone. Closed windows are evicted from the store without a
//! changelog record (as Kafka's window stores drop old segments; windowed changelogs are
//! `compact,delete` with a retention, see [`InternalTopic`]). A typed [`StoreView`] is
//! made from a store by a function the aggregation registered with the store's types.
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
//! - **Joins** are more node kinds: stream-stream joins keep both sides' records in
//!   windowed stores (the same `Store`, keyed by key and timestamp) and expire them with
//!   [`JoinWindows`]; stream-table joins look the table's store up by key (the table node
//!   must then be materialized in a store, which `StreamsBuilder::table` already is).
//!   Both need co-partitioned inputs: a changed key is repartitioned as for groupings.
//! - **Changelog restore**: before a task runs, the runtime reads each store's changelog
//!   partition from the start and hands every record to `Task::restore` (which applies it
//!   to the store without emitting anything), then calls `Task::resume_at` with the task's
//!   stream time, which evicts the windows expired by then. Stream time itself is in no
//!   changelog: Kafka keeps it in the committed offsets' metadata, and so should the
//!   runtime. The suppression buffer has no changelog yet (Kafka gives it one): a restart
//!   loses the results it held back.
//! - **The runtime** (`Streams`, `StreamsConfig`) subscribes one consumer per thread with
//!   the application id as group id to the source and repartition topics, and a rebalance
//!   listener that creates (`Topology::task(application_id)`), restores and closes tasks
//!   for the assigned partitions; it creates the internal topics first (as many partitions
//!   as the inputs). Each polled record goes to its task's `process`; the task's output
//!   (sinks, repartition records, changelog records) is sent by a producer partitioning
//!   by key (`AtLeastOnce`, offsets committed after) or by a `TransactionalProducer` that
//!   also commits the offsets (`ExactlyOnce`). `Streams::store` shares
//!   `TopologyTestDriver::store`'s `StoreView`, merging the views of the local tasks, and
//!   `dropped_records` becomes a metric.

mod builder;
mod codec;
mod config;
mod grouped;
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
pub use self::config::{ProcessingGuarantee, StreamsConfig};
pub use self::grouped::{KGroupedStream, SessionWindowedKStream, TimeWindowedKStream, Windowing};
pub use self::runtime::Streams;
pub use self::store::StoreView;
pub use self::table::KTable;
pub use self::test_driver::{TestRecord, TopologyTestDriver, TEST_APPLICATION_ID};
pub use self::topology::{InternalTopic, Topology};
pub use self::window::{JoinWindows, SessionWindows, TimeWindows, Window};

#[cfg(test)]
mod stateful_tests;
#[cfg(test)]
mod tests;
