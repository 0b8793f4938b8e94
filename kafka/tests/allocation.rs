//! No request makes the server allocate more than a small multiple of its size: requests
//! claiming 2^31-element arrays in a few bytes are refused before kafka-protocol's decoders
//! would reserve them. Every allocation of this test process is counted.

#![allow(
    clippy::big_endian_bytes,
    reason = "Kafka's wire protocol is big-endian"
)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{raw_request, Client};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use strom::Broker;
use strom_kafka::KafkaServer;

/// The system allocator, counting the bytes every allocation asks for.
struct Counting;

static REQUESTED: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

#[allow(
    unsafe_code,
    reason = "a counting allocator forwarding to the system's"
)]
// SAFETY: every call forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        REQUESTED.fetch_add(layout.size(), Ordering::Relaxed);
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        REQUESTED.fetch_add(new_size, Ordering::Relaxed);
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = i32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

#[test]
fn hostile_length_fields_allocate_next_to_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();

    let mut hostile = vec![
        // Metadata v1: 2^31 - 1 topics.
        raw_request(ApiKey::Metadata, 1, &i32::MAX.to_be_bytes()),
        // ListOffsets v1: replica id, then 2^31 - 1 topics.
        raw_request(
            ApiKey::ListOffsets,
            1,
            &[0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff],
        ),
        // DeleteTopics v1: 2^31 - 1 names.
        raw_request(ApiKey::DeleteTopics, 1, &i32::MAX.to_be_bytes()),
        // DescribeConfigs v1: 2^31 - 1 resources.
        raw_request(ApiKey::DescribeConfigs, 1, &i32::MAX.to_be_bytes()),
    ];
    // Flexible versions: 2^32 - 2 elements as a varint, after the header's tagged fields.
    for (key, version) in [
        (ApiKey::Metadata, 12),
        (ApiKey::CreateTopics, 5),
        (ApiKey::FindCoordinator, 4),
    ] {
        let mut request = raw_request(key, version, &[0]);
        request.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        hostile.push(request);
    }

    // A connection answered once, so the server's per-connection setup is behind us.
    let mut warm = Client::connect(server.local_addr());
    assert_eq!(warm.call(&ApiVersionsRequest::default(), 3).error_code, 0);

    for request in &hostile {
        let mut client = Client::connect(server.local_addr());
        let before = REQUESTED.load(Ordering::Relaxed);
        LARGEST.store(0, Ordering::Relaxed);
        client.send_raw(&framed(request)).unwrap();
        assert!(client.closed_by_server(), "refused: {request:?}");
        let requested = REQUESTED.load(Ordering::Relaxed) - before;
        let largest = LARGEST.load(Ordering::Relaxed);
        // The whole process (client, server, runtime) asked for under 1 MiB while a
        // request claiming billions of elements was refused; no single allocation was
        // over 64 KiB, the read buffer's first step.
        assert!(requested < 1 << 20, "{requested} bytes for {request:?}");
        assert!(
            largest <= 64 << 10,
            "an allocation of {largest} bytes for {request:?}"
        );
    }
    server.shutdown().unwrap();
    broker.close().unwrap();
}
