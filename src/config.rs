//! Settings: [`BrokerConfig`], [`TopicConfig`], [`ConsumerConfig`] and their enums.
//!
//! Builders go by value (`TopicConfig::default().partitions(3)`); `Default` is the one source
//! of defaults, which follow Kafka's wherever they make sense in process. Setters never
//! check; `Broker::open_with` and `Broker::create_topic` do, and answer nonsense with
//! [`Error::InvalidConfig`](crate::Error::InvalidConfig).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::storage::batch::Compression;

/// When appended data is forced to stable storage (fsync).
///
/// Whatever the policy, `send` returns only after the record is in the operating system's
/// page cache (strom writes through a shared memory map), so killing the process never loses
/// an acknowledged record. The policy decides what a power cut or kernel crash may take.
///
/// | policy | a process crash loses | a machine crash may lose | cost per `send` |
/// |---|---|---|---|
/// | `Never` (default) | nothing | what the OS had not written back (Linux: up to ~30 s) | a memory copy |
/// | `Interval(d)` | nothing | at most about `d` of appends | a memory copy |
/// | `Always` | nothing | nothing acknowledged | one shared fsync |
///
/// `Never` is the default because it is Kafka's (`log.flush.interval.messages` is unset there)
/// and keeps appends at memory speed; choose `Always` where a record must survive a power cut
/// the moment `send` returns, or call [`Producer::flush`](crate::Producer::flush) at the points
/// that matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// The OS decides when to write dirty pages back.
    #[default]
    Never,
    /// A background thread fsyncs whatever was appended at least this often. It runs at most
    /// every millisecond, so shorter intervals (zero included) fsync every millisecond; an
    /// interval that never comes round (`Duration::MAX`) leaves fsyncs to
    /// [`Producer::flush`](crate::Producer::flush) and `close`.
    Interval(Duration),
    /// Every `send` waits for an fsync covering its record; concurrent senders share one.
    Always,
}

/// Settings of a broker, given to [`Broker::open_with`](crate::Broker::open_with).
///
/// ```
/// use std::time::Duration;
/// use strom::{BrokerConfig, SyncPolicy, TopicConfig};
///
/// let config = BrokerConfig::default()
///     .sync(SyncPolicy::Interval(Duration::from_millis(200)))
///     .default_topic(TopicConfig::default().partitions(3))
///     .auto_create_topics(true);
/// assert!(config.auto_create_topics);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// When appends are fsynced. By default, [`SyncPolicy::Never`].
    pub sync: SyncPolicy,
    /// The config of topics created by auto-creation. By default, `TopicConfig::default()`.
    pub default_topic: TopicConfig,
    /// Whether sending to an unknown topic creates it. By default, `false`.
    pub auto_create_topics: bool,
    /// How often the background thread runs retention and compaction. By default, 30 s.
    pub maintenance_interval: Duration,
    /// How long a transaction may stay open before the broker aborts it (Kafka's
    /// `transaction.timeout.ms`). By default, 60 s.
    pub transaction_timeout: Duration,
    /// Whether the directory is opened read-only, beside a writer in another process. By
    /// default, `false`. See [`BrokerConfig::read_only`].
    pub read_only: bool,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            sync: SyncPolicy::Never,
            default_topic: TopicConfig::default(),
            auto_create_topics: false,
            maintenance_interval: Duration::from_secs(30),
            transaction_timeout: Duration::from_secs(60),
            read_only: false,
        }
    }
}

impl BrokerConfig {
    /// Sets when appends are fsynced. By default, [`SyncPolicy::Never`].
    #[must_use]
    pub fn sync(mut self, policy: SyncPolicy) -> Self {
        self.sync = policy;
        self
    }

    /// Sets the config of auto-created topics. By default, `TopicConfig::default()`.
    #[must_use]
    pub fn default_topic(mut self, config: TopicConfig) -> Self {
        self.default_topic = config;
        self
    }

    /// Sets whether sending to an unknown topic creates it. By default, `false`.
    #[must_use]
    pub fn auto_create_topics(mut self, yes: bool) -> Self {
        self.auto_create_topics = yes;
        self
    }

