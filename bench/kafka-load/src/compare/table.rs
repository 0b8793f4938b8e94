//! The run printed: the README's tables and one line per goal.

use std::thread;
use std::time::Duration;

use super::{
    Rate, Row, Settings, Startup, ACKS, EMBEDDED, JAVA, JAVA_BATCH_BYTES, KAFKA, RDKAFKA, SERVE,
    SIZES,
};

fn rate(records_per_second: f64) -> String {
    if records_per_second >= 1e6 {
        format!("{:.2} M", records_per_second / 1e6)
    } else {
        format!("{:.0} k", records_per_second / 1e3)
    }
}

fn micros(us: f64) -> String {
    if us >= 10_000.0 {
        format!("{:.0} ms", us / 1e3)
    } else if us >= 1_000.0 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{us:.0} µs")
    }
}

fn seconds(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{:.0} ms", d.as_secs_f64() * 1e3)
    }
}

fn size_name(size: usize) -> String {
    if size == 1024 {
        "1 KiB".into()
    } else {
        format!("{size} B")
    }
}

pub(super) fn print(settings: &Settings, rows: &[Row], startups: &[Startup], took: Duration) {
    println!(
        "\nkafka-load compare{}: {} records of 100 B and {} of 1 KiB per run, {} partitions, \
         latency {} samples; Kafka heap {}; {} cores; took {}",
        if settings.quick { " --quick" } else { "" },
        settings.records_of(100),
        settings.records_of(1024),
        settings.partitions,
        settings.samples,
        settings.kafka_heap,
        thread::available_parallelism().map_or(0, usize::from),
        seconds(took),
    );
    println!(
        "Producers: librdkafka linger.ms=5, batch.size=1000000; Java linger.ms=5, \
         batch.size={JAVA_BATCH_BYTES}; acks=all ones idempotent. Latency producers: linger.ms=0. \
         MB are 10^6 bytes of values."
    );
    println!();
    println!(
        "| system | client | record | acks | produce records/s | MB/s | consume records/s | MB/s \
         | end-to-end p50 | p99 | CPU while producing: broker / client (cores) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        let cell = |r: Option<Rate>| {
            r.map_or((String::new(), String::new()), |r| {
                (rate(r.per_second()), format!("{:.0}", r.megabytes()))
            })
        };
        let (p, pm) = cell(row.produce);
        let (c, cm) = cell(row.consume);
        let (l50, l99) = row.latency.map_or((String::new(), String::new()), |l| {
            (micros(l.p50), micros(l.p99))
        });
        let cpu = row
            .cpu
            .map_or(String::new(), |(broker, client)| match client {
                Some(client) => format!("{broker:.2} / {client:.2}"),
                None => format!("{broker:.2} (one process)"),
            });
        println!(
            "| {} | {} | {} | {} | {p} | {pm} | {c} | {cm} | {l50} | {l99} | {cpu} |",
            row.system,
            row.client,
            size_name(row.size),
            row.acks
        );
    }
    println!();
    println!("| system | on disk | start (exec → Metadata answered) | recover after SIGKILL → Metadata | → tail fetched |");
    println!("|---|---|---|---|---|");
    for s in startups {
        println!(
            "| {} | {:.2} GB, {} records | {} | {} | {} |",
            s.system,
            s.on_disk as f64 / 1e9,
            s.records,
            seconds(s.start),
            seconds(s.recover),
            seconds(s.tail)
        );
    }
    println!();
    for line in goals(rows) {
        println!("{line}");
    }
}

