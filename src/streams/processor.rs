//! The run-time side of a topology: processors, the context a task hands them, and what they
//! emit.
//!
//! A task owns one chain of processors per source. A record's key and value are decoded once
//! by the [`Source`] and then moved, typed, from processor to processor: each operator is a
//! [`Processor<K, V>`] built around the user's closure (monomorphised, called through one
//! virtual call per operator), holding the next processor of the chain. Where a stream
//! branches, [`fan_out`] clones the record for all but the last branch.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};

use super::codec::Codec;
use super::store::{window_key, Buffer, Mark, Store};
use super::window::Window;

/// A record a sink emitted: encoded, on its way to `topic`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SinkRecord {
    pub(crate) topic: Arc<str>,
    /// `None` for a key that [`Codec::is_absent`] (Kafka's `null`).
    pub(crate) key: Option<Vec<u8>>,
    /// `None` for a value that [`Codec::is_absent`] (a tombstone).
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) timestamp_ms: i64,
    /// Whether `topic` is a store's changelog, whose records go to the task's partition
    /// (anything else is partitioned by its key).
    pub(crate) changelog: bool,
}

/// What a task knows while one record goes down its chain: where the record came from
/// (for its timestamp and for error messages), the task's stream time and state, and what
/// the sinks emitted so far.
///
/// NOTE: stream time and the task's state stores live here, not in the processors: after a
/// `merge` one operator is instantiated once per path into it (see `Topology::task`), and
/// the copies must share their state.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: u32,
    pub(crate) offset: u64,
    pub(crate) timestamp_ms: i64,
    /// The largest timestamp the task has seen, this record's included; `-1` before the
    /// first record (Kafka's `NO_TIMESTAMP`). It never goes back.
    pub(crate) stream_time_ms: i64,
    /// Whether the record came with no key bytes (Kafka's `null` key): aggregations skip
    /// it. Only meaningful below a source or a repartition source, which is where groupings
    /// read it: a key changed on the way is repartitioned first.
    pub(crate) key_absent: bool,
    /// Whether the record came with no value bytes (Kafka's `null` value), until an
    /// operator made a new value: aggregations skip such records, as Kafka's do.
    pub(crate) value_absent: bool,
    /// Records dropped since the task started: for a window already closed, or a missing
    /// key where one is needed (Kafka's `dropped-records` task metric).
    pub(crate) dropped: u64,
    /// The task's state stores, in the order of the topology's store list.
    pub(crate) stores: Vec<Store>,
    /// The buffers of `suppress_until_window_closes`, in the order of the topology's list.
    pub(crate) buffers: Vec<Buffer>,
    pub(crate) output: Vec<SinkRecord>,
    /// The record cache's bound for this task, in bytes; 0: no cache, every update is
    /// emitted as it happens.
    pub(crate) cache_max_bytes: usize,
    /// What the stores' dirty entries hold now, against `cache_max_bytes`.
    cache_bytes: usize,
    /// Numbers the cached updates, so that a flush emits them in the order of their
    /// latest change.
    seq: u64,
    /// Per store, what sends its flushed updates down the table (registered by the
    /// aggregation on its first record).
    flushers: Vec<Option<Box<dyn Flush>>>,
    application_id: Arc<str>,
    /// Per left join (by its pending store), the timestamp below which no pending record
    /// can be since its last emission pass (Kafka's `TimeTracker.minTime`): no pass is
    /// made while that one's window is still open. `None` (Kafka's `Long.MAX_VALUE`): a
    /// pass is due. Not restored: a restarted task makes a pass on its first record.
    pub(crate) pending_since: HashMap<usize, i64>,
    /// Per windowed aggregation (by its store), the largest timestamp of the records that
    /// reached it: the clock its windows close by, as each of Kafka's windowed
    /// aggregations keeps its own (a filter upstream hides records from it that still
    /// advance the task's stream time). After a restore it starts from the latest
    /// timestamp in the store.
    observed: HashMap<usize, i64>,
    /// Internal topics' names relative to the application (`counts-changelog`) → full
    /// names (`__app-counts-changelog`), made once per name.
    internal: HashMap<Arc<str>, Arc<str>>,
}

impl Context {
    pub(crate) fn new(application_id: &str, stores: Vec<Store>, buffers: Vec<Buffer>) -> Self {
        Self {
            topic: Arc::from(""),
            partition: 0,
            offset: 0,
            timestamp_ms: 0,
            stream_time_ms: -1,
            key_absent: false,
            value_absent: false,
            dropped: 0,
            stores,
            buffers,
            output: Vec::new(),
            cache_max_bytes: 0,
            cache_bytes: 0,
            seq: 0,
            flushers: Vec::new(),
            application_id: Arc::from(application_id),
            pending_since: HashMap::new(),
            observed: HashMap::new(),
            internal: HashMap::new(),
        }
    }

