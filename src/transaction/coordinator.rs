//! The transaction coordinator: transactional ids, their producer ids and epochs, and the
//! durable state of every transaction, in the internal compacted topic
//! `__transaction_state` (Kafka's way: one record per change, keyed by transactional id).
//!
//! A transaction goes through these states, each written to the topic:
//!
//! 1. `ongoing`, rewritten each time it first writes to a partition, listing every
//!    partition with the high watermark it had then: the transaction's records there come
//!    after that offset. It is written before the first record goes to the partition, so a
//!    killed process never leaves records of a transaction nobody knows to end; after a
//!    machine crash that lost it, the partition's own log shows them (see
//!    `log::transactions`), and they are aborted.
//! 2. To commit: `prepare_commit` (the partitions with their high watermarks, and the
//!    offsets to commit) is written, then the partitions and the topic are fsynced, in one
//!    round of a group commit shared with the commits deciding at the same time (see
//!    [`super::group_commit`]). The decision on stable storage is the commit point.
//!    Recovery checks that every partition holds the records up to the high watermark
//!    named, and aborts a decision whose records did not all reach the disk (its commit
//!    never returned).
//! 3. A commit marker goes to every partition; then `complete_commit`, in one batch with a
//!    record per offset committed, keyed by group and partition (compaction keeps each
//!    partition's latest, as in Kafka's `__consumer_offsets`); then the offsets go to the
//!    groups' stores, in memory: this topic holds them durably, and only a committed
//!    transaction's. An abort writes `prepare_abort`, abort markers and `complete_abort`.
//!
//! A transaction that wrote one partition and commits no offsets has one thing to make
//! durable, so its commit point is its marker: `prepare_commit` is written, then the marker,
//! and one fsync of the partition covers records and marker. Recovery finds the marker, or
//! finds the transaction open in the partition and aborts it.
//!
//! `Broker::open` reads the topic and finishes what a crash interrupted: a transaction at
//! `prepare_commit` is committed (markers and offset records written), one `ongoing` or at
//! `prepare_abort` is aborted; then the offsets committed by transactions are applied to the
//! groups' stores, except where a group holds a later commit.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::group_commit::GroupCommit;
use crate::broker::{now_ms, Inner};
use crate::config::{CleanupPolicy, TopicConfig};
use crate::error::{Error, Result};
use crate::group::GroupMetadata;
use crate::log::PartitionLog;
use crate::metrics::TxnMetrics;
use crate::offsets::OffsetAndMetadata;
use crate::record::TopicPartition;
use crate::storage::batch::{ControlRecord, ControlType, Entry, Origin};

/// The internal topic of transaction states.
pub(crate) const STATE_TOPIC: &str = "__transaction_state";

/// The phases a transaction's state record names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Phase {
    /// No transaction open.
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
}

impl Phase {
    /// The phase of a transaction that ended with `kind`'s markers.
    fn completed(kind: ControlType) -> Self {
        match kind {
            ControlType::Commit => Self::CompleteCommit,
            ControlType::Abort => Self::CompleteAbort,
        }
    }
}

/// A partition a transaction wrote to, the high watermark before its first record, and
/// (in a commit decision) the high watermark when the commit was decided: its records lie
/// below that, and recovery checks they are all there.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StatePartition {
    topic: String,
    partition: u32,
    start: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<u64>,
}

/// Offsets a transaction commits for a group.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StateOffsets {
    group_id: String,
    /// Topic, partition, offset: the offsets sent without metadata or leader epoch.
    offsets: Vec<(String, u32, u64)>,
    /// The offsets sent with metadata or a leader epoch (decisions written before these
    /// were kept have none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tagged: Vec<TaggedOffset>,
}

/// An offset a transaction commits with the metadata and leader epoch sent with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TaggedOffset {
    topic: String,
    partition: u32,
    offset: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    metadata: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    leader_epoch: Option<i32>,
}

/// One record of `__transaction_state`, keyed by transactional id.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StateRecord {
    producer_id: i64,
    producer_epoch: i16,
    phase: Phase,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    partitions: Vec<StatePartition>,
    /// In a commit decision: the offsets it commits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    offsets: Vec<StateOffsets>,
}

impl StateRecord {
    /// The offsets a commit decision commits, in the order of their records.
    fn offsets_to_commit(
        &self,
    ) -> impl Iterator<Item = (&str, TopicPartition, OffsetAndMetadata)> + Clone {
        self.offsets.iter().flat_map(|g| {
            let plain = g.offsets.iter().map(|(topic, p, o)| {
                (
                    g.group_id.as_str(),
                    TopicPartition::new(topic.clone(), *p),
                    OffsetAndMetadata::new(*o),
                )
            });
            let tagged = g.tagged.iter().map(|t| {
                (
                    g.group_id.as_str(),
                    TopicPartition::new(t.topic.clone(), t.partition),
                    OffsetAndMetadata::with_metadata(t.offset, t.metadata.clone())
                        .with_leader_epoch(t.leader_epoch),
                )
            });
            plain.chain(tagged)
        })
    }
}

