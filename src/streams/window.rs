//! Windows on event time: which windows a record's timestamp falls in, and when a window
//! closes. Pure arithmetic on milliseconds since the epoch, with Kafka Streams' rules.
//!
//! - Time windows are `[start, start + size)` with `start` a multiple of the advance,
//!   counted from the epoch; tumbling windows advance by their size. As in Kafka, no window
//!   starts before the epoch, so a negative timestamp falls in no window (strom's producer,
//!   like Kafka's, refuses negative timestamps anyway), and a hopping window that would start
//!   before 0 is left out.
//! - A task's stream time is the largest timestamp it has seen, this record's included. A
//!   time window closes when stream time reaches `end + grace`; a record for a closed window
//!   is dropped (Kafka's `KStreamWindowAggregate` keeps a window while `end > stream time -
//!   grace`).
//! - A record joins every session of its key that ends no earlier than `timestamp - gap` and
//!   starts no later than `timestamp + gap`; the merged session runs from the earliest start
//!   to the latest end, and a session's end is its last record's timestamp (inclusive). A
//!   session closes when stream time passes `end + gap + grace`: until then a record may
//!   still extend it (Kafka's `KStreamSessionWindowAggregate` drops a merged session whose
//!   `end < stream time - grace - gap`), and its final result is out once stream time
//!   reaches that (Kafka's suppression waits `grace + gap` past a session's end).
//! - Two records of a stream-stream join meet when `|t1 - t2| <= d`, both ends inclusive. A
//!   record's join window closes when stream time passes `t + d + grace` (Kafka's
//!   `KStreamKStreamJoin`): a left join's unmatched record then comes out with `None`.
//!
//! Sums that could overflow an `i64` near its extremes are done in `i128`; window ends
//! saturate at `i64::MAX`, as Kafka's do.

use std::time::Duration;

use crate::error::{Error, Result};

/// Milliseconds in `d`, saturating at `i64::MAX` (292 million years).
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// One window: `[start_ms, end_ms)` for time windows, `[start_ms, end_ms]` for sessions
/// (Kafka's `Window`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    /// Where the window starts, ms since the epoch (inclusive).
    pub start_ms: i64,
    /// Where it ends, ms since the epoch (exclusive for time windows, inclusive for sessions).
    pub end_ms: i64,
}

/// Fixed-size windows aligned to the epoch: tumbling (`of`) or hopping (`advance_by`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use strom::streams::TimeWindows;
///
/// // 5-minute windows every minute, accepting records up to 30 s late.
/// let windows = TimeWindows::of(Duration::from_secs(300))
///     .advance_by(Duration::from_secs(60))
///     .grace(Duration::from_secs(30));
/// assert_eq!((windows.size_ms(), windows.advance_ms(), windows.grace_ms()), (300_000, 60_000, 30_000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimeWindows {
    // All three in milliseconds.
    size: i64,
    advance: i64,
    grace: i64,
}

impl TimeWindows {
    /// Tumbling windows of `size`: `[0, size)`, `[size, 2·size)`, … from the epoch, with no
    /// grace. A size under a millisecond is refused when the topology is built.
    #[must_use]
    pub fn of(size: Duration) -> Self {
        let size_ms = millis(size);
        Self {
            size: size_ms,
            advance: size_ms,
            grace: 0,
        }
    }

    /// Hopping windows: a window starts every `step` (which must be at least a millisecond
    /// and at most the size, checked when the topology is built). By default, the size: the
    /// windows tumble.
    #[must_use]
    pub fn advance_by(mut self, step: Duration) -> Self {
        self.advance = millis(step);
        self
    }