    /// Sets how often retention and compaction run in the background. By default, 30 s.
    ///
    /// Any value is accepted: below a millisecond (zero included) they run every
    /// millisecond; `Duration::MAX` leaves them to
    /// [`Broker::run_maintenance`](crate::Broker::run_maintenance).
    #[must_use]
    pub fn maintenance_interval(mut self, interval: Duration) -> Self {
        self.maintenance_interval = interval;
        self
    }

    /// Sets how long a transaction may stay open before the broker aborts it; its producer
    /// is then fenced ([`Error::Fenced`](crate::Error::Fenced)). By default, 60 s (Kafka's
    /// `transaction.timeout.ms`). Open transactions are checked by the background thread,
    /// at least once a second.
    #[must_use]
    pub fn transaction_timeout(mut self, timeout: Duration) -> Self {
        self.transaction_timeout = timeout;
        self
    }

    /// Sets whether the directory is opened read-only. By default, `false`.
    ///
    /// A read-only broker takes no lock: it opens a data directory that another process
    /// (one writer) may be writing, beside any number of other readers, and never changes a
    /// byte of it (no recovery, no index rebuilt, no lock or marker file). Topics, their
    /// descriptions, groups and committed offsets are read from disk as they are now;
    /// consumers that [`assign`](crate::Consumer::assign), [`seek`](crate::Consumer::seek)
    /// and [`poll`](crate::Consumer::poll) follow the writer's appends (a waiting `poll`
    /// returns a new record within milliseconds), its new topics, its retention and its
    /// compaction. A reader only hands out whole batches whose checksums it verified and
    /// that the writer's recovery would keep, so never a torn record.
    ///
    /// Every write — creating, altering or deleting a topic, sending, subscribing,
    /// committing, [`run_maintenance`](crate::Broker::run_maintenance), transactions —
    /// returns [`Error::ReadOnly`](crate::Error::ReadOnly). Automatic commits are skipped.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use strom::{Broker, BrokerConfig, Error, OffsetReset, ConsumerConfig, Record, TopicConfig, TopicPartition};
    ///
    /// // The writer: in a real deployment, another process.
    /// let writer = Broker::open(dir.path())?;
    /// writer.create_topic("clicks", TopicConfig::default())?;
    /// writer.producer().send("clicks", Record::new("hello"))?;
    ///
    /// let reader = Broker::open_with(dir.path(), BrokerConfig::default().read_only(true))?;
    /// assert_eq!(reader.topics(), ["clicks"]);
    /// let mut consumer = reader.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    /// consumer.assign(&[TopicPartition::new("clicks", 0)])?;
    /// let records = consumer.poll(Duration::from_secs(5))?;
    /// assert_eq!(records.into_iter().next().unwrap().value(), b"hello");
    /// assert!(matches!(reader.create_topic("other", TopicConfig::default()), Err(Error::ReadOnly { .. })));
    /// # Ok::<(), strom::Error>(())
    /// ```
    #[must_use]
    pub fn read_only(mut self, yes: bool) -> Self {
        self.read_only = yes;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        // Every interval is accepted, zero and `Duration::MAX` included: the background
        // thread runs at most every millisecond and a `MAX` interval never comes round.
        self.default_topic.validate()
    }
}

/// What happens to old segments of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CleanupPolicy {
    /// Delete whole segments past `retention_ms` or `retention_bytes` (Kafka's `delete`).
    #[default]
    Delete,
    /// Keep the latest record of each key (Kafka's `compact`).
    Compact,
    /// Both (Kafka's `compact,delete`).
    CompactAndDelete,
}

