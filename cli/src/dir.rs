//! Finding and opening the data directory: reading commands open it read-only when another
//! process holds it; writing commands say which process that is.

use std::path::{Path, PathBuf};

use strom::{Broker, BrokerConfig, Error};

use crate::{Failure, Outcome};

/// `--dir`, else `$STROM_DIR`, else `./strom-data`.
pub(crate) fn resolve(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| std::env::var_os("STROM_DIR").map(PathBuf::from))
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("strom-data"))
}

/// How a reading command got the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// With its lock: this process is its only writer.
    Writer,
    /// Read-only: another process holds the lock.
    Reader,
}

/// The directory must exist for every command: a typo in `--dir` should not create one.
fn existing(dir: &Path) -> Outcome {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "data directory {} does not exist (give --dir DIR or set STROM_DIR)",
            dir.display()
        )))
    }
}

/// Opens `dir` for a reading command: with its lock if it is free, else read-only beside
/// the process that holds it.
pub(crate) fn open_read(dir: &Path) -> Outcome<(Broker, Access)> {
    existing(dir)?;
    match Broker::open_with(dir, config()) {
        Ok(broker) => Ok((broker, Access::Writer)),
        Err(Error::Locked { .. }) => Broker::open_with(dir, config().read_only(true))
            .map(|b| (b, Access::Reader))
            .map_err(Failure::from),
        Err(e) => Err(e.into()),
    }
}

/// Opens `dir` for a writing command, which needs its lock.
pub(crate) fn open_write(dir: &Path) -> Outcome<Broker> {
    existing(dir)?;
    open_write_creating(dir)
}

/// [`open_write`], creating the directory if it is missing: `topics create` is how a new
/// data directory starts.
pub(crate) fn open_write_creating(dir: &Path) -> Outcome<Broker> {
    Broker::open_with(dir, config()).map_err(|e| match e {
        Error::Locked { path } => held(dir, &path),
        e => e.into(),
    })
}

/// Opens `dir` (created if missing) for `serve`, which owns it while it runs: with the
/// log's background retention and compaction, unlike the short commands.
pub(crate) fn open_serving(dir: &Path) -> Outcome<Broker> {
    Broker::open_with(dir, BrokerConfig::default()).map_err(|e| match e {
        Error::Locked { path } => held(dir, &path),
        e => e.into(),
    })
}

/// The command's broker: no background retention or compaction while a short command runs
/// (the owning application's broker does that).
fn config() -> BrokerConfig {
    BrokerConfig::default().maintenance_interval(std::time::Duration::MAX)
}

/// The failure of a writing command on a directory whose lock file `lock` another process
/// holds, naming that process where the system tells.
pub(crate) fn held(dir: &Path, lock: &Path) -> Failure {
    let who = match lock_holder(lock) {
        Some((pid, Some(name))) => format!("process {pid} ({name})"),
        Some((pid, None)) => format!("process {pid}"),
        None => "another process".to_owned(),
    };
    Failure::new(format!(
        "data directory {} is held by {who} (lock {}); this command writes, so it needs the \
         directory to itself; reading commands work beside it",
        dir.display(),
        lock.display()
    ))
}

/// The process holding the `flock` on `lock`, and its command name: Linux lists every file
/// lock in `/proc/locks` with the owner's pid and the file's device and inode.
#[cfg(target_os = "linux")]
fn lock_holder(lock: &Path) -> Option<(u32, Option<String>)> {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(lock).ok()?.ino();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    // `1: FLOCK  ADVISORY  WRITE 4242 fd:01:1311 0 EOF`; blocked waiters are marked `->`.
    let pid = locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) == Some(&"->") {
            return None;
        }
        let pid: u32 = fields.get(4)?.parse().ok()?;
        let file_inode: u64 = fields.get(5)?.rsplit(':').next()?.parse().ok()?;
        (file_inode == inode && pid != std::process::id()).then_some(pid)
    })?;
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|n| n.trim_end().to_owned())
        .filter(|n| !n.is_empty());
    Some((pid, name))
}

#[cfg(not(target_os = "linux"))]
fn lock_holder(_lock: &Path) -> Option<(u32, Option<String>)> {
    None
}
