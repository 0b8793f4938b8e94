//! One client connection: its requests read, answered in order, one at a time (as Kafka
//! does), until it closes, misbehaves, idles too long or the server stops.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

use kafka_protocol::messages::ApiKey;

use crate::frame::{read_frame, FrameError};
use crate::handler;
use crate::server::Shared;

pub(crate) async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    tracing::debug!(%peer, "kafka connection opened");
    let idle = shared.config.connections_max_idle;
    let max = shared.config.max_request_bytes;
    loop {
        let frame = tokio::select! {
            read = tokio::time::timeout(idle, read_frame(&mut stream, max)) => read,
            _ = stopped.changed() => break,
        };
        let body = match frame {
            Err(_) => {
                tracing::debug!(%peer, ?idle, "kafka connection closed: idle");
                break;
            }
            Ok(Err(FrameError::Closed)) => {
                tracing::debug!(%peer, "kafka connection closed by the client");
                break;
            }
            Ok(Err(e)) => {
                tracing::warn!(%peer, "kafka connection closed: {e}");
                break;
            }
            Ok(Ok(body)) => body,
        };
        // Most handlers call the log's blocking API (a topic's creation fsyncs, a SyncGroup
        // waits for partitions to be let go of): off the runtime's reactor threads. Produce
        // and Fetch, the data path, are answered on this task (see `answers_inline`). A Fetch finding too little waits here, on this task,
        // for an append or its deadline (the server's stop drops the wait), then reads again.
        let mut poll = handler::Poll::First;
        let inline = answers_inline(&body);
        let response = loop {
            let answered = if inline {
                Ok(handler::handle_polling(
                    &shared,
                    &body,
                    poll,
                    Some(peer.ip()),
                ))
            } else {
                let worker = Arc::clone(&shared);
                let frame = body.clone();
                let ip = peer.ip();
                tokio::task::spawn_blocking(move || {
                    handler::handle_polling(&worker, &frame, poll, Some(ip))
                })
                .await
            };
            match answered {
                Ok(Ok(handler::Handled::Respond(response))) => break Some(response),
                Ok(Ok(handler::Handled::Wait(wait))) => {
                    poll = handler::Poll::Until(wait.deadline);
                    tokio::select! {
                        () = wait.wait(&shared.broker) => {}
                        _ = stopped.changed() => break None,
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(%peer, "kafka connection closed: {e}");
                    break None;
                }
                Err(e) => {
                    tracing::warn!(%peer, "kafka connection closed: request handler failed: {e}");
                    break None;
                }
            }
        };
        let Some(response) = response else { break };
        if response.is_empty() {
            // A Produce with acks = 0 is not answered.
            continue;
        }
        if let Err(e) = stream.write_all(&response).await {
            tracing::debug!(%peer, "kafka connection closed: write failed: {e}");
            break;
        }
    }
    let _ = stream.shutdown().await;
}

/// Whether the request in `frame` is answered on the connection's task rather than on a
/// blocking thread: Produce and Fetch, which copy bytes into or out of the log's memory
/// maps. Handing each to a blocking thread and back cost the data path a third of its CPU
/// and a wake-up's latency. They block only where the log does: an fsync under
/// `SyncPolicy::Always`, a segment roll, a page fault, for which the runtime has more
/// worker threads than the machine has cores.
fn answers_inline(frame: &[u8]) -> bool {
    let key = frame.get(..2).map(|k| i16::from_be_bytes([k[0], k[1]]));
    matches!(key, Some(k) if k == ApiKey::Produce as i16 || k == ApiKey::Fetch as i16)
}
