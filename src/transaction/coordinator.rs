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
//! 2. To commit: the partitions' records are fsynced, then `prepare_commit` (the partitions
//!    with their high watermarks, and the offsets to commit) is written and fsynced. This is
//!    the commit point. Recovery also checks that every partition holds its records up to
//!    the high watermark named, and aborts a decision whose records are not all there.
//! 3. A commit marker goes to every partition, the offsets to the group's store, and
//!    `complete_commit` to the topic. An abort writes `prepare_abort`, abort markers and
//!    `complete_abort`.
//!
//! `Broker::open` reads the topic and finishes what a crash interrupted: a transaction at
//! `prepare_commit` is committed (markers written where missing, offsets applied unless the
//! group already holds them or later ones), one `ongoing` or at `prepare_abort` is aborted.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::broker::{now_ms, Inner};
use crate::config::{CleanupPolicy, TopicConfig};
use crate::error::{Error, Result};
use crate::group::GroupMetadata;
use crate::log::PartitionLog;
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
    offsets: Vec<(String, u32, u64)>,
}

/// One record of `__transaction_state`, keyed by transactional id.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StateRecord {
    producer_id: i64,
    producer_epoch: i16,
    phase: Phase,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    partitions: Vec<StatePartition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    offsets: Vec<StateOffsets>,
}

/// A transaction open in memory.
#[derive(Debug)]
pub(crate) struct OpenTxn {
    started: Instant,
    /// Each partition written, with the high watermark before the first record.
    partitions: BTreeMap<TopicPartition, u64>,
    /// Offsets to commit, per group.
    offsets: BTreeMap<String, (GroupMetadata, BTreeMap<TopicPartition, u64>)>,
    /// Where the commit decision is in the state topic, once taken: from then on the
    /// transaction can only be committed (a failed completion is retried, or finished by
    /// recovery at the next open).
    decided_at: Option<u64>,
}

impl OpenTxn {
    /// Whether the commit was decided.
    pub(crate) fn is_decided(&self) -> bool {
        self.decided_at.is_some()
    }
}

/// A transactional id's producer id, epoch and open transaction.
#[derive(Debug)]
pub(crate) struct TxnEntry {
    id: String,
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    pub(crate) open: Option<OpenTxn>,
}

