//! The crate's one error type.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// `Result` with strom's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in strom.
///
/// Every message names the topic, partition, group or path concerned, so that it can be
/// acted on without a debugger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `create_topic` was called with the name of a topic that exists.
    #[error("topic {topic:?} already exists")]
    TopicExists {
        /// The topic's name.
        topic: String,
    },
    /// The topic does not exist (and auto-creation is off).
    #[error("unknown topic {topic:?}")]
    UnknownTopic {
        /// The topic's name.
        topic: String,
    },
    /// The consumer group never committed offsets and has no members.
    #[error("unknown consumer group {group_id:?}")]
    UnknownGroup {
        /// The group's id.
        group_id: String,
    },
    /// The consumer group has members, so it cannot be deleted, nor can the committed
    /// offsets of a partition one of its members is assigned (Kafka's `NON_EMPTY_GROUP` and
    /// `GROUP_SUBSCRIBED_TO_TOPIC`). Stop its consumers first.
    #[error("consumer group {group_id:?} has members: {reason}")]
    GroupNotEmpty {
        /// The group's id.
        group_id: String,
        /// What could not be deleted.
        reason: String,
    },
    /// The name is not a legal topic name (Kafka's rules: 1 to 249 characters of
    /// `[a-zA-Z0-9._-]`, not `.` or `..`, not starting with `__`, and not colliding with an
    /// existing topic once `.` and `_` are treated alike).
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName {
        /// The rejected name.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// The partition does not exist in the topic.
    #[error(
        "invalid partition {partition} for topic {topic:?}, which has {partitions} partition(s)"
    )]
    InvalidPartition {
        /// The topic's name.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many partitions the topic has.
        partitions: u32,
    },
    /// A configuration value or argument makes no sense.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// What is wrong, naming the setting.
        reason: String,
    },
    /// A record is not acceptable for the topic, for a reason other than its size.
    #[error("invalid record for topic {topic:?}: {reason}")]
    InvalidRecord {
        /// The topic's name.
        topic: String,
        /// What is wrong with the record.
        reason: String,
    },
    /// A record's key, value and headers together exceed the topic's `max_record_bytes`.
    #[error("record of {size} bytes for topic {topic:?} exceeds max_record_bytes = {max}")]
    RecordTooLarge {
        /// The topic's name.
        topic: String,
        /// The record's key + value + header bytes.
        size: usize,
        /// The topic's limit.
        max: usize,
    },
    /// The metadata committed with an offset is longer than
    /// [`OffsetAndMetadata::MAX_METADATA_BYTES`](crate::OffsetAndMetadata::MAX_METADATA_BYTES)
    /// (Kafka's `offset.metadata.max.bytes` default, and its `OFFSET_METADATA_TOO_LARGE`).
    /// Nothing of the commit was taken.
    #[error("offset metadata of {size} bytes for {topic}-{partition} in group {group_id:?} exceeds {max} bytes")]
    OffsetMetadataTooLarge {
        /// The group's id.
        group_id: String,
        /// The topic's name.
        topic: String,
        /// The partition.
        partition: u32,
        /// The metadata's length in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A position is missing or outside the log, and `auto_offset_reset` is `None`.
    #[error("offset {} out of range for {topic}-{partition} (log start {log_start_offset}, high watermark {high_watermark})", offset.map_or_else(|| "none".to_string(), |o| o.to_string()))]
    OffsetOutOfRange {
        /// The topic's name.
        topic: String,
        /// The partition.
        partition: u32,
        /// The position that was asked for, `None` when there was none.
        offset: Option<u64>,
        /// The first offset still in the log.
        log_start_offset: u64,
        /// The next offset to be written.
        high_watermark: u64,
    },
    /// Another broker (in this process or another) holds the data directory.
    #[error("data directory {} is locked by another broker", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A file failed its checks: the bytes at `position` are not what was written.
    #[error("corrupt file {}: {kind} at byte {position}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte position of the damaged batch or entry.
        position: u64,
        /// What was wrong.
        kind: CorruptKind,
    },
    /// A value could not be serialized to or deserialized from JSON, or a stream
    /// processing [`Codec`](crate::streams::Codec) could not decode its bytes.
    #[error("serialization error for {context}")]
    Serde {
        /// What was being (de)serialized, e.g. `"value of transactions-0@42"`.
        context: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// The operating system reported an I/O error on `path`.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The consumer was asked about a partition it is not assigned.
    #[error("partition {topic}-{partition} is not assigned to this consumer")]
    NotAssigned {
        /// The topic's name.
        topic: String,
        /// The partition.
        partition: u32,
    },
    /// An earlier write or fsync of this partition failed, so what is on disk is unknown;
    /// the partition refuses writes until the broker is reopened and recovers it.
    #[error("partition {topic}-{partition} refuses writes after an earlier I/O failure; reopen the broker to recover it")]
    Poisoned {
        /// The topic's name.
        topic: String,
        /// The partition.
        partition: u32,
    },
    /// The call does not fit the state the consumer is in, as Kafka's
    /// `IllegalStateException`: `subscribe` on a consumer with assigned partitions, `assign`
    /// on a subscribed one, `poll` on one that has neither.
    #[error("illegal state: {reason}")]
    IllegalState {
        /// What was called, and what to do instead.
        reason: String,
    },
    /// A record batch could not be encoded into the log: it is longer than the format's
    /// 31-bit length allows, its offsets would pass `i64::MAX`, or a batch encoded elsewhere
    /// is not valid.
    #[error("cannot encode a record batch into {}", path.display())]
    Encode {
        /// The segment file the batch was for.
        path: PathBuf,
        /// Why the encoder refused it.
        #[source]
        source: crate::storage::batch::EncodeError,
    },
    /// A newer producer with the same transactional id exists, or this producer's
    /// transaction outlived `transaction_timeout` and was aborted: this producer can do
    /// nothing more (Kafka's `ProducerFencedException`). Create a new one.
    #[error("transactional producer {transactional_id:?} is fenced: a newer producer with its id exists, or its transaction timed out")]
    Fenced {
        /// The transactional id.
        transactional_id: String,
    },
    /// A transactional call out of order: `send` outside a transaction, `begin` inside one,
    /// `commit` or `abort` with none open.
    #[error("transaction state: {0}")]
    TransactionState(String),
    /// Offsets could not be committed: the consumer's group has moved on to a newer
    /// generation, or the member left it (a zombie cannot commit). The transaction that
    /// carried them was aborted.
    #[error("commit failed for group {group_id:?}: {reason}")]
    CommitFailed {
        /// The group's id.
        group_id: String,
        /// Why.
        reason: String,
    },
    /// A call of a consumer-group member driven from outside the process
    /// ([`GroupMember`](crate::GroupMember), as a Kafka-protocol server drives one for each
    /// remote consumer) that the group refuses; `kind` says why, and which Kafka error code
    /// answers it (see [`MembershipError::kafka_code`]). In-process consumers get
    /// [`Error::CommitFailed`] instead.
    #[error("consumer group {group_id:?}, member {member_id:?}: {kind}")]
    Membership {
        /// The group's id.
        group_id: String,
        /// The member's id.
        member_id: String,
        /// Why the group refused the call.
        kind: MembershipError,
    },
    /// A stream processing topology cannot run as built: a window of no length, a
    /// source or sink topic whose name is not legal, nothing to read from.
    #[error("invalid topology: {reason}")]
    InvalidTopology {
        /// What is wrong, naming the topic, store or operator concerned.
        reason: String,
    },
    /// A batch of an idempotent or transactional producer carries an epoch older than the
    /// one the partition knows for its producer id: a newer producer with that id exists
    /// (Kafka's `INVALID_PRODUCER_EPOCH`). Nothing was stored.
    #[error("producer {producer_id} at epoch {epoch} is fenced in {topic}-{partition}, whose current epoch for it is {current}")]
    InvalidProducerEpoch {
        /// The topic's name.
        topic: String,
        /// The partition.
        partition: u32,
        /// The batch's producer id.
        producer_id: i64,
        /// The batch's epoch.
        epoch: i16,
        /// The epoch the partition knows.
        current: i16,
    },
    /// A batch of an idempotent producer does not carry the next sequence number the
    /// partition expects of that producer, and is no retry of one of its last five batches
    /// (Kafka's `OUT_OF_ORDER_SEQUENCE_NUMBER`): a batch before it was lost. Nothing was
    /// stored.
    #[error("out of order sequence number for producer {producer_id} in {topic}-{partition}: expected {expected}, received {received}")]
    OutOfOrderSequence {
        /// The topic's name.
        topic: String,
        /// The partition.
        partition: u32,
        /// The batch's producer id.
        producer_id: i64,
        /// The sequence number the partition expected.
        expected: i32,
        /// The batch's first sequence number.
        received: i32,
    },
    /// The broker was closed.
    #[error("the broker is closed")]
    Closed,
    /// A write to a data directory opened with
    /// [`BrokerConfig::read_only`](crate::BrokerConfig::read_only).
    #[error("data directory {} is open read-only: {operation} is a write", dir.display())]
    ReadOnly {
        /// The data directory.
        dir: PathBuf,
        /// What was refused (`create_topic`, `send`, `commit`, ...).
        operation: &'static str,
    },
}

