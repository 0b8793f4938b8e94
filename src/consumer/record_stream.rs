//! [`Consumer::recv`] and [`Consumer::stream`] (feature `async`): `poll` for async code.
//!
//! A waiting `recv` registers the consumer's task waiter with the partitions it reads, as
//! a blocking `poll` registers its thread's, so an append wakes both the same way. Nothing
//! spins and nothing needs a runtime: the waker is the executor's, whichever it is. The
//! group's work happens at every step, as in `poll`; while `recv` waits, its member counts
//! as polling (a thread blocked in `poll` checks in as it waits).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::Consumer;
use crate::error::{Error, Result};
use crate::group::Group;
use crate::log::notify::Waiter;
use crate::log::PartitionLog;
use crate::record::{ConsumerRecord, Records, TopicPartition};

/// What a waiting `recv` registered, to be undone when it wakes or is dropped.
#[derive(Debug, Default)]
pub(super) struct Registration {
    logs: Vec<Arc<PartitionLog>>,
    /// The group and member id marked as waiting.
    member: Option<(Arc<Group>, String)>,
}

impl Consumer {
    /// Resolves with the records available, at least one and at most `max_poll_records`:
    /// [`poll`](Self::poll) for async code, doing the same group work (rebalances, the
    /// auto-commit, checking in). While it waits, no thread is blocked and nothing spins:
    /// an append in this process wakes the task. Any executor will do; no runtime is
    /// needed. The future is `Send`. An auto-commit that falls due in `recv` writes the
    /// offsets (an fsync) on the calling thread, as `commit` does.
    ///
    /// Cancel-safe: a future dropped before it resolves has taken no record, so the next
    /// `recv` or `poll` returns them.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use strom::{Broker, ConsumerConfig, OffsetReset, Record, TopicConfig, TopicPartition};
    ///
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("greetings", TopicConfig::default())?;
    /// broker.producer().send("greetings", Record::new("hello"))?;
    ///
    /// let mut consumer = broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    /// consumer.assign(&[TopicPartition::new("greetings", 0)])?;
    /// let records = futures::executor::block_on(consumer.recv())?;
    /// assert_eq!(records.iter().next().map(|r| r.value()), Some(&b"hello"[..]));
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`poll`](Self::poll).
    pub fn recv(&mut self) -> impl Future<Output = Result<Records>> + Send + '_ {
        Recv {
            consumer: self,
            registration: Registration::default(),
        }
    }

    /// The records as a [`Stream`](futures_core::Stream), one at a time, fetched by
    /// [`recv`](Self::recv). It never ends at the end of the log: it waits for more. It ends
    /// after yielding [`Error::Closed`] once the broker closes.
    ///
    /// Once the stream is dropped, [`position`](Self::position) and
    /// [`commit`](Self::commit) stand right after the last record it yielded: records
    /// fetched but not yet yielded are read again.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use futures::StreamExt;
    /// use strom::{Broker, ConsumerConfig, OffsetReset, Record, TopicConfig, TopicPartition};
    ///
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("greetings", TopicConfig::default())?;
    /// broker.producer().send_batch("greetings", ["a", "b", "c"].map(Record::new))?;
    ///
    /// let mut consumer = broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    /// let tp = TopicPartition::new("greetings", 0);
    /// consumer.assign(&[tp.clone()])?;
    /// let first_two: Vec<_> = futures::executor::block_on(consumer.stream().take(2).collect());
    /// assert_eq!(first_two.len(), 2);
    /// assert_eq!(consumer.position(&tp), Some(2));
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn stream(
        &mut self,
    ) -> impl futures_core::Stream<Item = Result<ConsumerRecord>> + Unpin + Send + '_ {
        RecordStream {
            consumer: self,
            registration: Registration::default(),
            buffer: Vec::new().into_iter(),
            ended: false,
        }
    }

    /// One step of `recv`: records if there are any, else registered to be woken.
    fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        registration: &mut Registration,
    ) -> Poll<Result<Records>> {
        self.unregister(registration);
        if let Some(e) = self.deferred.take() {
            return Poll::Ready(Err(e));
        }
        if let Err(e) = self.inner.check_open() {
            return Poll::Ready(Err(e));
        }
        if self.assigned.is_empty() && self.membership.is_none() {
            return Poll::Ready(Err(Error::IllegalState {
                reason: "recv needs partitions: call subscribe or assign first".into(),
            }));
        }
        // As `poll`'s span, for each step of the future (never held across an await).
        let _span = tracing::debug_span!(
            "recv",
            group = self.config.group_id.as_deref(),
            member = self.membership.as_ref().map(|m| m.member_id.as_str()),
        )
        .entered();
        let waiter = Arc::clone(self.task_waiter.get_or_insert_with(Waiter::task));
        // Before anything is checked, so that a wake-up from here on reaches this task.
        waiter.set_waker(cx.waker());
        // The group's work below hands the group this waiter, to be woken at rebalances.
        self.in_task = true;
        let step = self.recv_step(&waiter, registration);
        self.in_task = false;
        step
    }

    fn recv_step(
        &mut self,
        waiter: &Arc<Waiter>,
        registration: &mut Registration,
    ) -> Poll<Result<Records>> {
        if let Err(e) = self.auto_commit_if_due() {
            // As in `poll`: the group's work still happens, the error is returned after it.
            return Poll::Ready(self.sync_group().and(Err(e)));
        }
        loop {
            waiter.reset();
            if let Err(e) = self.sync_group() {
                return Poll::Ready(Err(e));
            }
            match self.fetch() {
                Ok(records) if records.is_empty() => {}
                done => return Poll::Ready(done),
            }
            for a in &self.assigned {
                a.log.notify().register(waiter);
                registration.logs.push(Arc::clone(&a.log));
            }
            if let Some(m) = &self.membership {
                m.group.set_waiting(&m.member_id, true);
                registration.member = Some((Arc::clone(&m.group), m.member_id.clone()));
            }
            // Re-checked after registering: an append in between is seen here, or sees the
            // waiter.
            if let Err(e) = self.inner.check_open() {
                self.unregister(registration);
                return Poll::Ready(Err(e));
            }
            if waiter.notified()
                || self.has_records()
                || self.assigned.iter().any(|a| a.topic.is_deleted())
            {
                self.unregister(registration);
                continue;
            }
            return Poll::Pending;
        }
    }

    /// Undoes what a waiting `recv` registered.
    fn unregister(&self, registration: &mut Registration) {
        if let Some(waiter) = &self.task_waiter {
            for log in registration.logs.drain(..) {
                log.notify().unregister(waiter);
            }
        }
        if let Some((group, member_id)) = registration.member.take() {
            group.set_waiting(&member_id, false);
        }
    }
}