impl TxnEntry {
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
                    .map(|(group_id, (_, offsets))| StateOffsets {
                        group_id: group_id.clone(),
                        offsets: offsets
                            .iter()
                            .map(|(tp, o)| (tp.topic.clone(), tp.partition, *o))
                            .collect(),
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
}

impl TxnCoordinator {
    /// Reads `__transaction_state` (if it exists) and finishes every transaction a crash
    /// left unfinished; called by `Broker::open` before anything else can write.
    pub(crate) fn recover(&self, inner: &Inner) -> Result<()> {
        let mut latest: HashMap<String, (u64, StateRecord)> = HashMap::new();
        if let Ok(topic) = inner.existing_topic(STATE_TOPIC) {
            read_states(topic.partition(0)?, &mut latest)?;
        }
        let mut max_producer_id = -1;
        let mut ids = self.ids.lock();
        for (id, (offset, state)) in latest {
            max_producer_id = max_producer_id.max(state.producer_id);
            let entry = TxnEntry {
                id: id.clone(),
                producer_id: state.producer_id,
                epoch: state.producer_epoch,
                open: None,
            };
            let ending = match state.phase {
                Phase::Ongoing | Phase::PrepareAbort => Some(ControlType::Abort),
                Phase::PrepareCommit => Some(ControlType::Commit),
                Phase::Empty | Phase::CompleteCommit | Phase::CompleteAbort => None,
            };
            if let Some(kind) = ending {
                finish_recovered(inner, &entry, &state, offset, kind)?;
            }
            ids.insert(id, Arc::new(Mutex::new(entry)));
        }
        drop(ids);
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
                write_state(inner, &e.id, &e.record(Phase::Empty, None), false).map(|_| ())
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

/// Reads every state record of the state topic's log: the latest (and its offset) per id.
fn read_states(log: &PartitionLog, latest: &mut HashMap<String, (u64, StateRecord)>) -> Result<()> {
    log.read_batches(log.log_start_offset(), |batch| {
        let bytes = batch.bytes();
        for record in batch.records()? {
            let record = record?;
            let field = |r: Option<std::ops::Range<usize>>| r.and_then(|r| bytes.get(r));
            let (Some(key), Some(value)) = (field(record.key), field(record.value)) else {
                continue;
            };
            let id = String::from_utf8_lossy(key).into_owned();
            let state: StateRecord =
                serde_json::from_slice(value).map_err(|source| Error::Serde {
                    context: format!("{STATE_TOPIC}-0@{}", record.offset),
                    source,
                })?;
            latest.insert(id, (record.offset, state));
        }
        Ok(ControlFlow::Continue(()))
    })
}

/// Ends a transaction that recovery found unfinished.
fn finish_recovered(
    inner: &Inner,
    entry: &TxnEntry,
    state: &StateRecord,
    decided_at: u64,
    kind: ControlType,
) -> Result<()> {
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
    if kind == ControlType::Commit {
        for group in &state.offsets {
            let offsets: Vec<(TopicPartition, u64)> = group
                .offsets
                .iter()
                .map(|(t, p, o)| (TopicPartition::new(t.clone(), *p), *o))
                .collect();
            inner
                .offsets()
                .commit_transaction(&group.group_id, &offsets, decided_at)?;
        }
    }
    let phase = Phase::completed(kind);
    write_state(inner, &entry.id, &entry.record(phase, None), true)?;
    tracing::info!(
        transactional_id = %entry.id,
        committed = kind == ControlType::Commit,
        partitions = state.partitions.len(),
        "finished a transaction a crash interrupted"
    );
    Ok(())
}

/// The log of a partition, if its topic still exists.
fn partition_log(inner: &Inner, topic: &str, partition: u32) -> Option<Arc<PartitionLog>> {
    let topic = inner.existing_topic(topic).ok()?;
    topic.partition(partition).ok().map(Arc::clone)
}

/// Appends a state record for `id`; with `sync`, returns once it is on stable storage.
/// Returns its offset.
fn write_state(inner: &Inner, id: &str, record: &StateRecord, sync: bool) -> Result<u64> {
    let config = TopicConfig::default()
        .cleanup_policy(CleanupPolicy::Compact)
        .segment_bytes(1 << 20)
        .retention_ms(-1);
    let topic = inner.internal_topic(STATE_TOPIC, config)?;
    let log = topic.partition(0)?;
    let value = serde_json::to_vec(record).map_err(|source| Error::Serde {
        context: format!("the state of transactional id {id:?}"),
        source,
    })?;
    let now = now_ms();
    let entry = Entry {
        timestamp: now,
        key: Some(id.as_bytes()),
        value: Some(&value),
        headers: &[],
    };
    let offset = log.append(std::iter::once(entry), Origin::NONE, now)?;
    if sync {
        log.sync_to(offset + 1)?;
    }
    Ok(offset)
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
        decided_at: None,
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
    offsets: &[(TopicPartition, u64)],
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
    if let Some(decided_at) = open.decided_at {
        // An earlier attempt decided, then failed to finish: finish it.
        return end(inner, entry, ControlType::Commit, Some(decided_at));
    }
    let stale = open
        .offsets
        .values()
        .find_map(|(group, _)| check_group(inner, group).err());
    if let Some(e) = stale {
        abort(inner, entry)?;
        return Err(e);
    }
    // The records first, then the decision: a decision on stable storage names records that
    // are too. (Issued in parallel, the two fsyncs took longer here, the file system's
    // journal serializing them.) The decision also names each partition's high watermark,
    // so recovery can check the records are there.
    let mut decision = entry.record(Phase::PrepareCommit, Some(open));
    for p in &mut decision.partitions {
        if let Some(log) = partition_log(inner, &p.topic, p.partition) {
            let end = log.high_watermark();
            log.sync_to(end)?;
            p.end = Some(end);
        }
    }
    let decided_at = write_state(inner, &entry.id, &decision, true)?;
    if let Some(open) = entry.open.as_mut() {
        open.decided_at = Some(decided_at);
    }
    end(inner, entry, ControlType::Commit, Some(decided_at))
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
    end(inner, entry, ControlType::Abort, None)
}

/// Writes the markers (and, for a commit decided at `decided_at`, the offsets), then the
/// completed state; the transaction is closed.
fn end(
    inner: &Inner,
    entry: &mut TxnEntry,
    kind: ControlType,
    decided_at: Option<u64>,
) -> Result<()> {
    let origin = entry.origin();
    let Some(open) = entry.open.as_ref() else {
        return Ok(());
    };
    let now = now_ms();
    let marker = ControlRecord {
        kind,
        coordinator_epoch: 0,
    };
    for (tp, start) in &open.partitions {
        let Some(log) = partition_log(inner, &tp.topic, tp.partition) else {
            continue;
        };
        // Only where the transaction has records and no marker yet, so that finishing a
        // commit again after a failure writes each marker once.
        if log.transaction_open(origin.producer_id) {
            log.append_control(origin, marker, *start, now)?;
        }
    }
    if let Some(decided_at) = decided_at {
        for (group_id, (_, offsets)) in &open.offsets {
            let offsets: Vec<(TopicPartition, u64)> =
                offsets.iter().map(|(tp, o)| (tp.clone(), *o)).collect();
            inner
                .offsets()
                .commit_transaction(group_id, &offsets, decided_at)?;
        }
    }
    let written = !open.partitions.is_empty() || decided_at.is_some();
    entry.open = None;
    if written {
        let phase = Phase::completed(kind);
        write_state(inner, &entry.id, &entry.record(phase, None), false)?;
    }
    Ok(())
}