/// Settings of one topic, given to [`Broker::create_topic`](crate::Broker::create_topic).
///
/// Names and meanings are Kafka's topic configs (`segment.bytes` is `segment_bytes`, ...).
///
/// ```
/// use strom::{CleanupPolicy, TopicConfig};
///
/// let config = TopicConfig::default()
///     .partitions(3)
///     .retention_ms(24 * 3600 * 1000)
///     .cleanup_policy(CleanupPolicy::Delete);
/// assert_eq!(config.partitions, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TopicConfig {
    /// Number of partitions. By default, 1.
    pub partitions: u32,
    /// A segment file is rolled when it would grow past this. By default, 64 MiB
    /// (Kafka's 1 GiB is sized for a server; any value from 4 KiB to 1 GiB is accepted).
    pub segment_bytes: u64,
    /// A segment is rolled once it is this old. By default, 7 days.
    pub segment_ms: i64,
    /// Records older than this are deleted with their segment. By default, 7 days;
    /// `-1` keeps them for ever.
    pub retention_ms: i64,
    /// A partition's oldest segments are deleted once it is larger. By default, unlimited.
    pub retention_bytes: Option<u64>,
    /// Largest key + value + header bytes of one record (over Kafka's protocol: of one
    /// batch, as Kafka's `max.message.bytes`). By default, Kafka's 1048588 (1 MiB and a
    /// batch header's 12 bytes).
    pub max_record_bytes: usize,
    /// Delete, compact, or both. By default, [`CleanupPolicy::Delete`].
    pub cleanup_policy: CleanupPolicy,
    /// How long tombstones stay readable in a compacted topic. By default, 1 day.
    pub delete_retention_ms: i64,
    /// Bytes of log between entries of the sparse indexes. By default, 4096 (Kafka's).
    pub index_interval_bytes: u32,
    /// The codec batches are compressed with as they are written (Kafka's
    /// `compression.type`). By default, [`Compression::None`].
    pub compression: Compression,
    /// Whether maintenance merges the small batches of sealed segments into larger ones,
    /// compressed with `compression`. By default, `false`.
    pub rebatch_sealed: bool,
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const MIN_SEGMENT_BYTES: u64 = 4096;
/// Kafka's default `max.message.bytes`: 1 MiB, and the 12 bytes of a batch's offset and
/// length that Kafka counts in a batch's size.
const DEFAULT_MAX_RECORD_BYTES: usize = (1 << 20) + 12;
const MAX_SEGMENT_BYTES: u64 = 1 << 30;

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            partitions: 1,
            segment_bytes: 64 << 20,
            segment_ms: 7 * DAY_MS,
            retention_ms: 7 * DAY_MS,
            retention_bytes: None,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            cleanup_policy: CleanupPolicy::Delete,
            delete_retention_ms: DAY_MS,
            index_interval_bytes: 4096,
            compression: Compression::None,
            rebatch_sealed: false,
        }
    }
}

impl TopicConfig {
    /// Sets the number of partitions. By default, 1.
    #[must_use]
    pub fn partitions(mut self, n: u32) -> Self {
        self.partitions = n;
        self
    }

