//! Copies topics from a cluster speaking Kafka's protocol into a strom broker: the reverse
//! of the [mirror](crate::Mirror).
//!
//! Each source partition's committed batches are appended whole to the same partition
//! number here (keys, values, headers, timestamps and compression untouched), without their
//! producer: the source's producer ids mean nothing to this broker. Transaction markers and
//! aborted transactions' batches are dropped. Progress is kept here, as a strom consumer
//! group's commit of each local partition: its end after the appends, with the next source
//! offset as the commit's metadata, committed once the appends are durable. The same source
//! offset is then committed to the source cluster's group of that name, so Kafka's own tools
//! show the import's lag; that copy is for them only (a cluster that does not keep commit
//! metadata, or refuses the commit, loses nothing).
//!
//! # Neither lost nor doubled across a crash
//!
//! The import must be the only writer of its local partitions. Then the local partition's
//! end now, less the end committed with the source offset, is the number of records
//! appended after the last commit, which a crash kept from being committed. Batches are
//! appended whole and committed on their boundaries, so the run that follows skips exactly
//! that many records' worth of whole batches from the committed source offset, and goes on
//! from there. Anything else (a count that ends inside a batch, a local end below the
//! committed one) means another writer, or a source that changed under the import: it is
//! an error, never a guess.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use strom::storage::batch::{self, Origin};
use strom::{Broker, IsolationLevel, OffsetAndMetadata, TopicConfig, TopicPartition};

use crate::client::{FetchedPartition, EARLIEST};
use crate::cluster::Cluster;
use crate::mirror::{rebatch, MirrorError, MirrorProgress};

/// The bytes of batches asked from a partition at a time: the import's memory bound.
const FETCH_BYTES: usize = 1 << 20;

/// How long an unavailable cluster is waited for before giving up, unless told.
const DEFAULT_PATIENCE: Duration = Duration::from_secs(60);

/// The longest a Fetch waits for new records while following: the longest a set stop flag
/// goes unseen.
const FOLLOW_WAIT: Duration = Duration::from_millis(100);

/// The wait of a Fetch that should not wait: the shortest a broker is sure to answer.
const NO_WAIT: Duration = Duration::from_millis(1);

/// The shortest: below it, many idle partitions would be asked in a busy loop.
const FOLLOW_WAIT_MIN: Duration = Duration::from_millis(10);

/// What the commit's metadata starts with: the format of what follows, so that a later
/// version can read an older one's progress, or refuse it by name.
const METADATA_PREFIX: &str = "strom-import/1 source-offset=";

/// Copies topics from a cluster speaking Kafka's protocol into a strom [`Broker`]: each
/// source partition's committed batches to the same partition number here, whole (keys,
/// values, headers, timestamps, compression); progress kept here as a consumer group's
/// commits, and copied to the source cluster's group of the same name, so Kafka's own
/// `kafka-consumer-groups --describe` shows the import's lag.
///
/// The group's committed offset of each local partition is its end after the appends that
/// commit covers, and its metadata, `strom-import/1 source-offset=N`, the next source offset
/// to import (the `1` is the format's version). The import must be the only writer of its
/// local partitions: it finds where it stopped after a crash by comparing their ends with the
/// committed ones (see [`run`](Self::run)).
///
/// ```no_run
/// use strom::Broker;
/// use strom_kafka::Import;
///
/// let broker = Broker::open("data")?;
/// let copied = Import::new(broker.clone(), "kafka.example.com:9092")
///     .topics(["orders", "payments"])
///     .once(true)
///     .run()?;
/// println!("{} records imported", copied.records);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Import {
    broker: Broker,
    source: String,
    topics: Vec<String>,
    group: String,
    once: bool,
    patience: Duration,
}

/// One partition being imported.
struct Partition {
    tp: TopicPartition,
    /// The next source offset to take a batch from.
    next: i64,
    /// The local partition's end.
    local_end: u64,
    /// Records already here, appended after the last commit: whole batches from `next` on
    /// that are skipped rather than appended again.
    skip: u64,
    /// Where the next of those records is here, to compare it with the source's batch.
    verify_at: u64,
    /// With `once`: the source's last stable offset as of the first fetch, where to stop.
    until: Option<i64>,
    /// Nothing more to take (with `once`).
    done: bool,
}

