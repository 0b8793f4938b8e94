//! Group commit for `SyncPolicy::Always`: senders waiting for their records to be durable
//! share fsyncs, in rounds. One of them leads a round and syncs everything appended so far;
//! the others wait for it, and those it covered return together when it ends.
//!
//! A leader that starts at once covers only the senders that appended while the round
//! before it ran: the ones that round released are still waking up. Each sender would then
//! ride every other fsync, and the rounds would alternate between two halves of the
//! senders. So a leader first gathers: it waits, briefly, for as many senders as the last
//! round covered. The wait ends when they are all there, or after half the last fsync's
//! duration, so a sender that stopped sending costs one round at most that much.
//!
//! An async sender (feature `async`) waits in the same queue, as a task; it cannot lead, as
//! an fsync would block its executor. When a round is needed and nobody leads, it asks the
//! background syncer ([`super::durable`]) to lead one, and is woken when that round ends.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::notify::{Round, Waiter};
use crate::error::Result;

/// The longest a leader gathers, whatever the last fsync took.
const MAX_GATHER: Duration = Duration::from_millis(1);

/// Senders sharing fsyncs.
#[derive(Debug, Default)]
pub(crate) struct SyncRounds {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Whether a round is being led now (gathering or syncing).
    leading: bool,
    /// Senders waiting for the next round to cover them, the leader not counted. Each is
    /// woken by itself, without the lock: a condition variable would hand the lock from one
    /// woken sender to the next, and on a busy machine that chain of wake-ups takes longer
    /// than the fsync.
    queue: Vec<Arc<Waiter>>,
    /// The senders the round being synced covers, woken when it ends.
    in_flight: Vec<Arc<Waiter>>,
    /// The leader while it gathers, to be woken once `queue` is full enough.
    gathering: Option<Arc<Waiter>>,
    /// How many senders the last round covered, its leader included.
    last_round: usize,
    /// How long the last round's sync took.
    last_sync: Duration,
    /// Whether the background syncer was asked to lead a round it has not yet begun.
    #[cfg(feature = "async")]
    requested: bool,
}

/// Where an async sender stands, from [`SyncRounds::queue_task`].
#[cfg(feature = "async")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queued {
    /// Its records are durable.
    Covered,
    /// A round that is led, or has been asked for, will wake it.
    Waiting,
    /// Nobody leads and nobody was asked: the caller must have the syncer lead a round.
    NeedsLeader,
}

impl State {
    /// Queues `waiter` for the next round.
    fn enqueue(&mut self, waiter: &Arc<Waiter>) {
        waiter.set_round(Round::Queued);
        self.queue.push(Arc::clone(waiter));
    }

    /// Takes `waiter` out of the queue, if it is there; the queue is searched only then.
    fn dequeue(&mut self, waiter: &Arc<Waiter>) -> bool {
        if waiter.round() != Round::Queued {
            return false;
        }
        waiter.set_round(Round::Out);
        self.queue.retain(|w| !Arc::ptr_eq(w, waiter));
        true
    }

    /// Moves the queue into the round about to be synced.
    fn start_round(&mut self) {
        for waiter in &self.queue {
            waiter.set_round(Round::InFlight);
        }
        self.in_flight = std::mem::take(&mut self.queue);
    }

    /// Takes the senders the round just synced covered.
    fn end_round(&mut self) -> Vec<Arc<Waiter>> {
        let covered = std::mem::take(&mut self.in_flight);
        for waiter in &covered {
            waiter.set_round(Round::Out);
        }
        covered
    }

    /// Who is woken to lead the next round: a queued thread if there is one, since a
    /// task woken to lead only asks the syncer once its executor polls it again, and the
    /// threads queued behind it would wait for that executor.
    fn next_leader(&self) -> Option<Arc<Waiter>> {
        self.queue
            .iter()
            .find(|w| w.is_thread())
            .or(self.queue.first())
            .cloned()
    }
}

