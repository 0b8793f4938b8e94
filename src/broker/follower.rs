//! A data directory opened read-only: the topic registry, logs and committed offsets kept
//! up to date with what the writer (another process) does to the directory.
//!
//! The writer publishes topics through their directories and `topic.json` files (a topic
//! exists once its config file does: it is written last, atomically), partitions through
//! their segment files, and committed offsets through one file per group, each replaced
//! atomically. This follower reads the same files and never writes: a background thread
//! takes in new batches every [`TAIL_TICK`] for the logs consumers wait on, and looks at
//! every log and the directory listings every [`LISTING_TICK`]; a consumer's `poll` takes in
//! its own partitions' new batches before it looks for records, and the calls that report on
//! the directory (`topics`, `describe_topic`, `groups`, `describe_group`) look at it first.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::Mutex;

use super::{Inner, DELETED_SUFFIX};
use crate::error::{Error, IoContext, Result};
use crate::topic::{self, Topic};

/// How often the logs' tails are checked for new batches: the most a waiting `poll` waits
/// for a record the writer appended, beyond the check itself.
pub(super) const TAIL_TICK: Duration = Duration::from_millis(2);

/// How often the directory listings are read again (new, altered and deleted topics,
/// rolled and deleted segments, commits).
pub(super) const LISTING_TICK: Duration = Duration::from_millis(100);

/// What a topic's directory and config file looked like when last read: a change means
/// the writer altered, or deleted and created again, the topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dir: Option<(u64, u64)>,
    config_modified: Option<SystemTime>,
    config_len: u64,
}

impl Stamp {
    fn of(dir: &Path) -> Option<Self> {
        let config = fs::metadata(dir.join(topic::CONFIG_FILE)).ok()?;
        Some(Self {
            dir: identity(dir),
            config_modified: config.modified().ok(),
            config_len: config.len(),
        })
    }
}

/// The read-only side of a broker.
#[derive(Debug, Default)]
pub(crate) struct Follower {
    stamps: Mutex<HashMap<String, Stamp>>,
    stop: Mutex<Option<Sender<()>>>,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
}

impl Inner {
    /// The directory's topics as they are now, for a broker opened read-only.
    ///
    /// # Errors
    /// [`Error::Io`] if the directory cannot be read; [`Error::Corrupt`] for a topic whose
    /// config file is damaged (at open; later, such a topic is left as it was and logged).
    pub(super) fn sync_topics(&self, strict: bool) -> Result<()> {
        let Some(follower) = &self.follower else {
            return Ok(());
        };
        let mut seen = HashMap::new();
        for entry in fs::read_dir(&self.dir).at(&self.dir)? {
            let entry = entry.at(&self.dir)?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.ends_with(DELETED_SUFFIX)
                || topic::validate_name(&name, true).is_err()
                || !entry.file_type().is_ok_and(|t| t.is_dir())
            {
                continue;
            }
            if let Some(stamp) = Stamp::of(&path) {
                seen.insert(name, stamp);
            }
        }
        let mut stamps = follower.stamps.lock();
        let mut first_error = None;
        for (name, stamp) in &seen {
            if stamps.get(name) == Some(stamp) {
                continue;
            }
            match self.follow_topic(name, stamps.get(name).copied(), *stamp) {
                Ok(()) => {
                    stamps.insert(name.clone(), *stamp);
                }
                Err(e) => {
                    tracing::warn!(
                        topic = %name,
                        error = &e as &dyn std::error::Error,
                        "cannot read a topic of the directory opened read-only"
                    );
                    first_error.get_or_insert(e);
                }
            }
        }
        let gone: Vec<String> = stamps
            .keys()
            .filter(|name| !seen.contains_key(*name))
            .cloned()
            .collect();
        for name in gone {
            stamps.remove(&name);
            if let Some(topic) = self.topics.write().remove(&name) {
                topic.mark_deleted();
                for log in topic.partitions() {
                    log.notify().notify();
                }
            }
        }
        match first_error {
            Some(e) if strict => Err(e),
            _ => Ok(()),
        }
    }

