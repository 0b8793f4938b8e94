//! [`TopologyTestDriver`]: runs a topology by hand, one record at a time, with no broker and
//! no threads, as Kafka's `TopologyTestDriver` does.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};

use super::codec::Codec;
use super::config::DEFAULT_CACHE_MAX_BYTES;
use super::processor::{encoded, SinkRecord};
use super::store::StoreView;
use super::topology::{Task, Topology};

/// The application id of [`TopologyTestDriver::new`], which names internal topics
/// `__test-app-…`.
pub const TEST_APPLICATION_ID: &str = "test-app";

/// A record a topology wrote to one of its sink topics, as bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRecord {
    /// The encoded key; `None` for a key that is Kafka's `null` (such as `()`).
    pub key: Option<Vec<u8>>,
    /// The encoded value; `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// The record's timestamp, ms since the epoch: that of the input record it came from.
    pub timestamp_ms: i64,
}

/// Runs a [`Topology`] deterministically: each [`pipe`](Self::pipe) runs one input record
/// through the topology before it returns, and what the sinks wrote waits in per-topic
/// queues for [`read_output`](Self::read_output).
///
/// All input topics are treated as partition 0 of one task, each record getting the next
/// offset of its topic, so that errors name `topic-0@offset`. Records written to a
/// repartition topic are kept in its queue (readable with
/// [`read_output_raw`](Self::read_output_raw) under the topic's full name, e.g.
/// `__test-app-counts-repartition`) and fed straight back to the topology's source of that
/// topic, as Kafka's driver does; so are store writes, to `__test-app-<store>-changelog`.
///
/// # Examples
///
/// ```
/// use strom::streams::{StreamsBuilder, TopologyTestDriver};
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream::<String, String>("sentences")
///     .flat_map_values(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
///     .select_key(|_, word| word.len() as u64)
///     .to("words-by-length");
/// let mut driver = TopologyTestDriver::new(builder.build()?)?;
/// driver.pipe("sentences", &"s1".to_string(), &"to be or".to_string(), 7)?;
/// let out = driver.read_output::<u64, String>("words-by-length")?;
/// assert_eq!(out, [(2, "to".to_string(), 7), (2, "be".to_string(), 7), (2, "or".to_string(), 7)]);
/// assert!(driver.read_output::<u64, String>("words-by-length")?.is_empty()); // read once
/// # Ok::<(), strom::Error>(())
/// ```
pub struct TopologyTestDriver {
    topology: Topology,
    application_id: String,
    task: Task,
    next_offsets: HashMap<String, u64>,
    outputs: HashMap<Arc<str>, VecDeque<TestRecord>>,
    /// Records written to repartition topics, waiting to be read back.
    feedback: VecDeque<Feedback>,
    /// The full names of the repartition topics.
    repartition: HashSet<String>,
}

/// A record on its way back in: topic, key, value, timestamp.
type Feedback = (Arc<str>, Option<Vec<u8>>, Option<Vec<u8>>, i64);

impl TopologyTestDriver {
    /// A driver with a fresh instance of `topology`, for the application id
    /// [`TEST_APPLICATION_ID`] (`"test-app"`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTopology`] if the topology cannot be instantiated.
    pub fn new(topology: Topology) -> Result<Self> {
        Self::with_application_id(topology, TEST_APPLICATION_ID)
    }

    /// A driver with a fresh instance of `topology`, for the application `application_id`
    /// (which names the internal topics, `__<application_id>-…`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTopology`] if the topology cannot be instantiated;
    /// [`Error::InvalidTopicName`] if the application id makes illegal internal topic names.
    pub fn with_application_id(topology: Topology, application_id: &str) -> Result<Self> {
        for topic in topology.internal_topics() {
            crate::topic::validate_name(&topic.name(application_id), true)?;
        }
        let mut task = topology.task(application_id)?;
        // Cached like an application's, and flushed after every record (as Kafka's driver
        // does), so that each update comes out and the cache's flush path is what runs.
        task.set_cache_max_bytes(DEFAULT_CACHE_MAX_BYTES);
        let repartition = topology
            .internal_topics()
            .iter()
            .filter(|t| !t.is_changelog())
            .map(|t| t.name(application_id))
            .collect();
        Ok(Self {
            topology,
            application_id: application_id.to_string(),
            task,
            next_offsets: HashMap::new(),
            outputs: HashMap::new(),
            feedback: VecDeque::new(),
            repartition,
        })
    }

    /// The topology being driven.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Runs one record into `topic`, its key and value encoded with their [`Codec`]s (a key
    /// or value that [`Codec::is_absent`] goes in as none).
    ///
    /// # Errors
    ///
    /// As [`pipe_raw`](Self::pipe_raw), and [`Error::Serde`] if the key or value does not
    /// encode.
    pub fn pipe<K: Codec, V: Codec>(
        &mut self,
        topic: &str,
        key: &K,
        value: &V,
        timestamp_ms: i64,
    ) -> Result<()> {
        let key = encoded(key)?;
        let value = encoded(value)?;
        self.pipe_raw(topic, key.as_deref(), value.as_deref(), timestamp_ms)
    }

