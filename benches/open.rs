//! `Broker::open` time against the size of the log, after a clean close and after an
//! unclean stop (the clean marker removed, as a kill leaves it). Custom timing: the
//! median of several opens per size.
//!
//! Run: `cargo bench --bench open`. `STROM_BENCH_OPEN_MAX_MIB` caps the largest log
//! (default 4096).

use std::time::{Duration, Instant};

use strom::{Broker, Record, TopicConfig};

const OPENS: usize = 9;

/// Median time of `OPENS` opens of `dir`; `unclean` removes the clean marker before each.
fn median_open(dir: &std::path::Path, unclean: bool) -> Duration {
    let mut times = Vec::with_capacity(OPENS);
    for _ in 0..OPENS {
        if unclean {
            let _ = std::fs::remove_file(dir.join(".clean"));
        }
        let start = Instant::now();
        let broker = Broker::open(dir).expect("open");
        times.push(start.elapsed());
        broker.close().expect("close");
    }
    times.sort();
    times[OPENS / 2]
}

fn main() {
    let max_mib: u64 = std::env::var("STROM_BENCH_OPEN_MAX_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4096);
    let value = vec![b'x'; 100];
    println!(
        "| log size | segments | open after clean close (µs) | open after unclean stop (µs) |"
    );
    println!("|---|---|---|---|");
    let mut mib = 4;
    while mib <= max_mib {
        let dir = tempfile::tempdir().expect("temp dir");
        let broker = Broker::open(dir.path()).expect("open");
        broker
            .create_topic("log", TopicConfig::default())
            .expect("topic");
        let producer = broker.producer();
        let records = mib * (1 << 20) / 150;
        for _ in 0..records / 1000 {
            producer
                .send_batch("log", (0..1000).map(|_| Record::new(value.as_slice())))
                .expect("fill");
        }
        let segments = broker.describe_topic("log").expect("describe").partitions[0].segments;
        broker.close().expect("close");
        let clean = median_open(dir.path(), false);
        let unclean = median_open(dir.path(), true);
        println!(
            "| {mib} MiB | {segments} | {:.0} | {:.0} |",
            clean.as_secs_f64() * 1e6,
            unclean.as_secs_f64() * 1e6
        );
        mib *= 4;
    }
}
