//! [`StreamsConfig`]: how a [`Streams`](super::Streams) application runs.

use std::time::Duration;

/// What a [`Streams`](super::Streams) application promises about its results after a
/// failure (Kafka's `processing.guarantee`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProcessingGuarantee {
    /// Outputs and changelog records are flushed before the input offsets are committed:
    /// after a crash nothing is lost, but records processed since the last commit are
    /// processed again, so their results may appear twice.
    #[default]
    AtLeastOnce,
    /// Each commit writes a task's outputs, changelog records and input offsets in one
    /// transaction, and inputs are read `ReadCommitted`: after a crash every result appears
    /// exactly once to `ReadCommitted` readers.
    ExactlyOnce,
}

/// Settings of a [`Streams`](super::Streams) application.
///
/// ```
/// use std::time::Duration;
/// use strom::streams::{ProcessingGuarantee, StreamsConfig};
///
/// let config = StreamsConfig::new("fraud-app")
///     .num_threads(2)
///     .processing_guarantee(ProcessingGuarantee::ExactlyOnce)
///     .commit_interval(Duration::from_millis(50));
/// assert_eq!(config.application_id(), "fraud-app");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamsConfig {
    pub(crate) application_id: String,
    pub(crate) num_threads: usize,
    pub(crate) guarantee: ProcessingGuarantee,
    pub(crate) commit_interval: Duration,
    pub(crate) skip_undecodable: bool,
    pub(crate) cache_max_bytes: usize,
}

/// The default [`StreamsConfig::cache_max_bytes`]: 10 MiB, as Kafka Streams'
/// `statestore.cache.max.bytes`.
pub const DEFAULT_CACHE_MAX_BYTES: usize = 10 * 1024 * 1024;

impl StreamsConfig {
    /// Settings for the application `application_id`, which is also its consumer group
    /// and the prefix of its internal topics (`__<application_id>-…`).
    pub fn new(application_id: impl Into<String>) -> Self {
        Self {
            application_id: application_id.into(),
            num_threads: 1,
            guarantee: ProcessingGuarantee::AtLeastOnce,
            commit_interval: Duration::from_millis(100),
            skip_undecodable: false,
            cache_max_bytes: DEFAULT_CACHE_MAX_BYTES,
        }
    }

    /// The application id.
    pub fn application_id(&self) -> &str {
        &self.application_id
    }

    /// How many worker threads process tasks (at least one). By default, 1.
    #[must_use]
    pub fn num_threads(mut self, n: usize) -> Self {
        self.num_threads = n.max(1);
        self
    }

    /// The processing guarantee. By default, [`ProcessingGuarantee::AtLeastOnce`].
    #[must_use]
    pub fn processing_guarantee(mut self, guarantee: ProcessingGuarantee) -> Self {
        self.guarantee = guarantee;
        self
    }

    /// How often outputs are flushed and input offsets committed (for `ExactlyOnce`, how
    /// long a transaction stays open). By default, 100 ms.
    #[must_use]
    pub fn commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval = interval;
        self
    }

    /// The size of the record cache in front of the aggregations' state stores, in bytes
    /// (Kafka's `statestore.cache.max.bytes`); 0 turns it off. By default,
    /// [`DEFAULT_CACHE_MAX_BYTES`] (10 MiB).
    ///
    /// With the cache, the updates of an aggregation (`count`, `reduce`, `aggregate`, also
    /// in time windows) to one key are coalesced in memory: the store and interactive
    /// queries see each at once, but the changelog record and the update sent down the
    /// table (`to_stream`, `suppress_until_window_closes`, …) are emitted only when the task
    /// commits, or when its cache is full (then the store's held updates are emitted
    /// early). So the table downstream sees the latest value per key per commit interval
    /// instead of every update: fewer records, the same final results. Under
    /// `ExactlyOnce` the flush is part of the commit's transaction; under `AtLeastOnce` it
    /// is sent before the offsets are committed. Each task's share is `cache_max_bytes /
    /// num_threads`. Session windows and tables read from topics are not cached. A join
    /// with an aggregation's table looks up its store, which is always current; a join
    /// with a table derived from one (`filter`, `map_values`) sees it as of the last flush.
    ///
    /// ```
    /// use strom::streams::StreamsConfig;
    ///
    /// // Every update of every aggregate goes downstream, as it happens.
    /// let config = StreamsConfig::new("clicks-app").cache_max_bytes(0);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn cache_max_bytes(mut self, bytes: usize) -> Self {
        self.cache_max_bytes = bytes;
        self
    }

    /// Whether a record whose key or value does not decode is skipped (and counted) rather
    /// than stopping its partition with the error. By default, `false`.
    #[must_use]
    pub fn skip_undecodable(mut self, skip: bool) -> Self {
        self.skip_undecodable = skip;
        self
    }
}
