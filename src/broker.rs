//! The broker handle: the data directory, its lock, the topic registry and the background
//! thread.

mod follower;
mod groups;
mod maintenance;
mod transactions;
mod wire;

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::{Mutex, RwLock};

use crate::config::{BrokerConfig, ConsumerConfig, SyncPolicy, TopicConfig};
use crate::consumer::Consumer;
use crate::error::{Error, IoContext, Result};
use crate::group::{
    Coordinator, GroupDescription, GroupMember, JoinGroup, MemberDescription, PartitionLag,
};
use crate::log::CleanEnd;
use crate::metrics::LagGauges;
use crate::offsets::{OffsetAndMetadata, OffsetStore};
use crate::producer::Producer;
use crate::record::TopicPartition;
use crate::storage::{atomic_write, fsync_dir};
use crate::topic::{self, Topic, TopicDescription};
use crate::transaction::coordinator::TxnCoordinator;
use crate::transaction::TransactionalProducer;
#[cfg(feature = "async")]
pub use wire::DataWait;
pub use wire::{AbortedTransaction, FetchedBatches, ProducerIdentity, TimestampOffset};

/// The lock file that keeps a second broker off the directory.
const LOCK_FILE: &str = ".lock";
/// Written by a clean shutdown, with where each partition's log ends; removed at open.
const CLEAN_FILE: &str = ".clean";
/// Suffix of a topic directory being deleted; `~` cannot occur in a topic name.
const DELETED_SUFFIX: &str = "~deleted";

/// How often the background thread looks for work, at the most.
const MAINTENANCE_TICK: Duration = Duration::from_secs(1);
/// How often it looks at the least: shorter intervals (zero included) run every tick.
const MIN_MAINTENANCE_TICK: Duration = Duration::from_millis(1);

/// Every partition's end at a clean shutdown: topic → partition → state.
type CleanMarker = BTreeMap<String, BTreeMap<u32, CleanEnd>>;

/// An open data directory: topics, producers and consumers.
///
/// `Broker` is a handle: clones share one broker, and it is `Send + Sync`. See the
/// [crate docs](crate) for a complete example.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use strom::{Broker, TopicConfig};
///
/// let broker = Broker::open(dir.path())?;
/// broker.create_topic("transactions", TopicConfig::default().partitions(3))?;
/// assert_eq!(broker.topics(), ["transactions"]);
/// broker.close()?;
/// # Ok::<(), strom::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

/// What every handle (broker, producer, consumer) shares.
#[derive(Debug)]
pub(crate) struct Inner {
    dir: PathBuf,
    config: BrokerConfig,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    lock: Mutex<Option<File>>,
    closed: AtomicBool,
    stop: Mutex<Option<Sender<()>>>,
    maintenance: Mutex<Option<JoinHandle<()>>>,
    coordinator: Coordinator,
    offsets: OffsetStore,
    transactions: TxnCoordinator,
    /// Set when the directory is open read-only: what follows the writer's changes.
    follower: Option<follower::Follower>,
    /// The groups' lag, for the `metrics` feature.
    lag: LagGauges,
}

