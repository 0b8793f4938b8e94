//! State stores: what aggregations and tables remember per task, as bytes, with each write
//! also emitted to the store's changelog; and [`StoreView`], a decoded, read-only copy.
//!
//! A [`Store`] maps encoded keys to encoded values. Keeping bytes (not typed values) makes
//! the changelog seam one function: the runtime restores a task's store by
//! [`Store::apply`]ing the changelog's records in order, without knowing their types.
//!
//! A windowed store (time or session windows) keys its entries as
//!
//! | Bytes        | What                                 |
//! |--------------|--------------------------------------|
//! | 0..4         | key length `n`, u32 big-endian       |
//! | 4..4+n       | the key, encoded with its codec      |
//! | next 8       | window start, ms, i64 big-endian     |
//! | last 8       | window end, ms, i64 big-endian       |
//!
//! so that one key's windows are one range of the map, sorted by start (timestamps are not
//! negative), and a changelog record says everything about its window. The same bytes are
//! the changelog record's key.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::error::{Error, Result};

use super::codec::{Codec, Windowed};
use super::processor::encoded;

/// One task's instance of a named state store.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    /// The changelog's name relative to the application: `<store>-changelog`.
    changelog: Arc<str>,
    /// Key bytes → (timestamp of the latest write, value bytes). The timestamp is that of
    /// the changelog record, as Kafka's timestamped stores keep one beside each value.
    entries: BTreeMap<Vec<u8>, (i64, Vec<u8>)>,
    /// For windowed stores: each entry's window end and key, so that windows past their
    /// retention are found without a scan.
    expiry: Option<BTreeSet<(i64, Vec<u8>)>>,
    /// For windowed stores: a window expires once `end + keep_ms < stream time`.
    keep_ms: i64,
}

impl Store {
    /// A store; windowed if `keep_ms` is given (see [`StoreSpec::keep_ms`]).
    pub(crate) fn new(name: &str, keep_ms: Option<i64>) -> Self {
        Self {
            changelog: Arc::from(format!("{name}-changelog")),
            entries: BTreeMap::new(),
            expiry: keep_ms.map(|_| BTreeSet::new()),
            keep_ms: keep_ms.unwrap_or(0),
        }
    }

    /// Removes the windows expired at `stream_time_ms` (see [`evict`](Self::evict)).
    pub(crate) fn evict_expired(&mut self, stream_time_ms: i64) -> usize {
        let keep = i128::from(self.keep_ms);
        self.evict(|end| i128::from(end) + keep < i128::from(stream_time_ms))
    }

    pub(crate) fn changelog(&self) -> &Arc<str> {
        &self.changelog
    }

    /// The value under `key`'s bytes, with the timestamp it was written at.
    pub(crate) fn get(&self, key: &[u8]) -> Option<(i64, &[u8])> {
        self.entries.get(key).map(|(t, v)| (*t, v.as_slice()))
    }

    /// Writes `value` under `key` at `timestamp_ms`, or deletes `key` for `None`, without
    /// emitting anything: how a runtime restores the store from its changelog, applying
    /// each record's key, value and timestamp in order.
    pub(crate) fn apply(&mut self, key: Vec<u8>, value: Option<Vec<u8>>, timestamp_ms: i64) {
        let Some(value) = value else {
            if let Some(expiry) = &mut self.expiry {
                if let Some((_, _, end)) = split_window_key(&key) {
                    expiry.remove(&(end, key.clone()));
                }
            }
            self.entries.remove(&key);
            return;
        };
        // An update of a stored key (most writes of an aggregation) replaces the value in
        // place: the key's window end is in its bytes, so its expiry entry is already
        // there, and neither the key nor the index needs touching.
        if let Some(entry) = self.entries.get_mut(&key) {
            *entry = (timestamp_ms, value);
            return;
        }
        if let Some(expiry) = &mut self.expiry {
            // A record whose key is not a window key (not written by strom) is kept out of
            // the index rather than refused: it can never be looked up as a window anyway.
            if let Some((_, _, end)) = split_window_key(&key) {
                expiry.insert((end, key.clone()));
            }
        }
        self.entries.insert(key, (timestamp_ms, value));
    }

