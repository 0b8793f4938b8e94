//! Group commit of transaction decisions: commits deciding at the same time share their
//! fsyncs. Each commit queues the logs it needs durable (its partitions up to their high
//! watermarks, then the transaction log up to its decision); one of the waiting commits, the
//! leader, syncs everything queued before it started, once per log, and the others wait for
//! its round to end. An fsync costs the same for one commit's bytes as for many, so with `n`
//! commits deciding at once each pays about `1/n` of one.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::error::Result;
use crate::log::PartitionLog;

/// A log and the offset it must be durable up to.
pub(crate) type SyncTo = (Arc<PartitionLog>, u64);

/// Commits waiting for their logs to be synced, in rounds.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    queue: Mutex<Queue>,
    round_done: Condvar,
}

#[derive(Debug, Default)]
struct Queue {
    /// What the next round syncs first (each log once, to the highest offset asked)...
    first: Vec<SyncTo>,
    /// ... and then.
    then: Vec<SyncTo>,
    /// The number of the round being queued for.
    next_round: u64,
    /// How many rounds have ended.
    rounds_done: u64,
    /// Whether a round is being synced.
    syncing: bool,
}

/// Adds `(log, offset)` to `list`, or raises the offset of `log` already there.
fn merge(list: &mut Vec<SyncTo>, (log, offset): &SyncTo) {
    match list.iter_mut().find(|(l, _)| Arc::ptr_eq(l, log)) {
        Some((_, to)) => *to = (*to).max(*offset),
        None => list.push((Arc::clone(log), *offset)),
    }
}

impl GroupCommit {
    /// Returns once every log of `first`, then `then`, is durable up to its offset, synced
    /// together with what other commits asked meanwhile.
    ///
    /// # Errors
    /// The error of a failed fsync of one of these logs ([`Error::Io`](crate::Error::Io)).
    pub(crate) fn sync(&self, first: &[SyncTo], then: &SyncTo) -> Result<()> {
        let mut queue = self.queue.lock();
        for item in first {
            merge(&mut queue.first, item);
        }
        merge(&mut queue.then, then);
        let round = queue.next_round;
        while queue.rounds_done <= round {
            if queue.syncing {
                self.round_done.wait(&mut queue);
                continue;
            }
            // This round's leader: the queue goes out as it is, later commits queue for the
            // next round.
            queue.syncing = true;
            queue.next_round += 1;
            let first = std::mem::take(&mut queue.first);
            let then = std::mem::take(&mut queue.then);
            MutexGuard::unlocked(&mut queue, || {
                for (log, offset) in first.iter().chain(&then) {
                    // A failure is each waiter's to report: each checks its own logs below.
                    if log.sync_to(*offset).is_err() {
                        break;
                    }
                }
            });
            queue.syncing = false;
            queue.rounds_done += 1;
            self.round_done.notify_all();
        }
        drop(queue);
        // Durable already unless the round failed: then this syncs again, and reports why
        // it cannot (a failed fsync leaves the log refusing writes and syncs).
        for (log, offset) in first.iter().chain(std::iter::once(then)) {
            log.sync_to(*offset)?;
        }
        Ok(())
    }
}
