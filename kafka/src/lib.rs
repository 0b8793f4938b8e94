//! Apache Kafka's wire protocol over a strom [`Broker`](strom::Broker): Kafka's clients and
//! tools (kcat, kafka-python, confluent-kafka / librdkafka, the Java client) read and write
//! an application's embedded log while the application keeps using it in process.
//!
//! [`KafkaServer::bind`] starts the server on its own threads, so a plain (non-async)
//! program can call it:
//!
//! ```
//! use strom::{Broker, TopicConfig};
//! use strom_kafka::KafkaServer;
//!
//! let dir = tempfile::tempdir()?;
//! let broker = Broker::open(dir.path())?;
//! broker.create_topic("readings", TopicConfig::default().partitions(3))?;
//! let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0")?;
//! println!("kcat -b {} -L", server.local_addr());
//! server.shutdown()?;
//! broker.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Bounds: a request larger than [`ServerConfig::max_request_bytes`], malformed, truncated,
//! of an unknown API or an unsupported version closes that connection only; every array a
//! request claims is checked against the bytes that follow before it is decoded, so no
//! request makes the server allocate more than a small multiple of its size.

// Kafka's wire protocol is big-endian throughout (the workspace lint guards strom's
// little-endian file format), and its docs name the protocol's APIs as Kafka spells them.
#![allow(
    clippy::big_endian_bytes,
    reason = "Kafka's wire protocol is big-endian"
)]
#![allow(
    clippy::doc_markdown,
    reason = "Kafka's API names (ApiVersions, ListOffsets...)"
)]

mod bounds;
mod client;
mod cluster;
mod config;
mod connection;
mod frame;
mod handler;
mod import;
mod mirror;
mod server;

pub use config::ServerConfig;
pub use import::Import;
pub use mirror::{Mirror, MirrorError, MirrorProgress};
pub use server::KafkaServer;

/// Answers one request `frame` (its bytes after the 4-byte size prefix) as a server over
/// `broker` with `config` would, without a socket: the response frame (size prefix
/// included), or `None` where the server would close the connection (malformed, unknown or
/// unsupported request). Metadata advertises `config.advertised`, else `127.0.0.1:9092`.
/// A Produce with `acks = 0` is answered with an empty frame (the server sends nothing), and
/// a Fetch at once, as if its `max_wait_ms` were 0: there is no runtime here to wait on.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let broker = strom::Broker::open(dir.path())?;
/// let config = strom_kafka::ServerConfig::default();
/// // ApiVersions v0, correlation id 7, null client id.
/// let frame = [0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff];
/// let response = strom_kafka::answer_frame(&broker, &config, &frame).unwrap();
/// assert_eq!(&response[4..8], &7i32.to_be_bytes());
/// assert!(strom_kafka::answer_frame(&broker, &config, b"junk").is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn answer_frame(
    broker: &strom::Broker,
    config: &ServerConfig,
    frame: &[u8],
) -> Option<Vec<u8>> {
    let bound = std::net::SocketAddr::from(([127, 0, 0, 1], 9092));
    let (host, port) = config.advertised_host_port(bound);
    let shared = server::Shared {
        broker: broker.clone(),
        config: config.clone(),
        host,
        port,
        groups: crate::handler::groups::Sessions::default(),
        transactions: crate::handler::transactions::Transactions::default(),
        stopped: tokio::sync::watch::channel(false).1,
    };
    handler::handle(&shared, &bytes::Bytes::copy_from_slice(frame))
        .ok()
        .map(|response| response.to_vec())
}

/// The API keys and versions this server answers, as its ApiVersions response lists them:
/// `(api_key, min_version, max_version)`.
///
/// ```
/// // ApiVersions is key 18, Metadata key 3.
/// assert!(strom_kafka::supported_apis().iter().any(|&(key, _, _)| key == 18));
/// assert!(strom_kafka::supported_apis().iter().any(|&(key, _, _)| key == 3));
/// ```
pub fn supported_apis() -> Vec<(i16, i16, i16)> {
    handler::APIS
        .iter()
        .map(|api| (api.key as i16, api.min, api.max))
        .collect()
}
