//! # strom
//!
//! An embeddable event log with Apache Kafka's model: topics split into partitions,
//! producers that append keyed records, consumers that read them back by offset, and
//! durable segment files on local disk — inside your process, with no broker to run.
//!
//! strom **is** a library: a data directory, opened by one process at a time, that keeps
//! Kafka's semantics where they matter (the partitioner is byte-compatible with Kafka's
//! Java client, offsets are contiguous per partition, a committed offset is the next one
//! to read) at the speed of memory copies. It is **not** a server, a network protocol, a
//! replicated cluster, or a Kafka client.
//!
//! ## Quick start
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! use std::time::Duration;
//! use strom::{Broker, ConsumerConfig, OffsetReset, Record, TopicConfig, TopicPartition};
//!
//! let broker = Broker::open(dir.path())?;
//! broker.create_topic("transactions", TopicConfig::default().partitions(3))?;
//!
//! let producer = broker.producer();
//! let meta = producer.send("transactions", Record::new(r#"{"amount": 950}"#).key("user-42"))?;
//! producer.send_json("transactions", Some("user-7"), &serde_json::json!({"amount": 12}))?;
//!
//! let mut consumer = broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
//! consumer.assign(&[TopicPartition::new("transactions", meta.partition)])?;
//! let records = consumer.poll(Duration::from_millis(100))?;
//! let first = records.iter().next().expect("the record just sent");
//! let value: serde_json::Value = first.json()?;
//! assert_eq!(value["amount"], 950);
//! broker.close()?;
//! # Ok::<(), strom::Error>(())
//! ```
//!
//! ## Concepts
//!
//! - A [`Broker`] owns a data directory; [`Broker::producer`] and [`Broker::consumer`]
//!   hand out [`Producer`]s and [`Consumer`]s that share it.
//! - A topic has a fixed number of partitions (it may grow); each partition is an
//!   ordered log whose records have contiguous offsets from 0.
//! - [`Producer::send`] picks the partition as Kafka does: the record's own, else
//!   `(murmur2(key) & 0x7fffffff) % partitions`, else a sticky choice for keyless records.
//! - A [`Consumer`] reads assigned partitions from a position, the next offset to read.
//! - A [`TransactionalProducer`] writes records to several partitions and commits a
//!   group's offsets in one atomic step; consumers with
//!   [`IsolationLevel::ReadCommitted`] see whole transactions or nothing (exactly-once
//!   read-process-write, as Kafka's transactions).
//! - Other processes read a directory while its owner writes it by opening it with
//!   [`BrokerConfig::read_only`]: no lock, nothing written, every write
//!   [`Error::ReadOnly`]; their consumers follow the writer's appends.
//!
//! ## Durability
//!
//! `send` returns once the record is in the operating system's page cache through a shared
//! memory map: killing the process never loses an acknowledged record. [`SyncPolicy`]
//! decides what a machine crash may lose: `Never` (the default, Kafka's), `Interval(d)`,
//! or `Always` (each `send` waits for an fsync that concurrent senders share).
//! [`Producer::flush`] fsyncs on demand.
//!
//! ## Async
//!
//! With the cargo feature `async`, `Consumer::recv` and `Consumer::stream` read, and
//! `Producer::send_async` and `Producer::flush_async` write, as futures that need no
//! particular runtime and never block the executor's thread: a waiting task is woken by
//! appends as a blocking `poll` is, and the fsync of `SyncPolicy::Always` runs on a
//! background thread.
//!
//! ## Logging and metrics
//!
//! Recovery, segment rolls, retention, compaction, rebalances and background failures are
//! reported as [`tracing`](https://docs.rs/tracing) events, inside spans that say where the
//! time goes: `open` (the data directory), `recovery` (each partition's, after an unclean
//! stop), `poll` (a consumer's, with its group and member) and `commit_transaction`. They
//! cost nothing until the application installs a subscriber. The library never prints.
//!
//! With the cargo feature `metrics`, records and bytes appended and read, fsyncs and their
//! latency, segment rolls and deletions, compaction, consumer-group lag, rebalances and
//! transactions are reported through the [`metrics`](https://docs.rs/metrics) facade to
//! the recorder the application installs (before [`Broker::open`]); the README lists every
//! metric.
//!
//! ## Stream processing
//!
//! [`streams`] is Kafka Streams' model on strom's topics: a [`streams::StreamsBuilder`]
//! records a program of [`streams::KStream`] operators (`filter`, `map`, `flat_map`,
//! `merge`, `to`, …) over keys and values that encode themselves through
//! [`streams::Codec`], byte-compatible with Kafka's serializers; streams are grouped and
//! aggregated (`count`, `reduce`, `aggregate`, plain or in time and session windows on
//! event time) into [`streams::KTable`]s kept in named state stores; the built
//! [`streams::Topology`] is run by hand with [`streams::TopologyTestDriver`]. Windows follow
//! Kafka's rules ([`streams::TimeWindows`], [`streams::SessionWindows`],
//! [`streams::JoinWindows`]).
//!
//! ## Serving Kafka's wire protocol
//!
//! Stored batches are Kafka's own, so a server speaking Kafka's protocol (the package
//! `strom-kafka`) is built on public API alone, without decoding or re-encoding records:
//! [`Broker::append_batch`] stores a batch as a Kafka client produced it (checked whole,
//! with idempotent producers' sequence numbers checked per partition),
//! [`Broker::fetch_batches`] hands out stored batches for a Fetch response,
//! [`Broker::offset_for_timestamp`], [`Broker::init_producer_id`],
//! [`Broker::committed_offsets`] and [`Broker::commit_offsets`] answer `ListOffsets`,
//! `InitProducerId`, `OffsetFetch` and `OffsetCommit`, and (feature `async`)
//! `Broker::wait_for_data` is Fetch's long-poll. Remote clients and the application's
//! own producers and consumers share the same topics and groups.
//!
//! ## On-disk format
//!
//! `<dir>/<topic>/<partition>/<base offset:020>.log` files of record batches, each with a
//! sparse `.index` and `.timeindex`; batches are Kafka's own `RecordBatch` (magic 2),
//! specified byte by byte in [`storage::batch`].

