//! State stores: what aggregations and tables remember per task, as bytes, with each write
//! also emitted to the store's changelog; and [`StoreView`], a decoded, read-only copy.
//!
//! A [`Store`] maps encoded keys to encoded values. Keeping bytes (not typed values) makes
//! the changelog seam one function: the runtime restores a task's store by
//! [`Store::apply`]ing the changelog's records in order, without knowing their types.
//!
//! A windowed store's changelog records (and the keys of a [`Layout::Sorted`] store) are
//! keyed as
//!
//! | Bytes        | What                                 |
//! |--------------|--------------------------------------|
//! | 0..4         | key length `n`, u32 big-endian       |
//! | 4..4+n       | the key, encoded with its codec      |
//! | next 8       | window start, ms, i64 big-endian     |
//! | last 8       | window end, ms, i64 big-endian       |
//!
//! so that one key's windows are one range of a sorted map, sorted by start (timestamps are
//! not negative), and a changelog record says everything about its window.
//!
//! Aggregations write through the store's record cache (Kafka's `statestore.cache.max.bytes`):
//! the store always holds the latest value, but an update only marks its entry dirty; the
//! changelog record and the update sent down the table are emitted when the task flushes
//! ([`Store::take_dirty`]), once per entry however often it changed since.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::error::{Error, Result};

use super::codec::{Codec, Windowed};
use super::processor::encoded;
use super::window::Window;

/// The hash maps of stores: keyed by record keys, so seeded per map (as std's are) but
/// much cheaper to hash than std's `SipHash`.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// How a store keeps its entries, chosen by what reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Key → value, hashed: tables, aggregations, a left join's pending records.
    KeyValue,
    /// Fixed-size time windows: per window start, a hash of key → value, so that a record
    /// finds its window without building a composite key, and an expired window goes as a
    /// whole (the windows are ordered by start, and a store's windows all have one size).
    TimeWindows,
    /// Windows as sorted composite keys (the module's table), for what reads a key's
    /// windows as a range: session merges, stream-stream joins.
    Sorted,
}

/// One stored value.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The timestamp of the latest write, as Kafka's timestamped stores keep one beside
    /// each value.
    timestamp_ms: i64,
    value: Vec<u8>,
    /// 0 when the changelog and the table downstream have this value; else the task's
    /// sequence number of the latest update they have not seen.
    dirty: u64,
    /// Stream time at that update: downstream operators see it again when it is flushed.
    stream_time_ms: i64,
}

impl Entry {
    fn clean(timestamp_ms: i64, value: Vec<u8>) -> Self {
        Self {
            timestamp_ms,
            value,
            dirty: 0,
            stream_time_ms: -1,
        }
    }
}

/// The entries of one time window of a [`Layout::TimeWindows`] store.
#[derive(Debug, Clone, Default)]
struct Bucket {
    end_ms: i64,
    keys: Map<Vec<u8>, Entry>,
}

#[derive(Debug, Clone)]
enum Entries {
    KeyValue(Map<Vec<u8>, Entry>),
    /// By window start.
    TimeWindows(BTreeMap<i64, Bucket>),
    Sorted {
        entries: BTreeMap<Vec<u8>, Entry>,
        /// Each entry's window end and key, so that windows past their retention are found
        /// without a scan.
        expiry: BTreeSet<(i64, Vec<u8>)>,
    },
}

/// An update the cache held back, as [`Store::take_dirty`] gives it to be flushed.
#[derive(Debug, Clone)]
pub(crate) struct Update {
    /// The key's bytes (without window).
    pub(crate) key: Vec<u8>,
    pub(crate) window: Option<Window>,
    pub(crate) timestamp_ms: i64,
    pub(crate) stream_time_ms: i64,
    pub(crate) value: Vec<u8>,
    seq: u64,
}

/// How [`Store::aggregate`] marks what it writes: dirty under `seq` at `stream_time_ms`
/// (the record cache is on), or not at all (the caller emits the write at once).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    pub(crate) seq: u64,
    pub(crate) stream_time_ms: i64,
}

/// Bytes counted per cached entry besides its key and value: the hash slot, the entry and
/// its place in the dirty list, about as Kafka counts its cache entries' overhead.
const ENTRY_OVERHEAD_BYTES: usize = 64;

