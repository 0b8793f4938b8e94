//! `strom verify`: a check of a whole data directory, as fsck: every batch's checksum and
//! records in every segment, and every index entry against the batches of its segment.

use std::fmt::Write as _;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::output::write_all;
use crate::segment::{self, End};
use crate::{Failure, Outcome};

/// `.index` entry: relative offset (u32), byte position (u32), little-endian.
const INDEX_ENTRY: usize = 8;
/// `.timeindex` entry: largest timestamp before the position (i64), relative offset (u32).
const TIME_INDEX_ENTRY: usize = 12;

/// One damaged place.
#[derive(Debug, Serialize)]
struct Damage {
    file: PathBuf,
    position: u64,
    what: String,
}

/// What `verify` found.
#[derive(Debug, Default, Serialize)]
struct Report {
    ok: bool,
    segments: u64,
    batches: u64,
    bytes: u64,
    damage: Vec<Damage>,
    /// Things that are not damage: a torn tail of a partition's newest segment.
    notes: Vec<String>,
}

pub(crate) fn run(dir: &Path, as_json: bool) -> Outcome {
    if !dir.is_dir() {
        return Err(Failure::new(format!(
            "data directory {} does not exist (give --dir DIR or set STROM_DIR)",
            dir.display()
        )));
    }
    let mut partitions = Vec::new();
    find_partitions(dir, &mut partitions)?;
    partitions.sort();
    let total: u64 = partitions
        .iter()
        .flat_map(|(_, logs)| logs.iter())
        .filter_map(|(_, path)| std::fs::metadata(path).ok())
        .map(|m| m.len())
        .sum();
    let bar = if io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
        {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut report = Report::default();
    for (_, logs) in &partitions {
        for (i, (base, path)) in logs.iter().enumerate() {
            let newest = i + 1 == logs.len();
            check_segment(path, *base, newest, &mut report);
            bar.inc(std::fs::metadata(path).map_or(0, |m| m.len()));
        }
    }
    bar.finish_and_clear();
    report.ok = report.damage.is_empty();
    let mut out = String::new();
    if as_json {
        out = serde_json::to_string(&report).map_err(|e| Failure::new(e.to_string()))?;
        out.push('\n');
    } else {
        for d in &report.damage {
            let _ = writeln!(
                out,
                "DAMAGED {} at byte {}: {}",
                d.file.display(),
                d.position,
                d.what
            );
        }
        for note in &report.notes {
            let _ = writeln!(out, "note: {note}");
        }
        let _ = writeln!(
            out,
            "{} segments, {} batches, {} bytes checked: {}",
            report.segments,
            report.batches,
            report.bytes,
            if report.ok {
                "no damage".to_owned()
            } else {
                format!("{} damaged", report.damage.len())
            }
        );
    }
    write_all(out.as_bytes())?;
    if report.ok {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "{} damaged place{} in {}",
            report.damage.len(),
            if report.damage.len() == 1 { "" } else { "s" },
            dir.display()
        )))
    }
}

/// Every directory under `dir` holding segment files, with its segments by base offset.
fn find_partitions(dir: &Path, found: &mut Vec<(PathBuf, Vec<(u64, PathBuf)>)>) -> Outcome {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Failure::new(format!("reading {}: {e}", dir.display())))?;
    let mut logs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Failure::new(format!("reading {}: {e}", dir.display())))?;
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            find_partitions(&path, found)?;
        } else if let Some(base) = segment_base(&path) {
            logs.push((base, path));
        }
    }
    if !logs.is_empty() {
        logs.sort();
        found.push((dir.to_path_buf(), logs));
    }
    Ok(())
}

/// The base offset of a segment file, named by it in 20 digits with `.log`.
fn segment_base(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".log")?;
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