impl Broker {
    /// Opens (or creates) a data directory with the default [`BrokerConfig`].
    ///
    /// # Errors
    /// [`Error::Locked`] if another broker has the directory, [`Error::Io`] if it cannot be
    /// created or read, [`Error::Corrupt`] for a damaged topic config or committed-offsets
    /// file.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, BrokerConfig::default())
    }

    /// Opens (or creates) a data directory.
    ///
    /// With [`BrokerConfig::read_only`] it opens a directory another process may be
    /// writing, without its lock and without changing anything in it (see there); the
    /// directory must exist.
    ///
    /// Otherwise it takes an exclusive lock on the directory, then opens every topic. After
    /// an unclean stop each partition's last segment is checked from its last good index
    /// entry on and cut at the first torn, zeroed or corrupt batch; after a clean
    /// [`close`](Self::close) nothing is scanned.
    ///
    /// # Errors
    /// As [`open`](Self::open), and [`Error::InvalidConfig`] for a nonsensical config.
    pub fn open_with(dir: impl AsRef<Path>, config: BrokerConfig) -> Result<Self> {
        config.validate()?;
        if config.read_only {
            return Self::open_read_only(dir.as_ref(), config);
        }
        let dir = dir.as_ref().to_path_buf();
        // Everything opening logs (recovery's events among it) happens inside this span.
        let _span = tracing::info_span!("open", dir = %dir.display()).entered();
        fs::create_dir_all(&dir).at(&dir)?;
        let canonical = fs::canonicalize(&dir).at(&dir)?;
        let lock = match lock_dir(&dir) {
            // Perhaps held by this process's broker on the directory, closing on its
            // maintenance thread after the application let go of it (see `maintenance`):
            // once no round is in flight (that close may also have ended just now), the
            // lock is either free or truly held.
            Err(Error::Locked { .. }) => {
                maintenance::wait_for_round(&canonical);
                lock_dir(&dir)?
            }
            other => other?,
        };
        let clean = take_clean_marker(&dir)?;
        if clean.is_none() {
            tracing::info!(
                dir = %dir.display(),
                "no clean-shutdown marker: checking the tail of every partition"
            );
        }
        let now = now_ms();
        let mut topics = HashMap::new();
        for entry in fs::read_dir(&dir).at(&dir)? {
            let entry = entry.at(&dir)?;
            let path = entry.path();
            if !entry.file_type().at(&path)?.is_dir() {
                continue;
            }
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.ends_with(DELETED_SUFFIX) {
                // A delete that was interrupted: finish it.
                fs::remove_dir_all(&path).at(&path)?;
                tracing::info!(path = %path.display(), "finished an interrupted topic deletion");
                continue;
            }
            if topic::validate_name(&name, true).is_err() || !path.join(topic::CONFIG_FILE).exists()
            {
                continue;
            }
            let state = clean.as_ref().and_then(|c| c.get(&name));
            let clean_of = |p: u32| state.and_then(|s| s.get(&p)).copied();
            let topic = Topic::open(&path, &name, config.sync, &clean_of, now)?;
            topics.insert(name, Arc::new(topic));
        }
        let offsets = OffsetStore::open(&dir)?;
        tracing::info!(
            dir = %dir.display(),
            topics = topics.len(),
            clean = clean.is_some(),
            "opened data directory"
        );
        let inner = Arc::new(Inner {
            coordinator: Coordinator::default(),
            offsets,
            transactions: TxnCoordinator::default(),
            lag: LagGauges::new(),
            dir,
            config,
            topics: RwLock::new(topics),
            lock: Mutex::new(Some(lock)),
            closed: AtomicBool::new(false),
            stop: Mutex::new(None),
            maintenance: Mutex::new(None),
            follower: None,
        });
        // Before anyone can read or write: transactions a crash left open end here.
        inner.transactions.recover(&inner)?;
        inner.reserve_known_producer_ids();
        if cfg!(feature = "metrics") {
            // Registered here, on the application's thread (its recorder may be the
            // current one only there), for every group that committed before.
            for group_id in inner.offsets.groups() {
                let committed = inner.offsets.all(&group_id);
                inner.report_lag(&group_id, committed.keys(), true);
            }
        }
        Inner::start_maintenance(&inner)?;
        Ok(Self { inner })
    }

    /// Opens `dir` read-only (see [`BrokerConfig::read_only`]): no lock, no recovery,
    /// nothing written; a thread follows the writer.
    fn open_read_only(dir: &Path, config: BrokerConfig) -> Result<Self> {
        let dir = dir.to_path_buf();
        // Fails, naming the directory, if it does not exist: there is nothing to read.
        fs::read_dir(&dir).at(&dir)?;
        let offsets = OffsetStore::open_read_only(&dir)?;
        let inner = Arc::new(Inner {
            coordinator: Coordinator::default(),
            offsets,
            transactions: TxnCoordinator::default(),
            dir,
            config,
            topics: RwLock::new(HashMap::new()),
            lock: Mutex::new(None),
            closed: AtomicBool::new(false),
            stop: Mutex::new(None),
            maintenance: Mutex::new(None),
            follower: Some(follower::Follower::default()),
            lag: LagGauges::new(),
        });
        inner.sync_topics(true)?;
        tracing::info!(
            dir = %inner.dir.display(),
            topics = inner.topics.read().len(),
            "opened data directory read-only"
        );
        Inner::start_following(&inner)?;
        Ok(Self { inner })
    }

    /// Creates a topic.
    ///
    /// # Errors
    /// [`Error::TopicExists`], [`Error::InvalidTopicName`] (Kafka's rules, including a name
    /// that differs from an existing one only by `.` versus `_`), [`Error::InvalidConfig`]
    /// (e.g. 0 partitions), [`Error::Io`], [`Error::Closed`].
    pub fn create_topic(&self, name: &str, config: TopicConfig) -> Result<()> {
        self.inner.create_topic(name, config).map(|_| ())
    }

    /// Creates an internal topic, whose name starts with the reserved `__` (as Kafka
    /// Streams' `__<application_id>-<store>-changelog`), unless it exists already: then
    /// it is kept as it is, whatever its config. Internal topics are not listed by
    /// [`topics`](Self::topics) but are read and written like any other.
    ///
    /// # Errors
    /// [`Error::InvalidTopicName`] for a name without the `__` prefix or against Kafka's
    /// other rules, [`Error::InvalidConfig`], [`Error::Io`], [`Error::Closed`].
    pub fn create_internal_topic(&self, name: &str, config: TopicConfig) -> Result<()> {
        self.inner.check_writable("create_internal_topic")?;
        if !name.starts_with("__") {
            return Err(Error::InvalidTopicName {
                name: name.to_string(),
                reason: "an internal topic's name starts with '__'".into(),
            });
        }
        config.validate_for(name)?;
        self.inner.internal_topic(name, config).map(|_| ())
    }

    /// The names of all topics, sorted; internal (`__`) topics are not listed.
    pub fn topics(&self) -> Vec<String> {
        // Read-only: as the directory is now (a listing that fails keeps what was known).
        let _ = self.inner.sync_topics(false);
        let mut names: Vec<String> = self
            .inner
            .topics
            .read()
            .keys()
            .filter(|n| !n.starts_with("__"))
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// A topic's config and, per partition, its offsets and size.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::Io`] if a segment's size cannot be looked up,
    /// [`Error::Closed`].
    pub fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        if self.inner.follower.is_some() {
            self.inner.check_open()?;
            let topic = self.inner.refreshed_topic(name)?;
            return match topic.describe() {
                // A segment the writer's retention deleted since the listing: list again.
                Err(Error::Io { .. }) => {
                    for log in topic.partitions() {
                        log.refresh(true)?;
                    }
                    topic.describe()
                }
                other => other,
            };
        }
        self.inner.existing_topic(name)?.describe()
    }

    /// Deletes a topic and its files. Producers and consumers still holding it get
    /// [`Error::UnknownTopic`] or [`Error::Closed`] from then on.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::Io`], [`Error::Closed`].
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        self.inner.check_open()?;
        self.inner.check_writable("delete_topic")?;
        let doomed = self.inner.dir.join(format!("{name}{DELETED_SUFFIX}"));
        {
            // The registry stays locked until the directory is out of the way, so a
            // concurrent `create_topic` of the same name finds neither.
            let mut topics = self.inner.topics.write();
            let topic = topics.get(name).ok_or_else(|| Error::UnknownTopic {
                topic: name.to_string(),
            })?;
            if doomed.exists() {
                fs::remove_dir_all(&doomed).at(&doomed)?;
            }
            // IMPORTANT: rename first, so a crash mid-delete never leaves half a topic that
            // `open` would load; `open` finishes deletes it finds.
            fs::rename(topic.dir(), &doomed).at(topic.dir())?;
            topic.mark_deleted();
            topics.remove(name);
        }
        fsync_dir(&self.inner.dir)?;
        fs::remove_dir_all(&doomed).at(&doomed)?;
        // As in Kafka, a deleted topic's committed offsets go with it, those transactions
        // committed too.
        crate::transaction::coordinator::forget_topic(&self.inner, name)?;
        self.inner.offsets.forget_topic(name)?;
        tracing::info!(topic = name, "deleted topic");
        self.inner.topic_changed(name);
        Ok(())
    }

    /// Replaces a topic's whole config at run time. Retention and segment settings apply
    /// from the next append or maintenance round; the partition count may grow (new
    /// partitions start empty, keys may map elsewhere from then on, and groups subscribed
    /// to the topic rebalance) but never shrink.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`]; [`Error::InvalidConfig`] for fewer partitions or a
    /// nonsensical value; [`Error::Io`]; [`Error::Closed`].
    pub fn alter_topic(&self, name: &str, config: TopicConfig) -> Result<()> {
        self.inner.check_open()?;
        self.inner.check_writable("alter_topic")?;
        config.validate_for(name)?;
        {
            let mut topics = self.inner.topics.write();
            let topic = topics.get(name).ok_or_else(|| Error::UnknownTopic {
                topic: name.to_string(),
            })?;
            if config.partitions < topic.partition_count() {
                return Err(Error::InvalidConfig {
                    reason: format!(
                        "topic {name:?}: partitions cannot shrink from {} to {}",
                        topic.partition_count(),
                        config.partitions
                    ),
                });
            }
            let altered = topic.altered(config, self.inner.config.sync, now_ms())?;
            let old = topics.insert(name.to_string(), Arc::new(altered));
            if let Some(old) = old {
                old.mark_replaced();
            }
        }
        tracing::info!(topic = name, "altered topic config");
        self.inner.topic_changed(name);
        Ok(())
    }

    /// Runs retention and compaction (and rolls segments older than `segment_ms`) now,
    /// synchronously; the background thread does the same every `maintenance_interval`.
    ///
    /// # Errors
    /// [`Error::Io`] if a segment cannot be deleted; [`Error::Closed`].
    pub fn run_maintenance(&self) -> Result<()> {
        self.inner.check_open()?;
        self.inner.check_writable("run_maintenance")?;
        self.inner.clean_logs(false)
    }

    /// The ids of every consumer group that has committed offsets or members, sorted. As in
    /// Kafka, a group whose last member left stays, empty, until it is deleted
    /// ([`delete_group`](Self::delete_group)) or the broker closes.
    pub fn groups(&self) -> Vec<String> {
        // Read-only: the commits as they are now (a failed read keeps what was known).
        let _ = self.inner.refresh_offsets();
        let mut ids = self.inner.offsets.groups();
        ids.extend(self.inner.coordinator.active_groups());
        ids.sort();
        ids.dedup();
        ids
    }

    /// A consumer group's generation, members with their assignments, and, for every
    /// partition it has committed or been assigned, the committed offset and the lag.
    ///
    /// The lag is the high watermark minus the committed offset — or minus the log start
    /// when nothing is committed or the commit fell below it (retention moved on) — and is
    /// never negative.
    ///
    /// # Errors
    /// [`Error::UnknownGroup`] for a group with no commits that has had no member since the
    /// broker opened (or was deleted since), [`Error::Closed`].
    pub fn describe_group(&self, group_id: &str) -> Result<GroupDescription> {
        self.inner.check_open()?;
        self.inner.refresh_offsets()?;
        let committed = self.inner.offsets.all(group_id);
        let (generation, members) = self
            .inner
            .coordinator
            .existing(group_id)
            .map(|g| g.describe())
            .unwrap_or_default();
        if members.is_empty() && committed.is_empty() && !self.inner.coordinator.is_listed(group_id)
        {
            return Err(Error::UnknownGroup {
                group_id: group_id.to_string(),
            });
        }
        let mut partitions: Vec<TopicPartition> = committed.keys().cloned().collect();
        partitions.extend(members.iter().flat_map(|(_, a)| a.iter().cloned()));
        partitions.sort();
        partitions.dedup();
        let partitions = partitions
            .into_iter()
            .map(|tp| {
                let (log_start_offset, high_watermark) = self
                    .inner
                    .existing_topic(&tp.topic)
                    .and_then(|t| {
                        t.partition(tp.partition).map(|log| {
                            // Read-only: the partition as the writer has it now.
                            let _ = log.refresh(true);
                            (log.log_start_offset(), log.high_watermark())
                        })
                    })
                    .unwrap_or((0, 0));
                let committed = committed.get(&tp).copied();
                PartitionLag {
                    topic_partition: tp,
                    committed,
                    log_start_offset,
                    high_watermark,
                    lag: lag(committed, log_start_offset, high_watermark),
                }
            })
            .collect();
        Ok(GroupDescription {
            group_id: group_id.to_string(),
            generation,
            members: members
                .into_iter()
                .map(|(member_id, assignment)| MemberDescription {
                    member_id,
                    assignment,
                })
                .collect(),
            partitions,
        })
    }

    /// Joins (or rejoins) the consumer group `group_id` as a member driven by the caller
    /// rather than by a [`Consumer`]'s `poll` — a Kafka-protocol connection, whose client
    /// sends `JoinGroup`, `SyncGroup`, `Heartbeat`, `OffsetCommit` and `LeaveGroup`. With no
    /// member id in `request` a new member joins (its id is made in Kafka's style) and the
    /// group rebalances; an existing member rejoining with the same subscription joins the
    /// current generation without starting another. See [`GroupMember`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use strom::{Broker, JoinGroup, TopicConfig};
    ///
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("payments", TopicConfig::default().partitions(4))?;
    /// let member = broker.join_group("billing", JoinGroup::new(["payments"]))?;
    /// let rejoined = broker.join_group("billing", JoinGroup::new(["payments"]).member_id(member.member_id()))?;
    /// assert_eq!(rejoined.generation(), member.generation());
    /// assert_eq!(rejoined.sync()?.map(|a| a.partitions.len()), Some(4));
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Membership`] with [`MembershipError::UnknownMember`](crate::MembershipError::UnknownMember)
    /// for a member id that is not a remote member of the group (it left, was removed
    /// after its session timeout, or never joined: join again without an id);
    /// [`Error::InvalidConfig`] for an empty group id; [`Error::ReadOnly`]; [`Error::Closed`].
    pub fn join_group(&self, group_id: &str, request: JoinGroup) -> Result<GroupMember> {
        GroupMember::join(&self.inner, group_id, request)
    }

    /// The remote member `member_id` of `group_id`, as [`join_group`](Self::join_group)
    /// made it, at the generation of its latest join: Kafka clients name their member by
    /// id in every request, on any connection.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// use strom::{Error, JoinGroup, MembershipError};
    ///
    /// let member = broker.join_group("billing", JoinGroup::new(["payments"]))?;
    /// let found = broker.group_member("billing", member.member_id())?;
    /// assert_eq!(found.generation(), member.generation());
    /// let unknown = broker.group_member("billing", "consumer-billing-99");
    /// assert!(matches!(unknown, Err(Error::Membership { kind: MembershipError::UnknownMember, .. })));
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Membership`] with [`MembershipError::UnknownMember`](crate::MembershipError::UnknownMember)
    /// when the group has no such remote member; [`Error::Closed`].
    pub fn group_member(&self, group_id: &str, member_id: &str) -> Result<GroupMember> {
        GroupMember::find(&self.inner, group_id, member_id)
    }

    /// A transactional producer with `transactional_id` (Kafka's `transactional.id`):
    /// its sends belong to transactions that commit, with consumer offsets, atomically.
    /// Fences every earlier producer with the same id and aborts the transaction it left
    /// open. See [`TransactionalProducer`].
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an empty id; [`Error::Io`]; [`Error::Closed`].
    pub fn transactional_producer(&self, transactional_id: &str) -> Result<TransactionalProducer> {
        self.inner.check_writable("transactional_producer")?;
        TransactionalProducer::new(Arc::clone(&self.inner), transactional_id)
    }

    /// A producer for this broker: `Clone + Send + Sync`, cheap to clone.
    pub fn producer(&self) -> Producer {
        Producer::new(Arc::clone(&self.inner))
    }

    /// A consumer with the given settings.
    pub fn consumer(&self, config: ConsumerConfig) -> Consumer {
        Consumer::new(Arc::clone(&self.inner), config)
    }

    /// The directory this broker works in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Flushes and fsyncs every partition, marks the shutdown clean and releases the lock.
    /// Other clones, producers and consumers get [`Error::Closed`] from then on. Dropping
    /// the last handle does the same, best effort. A broker opened
    /// [read-only](BrokerConfig::read_only) only stops following the directory.
    ///
    /// # Errors
    /// [`Error::Io`] if a final fsync fails (the next open then recovers as after a crash),
    /// [`Error::Poisoned`] if a partition had failed before.
    pub fn close(self) -> Result<()> {
        self.inner.close()
    }
}