    /// How long after its end a window still accepts records, in stream time. By default,
    /// zero: a window closes as soon as stream time reaches its end.
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = millis(grace);
        self
    }

    /// The size of each window, in milliseconds.
    pub fn size_ms(&self) -> i64 {
        self.size
    }

    /// The distance between the starts of consecutive windows, in milliseconds.
    pub fn advance_ms(&self) -> i64 {
        self.advance
    }

    /// The grace period, in milliseconds.
    pub fn grace_ms(&self) -> i64 {
        self.grace
    }

    /// Refuses windows that cover nothing or skip time (Kafka throws for the same).
    pub(crate) fn validate(&self) -> Result<()> {
        if self.size <= 0 {
            return Err(Error::InvalidTopology {
                reason: "TimeWindows size must be at least 1 ms".into(),
            });
        }
        if self.advance <= 0 || self.advance > self.size {
            return Err(Error::InvalidTopology {
                reason: format!(
                    "TimeWindows advance must be between 1 ms and the size ({} ms), not {} ms",
                    self.size, self.advance
                ),
            });
        }
        Ok(())
    }

    /// The windows `timestamp_ms` falls in, earliest first (Kafka's `windowsFor`): about
    /// `size / advance` of them, fewer near the epoch, none for a negative timestamp. Ends
    /// saturate at `i64::MAX`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use strom::streams::{TimeWindows, Window};
    ///
    /// let hopping = TimeWindows::of(Duration::from_millis(100)).advance_by(Duration::from_millis(50));
    /// let windows: Vec<Window> = hopping.windows_for(120).collect();
    /// assert_eq!(windows, [Window { start_ms: 50, end_ms: 150 }, Window { start_ms: 100, end_ms: 200 }]);
    /// ```
    pub fn windows_for(&self, timestamp_ms: i64) -> impl Iterator<Item = Window> {
        let (size, advance) = (self.size.max(1), self.advance.max(1));
        // Kafka's TimeWindows.windowsFor: the first start is the latest multiple of the
        // advance at or before `timestamp - size + advance`, but never before the epoch.
        // In i128, because unvalidated windows (advance > size) could overflow an i64.
        let first = if timestamp_ms < 0 {
            None
        } else {
            let lowest = (i128::from(timestamp_ms) - i128::from(size) + i128::from(advance)).max(0);
            i64::try_from(lowest - lowest % i128::from(advance)).ok()
        };
        let mut next = first;
        std::iter::from_fn(move || {
            let start = next.filter(|&s| s <= timestamp_ms)?;
            next = start.checked_add(advance);
            Some(Window {
                start_ms: start,
                end_ms: start.saturating_add(size),
            })
        })
    }

    /// Whether the window ending at `end_ms` no longer accepts records at `stream_time_ms`.
    pub(crate) fn is_closed(&self, end_ms: i64, stream_time_ms: i64) -> bool {
        i128::from(end_ms) + i128::from(self.grace) <= i128::from(stream_time_ms)
    }
}

/// Session windows: a key's records separated by less than the inactivity gap form one
/// session, which grows and merges as records arrive.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use strom::streams::SessionWindows;
///
/// let sessions = SessionWindows::with_inactivity_gap(Duration::from_secs(60)).grace(Duration::from_secs(5));
/// assert_eq!((sessions.inactivity_gap_ms(), sessions.grace_ms()), (60_000, 5_000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionWindows {
    gap_ms: i64,
    grace_ms: i64,
}

impl SessionWindows {
    /// Sessions that end once a key has had no record for `gap` (at least a millisecond,
    /// checked when the topology is built), with no grace.
    #[must_use]
    pub fn with_inactivity_gap(gap: Duration) -> Self {
        Self {
            gap_ms: millis(gap),
            grace_ms: 0,
        }
    }