/// One task's instance of a named state store.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    /// The changelog's name relative to the application: `<store>-changelog`.
    changelog: Arc<str>,
    entries: Entries,
    /// For windowed stores: a window expires once `end + keep_ms < stream time`.
    keep_ms: i64,
    /// Whether the store's clock is its own latest entry rather than the task's stream
    /// time (a stream-stream join's side, as each of Kafka's join window stores).
    own_clock: bool,
    /// The entries made dirty since the last flush: (window start or 0, key).
    dirty: Vec<(i64, Vec<u8>)>,
    /// Dirty entries whose window expired before they were flushed: still owed to the
    /// changelog and downstream.
    evicted: Vec<Update>,
    /// What the dirty entries count for against the task's cache size.
    dirty_bytes: usize,
    /// Where an aggregate's new bytes are encoded, then swapped with the old ones: no
    /// allocation per update once values have found their size.
    scratch: Vec<u8>,
}

impl Store {
    /// A store laid out as `layout`; `keep_ms` is how long after its end a window is kept
    /// (see [`StoreSpec::keep_ms`]).
    pub(crate) fn new(name: &str, layout: Layout, keep_ms: Option<i64>) -> Self {
        let entries = match layout {
            Layout::KeyValue => Entries::KeyValue(Map::default()),
            Layout::TimeWindows => Entries::TimeWindows(BTreeMap::new()),
            Layout::Sorted => Entries::Sorted {
                entries: BTreeMap::new(),
                expiry: BTreeSet::new(),
            },
        };
        Self {
            changelog: Arc::from(format!("{name}-changelog")),
            entries,
            keep_ms: keep_ms.unwrap_or(0),
            own_clock: false,
            dirty: Vec::new(),
            evicted: Vec::new(),
            dirty_bytes: 0,
            scratch: Vec::new(),
        }
    }

    pub(crate) fn changelog(&self) -> &Arc<str> {
        &self.changelog
    }

    /// Bytes the dirty entries hold.
    pub(crate) fn dirty_bytes(&self) -> usize {
        self.dirty_bytes
    }

    /// The value under `key`'s bytes (a window key for windowed stores), with the
    /// timestamp it was written at.
    pub(crate) fn get(&self, key: &[u8]) -> Option<(i64, &[u8])> {
        let entry = match &self.entries {
            Entries::KeyValue(map) => map.get(key),
            Entries::Sorted { entries, .. } => entries.get(key),
            Entries::TimeWindows(buckets) => {
                let (key, start, _) = split_window_key(key)?;
                buckets.get(&start)?.keys.get(key)
            }
        }?;
        Some((entry.timestamp_ms, entry.value.as_slice()))
    }

    /// Writes `value` under `key` at `timestamp_ms`, or deletes `key` for `None`, without
    /// emitting anything: how a runtime restores the store from its changelog, applying
    /// each record's key, value and timestamp in order. A windowed store takes window keys;
    /// a record whose key is not one (not written by strom) is ignored, as it could never
    /// be looked up.
    pub(crate) fn apply(&mut self, key: Vec<u8>, value: Option<Vec<u8>>, timestamp_ms: i64) {
        match &mut self.entries {
            Entries::KeyValue(map) => match value {
                Some(value) => {
                    map.insert(key, Entry::clean(timestamp_ms, value));
                }
                None => {
                    map.remove(&key);
                }
            },
            Entries::TimeWindows(buckets) => {
                let Some((k, start, end)) = split_window_key(&key) else {
                    return;
                };
                match value {
                    Some(value) => {
                        let bucket = buckets.entry(start).or_insert_with(|| Bucket {
                            end_ms: end,
                            keys: Map::default(),
                        });
                        bucket
                            .keys
                            .insert(k.to_vec(), Entry::clean(timestamp_ms, value));
                    }
                    None => {
                        if let Some(bucket) = buckets.get_mut(&start) {
                            bucket.keys.remove(k);
                        }
                    }
                }
            }
            Entries::Sorted { entries, expiry } => {
                let Some(value) = value else {
                    if let Some((_, _, end)) = split_window_key(&key) {
                        expiry.remove(&(end, key.clone()));
                    }
                    entries.remove(&key);
                    return;
                };
                // An update of a stored key (most writes) replaces the value in place: the
                // key's window end is in its bytes, so its expiry entry is already there.
                if let Some(entry) = entries.get_mut(&key) {
                    *entry = Entry::clean(timestamp_ms, value);
                    return;
                }
                if let Some((_, _, end)) = split_window_key(&key) {
                    expiry.insert((end, key.clone()));
                }
                entries.insert(key, Entry::clean(timestamp_ms, value));
            }
        }
    }

