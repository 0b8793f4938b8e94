//! [`Consumer`]: reads records back by offset, alone or as a member of a group.

mod membership;

use std::ops::ControlFlow;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::broker::{remaining, Inner};
use crate::config::{ConsumerConfig, IsolationLevel, OffsetReset};
use crate::error::{Error, Result};
use crate::log::notify::Waiter;
use crate::log::{hidden_from_committed, PartitionLog};
use crate::metrics::BytesPassed;
use crate::record::{ConsumerRecord, Lease, Records, Shared, Source, TopicPartition};
use crate::storage::mapping::Mapping;
use crate::storage::segment::{MappedBatch, ReadHint};
use crate::topic::Topic;
use membership::{Listener, Membership};
pub use membership::{RebalanceListener, Revoked};

/// Reads records from partitions it is assigned, by [`assign`](Self::assign) or as a member
/// of a consumer group after [`subscribe`](Self::subscribe).
///
/// `Send`: use one per thread. Positions are the *next* offset to read, as in Kafka.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use strom::{Broker, ConsumerConfig, OffsetReset, Record, TopicConfig, TopicPartition};
///
/// let broker = Broker::open(dir.path())?;
/// broker.create_topic("greetings", TopicConfig::default())?;
/// broker.producer().send("greetings", Record::new("hello"))?;
///
/// let mut consumer = broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
/// consumer.assign(&[TopicPartition::new("greetings", 0)])?;
/// let records = consumer.poll(Duration::from_secs(1))?;
/// assert_eq!(records.iter().next().map(|r| r.value()), Some(&b"hello"[..]));
/// # Ok::<(), strom::Error>(())
/// ```
#[derive(Debug)]
pub struct Consumer {
    inner: Arc<Inner>,
    config: ConsumerConfig,
    assigned: Vec<Assigned>,
    /// Where the next fetch starts, rotating so that no partition starves the others.
    next: usize,
    waiter: Option<Arc<Waiter>>,
    /// An error met after some records were already taken; returned by the next poll.
    deferred: Option<Error>,
    /// Set while subscribed to topics as a member of `group_id`.
    membership: Option<Membership>,
    listener: Option<Listener>,
    /// When positions were last committed automatically.
    last_commit: Instant,
}

#[derive(Debug)]
pub(crate) struct Assigned {
    tp: TopicPartition,
    topic: Arc<Topic>,
    log: Arc<PartitionLog>,
    position: Option<u64>,
    /// The source of the records last read, reused while they come from the same segment.
    source: Option<Shared<Source>>,
    /// Where the last read stopped, for the next one to start there without a search.
    hint: Option<ReadHint>,
}

impl Assigned {
    fn new(
        tp: TopicPartition,
        topic: Arc<Topic>,
        log: Arc<PartitionLog>,
        position: Option<u64>,
    ) -> Self {
        Self {
            tp,
            topic,
            log,
            position,
            source: None,
            hint: None,
        }
    }
}

impl Consumer {
    pub(crate) fn new(inner: Arc<Inner>, config: ConsumerConfig) -> Self {
        Self {
            inner,
            config,
            assigned: Vec::new(),
            next: 0,
            waiter: None,
            deferred: None,
            membership: None,
            listener: None,
            last_commit: Instant::now(),
        }
    }

    /// This consumer's settings.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// Reads exactly these partitions, outside any group (Kafka's `assign`). Partitions
    /// kept from the previous assignment keep their positions; new ones start where
    /// `auto_offset_reset` says (`None`: `poll` fails until you `seek`).
    ///
    /// # Errors
    /// [`Error::IllegalState`] on a consumer subscribed to topics; [`Error::UnknownTopic`],
    /// [`Error::InvalidPartition`], [`Error::Closed`]; on error the assignment is unchanged.
    pub fn assign(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.inner.check_open()?;
        if self.membership.is_some() {
            return Err(Error::IllegalState {
                reason: "assign on a consumer subscribed to topics; call unsubscribe first (as in Kafka, the two are exclusive)".into(),
            });
        }
        let mut assigned: Vec<Assigned> = Vec::with_capacity(partitions.len());
        for tp in partitions {
            if assigned.iter().any(|a| a.tp == *tp) {
                continue;
            }
            let topic = self.inner.existing_topic(&tp.topic)?;
            let log = Arc::clone(topic.partition(tp.partition)?);
            // Read-only: a position at the end is the writer's end now.
            log.refresh(false)?;
            let position = match self.assigned.iter().find(|a| a.tp == *tp) {
                Some(old) => old.position,
                None => self.start_position(tp, &log),
            };
            assigned.push(Assigned::new(tp.clone(), topic, log, position));
        }
        self.assigned = assigned;
        self.next = 0;
        Ok(())
    }

