//! An HTTP front for strom topics, on axum: `POST /events/{topic}` appends the request's body
//! as one record (the topic is created on first use) and answers with its offset; `GET
//! /events/{topic}` streams the topic's records as server-sent events, each with its offset
//! as the event's id, waiting for new ones. A client that reconnects with `Last-Event-ID: N`
//! (browsers' `EventSource` does it by itself) goes on from offset N + 1.
//!
//! Topics here have one partition, so that an offset alone says where a reader stands.
//!
//! ```text
//! cargo run --example http_ingest                              # self-check, then exit
//! cargo run --example http_ingest -- --listen 127.0.0.1:8080   # serve until Ctrl-C
//! curl -d 'hello' http://127.0.0.1:8080/events/greetings
//! curl -N -H 'Last-Event-ID: 0' http://127.0.0.1:8080/events/greetings
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::Stream;
use strom::{
    Broker, BrokerConfig, ConsumerConfig, ConsumerRecord, OffsetReset, Record, TopicConfig,
    TopicPartition,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const USAGE: &str = "\
Appends HTTP POSTs to strom topics and streams topics back as server-sent events.

usage: cargo run --example http_ingest -- [options]
  --listen ADDR    serve on ADDR (e.g. 127.0.0.1:8080) until Ctrl-C; without it, serve on
                   a free local port, check the endpoints against themselves, and exit
                   (non-zero if a check fails)
  --dir PATH       keep the log in PATH (default: a temporary directory, removed at the end)
  --help           this text

endpoints:
  POST /events/{topic}   the body is one record; answers {\"partition\":0,\"offset\":N}
  GET  /events/{topic}   the topic as text/event-stream from its start, or from offset N + 1
                         given `Last-Event-ID: N`; each event's id is its record's offset";

struct Options {
    listen: Option<SocketAddr>,
    dir: Option<PathBuf>,
}

/// The options, or `None` for `--help`.
fn parse_args() -> Result<Option<Options>, String> {
    let mut options = Options {
        listen: None,
        dir: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => {
                let addr = value()?;
                options.listen = Some(addr.parse().map_err(|e| format!("--listen {addr}: {e}"))?);
            }
            "--dir" => options.dir = Some(PathBuf::from(value()?)),
            "--help" | "-h" => return Ok(None),
            other => return Err(format!("unknown option {other} (see --help)")),
        }
    }
    Ok(Some(options))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(options) = parse_args()? else {
        println!("{USAGE}");
        return Ok(());
    };
    let temporary = std::env::temp_dir().join(format!("strom-http-ingest-{}", std::process::id()));
    let dir = options.dir.clone().unwrap_or(temporary);
    let result = run(&options, &dir).await;
    if options.dir.is_none() && dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    result
}

async fn run(options: &Options, dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let broker = Broker::open_with(
        dir,
        BrokerConfig::default()
            .auto_create_topics(true)
            .default_topic(TopicConfig::default().partitions(1)),
    )?;
    let app = Router::new()
        .route("/events/{topic}", get(stream_topic).post(append))
        .with_state(broker.clone());
    let listener = TcpListener::bind(options.listen.unwrap_or(([127, 0, 0, 1], 0).into())).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let outcome = if options.listen.is_some() {
        // Scripts wait for this line before they send requests.
        println!("listening on http://{addr}; Ctrl-C stops");
        tokio::signal::ctrl_c().await?;
        println!("Ctrl-C: stopping");
        Ok(())
    } else {
        self_check(addr).await
    };
    // Open event streams never end by themselves: the broker's close ends them, then the
    // server's graceful shutdown completes.
    let _ = stop.send(());
    broker.close()?;
    server.await??;
    outcome?;
    if options.listen.is_none() {
        println!("ok: appended, streamed, resumed from Last-Event-ID, and followed live");
    }
    Ok(())
}

/// `POST /events/{topic}`: appends the body as one record.
async fn append(State(broker): State<Broker>, Path(topic): Path<String>, body: Bytes) -> Response {
    match broker
        .producer()
        .send_async(&topic, Record::new(body.to_vec()))
        .await
    {
        Ok(meta) => (
            StatusCode::CREATED,
            format!(
                "{{\"partition\":{},\"offset\":{}}}\n",
                meta.partition, meta.offset
            ),
        )
            .into_response(),
        Err(e) => error_response(&e),
    }
}

/// `GET /events/{topic}`: the topic's records as server-sent events, from the start or
/// after `Last-Event-ID`.
async fn stream_topic(
    State(broker): State<Broker>,
    Path(topic): Path<String>,
    headers: HeaderMap,
) -> Response {
    let last_seen = match headers
        .get("last-event-id")
        .map(|v| v.to_str().map(str::parse::<u64>))
    {
        None => None,
        Some(Ok(Ok(offset))) => Some(offset),
        Some(_) => {
            return (StatusCode::BAD_REQUEST, "Last-Event-ID must be an offset\n").into_response()
        }
    };
    let mut consumer =
        broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest));
    let tp = TopicPartition::new(topic, 0);
    let positioned = consumer
        .assign(std::slice::from_ref(&tp))
        .and_then(|()| match last_seen {
            Some(offset) => consumer.seek(&tp, offset.saturating_add(1)),
            None => Ok(()),
        });
    if let Err(e) = positioned {
        return error_response(&e);
    }
    Sse::new(events(consumer))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// The consumer's records as events, for as long as the client listens: the stream is