    /// One aggregation step on the entry of `key` (in `window` for a
    /// [`Layout::TimeWindows`] store): `step(old value, out)` encodes the new value into
    /// `out`. The entry's timestamp becomes the larger of its own and `timestamp_ms`.
    /// Marked with `mark`, the entry becomes dirty (to be flushed); without, a copy of the
    /// new value comes back for the caller to emit. Returns the entry's timestamp.
    pub(crate) fn aggregate<E>(
        &mut self,
        key: &[u8],
        window: Option<Window>,
        timestamp_ms: i64,
        mark: Option<Mark>,
        step: impl FnOnce(Option<&[u8]>, &mut Vec<u8>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(i64, Option<Vec<u8>>), E> {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        let (map, start) = match (&mut self.entries, window) {
            (Entries::KeyValue(map), _) => (map, 0),
            (Entries::TimeWindows(buckets), Some(w)) => {
                let bucket = buckets.entry(w.start_ms).or_insert_with(|| Bucket {
                    end_ms: w.end_ms,
                    keys: Map::default(),
                });
                (&mut bucket.keys, w.start_ms)
            }
            // Not a layout aggregations write this way: nothing is stored.
            _ => {
                step(None, &mut out)?;
                self.scratch = out;
                return Ok((timestamp_ms, None));
            }
        };
        if let Some(entry) = map.get_mut(key) {
            if let Err(e) = step(Some(&entry.value), &mut out) {
                self.scratch = out;
                return Err(e);
            }
            std::mem::swap(&mut entry.value, &mut out);
            self.scratch = out;
            entry.timestamp_ms = entry.timestamp_ms.max(timestamp_ms);
            let dirty = (&mut self.dirty, &mut self.dirty_bytes);
            return Ok(settle(entry, start, key, mark, dirty));
        }
        step(None, &mut out)?;
        let value = std::mem::take(&mut out);
        self.scratch = out;
        let entry = map
            .entry(key.to_vec())
            .or_insert(Entry::clean(timestamp_ms, value));
        let dirty = (&mut self.dirty, &mut self.dirty_bytes);
        Ok(settle(entry, start, key, mark, dirty))
    }

    /// The updates held back since the last call, in the order of their latest change,
    /// their entries now clean: what a flush emits.
    pub(crate) fn take_dirty(&mut self) -> Vec<Update> {
        let mut out = std::mem::take(&mut self.evicted);
        self.dirty_bytes = 0;
        for (start, key) in std::mem::take(&mut self.dirty) {
            let (entry, window) = match &mut self.entries {
                Entries::KeyValue(map) => (map.get_mut(&key), None),
                Entries::TimeWindows(buckets) => match buckets.get_mut(&start) {
                    Some(bucket) => (
                        bucket.keys.get_mut(&key),
                        Some(Window {
                            start_ms: start,
                            end_ms: bucket.end_ms,
                        }),
                    ),
                    None => (None, None),
                },
                Entries::Sorted { .. } => (None, None),
            };
            // Gone: its window expired, and it waits in `evicted` (already in `out`).
            let Some(entry) = entry.filter(|e| e.dirty != 0) else {
                continue;
            };
            out.push(Update {
                key,
                window,
                timestamp_ms: entry.timestamp_ms,
                stream_time_ms: entry.stream_time_ms,
                value: entry.value.clone(),
                seq: entry.dirty,
            });
            entry.dirty = 0;
        }
        // Sorting the small (sequence, place) pairs, not the updates, and then taking the
        // updates in that order, moves each update once.
        let mut order: Vec<(u64, usize)> = out.iter().map(|u| u.seq).zip(0..).collect();
        order.sort_unstable();
        let mut slots: Vec<Option<Update>> = out.into_iter().map(Some).collect();
        order
            .into_iter()
            .filter_map(|(_, i)| slots.get_mut(i).and_then(Option::take))
            .collect()
    }

    /// Removes the windows expired at `stream_time_ms` (`end + keep_ms < stream time`),
    /// without a changelog record (as Kafka's window stores drop old segments: the
    /// changelog is compacted and deleted by time). Returns how many went. A dirty entry
    /// among them is kept aside until the next flush.
    pub(crate) fn evict_expired(&mut self, stream_time_ms: i64) -> usize {
        let keep = i128::from(self.keep_ms);
        let expired = |end: i64| i128::from(end) + keep < i128::from(stream_time_ms);
        match &mut self.entries {
            Entries::KeyValue(_) => 0,
            Entries::TimeWindows(buckets) => {
                let mut evicted = 0;
                while let Some(entry) = buckets.first_entry() {
                    if !expired(entry.get().end_ms) {
                        break;
                    }
                    let (start, bucket) = entry.remove_entry();
                    evicted += bucket.keys.len();
                    for (key, entry) in bucket.keys {
                        if entry.dirty != 0 {
                            self.evicted.push(Update {
                                key,
                                window: Some(Window {
                                    start_ms: start,
                                    end_ms: bucket.end_ms,
                                }),
                                timestamp_ms: entry.timestamp_ms,
                                stream_time_ms: entry.stream_time_ms,
                                value: entry.value,
                                seq: entry.dirty,
                            });
                        }
                    }
                }
                evicted
            }
            Entries::Sorted { .. } => self.evict(expired),
        }
    }

    /// The windows stored for the encoded key `key`, earliest start first: `(store key,
    /// start, end, value)`. Only a [`Layout::Sorted`] store has them.
    pub(crate) fn windows_of(&self, key: &[u8]) -> Vec<(Vec<u8>, i64, i64, Vec<u8>)> {
        let Entries::Sorted { entries, .. } = &self.entries else {
            return Vec::new();
        };
        let prefix = window_prefix(key);
        entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, v)| {
                let (_, start, end) = split_window_key(k)?;
                Some((k.clone(), start, end, v.value.clone()))
            })
            .collect()
    }