    /// The partitions this consumer reads.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.assigned.iter().map(|a| a.tp.clone()).collect()
    }

    /// The offset the next record read from `tp` will have, if known.
    pub fn position(&self, tp: &TopicPartition) -> Option<u64> {
        self.assigned
            .iter()
            .find(|a| a.tp == *tp)
            .and_then(|a| a.position)
    }

    /// Sets the next offset to read from `tp`. An offset outside the log is allowed; the
    /// next `poll` applies `auto_offset_reset` to it.
    ///
    /// # Errors
    /// [`Error::NotAssigned`] if `tp` is not assigned to this consumer.
    pub fn seek(&mut self, tp: &TopicPartition, offset: u64) -> Result<()> {
        self.inner.check_open()?;
        self.assigned_mut(tp)?.position = Some(offset);
        Ok(())
    }

    /// Moves to the first offset still in the log, for `tps` (all assigned if empty).
    ///
    /// # Errors
    /// [`Error::NotAssigned`] for a partition not assigned to this consumer.
    pub fn seek_to_beginning(&mut self, tps: &[TopicPartition]) -> Result<()> {
        self.seek_each(tps, PartitionLog::log_start_offset)
    }

    /// Moves to the high watermark (only records appended later are read), for `tps`
    /// (all assigned if empty). With [`IsolationLevel::ReadCommitted`] the end is the last
    /// stable offset, as in Kafka.
    ///
    /// # Errors
    /// [`Error::NotAssigned`] for a partition not assigned to this consumer.
    pub fn seek_to_end(&mut self, tps: &[TopicPartition]) -> Result<()> {
        self.seek_each(tps, self.end_of())
    }

    /// Where this consumer's view of a partition ends: the high watermark, or the last
    /// stable offset for a reader of committed data.
    fn end_of(&self) -> fn(&PartitionLog) -> u64 {
        match self.config.isolation_level {
            IsolationLevel::ReadUncommitted => PartitionLog::high_watermark,
            IsolationLevel::ReadCommitted => PartitionLog::last_stable_offset,
        }
    }

    /// Moves every assigned partition to its first record with a timestamp at or after
    /// `ts_ms`, or to its end if it has none. Uses the time index, not a scan.
    ///
    /// # Errors
    /// [`Error::Corrupt`] or [`Error::Io`] from reading the log.
    pub fn seek_to_timestamp(&mut self, ts_ms: i64) -> Result<()> {
        self.inner.check_open()?;
        self.refresh_followed()?;
        let end = self.end_of();
        for a in &mut self.assigned {
            let offset = a.log.offset_for_timestamp(ts_ms)?;
            a.position = Some(offset.unwrap_or_else(|| end(&a.log)));
        }
        Ok(())
    }

    fn seek_each(&mut self, tps: &[TopicPartition], to: fn(&PartitionLog) -> u64) -> Result<()> {
        self.inner.check_open()?;
        // Read-only: the beginning and end as the writer has them now.
        self.refresh_followed()?;
        if tps.is_empty() {
            for a in &mut self.assigned {
                a.position = Some(to(&a.log));
            }
            return Ok(());
        }
        for tp in tps {
            self.assigned_mut(tp)?;
        }
        for tp in tps {
            let a = self.assigned_mut(tp)?;
            a.position = Some(to(&a.log));
        }
        Ok(())
    }

    fn assigned_mut(&mut self, tp: &TopicPartition) -> Result<&mut Assigned> {
        self.assigned
            .iter_mut()
            .find(|a| a.tp == *tp)
            .ok_or_else(|| Error::NotAssigned {
                topic: tp.topic.clone(),
                partition: tp.partition,
            })
    }

    /// Where a newly assigned partition starts: its group's committed offset if there is
    /// one, else where `auto_offset_reset` says.
    fn start_position(&self, tp: &TopicPartition, log: &PartitionLog) -> Option<u64> {
        if self.config.group_id.is_some() {
            // Read-only: the writer's commits as they are now (a failed read keeps the last
            // known ones).
            let _ = self.inner.refresh_offsets();
        }
        let committed = self
            .config
            .group_id
            .as_deref()
            .and_then(|group| self.inner.offsets().committed(group, tp));
        committed.or_else(|| self.reset_position(log))
    }

    /// Where `auto_offset_reset` puts a partition without a valid position.
    fn reset_position(&self, log: &PartitionLog) -> Option<u64> {
        match self.config.auto_offset_reset {
            OffsetReset::Earliest => Some(log.log_start_offset()),
            OffsetReset::Latest => Some(self.end_of()(log)),
            OffsetReset::None => None,
        }
    }

    /// Returns the records available, waiting up to `timeout` for some to arrive; at most
    /// `max_poll_records`. A timed-out poll returns an empty [`Records`]. A record appended
    /// in this process wakes a waiting poll at once, not at the next timer tick. Any
    /// timeout is accepted: zero only looks, and `Duration::MAX` waits for ever.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] when a position is missing or outside the log and
    /// `auto_offset_reset` is `None`; [`Error::Corrupt`] for a damaged batch (records before
    /// it are returned first); [`Error::IllegalState`] when nothing is assigned;
    /// [`Error::Closed`]; the first error a [`RebalanceListener`] returned while this call
    /// ran it, or of the auto-commit before a rebalance (the rebalance is completed all the
    /// same; no records are returned with it).
    pub fn poll(&mut self, timeout: Duration) -> Result<Records> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        self.inner.check_open()?;
        if self.assigned.is_empty() && self.membership.is_none() {
            return Err(Error::IllegalState {
                reason: "poll needs partitions: call subscribe or assign first".into(),
            });
        }
        // Where a poll's time goes (its commit, its group's work, its wait), for a
        // subscriber at DEBUG; with none, only a check of a cached level.
        let _span = tracing::debug_span!(
            "poll",
            group = self.config.group_id.as_deref(),
            member = self.membership.as_ref().map(Membership::member_id),
        )
        .entered();
        // A timeout too long for an `Instant` (`Duration::MAX`) means no deadline at all.
        let deadline = Instant::now().checked_add(timeout);
        if let Err(e) = self.auto_commit_if_due() {
            // The group's work still happens, so that a member that cannot commit does not
            // keep partitions the group has given to others; the error is returned after it.
            self.sync_group()?;
            return Err(e);
        }
        loop {
            // Reset before anything is checked, so a wake-up from here on is not lost.
            let waiter = self.waiter();
            waiter.reset();
            self.sync_group()?;
            self.refresh_followed()?;
            let records = self.fetch()?;
            if !records.is_empty() || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(records);
            }
            // A member blocked in `poll` is alive: it wakes in time to check in again
            // before `max_poll_interval` runs out (a zero interval is checked every
            // millisecond, not spun on).
            let wake_by = if self.membership.is_some() {
                let check_in = (self.config.max_poll_interval / 2).max(MIN_CHECK_IN);
                earlier(deadline, Instant::now().checked_add(check_in))
            } else {
                deadline
            };
            self.wait(&waiter, wake_by);
            self.inner.check_open()?;
        }
    }

    /// Blocks for ever, yielding records as they arrive (like `for message in consumer`
    /// in Kafka clients). Ends after yielding [`Error::Closed`] once the broker closes.
    pub fn iter(&mut self) -> impl Iterator<Item = Result<ConsumerRecord>> + '_ {
        let mut buffer = Vec::new().into_iter();
        let mut done = false;
        std::iter::from_fn(move || loop {
            if let Some(record) = buffer.next() {
                return Some(Ok(record));
            }
            if done {
                return None;
            }
            match self.poll(Duration::from_secs(1)) {
                Ok(records) => buffer = records.into_iter(),
                Err(Error::Closed) => {
                    done = true;
                    return Some(Err(Error::Closed));
                }
                Err(e) => return Some(Err(e)),
            }
        })
    }

    /// In a directory opened read-only, takes in what the writer appended to the assigned
    /// partitions (one read of each tail), so that a poll sees it without waiting for the
    /// broker's follower thread.
    fn refresh_followed(&self) -> Result<()> {
        if self.inner.config().read_only {
            for a in &self.assigned {
                a.log.refresh(false)?;
            }
        }
        Ok(())
    }

    /// Takes what the assigned partitions have, from their positions on.
    fn fetch(&mut self) -> Result<Records> {
        let max = self.config.max_poll_records.max(1);
        let mut out = Vec::new();
        let count = self.assigned.len();
        for i in 0..count {
            if out.len() >= max {
                break;
            }
            let index = (self.next + i) % count;
            if let Err(e) = self.fetch_one(index, max, &mut out) {
                if out.is_empty() {
                    return Err(e);
                }
                self.deferred = Some(e);
                break;
            }
        }
        self.next = (self.next + 1) % count.max(1);
        Ok(Records { records: out })
    }

    fn fetch_one(&mut self, index: usize, max: usize, out: &mut Vec<ConsumerRecord>) -> Result<()> {
        let reset = self.config.auto_offset_reset;
        let committed_only = self.config.isolation_level == IsolationLevel::ReadCommitted;
        let end_of = self.end_of();
        let Some(a) = self.assigned.get_mut(index) else {
            return Ok(());
        };
        if a.topic.is_deleted() {
            return Err(a.topic.deleted_error());
        }
        let start = a.log.log_start_offset();
        let high_watermark = a.log.high_watermark();
        let position = match a.position {
            Some(p) if (start..=high_watermark).contains(&p) => p,
            current => match reset {
                OffsetReset::Earliest => start,
                OffsetReset::Latest => end_of(&a.log).min(high_watermark),
                OffsetReset::None => {
                    return Err(Error::OffsetOutOfRange {
                        topic: a.tp.topic.clone(),
                        partition: a.tp.partition,
                        offset: current,
                        log_start_offset: start,
                        high_watermark,
                    })
                }
            },
        };
        a.position = Some(position);
        let (topic, partition, source) = (a.topic.name(), a.tp.partition, &mut a.source);
        // Taken for the read; a read that moves past no whole batch leaves it as it was.
        let start_hint = a.hint.take();
        let hint = &mut a.hint;
        let mut next = position;
        let end = end_of(&a.log).min(high_watermark);
        let wanted = max - out.len();
        out.reserve(
            usize::try_from(end.saturating_sub(position)).map_or(wanted, |n| n.min(wanted)),
        );
        let aborted = if committed_only {
            a.log.aborted_from(position)
        } else {
            Vec::new()
        };
        let mut lease: Option<Lease<Source>> = None;
        // The log's bytes read past, for the `metrics` feature: a batch counts once the
        // read is past it, so one a poll stopped inside counts at the poll that finishes it.
        let mut passed = BytesPassed::new();
        let before = out.len();
        let read = a
            .log
            .read_batches_until(position, end, start_hint.as_ref(), |batch| {
                // A transaction marker, or (reading committed data, with `aborted` filled) a
                // batch of an aborted transaction: never handed out, but the position moves
                // past it.
                if hidden_from_committed(batch.header, &aborted) {
                    next = next.max(batch.next_offset());
                    batch.hint_past(hint);
                    passed.add(batch);
                    return Ok(ControlFlow::Continue(()));
                }
                // One lease serves the whole batch, looked up once instead of per record:
                // a source that reads the first offset handed out and the batch's last one
                // reads every offset between. A lease of this read was taken for an offset
                // before this batch (offsets only grow within a read), so for it the last
                // offset alone settles that.
                let (first, last) = (
                    batch.header.base_offset.max(position),
                    batch.header.last_offset(),
                );
                let lease = match &mut lease {
                    Some(l) if l.reads(batch.map, last) => l,
                    _ => lease.insert(lease_for(source, topic, partition, batch.map, first, last)),
                };
                if push_records(batch, position, lease, out, max, &mut next)?.is_break() {
                    // Past the batches whose records were all handed out (the next read
                    // uses the hint only if it starts right there).
                    batch.hint_past(hint);
                    if next > batch.header.last_offset() {
                        passed.add(batch);
                    }
                    return Ok(ControlFlow::Break(()));
                }
                // Past the whole batch: Kafka's compaction may leave offsets after its last
                // record, and a position short of them would never reach the high watermark.
                next = batch.next_offset();
                batch.hint_past(hint);
                passed.add(batch);
                Ok(ControlFlow::Continue(()))
            });
        if hint.is_none() {
            *hint = start_hint;
        }
        // Past what was handed out, even when the read then failed: those records are
        // returned, and must not be returned again.
        a.position = Some(next);
        a.log.metrics().read(out.len() - before, passed);
        read
    }

    /// Parks until a record arrives in an assigned partition or `deadline` passes (`None`:
    /// until a record arrives).
    fn wait(&self, waiter: &Arc<Waiter>, deadline: Option<Instant>) {
        // Spinning first, unregistered: the consumer watches the high watermarks itself, so
        // an append pays nothing to wake it and a record is seen in well under a
        // microsecond, instead of after the operating system has rescheduled a parked
        // thread. Group changes set the waiter's flag whether it is registered or not; a
        // close or a deleted topic is looked for here, as nothing wakes a spinning poll.
        let spin_until = earlier(deadline, Instant::now().checked_add(self.config.spin_wait));
        while spin_until.is_none_or(|t| Instant::now() < t) {
            if waiter.notified()
                || self.has_records()
                || self.inner.check_open().is_err()
                || self.assigned.iter().any(|a| a.topic.is_deleted())
            {
                return;
            }
            std::hint::spin_loop();
        }
        for a in &self.assigned {
            a.log.notify().register(waiter);
        }
        // Re-check after registering: an append in between has either been seen here or
        // will see the waiter.
        if !self.has_records() && self.inner.check_open().is_ok() {
            while !waiter.notified() && deadline.is_none_or(|d| Instant::now() < d) {
                match deadline {
                    Some(d) => thread::park_timeout(remaining(d)),
                    None => thread::park(),
                }
            }
        }
        for a in &self.assigned {
            a.log.notify().unregister(waiter);
        }
    }

    /// Whether an assigned partition has records past its position.
    fn has_records(&self) -> bool {
        let end_of = self.end_of();
        self.assigned
            .iter()
            .any(|a| a.position.is_none_or(|p| end_of(&a.log) > p))
    }

    /// This thread's waiter (a consumer may move between threads).
    fn waiter(&mut self) -> Arc<Waiter> {
        let current = thread::current().id();
        match &self.waiter {
            Some(w) if w.thread_id() == current => Arc::clone(w),
            _ => {
                let w = Waiter::current();
                self.waiter = Some(Arc::clone(&w));
                w
            }
        }
    }
}