    /// The windows stored for the encoded key `key`, earliest start first: `(store key,
    /// start, end, value)`.
    pub(crate) fn windows_of(&self, key: &[u8]) -> Vec<(Vec<u8>, i64, i64, Vec<u8>)> {
        let prefix = window_prefix(key);
        self.entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, v)| {
                let (_, start, end) = split_window_key(k)?;
                Some((k.clone(), start, end, v.1.clone()))
            })
            .collect()
    }

    /// The windows stored for the encoded key `key` starting in `[from_ms, to_ms]`,
    /// earliest first: `(start, value)`. One range of the map, whatever else the key
    /// has (a stream-stream join reads the other side's records near its own this way).
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
        let range = (from_ms <= to_ms).then(|| self.entries.range(from..=to));
        range.into_iter().flatten().filter_map(move |(k, (_, v))| {
            let (_, start, _) = split_window_key(k)?;
            (from_ms..=to_ms)
                .contains(&start)
                .then_some((start, v.as_slice()))
        })
    }

    /// Removes the windows for which `expired(end)` holds, oldest end first, without a
    /// changelog record (as Kafka's window stores drop old segments: the changelog is
    /// compacted and deleted by time). Returns how many went.
    pub(crate) fn evict(&mut self, expired: impl Fn(i64) -> bool) -> usize {
        let Some(expiry) = &mut self.expiry else {
            return 0;
        };
        let mut evicted = 0;
        while let Some((end, key)) = expiry.first().cloned() {
            if !expired(end) {
                break;
            }
            expiry.pop_first();
            self.entries.remove(&key);
            evicted += 1;
        }
        evicted
    }

    /// The entries whose window end satisfies `closed`, earliest end first, without
    /// removing them: `(store key, value)`. A stream-stream left join reads its pending
    /// records this way and deletes each through the changelog once it has emitted it.
    pub(crate) fn closed_entries(&self, closed: impl Fn(i64) -> bool) -> Vec<(Vec<u8>, Vec<u8>)> {
        let Some(expiry) = &self.expiry else {
            return Vec::new();
        };
        expiry
            .iter()
            .take_while(|(end, _)| closed(*end))
            .filter_map(|(_, key)| self.entries.get(key).map(|(_, v)| (key.clone(), v.clone())))
            .collect()
    }

    /// Every entry, in key order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries
            .iter()
            .map(|(k, (_, v))| (k.as_slice(), v.as_slice()))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
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
#[derive(Debug, Default, Clone)]
pub(crate) struct Buffer {
    /// Window key → (timestamp of the latest update, encoded value).
    latest: BTreeMap<Vec<u8>, (i64, Vec<u8>)>,
    /// (window end, window key) of every buffered window.
    by_end: BTreeSet<(i64, Vec<u8>)>,
}

impl Buffer {
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
        for (key, value) in store.entries() {
            let k = K::decode(key).map_err(|e| in_store(name, e))?;
            let v = V::decode(value).map_err(|e| in_store(name, e))?;
            view.insert(key.to_vec(), k, v);
        }
        Ok(Box::new(view) as Box<dyn Any>)
    })
}

/// The view maker of a windowed store of keys `K` and values `V`: a `StoreView` of
/// `Windowed<K>` and `V`, looked up by the windowed key's codec bytes (key and start).
pub(crate) fn windowed_view<K: Codec, V: Codec>() -> MakeView {
    Arc::new(|store: &Store, name: &str| {
        let mut view = StoreView::<Windowed<K>, V>::empty();
        for (bytes, value) in store.entries() {
            let Some((key, start_ms, end_ms)) = split_window_key(bytes) else {
                continue;
            };
            let w = Windowed {
                key: K::decode(key).map_err(|e| in_store(name, e))?,
                start_ms,
                end_ms,
            };
            let v = V::decode(value).map_err(|e| in_store(name, e))?;
            let lookup = encoded(&w)?.unwrap_or_default();
            view.insert(lookup, w, v);
        }
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
    fn window_keys_round_trip_and_sort_by_start() {
        let a = window_key(b"ab", 10, 20);
        assert_eq!(split_window_key(&a), Some((&b"ab"[..], 10, 20)));
        assert!(window_key(b"ab", 5, 30) < a);
        assert_eq!(split_window_key(b"ab"), None);
        assert_eq!(split_window_key(&a[..a.len() - 1]), None);
    }

    #[test]
    fn windows_of_a_key_exclude_longer_keys_sharing_its_bytes() {
        let mut store = Store::new("s", Some(0));
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
