//! Waking consumers blocked in `poll` the moment a record is appended.
//!
//! A waiting consumer registers one [`Waiter`] with the [`Notify`] of every partition it
//! reads, re-checks for data, and parks. An append publishes the high watermark and then
//! calls [`Notify::notify`], which costs one atomic load when nobody waits. The store of
//! the watermark and the load of the waiter count are both `SeqCst`, as are the waiter's
//! registration and its re-check, so one side always sees the other: no wake-up is lost.
//!
//! A waiter is a parked thread or (feature `async`) a task: the same registration, and the
//! same wake-up, serve blocking and async consumers alike.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, Thread};

use parking_lot::Mutex;

/// A parked consumer thread, or a task waiting for a record.
#[derive(Debug)]
pub(crate) struct Waiter {
    wakes: Wakes,
    notified: AtomicBool,
    /// A [`Round`], kept by the group commit under its lock.
    round: AtomicU8,
}

/// Where a sender's waiter stands in its partition's group commit (`sync_rounds`): kept
/// beside the waiter so that the commit learns it without searching its lists, which a
/// thousand async senders make long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Round {
    /// In no list.
    Out,
    /// Queued for the next round.
    Queued,
    /// Covered by the round being synced.
    InFlight,
}

/// Whom a waiter wakes.
#[derive(Debug)]
enum Wakes {
    Thread(Thread),
    /// The waker of the task's latest poll; empty until it is first polled.
    #[cfg(feature = "async")]
    Task(Mutex<Option<std::task::Waker>>),
}

impl Waiter {
    /// A waiter for the current thread.
    pub(crate) fn current() -> Arc<Self> {
        Arc::new(Self {
            wakes: Wakes::Thread(thread::current()),
            notified: AtomicBool::new(false),
            round: AtomicU8::new(Round::Out as u8),
        })
    }

    /// A waiter for a task; [`set_waker`](Self::set_waker) tells it which waker to wake.
    #[cfg(feature = "async")]
    pub(crate) fn task() -> Arc<Self> {
        Arc::new(Self {
            wakes: Wakes::Task(Mutex::new(None)),
            notified: AtomicBool::new(false),
            round: AtomicU8::new(Round::Out as u8),
        })
    }

    /// Makes `waker` the one woken from now on (a task may move, or be polled through
    /// another future). Called before the task registers or re-checks anything, so that a
    /// wake-up after the check reaches this waker.
    #[cfg(feature = "async")]
    pub(crate) fn set_waker(&self, waker: &std::task::Waker) {
        if let Wakes::Task(slot) = &self.wakes {
            let mut slot = slot.lock();
            if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
                *slot = Some(waker.clone());
            }
        }
    }

    /// Whether this waiter parks a thread (rather than waking a task).
    pub(crate) fn is_thread(&self) -> bool {
        matches!(self.wakes, Wakes::Thread(_))
    }

    /// Whether this waiter parks the thread `id`.
    pub(crate) fn parks(&self, id: thread::ThreadId) -> bool {
        matches!(&self.wakes, Wakes::Thread(thread) if thread.id() == id)
    }

    /// Where this waiter stands in its partition's group commit.
    pub(crate) fn round(&self) -> Round {
        match self.round.load(Ordering::Relaxed) {
            1 => Round::Queued,
            2 => Round::InFlight,
            _ => Round::Out,
        }
    }

    /// Records where this waiter stands; only under the group commit's lock, which orders
    /// it with every other read and write of it.
    pub(crate) fn set_round(&self, round: Round) {
        self.round.store(round as u8, Ordering::Relaxed);
    }

    /// Clears the flag before a new wait.
    pub(crate) fn reset(&self) {
        self.notified.store(false, Ordering::SeqCst);
    }

    /// Whether an append woke this waiter since the last `reset`.
    pub(crate) fn notified(&self) -> bool {
        self.notified.load(Ordering::SeqCst)
    }

    /// Wakes the waiting thread or task.
    pub(crate) fn wake(&self) {
        self.notified.store(true, Ordering::SeqCst);
        match &self.wakes {
            Wakes::Thread(thread) => thread.unpark(),
            #[cfg(feature = "async")]
            Wakes::Task(slot) => {
                // Cloned out so that the task's executor runs no code under this lock.
                let waker = slot.lock().clone();
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
        }
    }
}

/// The waiters of one partition.
#[derive(Debug, Default)]
pub(crate) struct Notify {
    count: AtomicUsize,
    waiters: Mutex<Vec<Arc<Waiter>>>,
}

impl Notify {
    /// Adds a waiter; the caller must re-check for data afterwards, then park.
    pub(crate) fn register(&self, waiter: &Arc<Waiter>) {
        let mut waiters = self.waiters.lock();
        waiters.push(Arc::clone(waiter));
        self.count.store(waiters.len(), Ordering::SeqCst);
    }

    /// Removes a waiter.
    pub(crate) fn unregister(&self, waiter: &Arc<Waiter>) {
        let mut waiters = self.waiters.lock();
        if let Some(i) = waiters.iter().position(|w| Arc::ptr_eq(w, waiter)) {
            waiters.swap_remove(i);
        }
        self.count.store(waiters.len(), Ordering::SeqCst);
    }

    /// Whether a waiter is registered.
    pub(crate) fn has_waiters(&self) -> bool {
        self.count.load(Ordering::SeqCst) != 0
    }

    /// Wakes every registered waiter.
    ///
    /// Every append calls it, mostly with no one waiting: that check is inlined into the
    /// append, the waking is not.
    #[inline]
    pub(crate) fn notify(&self) {
        if self.count.load(Ordering::SeqCst) != 0 {
            self.wake_all();
        }
    }

    #[inline(never)]
    fn wake_all(&self) {
        for waiter in self.waiters.lock().iter() {
            waiter.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_parked_waiter_is_woken() {
        let notify = Arc::new(Notify::default());
        let (tx, rx) = crossbeam_channel::bounded(1);
        let n = Arc::clone(&notify);
        let handle = thread::spawn(move || {
            let waiter = Waiter::current();
            n.register(&waiter);
            tx.send(()).expect("test channel");
            let deadline = Instant::now() + Duration::from_secs(10);
            while !waiter.notified() && Instant::now() < deadline {
                thread::park_timeout(Duration::from_secs(1));
            }
            n.unregister(&waiter);
            waiter.notified()
        });
        rx.recv().expect("test channel");
        notify.notify();
        assert!(handle.join().expect("waiter thread"));
        assert_eq!(notify.count.load(Ordering::SeqCst), 0);
    }

    /// A task's waiter wakes the waker it was last given, and only that one.
    #[cfg(feature = "async")]
    #[test]
    fn a_task_waiter_wakes_its_latest_waker() {
        use std::task::{Wake, Waker};

        #[derive(Default)]
        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let (first, second) = (Arc::new(Count::default()), Arc::new(Count::default()));
        let notify = Notify::default();
        let waiter = Waiter::task();
        waiter.set_waker(&Waker::from(Arc::clone(&first)));
        waiter.set_waker(&Waker::from(Arc::clone(&second)));
        notify.register(&waiter);
        notify.notify();
        assert!(waiter.notified());
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
        notify.unregister(&waiter);
        notify.notify();
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
    }
}