/// Why a group refused a call of a [`GroupMember`](crate::GroupMember), carried by
/// [`Error::Membership`]: each kind is one of Kafka's group error codes, which a
/// Kafka-protocol server returns as they are and a Kafka client acts on (it rejoins).
///
/// ```
/// use strom::MembershipError;
///
/// assert_eq!(MembershipError::UnknownMember.kafka_code(), 25);
/// assert_eq!(MembershipError::IllegalGeneration.kafka_code(), 22);
/// assert_eq!(MembershipError::RebalanceInProgress.kafka_code(), 27);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MembershipError {
    /// The member is not in the group: it never joined, left, or was removed because
    /// nothing came from it within its session timeout (Kafka's `UNKNOWN_MEMBER_ID`, 25).
    /// A Kafka client rejoins as a new member.
    UnknownMember,
    /// The generation named is not one the member may act in: a commit from a generation
    /// the group has moved on from for partitions the member no longer holds, or a
    /// generation the group never reached (Kafka's `ILLEGAL_GENERATION`, 22).
    IllegalGeneration,
    /// The group started a new generation since the member joined: it must join again to
    /// learn its new assignment (Kafka's `REBALANCE_IN_PROGRESS`, 27).
    RebalanceInProgress,
}

impl MembershipError {
    /// The Kafka protocol's error code for this kind.
    ///
    /// ```
    /// assert_eq!(strom::MembershipError::RebalanceInProgress.kafka_code(), 27);
    /// ```
    #[must_use]
    pub fn kafka_code(self) -> i16 {
        match self {
            Self::UnknownMember => 25,
            Self::IllegalGeneration => 22,
            Self::RebalanceInProgress => 27,
        }
    }
}

