//! Hostile input: random command lines never panic and exit 0, 1 or 2 only; arbitrary files
//! (the `dump` fuzz corpus and mutations of it) dump without a panic.

use std::path::Path;

use assert_cmd::Command;
use proptest::prelude::*;
use strom::{Broker, Record, TopicConfig};

/// Words the command line is made of, so that random lines reach deep into the parser and
/// the commands; `--follow` is left out (it runs until killed).
const WORDS: &[&str] = &[
    "topics",
    "list",
    "create",
    "describe",
    "alter",
    "delete",
    "produce",
    "consume",
    "groups",
    "reset-offsets",
    "dump",
    "verify",
    "completions",
    "bash",
    "t",
    "g",
    "--json",
    "--partitions",
    "--partition",
    "--config",
    "retention.ms=5",
    "cleanup.policy=compact",
    "compression.type=lz4",
    "segment.bytes=1",
    "--key-separator",
    ":",
    "--group",
    "--from-beginning",
    "--offset",
    "--from-time",
    "2024-01-01T00:00:00Z",
    "--max-messages",
    "--timeout-ms",
    "0",
    "1",
    "-1",
    "99999999999999999999",
    "--isolation",
    "read_committed",
    "--print-key",
    "--topic",
    "--to-earliest",
    "--to-latest",
    "--to-offset",
    "--to-datetime",
    "--execute",
    "--print-data",
    "--help",
    "--dir",
    "",
    "\u{1F600}",
    "-",
    "--",
];

fn data() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::open(dir.path()).expect("open");
    broker
        .create_topic("t", TopicConfig::default().partitions(2))
        .expect("create");
    for i in 0..20 {
        broker
            .producer()
            .send("t", Record::new(format!("{i}")).key("k"))
            .expect("send");
    }
    broker.close().expect("close");
    dir
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_command_lines_exit_0_1_or_2_without_panicking(
        words in proptest::collection::vec(proptest::sample::select(WORDS), 0..7),
        noise in proptest::option::of("[ -~]{0,12}"),
    ) {
        let dir = data();
        let mut args: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        args.extend(noise);
        // A segment path for `dump`: any word after it names the file, and this is a real one.
        args.push(dir.path().join("t/0").join(format!("{:020}.log", 0)).display().to_string());
        let out = Command::cargo_bin("strom")
            .expect("binary")
            .arg("--dir")
            .arg(dir.path())
            .args(&args)
            .env_remove("STROM_DIR")
            .write_stdin("a:b\n")
            .timeout(std::time::Duration::from_secs(30))
            .output()
            .expect("run");
        let code = out.status.code();
        let stderr = String::from_utf8_lossy(&out.stderr);
        prop_assert!(matches!(code, Some(0..=2)), "{args:?}: {code:?} {stderr}");
        prop_assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{args:?}: {stderr}");
        if code != Some(0) {
            prop_assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        }
    }
}

/// The `dump` fuzz target's seeds, each whole and cut and flipped at every byte.
#[test]
fn dump_corpus_and_mutations_never_panic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/dump");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&corpus).expect("fuzz/corpus/dump") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
        seeds += 1;
        check(&bytes);
        for at in 0..bytes.len() {
            check(&bytes[..at]);
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x5a;
            check(&flipped);
        }
    }
    assert!(seeds >= 5, "{seeds} seeds");
}

/// What the fuzz target asserts: every damaged batch is marked in the text.
fn check(bytes: &[u8]) {
    let (text, damaged) = strom_cli::dump_segment(bytes, true);
    let invalid = text.matches("isvalid: false").count();
    let unreadable = text.matches("unreadable batch header").count();
    assert_eq!(damaged, invalid + unreadable, "{text}");
}

#[test]
fn the_seed_segment_dumps_as_three_valid_records() {
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/dump/three-records.log"),
    )
    .expect("seed");
    let (text, damaged) = strom_cli::dump_segment(&bytes, true);
    assert_eq!(damaged, 0, "{text}");
    assert_eq!(text.matches("| offset: ").count(), 3, "{text}");
    assert!(text.contains("key: u1 payload: hello"), "{text}");
}