    /// Takes in a topic that is new or whose directory or config changed.
    fn follow_topic(&self, name: &str, before: Option<Stamp>, now: Stamp) -> Result<()> {
        let dir = self.dir.join(name);
        let current = self.topics.read().get(name).map(Arc::clone);
        let followed = match current {
            // The same directory with another config: altered.
            Some(old) if before.is_some_and(|b| b.dir == now.dir) => {
                let config = topic::read_config(&dir)?;
                if config == *old.config() {
                    return Ok(());
                }
                let topic = old.followed_with(config, self.config.sync)?;
                old.mark_replaced();
                topic
            }
            other => {
                // New, or deleted and created again under the same name.
                if let Some(old) = other {
                    old.mark_deleted();
                }
                Topic::follow(&dir, name, self.config.sync)?
            }
        };
        self.topics
            .write()
            .insert(name.to_string(), Arc::new(followed));
        Ok(())
    }

    /// Brings the followed logs up to date: with `list` every one, its directory read too;
    /// otherwise those a consumer waits on (a consumer's `poll` brings its own up to date
    /// before it looks for records).
    fn refresh_logs(&self, list: bool) {
        for topic in self.all_topics() {
            for log in topic.partitions() {
                if !list && !log.notify().has_waiters() {
                    continue;
                }
                if let Err(e) = log.refresh(list) {
                    if list {
                        tracing::debug!(
                            topic = %topic.name(),
                            partition = log.partition(),
                            error = &e as &dyn std::error::Error,
                            "cannot follow a partition of the directory opened read-only"
                        );
                    }
                }
            }
        }
    }

    /// A topic of a read-only broker, with its partitions as they are now.
    pub(super) fn refreshed_topic(&self, name: &str) -> Result<Arc<Topic>> {
        self.sync_topics(false)?;
        let topic = self.existing_topic(name)?;
        for log in topic.partitions() {
            log.refresh(true)?;
        }
        Ok(topic)
    }

    /// Starts the thread that follows the writer.
    pub(super) fn start_following(inner: &Arc<Self>) -> Result<()> {
        let Some(follower) = &inner.follower else {
            return Ok(());
        };
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let weak: Weak<Self> = Arc::downgrade(inner);
        let handle = thread::Builder::new()
            .name("strom-follower".into())
            .spawn(move || {
                let mut listed = Instant::now();
                loop {
                    match stopped.recv_timeout(TAIL_TICK) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                    let Some(inner) = weak.upgrade() else { return };
                    if inner.closed.load(Ordering::Acquire) {
                        return;
                    }
                    let list = listed.elapsed() >= LISTING_TICK;
                    if list {
                        listed = Instant::now();
                        // Failures are logged; the next round tries again.
                        let _ = inner.sync_topics(false);
                        let _ = inner.refresh_offsets();
                    }
                    inner.refresh_logs(list);
                }
            })
            .at(&inner.dir)?;
        *follower.stop.lock() = Some(stop);
        *follower.thread.lock() = Some(handle);
        Ok(())
    }

    /// Stops the following thread.
    pub(super) fn stop_following(&self) {
        let Some(follower) = &self.follower else {
            return;
        };
        drop(follower.stop.lock().take());
        if let Some(handle) = follower.thread.lock().take() {
            if handle.thread().id() != thread::current().id() {
                let _ = handle.join();
            }
        }
        for topic in self.all_topics() {
            for log in topic.partitions() {
                log.notify().notify();
            }
        }
    }

    /// In a broker opened read-only, the committed offsets as the writer has them now: the
    /// groups' files read again if they changed, and the offsets its transactions
    /// committed. Nothing otherwise.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Corrupt`] or [`Error::Serde`] for what cannot be read.
    pub(crate) fn refresh_offsets(&self) -> Result<()> {
        if self.follower.is_none() {
            return Ok(());
        }
        self.offsets.reload()?;
        crate::transaction::coordinator::follow_offsets(self)
    }

    /// [`Error::ReadOnly`] for `operation` on a broker opened read-only.
    pub(crate) fn check_writable(&self, operation: &'static str) -> Result<()> {
        if self.follower.is_some() {
            Err(Error::ReadOnly {
                dir: self.dir.clone(),
                operation,
            })
        } else {
            Ok(())
        }
    }
}

/// A directory's device and inode, where the platform has them.
fn identity(dir: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}