/// One line per goal: met or not, with the ratio, and where not met the CPU figures that say
/// what limits it.
fn goals(rows: &[Row]) -> Vec<String> {
    let mut lines = Vec::new();
    let find = |system: &str, client: &str, size: usize, acks: &str| {
        rows.iter()
            .find(|r| r.system == system && r.client == client && r.size == size && r.acks == acks)
    };
    let verdict = |met: bool| if met { "met" } else { "NOT MET" };
    let cpu = |row: &Row| match row.cpu {
        Some((broker, Some(client))) => format!(
            "; while producing {} used {broker:.2} cores, the client {client:.2}",
            row.system
        ),
        Some((broker, None)) => format!("; {} used {broker:.2} cores", row.system),
        None => String::new(),
    };
    for size in SIZES {
        let best_kafka = rows
            .iter()
            .filter(|r| r.system == KAFKA && r.size == size)
            .filter_map(|r| r.produce.map(|p| (p.per_second(), r)))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let Some((kafka, kafka_row)) = best_kafka else {
            continue;
        };
        for embedded in rows
            .iter()
            .filter(|r| r.system == EMBEDDED && r.size == size)
        {
            let Some(produce) = embedded.produce else {
                continue;
            };
            let ratio = produce.per_second() / kafka;
            let goal = if embedded.client == "send" {
                "info"
            } else {
                verdict(ratio >= 10.0)
            };
            lines.push(format!(
                "goal: embedded {} ≥ 10× Kafka's best produce rate, {}: {}/s vs {}/s ({}, acks={}) = {ratio:.1}×: {goal}{}",
                embedded.client.split(',').next().unwrap_or_default(),
                size_name(size),
                rate(produce.per_second()),
                rate(kafka),
                kafka_row.client,
                kafka_row.acks,
                if ratio >= 10.0 { String::new() } else { format!("{}{}", cpu(embedded), cpu(kafka_row)) },
            ));
        }
    }
    for client in [RDKAFKA, JAVA] {
        for size in SIZES {
            for acks in ACKS {
                let (Some(serve), Some(kafka)) = (
                    find(SERVE, client, size, acks),
                    find(KAFKA, client, size, acks),
                ) else {
                    continue;
                };
                if let (Some(s), Some(k)) = (serve.produce, kafka.produce) {
                    let ratio = s.per_second() / k.per_second();
                    lines.push(format!(
                        "goal: strom serve ≥ 1.5× Kafka's produce rate, {client}, {}, acks={acks}: {}/s vs {}/s = {ratio:.2}×: {}{}",
                        size_name(size),
                        rate(s.per_second()),
                        rate(k.per_second()),
                        verdict(ratio >= 1.5),
                        if ratio >= 1.5 { String::new() } else { format!("{}{}", cpu(serve), cpu(kafka)) },
                    ));
                }
                if let (Some(s), Some(k)) = (serve.latency, kafka.latency) {
                    let ratio = s.p99 / k.p99.max(1e-9);
                    lines.push(format!(
                        "goal: strom serve's end-to-end p99 ≤ ½ Kafka's, {client}, {}, acks={acks}: {} vs {} = {ratio:.2}×: {}",
                        size_name(size),
                        micros(s.p99),
                        micros(k.p99),
                        verdict(ratio <= 0.5),
                    ));
                }
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::Latency;

    fn row(system: &'static str, client: &'static str, records_per_second: f64, p99: f64) -> Row {
        Row {
            system,
            client,
            size: 100,
            acks: "all",
            produce: Some(Rate {
                records: records_per_second as u64,
                size: 100,
                seconds: 1.0,
            }),
            consume: None,
            latency: Some(Latency { p50: p99, p99 }),
            cpu: Some((1.0, Some(0.5))),
        }
    }

    #[test]
    fn goals_compare_the_same_client_and_say_what_was_used_when_not_met() {
        let rows = [
            row(EMBEDDED, "send_batch, poll", 5_000_000.0, 10.0),
            row(SERVE, RDKAFKA, 1_000_000.0, 100.0),
            row(KAFKA, RDKAFKA, 500_000.0, 1000.0),
            row(SERVE, JAVA, 200_000.0, 3000.0),
            row(KAFKA, JAVA, 250_000.0, 4000.0),
        ];
        let lines = goals(&rows);
        assert_eq!(lines.len(), 5, "{lines:#?}");
        assert!(lines[0].contains("= 10.0×: met"), "{}", lines[0]);
        assert!(lines[1].contains("librdkafka") && lines[1].contains("= 2.00×: met"));
        assert!(lines[2].contains("= 0.10×: met"), "{}", lines[2]);
        assert!(
            lines[3].contains("= 0.80×: NOT MET")
                && lines[3].contains("strom serve used 1.00 cores, the client 0.50"),
            "{}",
            lines[3]
        );
        assert!(lines[4].contains("= 0.75×: NOT MET"), "{}", lines[4]);
    }
}