    /// The full name of the internal topic `name` (relative, `counts-changelog`):
    /// `__<application_id>-<name>`.
    pub(crate) fn internal_topic(&mut self, name: &Arc<str>) -> Arc<str> {
        if let Some(full) = self.internal.get(name) {
            return Arc::clone(full);
        }
        let full: Arc<str> = Arc::from(internal_name(&self.application_id, name));
        self.internal.insert(Arc::clone(name), Arc::clone(&full));
        full
    }

    /// Writes `value` (`None`: deletes) under `key` in store `store` at `timestamp_ms`, and
    /// emits the write to the store's changelog with that timestamp.
    pub(crate) fn write(
        &mut self,
        store: usize,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
        timestamp_ms: i64,
    ) {
        let Some(changelog) = self.stores.get(store).map(|s| Arc::clone(s.changelog())) else {
            return;
        };
        let topic = self.internal_topic(&changelog);
        if let Some(s) = self.stores.get_mut(store) {
            s.apply(key.clone(), value.clone(), timestamp_ms);
        }
        self.output.push(SinkRecord {
            topic,
            key: Some(key),
            value,
            timestamp_ms,
            changelog: true,
        });
    }

    /// Whether updates of aggregations are held in the record cache until a flush.
    pub(crate) fn caching(&self) -> bool {
        self.cache_max_bytes > 0
    }

    /// Makes `flusher` the one that sends store `store`'s flushed updates down its table,
    /// unless one is there already (an aggregation instantiated once per path after a
    /// `merge` registers each copy; their downstream chains are alike).
    pub(crate) fn register(&mut self, store: usize, flusher: Box<dyn Flush>) {
        if self.flushers.len() <= store {
            self.flushers.resize_with(store + 1, || None);
        }
        if let Some(slot @ None) = self.flushers.get_mut(store) {
            *slot = Some(flusher);
        }
    }

    /// One aggregation step on store `store`'s entry for `key` (in `window`, for a
    /// time-windowed store), dated by the current record; see [`Store::aggregate`]. With
    /// the cache on, the update is held back (and the store flushed once the task's cache
    /// is full); without, the write goes to the changelog at once and the new value's
    /// bytes come back. Returns the entry's timestamp.
    pub(crate) fn aggregate(
        &mut self,
        store: usize,
        key: &[u8],
        window: Option<Window>,
        step: impl FnOnce(Option<&[u8]>, &mut Vec<u8>) -> Result<()>,
    ) -> Result<i64> {
        let mark = self.caching().then(|| {
            self.seq += 1;
            Mark {
                seq: self.seq,
                stream_time_ms: self.stream_time_ms,
            }
        });
        let timestamp_ms = self.timestamp_ms;
        let Some(s) = self.stores.get_mut(store) else {
            return Err(super::topology::broken(
                "aggregation",
                "its store is missing",
            ));
        };
        let before = s.dirty_bytes();
        let (at, written) = s.aggregate(key, window, timestamp_ms, mark, step)?;
        let after = s.dirty_bytes();
        if let Some(value) = written {
            let changelog = Arc::clone(s.changelog());
            let topic = self.internal_topic(&changelog);
            let key = match window {
                Some(w) => window_key(key, w.start_ms, w.end_ms),
                None => key.to_vec(),
            };
            self.output.push(SinkRecord {
                topic,
                key: Some(key),
                value: Some(value),
                timestamp_ms: at,
                changelog: true,
            });
            return Ok(at);
        }
        self.cache_bytes = self.cache_bytes + after - before;
        if self.cache_bytes > self.cache_max_bytes {
            self.flush_store(store)?;
        }
        Ok(at)
    }

    /// Flushes every store's held-back updates, in store order.
    pub(crate) fn flush(&mut self) -> Result<()> {
        for store in 0..self.stores.len() {
            self.flush_store(store)?;
        }
        Ok(())
    }