    /// Runs one record of raw bytes into `topic`, as a consumer would have read it.
    ///
    /// # Errors
    ///
    /// - [`Error::UnknownTopic`] if the topology does not read `topic`;
    /// - [`Error::InvalidRecord`] for a negative timestamp (which strom's and Kafka's
    ///   producers refuse);
    /// - [`Error::Serde`] naming `topic-0@offset` if the key or value does not decode; the
    ///   record then produces nothing, and later records are still processed.
    pub fn pipe_raw(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp_ms: i64,
    ) -> Result<()> {
        if timestamp_ms < 0 {
            return Err(Error::InvalidRecord {
                topic: topic.to_string(),
                reason: format!("negative timestamp {timestamp_ms}"),
            });
        }
        if !self.task.reads(topic) {
            return Err(Error::UnknownTopic {
                topic: topic.to_string(),
            });
        }
        let mut processed = self.process(topic, key, value, timestamp_ms);
        // Records for repartition topics go back in, in the order they were written, until
        // none is left (the topology has no cycles, so this ends).
        while let Some(record) = self.feedback.pop_front() {
            let again = self.process(
                &record.0,
                record.1.as_deref(),
                record.2.as_deref(),
                record.3,
            );
            if processed.is_ok() {
                processed = again;
            }
        }
        processed
    }

    fn process(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp_ms: i64,
    ) -> Result<()> {
        let offset = self.next_offsets.entry(topic.to_string()).or_insert(0);
        let this = *offset;
        *offset = offset.saturating_add(1);
        let processed = self.task.process(topic, 0, this, timestamp_ms, key, value);
        let flushed = self.task.flush();
        let processed = processed.and(flushed);
        for SinkRecord {
            topic,
            key,
            value,
            timestamp_ms,
            ..
        } in self.task.take_output()
        {
            // Only repartition topics: a sink writing a topic the topology also reads would
            // otherwise loop for ever.
            if self.repartition.contains(&*topic) {
                self.feedback.push_back((
                    Arc::clone(&topic),
                    key.clone(),
                    value.clone(),
                    timestamp_ms,
                ));
            }
            self.outputs
                .entry(topic)
                .or_default()
                .push_back(TestRecord {
                    key,
                    value,
                    timestamp_ms,
                });
        }
        processed
    }

    /// The application id that names the internal topics.
    pub fn application_id(&self) -> &str {
        &self.application_id
    }

    /// The task's stream time: the largest timestamp piped so far, `-1` before any.
    pub fn stream_time_ms(&self) -> i64 {
        self.task.stream_time_ms()
    }

    /// How many records the topology dropped: records for windows already closed (one
    /// per window a record falls in, as Kafka counts), records without a key reaching an
    /// aggregation or a table, and records without a value reaching an aggregation.
    /// Kafka's `dropped-records-total` task metric.
    pub fn dropped_records(&self) -> u64 {
        self.task.dropped_records()
    }

    /// A decoded copy of the state store `name`, as it is now. A windowed store's keys
    /// are [`Windowed<K>`](super::Windowed) with their real window ends.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidTopology`] if the topology has no store `name`, or if its keys and
    ///   values are not `K` and `V` (for a windowed store: `Windowed<K>` and `V`);
    /// - [`Error::Serde`] naming the store if an entry does not decode.
    pub fn store<K: Codec, V: Codec>(&self, name: &str) -> Result<StoreView<K, V>> {
        let unknown = || Error::InvalidTopology {
            reason: format!(
                "no state store named {name:?}; the topology has {:?}",
                self.topology.store_names()
            ),
        };
        let (index, spec) = self.topology.store_spec(name).ok_or_else(unknown)?;
        let store = self.task.store(index).ok_or_else(unknown)?;
        (spec.view)(store, name)?
            .downcast::<StoreView<K, V>>()
            .map(|view| *view)
            .map_err(|_| Error::InvalidTopology {
                reason: format!(
                    "state store {name:?} does not hold keys of {} and values of {}",
                    std::any::type_name::<K>(),
                    std::any::type_name::<V>()
                ),
            })
    }

    /// Takes every record written to `topic` so far and not yet read, as bytes.
    pub fn read_output_raw(&mut self, topic: &str) -> Vec<TestRecord> {
        self.outputs
            .get_mut(topic)
            .map(|queue| queue.drain(..).collect())
            .unwrap_or_default()
    }

    /// Takes every record written to `topic` so far and not yet read, decoded: `(key,
    /// value, timestamp_ms)`. A missing key or value is decoded from no bytes. A
    /// [`Windowed`](super::Windowed) key comes back with `end_ms = i64::MAX`; read it raw
    /// and use [`Windowed::decode_with_size`](super::Windowed::decode_with_size) for the end.
    ///
    /// # Errors
    ///
    /// [`Error::Serde`] naming the topic and the record's place in the output if a key or
    /// value does not decode as `K` or `V`; the records are taken even then.
    pub fn read_output<K: Codec, V: Codec>(&mut self, topic: &str) -> Result<Vec<(K, V, i64)>> {
        let locate = |what: &str, i: usize, err: Error| match err {
            Error::Serde { context, source } => Error::Serde {
                context: format!("{what} of output record {i} of {topic:?}: {context}"),
                source,
            },
            other => other,
        };
        self.read_output_raw(topic)
            .into_iter()
            .enumerate()
            .map(|(i, record)| {
                let key = K::decode(record.key.as_deref().unwrap_or_default())
                    .map_err(|e| locate("key", i, e))?;
                let value = V::decode(record.value.as_deref().unwrap_or_default())
                    .map_err(|e| locate("value", i, e))?;
                Ok((key, value, record.timestamp_ms))
            })
            .collect()
    }
}

impl fmt::Debug for TopologyTestDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopologyTestDriver")
            .field("source_topics", &self.topology.source_topics())
            .field("next_offsets", &self.next_offsets)
            .finish_non_exhaustive()
    }
}