/// The first byte of an offset record's key: never the first byte of UTF-8 text, so offset
/// keys and transactional ids (the keys of state records) cannot collide.
const OFFSET_KEY_TAG: u8 = 0xFF;

/// An offset a committed transaction set: the record keyed by group and partition (see
/// [`offset_key`]), written in the same batch as the transaction's `complete_commit`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OffsetRecord {
    offset: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    metadata: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    leader_epoch: Option<i32>,
}

impl OffsetRecord {
    fn of(committed: &OffsetAndMetadata) -> Self {
        Self {
            offset: committed.offset,
            metadata: committed.metadata.clone(),
            leader_epoch: committed.leader_epoch,
        }
    }

    fn committed(self) -> OffsetAndMetadata {
        OffsetAndMetadata::with_metadata(self.offset, self.metadata)
            .with_leader_epoch(self.leader_epoch)
    }
}

/// The key of the offset records of `group_id` for `tp`.
fn offset_key(group_id: &str, tp: &TopicPartition) -> Vec<u8> {
    let mut key = vec![OFFSET_KEY_TAG];
    // A JSON array of strings and a number is unambiguous whatever the names hold.
    let names = serde_json::json!([group_id, tp.topic, tp.partition]);
    key.extend_from_slice(names.to_string().as_bytes());
    key
}

/// The group and partition an offset key names.
fn parse_offset_key(key: &[u8]) -> Option<(String, TopicPartition)> {
    let names = key.strip_prefix(&[OFFSET_KEY_TAG])?;
    let (group_id, topic, partition): (String, String, u32) = serde_json::from_slice(names).ok()?;
    Some((group_id, TopicPartition::new(topic, partition)))
}

/// What the state topic holds, read back at open: each transactional id's latest state, and
/// each group partition's latest committed offset with its record's offset in the topic.
#[derive(Debug, Default)]
struct States {
    latest: HashMap<String, StateRecord>,
    /// `None` for a tombstone: the partition's topic was deleted.
    offsets: HashMap<(String, TopicPartition), (u64, Option<OffsetRecord>)>,
}

/// A transaction open in memory.
#[derive(Debug)]
pub(crate) struct OpenTxn {
    started: Instant,
    /// Each partition written, with the high watermark before the first record.
    partitions: BTreeMap<TopicPartition, u64>,
    /// Offsets to commit, per group.
    offsets: BTreeMap<String, (GroupMetadata, BTreeMap<TopicPartition, OffsetAndMetadata>)>,
    /// Whether the commit was decided: from then on the transaction can only be committed
    /// (a failed completion is retried, or finished by recovery at the next open).
    decided: bool,
}

impl OpenTxn {
    /// Whether `tp` was added to the transaction.
    pub(crate) fn has_partition(&self, tp: &TopicPartition) -> bool {
        self.partitions.contains_key(tp)
    }

    /// Whether the commit was decided.
    pub(crate) fn is_decided(&self) -> bool {
        self.decided
    }

    /// The partitions written, in order.
    pub(crate) fn partitions(&self) -> impl Iterator<Item = &TopicPartition> {
        self.partitions.keys()
    }

    /// How long ago it began.
    pub(crate) fn age(&self) -> Duration {
        self.started.elapsed()
    }

    /// Whether the commit marker is the commit point: the transaction wrote one partition
    /// and commits no offsets, so an fsync of that partition alone makes it durable.
    fn commits_by_marker(&self) -> bool {
        self.partitions.len() == 1 && !self.has_offsets()
    }

    /// The partitions whose offsets the transaction would commit for `group_id`.
    fn offsets_of(&self, group_id: &str) -> impl Iterator<Item = &TopicPartition> {
        self.offsets
            .get(group_id)
            .into_iter()
            .flat_map(|(_, o)| o.keys())
    }

    /// Whether the transaction commits any offsets.
    pub(crate) fn has_offsets(&self) -> bool {
        self.offsets.values().any(|(_, o)| !o.is_empty())
    }

    /// The offsets to commit: group, partition, offset.
    fn offsets_to_commit(
        &self,
    ) -> impl Iterator<Item = (&str, TopicPartition, OffsetAndMetadata)> + Clone {
        self.offsets.iter().flat_map(|(group_id, (_, o))| {
            o.iter()
                .map(move |(tp, offset)| (group_id.as_str(), tp.clone(), offset.clone()))
        })
    }
}

