//! [`Streams`]: a [`Topology`] running against a [`Broker`], on worker threads that are
//! members of the application's consumer group.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::broker::Broker;
use crate::config::{CleanupPolicy, TopicConfig};
use crate::error::{Error, Result};
use crate::group::GroupDescription;

use super::codec::Codec;
use super::config::{ProcessingGuarantee, StreamsConfig};
use super::store::StoreView;
use super::thread::{self, Shared, Tasks};
use super::topology::Topology;

/// A stream processing application: a [`Topology`] run by `num_threads` worker threads,
/// each a member of the consumer group named by the application id, so that several
/// `Streams` with one id (in one process or several) share the input partitions.
///
/// Each thread runs one task per partition number it was given (co-partitioned inputs of
/// that number share it), restores the task's stores from their changelogs first, and
/// commits every [`commit_interval`](StreamsConfig::commit_interval) as its
/// [`ProcessingGuarantee`] says.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use serde::{Deserialize, Serialize};
/// use strom::{Broker, Record, TopicConfig};
/// use strom::streams::{Json, ProcessingGuarantee, Streams, StreamsBuilder, StreamsConfig, TimeWindows, Windowed};
///
/// #[derive(Clone, Serialize, Deserialize)] struct Tx { kind: String, amount: f64 }
/// #[derive(Clone, Serialize, Deserialize)] struct Alert { user: String, withdrawals: u64 }
///
/// let dir = tempfile::tempdir()?;
/// let broker = Broker::open(dir.path())?;
/// broker.create_topic("transactions", TopicConfig::default().partitions(2))?;
/// broker.create_topic("fraud_alerts", TopicConfig::default())?;
/// for seconds in [10, 50, 90, 130] {
///     let tx = Record::json(&Tx { kind: "withdrawal".into(), amount: 500.0 })?;
///     broker.producer().send("transactions", tx.key("ann").timestamp(seconds * 1_000))?;
/// }
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream::<String, Json<Tx>>("transactions")
///     .filter(|_user, tx| tx.kind == "withdrawal")
///     .group_by_key()
///     .windowed_by(TimeWindows::of(Duration::from_secs(300)).grace(Duration::from_secs(30)))
///     .count("withdrawals-5min")
///     .to_stream()
///     .filter(|_w, n| *n > 3)
///     .map(|w, n| (w.key.clone(), Json(Alert { user: w.key.clone(), withdrawals: *n })))
///     .to("fraud_alerts");
///
/// let mut app = Streams::new(&broker, builder.build()?, StreamsConfig::new("fraud-app")
///     .processing_guarantee(ProcessingGuarantee::ExactlyOnce).num_threads(2))?;
/// app.start()?;
/// assert!(app.wait_until_caught_up(Duration::from_secs(10))?);
/// let counts = app.store::<Windowed<String>, u64>("withdrawals-5min")?;
/// let window = Windowed { key: "ann".to_string(), start_ms: 0, end_ms: 300_000 };
/// assert_eq!(counts.get(&window), Some(4));
/// app.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Streams {
    shared: Arc<Shared>,
    tasks: Vec<Arc<Mutex<Tasks>>>,
    threads: Vec<JoinHandle<()>>,
    /// The first error, once `wait_until_caught_up` has returned it, for later calls.
    reported: Mutex<Option<String>>,
}

