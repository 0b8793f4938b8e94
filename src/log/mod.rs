//! One partition's log: an ordered list of segments, the last one active.
//!
//! Appends take the partition's append lock, copy one batch into the active segment and
//! publish the new high watermark (`SeqCst`, see [`notify`]); reads take no lock at all
//! beyond a brief shared one on the segment list, so readers never hold up the writer.

mod compaction;
#[cfg(feature = "async")]
pub(crate) mod durable;
mod follower;
pub(crate) mod notify;
mod producers;
mod rebatch;
mod retention;
mod sync_rounds;
mod transactions;

pub(crate) use retention::Retention;
use transactions::Transactions;
pub(crate) use transactions::{hidden_from_committed, AbortedTxn};

use std::fs;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::config::SyncPolicy;
use crate::error::{Error, IoContext, Result};
use crate::metrics::{PartitionMetrics, Timer};
use crate::producer::AppendedBatch;
use crate::storage::batch::{
    self, BatchHeader, Compression, ControlRecord, Encoded, Entry, Origin,
};
use crate::storage::mapping::Mapping;
pub(crate) use crate::storage::segment::CleanEnd;
pub(crate) use crate::storage::segment::MappedBatch;
use crate::storage::segment::{ActiveSegment, Layout, ReadHint, Segment, MAX_PREFAULT_BYTES};
use crate::storage::{self, fsync_dir, INDEX_EXT, LOG_EXT, TIME_INDEX_EXT, TXN_SNAPSHOT_EXT};
use notify::Notify;
pub(crate) use producers::ProducerSnapshot;
use producers::{ProducerStates, SequenceError, Sequenced};
use sync_rounds::SyncRounds;

/// The settings of a log that come from its topic's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogSettings {
    /// Roll when the active segment would grow past this.
    pub(crate) segment_bytes: u64,
    /// Roll when the active segment is this old.
    pub(crate) segment_ms: i64,
    /// Bytes between sparse index entries.
    pub(crate) index_interval_bytes: u64,
    /// When appends are fsynced.
    pub(crate) sync: SyncPolicy,
    /// The codec new batches are compressed with.
    pub(crate) compression: Compression,
}