    /// Sets the size at which a segment is rolled. By default, 64 MiB.
    #[must_use]
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes;
        self
    }

    /// Sets the age at which a segment is rolled. By default, 7 days.
    #[must_use]
    pub fn segment_ms(mut self, ms: i64) -> Self {
        self.segment_ms = ms;
        self
    }

    /// Sets how long records are kept (`-1`: for ever). By default, 7 days.
    #[must_use]
    pub fn retention_ms(mut self, ms: i64) -> Self {
        self.retention_ms = ms;
        self
    }

    /// Sets the size a partition is trimmed to. By default, unlimited.
    #[must_use]
    pub fn retention_bytes(mut self, bytes: u64) -> Self {
        self.retention_bytes = Some(bytes);
        self
    }

    /// Sets the largest key + value + header bytes of a record. By default, 1048588 (Kafka's
    /// `max.message.bytes`).
    #[must_use]
    pub fn max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes;
        self
    }

    /// Sets the cleanup policy. By default, [`CleanupPolicy::Delete`].
    #[must_use]
    pub fn cleanup_policy(mut self, policy: CleanupPolicy) -> Self {
        self.cleanup_policy = policy;
        self
    }

    /// Sets how long tombstones stay in a compacted topic. By default, 1 day.
    #[must_use]
    pub fn delete_retention_ms(mut self, ms: i64) -> Self {
        self.delete_retention_ms = ms;
        self
    }

    /// Sets the bytes of log between sparse index entries. By default, 4096.
    #[must_use]
    pub fn index_interval_bytes(mut self, bytes: u32) -> Self {
        self.index_interval_bytes = bytes;
        self
    }

    /// Sets the codec batches are compressed with as they are written (Kafka's
    /// `compression.type`): each batch's records are compressed together, and read back
    /// transparently. Changed with
    /// [`Broker::alter_topic`](crate::Broker::alter_topic), it applies to batches written
    /// afterwards; older ones stay as they are, and readable. A batch that compression does
    /// not make smaller (a single small record, often) is stored uncompressed. By default,
    /// [`Compression::None`].
    ///
    /// ```
    /// use strom::{Broker, Compression, TopicConfig};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("readings", TopicConfig::default().compression(Compression::Zstd))?;
    /// assert_eq!(broker.describe_topic("readings")?.config.compression, Compression::Zstd);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn compression(mut self, codec: Compression) -> Self {
        self.compression = codec;
        self
    }

    /// Lets maintenance rewrite this topic's sealed segments, merging runs of small batches
    /// (records sent one `send` at a time, each its own batch) into batches of up to 256 KiB
    /// of records compressed with [`compression`](Self::compression): a single small record
    /// does not compress, many together do. Every record keeps its offset, timestamp, key,
    /// value and headers; transactional batches and markers are kept as they are. Costs a
    /// rewrite of each sealed segment once. By default, `false`.
    ///
    /// ```
    /// use strom::{Compression, TopicConfig};
    ///
    /// let config = TopicConfig::default()
    ///     .compression(Compression::Zstd)
    ///     .rebatch_sealed(true);
    /// assert!(config.rebatch_sealed);
    /// ```
    #[must_use]
    pub fn rebatch_sealed(mut self, rebatch: bool) -> Self {
        self.rebatch_sealed = rebatch;
        self
    }

    /// Topic configs under Kafka's names (`retention.ms`, `retention.bytes`, `segment.bytes`,
    /// `segment.ms`, `cleanup.policy`, `max.message.bytes`, `compression.type`,
    /// `delete.retention.ms`), as Kafka's tools and `CreateTopics` requests give them.
    pub const KAFKA_KEYS: [&'static str; 8] = [
        "retention.ms",
        "retention.bytes",
        "segment.bytes",
        "segment.ms",
        "cleanup.policy",
        "max.message.bytes",
        "compression.type",
        "delete.retention.ms",
    ];

    /// Sets one config by its Kafka name (one of [`KAFKA_KEYS`](Self::KAFKA_KEYS)) from its
    /// text, as `kafka-topics --config KEY=VALUE` takes it: `retention.bytes` is `-1` for
    /// unlimited, `cleanup.policy` is `delete`, `compact` or `compact,delete`,
    /// `compression.type` a codec's name, or `producer` (Kafka's default: batches kept as
    /// their producer compressed them), which is strom's [`Compression::None`].
    ///
    /// ```
    /// use strom::{CleanupPolicy, Compression, TopicConfig};
    ///
    /// let mut config = TopicConfig::default();
    /// config.set("cleanup.policy", "compact")?;
    /// config.set("retention.bytes", "-1")?;
    /// config.set("compression.type", "producer")?;
    /// assert_eq!(config.cleanup_policy, CleanupPolicy::Compact);
    /// assert_eq!(config.retention_bytes, None);
    /// assert_eq!(config.compression, Compression::None);
    /// assert!(config.set("retention.ms", "soon").is_err());
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the key, for an unknown key or a value it does not take.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
            value
                .parse()
                .map_err(|_| invalid(format!("{key}={value}: not a number in range")))
        }
        match key {
            "retention.ms" => self.retention_ms = number(key, value)?,
            "retention.bytes" => {
                self.retention_bytes = match number::<i64>(key, value)? {
                    -1 => None,
                    b => Some(u64::try_from(b).map_err(|_| {
                        invalid(format!("{key}={value}: -1 (unlimited) or a size in bytes"))
                    })?),
                };
            }
            "segment.bytes" => self.segment_bytes = number(key, value)?,
            "segment.ms" => self.segment_ms = number(key, value)?,
            "cleanup.policy" => {
                self.cleanup_policy = match value {
                    "delete" => CleanupPolicy::Delete,
                    "compact" => CleanupPolicy::Compact,
                    "compact,delete" | "delete,compact" => CleanupPolicy::CompactAndDelete,
                    _ => {
                        return Err(invalid(format!(
                            "{key}={value}: one of delete, compact, compact,delete"
                        )))
                    }
                };
            }
            "max.message.bytes" => self.max_record_bytes = number(key, value)?,
            // Kafka's `producer` keeps batches as sent: what strom does with a topic of
            // its own codec `None`, whose in-process sends are uncompressed.
            "compression.type" if value.eq_ignore_ascii_case("producer") => {
                self.compression = Compression::None;
            }
            "compression.type" => {
                self.compression = value
                    .parse::<Compression>()
                    .map_err(|e| invalid(format!("{key}={value}: {e}")))?;
            }
            "delete.retention.ms" => self.delete_retention_ms = number(key, value)?,
            other => return Err(invalid(format!("unknown config {other}"))),
        }
        Ok(())
    }

    /// Every config of [`KAFKA_KEYS`](Self::KAFKA_KEYS) with its value as Kafka writes it
    /// (`retention.bytes` is `-1` when unlimited, [`Compression::None`] is `producer`):
    /// what `kafka-configs --describe` lists.
    ///
    /// ```
    /// use strom::TopicConfig;
    ///
    /// let configs = TopicConfig::default().kafka_configs();
    /// assert!(configs.contains(&("retention.bytes", "-1".to_owned())));
    /// assert!(configs.contains(&("cleanup.policy", "delete".to_owned())));
    /// // Kafka's own defaults.
    /// assert!(configs.contains(&("max.message.bytes", "1048588".to_owned())));
    /// assert!(configs.contains(&("compression.type", "producer".to_owned())));
    /// ```
    pub fn kafka_configs(&self) -> Vec<(&'static str, String)> {
        let policy = match self.cleanup_policy {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactAndDelete => "compact,delete",
        };
        vec![
            ("retention.ms", self.retention_ms.to_string()),
            (
                "retention.bytes",
                self.retention_bytes.map_or(-1, i128::from).to_string(),
            ),
            ("segment.bytes", self.segment_bytes.to_string()),
            ("segment.ms", self.segment_ms.to_string()),
            ("cleanup.policy", policy.to_owned()),
            ("max.message.bytes", self.max_record_bytes.to_string()),
            (
                "compression.type",
                match self.compression {
                    Compression::None => "producer".to_owned(),
                    codec => codec.name().to_owned(),
                },
            ),
            ("delete.retention.ms", self.delete_retention_ms.to_string()),
        ]
    }

    /// As `validate`, with the topic's name in the message.
    pub(crate) fn validate_for(&self, topic: &str) -> Result<()> {
        self.validate().map_err(|e| match e {
            Error::InvalidConfig { reason } => Error::InvalidConfig {
                reason: format!("topic {topic:?}: {reason}"),
            },
            other => other,
        })
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.partitions == 0 {
            return Err(invalid("partitions must be at least 1"));
        }
        if !self.compression.is_available() {
            return Err(invalid(format!(
                "compression {0} is not in this build of strom (its cargo feature `{0}` is off)",
                self.compression
            )));
        }
        // Every partition is a directory with an open segment; past this the process runs out
        // of file descriptors and address space long before it is useful.
        if self.partitions > 100_000 {
            return Err(invalid(format!(
                "partitions = {} is more than the 100000 supported",
                self.partitions
            )));
        }
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes) {
            return Err(invalid(format!(
                "segment_bytes = {} is outside {MIN_SEGMENT_BYTES}..={MAX_SEGMENT_BYTES}",
                self.segment_bytes
            )));
        }
        if self.segment_ms <= 0 {
            return Err(invalid(format!(
                "segment_ms = {} must be positive",
                self.segment_ms
            )));
        }
        if self.retention_ms < -1 || self.retention_ms == 0 {
            return Err(invalid(format!(
                "retention_ms = {} must be positive or -1 (for ever)",
                self.retention_ms
            )));
        }
        if self.max_record_bytes == 0 || self.max_record_bytes as u64 > MAX_SEGMENT_BYTES {
            return Err(invalid(format!(
                "max_record_bytes = {} is outside 1..={MAX_SEGMENT_BYTES}",
                self.max_record_bytes
            )));
        }
        if self.delete_retention_ms < 0 {
            return Err(invalid(format!(
                "delete_retention_ms = {} must not be negative",
                self.delete_retention_ms
            )));
        }
        if self.index_interval_bytes == 0 {
            return Err(invalid("index_interval_bytes must be at least 1"));
        }
        Ok(())
    }
}

