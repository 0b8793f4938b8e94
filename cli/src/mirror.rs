//! `strom mirror`: topics copied to a Kafka cluster (`--to`) or from one (`--from`), following
//! them until SIGINT or SIGTERM (or, with `--once`, up to their end), the broker closed
//! cleanly either way so the progress committed is the progress kept.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use strom_kafka::{Import, Mirror, MirrorProgress};

use crate::args::MirrorArgs;
use crate::{dir, Failure, Outcome};

pub(crate) fn run(dir: &Path, args: &MirrorArgs) -> Outcome {
    let broker = dir::open_serving(dir).map_err(|failure| {
        // The mirror commits its progress here, so it needs the directory to itself; inside
        // the application that holds it, the library's mirror runs beside it.
        if failure.0.contains("is held by") {
            Failure::new(format!(
                "{}; to mirror a directory while an application uses it, run \
                 strom_kafka::Mirror (or Import) in that application",
                failure.0
            ))
        } else {
            failure
        }
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    watch_signals(Arc::clone(&stop))?;
    let patience = Duration::from_secs(args.patience);
    let (arrow, cluster) = match (&args.to, &args.from) {
        (Some(to), _) => ("→", to),
        (None, Some(from)) => ("←", from),
        // clap requires one of the two.
        (None, None) => return Err(Failure::new("mirror needs --to or --from")),
    };
    {
        // Scripts wait for this line: the signals are caught from before it is printed.
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "strom mirror: {} {arrow} {cluster}: {}",
            dir.display(),
            args.topics.join(", ")
        )?;
        out.flush()?;
    }
    let copied = match &args.to {
        Some(to) => Mirror::new(broker.clone(), to.as_str())
            .topics(args.topics.iter().cloned())
            .group(args.group.as_str())
            .once(args.once)
            .patience(patience)
            .run_until(&stop),
        None => Import::new(broker.clone(), cluster.as_str())
            .topics(args.topics.iter().cloned())
            .group(args.group.as_str())
            .once(args.once)
            .patience(patience)
            .run_until(&stop),
    };
    // Closed whatever happened: what was committed stays committed, and the next open finds
    // a clean shutdown.
    let closed = broker.close();
    let copied: MirrorProgress = copied.map_err(|e| Failure::new(e.to_string()))?;
    closed?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "strom mirror: copied {} records in {} batches ({} bytes)",
        copied.records, copied.batches, copied.bytes
    )?;
    out.flush()?;
    Ok(())
}

/// Sets `stop` at the first SIGINT (Ctrl-C) or, on Unix, SIGTERM, from a thread of its own
/// that waits for them; the handlers are in place when this returns.
fn watch_signals(stop: Arc<AtomicBool>) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    #[cfg(unix)]
    let (mut interrupt, mut term) = {
        use tokio::signal::unix::{signal, SignalKind};
        let _entered = runtime.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    std::thread::Builder::new()
        .name("strom-mirror-signals".to_string())
        .spawn(move || {
            runtime.block_on(async {
                #[cfg(unix)]
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = term.recv() => {}
                }
                #[cfg(not(unix))]
                let _ = tokio::signal::ctrl_c().await;
            });
            stop.store(true, Ordering::SeqCst);
        })?;
    Ok(())
}
