//! Copies topics out of a strom broker into a cluster speaking Kafka's protocol.
//!
//! Each partition's stored batches go to the same partition number on the target as they
//! are (keys, values, headers, timestamps and compression untouched), re-stamped with the
//! mirror's idempotent producer id and sequence so that a retried Produce is not stored
//! twice. Progress is a strom consumer group's committed offsets, committed after the
//! cluster acknowledged, so `strom groups describe` shows the mirror's lag.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use strom::storage::batch;
use strom::{Broker, IsolationLevel, TopicPartition};

use crate::client::{Client, ClientError, ProducerIdentity};
use crate::cluster::Cluster;

/// The bytes of stored batches read from a partition at a time: the mirror's memory bound.
const FETCH_BYTES: usize = 1 << 20;

/// How long the mirror waits for an unavailable cluster before it gives up, unless told.
const DEFAULT_PATIENCE: Duration = Duration::from_secs(60);

/// Copies topics from a strom [`Broker`] to a cluster speaking Kafka's protocol: each
/// partition's stored batches to the same partition number there, as stored (keys, values,
/// headers, timestamps, compression), under an idempotent producer; progress kept as a
/// consumer group's committed offsets, committed after the cluster acknowledged.
///
/// ```no_run
/// use strom::Broker;
/// use strom_kafka::Mirror;
///
/// let broker = Broker::open("data")?;
/// let copied = Mirror::new(broker.clone(), "kafka.example.com:9092")
///     .topics(["orders", "payments"])
///     .once(true)
///     .run()?;
/// println!("{} records copied", copied.records);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Mirror {
    broker: Broker,
    target: String,
    topics: Vec<String>,
    group: String,
    once: bool,
    patience: Duration,
}

/// What a [`Mirror::run`] copied.
///
/// ```no_run
/// # let broker = strom::Broker::open("data")?;
/// let copied = strom_kafka::Mirror::new(broker, "127.0.0.1:9092")
///     .topics(["orders"])
///     .once(true)
///     .run()?;
/// println!("{} batches, {} records, {} bytes", copied.batches, copied.records, copied.bytes);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MirrorProgress {
    /// Batches produced to the cluster and acknowledged.
    pub batches: u64,
    /// Records in those batches.
    pub records: u64,
    /// Bytes of those batches, as stored.
    pub bytes: u64,
}

/// Why a [`Mirror::run`] stopped.
///
/// ```no_run
/// use strom_kafka::{Mirror, MirrorError};
///
/// # let broker = strom::Broker::open("data")?;
/// match Mirror::new(broker, "127.0.0.1:9092").topics(["orders"]).once(true).run() {
///     Ok(copied) => println!("{} records copied", copied.records),
///     Err(MirrorError::FewerPartitions { topic, local, target }) => {
///         eprintln!("{topic}: {local} partitions here, {target} on the cluster");
///     }
///     Err(other) => eprintln!("{other}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum MirrorError {
    /// Reading the local topics or committing the mirror's progress failed.
    Local(strom::Error),
    /// The cluster stayed unavailable for longer than the mirror's patience.
    Unavailable(String),
    /// The cluster refused a request (authorization, topic policy, a batch) or answered
    /// something unreadable.
    Refused(String),
    /// The target topic has fewer partitions than the local one: copying would re-partition
    /// its keys, so the mirror does not start.
    FewerPartitions {
        /// The topic.
        topic: String,
        /// Its partitions here.
        local: usize,
        /// Its partitions on the cluster.
        target: usize,
    },
    /// A batch read from a partition could not be read again to be sent on.
    Damaged {
        /// The partition.
        partition: TopicPartition,
        /// Where the batch starts.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A partition holds transactional batches, which this version does not copy.
    Transactional {
        /// The partition.
        partition: TopicPartition,
        /// The first transactional batch's offset.
        offset: u64,
    },
}

