//! `strom topics`: Kafka's `kafka-topics`, with Kafka's config names.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value};
use strom::{CleanupPolicy, TopicConfig, TopicDescription};

use crate::args::TopicArgs;
use crate::output::{table, write_all};
use crate::{dir, Failure, Outcome};

pub(crate) fn list(dir: &Path) -> Outcome {
    let (broker, _) = dir::open_read(dir)?;
    let mut out = String::new();
    for name in broker.topics() {
        let _ = writeln!(out, "{name}");
    }
    write_all(out.as_bytes())
}

pub(crate) fn create(dir: &Path, args: &TopicArgs) -> Outcome {
    let mut config = TopicConfig::default();
    apply(&mut config, args)?;
    let broker = dir::open_write_creating(dir)?;
    broker.create_topic(&args.name, config)?;
    broker.close()?;
    write_all(format!("created topic {}\n", args.name).as_bytes())
}

pub(crate) fn alter(dir: &Path, args: &TopicArgs) -> Outcome {
    let broker = dir::open_write(dir)?;
    let mut config = broker.describe_topic(&args.name)?.config;
    apply(&mut config, args)?;
    broker.alter_topic(&args.name, config)?;
    broker.close()?;
    write_all(format!("altered topic {}\n", args.name).as_bytes())
}

pub(crate) fn delete(dir: &Path, name: &str) -> Outcome {
    let broker = dir::open_write(dir)?;
    broker.delete_topic(name)?;
    broker.close()?;
    write_all(format!("deleted topic {name}\n").as_bytes())
}

pub(crate) fn describe(dir: &Path, name: &str, as_json: bool) -> Outcome {
    let (broker, _) = dir::open_read(dir)?;
    let d = broker.describe_topic(name)?;
    if as_json {
        let mut text = description_json(&d).to_string();
        text.push('\n');
        return write_all(text.as_bytes());
    }
    let configs: Vec<String> = config_values(&d.config)
        .into_iter()
        .map(|(k, v)| format!("{k}={}", plain(&v)))
        .collect();
    let mut out = format!(
        "Topic: {}\tPartitionCount: {}\tConfigs: {}\n",
        d.name,
        d.partitions.len(),
        configs.join(",")
    );
    let rows: Vec<Vec<String>> = d
        .partitions
        .iter()
        .map(|p| {
            vec![
                p.partition.to_string(),
                p.log_start_offset.to_string(),
                p.high_watermark.to_string(),
                p.last_stable_offset.to_string(),
                p.segments.to_string(),
                p.size_bytes.to_string(),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "PARTITION",
            "LOG-START-OFFSET",
            "HIGH-WATERMARK",
            "LAST-STABLE-OFFSET",
            "SEGMENTS",
            "SIZE-BYTES",
        ],
        &rows,
    ));
    write_all(out.as_bytes())
}

/// `topics describe --json`, as API.md lists its fields.
fn description_json(d: &TopicDescription) -> Value {
    let config: serde_json::Map<String, Value> = config_values(&d.config)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    json!({
        "name": d.name,
        "config": config,
        "partitions": d.partitions.iter().map(|p| json!({
            "partition": p.partition,
            "log_start_offset": p.log_start_offset,
            "high_watermark": p.high_watermark,
            "last_stable_offset": p.last_stable_offset,
            "segments": p.segments,
            "size_bytes": p.size_bytes,
        })).collect::<Vec<_>>(),
    })
}

/// A JSON value as `KEY=VALUE` shows it: strings without quotes.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The config under Kafka's names; `retention.bytes` is -1 when unlimited, as in Kafka.
fn config_values(c: &TopicConfig) -> Vec<(&'static str, Value)> {
    vec![
        ("retention.ms", json!(c.retention_ms)),
        (
            "retention.bytes",
            json!(c.retention_bytes.map_or(-1, i128::from)),
        ),
        ("segment.bytes", json!(c.segment_bytes)),
        ("segment.ms", json!(c.segment_ms)),
        ("cleanup.policy", json!(policy_name(c.cleanup_policy))),
        ("max.message.bytes", json!(c.max_record_bytes)),
        ("compression.type", json!(c.compression.name())),
        ("delete.retention.ms", json!(c.delete_retention_ms)),
    ]
}

fn policy_name(p: CleanupPolicy) -> &'static str {
    match p {
        CleanupPolicy::Delete => "delete",
        CleanupPolicy::Compact => "compact",
        CleanupPolicy::CompactAndDelete => "compact,delete",
    }
}

/// `--partitions` and every `--config KEY=VALUE` onto `config`.
fn apply(config: &mut TopicConfig, args: &TopicArgs) -> Outcome {
    if let Some(n) = args.partitions {
        config.partitions = n;
    }
    for (key, value) in &args.configs {
        config
            .set(key, value)
            .map_err(|why| Failure::new(format!("topic {}: {why}", args.name)))?;
    }
    Ok(())
}
