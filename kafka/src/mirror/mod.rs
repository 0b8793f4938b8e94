//! Copies topics out of a strom broker into a cluster speaking Kafka's protocol.
//!
//! Each partition's committed batches go to the same partition number on the target
//! (keys, values, headers, timestamps and compression untouched; small ones joined),
//! re-stamped with the mirror's idempotent producer id and sequence so that a retried
//! Produce is not stored twice. Progress is a strom consumer group's committed offsets,
//! committed after the cluster acknowledged, each with the target partition's end then, so
//! that a restart after a crash neither loses nor repeats records (see `progress`), and
//! `strom groups describe` shows the mirror's lag.
//!
//! - `lane`: one partition's reading, filtering (transactions) and queue of batches.
//! - `rebatch`: batches built anew (joined small ones, Kafka's format).
//! - `session`: one producer id's copying, requests pipelined to each leader.
//! - `progress`: the commits and their metadata.

mod lane;
mod progress;
pub(crate) mod rebatch;
mod session;

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use strom::{Broker, TopicPartition};

use crate::client::ClientError;
use crate::cluster::Cluster;
use session::{Interrupt, Session};

/// How long the mirror waits for an unavailable cluster before it gives up, unless told.
const DEFAULT_PATIENCE: Duration = Duration::from_secs(60);

/// The topic configs a missing target topic is created with, where the local topic's
/// differ from the defaults: what the data means (how long it is kept, whether it is
/// compacted, how large a record may be). Not the segment sizes, a storage detail each
/// broker sizes for itself, nor `compression.type`: Kafka's `none` would make the cluster
/// decompress the batches the mirror sends compressed as stored, where strom's `none` only
/// says its producers do not compress.
const CARRIED_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "max.message.bytes",
    "delete.retention.ms",
];

/// The configs of `config` a missing target topic is created with (see [`CARRIED_CONFIGS`]).
fn carried(config: &strom::TopicConfig) -> Vec<(&'static str, String)> {
    let defaults = strom::TopicConfig::default().kafka_configs();
    config
        .kafka_configs()
        .into_iter()
        .filter(|(name, value)| {
            CARRIED_CONFIGS.contains(name) && !defaults.contains(&(*name, value.clone()))
        })
        .collect()
}

/// Sessions in a row that end in a resync with nothing acknowledged before the mirror stops
/// going on as the committed producers and takes a new producer id: by then the target's
/// view of those producers is not the commits' (a killed run's late requests land within
/// a few).
const MAX_RESYNCS: u32 = 5;

/// Copies topics from a strom [`Broker`] to a cluster speaking Kafka's protocol: each
/// partition's committed records to the same partition number there (keys, values,
/// headers, timestamps, compression), under an idempotent producer; progress kept as a
/// consumer group's committed offsets, committed after the cluster acknowledged, each with
/// the target partition's end then. It follows the topics until stopped
/// ([`run_until`](Self::run_until)) or copies up to their end ([`once`](Self::once)).
///
/// The mirror must be the only writer of the target partitions: that is what lets a
/// restart after a crash tell exactly which records the previous run stored after its last
/// commit, so that none is lost or stored twice.
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

/// What a [`Mirror::run`] or [`Mirror::run_until`] copied (records passed over at a
/// resume, because the previous run stored them, are not counted).
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
    /// Batches produced to the cluster and acknowledged (a [`Mirror`]), or appended here
    /// (an [`Import`](crate::Import)).
    pub batches: u64,
    /// Records in those batches.
    pub records: u64,
    /// Bytes of those batches, as stored.
    pub bytes: u64,
}

