//! A topic: its name rules, its config file and its partitions.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::config::{CleanupPolicy, SyncPolicy, TopicConfig};
use crate::error::{CorruptKind, Error, IoContext, Result};
use crate::log::{CleanEnd, LogSettings, PartitionLog, Retention};
use crate::partitioner::StickyPartitioner;
use crate::storage::{atomic_write, read_json};

/// The file in a topic's directory that holds its config.
pub(crate) const CONFIG_FILE: &str = "topic.json";

/// Kafka's limit on a topic name's length.
const MAX_NAME_LEN: usize = 249;

/// A topic as `describe_topic` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// The topic's name.
    pub name: String,
    /// Its config.
    pub config: TopicConfig,
    /// Its partitions, in partition order.
    pub partitions: Vec<PartitionDescription>,
}

/// One partition of a [`TopicDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    /// The partition number.
    pub partition: u32,
    /// The first offset still in the log.
    pub log_start_offset: u64,
    /// The next offset to be written.
    pub high_watermark: u64,
    /// The first offset of a transaction still open in the partition, or `high_watermark`
    /// when none is: consumers reading committed data read up to here.
    pub last_stable_offset: u64,
    /// Number of segment files.
    pub segments: usize,
    /// Bytes of the segment files' data.
    pub size_bytes: u64,
}

/// Checks a name against Kafka's topic-name rules; `internal` allows the reserved `__`
/// prefix.
pub(crate) fn validate_name(name: &str, internal: bool) -> Result<()> {
    let reason = if name.is_empty() {
        "the name is empty".to_string()
    } else if name == "." || name == ".." {
        "'.' and '..' are not allowed".to_string()
    } else if name.len() > MAX_NAME_LEN {
        format!(
            "{} characters is longer than the {MAX_NAME_LEN} allowed",
            name.len()
        )
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        format!("{c:?} is not allowed; use only ASCII letters, digits, '.', '_' and '-'")
    } else if !internal && name.starts_with("__") {
        "names starting with '__' are reserved for internal topics".to_string()
    } else {
        return Ok(());
    };
    Err(Error::InvalidTopicName {
        name: name.to_string(),
        reason,
    })
}

/// Kafka's collision rule: `a.b` and `a_b` would clash in metric names, so only one of
/// them may exist.
pub(crate) fn collides(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| x == y || (matches!(x, b'.' | b'_') && matches!(y, b'.' | b'_')))
}

/// Reads and checks the config file of the topic in `dir`.
///
/// # Errors
/// [`Error::Io`] if it cannot be read, [`Error::Corrupt`] if it is not a valid config.
pub(crate) fn read_config(dir: &Path) -> Result<TopicConfig> {
    let path = dir.join(CONFIG_FILE);
    let config: TopicConfig = read_json(&path)?;
    config.validate().map_err(|e| Error::Corrupt {
        path: path.clone(),
        position: 0,
        kind: CorruptKind::Metadata(match e {
            Error::InvalidConfig { reason } => reason,
            other => other.to_string(),
        }),
    })?;
    Ok(config)
}

/// One topic's partitions and config.
#[derive(Debug)]
pub(crate) struct Topic {
    name: Arc<str>,
    dir: PathBuf,
    // Immutable, so a send takes no lock here; a config change builds a new `Topic`.
    config: TopicConfig,
    partitions: Vec<Arc<PartitionLog>>,
    sticky: StickyPartitioner,
    deleted: AtomicBool,
    /// Set when `alter_topic` put a new `Topic` in this one's place; handles that hold
    /// this one (`TopicProducer`, `BatchBuilder`) then look the topic up again.
    replaced: AtomicBool,
}

impl Topic {
    /// Creates the topic's directory, its partitions and, last, its config file: a crash
    /// part-way leaves a directory without `topic.json`, which `open` ignores.
    pub(crate) fn create(
        dir: &Path,
        name: &str,
        config: TopicConfig,
        sync: SyncPolicy,
        now_ms: i64,
    ) -> Result<Self> {
        if dir.exists() {
            // A leftover of an interrupted create: nothing in it was ever acknowledged.
            fs::remove_dir_all(dir).at(dir)?;
        }
        fs::create_dir_all(dir).at(dir)?;
        let topic = Self::load(dir, name, config, sync, &|_| None, now_ms)?;
        topic.write_config()?;
        Ok(topic)
    }

    /// Opens an existing topic directory.
    pub(crate) fn open(
        dir: &Path,
        name: &str,
        sync: SyncPolicy,
        clean: &dyn Fn(u32) -> Option<CleanEnd>,
        now_ms: i64,
    ) -> Result<Self> {
        let config = read_config(dir)?;
        Self::load(dir, name, config, sync, clean, now_ms)
    }