impl Inner {
    /// `Error::Closed` once the broker is closed.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// The broker's settings.
    pub(crate) fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// A topic that must exist.
    pub(crate) fn existing_topic(&self, name: &str) -> Result<Arc<Topic>> {
        self.check_open()?;
        let found = self.topics.read().get(name).map(Arc::clone);
        match found {
            Some(topic) => Ok(topic),
            // Read-only: the writer may have created it since the last look.
            None if self.follower.is_some() => {
                self.sync_topics(false)?;
                self.topics
                    .read()
                    .get(name)
                    .map(Arc::clone)
                    .ok_or_else(|| Error::UnknownTopic {
                        topic: name.to_string(),
                    })
            }
            None => Err(Error::UnknownTopic {
                topic: name.to_string(),
            }),
        }
    }

    /// A topic to send to: created with the default config if auto-creation is on.
    pub(crate) fn topic_for_send(&self, name: &str) -> Result<Arc<Topic>> {
        self.check_writable("send")?;
        match self.existing_topic(name) {
            Err(Error::UnknownTopic { .. }) if self.config.auto_create_topics => {
                match self.create_topic(name, self.config.default_topic.clone()) {
                    Ok(topic) => Ok(topic),
                    // Another producer created it first.
                    Err(Error::TopicExists { .. }) => self.existing_topic(name),
                    Err(e) => Err(e),
                }
            }
            other => other,
        }
    }