/// The shortest wait between a group member's check-ins while it is blocked in `poll`.
const MIN_CHECK_IN: Duration = Duration::from_millis(1);

/// The earlier of two deadlines, where `None` is no deadline.
fn earlier(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Hands out the records of `batch` at or after `position`, into `out` until it holds `max`
/// (then it breaks), moving `next` past each.
///
/// Out of line, so that the decoder's loop has the registers to itself: inlined into the
/// read's closure, the compiler spills its state per record, and how badly depends on
/// the code around it.
#[inline(never)]
fn push_records(
    batch: &MappedBatch<'_>,
    position: u64,
    lease: &mut Lease<Source>,
    out: &mut Vec<ConsumerRecord>,
    max: usize,
    next: &mut u64,
) -> Result<ControlFlow<()>> {
    // `records_from` would do, but the filter it wraps the decoder in costs a catch-up
    // read about 40 instructions per record (callgrind); the check stays inline here.
    let v1 = ConsumerRecord::header_flags(batch.header.version);
    for record in batch.records()? {
        let record = record?;
        if record.offset < position {
            continue;
        }
        *next = record.offset + 1;
        out.push(ConsumerRecord::from_ref(lease, v1, batch.position, record));
        if out.len() >= max {
            return Ok(ControlFlow::Break(()));
        }
    }
    // The plain, verified batches after it are read on through here, their headers
    // between their records, as long as the lease reads their offsets. Their record
    // ranges are positions in the segment's map (the lease's), their offsets past
    // `position`, and their format version 2.
    let mut run = batch.run_after(lease.offsets_end());
    while let Some(record) = run.next() {
        let record = match record {
            Ok(record) => record,
            Err(e) => return Err(batch.run_error(run.batch_position(), e)),
        };
        *next = record.offset + 1;
        out.push(ConsumerRecord::from_ref(lease, 0, 0, record));
        if out.len() >= max {
            batch.ran(&run);
            return Ok(ControlFlow::Break(()));
        }
    }
    batch.ran(&run);
    Ok(ControlFlow::Continue(()))
}

/// A lease on a source of `map` that reads offsets `first..=last`: the consumer's last
/// source if it does, else a new one from `first` on (a batch covers fewer than 2³¹
/// offsets, so it reads them all). Needed once per poll and segment, so kept out of the
/// read's loop.
#[cold]
#[inline(never)]
fn lease_for(
    source: &mut Option<Shared<Source>>,
    topic: &Arc<str>,
    partition: u32,
    map: &Arc<Mapping>,
    first: u64,
    last: u64,
) -> Lease<Source> {
    let source = match source {
        Some(s) if s.reads(map, first) && s.reads(map, last) => s,
        _ => source.insert(Source::new(
            Arc::clone(topic),
            partition,
            Arc::clone(map),
            first,
        )),
    };
    source.lease()
}
