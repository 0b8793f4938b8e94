//! A process killed at any moment while it appends to a compacted topic and compacts it
//! leaves, after reopening, every key's latest acknowledged value — never a mix of old
//! and new segments, never a lost latest value.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use strom::{
    Broker, CleanupPolicy, ConsumerConfig, OffsetReset, Record, Result, TopicConfig, TopicPartition,
};

const ENV: &str = "STROM_COMPACTION_CHILD";
const KEYS: u64 = 20;

/// The child: appends updates of `KEYS` keys and compacts all the time, printing each
/// acknowledged update.
#[test]
fn compaction_child() -> Result<()> {
    let Ok(dir) = std::env::var(ENV) else {
        return Ok(());
    };
    let broker = Broker::open(&dir)?;
    let config = TopicConfig::default()
        .cleanup_policy(CleanupPolicy::Compact)
        .segment_bytes(4096);
    match broker.create_topic("state", config) {
        Ok(()) | Err(strom::Error::TopicExists { .. }) => {}
        Err(e) => return Err(e),
    }
    let producer = broker.producer();
    let mut stdout = std::io::stdout().lock();
    for i in 0u64.. {
        let key = format!("k{}", i % KEYS);
        let value = format!("{}-{i}", std::process::id());
        let meta = producer.send("state", Record::new(value.clone()).key(key.clone()))?;
        writeln!(stdout, "ACK {key} {value} {}", meta.offset).expect("stdout");
        stdout.flush().expect("stdout");
        if i % 25 == 0 {
            broker.run_maintenance()?;
        }
    }
    Ok(())
}

fn latest_values(broker: &Broker) -> Result<BTreeMap<String, (u64, String)>> {
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    consumer.assign(&[TopicPartition::new("state", 0)])?;
    let mut latest = BTreeMap::new();
    loop {
        let records = consumer.poll(Duration::from_millis(20))?;
        if records.is_empty() {
            return Ok(latest);
        }
        for r in &records {
            let key = String::from_utf8_lossy(r.key().unwrap_or_default()).into_owned();
            latest.insert(
                key,
                (r.offset(), String::from_utf8_lossy(r.value()).into_owned()),
            );
        }
    }
}

#[test]
fn latest_values_survive_a_kill_during_compaction() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut acked: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for round in 0..4 {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "compaction_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let wanted = 300 + round * 137;
        let mut seen = 0;
        while seen < wanted {
            let Some(Ok(line)) = lines.next() else { break };
            let mut parts = line.split(' ');
            if parts.next() != Some("ACK") {
                continue;
            }
            if let (Some(k), Some(v), Some(o)) = (parts.next(), parts.next(), parts.next()) {
                acked.insert(k.to_string(), (o.parse().expect("offset"), v.to_string()));
                seen += 1;
            }
        }
        child.kill().expect("kill child");
        // Acknowledgements already in the pipe count too.
        for line in lines.map_while(std::result::Result::ok) {
            let parts: Vec<&str> = line.split(' ').collect();
            if let ["ACK", k, v, o] = parts[..] {
                acked.insert(k.to_string(), (o.parse().expect("offset"), v.to_string()));
            }
        }
        let _ = child.wait();
        assert!(
            seen >= 100,
            "round {round}: the child acknowledged only {seen} updates"
        );

        let broker = Broker::open(dir.path())?;
        let latest = latest_values(&broker)?;
        for (key, want) in &acked {
            let got = latest
                .get(key)
                .unwrap_or_else(|| panic!("round {round}: key {key} lost"));
            // A later update may have been written but not yet acknowledged when the child
            // died; the acknowledged one may never be missing.
            assert!(
                got.0 >= want.0,
                "round {round}: key {key}: {got:?} older than {want:?}"
            );
            if got.0 == want.0 {
                assert_eq!(got, want, "round {round}: key {key}");
            }
        }
        broker.run_maintenance()?;
        assert_eq!(
            &latest_values(&broker)?,
            &latest,
            "round {round}: compaction after recovery"
        );
        broker.close()?;
    }
    Ok(())
}