impl Import {
    /// An import from the cluster at `source` (`HOST:PORT`) into `broker`, with no topics
    /// yet, group `strom-mirror`, a patience of one minute, following the topics until
    /// stopped.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let broker = strom::Broker::open(dir.path())?;
    /// let import = strom_kafka::Import::new(broker, "127.0.0.1:9092").topics(["orders"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(broker: Broker, source: impl Into<String>) -> Self {
        Self {
            broker,
            source: source.into(),
            topics: Vec::new(),
            group: "strom-mirror".to_string(),
            once: false,
            patience: DEFAULT_PATIENCE,
        }
    }

    /// The topics to import.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let broker = strom::Broker::open(dir.path())?;
    /// let import = strom_kafka::Import::new(broker, "127.0.0.1:9092").topics(["a", "b"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn topics<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.topics = topics.into_iter().map(Into::into).collect();
        self
    }

    /// The source cluster's consumer group that keeps the import's progress (by default
    /// `strom-mirror`). It must have no members of its own: the import commits from outside
    /// any membership, as Kafka's admin tools do.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let broker = strom::Broker::open(dir.path())?;
    /// let import = strom_kafka::Import::new(broker, "127.0.0.1:9092").group("from-prod");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// Whether to import up to each partition's end (its last stable offset) as of the
    /// start and return, instead of following the topics until stopped. By default, it
    /// follows.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let broker = strom::Broker::open(dir.path())?;
    /// let import = strom_kafka::Import::new(broker, "127.0.0.1:9092").once(true);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn once(mut self, once: bool) -> Self {
        self.once = once;
        self
    }

    /// How long an unavailable cluster is waited for, trying again with a growing pause,
    /// before [`MirrorError::Unavailable`] (by default, one minute).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let broker = strom::Broker::open(dir.path())?;
    /// use std::time::Duration;
    /// let import = strom_kafka::Import::new(broker, "127.0.0.1:9092")
    ///     .patience(Duration::from_secs(600));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn patience(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    /// Imports the topics: with [`once`](Self::once), up to each partition's end as of the
    /// start, then returns what it appended; without it, follows them for ever (see
    /// [`run_until`](Self::run_until) to stop).
    ///
    /// A local topic missing is created with the source's partition count. After a crash,
    /// the records appended but not yet committed on the source are found by the local
    /// partitions' ends and not appended again.
    ///
    /// # Errors
    ///
    /// [`MirrorError::Refused`] for a topic missing on the source (named), or a request the
    /// cluster refused (with the partition and Kafka's error name);
    /// [`MirrorError::FewerPartitions`] when a local topic has fewer partitions than on the
    /// source (`local` here, `target` on the source); [`MirrorError::Unavailable`] when the
    /// cluster stays unreachable past the patience; [`MirrorError::Damaged`] for a fetched
    /// batch failing its checksum; [`MirrorError::Diverged`] when a local partition's end
    /// disagrees with the progress committed on the source (another writer);
    /// [`MirrorError::Local`] when appending here fails.
    ///
    /// ```no_run
    /// # let broker = strom::Broker::open("data")?;
    /// let copied = strom_kafka::Import::new(broker, "127.0.0.1:9092")
    ///     .topics(["orders"])
    ///     .once(true)
    ///     .run()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run(&self) -> Result<MirrorProgress, MirrorError> {
        self.run_until(&AtomicBool::new(false))
    }

    /// [`run`](Self::run), returning once `stop` is set, after committing what was
    /// appended. The flag is seen within about 100 ms while the cluster answers (a Fetch
    /// waits no longer for new records); an unavailable cluster is first retried for up to
    /// the [patience](Self::patience).
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    ///
    /// ```no_run
    /// use std::sync::atomic::{AtomicBool, Ordering};
    ///
    /// # let broker = strom::Broker::open("data")?;
    /// let stop = AtomicBool::new(false);
    /// let import = strom_kafka::Import::new(broker, "127.0.0.1:9092").topics(["orders"]);
    /// std::thread::scope(|s| {
    ///     let running = s.spawn(|| import.run_until(&stop));
    ///     // ... until the application shuts down:
    ///     stop.store(true, Ordering::Relaxed);
    ///     running.join().expect("the import does not panic")
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_until(&self, stop: &AtomicBool) -> Result<MirrorProgress, MirrorError> {
        let mut cluster = Cluster::connect(&self.source, self.patience)?;
        let mut partitions = Vec::new();
        // Partitions with no commit yet: committed before anything is appended.
        let mut first = Vec::new();
        let committed = self.broker.committed_offsets_with_metadata(&self.group)?;
        for topic in &self.topics {
            let count = self.local_topic(&mut cluster, topic)?;
            let indexes: Vec<u32> = (0..count).filter_map(|p| u32::try_from(p).ok()).collect();
            let described = self.broker.describe_topic(topic)?;
            for &p in &indexes {
                let tp = TopicPartition::new(topic.clone(), p);
                let local_end = described
                    .partitions
                    .iter()
                    .find(|d| d.partition == p)
                    .map_or(0, |d| d.high_watermark);
                let partition = match committed.iter().find(|(c, _)| *c == tp) {
                    Some((_, c)) => self.resume(tp, c, local_end)?,
                    None => {
                        // The first run: the source's start, committed with the local end
                        // before anything is appended, so that a crash after the first
                        // append already finds a reference to count from.
                        let start = cluster
                            .call_leader(topic, p, |c| c.list_offset(topic, p, EARLIEST))?
                            .unwrap_or(0);
                        first.push(partitions.len());
                        Partition {
                            tp,
                            next: start,
                            local_end,
                            skip: 0,
                            verify_at: local_end,
                            until: None,
                            done: false,
                        }
                    }
                };
                partitions.push(partition);
            }
        }
        self.commit(&mut cluster, &partitions, &first)?;

        let mut progress = MirrorProgress::default();
        let mut idle = false;
        while !stop.load(Ordering::Relaxed) {
            let waiting = partitions.iter().filter(|p| !p.done).count();
            if waiting == 0 {
                break;
            }
            // Following, an idle round waits on each partition in turn: the waits add up
            // to about FOLLOW_WAIT a round, and a round with records waits next to none. Not
            // none: a Fetch that may not wait at all is answered by some brokers (tansu)
            // with no partition.
            let wait = if self.once || !idle {
                NO_WAIT
            } else {
                (FOLLOW_WAIT / u32::try_from(waiting).unwrap_or(u32::MAX)).max(FOLLOW_WAIT_MIN)
            };
            idle = true;
            // The partitions whose position moved this round: committed together after it.
            let mut moved = Vec::new();
            for (i, partition) in partitions.iter_mut().enumerate().filter(|(_, p)| !p.done) {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let (topic, p) = (partition.tp.topic.as_str(), partition.tp.partition);
                let next = partition.next;
                let fetched = cluster
                    .call_leader(topic, p, |c| c.fetch(topic, p, next, wait, FETCH_BYTES))?;
                let before = partition.next;
                self.take(partition, &fetched, &mut progress)?;
                if partition.next != before {
                    idle = false;
                    if partition.skip == 0 {
                        moved.push(i);
                    }
                }
                if partition.skip > 0 && partition.next >= fetched.last_stable_offset {
                    return Err(self.diverged(
                        partition,
                        &format!(
                            "{} records here were appended after the last commit, but the \
                             source holds fewer past it (up to offset {})",
                            partition.skip, fetched.last_stable_offset
                        ),
                    ));
                }
                if self.once {
                    let until = *partition.until.get_or_insert(fetched.last_stable_offset);
                    // Nothing moved: nothing left before the end as of the start.
                    partition.done = partition.next >= until || partition.next == before;
                }
            }
            self.commit(&mut cluster, &partitions, &moved)?;
        }
        Ok(progress)
    }

    /// Checks `topic` on the source and here, creating it here with the source's partition
    /// count if it is missing; returns that count.
    fn local_topic(&self, cluster: &mut Cluster, topic: &str) -> Result<usize, MirrorError> {
        let count = cluster.partitions(topic)?.ok_or_else(|| {
            MirrorError::Refused(format!(
                "topic {topic} does not exist on the source cluster {}",
                self.source
            ))
        })?;
        let local = match self.broker.describe_topic(topic) {
            Ok(described) => described.partitions.len(),
            Err(strom::Error::UnknownTopic { .. }) => {
                let partitions = u32::try_from(count).map_err(|_| {
                    MirrorError::Refused(format!("topic {topic}: {count} partitions"))
                })?;
                match self
                    .broker
                    .create_topic(topic, TopicConfig::default().partitions(partitions))
                {
                    // Created meanwhile by someone else: its count is checked below.
                    Ok(()) | Err(strom::Error::TopicExists { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                self.broker.describe_topic(topic)?.partitions.len()
            }
            Err(e) => return Err(e.into()),
        };
        if local < count {
            return Err(MirrorError::FewerPartitions {
                topic: topic.to_string(),
                local,
                target: count,
            });
        }
        Ok(count)
    }

    /// A partition resumed from the group's commit here, `committed`: the local end then,
    /// and the next source offset in its metadata; the local partition now ends at
    /// `local_end`.
    fn resume(
        &self,
        tp: TopicPartition,
        committed: &OffsetAndMetadata,
        local_end: u64,
    ) -> Result<Partition, MirrorError> {
        let committed_end = committed.offset;
        let metadata = committed.metadata.as_str();
        let offset = metadata
            .strip_prefix(METADATA_PREFIX)
            .and_then(|offset| offset.parse::<i64>().ok());
        let Some(offset) = offset else {
            return Err(MirrorError::Diverged {
                partition: tp,
                reason: format!(
                    "group {}'s commit at offset {committed_end} here carries {metadata:?}, \
                     not the import's progress (\"{METADATA_PREFIX}N\"); another consumer \
                     commits as this group",
                    self.group
                ),
            });
        };
        if local_end < committed_end {
            return Err(MirrorError::Diverged {
                partition: tp,
                reason: format!(
                    "the local partition ends at {local_end}, before the end {committed_end} \
                     committed with source offset {offset}: records were removed here"
                ),
            });
        }
        Ok(Partition {
            tp,
            next: offset,
            local_end,
            skip: local_end - committed_end,
            verify_at: committed_end,
            until: None,
            done: false,
        })
    }

    /// Appends the whole batches of `fetched` from `partition.next` on: committed records,
    /// without their producer; skipped while `partition.skip` says they are here already.
    fn take(
        &self,
        partition: &mut Partition,
        fetched: &FetchedPartition,
        progress: &mut MirrorProgress,
    ) -> Result<(), MirrorError> {
        let mut aborted: Vec<(i64, i64)> = fetched.aborted.clone();
        aborted.sort_unstable_by_key(|&(_, first)| std::cmp::Reverse(first));
        // Producers whose aborted transaction the batches are in, until its marker.
        let mut aborting: HashSet<i64> = HashSet::new();
        let mut rest = &fetched.records[..];
        while !rest.is_empty() {
            let header = match batch::read_header(rest) {
                Ok(header) => header,
                // Kafka cuts the answer at the byte limit, inside the last batch: the next
                // fetch starts there.
                Err(batch::DecodeError::Truncated) => break,
                Err(e) => {
                    let at = u64::try_from(partition.next).unwrap_or(0);
                    return Err(damaged(partition, at, &e));
                }
            };
            let Some(stored) = rest.get(..header.length as usize) else {
                break;
            };
            rest = &rest[stored.len()..];
            let base = i64::try_from(header.base_offset).unwrap_or(i64::MAX);
            batch::check(stored).map_err(|e| damaged(partition, header.base_offset, &e))?;
            let next = i64::try_from(header.next_offset()).unwrap_or(i64::MAX);
            if next <= partition.next {
                continue;
            }
            if base < partition.next {
                // Kafka answers whole batches, so one may start before the offset asked
                // for; records cannot be taken from inside a batch without encoding it
                // again. This import commits only on batch boundaries, so it meets such a
                // batch only when someone else moved the group's offset into one: the
                // records before that offset are not wanted, and those after it are left
                // out with them rather than stored twice.
                tracing::warn!(
                    topic = %partition.tp.topic, partition = partition.tp.partition,
                    from = partition.next, batch = base,
                    "a batch starts before the committed offset; skipped whole"
                );
                partition.next = next;
                continue;
            }
            // Transactions starting at or before this batch's last offset.
            while aborted.last().is_some_and(|&(_, first)| first < next) {
                if let Some((producer, _)) = aborted.pop() {
                    aborting.insert(producer);
                }
            }
            self.take_batch(partition, &header, stored, &mut aborting, progress)?;
            // Only once the batch is taken (or rightly left out): an error leaves the
            // partition where the batch starts, as its message says.
            partition.next = next;
        }
        Ok(())
    }

    /// Takes one whole batch `stored` (whose header is `header`) of `partition`: appended,
    /// or skipped as already here, or left out (a marker, an aborted transaction's).
    fn take_batch(
        &self,
        partition: &mut Partition,
        header: &batch::BatchHeader,
        stored: &[u8],
        aborting: &mut HashSet<i64>,
        progress: &mut MirrorProgress,
    ) -> Result<(), MirrorError> {
        let base = header.base_offset;
        let producer = header.origin.producer_id;
        if header.is_control() {
            // A transaction's marker: the source's bookkeeping, not a record. It ends
            // its producer's transaction, aborted or not.
            aborting.remove(&producer);
            return Ok(());
        }
        if header.is_transactional() && aborting.contains(&producer) {
            return Ok(());
        }
        let records = u64::from(header.record_count);
        if records == 0 {
            return Ok(());
        }
        // A batch that compaction thinned (its records skip offsets) is written again with
        // consecutive ones, as strom stores a batch's records. The writing is deterministic,
        // so a run passing over it after a crash compares it with what was appended.
        let rewritten;
        let (header, stored) = if rebatch::is_kafkas(header) {
            (*header, stored)
        } else {
            let origin = Origin {
                producer_id: -1,
                producer_epoch: -1,
                base_sequence: -1,
                transactional: false,
            };
            rewritten =
                rebatch::join(&[stored], origin).map_err(|e| damaged(partition, base, &e))?;
            let header = batch::check(&rewritten).map_err(|e| damaged(partition, base, &e))?;
            (header, rewritten.as_slice())
        };
        let header = &header;
        if partition.skip > 0 {
            if records > partition.skip {
                return Err(self.diverged(
                    partition,
                    &format!(
                        "{} records here were appended after the last commit, but the \
                         source's batch at offset {base} holds {records}: that count \
                         ends inside it",
                        partition.skip
                    ),
                ));
            }
            self.verify(partition, header, stored)?;
            partition.skip -= records;
            partition.verify_at += records;
            return Ok(());
        }
        let mut unowned = stored.to_vec();
        // No producer here: the source's producer ids and sequences mean nothing to
        // this broker (and the batch leaves its transaction, now committed).
        batch::set_producer(&mut unowned, -1, -1, -1).map_err(|e| damaged(partition, base, &e))?;
        let appended = self.broker.append_batch(&partition.tp, &unowned)?;
        partition.local_end = appended.last_offset + 1;
        progress.batches += 1;
        progress.records += records;
        progress.bytes += stored.len() as u64;
        Ok(())
    }

    /// Checks that the local batch at `partition.verify_at` is the source's batch `stored`
    /// (whose header is `header`) appended after the last commit: the same records, with
    /// the same timestamps and compression. Counting records alone would take another
    /// writer's batch of the same size for the import's.
    fn verify(
        &self,
        partition: &Partition,
        header: &batch::BatchHeader,
        stored: &[u8],
    ) -> Result<(), MirrorError> {
        // Any byte limit fetches the first batch whole.
        let local = self.broker.fetch_batches(
            &partition.tp,
            partition.verify_at,
            1,
            IsolationLevel::ReadUncommitted,
        )?;
        let same = batch::check(&local.bytes).ok().is_some_and(|mine| {
            mine.base_offset == partition.verify_at
                && mine.record_count == header.record_count
                && mine.last_offset_delta == header.last_offset_delta
                && mine.first_timestamp == header.first_timestamp
                && mine.max_timestamp == header.max_timestamp
                && mine.compression() == header.compression()
                && records_of(&local.bytes, mine.length) == records_of(stored, header.length)
        });
        if same {
            return Ok(());
        }
        Err(self.diverged(
            partition,
            &format!(
                "the local batch at offset {} is not the source's batch at offset {}, \
                 although both come after the last commit",
                partition.verify_at, header.base_offset
            ),
        ))
    }

    /// Commits the local end of each of `partitions` at `which` with its next source
    /// offset, once what was appended is durable here (one flush and one commit for them
    /// all); then the source offsets to the source cluster's group, for Kafka's tools to
    /// show the lag.
    fn commit(
        &self,
        cluster: &mut Cluster,
        partitions: &[Partition],
        which: &[usize],
    ) -> Result<(), MirrorError> {
        let due: Vec<&Partition> = which.iter().filter_map(|&i| partitions.get(i)).collect();
        if due.is_empty() {
            return Ok(());
        }
        // IMPORTANT: fsync before the commit. A commit past records a power cut could
        // still take would skip them on the source for ever.
        self.broker.producer().flush()?;
        let offsets: Vec<(TopicPartition, OffsetAndMetadata)> = due
            .iter()
            .map(|p| {
                (
                    p.tp.clone(),
                    OffsetAndMetadata::with_metadata(
                        p.local_end,
                        format!("{METADATA_PREFIX}{}", p.next),
                    ),
                )
            })
            .collect();
        self.broker
            .commit_offsets_with_metadata(&self.group, &offsets)?;
        // The source's copy of the progress is for its tools only: once, no waiting out the
        // patience, and a refusal (no rights to commit, a cluster without groups) changes
        // nothing here.
        let mut topics: Vec<&str> = due.iter().map(|p| p.tp.topic.as_str()).collect();
        topics.dedup();
        for topic in topics {
            let offsets: Vec<(u32, i64, String)> = due
                .iter()
                .filter(|p| p.tp.topic == topic)
                .map(|p| (p.tp.partition, p.next, String::new()))
                .collect();
            if let Err(e) = cluster.call_coordinator(&self.group, Duration::ZERO, |c| {
                c.offset_commit(&self.group, topic, &offsets)
            }) {
                tracing::warn!(
                    group = %self.group,
                    topic,
                    error = %e,
                    "the import's progress was not copied to the source cluster's group"
                );
            }
        }
        Ok(())
    }

    fn diverged(&self, partition: &Partition, reason: &str) -> MirrorError {
        MirrorError::Diverged {
            partition: partition.tp.clone(),
            reason: format!(
                "{reason} (group {}, source offset {}, local end {}); is the import the only \
                 writer here?",
                self.group, partition.next, partition.local_end
            ),
        }
    }
}

/// A fetched batch of `partition` at source `offset` that is unreadable, for `reason`.
fn damaged(partition: &Partition, offset: u64, reason: &dyn std::fmt::Display) -> MirrorError {
    MirrorError::Damaged {
        partition: partition.tp.clone(),
        offset,
        reason: reason.to_string(),
    }
}

/// The records of the batch at the front of `bytes`, `length` bytes long: what follows its
/// header.
fn records_of(bytes: &[u8], length: u32) -> Option<&[u8]> {
    bytes.get(batch::HEADER_BYTES..length as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use strom::storage::batch::Entry;

    /// A batch of `count` records at `base_offset`, as a source would send it.
    fn encoded(base_offset: u64, count: usize) -> Vec<u8> {
        let values: Vec<String> = (0..count).map(|i| format!("reading {i}")).collect();
        let entries: Vec<Entry<'_>> = values
            .iter()
            .map(|v| Entry {
                timestamp: 1_700_000_000_000,
                key: Some(b"oslo"),
                value: Some(v.as_bytes()),
                headers: &[],
            })
            .collect();
        let mut buf = vec![0; batch::encoded_len(&entries)];
        batch::encode(&mut buf, base_offset, &entries).unwrap();
        buf
    }

    /// CRC-32C (Castagnoli), bit by bit: the checksum of a version 2 batch.
    fn crc32c(bytes: &[u8]) -> u32 {
        let mut crc = !0_u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0x82F6_3B78
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn fetched(records: Vec<u8>) -> FetchedPartition {
        FetchedPartition {
            records: Bytes::from(records),
            high_watermark: 100,
            last_stable_offset: 100,
            log_start_offset: 0,
            aborted: Vec::new(),
        }
    }

    #[test]
    fn a_batch_cut_short_at_the_end_is_fetched_again_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(dir.path()).unwrap();
        broker
            .create_topic("readings", TopicConfig::default())
            .unwrap();
        let import = Import::new(broker.clone(), "127.0.0.1:1");
        let tp = TopicPartition::new("readings", 0);
        let mut partition = Partition {
            tp: tp.clone(),
            next: 0,
            local_end: 0,
            skip: 0,
            verify_at: 0,
            until: None,
            done: false,
        };
        let mut progress = MirrorProgress::default();
        let end = |broker: &Broker| {
            broker.describe_topic("readings").unwrap().partitions[0].high_watermark
        };

        // Kafka cut the answer inside the second batch: the first is taken.
        let second = encoded(2, 3);
        let mut answer = encoded(0, 2);
        answer.extend_from_slice(&second[..second.len() - 5]);
        import
            .take(&mut partition, &fetched(answer), &mut progress)
            .unwrap();
        assert_eq!(partition.next, 2, "the next fetch starts at the cut batch");
        assert_eq!(progress.records, 2);
        // Cut inside its header: nothing taken, nothing damaged.
        import
            .take(
                &mut partition,
                &fetched(second[..20].to_vec()),
                &mut progress,
            )
            .unwrap();
        assert_eq!((partition.next, progress.records), (2, 2));
        assert_eq!(end(&broker), 2);
        import
            .take(&mut partition, &fetched(second.clone()), &mut progress)
            .unwrap();
        assert_eq!(
            (partition.next, partition.local_end, end(&broker)),
            (5, 5, 5)
        );

        // A byte flipped in transit: refused, nothing appended, the offset named.
        let mut damaged = encoded(5, 2);
        let last = damaged.len() - 1;
        damaged[last] ^= 0x40;
        match import.take(&mut partition, &fetched(damaged), &mut progress) {
            Err(MirrorError::Damaged {
                partition: p,
                offset,
                ..
            }) => assert_eq!((p, offset), (tp, 5)),
            other => panic!("expected Damaged, got {other:?}"),
        }
        assert_eq!((partition.next, end(&broker)), (5, 5));
        // A batch whose records skip an offset, as Kafka's compaction leaves them (its last
        // offset delta past its record count), checksummed again as a source would send it.
        let mut gaps = encoded(5, 2);
        gaps[23..27].copy_from_slice(&2_u32.to_be_bytes());
        let crc = crc32c(&gaps[21..]);
        gaps[17..21].copy_from_slice(&crc.to_be_bytes());
        // Its records are appended at consecutive offsets, and the source's position moves
        // past its last offset.
        import
            .take(&mut partition, &fetched(gaps), &mut progress)
            .unwrap();
        assert_eq!((partition.next, end(&broker)), (8, 7));
        // Bytes that are no batch at all.
        assert!(matches!(
            import.take(&mut partition, &fetched(vec![0xff; 80]), &mut progress),
            Err(MirrorError::Damaged { .. })
        ));
        broker.close().unwrap();
    }
}
