//! `strom groups`: Kafka's `kafka-consumer-groups` (list, describe with lag, reset-offsets).

use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;
use strom::{ConsumerConfig, TopicPartition};

use crate::args::ResetArgs;
use crate::output::{table, write_all};
use crate::{dir, Outcome};

pub(crate) fn list(dir: &Path) -> Outcome {
    let (broker, _) = dir::open_read(dir)?;
    let mut out = String::new();
    for group in broker.groups() {
        let _ = writeln!(out, "{group}");
    }
    write_all(out.as_bytes())
}

pub(crate) fn describe(dir: &Path, group: &str, as_json: bool) -> Outcome {
    let (broker, _) = dir::open_read(dir)?;
    let d = broker.describe_group(group)?;
    if as_json {
        let value = json!({
            "group_id": d.group_id,
            "generation": d.generation,
            "members": d.members.iter().map(|m| json!({
                "member_id": m.member_id,
                "assignment": m.assignment.iter().map(|tp| json!({
                    "topic": tp.topic, "partition": tp.partition,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "partitions": d.partitions.iter().map(|p| json!({
                "topic": p.topic_partition.topic,
                "partition": p.topic_partition.partition,
                "committed": p.committed,
                "log_start_offset": p.log_start_offset,
                "high_watermark": p.high_watermark,
                "lag": p.lag,
            })).collect::<Vec<_>>(),
        });
        return write_all(format!("{value}\n").as_bytes());
    }
    let owner = |tp: &TopicPartition| {
        d.members
            .iter()
            .find(|m| m.assignment.contains(tp))
            .map_or_else(|| "-".to_owned(), |m| m.member_id.clone())
    };
    let rows: Vec<Vec<String>> = d
        .partitions
        .iter()
        .map(|p| {
            vec![
                d.group_id.clone(),
                p.topic_partition.topic.clone(),
                p.topic_partition.partition.to_string(),
                p.committed
                    .map_or_else(|| "-".to_owned(), |c| c.to_string()),
                p.log_start_offset.to_string(),
                p.high_watermark.to_string(),
                p.lag.to_string(),
                owner(&p.topic_partition),
            ]
        })
        .collect();
    let mut out = format!(
        "Group {} (generation {}, {} member{})\n",
        d.group_id,
        d.generation,
        d.members.len(),
        if d.members.len() == 1 { "" } else { "s" }
    );
    out.push_str(&table(
        &[
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-START-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
        ],
        &rows,
    ));
    write_all(out.as_bytes())
}

pub(crate) fn reset_offsets(dir: &Path, args: &ResetArgs) -> Outcome {
    // A dry run only reads; --execute commits, so it needs the directory to itself.
    let broker = if args.execute {
        dir::open_write(dir)?
    } else {
        dir::open_read(dir)?.0
    };
    let description = broker.describe_topic(&args.topic)?;
    let partitions: Vec<TopicPartition> = description
        .partitions
        .iter()
        .map(|p| TopicPartition::new(&args.topic, p.partition))
        .collect();
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .group_id(&args.group)
            .enable_auto_commit(false),
    );
    consumer.assign(&partitions)?;
    let mut offsets = Vec::with_capacity(partitions.len());
    if let Some(time) = args.to_datetime {
        consumer.seek_to_timestamp(time.0)?;
    }
    for (tp, p) in partitions.iter().zip(&description.partitions) {
        let offset = if args.to_earliest {
            p.log_start_offset
        } else if args.to_latest {
            p.high_watermark
        } else if let Some(n) = args.to_offset {
            // Kafka's tool keeps a target outside the log within it.
            n.clamp(p.log_start_offset, p.high_watermark)
        } else {
            consumer.position(tp).unwrap_or(p.high_watermark)
        };
        offsets.push((tp.clone(), offset));
    }
    if args.execute {
        consumer.commit_offsets(&offsets)?;
    }
    let rows: Vec<Vec<String>> = offsets
        .iter()
        .map(|(tp, offset)| {
            vec![
                args.group.clone(),
                tp.topic.clone(),
                tp.partition.to_string(),
                offset.to_string(),
            ]
        })
        .collect();
    let mut out = table(&["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], &rows);
    if !args.execute {
        out.push_str("(dry run: nothing changed; add --execute to commit these offsets)\n");
    }
    drop(consumer);
    broker.close()?;
    write_all(out.as_bytes())
}