impl Streams {
    /// Checks `topology` against the broker and creates its internal topics.
    ///
    /// Repartition topics a join reads get as many partitions as the topics joined with
    /// them, other repartition topics as many as the topology's largest source topic;
    /// changelogs as many as that too (a task's store is backed by its partition number's
    /// changelog partition), compacted (and deleted after their retention for windowed
    /// stores). Existing internal topics are kept as they are.
    ///
    /// # Errors
    ///
    /// - [`Error::UnknownTopic`] for a source or `to` topic that does not exist;
    /// - [`Error::InvalidConfig`] for an empty application id;
    /// - [`Error::InvalidTopology`] when topics a join reads together (they must be
    ///   co-partitioned) have different partition counts, naming the topics and counts;
    /// - [`Error::InvalidTopicName`] if the application id makes illegal internal names.
    pub fn new(broker: &Broker, topology: Topology, config: StreamsConfig) -> Result<Self> {
        let app = config.application_id.clone();
        if app.is_empty() {
            return Err(Error::InvalidConfig {
                reason: "a streams application id must not be empty".into(),
            });
        }
        let mut max_partitions = 0_u32;
        let mut counts: HashMap<String, u32> = HashMap::new();
        for topic in topology.source_topics() {
            let described = broker.describe_topic(topic)?;
            let n = u32::try_from(described.partitions.len()).unwrap_or(u32::MAX);
            counts.insert(topic.to_string(), n);
            max_partitions = max_partitions.max(n);
        }
        for topic in topology.sink_topics() {
            broker.describe_topic(topic)?;
        }
        // Only topics a join reads together must agree (Kafka's rule): a store meets the
        // records of one partition number, and unjoined inputs never share a store entry.
        // Internal topics kept from an earlier run count with their actual partitions.
        let partitions = |topic: &str| {
            counts.get(topic).copied().or_else(|| {
                broker
                    .describe_topic(topic)
                    .ok()
                    .map(|d| u32::try_from(d.partitions.len()).unwrap_or(u32::MAX))
            })
        };
        topology.check_co_partitioned(&app, partitions)?;
        let groups = topology.co_partition_groups(&app);
        let mut inputs: Vec<String> = topology
            .source_topics()
            .iter()
            .map(ToString::to_string)
            .collect();
        let mut changelogs = HashSet::new();
        for internal in topology.internal_topics() {
            let name = internal.name(&app);
            crate::topic::validate_name(&name, true)?;
            // A repartition topic takes its co-partition group's count, so that the join
            // it feeds pairs equal partition numbers; changelogs (and repartition topics
            // no join reads) take the largest, one partition per task.
            let count = groups
                .iter()
                .find(|g| g.contains(&name))
                .and_then(|g| g.iter().find_map(|t| counts.get(t).copied()))
                .unwrap_or(max_partitions);
            let mut topic = TopicConfig::default().partitions(count.max(1));
            if internal.is_changelog() {
                topic = topic.cleanup_policy(match internal.retention_ms() {
                    Some(_) => CleanupPolicy::CompactAndDelete,
                    None => CleanupPolicy::Compact,
                });
                if let Some(ms) = internal.retention_ms() {
                    topic = topic.retention_ms(ms);
                }
                changelogs.insert(Arc::from(name.as_str()));
            } else {
                inputs.push(name.clone());
            }
            broker.create_internal_topic(&name, topic)?;
        }
        let sources = topology
            .source_topics()
            .iter()
            .map(ToString::to_string)
            .collect();
        Ok(Self {
            shared: Arc::new(Shared {
                broker: broker.clone(),
                topology,
                config,
                inputs,
                sources,
                changelogs,
                stop: AtomicBool::new(false),
                error: Mutex::new(None),
                skipped: AtomicU64::new(0),
                waiting: AtomicUsize::new(0),
                commits: Mutex::new(0),
                progressed: parking_lot::Condvar::new(),
                dropped: AtomicU64::new(0),
            }),
            tasks: Vec::new(),
            threads: Vec::new(),
            reported: Mutex::new(None),
        })
    }

    /// Starts the worker threads; they join the group, restore their tasks and process.
    ///
    /// # Errors
    ///
    /// [`Error::IllegalState`] if already started; [`Error::Io`] if a thread cannot be
    /// spawned.
    pub fn start(&mut self) -> Result<()> {
        if !self.threads.is_empty() {
            return Err(Error::IllegalState {
                reason: "Streams::start called twice".into(),
            });
        }
        for index in 0..self.shared.config.num_threads {
            let tasks = Arc::new(Mutex::new(Tasks::default()));
            let shared = Arc::clone(&self.shared);
            let mine = Arc::clone(&tasks);
            let handle = std::thread::Builder::new()
                .name(format!(
                    "{}-stream-{index}",
                    self.shared.config.application_id
                ))
                .spawn(move || thread::run(&shared, &mine, index))
                .map_err(|source| Error::Io {
                    path: std::path::PathBuf::from("<thread spawn>"),
                    source,
                })?;
            self.tasks.push(tasks);
            self.threads.push(handle);
        }
        Ok(())
    }