// A lint wall with reasons is in Cargo.toml's [lints] table.

mod broker;
mod config;
mod consumer;
mod error;
mod group;
mod log;
mod metrics;
mod offsets;
mod partitioner;
mod producer;
mod record;
pub mod storage;
pub mod streams;
mod topic;
mod transaction;

#[cfg(feature = "async")]
pub use crate::broker::DataWait;
pub use crate::broker::{
    AbortedTransaction, Broker, FetchedBatches, ProducerIdentity, TimestampOffset,
};
pub use crate::config::{
    AssignmentStrategy, BrokerConfig, CleanupPolicy, ConsumerConfig, IsolationLevel, OffsetReset,
    SyncPolicy, TopicConfig,
};
pub use crate::consumer::{Consumer, RebalanceListener, Revoked};
pub use crate::error::{CorruptKind, Error, MembershipError, Result};
pub use crate::group::{
    GroupDescription, GroupMember, GroupMetadata, JoinGroup, MemberAssignment, MemberDescription,
    PartitionLag,
};
pub use crate::offsets::OffsetAndMetadata;
pub use crate::producer::{
    AppendedBatch, BatchBuilder, BatchMetadata, PartitionRange, Producer, TopicProducer,
};
pub use crate::record::{ConsumerRecord, Record, RecordMetadata, Records, TopicPartition};
pub use crate::storage::batch::Compression;
pub use crate::topic::{PartitionDescription, TopicDescription};
pub use crate::transaction::{
    AbortTransactionSpec, ProducerState, TransactionDescription, TransactionState,
    TransactionalProducer,
};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
