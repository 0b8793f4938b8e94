//! Apache Kafka answers `CreateTopics` before its metadata shows the new topic, so a
//! `Metadata` request right after it may still call the topic unknown; the mirror, which
//! creates a missing target topic and then asks for its partitions, took that for "0
//! partitions on the cluster" and stopped (found by `cli/tests/mirror_kafka.rs` against Kafka 4.4.0).
//!
//! Here a proxy in front of a strom server plays that moment: after it has passed on a
//! `CreateTopics`, it answers the next few `Metadata` requests itself, "unknown topic". The
//! mirror must wait for the topic, then copy.

#![expect(
    clippy::big_endian_bytes,
    reason = "Kafka's wire protocol is big-endian"
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{ApiKey, MetadataResponse, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
use strom::{Broker, Record, TopicConfig};
use strom_kafka::{KafkaServer, Mirror};

/// Kafka's `UNKNOWN_TOPIC_OR_PARTITION`.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).ok()?;
    let mut body = vec![0u8; usize::try_from(i32::from_be_bytes(size)).ok()?];
    stream.read_exact(&mut body).ok()?;
    Some(body)
}

fn write_frame(stream: &mut TcpStream, body: &[u8]) -> Option<()> {
    let size = i32::try_from(body.len()).ok()?;
    stream.write_all(&size.to_be_bytes()).ok()?;
    stream.write_all(body).ok()
}

/// What the proxy shares between its connections: whether a `CreateTopics` went through, and
/// how many Metadata requests after it are still to be answered "unknown topic".
struct Lag {
    created: AtomicBool,
    hide: AtomicU32,
    hidden: AtomicU32,
}

/// Forwards one client connection to `upstream` a request at a time (the mirror's requests
/// on its bootstrap connection wait for their answers), answering Metadata itself while the
/// topic is to look unknown.
fn forward(mut client: TcpStream, upstream: SocketAddr, topic: &str, lag: &Lag) -> Option<()> {
    let mut server = TcpStream::connect(upstream).ok()?;
    loop {
        let request = read_frame(&mut client)?;
        let key = i16::from_be_bytes([request[0], request[1]]);
        let version = i16::from_be_bytes([request[2], request[3]]);
        let correlation = i32::from_be_bytes([request[4], request[5], request[6], request[7]]);
        if key == ApiKey::Metadata as i16
            && lag.created.load(Ordering::SeqCst)
            && lag
                .hide
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            lag.hidden.fetch_add(1, Ordering::SeqCst);
            let mut frame = BytesMut::new();
            ResponseHeader::default()
                .with_correlation_id(correlation)
                .encode(&mut frame, MetadataResponse::header_version(version))
                .unwrap();
            MetadataResponse::default()
                .with_topics(vec![MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(topic.to_owned()))))
                    .with_error_code(UNKNOWN_TOPIC_OR_PARTITION)])
                .encode(&mut frame, version)
                .unwrap();
            write_frame(&mut client, &frame)?;
            continue;
        }
        write_frame(&mut server, &request)?;
        let response = read_frame(&mut server)?;
        if key == ApiKey::CreateTopics as i16 {
            lag.created.store(true, Ordering::SeqCst);
        }
        write_frame(&mut client, &response)?;
    }
}

#[test]
fn a_target_topic_the_metadata_shows_late_is_waited_for_then_copied() {
    let here_dir = tempfile::tempdir().unwrap();
    let there_dir = tempfile::tempdir().unwrap();
    let here = Broker::open(here_dir.path()).unwrap();
    let there = Broker::open(there_dir.path()).unwrap();
    let server = KafkaServer::bind(there.clone(), "127.0.0.1:0").unwrap();
    here.create_topic("orders", TopicConfig::default().partitions(3))
        .unwrap();
    for i in 0..30 {
        here.producer()
            .send(
                "orders",
                Record::new(format!("order {i}")).key(format!("user-{i}")),
            )
            .unwrap();
    }

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = listener.local_addr().unwrap().to_string();
    let upstream = server.local_addr();
    let lag = Arc::new(Lag {
        created: AtomicBool::new(false),
        hide: AtomicU32::new(3),
        hidden: AtomicU32::new(0),
    });
    {
        let lag = Arc::clone(&lag);
        thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let lag = Arc::clone(&lag);
                thread::spawn(move || forward(client, upstream, "orders", &lag));
            }
        });
    }

    let copied = Mirror::new(here.clone(), proxy)
        .topics(["orders"])
        .once(true)
        .patience(Duration::from_secs(30))
        .run()
        .unwrap();
    assert_eq!(copied.records, 30);
    // The topic did look unknown after its creation, three times over.
    assert_eq!(lag.hidden.load(Ordering::SeqCst), 3);
    let described = there.describe_topic("orders").unwrap();
    assert_eq!(described.partitions.len(), 3);
    let held: u64 = described.partitions.iter().map(|p| p.high_watermark).sum();
    assert_eq!(held, 30);

    server.shutdown().unwrap();
    there.close().unwrap();
    here.close().unwrap();
}