/// Where a consumer starts when it has no valid position (Kafka's `auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    /// From the first offset still in the log.
    Earliest,
    /// From the high watermark: only records appended from now on.
    #[default]
    Latest,
    /// Fail: `poll` returns [`Error::OffsetOutOfRange`](crate::Error::OffsetOutOfRange).
    None,
}

/// How a consumer group spreads partitions over its members (Kafka's
/// `partition.assignment.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssignmentStrategy {
    /// Consecutive ranges of each topic's partitions per member (Kafka's default).
    #[default]
    Range,
    /// All partitions dealt to the members in turn.
    RoundRobin,
    /// Balanced, moving as few partitions as possible; incremental rebalances.
    CooperativeSticky,
    /// Partition numbers kept together: every partition numbered `i`, of every subscribed
    /// topic, goes to one member, even when the topics have different partition counts
    /// (where [`Range`](Self::Range) may split them), the numbers dealt to the members in
    /// consecutive runs. For an application that keeps state per partition number across
    /// topics (as [`strom::streams`](crate::streams) tasks do); eager rebalances.
    ///
    /// ```
    /// use strom::{AssignmentStrategy, ConsumerConfig};
    ///
    /// let config = ConsumerConfig::default()
    ///     .group_id("per-partition-state")
    ///     .assignment_strategy(AssignmentStrategy::CoPartitioned);
    /// assert_eq!(config.assignment_strategy, AssignmentStrategy::CoPartitioned);
    /// ```
    CoPartitioned,
}