/// dropped when the client goes, and with it the consumer.
fn events(consumer: strom::Consumer) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    futures::stream::unfold(
        (consumer, VecDeque::<ConsumerRecord>::new()),
        |(mut consumer, mut pending)| async move {
            loop {
                if let Some(record) = pending.pop_front() {
                    let event = Event::default()
                        .id(record.offset().to_string())
                        .data(String::from_utf8_lossy(record.value()));
                    return Some((Ok(event), (consumer, pending)));
                }
                // Ends the stream on an error (the broker closed, the topic was deleted).
                pending.extend(consumer.recv().await.ok()?);
            }
        },
    )
}

fn error_response(e: &strom::Error) -> Response {
    let status = match e {
        strom::Error::UnknownTopic { .. } => StatusCode::NOT_FOUND,
        strom::Error::InvalidTopicName { .. }
        | strom::Error::InvalidRecord { .. }
        | strom::Error::RecordTooLarge { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, format!("{e}\n")).into_response()
}

// ---------------------------------------------------------------------------------------
// The self-check: a client speaking plain HTTP/1.0 over TCP, so that responses end when
// the server closes and event streams arrive as the text they are.

/// Posts, streams, resumes and follows; an error says which check failed.
async fn self_check(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    for i in 0..20 {
        let (status, body) = post(addr, "/events/clicks", &format!("click {i}")).await?;
        let expected = format!("{{\"partition\":0,\"offset\":{i}}}\n");
        if status != 201 || body != expected {
            return Err(format!("POST {i}: {status} {body:?}, expected 201 {expected:?}").into());
        }
    }
    let (status, _) = post(addr, "/events/not a topic!", "x").await?;
    if status != 400 {
        return Err(format!("POST to an invalid topic name: {status}, expected 400").into());
    }
    let mut all = EventStream::open(addr, "/events/clicks", None).await?;
    for i in 0..20u64 {
        expect_event(&mut all, i, &format!("click {i}")).await?;
    }
    let mut resumed = EventStream::open(addr, "/events/clicks", Some(9)).await?;
    expect_event(&mut resumed, 10, "click 10").await?;
    // Both streams are waiting at the end of the log: a new record reaches both.
    post(addr, "/events/clicks", "live").await?;
    expect_event(&mut all, 20, "live").await?;
    for i in 11..20u64 {
        expect_event(&mut resumed, i, &format!("click {i}")).await?;
    }
    expect_event(&mut resumed, 20, "live").await?;
    let (status, _) = EventStream::status(addr, "/events/nothing-here").await?;
    if status != 404 {
        return Err(format!("GET of a topic never posted to: {status}, expected 404").into());
    }
    Ok(())
}

async fn expect_event(
    stream: &mut EventStream,
    id: u64,
    data: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let event = tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .map_err(|_| format!("no event {id} within 30 s"))??;
    if event != (id, data.to_string()) {
        return Err(format!("event {event:?}, expected ({id}, {data:?})").into());
    }
    Ok(())
}

/// Sends `body` to `path`; returns the status and the body of the answer.
async fn post(
    addr: SocketAddr,
    path: &str,
    body: &str,
) -> Result<(u16, String), Box<dyn std::error::Error>> {
    let mut tcp = TcpStream::connect(addr).await?;
    let path = path.replace(' ', "%20");
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await?;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or("an answer without a body")?;
    Ok((status_of(head)?, body.to_string()))
}

fn status_of(head: &str) -> Result<u16, Box<dyn std::error::Error>> {
    let status = head.split(' ').nth(1).ok_or("an answer without a status")?;
    Ok(status.parse()?)
}

/// The events of one `GET`, as (id, data).
struct EventStream {
    lines: tokio::io::Lines<BufReader<TcpStream>>,
}

impl EventStream {
    async fn request(
        addr: SocketAddr,
        path: &str,
        last_seen: Option<u64>,
    ) -> Result<(u16, Self), Box<dyn std::error::Error>> {
        let mut tcp = TcpStream::connect(addr).await?;
        let resume = last_seen.map_or(String::new(), |n| format!("Last-Event-ID: {n}\r\n"));
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n{resume}\r\n");
        tcp.write_all(request.as_bytes()).await?;
        let mut lines = BufReader::new(tcp).lines();
        let status_line = lines.next_line().await?.ok_or("no answer")?;
        let status = status_of(&status_line)?;
        // The rest of the head.
        while !lines
            .next_line()
            .await?
            .ok_or("an answer cut short")?
            .is_empty()
        {}
        Ok((status, Self { lines }))
    }

    async fn open(
        addr: SocketAddr,
        path: &str,
        last_seen: Option<u64>,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let (status, stream) = Self::request(addr, path, last_seen).await?;
        if status != 200 {
            return Err(format!("GET {path}: {status}").into());
        }
        Ok(stream)
    }

    async fn status(
        addr: SocketAddr,
        path: &str,
    ) -> Result<(u16, Self), Box<dyn std::error::Error>> {
        Self::request(addr, path, None).await
    }

    /// The next event; keep-alive comments are skipped.
    async fn next(&mut self) -> Result<(u64, String), Box<dyn std::error::Error>> {
        let (mut id, mut data) = (None, None);
        loop {
            let line = self.lines.next_line().await?.ok_or("the stream ended")?;
            if line.is_empty() {
                if let (Some(id), Some(data)) = (id.take(), data.take()) {
                    return Ok((id, data));
                }
            } else if let Some(value) = line.strip_prefix("id:") {
                id = Some(value.trim_start().parse()?);
            } else if let Some(value) = line.strip_prefix("data:") {
                data = Some(value.trim_start().to_string());
            }
        }
    }
}