    /// Emits store `store`'s held-back updates, in the order of their latest change: each
    /// down the table, then to the changelog, with the timestamp and the stream time it had
    /// when it was made, so that what follows (a suppression closing windows, a filter)
    /// sees each value as it would have without the cache, only fewer of them.
    pub(crate) fn flush_store(&mut self, store: usize) -> Result<()> {
        let Some(s) = self.stores.get_mut(store) else {
            return Ok(());
        };
        let held = s.dirty_bytes();
        let updates = s.take_dirty();
        let changelog = Arc::clone(s.changelog());
        self.cache_bytes = self.cache_bytes.saturating_sub(held);
        if updates.is_empty() {
            return Ok(());
        }
        let topic = self.internal_topic(&changelog);
        let mut flusher = self.flushers.get_mut(store).and_then(Option::take);
        let saved = (
            self.timestamp_ms,
            self.stream_time_ms,
            self.key_absent,
            self.value_absent,
        );
        let mut outcome = Ok(());
        for update in updates {
            if let Some(flusher) = flusher.as_mut() {
                self.timestamp_ms = update.timestamp_ms;
                self.stream_time_ms = update.stream_time_ms;
                (self.key_absent, self.value_absent) = (false, false);
                outcome = flusher.forward(self, &update.key, update.window, &update.value);
            }
            // After what went down the table, which writes other topics (records of
            // different topics need no order between them): the value moves in, uncopied.
            let key = match update.window {
                Some(w) => window_key(&update.key, w.start_ms, w.end_ms),
                None => update.key,
            };
            self.output.push(SinkRecord {
                topic: Arc::clone(&topic),
                key: Some(key),
                value: Some(update.value),
                timestamp_ms: update.timestamp_ms,
                changelog: true,
            });
            if outcome.is_err() {
                break;
            }
        }
        (
            self.timestamp_ms,
            self.stream_time_ms,
            self.key_absent,
            self.value_absent,
        ) = saved;
        if let (Some(flusher), Some(slot)) = (flusher, self.flushers.get_mut(store)) {
            *slot = Some(flusher);
        }
        outcome
    }

    /// The clock of the windowed aggregation writing `store`, advanced by this record: the
    /// largest timestamp of the records that reached it (see `observed`).
    pub(crate) fn observe(&mut self, store: usize) -> i64 {
        let restored = || self.stores.get(store).and_then(Store::max_timestamp);
        let start = match self.observed.get(&store) {
            Some(&at) => at,
            None => restored().unwrap_or(-1),
        };
        let now = start.max(self.timestamp_ms);
        self.observed.insert(store, now);
        now
    }

    /// Runs `forward` for keys an operator made (`map`, `flat_map`, `select_key`): they are
    /// not Kafka's `null` whatever the input's was. The flag comes back after, for the
    /// other branches.
    pub(crate) fn keyed<R>(&mut self, forward: impl FnOnce(&mut Self) -> R) -> R {
        let record = std::mem::replace(&mut self.key_absent, false);
        let out = forward(self);
        self.key_absent = record;
        out
    }

    /// Runs `forward` for values an operator made (`map_values`…): they are not Kafka's
    /// `null` whatever the input's was. The flag comes back after, for the other branches.
    pub(crate) fn valued<R>(&mut self, forward: impl FnOnce(&mut Self) -> R) -> R {
        let record = std::mem::replace(&mut self.value_absent, false);
        let out = forward(self);
        self.value_absent = record;
        out
    }

    /// Runs `forward` with the record's timestamp set to `timestamp_ms`, for what a
    /// processor emits at another time than the record's (an aggregate keeps the largest
    /// timestamp of its records), and restores it after.
    pub(crate) fn at_time<R>(
        &mut self,
        timestamp_ms: i64,
        forward: impl FnOnce(&mut Self) -> R,
    ) -> R {
        let record = std::mem::replace(&mut self.timestamp_ms, timestamp_ms);
        let out = forward(self);
        self.timestamp_ms = record;
        out
    }

    /// Store `store`, which the topology gave this processor.
    pub(crate) fn store(&self, store: usize, node: &str) -> Result<&Store> {
        self.stores
            .get(store)
            .ok_or_else(|| super::topology::broken(node, "its store is missing from the task"))
    }

    /// Prefixes the context of a codec's [`Error::Serde`] with the record it concerns, as
    /// `"{what} {topic}-{partition}@{offset}: …"` (`what` is e.g. `"value of"`); other
    /// errors pass unchanged.
    pub(crate) fn locate(&self, what: &str, err: Error) -> Error {
        match err {
            Error::Serde { context, source } => Error::Serde {
                context: format!(
                    "{what} {}-{}@{}: {context}",
                    self.topic, self.partition, self.offset
                ),
                source,
            },
            other => other,
        }
    }
}

/// The full name of an internal topic: `__<application_id>-<name>`.
pub(crate) fn internal_name(application_id: &str, name: &str) -> String {
    format!("__{application_id}-{name}")
}

/// One operator of a task's chain: takes a typed record and passes what it makes of it on.
pub(crate) trait Processor<K, V>: Send {
    fn process(&mut self, ctx: &mut Context, key: K, value: V) -> Result<()>;
}

