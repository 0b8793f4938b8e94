//! A stream thread: one group member of the application that polls its partitions, runs
//! each record through its task, sends what the task emitted and commits.
//!
//! A task serves one partition number: the partitions of that number of every input
//! (sources and repartition topics), all of which the group gives to one member (the
//! threads' consumers use [`AssignmentStrategy::CoPartitioned`], even for inputs of
//! different partition counts), so that co-partitioned inputs meet in one task and no two
//! members run a task of the same number. Its stores live in the task and are backed by
//! partition `i` of each changelog.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::broker::Broker;
use crate::config::{AssignmentStrategy, ConsumerConfig, IsolationLevel, OffsetReset};
use crate::consumer::{Consumer, RebalanceListener, Revoked};
use crate::error::{Error, Result};
use crate::producer::Producer;
use crate::record::{ConsumerRecord, Record, TopicPartition};
use crate::transaction::TransactionalProducer;

use super::config::{ProcessingGuarantee, StreamsConfig};
use super::processor::SinkRecord;
use super::topology::{Task, Topology};

/// What the application's threads share with its [`Streams`](super::Streams) handle.
pub(crate) struct Shared {
    pub(crate) broker: Broker,
    pub(crate) topology: Topology,
    pub(crate) config: StreamsConfig,
    /// Source and repartition topics (full names): what each thread subscribes to.
    pub(crate) inputs: Vec<String>,
    /// The user's source topics, checked for deletion while running.
    pub(crate) sources: Vec<String>,
    /// Changelog topics (full names).
    pub(crate) changelogs: HashSet<Arc<str>>,
    /// Set by `close`, or by a thread that failed, to stop every thread.
    pub(crate) stop: AtomicBool,
    /// The first error of any thread, or of a partition stopped by an undecodable record.
    pub(crate) error: Mutex<Option<Error>>,
    /// Undecodable records skipped under `skip_undecodable`.
    pub(crate) skipped: AtomicU64,
    /// How many `wait_until_caught_up` calls are waiting: while one is, a thread whose
    /// poll came back empty (nothing left to read) commits at once rather than at the end
    /// of the commit interval, which the caller would otherwise wait out for nothing.
    pub(crate) waiting: AtomicUsize,
    /// Commits made by the threads, counted so that `wait_until_caught_up` sleeps until
    /// the next one (`progressed`) rather than polling.
    pub(crate) commits: Mutex<u64>,
    /// Signalled after every commit, and when a thread stops.
    pub(crate) progressed: Condvar,
    /// Records dropped by tasks this instance no longer runs (revoked at a rebalance, or
    /// dropped at close), so that `Streams::dropped_records` keeps counting them.
    pub(crate) dropped: AtomicU64,
}

impl Shared {
    /// Wakes the `wait_until_caught_up` callers: a thread committed, or stopped.
    pub(crate) fn progress(&self) {
        *self.commits.lock() += 1;
        self.progressed.notify_all();
    }

    /// Keeps `e` if it is the first error.
    pub(crate) fn fail(&self, e: Error) {
        let mut error = self.error.lock();
        if error.is_none() {
            *error = Some(e);
        }
    }

    fn exactly_once(&self) -> bool {
        self.config.guarantee == ProcessingGuarantee::ExactlyOnce
    }

    fn isolation(&self) -> IsolationLevel {
        if self.exactly_once() {
            IsolationLevel::ReadCommitted
        } else {
            IsolationLevel::ReadUncommitted
        }
    }
}

/// One task and, under `ExactlyOnce`, its transactional producer.
pub(crate) struct Slot {
    pub(crate) task: Task,
    producer: Option<TransactionalProducer>,
    in_transaction: bool,
    /// What the task emitted during this poll's records, per topic in first-seen order:
    /// sent as one batch per topic (`send_pending`) rather than a send per record, which
    /// cost a topic lookup and a one-record batch each.
    pending: Vec<(Arc<str>, Vec<Record>)>,
}