    /// The windows stored for the encoded key `key` starting in `[from_ms, to_ms]`,
    /// earliest first: `(start, value)`. One range of the map, whatever else the key
    /// has (a stream-stream join reads the other side's records near its own this way).
    /// Only a [`Layout::Sorted`] store has them.
    pub(crate) fn windows_starting(
        &self,
        key: &[u8],
        from_ms: i64,
        to_ms: i64,
    ) -> impl Iterator<Item = (i64, &[u8])> {
        // Starts sort by their big-endian bytes only when not negative; stored ones never
        // are (record timestamps are not). Ends from all-zero to all-one bytes (0 and -1)
        // span every end of a start.
        let from_ms = from_ms.max(0);
        let from = window_key(key, from_ms, 0);
        let to = window_key(key, to_ms, -1);
        let range = match &self.entries {
            Entries::Sorted { entries, .. } if from_ms <= to_ms => Some(entries.range(from..=to)),
            _ => None,
        };
        range.into_iter().flatten().filter_map(move |(k, entry)| {
            let (_, start, _) = split_window_key(k)?;
            (from_ms..=to_ms)
                .contains(&start)
                .then_some((start, entry.value.as_slice()))
        })
    }

    /// Removes the windows of a [`Layout::Sorted`] store for which `expired(end)` holds,
    /// oldest end first, without a changelog record. Returns how many went.
    pub(crate) fn evict(&mut self, expired: impl Fn(i64) -> bool) -> usize {
        let Entries::Sorted { entries, expiry } = &mut self.entries else {
            return 0;
        };
        let mut evicted = 0;
        while let Some((end, key)) = expiry.first().cloned() {
            if !expired(end) {
                break;
            }
            expiry.pop_first();
            entries.remove(&key);
            evicted += 1;
        }
        evicted
    }

    /// The entries of a [`Layout::Sorted`] store whose window end satisfies `closed`,
    /// earliest end first, without removing them: `(store key, value)`. A stream-stream
    /// left join reads its pending records this way and deletes each through the
    /// changelog once it has emitted it.
    pub(crate) fn closed_entries(&self, closed: impl Fn(i64) -> bool) -> Vec<(Vec<u8>, Vec<u8>)> {
        let Entries::Sorted { entries, expiry } = &self.entries else {
            return Vec::new();
        };
        expiry
            .iter()
            .take_while(|(end, _)| closed(*end))
            .filter_map(|(_, key)| entries.get(key).map(|e| (key.clone(), e.value.clone())))
            .collect()
    }

    /// Makes the store keep its entries by its own latest entry rather than the task's
    /// stream time, in [`evict_expired_at`](Self::evict_expired_at).
    #[must_use]
    pub(crate) fn with_own_clock(mut self) -> Self {
        self.own_clock = true;
        self
    }

    /// Evicts what expired at `stream_time_ms`, or, for a store with its own clock, at its
    /// own latest entry; a windowed aggregation's store at the latest timestamp it holds,
    /// which is the largest of the records that reached the aggregation (never later than
    /// stream time): each operator closes windows by its own clock, as Kafka's do.
    pub(crate) fn evict_expired_at(&mut self, stream_time_ms: i64) -> usize {
        let now = match (self.own_clock, self.latest_end()) {
            (true, Some(latest)) => latest.min(stream_time_ms),
            _ => self
                .max_timestamp()
                .map_or(stream_time_ms, |latest| latest.min(stream_time_ms)),
        };
        self.evict_expired(now)
    }

    /// The largest timestamp of the entries, if any.
    pub(crate) fn max_timestamp(&self) -> Option<i64> {
        let entries: Box<dyn Iterator<Item = &Entry>> = match &self.entries {
            Entries::KeyValue(map) => Box::new(map.values()),
            Entries::Sorted { entries, .. } => Box::new(entries.values()),
            Entries::TimeWindows(buckets) => {
                Box::new(buckets.values().flat_map(|bucket| bucket.keys.values()))
            }
        };
        entries.map(|e| e.timestamp_ms).max()
    }

