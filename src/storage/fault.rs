//! A seam for injecting I/O failures, so that tests can check what strom does when the
//! disk fails: with the `fault-injection` feature, `inject` arms a failure that the next
//! matching operation reports instead of doing its work. Without the feature every check
//! compiles to nothing.

use std::io;
use std::path::Path;

/// Where a failure can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultPoint {
    /// Writing to a segment file (the zeroes written ahead of the appends).
    Write,
    /// An fsync of a segment (`Producer::flush`, `SyncPolicy::Always`, a roll).
    Fsync,
    /// Sizing a new segment file when a log rolls: fails as a full disk (`ENOSPC`).
    Grow,
    /// Looking up the size of a sealed segment found at open (its `metadata`).
    Metadata,
}

#[cfg(feature = "fault-injection")]
mod armed {
    use std::sync::Mutex;

    use super::FaultPoint;

    /// Armed failures: a point and how many more matching operations succeed first.
    pub(super) static PLAN: Mutex<Vec<(FaultPoint, u32)>> = Mutex::new(Vec::new());
}

/// Makes the operation at `point` fail after `successes` more of them succeed, once.
/// Process-wide: tests that use it must not run beside others that do I/O.
#[cfg(feature = "fault-injection")]
pub fn inject(point: FaultPoint, successes: u32) {
    if let Ok(mut plan) = armed::PLAN.lock() {
        plan.push((point, successes));
    }
}

/// Disarms every injected failure.
#[cfg(feature = "fault-injection")]
pub fn clear() {
    if let Ok(mut plan) = armed::PLAN.lock() {
        plan.clear();
    }
}

/// The injected failure for an operation at `point` on `path`, if one is due.
#[cfg(feature = "fault-injection")]
pub(crate) fn check(point: FaultPoint, path: &Path) -> io::Result<()> {
    let Ok(mut plan) = armed::PLAN.lock() else {
        return Ok(());
    };
    let Some(i) = plan.iter().position(|(p, _)| *p == point) else {
        return Ok(());
    };
    if let Some((_, left)) = plan.get_mut(i) {
        if *left > 0 {
            *left -= 1;
            return Ok(());
        }
    }
    plan.remove(i);
    Err(match point {
        FaultPoint::Grow => io::Error::from_raw_os_error(28), // ENOSPC
        _ => io::Error::other(format!("injected {point:?} failure on {}", path.display())),
    })
}

/// Without the feature, nothing is ever injected.
#[cfg(not(feature = "fault-injection"))]
#[inline]
#[expect(
    clippy::unnecessary_wraps,
    reason = "the same signature as with the feature"
)]
pub(crate) fn check(_point: FaultPoint, _path: &Path) -> io::Result<()> {
    Ok(())
}