    /// Opens a topic directory that another process may be writing, for reading only
    /// (see [`PartitionLog::follow`]).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub(crate) fn follow(dir: &Path, name: &str, sync: SyncPolicy) -> Result<Self> {
        let config = read_config(dir)?;
        let name: Arc<str> = Arc::from(name);
        let settings = log_settings(&config, sync);
        let partitions = (0..config.partitions)
            .map(|p| {
                PartitionLog::follow(&dir.join(p.to_string()), Arc::clone(&name), p, settings)
                    .map(Arc::new)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::assemble(dir, name, config, partitions))
    }

    /// The followed topic with the config its writer changed to: the partitions followed so
    /// far are kept, new ones followed.
    ///
    /// # Errors
    /// As [`follow`](Self::follow).
    pub(crate) fn followed_with(&self, config: TopicConfig, sync: SyncPolicy) -> Result<Self> {
        let settings = log_settings(&config, sync);
        let mut partitions = self.partitions.clone();
        partitions.truncate(config.partitions as usize);
        for p in self.partition_count().min(config.partitions)..config.partitions {
            let log = PartitionLog::follow(
                &self.dir.join(p.to_string()),
                Arc::clone(&self.name),
                p,
                settings,
            )?;
            partitions.push(Arc::new(log));
        }
        for log in &partitions {
            log.set_settings(settings);
        }
        Ok(Self::assemble(
            &self.dir,
            Arc::clone(&self.name),
            config,
            partitions,
        ))
    }

    fn assemble(
        dir: &Path,
        name: Arc<str>,
        config: TopicConfig,
        partitions: Vec<Arc<PartitionLog>>,
    ) -> Self {
        Self {
            name,
            dir: dir.to_path_buf(),
            config,
            partitions,
            sticky: StickyPartitioner::new(),
            deleted: AtomicBool::new(false),
            replaced: AtomicBool::new(false),
        }
    }

    /// The topic's config as stored.
    pub(crate) fn config(&self) -> &TopicConfig {
        &self.config
    }

    fn load(
        dir: &Path,
        name: &str,
        config: TopicConfig,
        sync: SyncPolicy,
        clean: &dyn Fn(u32) -> Option<CleanEnd>,
        now_ms: i64,
    ) -> Result<Self> {
        let name: Arc<str> = Arc::from(name);
        let settings = log_settings(&config, sync);
        let partitions = (0..config.partitions)
            .map(|p| {
                let log = PartitionLog::open(
                    &dir.join(p.to_string()),
                    Arc::clone(&name),
                    p,
                    settings,
                    clean(p),
                    now_ms,
                )?;
                Ok(Arc::new(log))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            name,
            dir: dir.to_path_buf(),
            config,
            partitions,
            sticky: StickyPartitioner::new(),
            deleted: AtomicBool::new(false),
            replaced: AtomicBool::new(false),
        })
    }

    /// The topic with a new config: existing partitions are kept (with the new settings),
    /// new ones created, and `topic.json` replaced last, so a crash part-way leaves the old
    /// topic.
    pub(crate) fn altered(
        &self,
        config: TopicConfig,
        sync: SyncPolicy,
        now_ms: i64,
    ) -> Result<Self> {
        let settings = log_settings(&config, sync);
        let mut partitions = self.partitions.clone();
        for p in self.partition_count()..config.partitions {
            let log = PartitionLog::open(
                &self.dir.join(p.to_string()),
                Arc::clone(&self.name),
                p,
                settings,
                None,
                now_ms,
            )?;
            partitions.push(Arc::new(log));
        }
        let topic = Self {
            name: Arc::clone(&self.name),
            dir: self.dir.clone(),
            config,
            partitions,
            sticky: StickyPartitioner::new(),
            deleted: AtomicBool::new(false),
            replaced: AtomicBool::new(false),
        };
        topic.write_config()?;
        for log in &topic.partitions {
            log.set_settings(settings);
        }
        Ok(topic)
    }

    /// Whether maintenance rebatches the topic's sealed segments.
    pub(crate) fn rebatches_sealed(&self) -> bool {
        self.config.rebatch_sealed
    }

    /// How long tombstones stay, if the topic is compacted.
    pub(crate) fn compaction(&self) -> Option<i64> {
        matches!(
            self.config.cleanup_policy,
            CleanupPolicy::Compact | CleanupPolicy::CompactAndDelete
        )
        .then_some(self.config.delete_retention_ms)
    }