    /// How long after its end a session still accepts records, in stream time. By default,
    /// zero.
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace_ms = millis(grace);
        self
    }

    /// The inactivity gap, in milliseconds.
    pub fn inactivity_gap_ms(&self) -> i64 {
        self.gap_ms
    }

    /// The grace period, in milliseconds.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.gap_ms <= 0 {
            return Err(Error::InvalidTopology {
                reason: "SessionWindows inactivity gap must be at least 1 ms".into(),
            });
        }
        Ok(())
    }

    /// Whether a record at `timestamp_ms` joins `session` (Kafka's `findSessions(key,
    /// timestamp - gap, timestamp + gap)`: sessions ending at or after the first, starting
    /// at or before the second).
    pub(crate) fn reaches(&self, session: Window, timestamp_ms: i64) -> bool {
        let (t, gap) = (i128::from(timestamp_ms), i128::from(self.gap_ms));
        i128::from(session.end_ms) >= t - gap && i128::from(session.start_ms) <= t + gap
    }

    /// The session a record at `timestamp_ms` makes with the sessions of its key, and the
    /// positions in `existing` of those it absorbs (they are replaced by the merged one).
    pub(crate) fn merge(&self, timestamp_ms: i64, existing: &[Window]) -> (Window, Vec<usize>) {
        let mut merged = Window {
            start_ms: timestamp_ms,
            end_ms: timestamp_ms,
        };
        let mut absorbed = Vec::new();
        for (i, session) in existing.iter().enumerate() {
            if self.reaches(*session, timestamp_ms) {
                merged.start_ms = merged.start_ms.min(session.start_ms);
                merged.end_ms = merged.end_ms.max(session.end_ms);
                absorbed.push(i);
            }
        }
        (merged, absorbed)
    }

    /// Whether the session ending at `end_ms` no longer accepts records at
    /// `stream_time_ms`: once stream time is past `end + gap + grace`, as Kafka's. The gap
    /// counts because a record up to a gap after the end still extends the session.
    pub(crate) fn is_closed(&self, end_ms: i64, stream_time_ms: i64) -> bool {
        self.close_ms(end_ms) < i128::from(stream_time_ms)
    }

    /// Whether the result of the session ending at `end_ms` is final at `stream_time_ms`,
    /// for `suppress_until_window_closes`: once stream time reaches `end + gap + grace`
    /// (one millisecond before [`is_closed`](Self::is_closed), as Kafka's suppression
    /// emits at `end <= stream time - grace - gap`).
    pub(crate) fn is_final(&self, end_ms: i64, stream_time_ms: i64) -> bool {
        self.close_ms(end_ms) <= i128::from(stream_time_ms)
    }

    fn close_ms(&self, end_ms: i64) -> i128 {
        i128::from(end_ms) + i128::from(self.gap_ms) + i128::from(self.grace_ms)
    }
}

/// The window of a stream-stream join: records of the two sides meet when their timestamps
/// differ by at most the window (both ends inclusive).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use strom::streams::JoinWindows;
///
/// let within = JoinWindows::of(Duration::from_secs(10)).grace(Duration::from_secs(1));
/// assert_eq!((within.before_ms(), within.after_ms(), within.grace_ms()), (10_000, 10_000, 1_000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct JoinWindows {
    // All three in milliseconds.
    before: i64,
    after: i64,
    grace: i64,
}

impl JoinWindows {
    /// Records meet when `|t1 - t2| <= difference`; no grace.
    #[must_use]
    pub fn of(difference: Duration) -> Self {
        let ms = millis(difference);
        Self {
            before: ms,
            after: ms,
            grace: 0,
        }
    }

