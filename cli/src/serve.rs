//! `strom serve`: the directory served over Kafka's wire protocol until SIGINT or SIGTERM,
//! then the broker closed cleanly (the next open finds its clean-shutdown marker).

use std::io::Write;
use std::path::Path;

use strom_kafka::{KafkaServer, ServerConfig};

use crate::args::ServeArgs;
use crate::{dir, Failure, Outcome};

pub(crate) fn run(dir: &Path, args: &ServeArgs) -> Outcome {
    let broker = dir::open_serving(dir)?;
    let config = ServerConfig::default()
        .partitions(args.partitions)
        .auto_create_topics(!args.no_auto_create_topics);
    let server = match KafkaServer::bind_with(broker.clone(), args.listen.as_str(), config) {
        Ok(server) => server,
        Err(e) => {
            broker.close()?;
            return Err(Failure::new(format!(
                "cannot listen on {}: {e}",
                args.listen
            )));
        }
    };
    let waited = wait_for_signal(|| {
        // Scripts wait for this line: the real address (port 0 picks one), flushed; the
        // signals are caught from before it is printed.
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "strom serve: {} listening on {}",
            dir.display(),
            server.local_addr()
        )?;
        out.flush()
    });
    server.shutdown()?;
    broker.close()?;
    waited
}

/// Catches SIGINT (Ctrl-C) and, on Unix, SIGTERM, calls `ready`, then blocks until one comes.
fn wait_for_signal(ready: impl FnOnce() -> std::io::Result<()>) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut interrupt = signal(SignalKind::interrupt())?;
            let mut term = signal(SignalKind::terminate())?;
            ready()?;
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let ctrl_c = tokio::signal::ctrl_c();
            ready()?;
            ctrl_c.await?;
        }
        Ok(())
    })
}