impl fmt::Display for MirrorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(e) => write!(f, "mirror: {e}"),
            Self::Unavailable(reason) => write!(f, "mirror: cluster unavailable: {reason}"),
            Self::Refused(reason) => write!(f, "mirror: cluster refused: {reason}"),
            Self::FewerPartitions {
                topic,
                local,
                target,
            } => write!(
                f,
                "mirror: topic {topic} has {target} partitions on the cluster and {local} here; \
                 copying would move keys to other partitions"
            ),
            Self::Damaged {
                partition,
                offset,
                reason,
            } => write!(
                f,
                "mirror: {}/{} offset {offset}: a stored batch is unreadable: {reason}",
                partition.topic, partition.partition
            ),
            Self::Transactional { partition, offset } => write!(
                f,
                "mirror: {}/{} holds a transactional batch at offset {offset}, which the \
                 mirror does not copy yet",
                partition.topic, partition.partition
            ),
        }
    }
}

impl std::error::Error for MirrorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Local(e) => Some(e),
            _ => None,
        }
    }
}

impl From<strom::Error> for MirrorError {
    fn from(e: strom::Error) -> Self {
        Self::Local(e)
    }
}

impl From<ClientError> for MirrorError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Unavailable(reason) => Self::Unavailable(reason),
            ClientError::Refused(reason) => Self::Refused(reason),
        }
    }
}