impl fmt::Display for MembershipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownMember => "unknown member: it left, was removed after its session timeout, or never joined; join again",
            Self::IllegalGeneration => "illegal generation: the member does not hold that generation's assignment",
            Self::RebalanceInProgress => "the group rebalanced since the member joined; join again",
        })
    }
}

/// What was wrong with a corrupt file, carried by [`Error::Corrupt`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptKind {
    /// The stored CRC-32 does not match the bytes.
    Checksum {
        /// The CRC stored in the batch header.
        stored: u32,
        /// The CRC computed over the bytes read.
        computed: u32,
    },
    /// A length field points outside the file or below the minimum.
    Length(u64),
    /// The format version byte is not one this build reads.
    Version(u8),
    /// A batch holds other offsets than its place in the log requires.
    Offset {
        /// The offset the log expected.
        expected: u64,
        /// The offset the batch claims.
        found: u64,
    },
    /// A batch's offsets run into those of what follows it (the next batch, or the next
    /// segment): its base offset, which Kafka's checksum leaves out, is damaged.
    Overlap {
        /// The last offset the batch claims.
        last_offset: u64,
        /// Where what follows it begins.
        next_offset: u64,
    },
    /// A record inside a batch is malformed (the CRC matched, so it was written so).
    Record(&'static str),
    /// A metadata file (a topic's `topic.json`, the committed offsets) does not parse or
    /// holds values strom cannot use.
    Metadata(String),
    /// A compressed batch's records do not decompress: malformed, larger than
    /// [`MAX_DECOMPRESSED_BYTES`](crate::storage::batch::MAX_DECOMPRESSED_BYTES), or
    /// compressed with a codec this build of strom lacks (its cargo feature is off).
    Compression {
        /// The batch's codec.
        codec: crate::Compression,
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for CorruptKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Checksum { stored, computed } => {
                write!(
                    f,
                    "CRC mismatch (stored {stored:#010x}, computed {computed:#010x})"
                )
            }
            Self::Length(len) => write!(f, "impossible batch length {len}"),
            Self::Version(v) => write!(f, "unknown format version {v}"),
            Self::Offset { expected, found } => {
                write!(f, "batch offset {found} where {expected} was expected")
            }
            Self::Overlap {
                last_offset,
                next_offset,
            } => write!(
                f,
                "batch runs to offset {last_offset}, past {next_offset} where the log goes on"
            ),
            Self::Record(what) => write!(f, "malformed record: {what}"),
            Self::Metadata(what) => write!(f, "unusable metadata: {what}"),
            Self::Compression { codec, reason } => {
                write!(f, "{codec}-compressed records: {reason}")
            }
        }
    }
}

/// Attaches the path to an `io::Error` where it first appears.
pub(crate) trait IoContext<T> {
    /// Turns the error into [`Error::Io`] naming `path`.
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
