//! `strom serve`: the line scripts wait for, a Kafka request answered on the printed
//! address, and a clean close of the directory on SIGTERM and SIGINT.

#![allow(
    clippy::big_endian_bytes,
    reason = "Kafka's wire protocol is big-endian"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use strom::{Broker, TopicConfig};

/// An `ApiVersions` v0 request (correlation id 42) answered on `addr`: its response frame
/// carries the id.
fn api_versions_answered(addr: &str) -> bool {
    let mut stream = TcpStream::connect(addr).expect("connect to strom serve");
    let request = [0, 18, 0, 0, 0, 0, 0, 42, 0xff, 0xff];
    stream.write_all(&10i32.to_be_bytes()).unwrap();
    stream.write_all(&request).unwrap();
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).unwrap();
    let mut body = vec![0u8; usize::try_from(i32::from_be_bytes(size)).unwrap()];
    stream.read_exact(&mut body).unwrap();
    body[..4] == 42i32.to_be_bytes()
}

#[test]
fn serve_prints_its_address_answers_and_closes_cleanly_on_signals() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker
        .create_topic("kept", TopicConfig::default().partitions(2))
        .unwrap();
    broker.close().unwrap();

    for signal in ["TERM", "INT"] {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("strom"))
            .arg("--dir")
            .arg(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0", "--partitions", "2"])
            .env_remove("STROM_DIR")
            .stdout(Stdio::piped())
            .spawn()
            .expect("strom serve starts");
        // Waits for the line (no sleeps): the real address, port 0 resolved.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines.next().expect("a line").expect("utf-8");
        let addr = line
            .split("listening on ")
            .nth(1)
            .unwrap_or_else(|| panic!("no 'listening on' in {line:?}"))
            .trim()
            .to_owned();
        assert!(!addr.ends_with(":0"), "{addr}");
        assert!(api_versions_answered(&addr));
        // While it serves, the directory is held.
        assert!(!dir.path().join(".clean").exists());

        let killed = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "exit on SIG{signal}");
        // Closed cleanly: the clean-shutdown marker is there for the next open, which
        // finds the topic as it was.
        assert!(dir.path().join(".clean").exists(), "after SIG{signal}");
        let reopened = Broker::open(dir.path()).unwrap();
        assert_eq!(reopened.topics(), ["kept"]);
        assert_eq!(reopened.describe_topic("kept").unwrap().partitions.len(), 2);
        reopened.close().unwrap();
    }
}

#[test]
fn serve_on_a_taken_address_fails_with_a_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(assert_cmd::cargo::cargo_bin("strom"))
        .arg("--dir")
        .arg(dir.path())
        .args([
            "serve",
            "--listen",
            &taken.local_addr().unwrap().to_string(),
        ])
        .env_remove("STROM_DIR")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: cannot listen on 127.0.0.1:"),
        "{stderr}"
    );
    // The directory was closed cleanly all the same.
    assert!(dir.path().join(".clean").exists());
}
