//! The broker's background thread starts with it and is gone once it is closed or its
//! last handle dropped: no thread is leaked.

use strom::{Broker, Result};

/// How many threads of this process run strom's maintenance loop (Linux names them in
/// /proc; the name is cut to 15 bytes there).
fn maintenance_threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |tasks| {
        tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.trim_end().starts_with("strom-maint"))
            .count()
    })
}

/// Waits (a bounded while) for a new thread to have named itself: Rust names a thread
/// from inside it, just after it starts.
fn wait_for_threads(n: usize) -> usize {
    for _ in 0..500 {
        if maintenance_threads() == n {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    maintenance_threads()
}

#[test]
#[cfg(target_os = "linux")]
fn the_maintenance_thread_stops_on_close_and_on_drop() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let before = maintenance_threads();
    let broker = Broker::open(dir.path())?;
    assert_eq!(wait_for_threads(before + 1), before + 1);
    let clone = broker.clone();
    broker.close()?;
    assert_eq!(maintenance_threads(), before, "close joins the thread");
    drop(clone);

    let broker = Broker::open(dir.path())?;
    let producer = broker.producer();
    assert_eq!(wait_for_threads(before + 1), before + 1);
    drop(broker);
    assert_eq!(
        maintenance_threads(),
        before + 1,
        "a producer still holds the broker"
    );
    drop(producer);
    assert_eq!(
        maintenance_threads(),
        before,
        "the last handle's drop joins the thread"
    );
    Ok(())
}