/// Settings of a consumer, given to [`Broker::consumer`](crate::Broker::consumer).
///
/// ```
/// use std::time::Duration;
/// use strom::{ConsumerConfig, OffsetReset};
///
/// let config = ConsumerConfig::default()
///     .group_id("fraud-detector")
///     .auto_offset_reset(OffsetReset::Earliest)
///     .max_poll_records(100);
/// assert_eq!(config.group_id.as_deref(), Some("fraud-detector"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// The consumer group to join. By default, none (manual assignment only).
    pub group_id: Option<String>,
    /// Where to start without a valid position. By default, [`OffsetReset::Latest`].
    pub auto_offset_reset: OffsetReset,
    /// Whether positions are committed periodically and on close. By default, `true`.
    pub enable_auto_commit: bool,
    /// How often auto-commit runs. By default, 5 s.
    pub auto_commit_interval: Duration,
    /// Most records one `poll` returns. By default, 500.
    pub max_poll_records: usize,
    /// How a group assigns partitions. By default, [`AssignmentStrategy::Range`].
    pub assignment_strategy: AssignmentStrategy,
    /// A member that does not poll for this long leaves its group. By default, 5 minutes.
    pub max_poll_interval: Duration,
    /// How long a `poll` with nothing to read spins on its CPU before it parks the thread.
    /// By default, 50 µs.
    ///
    /// A record that arrives while the consumer spins is picked up within a microsecond;
    /// one that arrives after it parked waits for the operating system to run the thread
    /// again (typically 10–50 µs). Set it above the usual gap between records for the
    /// lowest latency, at the price of a busy core while waiting; set it to zero to park
    /// at once.
    pub spin_wait: Duration,
    /// Which records `poll` returns when producers use transactions. By default,
    /// [`IsolationLevel::ReadUncommitted`] (Kafka's).
    pub isolation_level: IsolationLevel,
}

