//! Replays the fuzz corpora (`fuzz/corpus/batch_decode`, `fuzz/corpus/open_dir`) through the
//! fuzz targets' own harness (`fuzz/common.rs`), then a few thousand seeded mutations of them:
//! stable Rust, no cargo-fuzz needed. A case that panics or runs over `CASE_TIMEOUT` fails the
//! test, naming the case.

use std::fs;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

include!("../fuzz/common.rs");

mod common;

use common::XorShift64;

/// A case taking longer than this is taken for a hang.
const CASE_TIMEOUT: Duration = Duration::from_secs(10);
const BATCH_MUTATIONS: usize = 3000;
const OPEN_DIR_MUTATIONS: usize = 400;

/// The corpus files of `target`, sorted by name.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, fs::read(&p).expect("read seed"))
        })
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{target}: corpus missing");
    files
}

/// Values that tend to sit on boundaries: of varints, of both versions' header sizes (40, 61)
/// and smallest batches (47, 68), the versions, and version 2's attribute bits.
const INTERESTING: [u8; 14] = [
    0, 1, 2, 3, 0x7f, 0x80, 0xff, 0xfe, 40, 47, 61, 68, 0x10, 0x30,
];

/// Values for a 4-byte word: lengths around both versions' smallest batches (version 2's
/// length field leaves out its first 12 bytes), a segment, and the limits.
const WORDS: [u32; 10] = [
    0,
    1,
    46,
    47,
    55,
    56,
    4096,
    i32::MAX as u32,
    0x8000_0000,
    u32::MAX,
];

/// One to four mutations of `data`, some of them spliced with `other`.
fn mutate(rng: &mut XorShift64, data: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    for _ in 0..=rng.below(4) {
        let len = out.len();
        match rng.below(8) {
            0 if len > 0 => {
                let at = rng.below(len);
                out[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.below(len);
                out[at] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => out.truncate(rng.below(len + 1)),
            3 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(16)).min(len);
                out.drain(start..end);
            }
            4 => {
                let at = rng.below(len + 1);
                let bytes: Vec<u8> = (0..=rng.below(8)).map(|_| rng.next() as u8).collect();
                out.splice(at..at, bytes);
            }
            5 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                let copy = out[start..end].to_vec();
                let at = rng.below(len + 1);
                out.splice(at..at, copy);
            }
            6 if !other.is_empty() => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            _ if len > 0 => {
                // A word of 4 bytes set to a small or huge value: little-endian as version 1
                // and the index files, or big-endian as version 2.
                let at = rng.below(len);
                let mut word = WORDS[rng.below(WORDS.len())].to_le_bytes();
                if rng.below(2) == 0 {
                    word.reverse();
                }
                for (i, b) in word.iter().enumerate() {
                    if let Some(slot) = out.get_mut(at + i) {
                        *slot = *b;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Runs `harness(data)` on a thread: `Err` with why if it panics or outlives `CASE_TIMEOUT`.
fn run_case(harness: fn(&[u8]), data: &[u8]) -> Result<(), String> {
    let (done, finished) = mpsc::channel();
    let input = data.to_vec();
    let worker = thread::spawn(move || {
        harness(&input);
        let _ = done.send(());
    });
    match finished.recv_timeout(CASE_TIMEOUT) {
        Ok(()) => {
            worker.join().map_err(|_| "panicked".to_string())?;
            Ok(())
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let why = worker.join().err().and_then(|p| {
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(ToString::to_string))
            });
            Err(format!("panicked: {}", why.unwrap_or_default()))
        }
        // The worker is left running; the test fails anyway.
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(format!("still running after {CASE_TIMEOUT:?}"))
        }
    }
}

/// Replays every seed of `target` and `mutations` mutations of them; returns the failures.
fn replay(target: &str, harness: fn(&[u8]), mutations: usize, seed: u64) -> Vec<String> {
    let seeds = seeds(target);
    let mut failures = Vec::new();
    for (name, data) in &seeds {
        if let Err(why) = run_case(harness, data) {
            failures.push(format!("{target}/{name}: {why}"));
        }
    }
    // Known failures (`regression-*`) are not mutated: their mutants fail the same way.
    let bases: Vec<_> = seeds
        .iter()
        .filter(|(name, _)| !name.starts_with("regression-"))
        .collect();
    let mut rng = XorShift64(seed);
    for i in 0..mutations {
        let (name, data) = bases[rng.below(bases.len())];
        let other = &bases[rng.below(bases.len())].1;
        let mutant = mutate(&mut rng, data, other);
        if let Err(why) = run_case(harness, &mutant) {
            // Kept where `cargo fuzz run <target> <file>` or a new seed can pick it up.
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-replay-failures");
            let file = dir.join(format!("{target}-mutation-{i}.bin"));
            let saved = fs::create_dir_all(&dir).and_then(|()| fs::write(&file, &mutant));
            failures.push(format!(
                "{target}: mutation {i} of {name} (seed {seed:#x}, saved to {}{}): {why}",
                file.display(),
                saved
                    .err()
                    .map(|e| format!(" failed: {e}"))
                    .unwrap_or_default(),
            ));
        }
    }
    failures
}

fn assert_none(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failing case(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The harness's bitwise checksums are the formats': the check values of CRC-32 (version 1)
/// and CRC-32C (version 2).
#[test]
fn harness_checksums() {
    assert_eq!(fuzz_crc32(&[b"1234", b"56789"]), 0xCBF4_3926);
    assert_eq!(fuzz_crc32c(b"123456789"), 0xE306_9283);
}

#[test]
fn batch_decode_corpus_and_mutations() {
    assert_none(&replay(
        "batch_decode",
        batch_decode,
        BATCH_MUTATIONS,
        0x0bad_5eed,
    ));
}

#[test]
fn open_dir_corpus_and_mutations() {
    assert_none(&replay(
        "open_dir",
        open_dir,
        OPEN_DIR_MUTATIONS,
        0x00d1_5eed,
    ));
}