/// The future of [`Consumer::recv`].
#[derive(Debug)]
struct Recv<'a> {
    consumer: &'a mut Consumer,
    registration: Registration,
}

impl Future for Recv<'_> {
    type Output = Result<Records>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Records>> {
        let this = self.get_mut();
        this.consumer.poll_recv(cx, &mut this.registration)
    }
}

impl Drop for Recv<'_> {
    fn drop(&mut self) {
        self.consumer.unregister(&mut self.registration);
    }
}

/// The stream of [`Consumer::stream`].
#[derive(Debug)]
struct RecordStream<'a> {
    consumer: &'a mut Consumer,
    registration: Registration,
    /// Fetched, not yet yielded.
    buffer: std::vec::IntoIter<ConsumerRecord>,
    /// Set once `Error::Closed` was yielded.
    ended: bool,
}

impl futures_core::Stream for RecordStream<'_> {
    type Item = Result<ConsumerRecord>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(record) = this.buffer.next() {
                return Poll::Ready(Some(Ok(record)));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            match this.consumer.poll_recv(cx, &mut this.registration) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(records)) => this.buffer = records.into_iter(),
                Poll::Ready(Err(e)) => {
                    this.ended = matches!(e, Error::Closed);
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

impl Drop for RecordStream<'_> {
    fn drop(&mut self) {
        self.consumer.unregister(&mut self.registration);
        // Each partition goes back to its first record not yielded. Nothing else happened
        // to the consumer since they were fetched: the stream fetches only when it has
        // yielded all it holds.
        let mut first_unyielded: HashMap<(&str, u32), u64> = HashMap::new();
        let rest = std::mem::replace(&mut self.buffer, Vec::new().into_iter());
        let rest: Vec<ConsumerRecord> = rest.collect();
        for record in &rest {
            first_unyielded
                .entry((record.topic(), record.partition()))
                .or_insert(record.offset());
        }
        for ((topic, partition), offset) in first_unyielded {
            // Still assigned (see above), so this cannot fail but for a closed broker, whose
            // positions no longer matter.
            let _ = self
                .consumer
                .seek(&TopicPartition::new(topic, partition), offset);
        }
    }
}