impl LogSettings {
    /// How this log's segments are laid out.
    fn layout(&self) -> Layout {
        Layout {
            index_interval: self.index_interval_bytes,
            // With an fsync per append, every zero written ahead is written to disk by the
            // next fsync: a 1 MiB step made `SyncPolicy::Always` with 16 senders 30%
            // slower than a 64 KiB one, which in turn halves batch appends without fsyncs.
            prefault_bytes: if self.sync == SyncPolicy::Always {
                64 << 10
            } else {
                MAX_PREFAULT_BYTES
            },
            read_only: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteState {
    Open,
    Closed,
    /// The topic was deleted.
    Deleted,
    /// A write or fsync failed: what is on disk is unknown until recovery at reopen.
    Poisoned,
}

#[derive(Debug)]
struct Writer {
    active: ActiveSegment,
    settings: LogSettings,
    state: WriteState,
    /// Segments sealed without an fsync (`SyncPolicy::Never`): map, path and length, for
    /// the next `sync_to` (`Producer::flush`) to make durable.
    unsynced: Vec<(Arc<Mapping>, PathBuf, usize)>,
    /// Idempotent producers' sequence numbers, checked by appends of batches encoded
    /// elsewhere.
    producers: ProducerStates,
}

/// What became of a batch handed to the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    /// Appended at this base offset.
    At(u64),
    /// A retry of a batch of an idempotent producer, stored before at these offsets.
    Duplicate { base_offset: u64, last_offset: u64 },
}

/// How this process may touch the log.
#[derive(Debug)]
enum Access {
    /// It appends: the log's one writer.
    Write(std::sync::Mutex<Writer>),
    /// The directory is open read-only: it follows what another process appends.
    Follow(Mutex<follower::Follower>),
}

/// The offsets and size of a partition, as `describe_topic` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogStats {
    pub(crate) log_start_offset: u64,
    pub(crate) high_watermark: u64,
    pub(crate) last_stable_offset: u64,
    pub(crate) segments: usize,
    pub(crate) size_bytes: u64,
}

/// One partition's log.
#[derive(Debug)]
pub(crate) struct PartitionLog {
    topic: Arc<str>,
    partition: u32,
    dir: PathBuf,
    segments: RwLock<Vec<Arc<Segment>>>,
    /// The standard library's mutex, not `parking_lot`'s: with more senders than cores on
    /// one partition, `parking_lot` hands a lock that parked threads have waited on for
    /// long straight to one of them, and the lock then stays idle until that thread is
    /// scheduled; four senders on two cores ran at half one sender's rate (std: 1.1×).
    writer: Access,
    high_watermark: AtomicU64,
    /// Every offset below this is on stable storage.
    durable: AtomicU64,
    /// Senders of `SyncPolicy::Always` sharing fsyncs (group commit).
    sync_rounds: SyncRounds,
    /// Held by retention and compaction, which both change the list of sealed segments.
    cleaning: Mutex<()>,
    /// Offsets below this have been compacted.
    compacted_to: AtomicU64,
    /// Sealed segments below this have been rebatched (or found not worth it).
    rebatched_to: AtomicU64,
    notify: Notify,
    transactions: Transactions,
    /// The codec of `settings.compression`, read by every append without the writer's lock
    /// (a compressed batch is encoded and compressed before the lock is taken).
    compression: AtomicU8,
    /// Its counters (empty without the `metrics` feature).
    metrics: PartitionMetrics,
}

/// What an append means for the partition's transactions.
#[derive(Debug, Clone, Copy)]
enum Effect {
    /// Nothing: a plain batch.
    None,
    /// Records of the transaction of this producer id and epoch.
    Data(i64, i16),
    /// The marker ending a transaction of this producer id; `first_hint` is where it began
    /// if this log did not see it begin. With `fence`, a marker of an epoch older than the
    /// one the partition knows for the producer is refused (a marker from outside: Kafka's
    /// `WriteTxnMarkers`).
    Marker {
        producer_id: i64,
        epoch: i16,
        coordinator_epoch: i32,
        aborted: bool,
        first_hint: u64,
        fence: bool,
    },
}

impl Effect {
    /// Notes in `producers` the producer of a batch with this effect, whose largest
    /// timestamp is `max_timestamp` (a `sequenced` batch was recorded already).
    fn note_producer(self, producers: &mut ProducerStates, sequenced: bool, max_timestamp: i64) {
        match self {
            Self::None => {}
            Self::Data(producer_id, epoch) => {
                if !sequenced {
                    producers.note_batch(producer_id, epoch, max_timestamp);
                }
            }
            Self::Marker {
                producer_id,
                epoch,
                coordinator_epoch,
                ..
            } => producers.note_marker(producer_id, epoch, max_timestamp, coordinator_epoch),
        }
    }
}

impl PartitionLog {
    /// Opens the log in `dir`, creating it if needed. After an unclean stop (`clean` is
    /// `None`) the active segment's tail is checked and cut at the first bad batch.
    pub(crate) fn open(
        dir: &Path,
        topic: Arc<str>,
        partition: u32,
        settings: LogSettings,
        clean: Option<CleanEnd>,
        now_ms: i64,
    ) -> Result<Self> {
        fs::create_dir_all(dir).at(dir)?;
        let bases = list_segments(dir)?;
        // Recovery's events (which tail was checked, where a file was cut) name the
        // partition through this span.
        let recovery = (clean.is_none() && !bases.is_empty())
            .then(|| tracing::info_span!("recovery", topic = %topic, partition).entered());
        let layout = settings.layout();
        let mut segments = Vec::with_capacity(bases.len().max(1));
        for pair in bases.windows(2) {
            let (base, next) = (pair[0], pair[1]);
            segments.push(Arc::new(Segment::found(dir, base, next, layout)));
        }
        let active = match bases.last() {
            Some(&base) => {
                ActiveSegment::open(dir, base, settings.segment_bytes, layout, clean, now_ms)?
            }
            None => {
                let active = ActiveSegment::create(dir, 0, settings.segment_bytes, layout, now_ms)?;
                fsync_dir(dir)?;
                active
            }
        };
        segments.push(Arc::clone(active.segment()));
        let next_offset = active.next_offset();
        let producers = ProducerStates::rebuilt(active.segment())?;
        let transactions = Transactions::open(dir)?;
        if clean.is_none() && transactions.flagged() {
            let open = open_transactions_in(active.segment(), dir)?;
            transactions.set_open(&open);
        }
        drop(recovery);
        Ok(Self {
            metrics: PartitionMetrics::new(&topic, partition),
            topic,
            partition,
            dir: dir.to_path_buf(),
            segments: RwLock::new(segments),
            writer: Access::Write(std::sync::Mutex::new(Writer {
                active,
                settings,
                state: WriteState::Open,
                unsynced: Vec::new(),
                producers,
            })),
            high_watermark: AtomicU64::new(next_offset),
            durable: AtomicU64::new(if clean.is_some() { next_offset } else { 0 }),
            sync_rounds: SyncRounds::default(),
            cleaning: Mutex::new(()),
            compacted_to: AtomicU64::new(0),
            rebatched_to: AtomicU64::new(0),
            notify: Notify::default(),
            transactions,
            compression: AtomicU8::new(settings.compression.code()),
        })
    }

    /// Applies changed topic settings; they take effect from the next append or roll.
    pub(crate) fn set_settings(&self, settings: LogSettings) {
        self.compression
            .store(settings.compression.code(), Ordering::Relaxed);
        if let Ok(mut writer) = self.writer() {
            writer.settings = settings;
        }
    }

    /// The codec new batches are compressed with.
    pub(super) fn compression(&self) -> Compression {
        Compression::from_code(self.compression.load(Ordering::Relaxed)).unwrap_or_default()
    }

    /// The last stable offset: the first offset of a transaction still open here, or the
    /// high watermark when none is. Readers of committed data read up to it.
    pub(crate) fn last_stable_offset(&self) -> u64 {
        // The watermark first: transactions publish their start before it moves.
        let high_watermark = self.high_watermark();
        self.transactions.last_stable_offset(high_watermark)
    }

    /// The aborted transactions a read from `offset` may meet (none, cheaply, in a
    /// partition that never saw an abort).
    pub(crate) fn aborted_from(&self, offset: u64) -> Vec<AbortedTxn> {
        if self.transactions.any_aborted() {
            self.transactions.aborted_from(offset)
        } else {
            Vec::new()
        }
    }

    /// The transactions open in this partition.
    pub(crate) fn open_transactions(&self) -> Vec<transactions::OpenTxn> {
        self.transactions.open_transactions()
    }

    /// Whether `producer_id` has a transaction open in this partition.
    pub(crate) fn transaction_open(&self, producer_id: i64) -> bool {
        self.transactions.is_open(producer_id)
    }

    /// The marker of `producer_id`'s transaction at or after `from`, if the log has one:
    /// its offset and whether it aborts. Recovery uses it to end transactions exactly once.
    pub(crate) fn find_marker(&self, producer_id: i64, from: u64) -> Result<Option<(u64, bool)>> {
        let mut found = None;
        self.read_batches(from, |batch| {
            let h = batch.header;
            if h.is_control() && h.origin.producer_id == producer_id && h.base_offset >= from {
                let marker = batch.control_record()?;
                found = Some((h.base_offset, marker.kind == batch::ControlType::Abort));
                return Ok(ControlFlow::Break(()));
            }
            Ok(ControlFlow::Continue(()))
        })?;
        if let Some((marker, true)) = found {
            if !self.transactions.has_abort(producer_id, marker) {
                self.transactions.restore_abort(AbortedTxn {
                    producer_id,
                    first_offset: from,
                    last_offset: marker,
                })?;
            }
        }
        Ok(found)
    }