/// A thread's tasks, by partition number, and its progress; shared with its rebalance
/// listener and with `Streams::store`.
#[derive(Default)]
pub(crate) struct Tasks {
    pub(crate) slots: BTreeMap<u32, Slot>,
    /// The next offset to commit per input partition: what has been processed.
    done: HashMap<TopicPartition, u64>,
    /// What the last commit wrote, so that an idle thread does not commit again.
    committed: HashMap<TopicPartition, u64>,
    /// Partitions stopped at an undecodable record: nothing after it is processed.
    stopped: HashSet<TopicPartition>,
    /// The thread's member id and assignment after its last poll, sorted, for
    /// `wait_until_caught_up` to tell that the group is settled and the tasks are in place.
    pub(crate) member: Option<(String, Vec<TopicPartition>)>,
    /// Partitions assigned by the last rebalance, to be rewound to their committed offsets:
    /// a consumer keeps its position in a partition it is given back, but the task that
    /// had read up to there is gone (and under `ExactlyOnce`, its work was aborted).
    rewind: Vec<TopicPartition>,
}

/// A fresh task for partition `partition`, its stores restored from their changelogs.
///
/// Stream time is not in any changelog, and strom's committed offsets carry no metadata;
/// it is recovered as the largest timestamp of the restored changelog records, which is the
/// stream time at the last store write (every aggregate update is dated by its records).
fn restore(shared: &Shared, partition: u32) -> Result<Slot> {
    let app = &shared.config.application_id;
    let mut task = shared.topology.task(app)?;
    task.set_cache_max_bytes(shared.config.cache_max_bytes / shared.config.num_threads.max(1));
    let mut stream_time = -1_i64;
    let mut changelogs: Vec<&Arc<str>> = shared.changelogs.iter().collect();
    changelogs.sort();
    for changelog in changelogs {
        let described = shared.broker.describe_topic(changelog)?;
        let Some(part) = described.partitions.get(partition as usize) else {
            continue;
        };
        let end = if shared.exactly_once() {
            part.last_stable_offset
        } else {
            part.high_watermark
        };
        let tp = TopicPartition::new(&**changelog, partition);
        let mut consumer = shared.broker.consumer(
            ConsumerConfig::default()
                .auto_offset_reset(OffsetReset::Earliest)
                .isolation_level(shared.isolation())
                .max_poll_records(65_536),
        );
        consumer.assign(std::slice::from_ref(&tp))?;
        while consumer.position(&tp).is_some_and(|p| p < end) {
            let records = consumer.poll(Duration::from_millis(100))?;
            if records.is_empty() {
                // Nothing more is readable (the rest is an open or aborted transaction).
                break;
            }
            for record in &records {
                let Some(key) = record.key() else { continue };
                let value = (!record.is_tombstone()).then(|| record.value());
                task.restore(changelog, key, value, record.timestamp())?;
                stream_time = stream_time.max(record.timestamp());
            }
        }
    }
    task.resume_at(stream_time);
    let producer = if shared.exactly_once() {
        Some(
            shared
                .broker
                .transactional_producer(&transactional_id(shared, partition))?,
        )
    } else {
        None
    };
    Ok(Slot {
        task,
        producer,
        in_transaction: false,
        pending: Vec::new(),
    })
}

/// The transactional id of the task `partition`: derived from the application and the
/// task, so that a restarted instance's producer for the task fences the one it replaces.
/// One member at a time runs the task (the co-partitioned assignment keeps every input
/// partition of that number together), so no other producer has the id.
fn transactional_id(shared: &Shared, partition: u32) -> String {
    format!("{}-task-{partition}", shared.config.application_id)
}

/// Creates and restores the tasks of newly assigned partitions; on revoke, commits
/// (`AtLeastOnce`) or abandons the open transaction (`ExactlyOnce`: the next owner redoes
/// the work since the last commit) and drops the tasks.
struct Listener {
    shared: Arc<Shared>,
    tasks: Arc<Mutex<Tasks>>,
    producer: Producer,
}