    /// The earliest window end a [`Layout::Sorted`] store holds.
    pub(crate) fn earliest_end(&self) -> Option<i64> {
        match &self.entries {
            Entries::Sorted { expiry, .. } => expiry.first().map(|(end, _)| *end),
            _ => None,
        }
    }

    /// The latest window end a [`Layout::Sorted`] store holds: for a stream-stream join's
    /// side, the largest timestamp it has stored (its own stream time, as Kafka's window
    /// stores keep one each). Eviction never takes it: it is never past its own retention.
    pub(crate) fn latest_end(&self) -> Option<i64> {
        match &self.entries {
            Entries::Sorted { expiry, .. } => expiry.last().map(|(end, _)| *end),
            _ => None,
        }
    }

    /// Calls `f` with every entry: its key (a window key for windowed stores) and value.
    pub(crate) fn visit(&self, mut f: impl FnMut(&[u8], &[u8]) -> Result<()>) -> Result<()> {
        match &self.entries {
            Entries::KeyValue(map) => map.iter().try_for_each(|(k, e)| f(k, &e.value)),
            Entries::Sorted { entries, .. } => entries.iter().try_for_each(|(k, e)| f(k, &e.value)),
            Entries::TimeWindows(buckets) => buckets.iter().try_for_each(|(start, bucket)| {
                bucket
                    .keys
                    .iter()
                    .try_for_each(|(k, e)| f(&window_key(k, *start, bucket.end_ms), &e.value))
            }),
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        match &self.entries {
            Entries::KeyValue(map) => map.len(),
            Entries::Sorted { entries, .. } => entries.len(),
            Entries::TimeWindows(buckets) => buckets.values().map(|b| b.keys.len()).sum(),
        }
    }
}

/// Marks `entry` (of `key`, in the window starting at `start`) dirty under `mark`, or
/// without one returns a copy of its value to emit; with its timestamp either way.
fn settle(
    entry: &mut Entry,
    start: i64,
    key: &[u8],
    mark: Option<Mark>,
    (dirty, dirty_bytes): (&mut Vec<(i64, Vec<u8>)>, &mut usize),
) -> (i64, Option<Vec<u8>>) {
    let at = entry.timestamp_ms;
    let Some(mark) = mark else {
        return (at, Some(entry.value.clone()));
    };
    if entry.dirty == 0 {
        dirty.push((start, key.to_vec()));
        *dirty_bytes += key.len() + entry.value.len() + ENTRY_OVERHEAD_BYTES;
    }
    entry.dirty = mark.seq;
    entry.stream_time_ms = mark.stream_time_ms;
    (at, None)
}

/// The first bytes of every window key of `key`.
#[expect(
    clippy::big_endian_bytes,
    reason = "one layout, big-endian like the times after it"
)]
fn window_prefix(key: &[u8]) -> Vec<u8> {
    // Keys longer than 4 GiB cannot be records; saturating keeps this total.
    let len = u32::try_from(key.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(4 + key.len() + 16);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(key);
    out
}

/// The store key of `key`'s window `[start_ms, end_ms]` (see the module's table).
#[expect(
    clippy::big_endian_bytes,
    reason = "big-endian keeps a key's windows sorted by start"
)]
pub(crate) fn window_key(key: &[u8], start_ms: i64, end_ms: i64) -> Vec<u8> {
    let mut out = window_prefix(key);
    out.extend_from_slice(&start_ms.to_be_bytes());
    out.extend_from_slice(&end_ms.to_be_bytes());
    out
}

/// The key bytes, start and end of a window key; `None` if `bytes` is not one.
#[expect(
    clippy::big_endian_bytes,
    reason = "big-endian keeps a key's windows sorted by start"
)]
pub(crate) fn split_window_key(bytes: &[u8]) -> Option<(&[u8], i64, i64)> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    if rest.len() != len.checked_add(16)? {
        return None;
    }
    let (key, times) = rest.split_at(len);
    let (start, end) = times.split_first_chunk::<8>()?;
    let end: [u8; 8] = end.try_into().ok()?;
    Some((key, i64::from_be_bytes(*start), i64::from_be_bytes(end)))
}