    fn create_topic(&self, name: &str, config: TopicConfig) -> Result<Arc<Topic>> {
        self.check_open()?;
        self.check_writable("create_topic")?;
        topic::validate_name(name, false)?;
        config.validate_for(name)?;
        let mut topics = self.topics.write();
        if topics.contains_key(name) {
            return Err(Error::TopicExists {
                topic: name.to_string(),
            });
        }
        if let Some(other) = topics.keys().find(|other| topic::collides(name, other)) {
            return Err(Error::InvalidTopicName {
                name: name.to_string(),
                reason: format!("it collides with existing topic {other:?} ('.' and '_' are treated alike, as in Kafka)"),
            });
        }
        let topic = self.add_topic(&mut topics, name, config)?;
        drop(topics);
        tracing::info!(
            topic = name,
            partitions = topic.partition_count(),
            "created topic"
        );
        self.topic_changed(name);
        Ok(topic)
    }

    /// Partition counts of those of `topics` that exist.
    pub(crate) fn partition_counts(&self, topics: &[String]) -> BTreeMap<String, u32> {
        let registry = self.topics.read();
        topics
            .iter()
            .filter_map(|t| {
                registry
                    .get(t)
                    .map(|topic| (t.clone(), topic.partition_count()))
            })
            .collect()
    }