    /// How long after a record's window ends it is still kept to be joined, in stream time.
    /// By default, zero.
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = millis(grace);
        self
    }

    /// How far before a record's timestamp the other side's records may be, in milliseconds.
    pub fn before_ms(&self) -> i64 {
        self.before
    }

    /// How far after a record's timestamp the other side's records may be, in milliseconds.
    pub fn after_ms(&self) -> i64 {
        self.after
    }

    /// The grace period, in milliseconds.
    pub fn grace_ms(&self) -> i64 {
        self.grace
    }

    /// Whether a record at `this_ms` meets one of the other side at `other_ms`.
    pub(crate) fn contains(&self, this_ms: i64, other_ms: i64) -> bool {
        let (this, other) = (i128::from(this_ms), i128::from(other_ms));
        other >= this - i128::from(self.before) && other <= this + i128::from(self.after)
    }

    /// Whether the window of a record at `timestamp_ms` has closed at `stream_time_ms`, so
    /// that a left join's unmatched record comes out with `None` (Kafka's
    /// `KStreamKStreamJoin`: `timestamp + after + grace < stream time`).
    pub(crate) fn is_closed(&self, timestamp_ms: i64, stream_time_ms: i64) -> bool {
        i128::from(timestamp_ms) + i128::from(self.after) + i128::from(self.grace)
            < i128::from(stream_time_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn starts(windows: &TimeWindows, t: i64) -> Vec<(i64, i64)> {
        windows
            .windows_for(t)
            .map(|w| (w.start_ms, w.end_ms))
            .collect()
    }

    #[test]
    fn tumbling_windows_are_aligned_to_the_epoch() {
        let w = TimeWindows::of(ms(100));
        assert_eq!(starts(&w, 0), [(0, 100)]);
        assert_eq!(starts(&w, 99), [(0, 100)]);
        assert_eq!(starts(&w, 100), [(100, 200)]); // the end is exclusive
        assert_eq!(starts(&w, 1_234), [(1_200, 1_300)]);
        assert_eq!(starts(&w, -1), []);
    }

    #[test]
    fn hopping_windows_overlap_and_start_no_earlier_than_the_epoch() {
        let w = TimeWindows::of(ms(100)).advance_by(ms(25));
        assert_eq!(
            starts(&w, 130),
            [(50, 150), (75, 175), (100, 200), (125, 225)]
        );
        // Kafka's windowsFor leaves out windows that would start before 0.
        assert_eq!(starts(&w, 10), [(0, 100)]);
        assert_eq!(starts(&w, 60), [(0, 100), (25, 125), (50, 150)]);
        // A step that does not divide the size.
        let w = TimeWindows::of(ms(10)).advance_by(ms(3));
        assert_eq!(starts(&w, 20), [(12, 22), (15, 25), (18, 28)]);
    }

    #[test]
    fn windows_at_the_end_of_time_saturate() {
        let w = TimeWindows::of(ms(100)).advance_by(ms(50));
        let got = starts(&w, i64::MAX);
        let last = i64::MAX - i64::MAX % 50;
        assert_eq!(got, [(last - 50, i64::MAX), (last, i64::MAX)]);
        let huge = TimeWindows::of(Duration::MAX);
        assert_eq!(huge.size_ms(), i64::MAX);
        assert_eq!(starts(&huge, 5), [(0, i64::MAX)]);
        // [0, MAX) ends before MAX; the next window starts there and its end saturates.
        assert_eq!(starts(&huge, i64::MAX), [(i64::MAX, i64::MAX)]);
    }

    #[test]
    fn a_window_closes_when_stream_time_reaches_end_plus_grace() {
        let w = TimeWindows::of(ms(100)).grace(ms(10));
        assert!(!w.is_closed(100, 109));
        assert!(w.is_closed(100, 110));
        let no_grace = TimeWindows::of(ms(100));
        assert!(!no_grace.is_closed(100, 99));
        assert!(no_grace.is_closed(100, 100));
        assert!(!TimeWindows::of(ms(1))
            .grace(Duration::MAX)
            .is_closed(i64::MAX, i64::MAX));
    }

    #[test]
    fn invalid_windows_are_refused() {
        assert!(TimeWindows::of(ms(0)).validate().is_err());
        assert!(TimeWindows::of(Duration::from_micros(999))
            .validate()
            .is_err());
        assert!(TimeWindows::of(ms(10))
            .advance_by(ms(11))
            .validate()
            .is_err());
        assert!(TimeWindows::of(ms(10))
            .advance_by(ms(0))
            .validate()
            .is_err());
        assert!(TimeWindows::of(ms(10))
            .advance_by(ms(10))
            .validate()
            .is_ok());
        assert!(SessionWindows::with_inactivity_gap(ms(0))
            .validate()
            .is_err());
    }

    fn session(start_ms: i64, end_ms: i64) -> Window {
        Window { start_ms, end_ms }
    }

    #[test]
    fn a_record_merges_every_session_within_the_gap() {
        let s = SessionWindows::with_inactivity_gap(ms(10));
        let existing = [session(0, 5), session(20, 30), session(50, 50)];
        // 15 is within 10 of both the first session's end and the second's start.
        assert_eq!(s.merge(15, &existing), (session(0, 30), vec![0, 1]));
        // Exactly the gap away still joins (both bounds inclusive).
        assert_eq!(s.merge(40, &existing), (session(20, 50), vec![1, 2]));
        // One past the gap starts a session of its own.
        assert_eq!(s.merge(61, &existing), (session(61, 61), vec![]));
        // Inside a session, nothing changes but the absorption of that session.
        assert_eq!(s.merge(25, &existing), (session(20, 30), vec![1]));
        // A late record before a session extends its start.
        assert_eq!(s.merge(-3, &existing), (session(-3, 5), vec![0]));
    }

    #[test]
    fn sessions_close_after_end_plus_gap_plus_grace() {
        let s = SessionWindows::with_inactivity_gap(ms(10)).grace(ms(5));
        // A record at 110 would still extend a session ending at 100: it is open until
        // stream time passes 100 + 10 + 5 (Kafka's close time is stream time - grace - gap).
        assert!(!s.is_closed(100, 106));
        assert!(!s.is_closed(100, 115));
        assert!(s.is_closed(100, 116));
        assert!(!s.is_final(100, 114));
        assert!(s.is_final(100, 115));
        let extreme = SessionWindows::with_inactivity_gap(Duration::MAX);
        // No overflow at the extremes: 0 is exactly a gap of i64::MAX before i64::MAX.
        assert!(extreme.reaches(session(0, 0), i64::MAX));
        assert!(!extreme.reaches(session(i64::MIN, -1), i64::MAX));
        assert!(extreme.reaches(session(0, 0), i64::MIN + 1));
        assert!(!extreme.reaches(session(1, 1), i64::MIN + 1));
    }

    #[test]
    fn join_windows_are_inclusive() {
        let j = JoinWindows::of(ms(10));
        assert!(j.contains(100, 90));
        assert!(j.contains(100, 110));
        assert!(!j.contains(100, 89));
        assert!(!j.contains(100, 111));
        assert!(j.contains(i64::MAX, i64::MAX - 10));
        assert!(!j.contains(i64::MIN, i64::MAX));
        let graced = j.grace(ms(5));
        assert!(!graced.is_closed(100, 115));
        assert!(graced.is_closed(100, 116));
    }

    proptest! {
        #[test]
        fn windows_for_matches_the_definition(
            size in 1_i64..500,
            advance_pick in 1_i64..500,
            t in 0_i64..5_000,
        ) {
            let advance = 1 + (advance_pick - 1) % size;
            let w = TimeWindows::of(ms(size.cast_unsigned())).advance_by(ms(advance.cast_unsigned()));
            prop_assert!(w.validate().is_ok());
            let got = starts(&w, t);
            // Every window [k·advance, k·advance + size) with k ≥ 0 that holds t.
            let want: Vec<(i64, i64)> = (0..=t / advance)
                .map(|k| (k * advance, k * advance + size))
                .filter(|&(s, e)| s <= t && t < e)
                .collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn windows_for_never_overflows(
            size in 1_i64..=i64::MAX,
            advance_pick in 1_i64..=i64::MAX,
            t in any::<i64>(),
        ) {
            // Unvalidated windows too: an advance larger than the size leaves gaps.
            let advance = if advance_pick % 2 == 0 { advance_pick } else { 1 + (advance_pick - 1) % size };
            let w = TimeWindows { size, advance, grace: i64::MAX };
            for window in w.windows_for(t).take(3) {
                prop_assert!(window.start_ms <= t && t < window.end_ms || window.end_ms == i64::MAX);
            }
            let _ = w.is_closed(t, t);
        }
    }
}
