//! Stream processing in process: Kafka Streams' model on strom's topics.
//!
//! A program is recorded with a [`StreamsBuilder`]: [`KStream`]s read from topics, are
//! transformed record by record (`filter`, `map`, `flat_map`, `merge`, …) and written to
//! topics with `to`. Keys and values carry their encoding through the [`Codec`] trait
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
//! # Where the rest plugs in
//!
//! This module is the foundation of issue 16; what follows is how the remainder attaches.
//!
//! - **Grouping and repartitioning.** Every node knows whether the key may have changed
//!   since its source (`map`, `flat_map` and `select_key` set it; `merge` inherits it from
//!   either side). `group_by_key` on such a node, and `group_by` always, add a sink to
//!   `__<application_id>-<name>-repartition` and a new source reading it, splitting the
//!   graph into sub-topologies; otherwise the `KGroupedStream` stays in the same task.
//! - **Aggregations, tables and joins** are more node kinds whose factories build
//!   processors that read and write named state stores through the task's `Context`
//!   (`count`, `reduce`, `aggregate`, `windowed_by`, `KTable`, `join`…). A store is an
//!   in-memory map per task whose writes are also emitted as records of the compacted
//!   changelog `__<application_id>-<store>-changelog` (through the same output path as
//!   sinks), restored from it before the task starts. Windowed stores decode their keys
//!   with [`Windowed::decode_with_size`], knowing their window size.
//! - **Stream time** (the largest timestamp a task has seen) lives in the `Context`, as
//!   the close rules in [`TimeWindows`], [`SessionWindows`] and [`JoinWindows`] expect.
//! - **The runtime** (`Streams`, `StreamsConfig`) subscribes one consumer per thread with
//!   the application id as group id and a rebalance listener that creates and closes tasks
//!   for the assigned partitions; each polled record goes to its task's `process`, the
//!   task's output is sent by a producer (`AtLeastOnce`, offsets committed after) or by a
//!   `TransactionalProducer` that also commits the offsets (`ExactlyOnce`).

mod builder;
mod codec;
mod processor;
mod test_driver;
mod topology;
mod window;

pub use self::builder::{KStream, StreamsBuilder};
pub use self::codec::{codec_error, Codec, Json, Windowed};
pub use self::test_driver::{TestRecord, TopologyTestDriver};
pub use self::topology::Topology;
pub use self::window::{JoinWindows, SessionWindows, TimeWindows, Window};

#[cfg(test)]
mod tests;