    /// Groups subscribed to `topic` rebalance.
    fn topic_changed(&self, topic: &str) {
        self.coordinator
            .topic_changed(topic, &|t| self.partition_counts(t));
    }

    /// The consumer groups.
    pub(crate) fn coordinator(&self) -> &Coordinator {
        &self.coordinator
    }

    /// The committed offsets.
    pub(crate) fn offsets(&self) -> &OffsetStore {
        &self.offsets
    }

    /// The transaction coordinator.
    pub(crate) fn transactions(&self) -> &TxnCoordinator {
        &self.transactions
    }

    /// Commits `offsets` for `group_id`, durably, and reports the group's lag in them.
    pub(crate) fn commit_offsets(
        &self,
        group_id: &str,
        offsets: &[(TopicPartition, u64)],
    ) -> Result<()> {
        self.offsets.commit(group_id, offsets)?;
        self.report_lag(group_id, offsets.iter().map(|(tp, _)| tp), true);
        Ok(())
    }

    /// Commits `offsets` with their metadata for `group_id`, durably, and reports the
    /// group's lag in them.
    pub(crate) fn commit_offsets_with_metadata(
        &self,
        group_id: &str,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<()> {
        self.offsets.commit_with_metadata(group_id, offsets)?;
        self.report_lag(group_id, offsets.iter().map(|(tp, _)| tp), true);
        Ok(())
    }

    /// Sets the lag gauges of `group_id` in `partitions` (`metrics` feature); `register`
    /// as [`LagGauges::set`].
    pub(crate) fn report_lag<'a>(
        &self,
        group_id: &str,
        partitions: impl IntoIterator<Item = &'a TopicPartition>,
        register: bool,
    ) {
        self.lag.set(group_id, partitions, register, |tp| {
            let log = self
                .topics
                .read()
                .get(&tp.topic)
                .and_then(|t| t.partition(tp.partition).ok().map(Arc::clone));
            // A deleted topic's partitions have nothing left to read.
            log.map_or(0, |log| {
                let committed = self.offsets.committed(group_id, tp);
                lag(committed, log.log_start_offset(), log.high_watermark())
            })
        });
    }