impl RebalanceListener for Listener {
    fn on_partitions_revoked(&mut self, revoked: &mut Revoked<'_>) -> Result<()> {
        let mut tasks = self.tasks.lock();
        let gone: Vec<TopicPartition> = revoked.partitions().to_vec();
        let mut result = Ok(());
        if !self.shared.exactly_once() {
            // Only the revoked tasks matter, but flushing the others early is harmless.
            flush_caches(&mut tasks, &self.producer)?;
            let offsets: Vec<(TopicPartition, u64)> = gone
                .iter()
                .filter_map(|tp| tasks.done.get(tp).map(|&o| (tp.clone(), o)))
                .collect();
            result = self
                .producer
                .flush()
                .and_then(|()| revoked.commit_offsets(&offsets));
        }
        tasks.rewind.retain(|tp| !gone.contains(tp));
        for tp in &gone {
            if let Some(slot) = tasks.slots.remove(&tp.partition) {
                self.shared
                    .dropped
                    .fetch_add(slot.task.dropped_records(), Ordering::Relaxed);
            }
            tasks.done.remove(tp);
            tasks.committed.remove(tp);
            tasks.stopped.remove(tp);
        }
        result
    }

    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        let mut tasks = self.tasks.lock();
        tasks.rewind.extend(partitions.iter().cloned());
        for tp in partitions {
            if let std::collections::btree_map::Entry::Vacant(vacant) =
                tasks.slots.entry(tp.partition)
            {
                vacant.insert(restore(&self.shared, tp.partition)?);
            }
        }
        Ok(())
    }
}

/// Runs one thread until the application stops or fails; its error goes to `shared`.
pub(crate) fn run(shared: &Arc<Shared>, tasks: &Arc<Mutex<Tasks>>, index: usize) {
    if let Err(e) = work(shared, tasks, index) {
        shared.fail(e);
        shared.stop.store(true, Ordering::SeqCst);
    }
    shared.progress();
}

fn work(shared: &Arc<Shared>, tasks: &Arc<Mutex<Tasks>>, index: usize) -> Result<()> {
    let producer = shared.broker.producer();
    let mut consumer = shared.broker.consumer(
        ConsumerConfig::default()
            .group_id(shared.config.application_id.clone())
            .assignment_strategy(AssignmentStrategy::CoPartitioned)
            .auto_offset_reset(OffsetReset::Earliest)
            .enable_auto_commit(false)
            .isolation_level(shared.isolation()),
    );
    consumer.subscribe_with_listener(
        &shared.inputs,
        Listener {
            shared: Arc::clone(shared),
            tasks: Arc::clone(tasks),
            producer: producer.clone(),
        },
    )?;
    tracing::debug!(application_id = %shared.config.application_id, thread = index, "stream thread started");
    let mut last_commit = Instant::now();
    let mut read_some = false;
    let outcome = (|| {
        while !shared.stop.load(Ordering::SeqCst) {
            // While a caller waits to see the input caught up, the poll after records
            // came back does not wait: an empty one means caught up, and commits now.
            let awaited = read_some && shared.waiting.load(Ordering::SeqCst) > 0;
            let timeout = if awaited {
                Duration::ZERO
            } else {
                Duration::from_millis(20)
            };
            let records = consumer.poll(timeout)?;
            read_some = !records.is_empty();
            {
                let mut tasks = tasks.lock();
                let assigned = consumer.assignment();
                // A partition assigned and revoked again within one poll is not sought.
                let mut rewound = std::mem::take(&mut tasks.rewind);
                rewound.retain(|tp| assigned.contains(tp));
                for tp in &rewound {
                    match consumer.committed(tp)? {
                        Some(offset) => consumer.seek(tp, offset)?,
                        None => consumer.seek_to_beginning(std::slice::from_ref(tp))?,
                    }
                }
                for record in &records {
                    // Read from where the consumer was before the rebalance: they come
                    // again from the committed offset.
                    if rewound
                        .iter()
                        .any(|tp| tp.partition == record.partition() && tp.topic == record.topic())
                    {
                        continue;
                    }
                    process(shared, &mut tasks, record)?;
                }
                send_pending(&mut tasks, &producer)?;
                let mut assignment = assigned;
                assignment.sort();
                tasks.member = consumer
                    .member_id()
                    .map(|id| (id.to_string(), assignment.clone()));
                for tp in assignment {
                    if !tasks.stopped.contains(&tp) {
                        if let Some(position) = consumer.position(&tp) {
                            tasks.done.insert(tp, position);
                        }
                    }
                }
            }
            let idle_and_awaited = records.is_empty() && shared.waiting.load(Ordering::SeqCst) > 0;
            if idle_and_awaited || last_commit.elapsed() >= shared.config.commit_interval {
                commit(shared, tasks, &mut consumer, &producer)?;
                for topic in &shared.sources {
                    shared.broker.describe_topic(topic)?;
                }
                last_commit = Instant::now();
                shared.progress();
            }
        }
        commit(shared, tasks, &mut consumer, &producer)
    })();
    // Leaving the group revokes the partitions (the listener commits again, harmlessly).
    let closed = consumer.close();
    let gone: u64 = std::mem::take(&mut tasks.lock().slots)
        .values()
        .map(|slot| slot.task.dropped_records())
        .sum();
    shared.dropped.fetch_add(gone, Ordering::Relaxed);
    outcome.and(closed)
}

