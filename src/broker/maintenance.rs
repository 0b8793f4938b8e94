//! Which data directories of this process have a maintenance round in flight.
//!
//! The maintenance thread holds the broker only weakly, and strongly for the length of a
//! round. If the application drops its last handle meanwhile, the round's end is the last
//! drop, and the close (fsync, clean marker, unlock) runs on the maintenance thread after
//! the application's drop has returned. An `open` of that directory right then would find
//! it locked by a broker the application has already let go of; so an open that finds the
//! lock held waits for this process's round on the directory to end (if one is in flight),
//! then tries again.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parking_lot::{const_mutex, Condvar, Mutex};

/// The directories (as the broker names them, canonical) with a round in flight.
static IN_ROUND: Mutex<Vec<PathBuf>> = const_mutex(Vec::new());
static ROUND_ENDED: Condvar = Condvar::new();

/// How long an open waits for a round to end: rounds are short, but retention and
/// compaction rewrite files.
const ROUND_WAIT: Duration = Duration::from_secs(60);

/// A round in flight on one directory, from before the thread takes the broker until
/// after it lets it go (and so after a close that letting go may run).
#[derive(Debug)]
pub(super) struct Round {
    dir: PathBuf,
}

impl Round {
    pub(super) fn enter(dir: &Path) -> Self {
        IN_ROUND.lock().push(dir.to_path_buf());
        Self {
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for Round {
    fn drop(&mut self) {
        let mut in_round = IN_ROUND.lock();
        if let Some(i) = in_round.iter().position(|d| *d == self.dir) {
            in_round.swap_remove(i);
        }
        ROUND_ENDED.notify_all();
    }
}

/// Waits until no round of this process is in flight on `dir`.
pub(super) fn wait_for_round(dir: &Path) {
    let deadline = Instant::now() + ROUND_WAIT;
    let mut in_round = IN_ROUND.lock();
    while in_round.iter().any(|d| d == dir) {
        if ROUND_ENDED.wait_until(&mut in_round, deadline).timed_out() {
            break;
        }
    }
}
