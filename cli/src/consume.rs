//! `strom consume`: a topic's records on stdout, as `kafka-console-consumer`.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use strom::{ConsumerConfig, ConsumerRecord, IsolationLevel, OffsetReset, TopicPartition};

use crate::args::ConsumeArgs;
use crate::dir::{self, Access};
use crate::output::{stdout_failure, text};
use crate::{Failure, Outcome};

/// Longest single wait, so that `--timeout-ms` and commits are looked at in time.
const POLL: Duration = Duration::from_millis(100);
/// How often a following consumer with a group commits what it printed.
const COMMIT_EVERY: Duration = Duration::from_secs(1);
/// Records left to the end above which a terminal gets a progress bar.
const PROGRESS_FROM: u64 = 100_000;

/// One record as `--json` prints it.
#[derive(Serialize)]
struct JsonRecord<'a> {
    topic: &'a str,
    partition: u32,
    offset: u64,
    timestamp: i64,
    key: Option<std::borrow::Cow<'a, str>>,
    value: Option<std::borrow::Cow<'a, str>>,
    headers: Vec<JsonHeader<'a>>,
}

#[derive(Serialize)]
struct JsonHeader<'a> {
    key: &'a str,
    value: std::borrow::Cow<'a, str>,
}

pub(crate) fn run(dir: &Path, args: &ConsumeArgs) -> Outcome {
    let (broker, access) = dir::open_read(dir)?;
    let description = broker.describe_topic(&args.topic)?;
    let partitions: Vec<TopicPartition> = match args.partition {
        Some(p) if p as usize >= description.partitions.len() => {
            return Err(Failure::new(format!(
                "topic {} has no partition {p} (it has {})",
                args.topic,
                description.partitions.len()
            )))
        }
        Some(p) => vec![TopicPartition::new(&args.topic, p)],
        None => (0..description.partitions.len() as u32)
            .map(|p| TopicPartition::new(&args.topic, p))
            .collect(),
    };
    let mut config = ConsumerConfig::default()
        .enable_auto_commit(false)
        .auto_offset_reset(OffsetReset::Earliest);
    if args.isolation.as_deref() == Some("read_committed") {
        config = config.isolation_level(IsolationLevel::ReadCommitted);
    }
    if let Some(group) = &args.group {
        config = config.group_id(group);
    }
    let mut consumer = broker.consumer(config);
    // Partitions are assigned, not subscribed: a console consumer reads what it is told,
    // and commits under the group id as Kafka's manual assignment does.
    consumer.assign(&partitions)?;
    start(&mut consumer, args, &partitions)?;
    let commits = args.group.is_some() && access == Access::Writer;
    if args.group.is_some() && !commits {
        let _ = writeln!(
            io::stderr(),
            "note: {} is open in another process; reading read-only, so the group's offsets are not committed",
            dir.display()
        );
    }

    // Where each partition's reading goes on after what was printed: what a commit stores,
    // even when `--max-messages` stopped in the middle of a poll.
    let mut next: Vec<Option<u64>> = vec![None; description.partitions.len()];
    for tp in &partitions {
        next[tp.partition as usize] = consumer.position(tp);
    }
    let progress = progress(args, &description, &partitions, &consumer);
    let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut printed = 0u64;
    let mut last_record = Instant::now();
    let mut last_commit = Instant::now();
    let limit = args.max_messages.unwrap_or(u64::MAX);
    let idle = Duration::from_millis(args.timeout_ms);
    let result = (|| -> Outcome {
        while printed < limit {
            let wait = if args.follow {
                POLL
            } else {
                match idle.checked_sub(last_record.elapsed()) {
                    Some(left) if !left.is_zero() => left.min(POLL),
                    _ => break,
                }
            };
            let records = consumer.poll(wait)?;
            if !records.is_empty() {
                last_record = Instant::now();
            }
            for record in &records {
                if printed == limit {
                    break;
                }
                print(&mut out, record, args).map_err(|e| stdout_failure(&e))?;
                printed += 1;
                next[record.partition() as usize] = Some(record.offset() + 1);
            }
            progress.set_position(printed);
            out.flush().map_err(|e| stdout_failure(&e))?;
            if commits && last_commit.elapsed() >= COMMIT_EVERY {
                commit(&mut consumer, &partitions, &next)?;
                last_commit = Instant::now();
            }
        }
        Ok(())
    })();
    progress.finish_and_clear();
    result?;
    if commits {
        commit(&mut consumer, &partitions, &next)?;
    }
    drop(consumer);
    broker.close()?;
    Ok(())
}

/// Puts each partition's position where the flags say: the beginning, an offset, a time,
/// else the group's committed offset, else the end (Kafka's console consumer).
fn start(
    consumer: &mut strom::Consumer,
    args: &ConsumeArgs,
    partitions: &[TopicPartition],
) -> Outcome {
    if args.from_beginning {
        consumer.seek_to_beginning(partitions)?;
    } else if let Some(offset) = args.offset {
        for tp in partitions {
            consumer.seek(tp, offset)?;
        }
    } else if let Some(time) = args.from_time {
        consumer.seek_to_timestamp(time.0)?;
    } else {
        for tp in partitions {
            let committed = match args.group {
                Some(_) => consumer.committed(tp)?,
                None => None,
            };
            match committed {
                Some(offset) => consumer.seek(tp, offset)?,
                None => consumer.seek_to_end(std::slice::from_ref(tp))?,
            }
        }
    }
    Ok(())
}

/// A bar counting records up to the end of the log as it is now, on a terminal, for reads of
/// many records; hidden otherwise.
fn progress(
    args: &ConsumeArgs,
    description: &strom::TopicDescription,
    partitions: &[TopicPartition],
    consumer: &strom::Consumer,
) -> ProgressBar {
    let left: u64 = partitions
        .iter()
        .map(|tp| {
            let end = description.partitions[tp.partition as usize].high_watermark;
            end.saturating_sub(consumer.position(tp).unwrap_or(end))
        })
        .sum();
    let total = left.min(args.max_messages.unwrap_or(u64::MAX));
    if args.follow || total < PROGRESS_FROM || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} records {per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

fn commit(
    consumer: &mut strom::Consumer,
    partitions: &[TopicPartition],
    next: &[Option<u64>],
) -> Outcome {
    let offsets: Vec<(TopicPartition, u64)> = partitions
        .iter()
        .filter_map(|tp| next[tp.partition as usize].map(|p| (tp.clone(), p)))
        .collect();
    consumer.commit_offsets(&offsets)?;
    Ok(())
}

fn print(out: &mut impl Write, record: &ConsumerRecord, args: &ConsumeArgs) -> io::Result<()> {
    if args.json {
        let json = JsonRecord {
            topic: record.topic(),
            partition: record.partition(),
            offset: record.offset(),
            timestamp: record.timestamp(),
            key: record.key().map(text),
            value: (!record.is_tombstone()).then(|| text(record.value())),
            headers: record
                .headers()
                .map(|(key, value)| JsonHeader {
                    key,
                    value: text(value),
                })
                .collect(),
        };
        serde_json::to_writer(&mut *out, &json).map_err(io::Error::other)?;
        return out.write_all(b"\n");
    }
    if args.print_key {
        out.write_all(record.key().unwrap_or(b"null"))?;
        out.write_all(b"\t")?;
    }
    out.write_all(record.value())?;
    out.write_all(b"\n")
}