    /// An internal (`__`) topic, created with `config` if it does not exist yet.
    pub(crate) fn internal_topic(&self, name: &str, config: TopicConfig) -> Result<Arc<Topic>> {
        self.check_writable("create_internal_topic")?;
        if let Ok(topic) = self.existing_topic(name) {
            return Ok(topic);
        }
        topic::validate_name(name, true)?;
        let mut topics = self.topics.write();
        if let Some(topic) = topics.get(name) {
            return Ok(Arc::clone(topic));
        }
        self.add_topic(&mut topics, name, config)
    }

    /// Creates a topic's files and adds it to the registry, whose lock the caller holds.
    fn add_topic(
        &self,
        topics: &mut HashMap<String, Arc<Topic>>,
        name: &str,
        config: TopicConfig,
    ) -> Result<Arc<Topic>> {
        let topic = Arc::new(Topic::create(
            &self.dir.join(name),
            name,
            config,
            self.config.sync,
            now_ms(),
        )?);
        fsync_dir(&self.dir)?;
        topics.insert(name.to_string(), Arc::clone(&topic));
        Ok(topic)
    }

    /// Every topic's partitions.
    pub(crate) fn all_topics(&self) -> Vec<Arc<Topic>> {
        self.topics.read().values().map(Arc::clone).collect()
    }

