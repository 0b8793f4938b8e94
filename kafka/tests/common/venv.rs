//! The Python clients the tests run (kafka-python, confluent-kafka and their codec packages),
//! from the virtualenv named by `STROM_KAFKA_VENV`, else from `target/kafka-clients-venv`,
//! created on first use from `tests/clients/requirements.txt`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `None` (the test skipped) or, under CI (`CI` set), a panic: CI must run every test.
pub fn unavailable<T>(why: &str) -> Option<T> {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI cannot skip this test: {why}"
    );
    eprintln!("skipped: {why}");
    None
}

/// `tests/clients`, where the client programs are.
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// The virtualenv's Python, created from `requirements.txt` if missing.
pub fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("STROM_KAFKA_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/kafka-clients-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let ready = |python: &Path| {
        Command::new(python)
            .args([
                "-c",
                "import kafka, confluent_kafka, lz4.frame, snappy, zstandard",
            ])
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return Some(python);
    }
    if std::env::var_os("STROM_KAFKA_VENV").is_some() {
        return unavailable(&format!(
            "STROM_KAFKA_VENV={} lacks tests/clients/requirements.txt",
            venv.display()
        ));
    }
    // One test binary at a time creates it; the others wait, then find it ready.
    let parent = venv.parent()?;
    std::fs::create_dir_all(parent).ok()?;
    let lock = File::create(parent.join("kafka-clients-venv.lock")).ok()?;
    lock.lock().ok()?;
    if !ready(&python) {
        let created = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "-r"])
                .arg(clients_dir().join("requirements.txt"))
                .status()
                .is_ok_and(|s| s.success());
        if !created || !ready(&python) {
            return unavailable(&format!(
                "could not create {} from tests/clients/requirements.txt",
                venv.display()
            ));
        }
    }
    Some(python)
}