    /// Waits until every input record present when it was called has been processed and
    /// committed (its results in the stores and the output topics; for `ExactlyOnce`,
    /// committed), by any instance of the application: `true`, or `false` after `timeout`.
    /// While it waits, a thread of this instance with nothing left to read commits at once
    /// rather than at the end of its commit interval.
    ///
    /// # Errors
    ///
    /// The first error of the application: an undecodable record ([`Error::Serde`]
    /// naming topic, partition and offset), a deleted input topic, a closed broker.
    pub fn wait_until_caught_up(&self, timeout: Duration) -> Result<bool> {
        if self.threads.is_empty() {
            return Err(Error::IllegalState {
                reason: "wait_until_caught_up before Streams::start".into(),
            });
        }
        self.shared.waiting.fetch_add(1, Ordering::SeqCst);
        let waited = self.wait_for_commits(timeout);
        self.shared.waiting.fetch_sub(1, Ordering::SeqCst);
        waited
    }

    /// [`wait_until_caught_up`](Self::wait_until_caught_up) once started.
    fn wait_for_commits(&self, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        let sources: Vec<String> = self.shared.sources.clone();
        let repartition: Vec<String> = self
            .shared
            .inputs
            .iter()
            .filter(|t| !sources.contains(t))
            .cloned()
            .collect();
        let targets = self.ends(&sources)?;
        loop {
            let commits = *self.shared.commits.lock();
            self.check()?;
            if let Some(group) = self.group()? {
                if self.settled(&group) && reached(&group, &targets) {
                    // Repartition records of the inputs above are all written by now;
                    // their commits may be newer than the group read above.
                    let again = self.ends(&repartition)?;
                    if again.is_empty() {
                        return Ok(true);
                    }
                    if self.group()?.is_some_and(|group| reached(&group, &again)) {
                        return Ok(true);
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            // Until a thread commits (or stops); a thread's commit is what moves the
            // committed offsets and the last stable offsets checked above. The bound is a
            // safety net, not the mechanism.
            let mut seen = self.shared.commits.lock();
            if *seen == commits {
                let wake = deadline.min(now + Duration::from_millis(50));
                self.shared.progressed.wait_until(&mut seen, wake);
            }
        }
    }

    /// Returns the first error, once; later calls say the application stopped.
    fn check(&self) -> Result<()> {
        if let Some(e) = self.shared.error.lock().take() {
            *self.reported.lock() = Some(e.to_string());
            return Err(e);
        }
        if let Some(reason) = &*self.reported.lock() {
            return Err(Error::IllegalState {
                reason: format!("the streams application stopped: {reason}"),
            });
        }
        Ok(())
    }

    /// The end of each partition of `topics` as a reader of the application sees it.
    fn ends(&self, topics: &[String]) -> Result<Vec<(String, u32, u64)>> {
        let exactly_once = self.shared.config.guarantee == ProcessingGuarantee::ExactlyOnce;
        let mut ends = Vec::new();
        for topic in topics {
            for p in self.shared.broker.describe_topic(topic)?.partitions {
                let end = if exactly_once {
                    p.last_stable_offset
                } else {
                    p.high_watermark
                };
                if end > p.log_start_offset {
                    ends.push((topic.clone(), p.partition, end));
                }
            }
        }
        Ok(ends)
    }

    /// The application's group as the broker describes it now; `None` before any member
    /// joined.
    fn group(&self) -> Result<Option<GroupDescription>> {
        match self
            .shared
            .broker
            .describe_group(&self.shared.config.application_id)
        {
            Ok(group) => Ok(Some(group)),
            Err(Error::UnknownGroup { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether every thread of this instance acts on the group's current assignment and
    /// has its tasks in place (not in the middle of a rebalance).
    fn settled(&self, group: &GroupDescription) -> bool {
        self.tasks.iter().all(|tasks| {
            let tasks = tasks.lock();
            let Some((id, assignment)) = &tasks.member else {
                return false;
            };
            group.members.iter().any(|m| {
                let mut theirs = m.assignment.clone();
                theirs.sort();
                m.member_id == *id && theirs == *assignment
            }) && assignment
                .iter()
                .all(|tp| tasks.slots.contains_key(&tp.partition))
        })
    }

    /// A read-only copy of the state store `name`, merged over the tasks this instance
    /// runs now (another instance of the application holds the other partitions' keys).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTopology`] if the topology has no store `name` or it does not hold
    /// `K` and `V`; [`Error::Serde`] if an entry does not decode.
    pub fn store<K: Codec, V: Codec>(&self, name: &str) -> Result<StoreView<K, V>> {
        let topology = &self.shared.topology;
        let (index, spec) = topology
            .store_spec(name)
            .ok_or_else(|| Error::InvalidTopology {
                reason: format!(
                    "no state store named {name:?}; the topology has {:?}",
                    topology.store_names()
                ),
            })?;
        let mut merged = StoreView::<K, V>::empty();
        for tasks in &self.tasks {
            let tasks = tasks.lock();
            for slot in tasks.slots.values() {
                let Some(store) = slot.task.store(index) else {
                    continue;
                };
                let view: Box<dyn Any> = (spec.view)(store, name)?;
                let view =
                    view.downcast::<StoreView<K, V>>()
                        .map_err(|_| Error::InvalidTopology {
                            reason: format!(
                                "state store {name:?} does not hold keys of {} and values of {}",
                                std::any::type_name::<K>(),
                                std::any::type_name::<V>()
                            ),
                        })?;
                merged.extend(*view);
            }
        }
        Ok(merged)
    }

    /// How many records the tasks of this instance have dropped since it started, those
    /// it has given up at rebalances included: records for windows already closed,
    /// records without the key or value an aggregation needs. Kafka's
    /// `dropped-records-total`, as [`TopologyTestDriver::dropped_records`](super::TopologyTestDriver::dropped_records).
    pub fn dropped_records(&self) -> u64 {
        let current: u64 = self
            .tasks
            .iter()
            .map(|tasks| {
                tasks
                    .lock()
                    .slots
                    .values()
                    .map(|slot| slot.task.dropped_records())
                    .sum::<u64>()
            })
            .sum();
        self.shared.dropped.load(Ordering::Relaxed) + current
    }

    /// How many undecodable records were skipped under
    /// [`skip_undecodable`](StreamsConfig::skip_undecodable).
    pub fn skipped_records(&self) -> u64 {
        self.shared.skipped.load(Ordering::Relaxed)
    }

    /// Finishes the in-flight commit, leaves the group and joins the threads.
    ///
    /// # Errors
    ///
    /// The first error of the application not yet returned by
    /// [`wait_until_caught_up`](Self::wait_until_caught_up), or of the final commit.
    pub fn close(mut self) -> Result<()> {
        self.shutdown();
        match self.shared.error.lock().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for handle in self.threads.drain(..) {
            if handle.join().is_err() {
                self.shared.fail(Error::IllegalState {
                    reason: "a stream thread panicked".into(),
                });
            }
        }
    }
}

impl Drop for Streams {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for Streams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streams")
            .field("application_id", &self.shared.config.application_id)
            .field("threads", &self.threads.len())
            .finish_non_exhaustive()
    }
}

/// Whether the group's committed offsets have reached `targets`.
fn reached(group: &GroupDescription, targets: &[(String, u32, u64)]) -> bool {
    targets.iter().all(|(topic, partition, end)| {
        group.partitions.iter().any(|lag| {
            lag.topic_partition.topic == *topic
                && lag.topic_partition.partition == *partition
                && lag.committed.is_some_and(|c| c >= *end)
        })
    })
}
