//! Waiting for durability without blocking an executor (feature `async`).
//!
//! `Producer::send_async` appends as `send` does, but under `SyncPolicy::Always` it skips
//! the fsync that `send` waits for ([`append_deferring_sync`]) and awaits [`Durable`]
//! instead: a future that joins the partition's group commit as a task. The fsync itself
//! runs on one background thread, the syncer, started the first time a task needs a round
//! that no blocking sender leads; blocking and async senders share the same rounds.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use super::notify::Waiter;
use super::sync_rounds::Queued;
use super::PartitionLog;
use crate::error::Result;

thread_local! {
    /// Set while an async send appends on this thread: `Some(0)` asks the append to skip
    /// its fsync, which then leaves here the offset the records end at.
    static DEFERRED: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Runs `append` with the fsync of `SyncPolicy::Always` left out; returns its result and,
/// when an fsync was left out, the offset that must become durable.
pub(crate) fn append_deferring_sync<R>(append: impl FnOnce() -> R) -> (R, Option<u64>) {
    /// Clears the request even if `append` unwinds, so that no later send on this thread
    /// skips its fsync.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            DEFERRED.with(|d| d.set(None));
        }
    }
    DEFERRED.with(|d| d.set(Some(0)));
    let reset = Reset;
    let result = append();
    let end = DEFERRED.with(Cell::get).filter(|&end| end != 0);
    drop(reset);
    (result, end)
}

/// Called by an append under `SyncPolicy::Always` that would sync up to `end`: true when
/// the caller is an async send, which will await [`Durable`] itself.
pub(super) fn defer_sync(end: u64) -> bool {
    DEFERRED.with(|d| {
        if d.get().is_some() {
            d.set(Some(end));
            true
        } else {
            false
        }
    })
}

/// Resolves once every offset of `log` below `offset` is on stable storage.
#[derive(Debug)]
pub(crate) struct Durable {
    log: Arc<PartitionLog>,
    offset: u64,
    /// This future's place in the group commit, once it has one.
    waiter: Option<Arc<Waiter>>,
}

impl Durable {
    pub(crate) fn new(log: Arc<PartitionLog>, offset: u64) -> Self {
        Self {
            log,
            offset,
            waiter: None,
        }
    }
}

impl Future for Durable {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = &mut *self;
        let waiter = this.waiter.get_or_insert_with(Waiter::task);
        waiter.set_waker(cx.waker());
        let result = match this.log.poll_durable(this.offset, waiter) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        if let Some(waiter) = this.waiter.take() {
            this.log.sync_rounds.forget_task(&waiter);
        }
        Poll::Ready(result)
    }
}

impl Drop for Durable {
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            self.log.sync_rounds.forget_task(&waiter);
        }
    }
}

impl PartitionLog {
    /// [`Durable`]'s step: ready once `offset` is durable or can no longer become so (the
    /// partition was poisoned by a failed fsync); else `waiter` waits in the group commit.
    fn poll_durable(self: &Arc<Self>, offset: u64, waiter: &Arc<Waiter>) -> Poll<Result<()>> {
        let covered = || self.durable.load(std::sync::atomic::Ordering::Acquire) >= offset;
        if covered() {
            return Poll::Ready(Ok(()));
        }
        if let Err(e) = self.check_not_poisoned() {
            return Poll::Ready(Err(e));
        }
        match self.sync_rounds.queue_task(waiter, covered) {
            Queued::Covered => Poll::Ready(Ok(())),
            Queued::Waiting => Poll::Pending,
            Queued::NeedsLeader => {
                syncer::request(Arc::clone(self));
                Poll::Pending
            }
        }
    }

    /// Leads a round the syncer was asked for.
    fn lead_requested_round(&self) -> Result<()> {
        self.sync_rounds.lead_requested(|| self.sync_now())
    }
}

mod syncer {
    //! The thread that leads the fsync rounds tasks ask for: one for the process, started
    //! on first use, idle (blocked on its queue) while no task waits.

    use super::{Arc, OnceLock, PartitionLog};
    use crossbeam_channel::Sender;

    static SYNCER: OnceLock<Option<Sender<Arc<PartitionLog>>>> = OnceLock::new();

    /// Has a round led for `log`: on the syncer's thread, or, should that thread fail to
    /// start, on this one (blocking it, but never losing the request).
    pub(super) fn request(log: Arc<PartitionLog>) {
        let sender = SYNCER.get_or_init(|| {
            let (sender, requests) = crossbeam_channel::unbounded::<Arc<PartitionLog>>();
            let started = std::thread::Builder::new()
                .name("strom-syncer".into())
                .spawn(move || {
                    for log in requests {
                        // A failed fsync poisons the partition; the tasks waiting on it see
                        // that when they are woken, and the error was reported then.
                        let _ = log.lead_requested_round();
                    }
                });
            match started {
                Ok(_) => Some(sender),
                Err(e) => {
                    tracing::warn!(
                        error = &e as &dyn std::error::Error,
                        "could not start the fsync thread of async sends; they fsync on their own threads"
                    );
                    None
                }
            }
        });
        let unsent = match sender {
            Some(sender) => sender.send(log).err().map(|e| e.0),
            None => Some(log),
        };
        if let Some(log) = unsent {
            let _ = log.lead_requested_round();
        }
    }
}