impl SyncRounds {
    /// Returns once `covered()` holds: at once if it does, else after a round that makes
    /// it hold, led by this thread (running `sync`) or by another. `covered` must become
    /// true whenever `sync` succeeds after this call began.
    ///
    /// # Errors
    /// The error of `sync`, when this thread led the round.
    pub(crate) fn wait_for(
        &self,
        covered: impl Fn() -> bool,
        sync: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        let waiter = Waiter::current();
        loop {
            let mut state = self.state.lock();
            // Woken to lead, this sender may find another leading already: it waits again,
            // queued once.
            state.dequeue(&waiter);
            if !state.leading {
                if covered() {
                    // Covered by a round that ended before this thread got the lock.
                    return Ok(());
                }
                state.leading = true;
                drop(state);
                return self.lead(&waiter, sync);
            }
            waiter.reset();
            if waiter.round() != Round::InFlight {
                state.enqueue(&waiter);
                if state.queue.len() + 1 >= state.last_round {
                    if let Some(leader) = state.gathering.take() {
                        leader.wake();
                    }
                }
            }
            drop(state);
            while !waiter.notified() {
                thread::park();
            }
            // Woken at the end of a round: covered by it, or (it failed, or this sender
            // queued during it) to lead the next one.
            if covered() {
                return Ok(());
            }
        }
    }

    /// Leads a round: gathers senders, syncs, and wakes those covered.
    fn lead(&self, me: &Arc<Waiter>, sync: impl FnOnce() -> Result<()>) -> Result<()> {
        let mut state = self.state.lock();
        let target = state.last_round;
        // A task may be waiting on an earlier request for the syncer; this round covers it.
        #[cfg(feature = "async")]
        {
            state.requested = false;
        }
        let deadline = Instant::now() + (state.last_sync / 2).min(MAX_GATHER);
        while state.queue.len() + 1 < target {
            me.reset();
            state.gathering = Some(Arc::clone(me));
            drop(state);
            loop {
                let now = Instant::now();
                if me.notified() || now >= deadline {
                    break;
                }
                thread::park_timeout(deadline - now);
            }
            state = self.state.lock();
            state.gathering = None;
            if Instant::now() >= deadline {
                break;
            }
        }
        // Every sender queued now appended before it queued: this round covers them.
        state.start_round();
        drop(state);
        let started = Instant::now();
        let result = sync();
        let took = started.elapsed();
        let mut state = self.state.lock();
        let covered = state.end_round();
        state.leading = false;
        state.last_round = covered.len() + 1;
        state.last_sync = took;
        // One of those who queued during the sync leads the next round.
        let next = state.next_leader();
        drop(state);
        for waiter in covered.iter().chain(&next) {
            waiter.wake();
        }
        result
    }
}

#[cfg(feature = "async")]
impl SyncRounds {
    /// For a task: whether `covered()` holds, else queues `waiter` to be woken by the round
    /// that makes it hold (or that hands it the lead, when it must ask again). The caller
    /// must have called `waiter.set_waker` first.
    pub(crate) fn queue_task(&self, waiter: &Arc<Waiter>, covered: impl Fn() -> bool) -> Queued {
        let mut state = self.state.lock();
        state.dequeue(waiter);
        if covered() {
            return Queued::Covered;
        }
        if waiter.round() == Round::InFlight {
            return Queued::Waiting;
        }
        waiter.reset();
        state.enqueue(waiter);
        if state.leading {
            if state.queue.len() + 1 >= state.last_round {
                if let Some(leader) = state.gathering.take() {
                    leader.wake();
                }
            }
            return Queued::Waiting;
        }
        if state.requested {
            return Queued::Waiting;
        }
        state.requested = true;
        Queued::NeedsLeader
    }

    /// Takes a task's waiter out of the queue (its future was dropped). Should a round have
    /// just handed it the lead, the lead goes to the next in the queue instead, or nobody
    /// would lead them.
    pub(crate) fn forget_task(&self, waiter: &Arc<Waiter>) {
        let mut state = self.state.lock();
        let next = if state.dequeue(waiter) && !state.leading && !state.requested {
            state.next_leader()
        } else {
            None
        };
        drop(state);
        if let Some(next) = next {
            next.wake();
        }
    }

