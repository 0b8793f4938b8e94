//! Waking consumers blocked in `poll` the moment a record is appended.
//!
//! A waiting consumer registers one [`Waiter`] with the [`Notify`] of every partition it
//! reads, re-checks for data, and parks. An append publishes the high watermark and then
//! calls [`Notify::notify`], which costs one atomic load when nobody waits. The store of
//! the watermark and the load of the waiter count are both `SeqCst`, as are the waiter's
//! registration and its re-check, so one side always sees the other: no wake-up is lost.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, Thread};

use parking_lot::Mutex;

/// A parked consumer thread.
#[derive(Debug)]
pub(crate) struct Waiter {
    thread: Thread,
    notified: AtomicBool,
}

impl Waiter {
    /// A waiter for the current thread.
    pub(crate) fn current() -> Arc<Self> {
        Arc::new(Self {
            thread: thread::current(),
            notified: AtomicBool::new(false),
        })
    }

    /// The thread this waiter parks.
    pub(crate) fn thread_id(&self) -> thread::ThreadId {
        self.thread.id()
    }

    /// Clears the flag before a new wait.
    pub(crate) fn reset(&self) {
        self.notified.store(false, Ordering::SeqCst);
    }

    /// Whether an append woke this waiter since the last `reset`.
    pub(crate) fn notified(&self) -> bool {
        self.notified.load(Ordering::SeqCst)
    }

    /// Wakes the waiting thread.
    pub(crate) fn wake(&self) {
        self.notified.store(true, Ordering::SeqCst);
        self.thread.unpark();
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
}