/// The buffer of one `suppress_until_window_closes`: each window's latest result, by
/// window key, until stream time closes the window.
///
/// It is backed by a compacted changelog, `__<application_id>-<name>-changelog`, as a
/// store is, so that the results it holds back survive a restart: the suppression writes
/// each buffered update there (keyed by window key, the value being the update's timestamp
/// then its encoded value, see [`buffer_record`]) and a tombstone when it forwards and
/// evicts a window; a task's restore puts them back with [`Buffer::restore`].
#[derive(Debug, Default, Clone)]
pub(crate) struct Buffer {
    /// The changelog's name relative to the application: `<name>-changelog`.
    changelog: Arc<str>,
    /// Window key → (timestamp of the latest update, encoded value).
    latest: BTreeMap<Vec<u8>, (i64, Vec<u8>)>,
    /// (window end, window key) of every buffered window.
    by_end: BTreeSet<(i64, Vec<u8>)>,
}

impl Buffer {
    /// An empty buffer backed by the changelog `changelog` (relative to the application).
    pub(crate) fn new(changelog: Arc<str>) -> Self {
        Self {
            changelog,
            ..Self::default()
        }
    }

    /// The buffer's changelog, relative to the application (`<name>-changelog`).
    pub(crate) fn changelog(&self) -> &Arc<str> {
        &self.changelog
    }

    /// Applies one record of the buffer's changelog (from `topic`, named in errors): a
    /// buffered update, or a tombstone for a window forwarded or forgotten.
    ///
    /// # Errors
    ///
    /// [`Error::Serde`](crate::Error::Serde) for a key that is not a window key or a value
    /// shorter than its timestamp (a damaged or foreign changelog).
    #[expect(clippy::big_endian_bytes, reason = "as `buffer_record` writes it")]
    pub(crate) fn restore(&mut self, topic: &str, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let damaged = || {
            super::codec::codec_error(format!(
                "suppression buffer record of {topic}: not a window key and a timestamped value"
            ))
        };
        let Some((_, _, end_ms)) = split_window_key(key) else {
            return Err(damaged());
        };
        match value {
            Some(bytes) => {
                let (timestamp, value) = bytes.split_first_chunk::<8>().ok_or_else(damaged)?;
                let timestamp_ms = i64::from_be_bytes(*timestamp);
                self.put(key.to_vec(), end_ms, timestamp_ms, Some(value.to_vec()));
            }
            None => self.put(key.to_vec(), end_ms, 0, None),
        }
        Ok(())
    }

    /// Keeps `value` as the window's latest result (`None`: forgets the window, which was
    /// replaced, as a merged session is).
    pub(crate) fn put(
        &mut self,
        key: Vec<u8>,
        end_ms: i64,
        timestamp_ms: i64,
        value: Option<Vec<u8>>,
    ) {
        match value {
            Some(value) => {
                self.by_end.insert((end_ms, key.clone()));
                self.latest.insert(key, (timestamp_ms, value));
            }
            None => {
                self.by_end.remove(&(end_ms, key.clone()));
                self.latest.remove(&key);
            }
        }
    }

    /// Takes the buffered windows for which `closed(end)` holds, earliest end first:
    /// `(window key, timestamp, value)`.
    pub(crate) fn take_closed(
        &mut self,
        closed: impl Fn(i64) -> bool,
    ) -> Vec<(Vec<u8>, i64, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some((end, _)) = self.by_end.first() {
            if !closed(*end) {
                break;
            }
            let Some((_, key)) = self.by_end.pop_first() else {
                break;
            };
            if let Some((timestamp_ms, value)) = self.latest.remove(&key) {
                out.push((key, timestamp_ms, value));
            }
        }
        out
    }
}

/// The value of a buffered update in a suppression buffer's changelog: the update's
/// timestamp (big-endian, 8 bytes) then its encoded value.
#[expect(
    clippy::big_endian_bytes,
    reason = "the same byte order as the window keys next to it"
)]
pub(crate) fn buffer_record(timestamp_ms: i64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + value.len());
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// How a store's entries decode into a [`StoreView`] of its types: made where the store's
/// types are known, called by the driver (and the runtime) that knows only its name.
pub(crate) type MakeView = Arc<dyn Fn(&Store, &str) -> Result<Box<dyn Any>> + Send + Sync>;

/// A store of the topology, as its builder declared it.
#[derive(Clone)]
pub(crate) struct StoreSpec {
    pub(crate) name: Arc<str>,
    /// For windowed stores, how long the changelog must keep records by time (the
    /// changelog is then `compact,delete`).
    pub(crate) retention_ms: Option<i64>,
    /// For windowed stores, how long after its end a window is kept: it expires once
    /// `end + keep_ms < stream time`. Time windows keep `grace - 1` (they close when stream
    /// time reaches `end + grace`), sessions `gap + grace` (a late record may still
    /// bridge to them until then).
    pub(crate) keep_ms: Option<i64>,
    pub(crate) layout: Layout,
    /// Whether the store keeps its entries by its own latest entry, not the task's stream
    /// time ([`Store::with_own_clock`]).
    pub(crate) own_clock: bool,
    pub(crate) view: MakeView,
}