/// What sends a cached store's flushed updates down its table: decodes the key (and
/// window) and the value, and calls the aggregation's downstream processor.
pub(crate) trait Flush: Send {
    /// Sends one flushed update down.
    fn forward(
        &mut self,
        ctx: &mut Context,
        key: &[u8],
        window: Option<Window>,
        value: &[u8],
    ) -> Result<()>;
}

impl fmt::Debug for dyn Flush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Flush")
    }
}

/// A processor made of a closure, so that each operator is a few lines of the builder.
pub(crate) struct Step<F>(pub(crate) F);

impl<K, V, F> Processor<K, V> for Step<F>
where
    F: FnMut(&mut Context, K, V) -> Result<()> + Send,
{
    fn process(&mut self, ctx: &mut Context, key: K, value: V) -> Result<()> {
        (self.0)(ctx, key, value)
    }
}

/// Where a stream's records go when nothing reads them.
struct Discard;

impl<K, V> Processor<K, V> for Discard {
    fn process(&mut self, _ctx: &mut Context, _key: K, _value: V) -> Result<()> {
        Ok(())
    }
}

/// A branching stream: every child gets the record, the last one without a copy.
struct FanOut<K, V> {
    children: Vec<Box<dyn Processor<K, V>>>,
}

impl<K: Clone + Send, V: Clone + Send> Processor<K, V> for FanOut<K, V> {
    fn process(&mut self, ctx: &mut Context, key: K, value: V) -> Result<()> {
        if let Some((last, rest)) = self.children.split_last_mut() {
            for child in rest {
                child.process(ctx, key.clone(), value.clone())?;
            }
            last.process(ctx, key, value)?;
        }
        Ok(())
    }
}

/// One processor for all of a node's children: none, the one, or a fan-out.
pub(crate) fn fan_out<K: Clone + Send + 'static, V: Clone + Send + 'static>(
    mut children: Vec<Box<dyn Processor<K, V>>>,
) -> Box<dyn Processor<K, V>> {
    if children.len() > 1 {
        return Box::new(FanOut { children });
    }
    children.pop().unwrap_or_else(|| Box::new(Discard))
}

/// The entry of a chain: decodes a consumed record's bytes once, then hands the typed
/// record to the chain.
pub(crate) trait Source: Send {
    fn process(
        &mut self,
        ctx: &mut Context,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<()>;
}

/// The source of a `KStream<K, V>`.
pub(crate) struct Decode<K, V> {
    pub(crate) next: Box<dyn Processor<K, V>>,
}

impl<K: Codec, V: Codec> Source for Decode<K, V> {
    fn process(
        &mut self,
        ctx: &mut Context,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<()> {
        // Kafka's null key or value reaches the codec as no bytes: `()` and `Vec<u8>` take
        // it, a `u64` refuses it with an error naming the record.
        let key = K::decode(key.unwrap_or_default()).map_err(|e| ctx.locate("key of", e))?;
        let value = V::decode(value.unwrap_or_default()).map_err(|e| ctx.locate("value of", e))?;
        self.next.process(ctx, key, value)
    }
}

/// The processor of `to(topic)`: encodes the record and adds it to the task's output.
pub(crate) struct Encode {
    pub(crate) topic: Arc<str>,
}

impl Encode {
    pub(crate) fn emit<K: Codec, V: Codec>(
        &self,
        ctx: &mut Context,
        key: &K,
        value: &V,
    ) -> Result<()> {
        self.emit_update(ctx, key, Some(value))
    }

    /// Emits a table's update, or a tombstone for a delete (`None`).
    pub(crate) fn emit_update<K: Codec, V: Codec>(
        &self,
        ctx: &mut Context,
        key: &K,
        value: Option<&V>,
    ) -> Result<()> {
        let what = |part: &str| format!("{part} for {:?} from", self.topic);
        // A record read without a key keeps none until an operator makes one (Kafka's
        // `null` key passes `filter`, `map_values`, a left join… unchanged).
        let key = if ctx.key_absent {
            None
        } else {
            encoded(key).map_err(|e| ctx.locate(&what("key"), e))?
        };
        let value = match value {
            Some(value) => encoded(value).map_err(|e| ctx.locate(&what("value"), e))?,
            None => None,
        };
        ctx.output.push(SinkRecord {
            topic: Arc::clone(&self.topic),
            key,
            value,
            timestamp_ms: ctx.timestamp_ms,
            changelog: false,
        });
        Ok(())
    }
}

/// The bytes of a key or value, `None` for Kafka's `null`.
pub(crate) fn encoded<C: Codec>(item: &C) -> Result<Option<Vec<u8>>> {
    if item.is_absent() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    item.try_encode(&mut bytes)?;
    Ok(Some(bytes))
}