    /// Rolls old active segments, compacts and applies retention to every partition. A
    /// partition that fails is skipped (and, in the background, logged) and the others go
    /// on; the first failure is returned.
    fn clean_logs(&self, background: bool) -> Result<()> {
        // Appends since the last commit move the lag too: the gauges follow every round.
        for (group_id, partitions) in self.lag.registered() {
            self.report_lag(&group_id, &partitions, false);
        }
        let now = now_ms();
        let mut first_error = None;
        for topic in self.all_topics() {
            for log in topic.partitions() {
                let cleaned = log.roll_if_old(now).and_then(|()| {
                    if let Some(delete_retention_ms) = topic.compaction() {
                        log.compact(delete_retention_ms, now)?;
                    }
                    if topic.rebatches_sealed() {
                        log.rebatch()?;
                    }
                    if let Some(retention) = topic.retention() {
                        log.apply_retention(retention, now)?;
                    }
                    Ok(())
                });
                if let Err(e) = cleaned {
                    if background {
                        tracing::warn!(
                            topic = %topic.name(),
                            partition = log.partition(),
                            error = &e as &dyn std::error::Error,
                            "retention or compaction failed; retried at the next maintenance interval"
                        );
                    }
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Fsyncs every partition.
    pub(crate) fn flush(&self) -> Result<()> {
        self.check_open()?;
        self.check_writable("flush")?;
        for topic in self.all_topics() {
            for log in topic.partitions() {
                log.sync_all()?;
            }
        }
        Ok(())
    }

    fn start_maintenance(inner: &Arc<Self>) -> Result<()> {
        // At least once a second, so that group members that stopped polling are noticed
        // even when no other member polls.
        let mut tick = MAINTENANCE_TICK.min(inner.config.maintenance_interval);
        if let SyncPolicy::Interval(every) = inner.config.sync {
            tick = tick.min(every);
        }
        let tick = tick.max(MIN_MAINTENANCE_TICK);
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let mut rounds = Rounds {
            cleaned: Instant::now(),
            synced: Instant::now(),
        };
        let weak: Weak<Self> = Arc::downgrade(inner);
        let canonical = fs::canonicalize(&inner.dir).at(&inner.dir)?;
        let handle = thread::Builder::new()
            .name("strom-maintenance".into())
            .spawn(move || loop {
                match stopped.recv_timeout(tick) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                let _round = maintenance::Round::enter(&canonical);
                let Some(inner) = weak.upgrade() else { return };
                inner.maintain(&mut rounds);
                // The last drop when the application let go meanwhile: the close runs here,
                // inside the round, which an `open` of the directory waits for.
                drop(inner);
            })
            .at(&inner.dir)?;
        *inner.stop.lock() = Some(stop);
        *inner.maintenance.lock() = Some(handle);
        Ok(())
    }

    /// One round of background work: whatever of it is due.
    fn maintain(&self, rounds: &mut Rounds) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        self.coordinator
            .expire_members(Instant::now(), &|t| self.partition_counts(t));
        self.transactions
            .expire(self, self.config.transaction_timeout);
        if due(&mut rounds.cleaned, self.config.maintenance_interval) {
            // Failures are logged and retried next round; appends and reads go on.
            let _ = self.clean_logs(true);
        }
        if let SyncPolicy::Interval(every) = self.config.sync {
            if due(&mut rounds.synced, every) {
                for topic in self.all_topics() {
                    for log in topic.partitions() {
                        // A failure poisons the partition (logged there); its next send
                        // reports it.
                        let _ = log.sync_all();
                    }
                }
            }
        }
    }

    fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if self.follower.is_some() {
            // Read-only: nothing to flush, mark or unlock.
            self.stop_following();
            tracing::info!(dir = %self.dir.display(), "closed data directory opened read-only");
            return Ok(());
        }
        drop(self.stop.lock().take());
        if let Some(handle) = self.maintenance.lock().take() {
            if handle.thread().id() != thread::current().id() {
                let _ = handle.join();
            }
        }
        let mut marker = CleanMarker::new();
        let mut first_error = None;
        for topic in self.all_topics() {
            let states = marker.entry(topic.name().to_string()).or_default();
            for log in topic.partitions() {
                match log.close() {
                    Ok(state) => {
                        states.insert(log.partition(), state);
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        self.coordinator.wake_all();
        let result = match first_error {
            // Without a marker the next open recovers every partition as after a crash.
            Some(e) => Err(e),
            None => serde_json::to_vec(&marker)
                .map_err(|source| Error::Serde {
                    context: self.dir.join(CLEAN_FILE).display().to_string(),
                    source,
                })
                .and_then(|bytes| atomic_write(&self.dir.join(CLEAN_FILE), &bytes)),
        };
        drop(self.lock.lock().take());
        match &result {
            Ok(()) => tracing::info!(dir = %self.dir.display(), "closed data directory"),
            Err(e) => tracing::warn!(
                dir = %self.dir.display(),
                error = e as &dyn std::error::Error,
                "closed data directory without a clean-shutdown marker; the next open checks every tail"
            ),
        }
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// When the background thread last did each kind of work.
#[derive(Debug)]
struct Rounds {
    cleaned: Instant,
    synced: Instant,
}

/// Whether `every` has passed since `last`, which moves to now if so. An interval that
/// never passes (`Duration::MAX`) is never due.
fn due(last: &mut Instant, every: Duration) -> bool {
    let due = last.elapsed() >= every;
    if due {
        *last = Instant::now();
    }
    due
}

/// Takes the exclusive lock on `dir`.
fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .at(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(Error::Locked { path }),
        Err(fs::TryLockError::Error(source)) => Err(Error::Io { path, source }),
    }
}

/// Reads and removes the clean-shutdown marker. A marker that cannot be read counts as
/// absent: recovery then checks every tail, which is always safe.
fn take_clean_marker(dir: &Path) -> Result<Option<CleanMarker>> {
    let path = dir.join(CLEAN_FILE);
    let Ok(bytes) = fs::read(&path) else {
        return Ok(None);
    };
    let marker = serde_json::from_slice(&bytes).ok();
    // IMPORTANT: the marker must be gone before anything is appended, or a crash later in
    // this run would be taken for a clean shutdown.
    fs::remove_file(&path).at(&path)?;
    fsync_dir(dir)?;
    Ok(marker)
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    // Seconds and milliseconds apart: `as_millis` works in `u128`, and every send asks.
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        i64::try_from(d.as_secs())
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .map_or(i64::MAX, |ms| {
                ms.saturating_add(i64::from(d.subsec_millis()))
            })
    })
}

/// Records a group has not yet read in a partition: the high watermark minus the committed
/// offset, or minus the log start when nothing is committed or the commit fell below it.
fn lag(committed: Option<u64>, log_start_offset: u64, high_watermark: u64) -> u64 {
    let from = committed.map_or(log_start_offset, |c| c.max(log_start_offset));
    high_watermark.saturating_sub(from)
}

/// How long until `deadline`, or zero.
pub(crate) fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}