fn check_segment(path: &Path, base: u64, newest: bool, report: &mut Report) {
    let damage = |report: &mut Report, file: &Path, position: u64, what: String| {
        report.damage.push(Damage {
            file: file.to_path_buf(),
            position,
            what,
        });
    };
    // Indexes first: the writer appends an entry only after its batch, so one read before
    // the log never points past what the log read then holds.
    let index = std::fs::read(path.with_extension("index")).ok();
    let time_index = std::fs::read(path.with_extension("timeindex")).ok();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return damage(report, path, 0, format!("cannot be read: {e}")),
    };
    report.segments += 1;
    report.bytes += bytes.len() as u64;
    // Each batch's position, base offset and the largest timestamp before it.
    let mut batches: Vec<(u64, u64, i64)> = Vec::new();
    let mut max_before = i64::MIN;
    let mut found = Vec::new();
    let end = segment::walk(&bytes, |position, h, _, checked| {
        batches.push((position as u64, h.base_offset, max_before));
        max_before = max_before.max(h.max_timestamp);
        if let Err(what) = checked {
            found.push((position as u64, what));
        }
        if h.base_offset < base {
            found.push((
                position as u64,
                format!(
                    "batch offset {} below the segment's base {base}",
                    h.base_offset
                ),
            ));
        }
    });
    report.batches += batches.len() as u64;
    for (position, what) in found {
        damage(report, path, position, what);
    }
    match end {
        End::Complete | End::Zeroed(_) => {}
        End::Torn(at) if newest => report.notes.push(format!(
            "{}: incomplete last batch at byte {at} (a torn write; the next writable open cuts it off)",
            path.display()
        )),
        End::Torn(at) => damage(report, path, at as u64, "the file ends inside a batch".to_owned()),
        End::Unreadable(at, what) => {
            damage(report, path, at as u64, format!("{what}; nothing after it can be read"));
        }
    }
    if let Some(index) = index {
        check_index(
            &path.with_extension("index"),
            &index,
            time_index.as_deref(),
            base,
            &batches,
            report,
        );
    }
}

/// Every `.index` entry names a batch start and that batch's offset; every `.timeindex`
/// entry the same offset as its `.index` entry, and the largest timestamp before it.
fn check_index(
    path: &Path,
    index: &[u8],
    time_index: Option<&[u8]>,
    base: u64,
    batches: &[(u64, u64, i64)],
    report: &mut Report,
) {
    let mut damage = |file: &Path, position: usize, what: String| {
        report.damage.push(Damage {
            file: file.to_path_buf(),
            position: position as u64,
            what,
        });
    };
    if !index.len().is_multiple_of(INDEX_ENTRY) {
        damage(
            path,
            index.len() - index.len() % INDEX_ENTRY,
            format!(
                "{} bytes, not whole {INDEX_ENTRY}-byte entries",
                index.len()
            ),
        );
    }
    let time_path = path.with_extension("timeindex");
    if let Some(t) = time_index {
        if !t.len().is_multiple_of(TIME_INDEX_ENTRY) {
            damage(
                &time_path,
                t.len() - t.len() % TIME_INDEX_ENTRY,
                format!(
                    "{} bytes, not whole {TIME_INDEX_ENTRY}-byte entries",
                    t.len()
                ),
            );
        }
    }
    let mut last_position = None;
    for (i, entry) in index.chunks_exact(INDEX_ENTRY).enumerate() {
        let at = i * INDEX_ENTRY;
        let relative = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
        let position = u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
        if last_position.is_some_and(|last| position <= last) {
            damage(
                path,
                at,
                format!("entry {i}: position {position} not after the previous entry's"),
            );
        }
        last_position = Some(position);
        let Ok(b) = batches.binary_search_by_key(&u64::from(position), |(p, _, _)| *p) else {
            damage(
                path,
                at,
                format!("entry {i}: position {position} is not the start of a batch"),
            );
            continue;
        };
        let (_, offset, max_before) = batches[b];
        if base + u64::from(relative) != offset {
            damage(
                path,
                at,
                format!(
                    "entry {i}: offset {} but the batch at {position} starts at {offset}",
                    base + u64::from(relative)
                ),
            );
        }
        let Some(t) =
            time_index.and_then(|t| t.get(i * TIME_INDEX_ENTRY..(i + 1) * TIME_INDEX_ENTRY))
        else {
            continue;
        };
        let timestamp = i64::from_le_bytes([t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]]);
        let time_relative = u32::from_le_bytes([t[8], t[9], t[10], t[11]]);
        if time_relative != relative {
            damage(
                &time_path,
                i * TIME_INDEX_ENTRY,
                format!(
                    "entry {i}: offset {} where the .index says {}",
                    base + u64::from(time_relative),
                    base + u64::from(relative)
                ),
            );
        } else if timestamp != max_before {
            damage(
                &time_path,
                i * TIME_INDEX_ENTRY,
                format!(
                    "entry {i}: largest earlier timestamp {timestamp}, the log says {max_before}"
                ),
            );
        }
    }
}
