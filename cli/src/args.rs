//! The command line, as clap derives it: every command and flag of API.md's contract.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::time::Instant;

/// Work with a strom data directory: topics, records, consumer groups, segment files.
#[derive(Debug, Parser)]
#[command(name = "strom", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// The data directory [default: `$STROM_DIR`, else `./strom-data`]
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List, create, describe, alter and delete topics
    Topics {
        #[command(subcommand)]
        command: TopicsCommand,
    },
    /// Append one record per line of standard input to a topic
    Produce(ProduceArgs),
    /// Print a topic's records
    Consume(ConsumeArgs),
    /// List consumer groups, show their lag, move their committed offsets
    Groups {
        #[command(subcommand)]
        command: GroupsCommand,
    },
    /// Print the batches (and with --print-data the records) of one segment file
    Dump {
        /// A segment file (`NNNNNNNNNNNNNNNNNNNN.log`)
        #[arg(value_name = "FILE.log")]
        file: PathBuf,
        /// Print every record's key, value and headers too
        #[arg(long)]
        print_data: bool,
    },
    /// Check every batch and index of every segment in the directory; exit 1 on damage
    Verify {
        /// One JSON object instead of text
        #[arg(long)]
        json: bool,
    },
    /// Serve the directory to Kafka clients and tools (Kafka's wire protocol) until
    /// SIGINT or SIGTERM
    Serve(ServeArgs),
    /// Copy topics to a Kafka cluster (--to) or from one (--from), following them until
    /// SIGINT or SIGTERM unless --once
    Mirror(MirrorArgs),
    /// Print a shell completion script
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TopicsCommand {
    /// Topic names, one per line
    List,
    /// Create a topic
    Create(TopicArgs),
    /// Partitions, offsets, sizes and config of a topic
    Describe {
        /// The topic
        name: String,
        /// One JSON object instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Change a topic's partition count or config
    Alter(TopicArgs),
    /// Delete a topic and its files
    Delete {
        /// The topic
        name: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct TopicArgs {
    /// The topic
    pub(crate) name: String,
    /// Number of partitions
    #[arg(long, value_name = "N")]
    pub(crate) partitions: Option<u32>,
    /// A Kafka topic config: retention.ms, retention.bytes, segment.bytes, segment.ms,
    /// cleanup.policy, max.message.bytes, compression.type, delete.retention.ms
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_config)]
    pub(crate) configs: Vec<(String, String)>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on (port 0: a free port, printed)
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9092")]
    pub(crate) listen: String,
    /// Partitions of topics created on first use
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) partitions: u32,
    /// Unknown topics are an error instead of created on first use
    #[arg(long)]
    pub(crate) no_auto_create_topics: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("cluster").required(true).args(["to", "from"])))]
pub(crate) struct MirrorArgs {
    /// Copy the topics to the cluster at this address (a Kafka broker, or `strom serve`)
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) to: Option<String>,
    /// Copy the topics from the cluster at this address into the directory
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) from: Option<String>,
    /// The topics to copy
    #[arg(long, value_name = "A,B", value_delimiter = ',', required = true, value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub(crate) topics: Vec<String>,
    /// The consumer group that keeps the mirror's progress (here for --to, on the cluster for
    /// --from)
    #[arg(long, value_name = "NAME", default_value = "strom-mirror")]
    pub(crate) group: String,
    /// Copy up to the topics' current end, then exit
    #[arg(long)]
    pub(crate) once: bool,
    /// Seconds an unavailable cluster is tried again before the mirror gives up
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub(crate) patience: u64,
}

#[derive(Debug, Args)]
pub(crate) struct ProduceArgs {
    /// The topic
    pub(crate) topic: String,
    /// Split each line at the first SEP into key and value
    #[arg(long, value_name = "SEP", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub(crate) key_separator: Option<String>,
    /// Send every record to this partition
    #[arg(long, value_name = "N")]
    pub(crate) partition: Option<u32>,
}

// Each flag is a switch of the console consumer; clap fills them.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Args)]
pub(crate) struct ConsumeArgs {
    /// The topic
    pub(crate) topic: String,
    /// Start at the group's committed offsets and commit what was printed
    #[arg(long, value_name = "G")]
    pub(crate) group: Option<String>,
    /// Start at the first offset of each partition
    #[arg(long, conflicts_with_all = ["offset", "from_time"])]
    pub(crate) from_beginning: bool,
    /// Read only this partition
    #[arg(long, value_name = "P")]
    pub(crate) partition: Option<u32>,
    /// Start at this offset (in each partition read)
    #[arg(long, value_name = "N", conflicts_with = "from_time")]
    pub(crate) offset: Option<u64>,
    /// Start at the first record at or after this time (RFC 3339, or ms since the epoch)
    #[arg(long, value_name = "RFC3339|MS", value_parser = crate::time::parse)]
    pub(crate) from_time: Option<Instant>,
    /// Stop after this many records
    #[arg(long, value_name = "N")]
    pub(crate) max_messages: Option<u64>,
    /// Wait for new records for ever (until --max-messages)
    #[arg(long)]
    pub(crate) follow: bool,
    /// Without --follow, stop once no record came for this long
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub(crate) timeout_ms: u64,
    /// `read_committed`: skip aborted and open transactions' records
    #[arg(long, value_name = "LEVEL", value_parser = ["read_committed", "read_uncommitted"])]
    pub(crate) isolation: Option<String>,
    /// Print `key<TAB>value`
    #[arg(long)]
    pub(crate) print_key: bool,
    /// One JSON object per record
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum GroupsCommand {
    /// Group ids, one per line
    List,
    /// A group's members, committed offsets and lag
    Describe {
        /// The group
        group: String,
        /// One JSON object instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Move a group's committed offsets on a topic (printed only, unless --execute)
    ResetOffsets(ResetArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("to").required(true).multiple(false)))]
pub(crate) struct ResetArgs {
    /// The group
    pub(crate) group: String,
    /// The topic whose partitions move
    #[arg(long, value_name = "T")]
    pub(crate) topic: String,
    /// To each partition's first offset
    #[arg(long, group = "to")]
    pub(crate) to_earliest: bool,
    /// To each partition's end
    #[arg(long, group = "to")]
    pub(crate) to_latest: bool,
    /// To this offset (kept within each partition's first offset and end)
    #[arg(long, group = "to", value_name = "N")]
    pub(crate) to_offset: Option<u64>,
    /// To the first record at or after this time (RFC 3339, or ms since the epoch)
    #[arg(long, group = "to", value_name = "T", value_parser = crate::time::parse)]
    pub(crate) to_datetime: Option<Instant>,
    /// Commit the new offsets (otherwise they are only printed)
    #[arg(long)]
    pub(crate) execute: bool,
}

/// `KEY=VALUE`, the key one of the config names `topics` knows.
fn parse_config(s: &str) -> Result<(String, String), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    if !strom::TopicConfig::KAFKA_KEYS.contains(&key) {
        return Err(format!(
            "unknown config `{key}` (known: {})",
            strom::TopicConfig::KAFKA_KEYS.join(", ")
        ));
    }
    Ok((key.to_owned(), value.to_owned()))
}