    /// Leads a round for the tasks queued, on the syncer's thread: unless a round is being
    /// led already (it covers them, or hands the lead on when it ends), or none are left.
    pub(crate) fn lead_requested(&self, sync: impl FnOnce() -> Result<()>) -> Result<()> {
        let mut state = self.state.lock();
        state.requested = false;
        if state.leading || state.queue.is_empty() {
            return Ok(());
        }
        state.leading = true;
        drop(state);
        self.lead(&Waiter::current(), sync)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Barrier;
    use std::thread;

    /// Every waiter returns covered, whoever led its round.
    #[test]
    fn concurrent_waiters_return_covered() {
        let rounds = SyncRounds::default();
        let appended = AtomicU64::new(0);
        let durable = AtomicU64::new(0);
        let syncs = AtomicU64::new(0);
        let threads = 8;
        let start = Barrier::new(threads);
        thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    start.wait();
                    for _ in 0..50 {
                        let mine = appended.fetch_add(1, Ordering::SeqCst) + 1;
                        rounds
                            .wait_for(
                                || durable.load(Ordering::SeqCst) >= mine,
                                || {
                                    syncs.fetch_add(1, Ordering::SeqCst);
                                    durable.fetch_max(
                                        appended.load(Ordering::SeqCst),
                                        Ordering::SeqCst,
                                    );
                                    Ok(())
                                },
                            )
                            .expect("sync");
                        assert!(durable.load(Ordering::SeqCst) >= mine);
                    }
                });
            }
        });
        assert_eq!(durable.load(Ordering::SeqCst), 400);
        assert!(syncs.load(Ordering::SeqCst) >= 1);
    }

    /// A failed sync is the leader's error; the next waiter leads a new round.
    #[test]
    fn a_failed_round_is_reported_and_the_next_one_runs() {
        let rounds = SyncRounds::default();
        let err = rounds.wait_for(|| false, || Err(crate::Error::Closed));
        assert!(matches!(err, Err(crate::Error::Closed)));
        let durable = AtomicU64::new(0);
        rounds
            .wait_for(
                || durable.load(Ordering::SeqCst) == 1,
                || {
                    durable.store(1, Ordering::SeqCst);
                    Ok(())
                },
            )
            .expect("second round");
    }

    /// Counts the wake-ups of a task.
    #[cfg(feature = "async")]
    #[derive(Default)]
    struct Wakes(AtomicU64);

    #[cfg(feature = "async")]
    impl std::task::Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[cfg(feature = "async")]
    fn task() -> (Arc<Waiter>, Arc<Wakes>) {
        let wakes = Arc::new(Wakes::default());
        let waiter = Waiter::task();
        waiter.set_waker(&std::task::Waker::from(Arc::clone(&wakes)));
        (waiter, wakes)
    }

    /// Tasks ask for the syncer once; the round it leads covers and wakes them all.
    #[cfg(feature = "async")]
    #[test]
    fn tasks_share_the_round_they_asked_for() {
        let rounds = SyncRounds::default();
        let durable = AtomicU64::new(0);
        let covered = || durable.load(Ordering::SeqCst) == 1;
        let (a, a_wakes) = task();
        let (b, b_wakes) = task();
        assert_eq!(rounds.queue_task(&a, covered), Queued::NeedsLeader);
        assert_eq!(rounds.queue_task(&b, covered), Queued::Waiting);
        rounds
            .lead_requested(|| {
                durable.store(1, Ordering::SeqCst);
                Ok(())
            })
            .expect("round");
        assert_eq!(a_wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(b_wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(rounds.queue_task(&a, covered), Queued::Covered);
        assert_eq!(rounds.queue_task(&b, covered), Queued::Covered);
        // Nothing is left for a second request to lead.
        rounds
            .lead_requested(|| panic!("no round without waiters"))
            .expect("nothing to do");
    }

    /// A task polled again before its round comes is queued once, and forgetting it
    /// empties the queue: its place is known without searching.
    #[cfg(feature = "async")]
    #[test]
    fn a_task_polled_twice_is_queued_once() {
        let rounds = SyncRounds::default();
        let (a, _) = task();
        assert_eq!(rounds.queue_task(&a, || false), Queued::NeedsLeader);
        assert_eq!(rounds.queue_task(&a, || false), Queued::Waiting);
        assert_eq!(rounds.state.lock().queue.len(), 1);
        assert_eq!(a.round(), Round::Queued);
        rounds.forget_task(&a);
        assert!(rounds.state.lock().queue.is_empty());
        assert_eq!(a.round(), Round::Out);
    }

    /// A task dropped after a round handed it the lead passes the lead on, to a thread in
    /// preference; else to the next task.
    #[cfg(feature = "async")]
    #[test]
    fn a_dropped_task_passes_the_lead_on() {
        let rounds = SyncRounds::default();
        let (a, _) = task();
        let (b, b_wakes) = task();
        let thread = Waiter::current();
        for w in [&a, &b, &thread] {
            rounds.state.lock().enqueue(w);
        }
        rounds.forget_task(&a);
        assert!(thread.notified());
        assert_eq!(b_wakes.0.load(Ordering::SeqCst), 0);
        rounds.state.lock().dequeue(&thread);
        let (c, c_wakes) = task();
        rounds.state.lock().enqueue(&c);
        rounds.forget_task(&b);
        assert_eq!(c_wakes.0.load(Ordering::SeqCst), 1);
    }
}