/// A transactional id's producer id, epoch and open transaction.
#[derive(Debug)]
pub(crate) struct TxnEntry {
    id: String,
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    pub(crate) open: Option<OpenTxn>,
    /// How its last transaction ended, until its next producer registers (Kafka's
    /// `CompleteCommit` and `CompleteAbort` states).
    pub(crate) completed: Option<ControlType>,
    /// When its last transaction began (ms since the epoch), since the broker opened.
    pub(crate) last_start_ms: Option<i64>,
    /// Its counters (empty without the `metrics` feature).
    metrics: TxnMetrics,
}

impl TxnEntry {
    /// The transactional id.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn origin(&self) -> Origin {
        Origin::transactional(self.producer_id, self.epoch)
    }

    fn record(&self, phase: Phase, open: Option<&OpenTxn>) -> StateRecord {
        let partitions = open
            .map(|o| {
                o.partitions
                    .iter()
                    .map(|(tp, start)| StatePartition {
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                        start: *start,
                        end: None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let offsets = open
            .filter(|_| phase == Phase::PrepareCommit)
            .map(|o| {
                o.offsets
                    .iter()
                    .map(|(group_id, (_, offsets))| {
                        let (plain, tagged): (Vec<_>, Vec<_>) = offsets
                            .iter()
                            .partition(|(_, o)| o.metadata.is_empty() && o.leader_epoch.is_none());
                        StateOffsets {
                            group_id: group_id.clone(),
                            offsets: plain
                                .into_iter()
                                .map(|(tp, o)| (tp.topic.clone(), tp.partition, o.offset))
                                .collect(),
                            tagged: tagged
                                .into_iter()
                                .map(|(tp, o)| TaggedOffset {
                                    topic: tp.topic.clone(),
                                    partition: tp.partition,
                                    offset: o.offset,
                                    metadata: o.metadata.clone(),
                                    leader_epoch: o.leader_epoch,
                                })
                                .collect(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        StateRecord {
            producer_id: self.producer_id,
            producer_epoch: self.epoch,
            phase,
            partitions,
            offsets,
        }
    }
}

/// Every transactional id of a broker.
#[derive(Debug, Default)]
pub(crate) struct TxnCoordinator {
    ids: Mutex<HashMap<String, Arc<Mutex<TxnEntry>>>>,
    next_producer_id: AtomicI64,
    /// Commits deciding at once share their fsyncs.
    decisions: GroupCommit,
}

impl TxnCoordinator {
    /// Reads `__transaction_state` (if it exists) and finishes every transaction a crash
    /// left unfinished; called by `Broker::open` before anything else can write.
    pub(crate) fn recover(&self, inner: &Inner) -> Result<()> {
        let mut states = States::default();
        if let Ok(topic) = inner.existing_topic(STATE_TOPIC) {
            read_states(topic.partition(0)?, &mut states)?;
        }
        let mut max_producer_id = -1;
        let mut ids = self.ids.lock();
        for (id, state) in states.latest {
            max_producer_id = max_producer_id.max(state.producer_id);
            let mut entry = TxnEntry {
                id: id.clone(),
                producer_id: state.producer_id,
                epoch: state.producer_epoch,
                open: None,
                completed: None,
                last_start_ms: None,
                metrics: TxnMetrics::new(&id),
            };
            let ending = match state.phase {
                Phase::Ongoing | Phase::PrepareAbort => Some(ControlType::Abort),
                Phase::PrepareCommit => Some(ControlType::Commit),
                Phase::CompleteCommit => {
                    entry.completed = Some(ControlType::Commit);
                    None
                }
                Phase::CompleteAbort => {
                    entry.completed = Some(ControlType::Abort);
                    None
                }
                Phase::Empty => None,
            };
            if let Some(kind) = ending {
                entry.completed = Some(finish_recovered(inner, &entry, &state, kind)?);
            }
            ids.insert(id, Arc::new(Mutex::new(entry)));
        }
        drop(ids);
        apply_offsets(inner, states.offsets)?;
        // Records of transactions the state lost (a machine crash before it reached the
        // disk, while the records did): their partitions' logs show them open. Abort them.
        for topic in inner.all_topics() {
            for log in topic.partitions() {
                for open in log.open_transactions() {
                    max_producer_id = max_producer_id.max(open.producer_id);
                    let origin = Origin::transactional(open.producer_id, open.epoch);
                    let marker = ControlRecord {
                        kind: ControlType::Abort,
                        coordinator_epoch: 0,
                    };
                    log.append_control(origin, marker, open.first_offset, now_ms())?;
                    tracing::warn!(
                        topic = %topic.name(),
                        partition = log.partition(),
                        producer_id = open.producer_id,
                        first_offset = open.first_offset,
                        "aborted a transaction the coordinator's state had lost"
                    );
                }
            }
        }
        self.next_producer_id
            .store(max_producer_id + 1, Ordering::Relaxed);
        Ok(())
    }

    /// The partitions for which open transactions hold offsets of `group_id`, sorted: their
    /// committed offsets may change when those transactions end (Kafka's pending
    /// transactional offsets). A transaction being committed or aborted is waited for, so
    /// that it is seen either open or ended.
    pub(crate) fn pending_offsets(&self, group_id: &str) -> Vec<TopicPartition> {
        let mut pending: Vec<TopicPartition> = self
            .entries()
            .iter()
            .flat_map(|entry| {
                let entry = entry.lock();
                entry
                    .open
                    .as_ref()
                    .map(|o| o.offsets_of(group_id).cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            })
            .collect();
        pending.sort_unstable();
        pending.dedup();
        pending
    }

    /// Every transactional id's entry.
    pub(crate) fn entries(&self) -> Vec<Arc<Mutex<TxnEntry>>> {
        self.ids.lock().values().map(Arc::clone).collect()
    }

    /// A producer id from the allocator transactional ids take theirs from, at least
    /// `at_least` (ids the partitions have seen in use since): for an idempotent producer
    /// without a transactional id (`Broker::init_producer_id`).
    pub(crate) fn allocate_producer_id(&self, at_least: i64) -> i64 {
        self.next_producer_id.fetch_max(at_least, Ordering::Relaxed);
        self.next_producer_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The entry of a new producer for `id`: any earlier producer with the id is fenced (its
    /// epoch is bumped) and the transaction it left open is aborted.
    pub(crate) fn register(&self, inner: &Inner, id: &str) -> Result<Arc<Mutex<TxnEntry>>> {
        let entry = {
            let mut ids = self.ids.lock();
            Arc::clone(ids.entry(id.to_string()).or_insert_with(|| {
                Arc::new(Mutex::new(TxnEntry {
                    id: id.to_string(),
                    producer_id: self.next_producer_id.fetch_add(1, Ordering::Relaxed),
                    // Bumped to 0 below.
                    epoch: -1,
                    open: None,
                    completed: None,
                    last_start_ms: None,
                    metrics: TxnMetrics::new(id),
                }))
            }))
        };
        {
            let mut e = entry.lock();
            if e.open.is_some() {
                abort(inner, &mut e)?;
            }
            if e.epoch == i16::MAX {
                // Epochs ran out: a new producer id starts again at 0.
                e.producer_id = self.next_producer_id.fetch_add(1, Ordering::Relaxed);
                e.epoch = 0;
            } else {
                e.epoch += 1;
            }
            // A new producer starts Empty, as in Kafka.
            e.completed = None;
            write_state(inner, &e.id, &e.record(Phase::Empty, None), false)?;
        }
        Ok(entry)
    }

    /// Aborts every transaction open longer than `timeout` and fences its producer.
    pub(crate) fn expire(&self, inner: &Inner, timeout: Duration) {
        let entries: Vec<Arc<Mutex<TxnEntry>>> = self.ids.lock().values().cloned().collect();
        let now = Instant::now();
        for entry in entries {
            // A producer busy with its entry is not idle; it is looked at next round.
            let Some(mut e) = entry.try_lock() else {
                continue;
            };
            let expired = e.open.as_ref().is_some_and(|o| {
                !o.is_decided() && now.saturating_duration_since(o.started) >= timeout
            });
            if !expired {
                continue;
            }
            let result = abort(inner, &mut e).and_then(|()| {
                // The producer's next call finds another epoch: fenced, as in Kafka.
                e.epoch = e.epoch.saturating_add(1);
                write_state(inner, &e.id, &e.record(Phase::CompleteAbort, None), false).map(|_| ())
            });
            match result {
                Ok(()) => tracing::warn!(
                    transactional_id = %e.id,
                    timeout_ms = timeout.as_millis(),
                    "aborted a transaction open longer than transaction_timeout; its producer is fenced"
                ),
                Err(error) => tracing::warn!(
                    transactional_id = %e.id,
                    error = &error as &dyn std::error::Error,
                    "could not abort a timed-out transaction; retried at the next maintenance round"
                ),
            }
        }
    }
}

/// Reads every record of the state topic's log: the latest state per id, the latest offset
/// record (and its offset in the topic) per group partition.
fn read_states(log: &PartitionLog, states: &mut States) -> Result<()> {
    log.read_batches(log.log_start_offset(), |batch| {
        let bytes = batch.bytes();
        for record in batch.records()? {
            let record = record?;
            let field = |r: Option<std::ops::Range<usize>>| r.and_then(|r| bytes.get(r));
            let Some(key) = field(record.key) else {
                continue;
            };
            let value = field(record.value);
            let decode_error = |source| Error::Serde {
                context: format!("{STATE_TOPIC}-0@{}", record.offset),
                source,
            };
            if let Some(group_partition) = parse_offset_key(key) {
                let value = value
                    .map(serde_json::from_slice::<OffsetRecord>)
                    .transpose()
                    .map_err(decode_error)?;
                states
                    .offsets
                    .insert(group_partition, (record.offset, value));
            } else if let Some(value) = value {
                let id = String::from_utf8_lossy(key).into_owned();
                let state: StateRecord = serde_json::from_slice(value).map_err(decode_error)?;
                states.latest.insert(id, state);
            }
        }
        Ok(ControlFlow::Continue(()))
    })
}

/// In a directory opened read-only, applies the offsets the writer's transactions committed
/// (their records in the state topic, written with each commit's completion) to the groups'
/// stores, in memory; each store keeps a later plain commit where it has one.
///
/// # Errors
/// [`Error::Io`] or [`Error::Corrupt`] if the state topic cannot be read, [`Error::Serde`]
/// for a record in it that does not decode.
pub(crate) fn follow_offsets(inner: &Inner) -> Result<()> {
    let Ok(topic) = inner.existing_topic(STATE_TOPIC) else {
        return Ok(());
    };
    let log = topic.partition(0)?;
    log.refresh(false)?;
    let mut states = States::default();
    read_states(log, &mut states)?;
    for ((group_id, tp), (at, record)) in states.offsets {
        if let Some(record) = record {
            inner
                .offsets()
                .apply_transaction(&group_id, &[(tp, record.committed(), at)]);
        }
    }
    Ok(())
}

/// Applies the offsets committed by transactions, read back at open, to the groups'
/// stores, which keep a later commit where a group has one. Offsets of a topic deleted by a
/// delete the crash interrupted are tombstoned.
fn apply_offsets(
    inner: &Inner,
    offsets: HashMap<(String, TopicPartition), (u64, Option<OffsetRecord>)>,
) -> Result<()> {
    let mut by_group: BTreeMap<String, Vec<(TopicPartition, OffsetAndMetadata, u64)>> =
        BTreeMap::new();
    let mut orphans = Vec::new();
    for ((group_id, tp), (at, record)) in offsets {
        let Some(record) = record else {
            continue;
        };
        if inner.existing_topic(&tp.topic).is_err() {
            orphans.push(offset_key(&group_id, &tp));
            continue;
        }
        by_group
            .entry(group_id)
            .or_default()
            .push((tp, record.committed(), at));
    }
    for (group_id, offsets) in by_group {
        inner.offsets().apply_transaction(&group_id, &offsets);
    }
    if !orphans.is_empty() {
        append_states(inner, orphans.into_iter().map(|k| (k, None)), false)?;
    }
    Ok(())
}

/// Tombstones every transactional offset committed for `topic`, which was deleted: a new
/// topic of the same name starts with no committed offsets.
pub(crate) fn forget_topic(inner: &Inner, topic: &str) -> Result<()> {
    if inner.existing_topic(STATE_TOPIC).is_err() {
        return Ok(());
    }
    let offsets = inner.offsets();
    let keys: Vec<Vec<u8>> = offsets
        .groups()
        .into_iter()
        .flat_map(|group_id| {
            offsets
                .all(&group_id)
                .into_keys()
                .filter(|tp| tp.topic == topic)
                .map(|tp| offset_key(&group_id, &tp))
                .collect::<Vec<_>>()
        })
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    append_states(inner, keys.into_iter().map(|k| (k, None)), true)?;
    Ok(())
}

/// Ends a transaction that recovery found unfinished; returns how it ended.
fn finish_recovered(
    inner: &Inner,
    entry: &TxnEntry,
    state: &StateRecord,
    kind: ControlType,
) -> Result<ControlType> {
    let origin = entry.origin();
    let now = now_ms();
    let lost = |p: &StatePartition| {
        partition_log(inner, &p.topic, p.partition)
            .zip(p.end)
            .is_some_and(|(log, end)| log.high_watermark() < end)
    };
    let kind = if kind == ControlType::Commit && state.partitions.iter().any(lost) {
        // The machine stopped before the records' fsync ended: the commit never returned.
        tracing::warn!(
            transactional_id = %entry.id,
            "a commit decision whose records did not all reach the disk: aborted"
        );
        ControlType::Abort
    } else {
        kind
    };
    for p in &state.partitions {
        let Some(log) = partition_log(inner, &p.topic, p.partition) else {
            continue;
        };
        if log.find_marker(origin.producer_id, p.start)?.is_none() {
            let marker = ControlRecord {
                kind,
                coordinator_epoch: 0,
            };
            log.append_control(origin, marker, p.start, now)?;
        }
    }
    write_completed(inner, entry, kind, state.offsets_to_commit(), true)?;
    entry.metrics.ended(kind == ControlType::Commit);
    tracing::info!(
        transactional_id = %entry.id,
        committed = kind == ControlType::Commit,
        partitions = state.partitions.len(),
        "finished a transaction a crash interrupted"
    );
    Ok(kind)
}

/// The log of a partition, if its topic still exists.
fn partition_log(inner: &Inner, topic: &str, partition: u32) -> Option<Arc<PartitionLog>> {
    let topic = inner.existing_topic(topic).ok()?;
    topic.partition(partition).ok().map(Arc::clone)
}

/// Appends a state record for `id`; with `sync`, returns once it is on stable storage.
/// Returns its offset.
fn write_state(inner: &Inner, id: &str, record: &StateRecord, sync: bool) -> Result<u64> {
    let value = state_json(id, record)?;
    append_states(inner, [(id.as_bytes().to_vec(), Some(value))], sync)
}

/// A record's value for the state topic, as JSON.
fn state_json(id: &str, value: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|source| Error::Serde {
        context: format!("the state of transactional id {id:?}"),
        source,
    })
}

/// Writes the completed state of `entry`'s transaction, ended with `kind`: for a commit,
/// with a record of each offset it commits (see [`complete_commit`]).
fn write_completed<'a>(
    inner: &Inner,
    entry: &TxnEntry,
    kind: ControlType,
    offsets: impl Iterator<Item = (&'a str, TopicPartition, OffsetAndMetadata)> + Clone,
    sync: bool,
) -> Result<()> {
    let completed = entry.record(Phase::completed(kind), None);
    match kind {
        ControlType::Commit => complete_commit(inner, &entry.id, &completed, offsets, sync),
        ControlType::Abort => write_state(inner, &entry.id, &completed, sync).map(|_| ()),
    }
}

/// Appends `completed` (`complete_commit`) for `id` and, in the same batch, a record for
/// each offset the transaction commits; then applies the offsets to the groups' stores,
/// each marked with its record's offset in the topic (the stores keep a later commit).
fn complete_commit<'a>(
    inner: &Inner,
    id: &str,
    completed: &StateRecord,
    offsets: impl Iterator<Item = (&'a str, TopicPartition, OffsetAndMetadata)> + Clone,
    sync: bool,
) -> Result<()> {
    let mut records = vec![(id.as_bytes().to_vec(), Some(state_json(id, completed)?))];
    for (group_id, tp, offset) in offsets.clone() {
        let value = state_json(id, &OffsetRecord::of(&offset))?;
        records.push((offset_key(group_id, &tp), Some(value)));
    }
    let mut at = append_states(inner, records, sync)?;
    for (group_id, tp, offset) in offsets {
        at += 1;
        let applied = [(tp, offset, at)];
        inner.offsets().apply_transaction(group_id, &applied);
        inner.report_lag(group_id, applied.iter().map(|(tp, ..)| tp), true);
    }
    Ok(())
}

/// Appends records (key, value or tombstone) to the state topic in one batch; with `sync`,
/// returns once they are on stable storage. Returns the first one's offset.
fn append_states(
    inner: &Inner,
    records: impl IntoIterator<Item = (Vec<u8>, Option<Vec<u8>>)>,
    sync: bool,
) -> Result<u64> {
    let log = state_log(inner)?;
    let records: Vec<(Vec<u8>, Option<Vec<u8>>)> = records.into_iter().collect();
    let now = now_ms();
    let entries = records.iter().map(|(key, value)| Entry {
        timestamp: now,
        key: Some(key),
        value: value.as_deref(),
        headers: &[],
    });
    let offset = log.append(entries, Origin::NONE, now)?;
    if sync {
        log.sync_to(offset + records.len() as u64)?;
    }
    Ok(offset)
}

/// The log of the state topic, created on first use.
fn state_log(inner: &Inner) -> Result<Arc<PartitionLog>> {
    let config = TopicConfig::default()
        .cleanup_policy(CleanupPolicy::Compact)
        .segment_bytes(1 << 20)
        .retention_ms(-1);
    let topic = inner.internal_topic(STATE_TOPIC, config)?;
    topic.partition(0).map(Arc::clone)
}

/// Registers `tp` with the open transaction before its first record goes there.
pub(crate) fn add_partition(
    inner: &Inner,
    entry: &mut TxnEntry,
    tp: &TopicPartition,
    log: &PartitionLog,
) -> Result<()> {
    let Some(open) = entry.open.as_mut() else {
        return Err(Error::TransactionState("no transaction is open".into()));
    };
    if open.partitions.contains_key(tp) {
        return Ok(());
    }
    open.partitions.insert(tp.clone(), log.high_watermark());
    let record = entry.record(Phase::Ongoing, entry.open.as_ref());
    if let Err(e) = write_state(inner, &entry.id, &record, false) {
        if let Some(open) = entry.open.as_mut() {
            open.partitions.remove(tp);
        }
        return Err(e);
    }
    Ok(())
}

/// Opens a transaction.
pub(crate) fn begin(entry: &mut TxnEntry) -> Result<()> {
    if entry.open.is_some() {
        return Err(Error::TransactionState(format!(
            "transactional id {:?}: a transaction is already open",
            entry.id
        )));
    }
    entry.open = Some(OpenTxn {
        started: Instant::now(),
        partitions: BTreeMap::new(),
        offsets: BTreeMap::new(),
        decided: false,
    });
    Ok(())
}

/// Checks that `group` may still commit: the member holds the group's current generation.
/// A consumer without membership (manual assignment) commits as the Java client's
/// standalone consumers do, unchecked.
fn check_group(inner: &Inner, group: &GroupMetadata) -> Result<()> {
    if group.member_id.is_empty() && group.generation == 0 {
        return Ok(());
    }
    let reason = match inner.coordinator().existing(&group.group_id) {
        Some(g) => g.check_generation(&group.member_id, group.generation).err(),
        None => Some("the group has no members".to_string()),
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(Error::CommitFailed {
            group_id: group.group_id.clone(),
            reason,
        }),
    }
}

/// Adds offsets to commit with the open transaction; a stale group fails at once and
/// aborts the transaction.
pub(crate) fn add_offsets(
    inner: &Inner,
    entry: &mut TxnEntry,
    offsets: &[(TopicPartition, OffsetAndMetadata)],
    group: &GroupMetadata,
) -> Result<()> {
    if entry.open.is_none() {
        return Err(Error::TransactionState(format!(
            "transactional id {:?}: send_offsets_to_transaction needs an open transaction",
            entry.id
        )));
    }
    if let Err(e) = check_group(inner, group) {
        abort(inner, entry)?;
        return Err(e);
    }
    if let Some(open) = entry.open.as_mut() {
        let (meta, pending) = open
            .offsets
            .entry(group.group_id.clone())
            .or_insert_with(|| (group.clone(), BTreeMap::new()));
        *meta = group.clone();
        pending.extend(offsets.iter().cloned());
    }
    Ok(())
}

/// Commits the open transaction: returns once the commit is on stable storage.
pub(crate) fn commit(inner: &Inner, entry: &mut TxnEntry) -> Result<()> {
    let Some(open) = entry.open.as_ref() else {
        return Err(Error::TransactionState(format!(
            "transactional id {:?}: no transaction to commit",
            entry.id
        )));
    };
    // Once decided (by this call, or by an earlier one that then failed), the transaction
    // can only be committed: the decision may be on disk, and recovery would commit it.
    if !open.decided {
        if open.partitions.is_empty() && !open.has_offsets() {
            // Nothing was written: nothing to make durable.
            entry.open = None;
            return Ok(());
        }
        let stale = open
            .offsets
            .values()
            .find_map(|(group, _)| check_group(inner, group).err());
        if let Some(e) = stale {
            abort(inner, entry)?;
            return Err(e);
        }
        decide(inner, entry)?;
    }
    let Some(open) = entry.open.as_ref() else {
        return Ok(());
    };
    // Records and decision reach the disk in one round of the group commit (should the
    // machine stop with the decision on disk and records not, recovery finds them missing
    // and aborts: the commit had not returned). A commit whose marker is its commit point
    // syncs its one partition after the marker instead (in `end`).
    if !open.commits_by_marker() {
        let records: Vec<_> = open
            .partitions
            .keys()
            .filter_map(|tp| partition_log(inner, &tp.topic, tp.partition))
            .map(|log| {
                let end = log.high_watermark();
                (log, end)
            })
            .collect();
        let state = state_log(inner)?;
        let decision = state.high_watermark();
        inner
            .transactions()
            .decisions
            .sync(&records, &(state, decision))?;
    }
    end(inner, entry, ControlType::Commit)
}

/// Writes the commit decision, naming each partition's high watermark (the transaction's
/// records there lie below it), and marks the transaction decided.
fn decide(inner: &Inner, entry: &mut TxnEntry) -> Result<()> {
    let mut decision = entry.record(Phase::PrepareCommit, entry.open.as_ref());
    for p in &mut decision.partitions {
        p.end = partition_log(inner, &p.topic, p.partition).map(|log| log.high_watermark());
    }
    write_state(inner, &entry.id, &decision, false)?;
    if let Some(open) = entry.open.as_mut() {
        open.decided = true;
    }
    Ok(())
}

/// Aborts the open transaction.
pub(crate) fn abort(inner: &Inner, entry: &mut TxnEntry) -> Result<()> {
    let Some(open) = entry.open.as_ref() else {
        return Err(Error::TransactionState(format!(
            "transactional id {:?}: no transaction to abort",
            entry.id
        )));
    };
    if open.is_decided() {
        return Err(Error::TransactionState(format!(
            "transactional id {:?}: the commit was decided and cannot be aborted; retry commit_transaction",
            entry.id
        )));
    }
    if !open.partitions.is_empty() {
        write_state(
            inner,
            &entry.id,
            &entry.record(Phase::PrepareAbort, Some(open)),
            false,
        )?;
    }
    end(inner, entry, ControlType::Abort)
}

/// Writes the markers, then the completed state (and a commit's offsets); the transaction
/// is closed. A commit comes here decided.
fn end(inner: &Inner, entry: &mut TxnEntry, kind: ControlType) -> Result<()> {
    let origin = entry.origin();
    let Some(open) = entry.open.as_ref() else {
        return Ok(());
    };
    let now = now_ms();
    let marker = ControlRecord {
        kind,
        coordinator_epoch: 0,
    };
    let sync_markers = kind == ControlType::Commit && open.commits_by_marker();
    for (tp, start) in &open.partitions {
        let Some(log) = partition_log(inner, &tp.topic, tp.partition) else {
            continue;
        };
        // Only where the transaction has records and no marker yet, so that finishing a
        // commit again after a failure writes each marker once.
        if log.transaction_open(origin.producer_id) {
            log.append_control(origin, marker, *start, now)?;
        }
        if sync_markers {
            log.sync_to(log.high_watermark())?;
        }
    }
    if kind == ControlType::Commit || !open.partitions.is_empty() {
        write_completed(inner, entry, kind, open.offsets_to_commit(), false)?;
    }
    let age = i64::try_from(open.age().as_millis()).unwrap_or(i64::MAX);
    entry.last_start_ms = Some(now.saturating_sub(age));
    entry.open = None;
    entry.completed = Some(kind);
    entry.metrics.ended(kind == ControlType::Commit);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A commit decision and an offset record as written before offsets carried metadata
    /// and leader epochs still decode, as offsets with none; new ones carry them.
    #[test]
    fn decisions_and_offset_records_from_before_metadata_decode() -> Result<()> {
        let decode = |json: &str| -> Result<StateRecord> {
            serde_json::from_str(json).map_err(|source| Error::Serde {
                context: "a decision".into(),
                source,
            })
        };
        let old = decode(
            r#"{"producer_id":3,"producer_epoch":0,"phase":"prepare_commit",
                "offsets":[{"group_id":"g","offsets":[["in",0,7]]}]}"#,
        )?;
        let committed: Vec<_> = old.offsets_to_commit().collect();
        assert_eq!(
            committed,
            [("g", TopicPartition::new("in", 0), OffsetAndMetadata::new(7))]
        );
        let record: OffsetRecord =
            serde_json::from_str(r#"{"offset":7}"#).map_err(|source| Error::Serde {
                context: "an offset record".into(),
                source,
            })?;
        assert_eq!(record.committed(), OffsetAndMetadata::new(7));

        let new = decode(
            r#"{"producer_id":3,"producer_epoch":0,"phase":"prepare_commit",
                "offsets":[{"group_id":"g","offsets":[["in",0,7]],
                "tagged":[{"topic":"in","partition":1,"offset":9,"metadata":"m","leader_epoch":2}]}]}"#,
        )?;
        let tagged = new.offsets_to_commit().nth(1).map(|(_, tp, o)| (tp, o));
        assert_eq!(
            tagged,
            Some((
                TopicPartition::new("in", 1),
                OffsetAndMetadata::with_metadata(9, "m").with_leader_epoch(Some(2))
            ))
        );
        Ok(())
    }
}