/// Runs one consumed record through its task and queues what the task emitted for
/// [`send_pending`].
fn process(shared: &Shared, tasks: &mut Tasks, record: &ConsumerRecord) -> Result<()> {
    let tp = TopicPartition::new(record.topic(), record.partition());
    if tasks.stopped.contains(&tp) {
        return Ok(());
    }
    // A task dropped after a failed transaction (see `commit`) is rebuilt from its
    // changelogs.
    let slot = match tasks.slots.entry(tp.partition) {
        std::collections::btree_map::Entry::Occupied(occupied) => occupied.into_mut(),
        std::collections::btree_map::Entry::Vacant(vacant) => {
            vacant.insert(restore(shared, tp.partition)?)
        }
    };
    let value = (!record.is_tombstone()).then(|| record.value());
    let processed = slot.task.process(
        record.topic(),
        record.partition(),
        record.offset(),
        record.timestamp(),
        record.key(),
        value,
    );
    let output = slot.task.take_output();
    match processed {
        Ok(()) => {}
        Err(Error::Serde { .. }) if shared.config.skip_undecodable => {
            shared.skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        Err(e @ Error::Serde { .. }) => {
            // The partition stops here; its committed offset stays at this record.
            tracing::warn!(topic = %tp.topic, partition = tp.partition, offset = record.offset(), "undecodable record: partition stopped");
            shared.fail(e);
            tasks.done.insert(tp.clone(), record.offset());
            tasks.stopped.insert(tp);
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    queue(slot, tp.partition, output)
}

/// Queues what task `partition` emitted for [`send_pending`], beginning its transaction
/// under `ExactlyOnce` if it has none open.
fn queue(slot: &mut Slot, partition: u32, output: Vec<SinkRecord>) -> Result<()> {
    for sink in output {
        let out = Record {
            key: sink.key,
            value: sink.value,
            headers: Vec::new(),
            timestamp: Some(sink.timestamp_ms),
            // A changelog record goes to the task's partition; anything else by its key.
            partition: sink.changelog.then_some(partition),
        };
        if let Some(txn) = &slot.producer {
            if !slot.in_transaction {
                txn.begin_transaction()?;
                slot.in_transaction = true;
            }
        }
        match slot
            .pending
            .iter_mut()
            .find(|(topic, _)| *topic == sink.topic)
        {
            Some((_, records)) => records.push(out),
            None => slot.pending.push((sink.topic, vec![out])),
        }
    }
    Ok(())
}

/// Flushes every task's record cache and sends what that emitted: what a commit (or a
/// revocation under `AtLeastOnce`) does first, so that the changelogs and outputs hold
/// every update of what the committed offsets say is processed.
fn flush_caches(tasks: &mut Tasks, producer: &Producer) -> Result<()> {
    for (&partition, slot) in &mut tasks.slots {
        slot.task.flush()?;
        let output = slot.task.take_output();
        queue(slot, partition, output)?;
    }
    send_pending(tasks, producer)
}

/// Sends what the tasks emitted during a poll's records: a batch per task and topic (in
/// the transaction of the task under `ExactlyOnce`). Each topic-partition gets its records
/// in the order the task emitted them; records of different topics need no order between
/// them, as nothing reads them before this returns and the thread commits or polls again.
fn send_pending(tasks: &mut Tasks, producer: &Producer) -> Result<()> {
    for slot in tasks.slots.values_mut() {
        for (topic, records) in slot.pending.drain(..) {
            match &slot.producer {
                Some(txn) => txn.send_batch_unreported(&topic, records)?,
                None => producer.send_batch_unreported(&topic, records)?,
            }
        }
    }
    Ok(())
}

/// Commits what has been processed: `AtLeastOnce` flushes the outputs then commits the
/// offsets; `ExactlyOnce` commits each task's transaction with its offsets in it.
fn commit(
    shared: &Shared,
    tasks: &Mutex<Tasks>,
    consumer: &mut Consumer,
    producer: &Producer,
) -> Result<()> {
    let mut tasks = tasks.lock();
    let tasks = &mut *tasks;
    flush_caches(tasks, producer)?;
    let pending: Vec<(TopicPartition, u64)> = tasks
        .done
        .iter()
        .filter(|(tp, o)| tasks.committed.get(*tp) != Some(*o))
        .map(|(tp, &o)| (tp.clone(), o))
        .collect();
    if !shared.exactly_once() {
        if pending.is_empty() {
            return Ok(());
        }
        producer.flush()?;
        consumer.commit_offsets(&pending)?;
        tasks.committed.extend(pending);
        return Ok(());
    }
    if pending.is_empty() && !tasks.slots.values().any(|s| s.in_transaction) {
        return Ok(());
    }
    let group = consumer.group_metadata()?;
    let mut failed = Vec::new();
    for (&partition, slot) in &mut tasks.slots {
        let offsets: Vec<(TopicPartition, u64)> = pending
            .iter()
            .filter(|(tp, _)| tp.partition == partition)
            .cloned()
            .collect();
        if offsets.is_empty() && !slot.in_transaction {
            continue;
        }
        let Some(txn) = &slot.producer else { continue };
        if !slot.in_transaction {
            txn.begin_transaction()?;
        }
        slot.in_transaction = false;
        let committed = txn
            .send_offsets_to_transaction(&offsets, &group)
            .and_then(|()| txn.commit_transaction());
        match committed {
            Ok(()) => tasks.committed.extend(offsets),
            Err(Error::CommitFailed { .. }) => failed.push(partition),
            Err(e) => return Err(e),
        }
    }
    // The group moved on while the transaction was open: it was aborted, so the task's
    // stores hold updates no one will see. Drop the task and rewind its partitions to the
    // committed offsets; the next record rebuilds it from its changelogs.
    for partition in failed {
        tasks.slots.remove(&partition);
        for tp in consumer.assignment() {
            if tp.partition == partition {
                let start = consumer.committed(&tp)?;
                match start {
                    Some(offset) => consumer.seek(&tp, offset)?,
                    None => consumer.seek_to_beginning(std::slice::from_ref(&tp))?,
                }
                tasks.done.remove(&tp);
                tasks.committed.remove(&tp);
            }
        }
    }
    Ok(())
}