/// Why a [`Mirror::run`] or [`Mirror::run_until`] stopped.
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
    /// Reading, creating or appending to the local topics, or committing the mirror's
    /// progress, failed.
    Local(strom::Error),
    /// The cluster stayed unavailable for longer than the mirror's patience.
    Unavailable(String),
    /// The cluster refused a request (authorization, topic policy, a record too large:
    /// named as Kafka names the error, with the topic and partition) or answered something
    /// unreadable; or a target partition holds records this mirror did not write, or fewer
    /// than it acknowledged (both numbers named).
    Refused(String),
    /// The topic has fewer partitions on the receiving side than on the sending one:
    /// copying would re-partition its keys, so the mirror (or import) does not start.
    FewerPartitions {
        /// The topic.
        topic: String,
        /// Its partitions here, in the strom broker (fewer than `target`'s for an
        /// [`Import`](crate::Import)).
        local: usize,
        /// Its partitions on the cluster: the mirror's target, or the import's source.
        target: usize,
    },
    /// An [`Import`](crate::Import)'s local partition disagrees with the progress it
    /// committed on the source: another writer appended to it or removed records, or the
    /// group was used by someone else. Nothing is appended until a person decides.
    Diverged {
        /// The local partition.
        partition: TopicPartition,
        /// The numbers that disagree.
        reason: String,
    },
    /// A batch read from a partition could not be read again to be sent on, or a batch an
    /// [`Import`](crate::Import) fetched failed its checksum (or was no batch at all).
    Damaged {
        /// The partition.
        partition: TopicPartition,
        /// Where the batch starts.
        offset: u64,
        /// What was wrong.
        reason: String,
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
            Self::Diverged { partition, reason } => write!(
                f,
                "import: {}/{}: {reason}",
                partition.topic, partition.partition
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

    /// Copies the topics until stopped: [`run_until`](Self::run_until) with a flag that is
    /// never set, so without [`once`](Self::once) it returns only on an error.
    ///
    /// # Errors
    ///
    /// As [`run_until`](Self::run_until).
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
        self.run_until(&AtomicBool::new(false))
    }

    /// Copies the topics: with [`once`](Self::once), up to each partition's last stable
    /// offset as of the start, then returns what it copied. Without it, follows them: copies
    /// what there is, waits for more (woken by appends, not polling), copies again, until
    /// `stop` is set (seen within about 100 ms), then commits what the target acknowledged
    /// and returns. Committed transactions are copied as plain batches of the mirror's
    /// idempotent producer; aborted ones and transaction markers are not, and an open
    /// transaction's batches wait until it is decided.
    ///
    /// The mirror must be the target partitions' only writer: its commits record the
    /// target's end after what it copied, and a restart after a crash passes over what the
    /// target holds beyond that, so that nothing is lost or stored twice. A target with
    /// records from elsewhere is refused, not guessed about.
    ///
    /// # Errors
    ///
    /// [`MirrorError::Local`] for a local topic that does not exist (or is deleted while
    /// followed) or a failed read or commit; [`MirrorError::FewerPartitions`];
    /// [`MirrorError::Unavailable`] when the cluster stays unreachable past the patience;
    /// [`MirrorError::Refused`] when it refuses (authorization, topic policy, a record too
    /// large) or its partitions hold records the mirror did not write, or lost some;
    /// [`MirrorError::Damaged`].
    ///
    /// ```no_run
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// # let broker = strom::Broker::open("data")?;
    /// let mirror = strom_kafka::Mirror::new(broker, "127.0.0.1:9092").topics(["orders"]);
    /// let stop = Arc::new(AtomicBool::new(false));
    /// let flag = Arc::clone(&stop);
    /// let follower = std::thread::spawn(move || mirror.run_until(&flag));
    /// // ... later, on shutdown:
    /// stop.store(true, Ordering::Relaxed);
    /// let copied = follower.join().expect("the mirror thread")?;
    /// println!("{} records copied", copied.records);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_until(&self, stop: &AtomicBool) -> Result<MirrorProgress, MirrorError> {
        // Local checks first: a misspelt topic is reported before any network is touched.
        let mut local = Vec::new();
        for topic in &self.topics {
            let described = self.broker.describe_topic(topic)?;
            local.push((
                topic.clone(),
                described.partitions,
                carried(&described.config),
            ));
        }
        let mut cluster = Cluster::connect(&self.target, self.patience)?;
        let mut partitions = Vec::new();
        for (topic, described, configs) in &local {
            let target = match cluster.partitions(topic)? {
                Some(count) => count,
                None => {
                    cluster.call_any(|c| c.create_topic(topic, described.len(), configs))?;
                    cluster.created_partitions(topic)?
                }
            };
            if target < described.len() {
                return Err(MirrorError::FewerPartitions {
                    topic: topic.clone(),
                    local: described.len(),
                    target,
                });
            }
            if target > described.len() {
                tracing::warn!(
                    topic = %topic,
                    local = described.len(),
                    target,
                    "mirror: the target topic has more partitions: records keep their \
                     partition numbers, but new keyed records sent there spread differently"
                );
            }
            for p in described {
                partitions.push((
                    TopicPartition::new(topic.clone(), p.partition),
                    p.log_start_offset,
                    self.once.then_some(p.last_stable_offset),
                ));
            }
        }
        // Following waits for appends with a timeout: a runtime for the timer alone.
        let waiter = if self.once {
            None
        } else {
            Some(
                tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .map_err(|e| {
                        MirrorError::Unavailable(format!("start the mirror's timer: {e}"))
                    })?,
            )
        };
        let mut progress = MirrorProgress::default();
        let mut restarting: Option<(Instant, u64)> = None;
        // The first session goes on as the producers of the commits; so do sessions after
        // a resync, up to a few in a row that acknowledge nothing.
        let mut reuse = true;
        let mut resyncs = 0;
        let mut pause = Duration::from_millis(10);
        loop {
            let mut session = Session::start(self, &mut cluster, &partitions, reuse)?;
            let batches = progress.batches;
            let (reason, resync) = match session.run(stop, waiter.as_ref(), &mut progress) {
                Ok(()) => return Ok(progress),
                Err(Interrupt::Fail(e)) => return Err(e),
                Err(Interrupt::Resync(reason)) => (reason, true),
                Err(Interrupt::NewProducer(reason)) => (reason, false),
            };
            // Restarts that acknowledge nothing in between are given the patience.
            let since = match restarting {
                Some((since, acked)) if acked == progress.batches => since,
                _ => Instant::now(),
            };
            if since.elapsed() >= self.patience {
                return Err(MirrorError::Refused(reason));
            }
            restarting = Some((since, progress.batches));
            resyncs = if progress.batches == batches {
                resyncs + 1
            } else {
                0
            };
            reuse = resync && resyncs < MAX_RESYNCS;
            if reuse {
                tracing::debug!(%reason, "mirror: reading the target's end again");
            } else {
                tracing::warn!(%reason, "mirror: starting again with a new producer id");
            }
            // A killed run's requests may still be landing: a moment for them.
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }
}