impl Mirror {
    /// A mirror of `broker`'s topics to the cluster at `target` (`HOST:PORT`), with no
    /// topics yet, group `strom-mirror`, running until stopped.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let broker = strom::Broker::open(dir.path())?;
    /// let mirror = strom_kafka::Mirror::new(broker, "127.0.0.1:9092").topics(["orders"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(broker: Broker, target: impl Into<String>) -> Self {
        Self {
            broker,
            target: target.into(),
            topics: Vec::new(),
            group: "strom-mirror".to_string(),
            once: false,
            patience: DEFAULT_PATIENCE,
        }
    }

    /// The topics to copy.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let broker = strom::Broker::open(dir.path())?;
    /// let mirror = strom_kafka::Mirror::new(broker, "127.0.0.1:9092").topics(["a", "b"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn topics<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.topics = topics.into_iter().map(Into::into).collect();
        self
    }

    /// The consumer group that keeps the mirror's progress (default `strom-mirror`).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let broker = strom::Broker::open(dir.path())?;
    /// let mirror = strom_kafka::Mirror::new(broker, "127.0.0.1:9092").group("to-prod");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// Whether to copy up to each partition's end as of the start and return, instead of
    /// following the topics until stopped.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let broker = strom::Broker::open(dir.path())?;
    /// let mirror = strom_kafka::Mirror::new(broker, "127.0.0.1:9092").once(true);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn once(mut self, once: bool) -> Self {
        self.once = once;
        self
    }

    /// How long an unavailable cluster is waited for, trying again with a growing pause,
    /// before [`MirrorError::Unavailable`] (default one minute).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let broker = strom::Broker::open(dir.path())?;
    /// use std::time::Duration;
    /// let mirror = strom_kafka::Mirror::new(broker, "127.0.0.1:9092")
    ///     .patience(Duration::from_secs(600));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn patience(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    /// Copies the topics: with [`once`](Self::once), up to each partition's end as of the
    /// start, then returns what it copied. Without it, this version copies what there is
    /// and returns likewise; following the topics comes with the `strom mirror` command.
    ///
    /// # Errors
    ///
    /// [`MirrorError::Local`] for a local topic that does not exist or a failed read or
    /// commit; [`MirrorError::FewerPartitions`]; [`MirrorError::Unavailable`] when the
    /// cluster stays unreachable past the patience; [`MirrorError::Refused`];
    /// [`MirrorError::Transactional`].
    ///
    /// ```no_run
    /// # let broker = strom::Broker::open("data")?;
    /// let copied = strom_kafka::Mirror::new(broker, "127.0.0.1:9092")
    ///     .topics(["orders"])
    ///     .once(true)
    ///     .run()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run(&self) -> Result<MirrorProgress, MirrorError> {
        // Local checks first: a misspelt topic is reported before any network is touched.
        let mut partitions = Vec::new();
        for topic in &self.topics {
            let described = self.broker.describe_topic(topic)?;
            partitions.push((topic.clone(), described.partitions));
        }
        let mut cluster = Cluster::connect(&self.target, self.patience)?;
        for (topic, local) in &partitions {
            let target = match cluster.partitions(topic)? {
                Some(count) => count,
                None => {
                    cluster.call_any(|c| c.create_topic(topic, local.len()))?;
                    cluster.partitions(topic)?.unwrap_or(0)
                }
            };
            if target < local.len() {
                return Err(MirrorError::FewerPartitions {
                    topic: topic.clone(),
                    local: local.len(),
                    target,
                });
            }
        }
        let producer = cluster.call_any(Client::init_producer_id)?;
        let committed = self.broker.committed_offsets(&self.group)?;
        let mut progress = MirrorProgress::default();
        for (topic, local) in &partitions {
            for described in local {
                let tp = TopicPartition::new(topic.clone(), described.partition);
                let from = committed
                    .iter()
                    .find(|(t, _)| *t == tp)
                    .map_or(described.log_start_offset, |&(_, offset)| offset)
                    .max(described.log_start_offset);
                let until = described.last_stable_offset;
                self.copy_partition(&mut cluster, producer, &tp, from, until, &mut progress)?;
            }
        }
        Ok(progress)
    }

    /// Copies `tp` from `from` up to `until`, committing after each acknowledged chunk.
    fn copy_partition(
        &self,
        cluster: &mut Cluster,
        producer: ProducerIdentity,
        tp: &TopicPartition,
        from: u64,
        until: u64,
        progress: &mut MirrorProgress,
    ) -> Result<(), MirrorError> {
        let mut offset = from;
        // A fresh producer id's sequences start at 0 in every partition.
        let mut sequence: i32 = 0;
        while offset < until {
            let fetched = self.broker.fetch_batches(
                tp,
                offset,
                FETCH_BYTES,
                IsolationLevel::ReadCommitted,
            )?;
            if fetched.bytes.is_empty() {
                break;
            }
            let mut rest = fetched.bytes.as_slice();
            while !rest.is_empty() && offset < until {
                let header = batch::read_header(rest).map_err(|e| MirrorError::Damaged {
                    partition: tp.clone(),
                    offset,
                    reason: e.to_string(),
                })?;
                let (stored, after) = rest.split_at((header.length as usize).min(rest.len()));
                rest = after;
                offset = header.next_offset();
                if header.is_control() {
                    // Transaction markers are the source's bookkeeping, not records.
                    continue;
                }
                if header.is_transactional() {
                    return Err(MirrorError::Transactional {
                        partition: tp.clone(),
                        offset: header.base_offset,
                    });
                }
                let mut restamped = stored.to_vec();
                batch::set_producer(&mut restamped, producer.id, producer.epoch, sequence)
                    .map_err(|e| {
                        MirrorError::Refused(format!(
                            "{}/{} offset {}: {e}",
                            tp.topic, tp.partition, header.base_offset
                        ))
                    })?;
                let restamped = Bytes::from(restamped);
                cluster.call_leader(&tp.topic, tp.partition, |c| {
                    c.produce(&tp.topic, tp.partition, restamped.clone())
                })?;
                // Kafka wraps a producer's sequence at i32::MAX back to 0.
                let covered = i32::try_from(header.last_offset_delta).unwrap_or(i32::MAX);
                sequence = sequence.wrapping_add(covered).wrapping_add(1) & i32::MAX;
                progress.batches += 1;
                progress.records += u64::from(header.record_count);
                progress.bytes += stored.len() as u64;
            }
            self.broker
                .commit_offsets(&self.group, &[(tp.clone(), offset)])?;
        }
        Ok(())
    }
}