/// Which records a consumer reads from partitions that transactions write to (Kafka's
/// `isolation.level`).
///
/// ```
/// use strom::{ConsumerConfig, IsolationLevel};
///
/// let config = ConsumerConfig::default().isolation_level(IsolationLevel::ReadCommitted);
/// assert_eq!(config.isolation_level, IsolationLevel::ReadCommitted);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IsolationLevel {
    /// Every record, as soon as it is in the log: those of open and aborted transactions
    /// too.
    #[default]
    ReadUncommitted,
    /// Records of committed transactions and records sent outside transactions, up to the
    /// last stable offset: never a record of an aborted transaction, nor one at or after the
    /// first offset of a transaction still open.
    ReadCommitted,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            group_id: None,
            auto_offset_reset: OffsetReset::Latest,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            max_poll_records: 500,
            assignment_strategy: AssignmentStrategy::Range,
            max_poll_interval: Duration::from_secs(300),
            spin_wait: Duration::from_micros(50),
            isolation_level: IsolationLevel::ReadUncommitted,
        }
    }
}

impl ConsumerConfig {
    /// Sets the consumer group. By default, none.
    #[must_use]
    pub fn group_id(mut self, id: impl Into<String>) -> Self {
        self.group_id = Some(id.into());
        self
    }

    /// Sets where to start without a valid position. By default, [`OffsetReset::Latest`].
    #[must_use]
    pub fn auto_offset_reset(mut self, reset: OffsetReset) -> Self {
        self.auto_offset_reset = reset;
        self
    }

    /// Sets whether positions are committed automatically. By default, `true`.
    #[must_use]
    pub fn enable_auto_commit(mut self, yes: bool) -> Self {
        self.enable_auto_commit = yes;
        self
    }

    /// Sets how often auto-commit runs. By default, 5 s.
    ///
    /// Zero commits at every `poll`; `Duration::MAX` commits only when partitions are
    /// revoked and on `close`.
    #[must_use]
    pub fn auto_commit_interval(mut self, interval: Duration) -> Self {
        self.auto_commit_interval = interval;
        self
    }

    /// Sets the most records one `poll` returns. By default, 500.
    #[must_use]
    pub fn max_poll_records(mut self, n: usize) -> Self {
        self.max_poll_records = n;
        self
    }

    /// Sets the group's assignment strategy. By default, [`AssignmentStrategy::Range`].
    #[must_use]
    pub fn assignment_strategy(mut self, strategy: AssignmentStrategy) -> Self {
        self.assignment_strategy = strategy;
        self
    }

    /// Sets how long a member may go without polling. By default, 5 minutes.
    ///
    /// A member blocked in `poll` checks in every half interval (at most every
    /// millisecond); `Duration::MAX` never removes a member for not polling.
    #[must_use]
    pub fn max_poll_interval(mut self, interval: Duration) -> Self {
        self.max_poll_interval = interval;
        self
    }

    /// Sets how long a waiting `poll` spins before parking its thread. By default, 50 µs.
    /// Zero parks at once; `Duration::MAX` spins for as long as the `poll` waits.
    ///
    /// ```
    /// use std::time::Duration;
    /// use strom::ConsumerConfig;
    ///
    /// // A latency-critical consumer: records arrive every ~100 µs, so keep spinning
    /// // through the gaps instead of being rescheduled for each one.
    /// let config = ConsumerConfig::default().spin_wait(Duration::from_millis(1));
    /// assert_eq!(config.spin_wait, Duration::from_millis(1));
    /// ```
    #[must_use]
    pub fn spin_wait(mut self, spin: Duration) -> Self {
        self.spin_wait = spin;
        self
    }

    /// Sets which records `poll` returns from partitions that transactions write to. By
    /// default, [`IsolationLevel::ReadUncommitted`].
    #[must_use]
    pub fn isolation_level(mut self, level: IsolationLevel) -> Self {
        self.isolation_level = level;
        self
    }
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        reason: reason.into(),
    }
}