    /// The partition number.
    pub(crate) fn partition(&self) -> u32 {
        self.partition
    }

    /// The next offset to be written.
    /// The writer's state, locked. Nothing panics while holding it; were something to, the
    /// state is taken as it is, as `parking_lot`'s lock (which has no poisoning) would.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] in a directory opened read-only.
    fn writer(&self) -> Result<std::sync::MutexGuard<'_, Writer>> {
        match &self.writer {
            Access::Write(writer) => Ok(writer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)),
            Access::Follow(_) => Err(self.read_only("append")),
        }
    }

    /// [`Error::ReadOnly`] for `operation`, naming the data directory (the partition
    /// directory's grandparent).
    fn read_only(&self, operation: &'static str) -> Error {
        let dir = self
            .dir
            .parent()
            .and_then(Path::parent)
            .unwrap_or(&self.dir);
        Error::ReadOnly {
            dir: dir.to_path_buf(),
            operation,
        }
    }

    pub(crate) fn high_watermark(&self) -> u64 {
        self.high_watermark.load(Ordering::SeqCst)
    }

    /// The first offset still in the log.
    pub(crate) fn log_start_offset(&self) -> u64 {
        self.segments.read().first().map_or(0, |s| s.base_offset())
    }

    /// The waiters of this partition.
    pub(crate) fn notify(&self) -> &Notify {
        &self.notify
    }

    /// This partition's counters.
    pub(crate) fn metrics(&self) -> &PartitionMetrics {
        &self.metrics
    }

    /// Offsets, segment count and size.
    ///
    /// # Errors
    /// [`Error::Io`] if a segment's size cannot be looked up.
    pub(crate) fn stats(&self) -> Result<LogStats> {
        let segments: Vec<Arc<Segment>> = self.segments.read().clone();
        let mut size_bytes = 0;
        for segment in &segments {
            size_bytes += segment.size_bytes()?;
        }
        let high_watermark = self.high_watermark();
        Ok(LogStats {
            log_start_offset: segments.first().map_or(0, |s| s.base_offset()),
            high_watermark,
            last_stable_offset: self.transactions.last_stable_offset(high_watermark),
            segments: segments.len(),
            size_bytes,
        })
    }

    /// Appends `entries` as one batch written by `origin`; returns the offset of the first.
    /// With `SyncPolicy::Always` it returns once the batch is on stable storage.
    pub(crate) fn append<'a>(
        &self,
        entries: impl ExactSizeIterator<Item = Entry<'a>> + Clone,
        origin: Origin,
        now_ms: i64,
    ) -> Result<u64> {
        let len = batch::encoded_len_of(entries.clone());
        let effect = if origin.transactional {
            Effect::Data(origin.producer_id, origin.producer_epoch)
        } else {
            Effect::None
        };
        // One load and compare on the uncompressed path, the hot one.
        let code = self.compression.load(Ordering::Relaxed);
        if code != Compression::None.code() && len <= batch::MAX_BATCH_BYTES {
            let codec = Compression::from_code(code).unwrap_or_default();
            // Encoded and compressed outside the writer's lock, then copied in whole.
            let encode_error = |source| Error::Encode {
                path: self.dir.clone(),
                source,
            };
            let invalid = |e| encode_error(batch::EncodeError::Invalid(e));
            let mut plain = vec![0; len];
            batch::encode_from(&mut plain, 0, origin, entries).map_err(encode_error)?;
            let header = batch::read_header(&plain).map_err(invalid)?;
            let bytes = batch::compress_with(&plain, &header, codec).map_err(encode_error)?;
            let header = batch::read_header(&bytes).map_err(invalid)?;
            return self.append_copy(&bytes, &header, effect, now_ms);
        }
        self.append_with(len, now_ms, effect, |buf, base| {
            batch::encode_from(buf, base, origin, entries)
        })
    }

    /// [`append`](Self::append) of one entry: the batch a single send makes, sized once.
    pub(crate) fn append_one(&self, entry: Entry<'_>, origin: Origin, now_ms: i64) -> Result<u64> {
        if self.compression.load(Ordering::Relaxed) != Compression::None.code() {
            return self.append(std::iter::once(entry), origin, now_ms);
        }
        let effect = if origin.transactional {
            Effect::Data(origin.producer_id, origin.producer_epoch)
        } else {
            Effect::None
        };
        let body = batch::body_len(&entry, entry.timestamp, 0);
        self.append_with(batch::one_record_len(body), now_ms, effect, |buf, base| {
            batch::encode_one(buf, base, origin, &entry, body)
        })
    }

    /// Appends a batch of `count` plain records built in `batch` by [`batch::push_record`]
    /// or [`batch::push_moved`]; returns the offset of the first. Its header and checksum
    /// are written here, outside the writer's lock, which then only copies it in and sets
    /// its base offset; a compressed topic compresses it first, also outside the lock.
    pub(crate) fn append_built(
        &self,
        batch: &mut [u8],
        count: usize,
        first_timestamp: i64,
        max_timestamp: i64,
        now_ms: i64,
    ) -> Result<u64> {
        let encode_error = |source| Error::Encode {
            path: self.dir.clone(),
            source,
        };
        let invalid = |e| encode_error(batch::EncodeError::Invalid(e));
        batch::seal(batch, Origin::NONE, count, first_timestamp, max_timestamp)
            .map_err(encode_error)?;
        let header = batch::read_header(batch).map_err(invalid)?;
        let code = self.compression.load(Ordering::Relaxed);
        if code != Compression::None.code() {
            let codec = Compression::from_code(code).unwrap_or_default();
            let bytes = batch::compress_with(batch, &header, codec).map_err(encode_error)?;
            let header = batch::read_header(&bytes).map_err(invalid)?;
            return self.append_copy(&bytes, &header, Effect::None, now_ms);
        }
        self.append_copy(batch, &header, Effect::None, now_ms)
    }

    /// Appends a batch encoded before its offsets were known (a version 2 batch, whose
    /// checksum does not cover its base offset), compressed or not. The batch is checked
    /// whole first, its records included (decompressed): bytes from outside the process
    /// never reach the log unchecked. Its records must have the offset deltas 0, 1, 2, ...
    /// and its last offset delta must match them, so that it takes the offsets it says.
    ///
    /// A batch with a sequence number (an idempotent producer's) is checked against its
    /// producer's last batches under the writer's lock: a retry of one of them is not stored
    /// again and is answered with its offsets (`duplicate`); a gap or an old epoch is
    /// refused. A log whose codec is not `None` stores a batch of another codec recompressed
    /// with its own (Kafka's `compression.type` other than `producer`).
    pub(crate) fn append_encoded(&self, bytes: &[u8], now_ms: i64) -> Result<AppendedBatch> {
        let invalid = |e| Error::Encode {
            path: self.dir.clone(),
            source: batch::EncodeError::Invalid(e),
        };
        let header = batch::check(bytes).map_err(invalid)?;
        if header.version != batch::FORMAT_VERSION || header.length as usize != bytes.len() {
            return Err(invalid(batch::DecodeError::Version(header.version)));
        }
        let codec = self.compression();
        let mut recompressed = None;
        if !header.is_control() {
            // A compressed batch's records are checked decompressed (and bounded: a
            // decompression bomb is refused here, before it is stored).
            // An uncompressed batch is read where it lies: produce's hot path copies it once,
            // into the segment.
            let (plain, plain_header) = if header.compression() == Compression::None {
                (std::borrow::Cow::Borrowed(bytes), header)
            } else {
                let (plain, plain_header) =
                    batch::decompress_with(bytes, &header).map_err(invalid)?;
                (std::borrow::Cow::Owned(plain), plain_header)
            };
            if header.record_count == 0 || header.last_offset_delta + 1 != header.record_count {
                return Err(invalid(batch::DecodeError::Record(
                    "last offset delta does not match the record count",
                )));
            }
            let records = batch::records(&plain).map_err(invalid)?;
            for (expected, record) in (header.base_offset..).zip(records) {
                if record.map_err(invalid)?.offset != expected {
                    return Err(invalid(batch::DecodeError::Record(
                        "record offset deltas are not 0, 1, 2, ...",
                    )));
                }
            }
            if codec != Compression::None && header.compression() != codec {
                let encode_error = |source| Error::Encode {
                    path: self.dir.clone(),
                    source,
                };
                let bytes =
                    batch::compress_with(&plain, &plain_header, codec).map_err(encode_error)?;
                let header = batch::read_header(&bytes).map_err(invalid)?;
                recompressed = Some((bytes, header));
            }
        }
        let effect = match header.is_control() {
            true => {
                let marker = batch::control_record(bytes).map_err(invalid)?;
                Effect::Marker {
                    producer_id: header.origin.producer_id,
                    epoch: header.origin.producer_epoch,
                    coordinator_epoch: marker.coordinator_epoch,
                    aborted: marker.kind == batch::ControlType::Abort,
                    first_hint: self.high_watermark(),
                    fence: false,
                }
            }
            false if header.is_transactional() => {
                Effect::Data(header.origin.producer_id, header.origin.producer_epoch)
            }
            false => Effect::None,
        };
        let (bytes, header) = match &recompressed {
            Some((bytes, header)) => (bytes.as_slice(), header),
            None => (bytes, &header),
        };
        let sequenced = producers::is_sequenced(header).then_some(header);
        let stored = self.append_stored(bytes.len(), now_ms, effect, sequenced, |buf, base| {
            buf.copy_from_slice(bytes);
            batch::set_base_offset(buf, base).map_err(batch::EncodeError::Invalid)?;
            Ok(Encoded {
                length: bytes.len(),
                offsets: header.last_offset_delta.saturating_add(1),
                max_timestamp: header.max_timestamp,
            })
        })?;
        let (base_offset, last_offset, duplicate) = match stored {
            Stored::At(base) => (base, base + u64::from(header.last_offset_delta), false),
            Stored::Duplicate {
                base_offset,
                last_offset,
            } => (base_offset, last_offset, true),
        };
        Ok(AppendedBatch {
            base_offset,
            last_offset,
            log_start_offset: self.log_start_offset(),
            duplicate,
        })
    }

    /// The producers this partition knows (those of its last segment, and any with a
    /// transaction open), each with the first offset of its open transaction here.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] in a directory opened read-only (the writer keeps the state).
    pub(crate) fn producers(&self) -> Result<Vec<(ProducerSnapshot, Option<u64>)>> {
        let known = self.writer()?.producers.snapshot();
        let open = self.transactions.open_transactions();
        let mut all: Vec<(ProducerSnapshot, Option<u64>)> = known
            .into_iter()
            .map(|p| {
                let first = open
                    .iter()
                    .find(|t| t.producer_id == p.producer_id)
                    .map(|t| t.first_offset);
                (p, first)
            })
            .collect();
        // A transaction whose records lie in older segments than the state was rebuilt from.
        for t in open {
            if !all.iter().any(|(p, _)| p.producer_id == t.producer_id) {
                all.push((
                    ProducerSnapshot {
                        producer_id: t.producer_id,
                        epoch: t.epoch,
                        last_sequence: -1,
                        last_timestamp: -1,
                        coordinator_epoch: -1,
                    },
                    Some(t.first_offset),
                ));
            }
        }
        all.sort_by_key(|(p, _)| p.producer_id);
        Ok(all)
    }

    /// The largest producer id whose sequence numbers this partition keeps.
    pub(crate) fn max_producer_id(&self) -> Option<i64> {
        match &self.writer {
            Access::Write(_) => self.writer().ok()?.producers.max_producer_id(),
            Access::Follow(_) => None,
        }
    }

    /// Appends a whole encoded version 2 batch (`header` is its header), copied in and
    /// moved to the next offset.
    fn append_copy(
        &self,
        bytes: &[u8],
        header: &BatchHeader,
        effect: Effect,
        now_ms: i64,
    ) -> Result<u64> {
        self.append_with(bytes.len(), now_ms, effect, |buf, base| {
            buf.copy_from_slice(bytes);
            batch::set_base_offset(buf, base).map_err(batch::EncodeError::Invalid)?;
            Ok(Encoded {
                length: bytes.len(),
                offsets: header.last_offset_delta.saturating_add(1),
                max_timestamp: header.max_timestamp,
            })
        })
    }

    /// Appends a transaction marker for `origin`'s transaction; returns its offset.
    /// `first_hint` is where the transaction began in this partition, for a transaction
    /// this log did not see begin (one ended by recovery at open); an abort is indexed from
    /// there.
    pub(crate) fn append_control(
        &self,
        origin: Origin,
        marker: ControlRecord,
        first_hint: u64,
        now_ms: i64,
    ) -> Result<u64> {
        self.append_marker(origin, marker, first_hint, false, now_ms)
    }

    /// Appends a transaction marker that comes from outside the coordinator (Kafka's
    /// `WriteTxnMarkers`, to end a hanging transaction): as
    /// [`append_control`](Self::append_control), but refused with
    /// [`Error::InvalidProducerEpoch`] when the partition knows a newer epoch of the
    /// producer. A producer without a transaction open here gets its marker all the same,
    /// as in Kafka.
    pub(crate) fn append_foreign_marker(
        &self,
        origin: Origin,
        marker: ControlRecord,
        now_ms: i64,
    ) -> Result<u64> {
        self.append_marker(origin, marker, self.high_watermark(), true, now_ms)
    }

    fn append_marker(
        &self,
        origin: Origin,
        marker: ControlRecord,
        first_hint: u64,
        fence: bool,
        now_ms: i64,
    ) -> Result<u64> {
        let effect = Effect::Marker {
            producer_id: origin.producer_id,
            epoch: origin.producer_epoch,
            coordinator_epoch: marker.coordinator_epoch,
            aborted: marker.kind == batch::ControlType::Abort,
            first_hint,
            fence,
        };
        self.append_with(batch::CONTROL_BATCH_BYTES, now_ms, effect, |buf, base| {
            let length = batch::encode_control(buf, base, origin, marker, now_ms)?;
            Ok(Encoded {
                length,
                offsets: 1,
                max_timestamp: now_ms,
            })
        })
    }

    /// Appends one batch of `len` bytes that `write` puts in place, given its base offset.
    #[inline]
    fn append_with(
        &self,
        len: usize,
        now_ms: i64,
        effect: Effect,
        write: impl FnOnce(&mut [u8], u64) -> std::result::Result<Encoded, batch::EncodeError>,
    ) -> Result<u64> {
        match self.append_stored(len, now_ms, effect, None, write)? {
            Stored::At(base)
            | Stored::Duplicate {
                base_offset: base, ..
            } => Ok(base),
        }
    }

    /// [`append_with`](Self::append_with), for a batch whose header is `sequenced` when its
    /// producer's sequence numbers are to be checked (and recorded once it is stored).
    fn append_stored(
        &self,
        len: usize,
        now_ms: i64,
        effect: Effect,
        sequenced: Option<&BatchHeader>,
        write: impl FnOnce(&mut [u8], u64) -> std::result::Result<Encoded, batch::EncodeError>,
    ) -> Result<Stored> {
        let mut writer = self.writer()?;
        // The state is checked inline; the error is made out of line.
        if writer.state != WriteState::Open {
            self.check_writable(&writer)?;
        }
        if let Some(header) = sequenced {
            match writer.producers.check(header) {
                Ok(Sequenced::Append) => {}
                Ok(Sequenced::Duplicate {
                    base_offset,
                    last_offset,
                }) => {
                    return Ok(Stored::Duplicate {
                        base_offset,
                        last_offset,
                    })
                }
                Err(e) => return Err(self.sequence_error(header, e)),
            }
        }
        if let Effect::Marker {
            producer_id,
            epoch,
            fence: true,
            ..
        } = effect
        {
            if let Some(current) = writer.producers.epoch(producer_id).filter(|&c| c > epoch) {
                return Err(Error::InvalidProducerEpoch {
                    topic: self.topic.to_string(),
                    partition: self.partition,
                    producer_id,
                    epoch,
                    current,
                });
            }
        }
        if len > batch::MAX_BATCH_BYTES {
            // Refused before a segment is sized for it: the format's length is 31 bits.
            return Err(Error::Encode {
                path: writer.active.path().to_path_buf(),
                source: batch::EncodeError::TooLarge,
            });
        }
        if writer
            .active
            .should_roll(len as u64, now_ms, writer.settings.segment_ms)
        {
            self.roll(&mut writer, len as u64, now_ms)?;
        } else if writer.active.too_small_for(len as u64) {
            self.enlarge_empty(&mut writer, len as u64, now_ms)?;
        }
        let base = writer.active.next_offset();
        if let Effect::Marker {
            producer_id,
            aborted: true,
            first_hint,
            ..
        } = effect
        {
            // The abort is indexed (durably) before its marker exists, so no crash leaves a
            // marker whose aborted records a reader could take for committed ones. Should the
            // marker not get written, the entry covers records that are aborted anyway.
            self.transactions
                .index_abort(producer_id, base, first_hint)?;
        }
        if let Effect::Data(..) = effect {
            // Before the first transactional record: recovery looks for open transactions
            // only where this flag is.
            self.transactions.flag()?;
        }
        let mut batch_max_timestamp = now_ms;
        writer.active.append(len, |buf, base| {
            let encoded = write(buf, base)?;
            batch_max_timestamp = encoded.max_timestamp;
            Ok(encoded)
        })?;
        if let Some(header) = sequenced {
            writer.producers.record(header, base);
        }
        // Producers' states, for `DescribeProducers`: the plain path (no producer) skips it.
        if !matches!(effect, Effect::None) {
            effect.note_producer(
                &mut writer.producers,
                sequenced.is_some(),
                batch_max_timestamp,
            );
        }
        let next = writer.active.next_offset();
        // Before the high watermark moves: a reader that sees the batch sees the last stable
        // offset that goes with it.
        match effect {
            Effect::None => {}
            Effect::Data(producer_id, epoch) => self.transactions.data(producer_id, epoch, base),
            Effect::Marker { producer_id, .. } => self.transactions.ended(producer_id),
        }
        // Stored under the lock, so the watermark never moves backwards.
        self.high_watermark.store(next, Ordering::SeqCst);
        let sync = writer.settings.sync;
        drop(writer);
        self.notify.notify();
        // A transaction marker takes an offset and bytes, but is no record of the user's.
        let records = if let Effect::Marker { .. } = effect {
            0
        } else {
            next - base
        };
        self.metrics.appended(records, len);
        if sync == SyncPolicy::Always && !Self::sync_deferred(next) {
            self.sync_to(next)?;
        }
        Ok(Stored::At(base))
    }

    /// The error for a sequenced batch of `header` its producer's state refused.
    #[cold]
    fn sequence_error(&self, header: &BatchHeader, error: SequenceError) -> Error {
        let (topic, partition) = (self.topic.to_string(), self.partition);
        let producer_id = header.origin.producer_id;
        match error {
            SequenceError::Epoch { current } => Error::InvalidProducerEpoch {
                topic,
                partition,
                producer_id,
                epoch: header.origin.producer_epoch,
                current,
            },
            SequenceError::OutOfOrder { expected } => Error::OutOfOrderSequence {
                topic,
                partition,
                producer_id,
                expected,
                received: header.origin.base_sequence,
            },
        }
    }

    /// Whether an async send appends, and will await durability up to `end` itself.
    #[inline]
    fn sync_deferred(end: u64) -> bool {
        #[cfg(feature = "async")]
        return durable::defer_sync(end);
        #[cfg(not(feature = "async"))]
        {
            let _ = end;
            false
        }
    }

    /// [`Error::Poisoned`] once a failed fsync has made the partition refuse writes.
    #[cfg(feature = "async")]
    fn check_not_poisoned(&self) -> Result<()> {
        let writer = self.writer()?;
        if writer.state == WriteState::Poisoned {
            self.check_writable(&writer)?;
        }
        Ok(())
    }

    /// Logs that the partition stopped taking writes after `error`.
    fn report_poisoned(&self, error: &Error) {
        tracing::error!(
            topic = %self.topic,
            partition = self.partition,
            error = error as &dyn std::error::Error,
            "the partition refuses writes until the broker is reopened and recovers it"
        );
    }

    fn check_writable(&self, writer: &Writer) -> Result<()> {
        match writer.state {
            WriteState::Open => Ok(()),
            WriteState::Closed => Err(Error::Closed),
            WriteState::Deleted => Err(Error::UnknownTopic {
                topic: self.topic.to_string(),
            }),
            WriteState::Poisoned => Err(Error::Poisoned {
                topic: self.topic.to_string(),
                partition: self.partition,
            }),
        }
    }

    /// Seals the active segment and starts a new one for a batch of `len` bytes.
    fn roll(&self, writer: &mut Writer, len: u64, now_ms: i64) -> Result<()> {
        let sync = writer.settings.sync != SyncPolicy::Never;
        // IMPORTANT: the old segment is cut to its data (and synced) before the new one
        // exists, so recovery only ever has to look at the last segment.
        writer.active.finish(sync)?;
        let base = writer.active.next_offset();
        let open = self.transactions.open_transactions();
        if !open.is_empty() {
            // Transactions that began before the new segment: recovery after an unclean
            // stop walks the active segment only, so it starts from these.
            let path = storage::segment_path(&self.dir, base, TXN_SNAPSHOT_EXT);
            let bytes = serde_json::to_vec(&open).map_err(|source| Error::Serde {
                context: format!("open transactions of {}-{}", self.topic, self.partition),
                source,
            })?;
            storage::atomic_write(&path, &bytes)?;
        }
        let capacity = writer.settings.segment_bytes.max(len);
        let layout = writer.settings.layout();
        let fresh = ActiveSegment::create(&self.dir, base, capacity, layout, now_ms)?;
        if sync {
            fsync_dir(&self.dir)?;
        } else {
            let old = &writer.active;
            writer.unsynced.push((
                Arc::clone(old.map()),
                old.path().to_path_buf(),
                old.end() as usize,
            ));
        }
        self.segments.write().push(Arc::clone(fresh.segment()));
        writer.active = fresh;
        self.metrics.rolled();
        tracing::debug!(
            topic = %self.topic,
            partition = self.partition,
            base_offset = base,
            "rolled to a new segment"
        );
        Ok(())
    }

    /// Replaces the empty active segment by one large enough for a batch of `len` bytes
    /// (a batch never spans segments, and may be larger than `segment_bytes`).
    fn enlarge_empty(&self, writer: &mut Writer, len: u64, now_ms: i64) -> Result<()> {
        let old = Arc::clone(writer.active.segment());
        // Its name is needed for the new one; it holds nothing, so readers lose nothing.
        old.remove_files()?;
        let layout = writer.settings.layout();
        let capacity = writer.settings.segment_bytes.max(len);
        let base = writer.active.next_offset();
        let fresh = match ActiveSegment::create(&self.dir, base, capacity, layout, now_ms) {
            Ok(fresh) => fresh,
            Err(e) => {
                // The old file is gone: appending to it would lose data. Reopening
                // recreates the segment.
                writer.state = WriteState::Poisoned;
                self.report_poisoned(&e);
                return Err(e);
            }
        };
        if writer.settings.sync != SyncPolicy::Never {
            fsync_dir(&self.dir)?;
        }
        {
            let mut segments = self.segments.write();
            if let Some(last) = segments.last_mut() {
                *last = Arc::clone(fresh.segment());
            }
        }
        writer.active = fresh;
        Ok(())
    }

    /// Makes every offset below `offset` durable. Concurrent callers share fsyncs (group
    /// commit, [`SyncRounds`]).
    pub(crate) fn sync_to(&self, offset: u64) -> Result<()> {
        let covered = || self.durable.load(Ordering::Acquire) >= offset;
        if covered() {
            return Ok(());
        }
        self.sync_rounds.wait_for(covered, || self.sync_now())
    }

    /// Syncs everything appended so far; called by the leader of a group commit only.
    fn sync_now(&self) -> Result<()> {
        let (mut maps, next) = {
            let mut writer = self.writer()?;
            if writer.state == WriteState::Poisoned {
                self.check_writable(&writer)?;
            }
            let mut maps = std::mem::take(&mut writer.unsynced);
            let active = &writer.active;
            maps.push((
                Arc::clone(active.map()),
                active.path().to_path_buf(),
                active.end() as usize,
            ));
            (maps, active.next_offset())
        };
        // Segments sealed with a sync are durable already; the others, their directory
        // entries, and the active segment are synced here, oldest first.
        let sealed_unsynced = maps.len() > 1;
        let timer = Timer::start();
        let mut result = Ok(());
        for (map, path, end) in maps.drain(..) {
            result = result.and_then(|()| map.sync(0..end, &path));
        }
        if sealed_unsynced {
            result = result.and_then(|()| fsync_dir(&self.dir));
        }
        self.metrics.fsynced(timer);
        if let Err(e) = result {
            // IMPORTANT: after a failed fsync the kernel may have dropped the dirty pages;
            // retrying could report success for data that is gone, so refuse writes.
            if let Ok(mut writer) = self.writer() {
                writer.state = WriteState::Poisoned;
            }
            self.report_poisoned(&e);
            return Err(e);
        }
        self.durable.fetch_max(next, Ordering::AcqRel);
        Ok(())
    }

    /// Makes everything appended so far durable.
    pub(crate) fn sync_all(&self) -> Result<()> {
        self.sync_to(self.high_watermark())
    }

    /// Hands `emit` the batches holding offsets from `from` on, in offset order, until it
    /// breaks or the log ends. Reads end at the high watermark loaded on entry. Records are
    /// decoded from the batches with [`MappedBatch::records`].
    pub(crate) fn read_batches(
        &self,
        from: u64,
        emit: impl FnMut(&MappedBatch<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        self.read_batches_until(from, self.high_watermark(), None, emit)
    }

    /// [`read_batches`](Self::read_batches) up to `until`, at most the high watermark (a
    /// reader of committed data stops at the last stable offset).
    /// `hint` is where an earlier read stopped (see [`Segment::read_batches_at`]).
    pub(crate) fn read_batches_until(
        &self,
        from: u64,
        until: u64,
        hint: Option<&ReadHint>,
        emit: impl FnMut(&MappedBatch<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        self.read_until(from, until, hint, false, emit)
    }

    /// [`read_batches_until`](Self::read_batches_until) handing out batches as they are
    /// stored, compressed ones compressed (see [`Segment::read_stored_batches`]).
    pub(crate) fn read_stored_batches(
        &self,
        from: u64,
        until: u64,
        emit: impl FnMut(&MappedBatch<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        self.read_until(from, until, None, true, emit)
    }

    #[inline]
    fn read_until(
        &self,
        from: u64,
        until: u64,
        hint: Option<&ReadHint>,
        stored: bool,
        mut emit: impl FnMut(&MappedBatch<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        let high_watermark = until.min(self.high_watermark());
        let mut at = from;
        while at < high_watermark {
            let Some(segment) = self.segment_for(at) else {
                break;
            };
            let mut emitted = false;
            let hint = hint.filter(|_| at == from);
            let start = at;
            let emit = |batch: &MappedBatch<'_>| {
                emitted = true;
                let flow = emit(batch);
                // After the call: a reader may have read on through a run of batches.
                at = batch.next_offset();
                flow
            };
            let flow = if stored {
                segment.read_stored_batches(start, high_watermark, emit)
            } else {
                segment.read_batches_at(start, high_watermark, hint, emit)
            };
            match flow {
                Ok(ControlFlow::Break(())) => break,
                Ok(ControlFlow::Continue(())) => {}
                // Retention deleted the segment between finding and loading it: the
                // caller sees its position below the log start and resets.
                Err(Error::Io { .. }) if !self.holds(&segment) => break,
                // Followed from another process, whose retention may have deleted it before
                // this process noticed: look again.
                Err(Error::Io { .. })
                    if self.is_followed()
                        && self.refresh(true).is_ok()
                        && !self.holds(&segment) =>
                {
                    break
                }
                Err(e) => return Err(e),
            }
            if !emitted {
                let next = segment.next_offset();
                if next > at && !self.is_last(&segment) {
                    // A sealed segment ended early (its unsynced tail was lost in a machine
                    // crash): go on where the next segment starts.
                    at = next;
                } else {
                    break;
                }
            }
        }
        Ok(())
    }

    fn holds(&self, segment: &Arc<Segment>) -> bool {
        self.segments.read().iter().any(|s| Arc::ptr_eq(s, segment))
    }

    fn is_last(&self, segment: &Arc<Segment>) -> bool {
        self.segments
            .read()
            .last()
            .is_some_and(|s| Arc::ptr_eq(s, segment))
    }

    /// The segment holding `offset` (the last whose base is at or below it).
    fn segment_for(&self, offset: u64) -> Option<Arc<Segment>> {
        let segments = self.segments.read();
        let after = segments.partition_point(|s| s.base_offset() <= offset);
        after
            .checked_sub(1)
            .and_then(|i| segments.get(i))
            .map(Arc::clone)
    }

    /// The largest record timestamp of the log, `None` while it holds no record.
    pub(crate) fn max_timestamp(&self) -> Result<Option<i64>> {
        let segments: Vec<Arc<Segment>> = self.segments.read().clone();
        let mut max = None;
        for segment in segments {
            // An empty segment's maximum is i64::MIN: no record to find.
            let its = segment.max_timestamp()?;
            if its > i64::MIN {
                max = max.max(Some(its));
            }
        }
        Ok(max)
    }

    /// The first offset whose record has a timestamp at or after `timestamp`.
    pub(crate) fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<u64>> {
        let high_watermark = self.high_watermark();
        let segments: Vec<Arc<Segment>> = self.segments.read().clone();
        for segment in segments {
            if let Some(offset) = segment.offset_for_timestamp(timestamp, high_watermark)? {
                return Ok(Some(offset));
            }
        }
        Ok(None)
    }

    /// Flushes, fsyncs and stops accepting appends; returns what the clean marker records.
    pub(crate) fn close(&self) -> Result<CleanEnd> {
        // Segments sealed without an fsync get theirs now; a failure poisons the partition
        // and is reported below.
        let _ = self.sync_all();
        let mut writer = self.writer()?;
        let was = writer.state;
        writer.state = WriteState::Closed;
        let state = writer.active.clean_end();
        if was == WriteState::Poisoned {
            drop(writer);
            self.notify.notify();
            return Err(Error::Poisoned {
                topic: self.topic.to_string(),
                partition: self.partition,
            });
        }
        let result = writer.active.finish(true);
        drop(writer);
        self.notify.notify();
        result.map(|()| state)
    }

    /// Stops accepting appends without syncing (the topic is being deleted).
    pub(crate) fn abandon(&self) {
        if let Ok(mut writer) = self.writer() {
            writer.state = WriteState::Deleted;
        }
        self.notify.notify();
    }
}

/// The base offsets of the segments in `dir`, in order. Index files without their log
/// (left by a crash while a segment was being created or deleted) and unfinished
/// compaction output are removed.
/// The transactions open at the end of `active`: those its snapshot says were open when it
/// began, updated by walking its batch headers (no record is decoded).
fn open_transactions_in(active: &Segment, dir: &Path) -> Result<Vec<transactions::OpenTxn>> {
    let base = active.base_offset();
    let path = storage::segment_path(dir, base, TXN_SNAPSHOT_EXT);
    let mut open: std::collections::BTreeMap<i64, transactions::OpenTxn> = if path.exists() {
        storage::read_json::<Vec<transactions::OpenTxn>>(&path)?
            .into_iter()
            .map(|t| (t.producer_id, t))
            .collect()
    } else {
        std::collections::BTreeMap::new()
    };
    let _: ControlFlow<()> = active.read_batches(base, u64::MAX, |batch| {
        let h = batch.header;
        if h.is_control() {
            open.remove(&h.origin.producer_id);
        } else if h.is_transactional() {
            open.entry(h.origin.producer_id)
                .or_insert(transactions::OpenTxn {
                    producer_id: h.origin.producer_id,
                    epoch: h.origin.producer_epoch,
                    first_offset: h.base_offset,
                });
        }
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(open.into_values().collect())
}

fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let mut bases = Vec::new();
    let mut orphans = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = Path::new(name);
        let ext = path.extension().and_then(|e| e.to_str());
        // IMPORTANT: a segment's other files are named as its log, with another extension
        // exactly (`aborted.txnindex` ends with `index` too, and is no segment's).
        let of_segment = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .is_some_and(|stem| {
                storage::parse_segment_name(&format!("{stem}.{LOG_EXT}")).is_some()
            });
        if let Some(base) = storage::parse_segment_name(name) {
            bases.push(base);
        } else if of_segment
            && [INDEX_EXT, TIME_INDEX_EXT, TXN_SNAPSHOT_EXT]
                .iter()
                .any(|e| ext == Some(*e))
        {
            orphans.push(entry.path());
        } else if name.ends_with(storage::CLEANED_EXT) {
            let path = entry.path();
            fs::remove_file(&path).at(&path)?;
            tracing::info!(path = %path.display(), "removed the output of an unfinished compaction");
        }
    }
    bases.sort_unstable();
    for path in orphans {
        if !path.with_extension(LOG_EXT).exists() {
            fs::remove_file(&path).at(&path)?;
            tracing::info!(path = %path.display(), "removed an index file without its log");
        }
    }
    Ok(bases)
}

#[cfg(test)]
mod tests;