    /// What retention keeps of each partition, or `None` when the topic is not cleaned by
    /// deletion.
    pub(crate) fn retention(&self) -> Option<Retention> {
        match self.config.cleanup_policy {
            CleanupPolicy::Delete | CleanupPolicy::CompactAndDelete => Some(Retention {
                ms: (self.config.retention_ms >= 0).then_some(self.config.retention_ms),
                bytes: self.config.retention_bytes,
            }),
            CleanupPolicy::Compact => None,
        }
    }

    fn write_config(&self) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.config).map_err(|source| Error::Serde {
            context: format!("config of topic {:?}", self.name),
            source,
        })?;
        atomic_write(&self.dir.join(CONFIG_FILE), &bytes)
    }

    /// The topic's name.
    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The topic's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The largest record the topic accepts.
    pub(crate) fn max_record_bytes(&self) -> usize {
        self.config.max_record_bytes
    }

    /// Number of partitions.
    pub(crate) fn partition_count(&self) -> u32 {
        self.partitions.len() as u32
    }

    /// The log of `partition`, or `InvalidPartition`.
    #[inline]
    pub(crate) fn partition(&self, partition: u32) -> Result<&Arc<PartitionLog>> {
        match self.partitions.get(partition as usize) {
            Some(log) => Ok(log),
            None => Err(self.no_partition(partition)),
        }
    }

    /// The error for a partition the topic does not have; out of line, as sends to one
    /// look up the partition each time.
    #[cold]
    fn no_partition(&self, partition: u32) -> Error {
        Error::InvalidPartition {
            topic: self.name.to_string(),
            partition,
            partitions: self.partition_count(),
        }
    }

    /// All partitions' logs.
    pub(crate) fn partitions(&self) -> &[Arc<PartitionLog>] {
        &self.partitions
    }

    /// The sticky choice for keyless records.
    pub(crate) fn sticky(&self) -> &StickyPartitioner {
        &self.sticky
    }

    /// Whether the topic was deleted (handles to it may outlive it).
    pub(crate) fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// Whether this is still the broker's topic of its name: neither deleted nor replaced
    /// by a config change. One atomic load each.
    pub(crate) fn is_current(&self) -> bool {
        !self.is_deleted() && !self.replaced.load(Ordering::Acquire)
    }

    /// Marks the topic replaced by a config change (see [`Topic::is_current`]).
    pub(crate) fn mark_replaced(&self) {
        self.replaced.store(true, Ordering::Release);
    }

    /// The error for using a deleted topic.
    pub(crate) fn deleted_error(&self) -> Error {
        Error::UnknownTopic {
            topic: self.name.to_string(),
        }
    }

    /// Marks the topic deleted and stops its partitions' writers.
    pub(crate) fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
        for log in &self.partitions {
            log.abandon();
        }
    }

    /// What `describe_topic` reports.
    pub(crate) fn describe(&self) -> Result<TopicDescription> {
        let partitions = self
            .partitions
            .iter()
            .map(|log| {
                let stats = log.stats()?;
                Ok(PartitionDescription {
                    partition: log.partition(),
                    log_start_offset: stats.log_start_offset,
                    high_watermark: stats.high_watermark,
                    last_stable_offset: stats.last_stable_offset,
                    segments: stats.segments,
                    size_bytes: stats.size_bytes,
                })
            })
            .collect::<Result<_>>()?;
        Ok(TopicDescription {
            name: self.name.to_string(),
            config: self.config.clone(),
            partitions,
        })
    }
}

/// The part of a topic's config its logs use.
pub(crate) fn log_settings(config: &TopicConfig, sync: SyncPolicy) -> LogSettings {
    LogSettings {
        segment_bytes: config.segment_bytes,
        segment_ms: config.segment_ms,
        index_interval_bytes: u64::from(config.index_interval_bytes),
        sync,
        compression: config.compression,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_name_rules() {
        for ok in [
            "a",
            "transactions",
            "driver-location",
            "open_weather_api_cities_data",
            "A.b_c-9",
        ] {
            assert!(validate_name(ok, false).is_ok(), "{ok}");
        }
        assert!(validate_name(&"x".repeat(249), false).is_ok());
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a b",
            "naïve",
            "a\0b",
            "__consumer_offsets",
        ] {
            assert!(
                matches!(
                    validate_name(bad, false),
                    Err(Error::InvalidTopicName { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(validate_name(&"x".repeat(250), false).is_err());
        assert!(validate_name("__consumer_offsets", true).is_ok());
    }

    #[test]
    fn dot_and_underscore_collide() {
        assert!(collides("a.b", "a_b"));
        assert!(collides("a_b", "a.b"));
        assert!(collides("a.b", "a.b"));
        assert!(!collides("a.b", "a-b"));
        assert!(!collides("ab", "a_b"));
    }
}