impl fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreSpec")
            .field("name", &self.name)
            .field("retention_ms", &self.retention_ms)
            .finish_non_exhaustive()
    }
}

/// The view maker of a key-value store of `K` and `V`.
pub(crate) fn key_value_view<K: Codec, V: Codec>() -> MakeView {
    Arc::new(|store: &Store, name: &str| {
        let mut view = StoreView::<K, V>::empty();
        store.visit(|key, value| {
            let k = K::decode(key).map_err(|e| in_store(name, e))?;
            let v = V::decode(value).map_err(|e| in_store(name, e))?;
            view.insert(key.to_vec(), k, v);
            Ok(())
        })?;
        Ok(Box::new(view) as Box<dyn Any>)
    })
}

/// The view maker of a windowed store of keys `K` and values `V`: a `StoreView` of
/// `Windowed<K>` and `V`, looked up by the windowed key's codec bytes (key and start).
pub(crate) fn windowed_view<K: Codec, V: Codec>() -> MakeView {
    Arc::new(|store: &Store, name: &str| {
        let mut view = StoreView::<Windowed<K>, V>::empty();
        store.visit(|bytes, value| {
            let Some((key, start_ms, end_ms)) = split_window_key(bytes) else {
                return Ok(());
            };
            let w = Windowed {
                key: K::decode(key).map_err(|e| in_store(name, e))?,
                start_ms,
                end_ms,
            };
            let v = V::decode(value).map_err(|e| in_store(name, e))?;
            let lookup = encoded(&w)?.unwrap_or_default();
            view.insert(lookup, w, v);
            Ok(())
        })?;
        Ok(Box::new(view) as Box<dyn Any>)
    })
}

fn in_store(name: &str, err: Error) -> Error {
    match err {
        Error::Serde { context, source } => Error::Serde {
            context: format!("state store {name:?}: {context}"),
            source,
        },
        other => other,
    }
}

