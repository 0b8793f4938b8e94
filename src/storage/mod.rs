//! The bytes on disk: segment files, their sparse indexes and the record-batch format.
//!
//! This layer knows files, offsets and byte positions, and nothing of topics, partitions
//! or consumer groups. Only [`batch`], the file format, is public: it is documented byte by
//! byte there, because users' data lives in it for years. With the `fault-injection`
//! feature, `fault` is public too, for tests of what strom does when the disk fails.

pub mod batch;
#[cfg(feature = "fault-injection")]
pub mod fault;
/// Without the `fault-injection` feature nothing of this seam is public, so that no
/// application can arm a disk failure by accident:
///
/// ```compile_fail
/// use strom::storage::fault::FaultPoint;
/// ```
#[cfg(not(feature = "fault-injection"))]
#[expect(
    unreachable_pub,
    reason = "its items are public API with the fault-injection feature"
)]
pub(crate) mod fault;
pub(crate) mod index;
pub(crate) mod mapping;
pub(crate) mod recovery;
pub(crate) mod segment;
pub(crate) mod tail;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{CorruptKind, Error, IoContext, Result};

/// Extension of a segment's log file.
pub(crate) const LOG_EXT: &str = "log";
/// Extension of a segment's sparse offset index.
pub(crate) const INDEX_EXT: &str = "index";
/// Extension of a segment's sparse time index.
pub(crate) const TIME_INDEX_EXT: &str = "timeindex";
/// Extension of the transactions open when a segment began (written at a roll, when any
/// are open).
pub(crate) const TXN_SNAPSHOT_EXT: &str = "txnsnapshot";
/// Extension of a compacted log while it is written; renamed over the `.log` when done.
pub(crate) const CLEANED_EXT: &str = "cleaned";

/// The path of a segment file: its base offset in 20 digits, as Kafka names them, so that
/// `ls` shows where each segment starts and lists them in order.
pub(crate) fn segment_path(dir: &Path, base_offset: u64, ext: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{ext}"))
}

/// The base offset named by a segment log file, if `name` is one.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".log")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Removes a file if it exists.
pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).at(path),
        _ => Ok(()),
    }
}

/// Makes a directory's entries (creations, renames, deletions) durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    // IMPORTANT: on Unix a new or renamed file is durable only once its directory is synced.
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).at(dir)?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new content:
/// write a temporary file, fsync it, rename it over `path`, fsync the directory.
pub(crate) fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).at(&tmp)?;
    file.write_all(bytes).at(&tmp)?;
    file.sync_all().at(&tmp)?;
    drop(file);
    fs::rename(&tmp, path).at(path)?;
    match path.parent() {
        Some(dir) => fsync_dir(dir),
        None => Ok(()),
    }
}

/// Reads the JSON file at `path`; a file that does not parse is an [`Error::Corrupt`]
/// naming it and the byte where parsing failed.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = fs::read(path).at(path)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        position: json_position(&bytes, e.line(), e.column()),
        kind: CorruptKind::Metadata(json_reason(&e)),
    })
}

/// The byte position of a 1-based line and column that `serde_json` reports.
fn json_position(bytes: &[u8], line: usize, column: usize) -> u64 {
    let line_start = bytes
        .split_inclusive(|&b| b == b'\n')
        .take(line.saturating_sub(1))
        .map(<[u8]>::len)
        .sum::<usize>();
    (line_start + column.saturating_sub(1)).min(bytes.len()) as u64
}

/// What `serde_json` found wrong, without its "at line L column C" (the position is in the
/// error already).
fn json_reason(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip() {
        let path = segment_path(Path::new("d"), 42, LOG_EXT);
        assert_eq!(path, Path::new("d/00000000000000000042.log"));
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        assert_eq!(parse_segment_name(name), Some(42));
        assert_eq!(parse_segment_name("42.log"), None);
        assert_eq!(parse_segment_name("0000000000000000004x.log"), None);
        assert_eq!(parse_segment_name("00000000000000000042.index"), None);
    }

    #[test]
    fn atomic_write_replaces_content() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| crate::Error::Io {
            path: PathBuf::new(),
            source: e,
        })?;
        let path = dir.path().join("topic.json");
        atomic_write(&path, b"one")?;
        atomic_write(&path, b"two")?;
        assert_eq!(fs::read(&path).at(&path)?, b"two");
        assert!(!path.with_extension("tmp").exists());
        Ok(())
    }
}
