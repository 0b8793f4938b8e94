//! `strom`: look inside and work with a strom data directory from the shell, as Kafka's
//! console tools do with a cluster (`kafka-topics`, `kafka-console-producer`,
//! `kafka-console-consumer`, `kafka-consumer-groups`, `kafka-dump-log`), plus `verify`, a
//! check of every batch and index of a directory, `serve`, the directory served to
//! Kafka's own clients over Kafka's wire protocol, and `mirror`, topics copied to or from a
//! Kafka cluster.
//!
//! Every failure prints `error: …` on stderr and exits 1; usage errors exit 2.
//!
//! The binary is [`main`]; the library also holds [`dump_segment`], the text of
//! `strom dump`, which the fuzz target feeds arbitrary files.

mod args;
mod consume;
mod dir;
mod dump;
mod groups;
mod mirror;
mod output;
mod produce;
mod segment;
mod serve;
mod time;
mod topics;
mod verify;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command, GroupsCommand, TopicsCommand};

/// Why a command failed: the message printed after `error: `.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) String);

impl Failure {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<strom::Error> for Failure {
    fn from(e: strom::Error) -> Self {
        Self(e.to_string())
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Self(e.to_string())
    }
}

/// A command's result; `Ok` exits 0.
pub(crate) type Outcome<T = ()> = Result<T, Failure>;

/// The `strom` command: parses `std::env::args`, runs the command, and gives the exit code
/// (0 done, 1 failed with `error: …` on stderr, 2 a usage error).
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     strom_cli::main()
/// }
/// ```
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // clap prints `error: …` and usage for exit code 2, or the help text for 0.
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`strom consume … | head`) is not a failure of ours.
        Err(Failure(message)) if message == output::BROKEN_PIPE => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            let _ = writeln!(io::stderr(), "error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// What `strom dump --print-data` prints for a segment file's `bytes` after its first line,
/// and how many damaged batches it found. Never panics, whatever the bytes.
///
/// ```
/// // 100 bytes of 0xff: a batch length of -1, past which nothing can be found.
/// let (text, damaged) = strom_cli::dump_segment(&[0xff; 100], true);
/// assert_eq!(damaged, 1);
/// assert!(text.contains("unreadable batch header at byte 0"));
/// // A file cut inside its first batch is a torn write, not damage.
/// let (text, damaged) = strom_cli::dump_segment(b"short", true);
/// assert_eq!(damaged, 0);
/// assert!(text.contains("incomplete batch at byte 0"));
/// ```
pub fn dump_segment(bytes: &[u8], print_data: bool) -> (String, usize) {
    dump::render(bytes, print_data)
}

fn run(cli: Cli) -> Outcome {
    let dir = dir::resolve(cli.dir);
    match cli.command {
        Command::Topics { command } => match command {
            TopicsCommand::List => topics::list(&dir),
            TopicsCommand::Create(a) => topics::create(&dir, &a),
            TopicsCommand::Describe { name, json } => topics::describe(&dir, &name, json),
            TopicsCommand::Alter(a) => topics::alter(&dir, &a),
            TopicsCommand::Delete { name } => topics::delete(&dir, &name),
        },
        Command::Produce(a) => produce::run(&dir, &a),
        Command::Consume(a) => consume::run(&dir, &a),
        Command::Groups { command } => match command {
            GroupsCommand::List => groups::list(&dir),
            GroupsCommand::Describe { group, json } => groups::describe(&dir, &group, json),
            GroupsCommand::ResetOffsets(a) => groups::reset_offsets(&dir, &a),
        },
        Command::Dump { file, print_data } => dump::run(&file, print_data),
        Command::Verify { json } => verify::run(&dir, json),
        Command::Serve(a) => serve::run(&dir, &a),
        Command::Mirror(a) => mirror::run(&dir, &a),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "strom", &mut out);
            output::write_all(&out)
        }
    }
}