/// A read-only copy of a state store's contents, decoded: what
/// [`TopologyTestDriver::store`](super::TopologyTestDriver::store) returns.
///
/// A windowed store's view has [`Windowed<K>`] keys with their real ends; `get` finds a
/// window by its key and start (what `Windowed`'s codec encodes).
///
/// # Examples
///
/// ```
/// use strom::streams::{StreamsBuilder, TopologyTestDriver};
///
/// let builder = StreamsBuilder::new();
/// let _counts = builder.stream::<String, String>("clicks").group_by_key().count("clicks-per-user");
/// let mut driver = TopologyTestDriver::new(builder.build()?)?;
/// for user in ["ann", "bob", "ann"] {
///     driver.pipe("clicks", &user.to_string(), &"/home".to_string(), 0)?;
/// }
/// let counts = driver.store::<String, u64>("clicks-per-user")?;
/// assert_eq!(counts.get(&"ann".to_string()), Some(2));
/// assert_eq!(counts.all(), [("ann".to_string(), 2), ("bob".to_string(), 1)]);
/// # Ok::<(), strom::Error>(())
/// ```
pub struct StoreView<K, V> {
    /// Key bytes as `K`'s codec encodes them → the decoded entry.
    entries: BTreeMap<Vec<u8>, (K, V)>,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K: Codec, V: Codec> StoreView<K, V> {
    pub(crate) fn empty() -> Self {
        Self {
            entries: BTreeMap::new(),
            types: PhantomData,
        }
    }

    /// Adds `other`'s entries: how `Streams::store` merges the views of its tasks, whose
    /// keys do not overlap (each key lives in one partition).
    pub(crate) fn extend(&mut self, other: Self) {
        self.entries.extend(other.entries);
    }

    fn insert(&mut self, lookup: Vec<u8>, key: K, value: V) {
        self.entries.insert(lookup, (key, value));
    }

    /// The value under `key`, if any.
    pub fn get(&self, key: &K) -> Option<V> {
        let bytes = encoded(key).ok()?.unwrap_or_default();
        self.entries.get(&bytes).map(|(_, v)| v.clone())
    }

    /// Every entry, in the order of the keys' encoded bytes.
    pub fn all(&self) -> Vec<(K, V)> {
        self.entries.values().cloned().collect()
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<K, V> fmt::Debug for StoreView<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreView")
            .field("entries", &self.entries.len())
            .field("key", &std::any::type_name::<K>())
            .field("value", &std::any::type_name::<V>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_restores_its_changelog_and_refuses_damaged_records() {
        let mut buffer = Buffer::new(Arc::from("b-changelog"));
        let (a, b) = (window_key(b"a", 0, 10), window_key(b"b", 0, 20));
        buffer
            .restore("t", &a, Some(&buffer_record(7, b"x")))
            .unwrap();
        buffer
            .restore("t", &b, Some(&buffer_record(8, b"y")))
            .unwrap();
        buffer.restore("t", &b, None).unwrap();
        assert_eq!(
            buffer.take_closed(|_| true),
            [(a.clone(), 7, b"x".to_vec())]
        );
        let short = buffer.restore("t", &a, Some(b"1234")).unwrap_err();
        assert!(short.to_string().contains("buffer record of t"), "{short}");
        assert!(buffer.restore("t", b"not a window", None).is_err());
        assert!(buffer.take_closed(|_| true).is_empty());
    }

    #[test]
    fn window_keys_round_trip_and_sort_by_start() {
        let a = window_key(b"ab", 10, 20);
        assert_eq!(split_window_key(&a), Some((&b"ab"[..], 10, 20)));
        assert!(window_key(b"ab", 5, 30) < a);
        assert_eq!(split_window_key(b"ab"), None);
        assert_eq!(split_window_key(&a[..a.len() - 1]), None);
    }

    /// Adds one to `key`'s count in `window` (a `u64`, one byte here for brevity).
    fn bump(store: &mut Store, key: &[u8], window: Window, mark: Option<Mark>) -> Option<Vec<u8>> {
        let step = |old: Option<&[u8]>, out: &mut Vec<u8>| {
            out.push(old.map_or(0, |v| v[0]) + 1);
            Ok::<(), ()>(())
        };
        store.aggregate(key, Some(window), 7, mark, step).unwrap().1
    }

    #[test]
    fn time_window_updates_are_held_until_taken_even_past_expiry() {
        let w = |start_ms| Window {
            start_ms,
            end_ms: start_ms + 10,
        };
        let mark = |seq| {
            Some(Mark {
                seq,
                stream_time_ms: i64::try_from(seq).unwrap(),
            })
        };
        let mut store = Store::new("s", Layout::TimeWindows, Some(0));
        // Uncached: the new value comes back to be emitted, nothing is held.
        assert_eq!(bump(&mut store, b"a", w(0), None), Some(vec![1]));
        assert!(store.take_dirty().is_empty());
        // Cached: updates of one entry coalesce; the order is that of the latest change.
        assert_eq!(bump(&mut store, b"a", w(0), mark(1)), None);
        assert_eq!(bump(&mut store, b"b", w(0), mark(2)), None);
        assert_eq!(bump(&mut store, b"a", w(0), mark(3)), None);
        assert_eq!(bump(&mut store, b"a", w(10), mark(4)), None);
        assert!(store.dirty_bytes() > 0);
        // The window [0, 10) expires with two dirty entries: they are still owed.
        assert_eq!(store.evict_expired(11), 2);
        assert_eq!(store.get(&window_key(b"a", 0, 10)), None);
        assert_eq!(store.get(&window_key(b"a", 10, 20)), Some((7, &[1_u8][..])));
        let taken: Vec<_> = store
            .take_dirty()
            .into_iter()
            .map(|u| {
                (
                    u.key,
                    u.window.map(|w| w.start_ms),
                    u.value,
                    u.stream_time_ms,
                )
            })
            .collect();
        assert_eq!(
            taken,
            [
                (b"b".to_vec(), Some(0), vec![1], 2),
                (b"a".to_vec(), Some(0), vec![3], 3),
                (b"a".to_vec(), Some(10), vec![1], 4),
            ]
        );
        assert_eq!(store.dirty_bytes(), 0);
        assert!(store.take_dirty().is_empty());
        // A restored changelog record lands in its window, clean.
        store.apply(window_key(b"c", 20, 30), Some(vec![5]), 25);
        assert_eq!(
            store.get(&window_key(b"c", 20, 30)),
            Some((25, &[5_u8][..]))
        );
        assert!(store.take_dirty().is_empty());
    }

    #[test]
    fn windows_of_a_key_exclude_longer_keys_sharing_its_bytes() {
        let mut store = Store::new("s", Layout::Sorted, Some(0));
        store.apply(window_key(b"a", 0, 5), Some(vec![1]), 0);
        store.apply(window_key(b"ab", 0, 5), Some(vec![2]), 0);
        store.apply(window_key(b"a", 10, 15), Some(vec![3]), 0);
        let got: Vec<_> = store
            .windows_of(b"a")
            .into_iter()
            .map(|(_, s, e, v)| (s, e, v))
            .collect();
        assert_eq!(got, [(0, 5, vec![1]), (10, 15, vec![3])]);
        assert_eq!(store.evict_expired(5), 0);
        assert_eq!(store.evict_expired(6), 2);
        assert_eq!(store.len(), 1);
    }
}
