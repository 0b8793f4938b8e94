//! The Kafka bridge (`examples/kafka_bridge.rs`) as a test: an application sends the weather
//! simulator's readings in process while `KafkaServer` serves the same broker, and kcat
//! reads every one back, key and value, from each partition.
//!
//! kcat comes from PATH; without it the test fails under CI (`CI` set) and is skipped,
//! saying why, elsewhere.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strom::{Broker, Record, TopicConfig};
use strom_kafka::KafkaServer;

#[path = "../../examples/weather/simulation.rs"]
#[allow(
    dead_code,
    reason = "the weather example's formatting helpers are not used here"
)]
mod simulation;

#[test]
fn kcat_reads_what_the_application_sends_in_process() {
    if Command::new("kcat").arg("-V").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI needs kcat on PATH");
        eprintln!("skipped: kcat is not on PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker
        .create_topic("weather", TopicConfig::default().partitions(3))
        .unwrap();
    let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
    let producer = broker.producer();
    let mut sent = Vec::new();
    for round in 0..5 {
        for reading in simulation::pull_weather_data(round, 1_767_225_600) {
            let json = serde_json::to_string(&reading).unwrap();
            producer
                .send(
                    "weather",
                    Record::new(json.clone()).key(reading.city.as_str()),
                )
                .unwrap();
            sent.push(format!("{} {json}", reading.city));
        }
    }
    sent.sort();

    // -e: exit at the end of every partition, so kcat returns once it has read them all.
    let mut kcat = Command::new("kcat")
        .args(["-b", &server.local_addr().to_string()])
        .args(["-C", "-t", "weather", "-o", "beginning", "-e", "-q"])
        .args(["-f", "%k %s\\n"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A safety net against a server that never answers (kcat retries forever), not a
    // synchronisation: kcat exits by itself at the end of the partitions.
    let deadline = Instant::now() + Duration::from_secs(120);
    while kcat.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            kcat.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = kcat.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "kcat failed or hung: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut read: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    // Partitions interleave in kcat's output; each reading once, none missing or extra.
    read.sort();
    assert_eq!(read, sent, "kcat read exactly the readings sent in process");

    server.shutdown().unwrap();
    broker.close().unwrap();
}
