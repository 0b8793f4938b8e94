//! Produce, Fetch and `ListOffsets` by time over real sockets, driven by hand-made requests:
//! batches of every codec round trip byte for byte, idempotent producers' retries and gaps,
//! acks = 0, the Fetch long-poll and `read_committed`.

#![allow(
    clippy::big_endian_bytes,
    reason = "Kafka's wire protocol is big-endian"
)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::Client;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiVersionsRequest, FetchRequest, ListOffsetsRequest, ProduceRequest, TopicName,
    TransactionalId,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::ResponseError;
use strom::storage::batch::{self, Compression, Entry, Origin};
use strom::{Broker, Record, TopicConfig};
use strom_kafka::{KafkaServer, ServerConfig};

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

fn serve(config: ServerConfig) -> (tempfile::TempDir, Broker, KafkaServer) {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    let server = KafkaServer::bind_with(broker.clone(), "127.0.0.1:0", config).unwrap();
    (dir, broker, server)
}

/// A batch as a client encodes it, with `origin`'s producer fields, compressed with `codec`.
fn batch_of(entries: &[Entry<'_>], origin: Origin, codec: Compression) -> Vec<u8> {
    let mut bytes = vec![0; batch::encoded_len(entries)];
    batch::encode_with(&mut bytes, 0, origin, entries).unwrap();
    batch::compress(&bytes, codec).unwrap()
}

fn plain(value: &[u8]) -> Vec<u8> {
    batch_of(
        &[Entry {
            timestamp: 1_000,
            key: None,
            value: Some(value),
            headers: &[],
        }],
        Origin::NONE,
        Compression::None,
    )
}

fn idempotent(producer_id: i64, epoch: i16, sequence: i32, value: &[u8]) -> Vec<u8> {
    let origin = Origin {
        producer_id,
        producer_epoch: epoch,
        base_sequence: sequence,
        transactional: false,
    };
    batch_of(
        &[Entry {
            timestamp: 1_000,
            key: None,
            value: Some(value),
            headers: &[],
        }],
        origin,
        Compression::None,
    )
}

fn produce_request(topic: &str, partition: i32, records: Vec<u8>, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(Bytes::from(records)))])])
}

fn produce(
    client: &mut Client,
    topic: &str,
    records: Vec<u8>,
    version: i16,
) -> PartitionProduceResponse {
    let response = client.call(&produce_request(topic, 0, records, -1), version);
    response.responses[0].partition_responses[0].clone()
}

fn fetch_request(topic: &str, offset: i64, max_wait_ms: i32, isolation: i8) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_isolation_level(isolation)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])])
}

fn fetch(client: &mut Client, request: &FetchRequest, version: i16) -> PartitionData {
    let response = client.call(request, version);
    assert_eq!(response.error_code, 0);
    assert_eq!(response.session_id, 0, "sessionless");
    response.responses[0].partitions[0].clone()
}

/// The records of fetched bytes: (offset, timestamp, key, value, headers).
type Decoded = (
    u64,
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(Vec<u8>, Vec<u8>)>,
);

fn decode(mut bytes: &[u8]) -> Vec<Decoded> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let header = batch::check(bytes).unwrap();
        let length = header.length as usize;
        let whole = &bytes[..length];
        let plain = batch::decompress(whole).unwrap();
        for record in batch::records(&plain).unwrap() {
            let record = record.unwrap();
            let field = |r: Option<std::ops::Range<usize>>| r.map(|r| plain[r].to_vec());
            let headers = batch::headers(&plain[record.headers.clone()], record.header_count, 2)
                .map(|(k, v)| (k.to_vec(), v.unwrap_or_default().to_vec()))
                .collect();
            out.push((
                record.offset,
                record.timestamp,
                field(record.key),
                field(record.value),
                headers,
            ));
        }
        bytes = &bytes[length..];
    }
    out
}

#[test]
fn batches_of_every_codec_round_trip_with_keys_headers_and_timestamps() {
    let (_dir, broker, server) = serve(ServerConfig::default());
    broker
        .create_topic("readings", TopicConfig::default())
        .unwrap();
    let mut client = Client::connect(server.local_addr());
    let headers = vec![("unit".to_owned(), b"celsius".to_vec())];
    let mut offset = 0;
    // The oldest and newest Produce and Fetch versions served, flexible and not.
    for (codec, version) in [
        (Compression::None, 3),
        (Compression::Gzip, 12),
        (Compression::Snappy, 8),
        (Compression::Lz4, 9),
        (Compression::Zstd, 12),
    ] {
        let value = format!("{codec:?} reading").repeat(20);
        let entries = [
            Entry {
                timestamp: 1_700_000_000_000,
                key: Some(b"oslo"),
                value: Some(value.as_bytes()),
                headers: &headers,
            },
            Entry {
                timestamp: 1_700_000_000_500,
                key: None,
                value: None,
                headers: &[],
            },
        ];
        let sent = batch_of(&entries, Origin::NONE, codec);
        assert_eq!(batch::check(&sent).unwrap().compression(), codec);
        let answer = produce(&mut client, "readings", sent.clone(), version);
        assert_eq!(
            answer.error_code, 0,
            "{codec:?}: {:?}",
            answer.error_message
        );
        assert_eq!(answer.base_offset, offset);
        assert_eq!(answer.log_append_time_ms, -1, "CreateTime");

        let fetch_version = if version >= 9 { 12 } else { 4 };
        let got = fetch(
            &mut client,
            &fetch_request("readings", offset, 0, 0),
            fetch_version,
        );
        assert_eq!(got.error_code, 0);
        assert_eq!(got.high_watermark, offset + 2);
        if fetch_version >= 5 {
            assert_eq!(got.log_start_offset, 0);
        }
        assert_eq!(i32::from(got.preferred_read_replica), -1);
        let records = got.records.unwrap();
        // The stored batch is the one sent, its base offset assigned.
        let mut expected = sent.clone();
        batch::set_base_offset(&mut expected, u64::try_from(offset).unwrap()).unwrap();
        assert_eq!(&records[..], &expected[..], "{codec:?}: byte for byte");
        let decoded = decode(&records);
        let first = u64::try_from(offset).unwrap();
        assert_eq!(
            decoded,
            vec![
                (
                    first,
                    1_700_000_000_000,
                    Some(b"oslo".to_vec()),
                    Some(value.into_bytes()),
                    vec![(b"unit".to_vec(), b"celsius".to_vec())]
                ),
                (first + 1, 1_700_000_000_500, None, None, vec![]),
            ]
        );
        offset += 2;
    }
}

#[test]
fn several_batches_in_one_partition_are_each_appended() {
    let (_dir, broker, server) = serve(ServerConfig::default());
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let mut client = Client::connect(server.local_addr());
    let mut records = plain(b"one");
    records.extend_from_slice(&plain(b"two"));
    let answer = produce(&mut client, "t", records, 9);
    assert_eq!((answer.error_code, answer.base_offset), (0, 0));
    let got = fetch(&mut client, &fetch_request("t", 0, 0, 0), 12);
    let values: Vec<_> = decode(&got.records.unwrap())
        .into_iter()
        .map(|r| r.3.unwrap())
        .collect();
    assert_eq!(values, [b"one".to_vec(), b"two".to_vec()]);
}

#[test]
fn acks_zero_gets_no_response_and_is_stored() {
    let (_dir, broker, server) = serve(ServerConfig::default());
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let mut client = Client::connect(server.local_addr());
    let sent = produce_request("t", 0, plain(b"fire and forget"), 0);
    let mut frame = bytes::BytesMut::new();
    kafka_protocol::messages::RequestHeader::default()
        .with_request_api_key(0)
        .with_request_api_version(7)
        .with_correlation_id(99)
        .encode(&mut frame, 1)
        .unwrap();
    sent.encode(&mut frame, 7).unwrap();
    client.send_frame(&frame).unwrap();
    // The next frame read answers the next request: the produce got none.
    let versions = client.call(&ApiVersionsRequest::default(), 0);
    assert_eq!(versions.error_code, 0);
    let got = fetch(&mut client, &fetch_request("t", 0, 0, 0), 12);
    assert_eq!(
        decode(&got.records.unwrap())[0].3.as_deref(),
        Some(&b"fire and forget"[..])
    );
}

/// CRC-32C (Castagnoli), bit by bit: the checksum of a v2 batch, for batches altered here.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn refused_produces_answer_kafka_error_codes() {
    let (_dir, broker, server) = serve(ServerConfig::default().auto_create_topics(false));
    broker
        .create_topic("small", TopicConfig::default().max_record_bytes(100))
        .unwrap();
    let mut client = Client::connect(server.local_addr());
    let code = |client: &mut Client, topic: &str, partition: i32, records: Vec<u8>, acks: i16| {
        let response = client.call(&produce_request(topic, partition, records, acks), 9);
        let p = &response.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    };
    assert_eq!(
        code(&mut client, "nowhere", 0, plain(b"x"), -1),
        (ResponseError::UnknownTopicOrPartition.code(), -1)
    );
    assert_eq!(
        code(&mut client, "small", 3, plain(b"x"), -1).0,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert_eq!(
        code(&mut client, "small", 0, plain(&[7; 200]), 1).0,
        ResponseError::MessageTooLarge.code()
    );
    let mut corrupt = plain(b"x");
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert_eq!(
        code(&mut client, "small", 0, corrupt, -1).0,
        ResponseError::CorruptMessage.code()
    );
    let mut truncated = plain(b"x");
    truncated.truncate(truncated.len() - 3);
    assert_eq!(
        code(&mut client, "small", 0, truncated, -1).0,
        ResponseError::CorruptMessage.code()
    );
    assert_eq!(
        code(&mut client, "small", 0, plain(b"x"), 2).0,
        ResponseError::InvalidRequiredAcks.code()
    );
    // The checksum holds but the record count does not match the records: Kafka's
    // INVALID_RECORD, not CORRUPT_MESSAGE.
    for count in [0_i32, 2] {
        let mut miscounted = plain(b"x");
        miscounted[57..61].copy_from_slice(&count.to_be_bytes());
        let crc = crc32c(&miscounted[21..]);
        miscounted[17..21].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            code(&mut client, "small", 0, miscounted, -1).0,
            ResponseError::InvalidRecord.code(),
            "record count {count}"
        );
    }
    // Nothing of those was stored.
    let got = fetch(&mut client, &fetch_request("small", 0, 0, 0), 12);
    assert_eq!(got.high_watermark, 0);
    // A batch larger than the topic's segments: Kafka's RECORD_LIST_TOO_LARGE.
    broker
        .create_topic("short", TopicConfig::default().segment_bytes(4096))
        .unwrap();
    assert_eq!(
        code(&mut client, "short", 0, plain(&[7; 5000]), -1).0,
        ResponseError::RecordListTooLarge.code()
    );
    assert_eq!(code(&mut client, "short", 0, plain(&[7; 3000]), -1).0, 0);
}

#[test]
fn produce_creates_unknown_topics_when_allowed() {
    let (_dir, broker, server) = serve(ServerConfig::default().partitions(2));
    let mut client = Client::connect(server.local_addr());
    let answer = produce(&mut client, "fresh", plain(b"x"), 9);
    assert_eq!((answer.error_code, answer.base_offset), (0, 0));
    assert_eq!(broker.describe_topic("fresh").unwrap().partitions.len(), 2);
}

#[test]
fn idempotent_retries_get_the_first_offsets_and_gaps_are_refused() {
    let (_dir, broker, server) = serve(ServerConfig::default());
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let mut client = Client::connect(server.local_addr());
    let first = produce(&mut client, "t", idempotent(1000, 0, 0, b"a"), 9);
    assert_eq!((first.error_code, first.base_offset), (0, 0));
    let second = produce(&mut client, "t", idempotent(1000, 0, 1, b"b"), 9);
    assert_eq!((second.error_code, second.base_offset), (0, 1));
    // A retry of the first: NONE with its offsets, not DUPLICATE_SEQUENCE_NUMBER.
    let retry = produce(&mut client, "t", idempotent(1000, 0, 0, b"a"), 9);
    assert_eq!((retry.error_code, retry.base_offset), (0, 0));
    // A gap: sequence 5 where 2 is next.
    let gap = produce(&mut client, "t", idempotent(1000, 0, 5, b"c"), 9);
    assert_eq!(
        gap.error_code,
        ResponseError::OutOfOrderSequenceNumber.code()
    );
    // A newer epoch fences the older.
    let newer = produce(&mut client, "t", idempotent(1000, 1, 0, b"d"), 9);
    assert_eq!(newer.error_code, 0);
    let fenced = produce(&mut client, "t", idempotent(1000, 0, 2, b"e"), 9);
    assert_eq!(
        fenced.error_code,
        ResponseError::InvalidProducerEpoch.code()
    );
    let got = fetch(&mut client, &fetch_request("t", 0, 0, 0), 12);
    assert_eq!(got.high_watermark, 3, "a, b, d");
}

#[test]
fn a_transactional_batch_without_its_producer_is_refused() {
    let (_dir, broker, server) = serve(ServerConfig::default());
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let mut client = Client::connect(server.local_addr());
    let records = batch_of(
        &[Entry {
            timestamp: 1,
            key: None,
            value: Some(b"x"),
            headers: &[],
        }],
        Origin {
            base_sequence: 0,
            ..Origin::transactional(4242, 0)
        },
        Compression::None,
    );
    let request = produce_request("t", 0, records, -1)
        .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("nobody"))));
    let response = client.call(&request, 9);
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        ResponseError::InvalidProducerIdMapping.code()
    );
    assert_eq!(
        broker.describe_topic("t").unwrap().partitions[0].high_watermark,
        0
    );
}

#[test]
fn a_waiting_fetch_is_answered_by_an_in_process_send() {
    let (_dir, broker, server) = serve(ServerConfig::default());
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let mut client = Client::connect(server.local_addr());
    // Longer than the client's read timeout: only the send can answer it in time.
    let request = fetch_request("t", 0, 120_000, 0);
    let sender = broker.producer();
    let send = std::thread::spawn(move || sender.send("t", Record::new("woken").key("k")));
    let got = fetch(&mut client, &request, 12);
    send.join().unwrap().unwrap();
    let records = decode(&got.records.unwrap());
    assert_eq!(records[0].3.as_deref(), Some(&b"woken"[..]));
    assert_eq!(got.high_watermark, 1);
}

#[test]
fn a_fetch_finding_nothing_answers_empty_after_max_wait() {
    let (_dir, broker, server) = serve(ServerConfig::default());
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let mut client = Client::connect(server.local_addr());
    let start = Instant::now();
    let got = fetch(&mut client, &fetch_request("t", 0, 300, 0), 12);
    // Timers never fire early: the answer came after the wait, not before.
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(got.error_code, 0);
    assert!(got.records.unwrap_or_default().is_empty());
    assert_eq!(got.high_watermark, 0);
}

#[test]
fn fetch_out_of_range_and_unknown_partitions() {
    let (_dir, broker, server) = serve(ServerConfig::default());
    broker.create_topic("t", TopicConfig::default()).unwrap();
    broker.producer().send("t", Record::new("x")).unwrap();
    let mut client = Client::connect(server.local_addr());
    let got = fetch(&mut client, &fetch_request("t", 5, 60_000, 0), 12);
    assert_eq!(got.error_code, ResponseError::OffsetOutOfRange.code());
    // Empty records, never null: librdkafka refuses a null record set ("invalid
    // MessageSetSize -1") and retries the fetch forever instead of resetting its offset.
    assert_eq!(got.records.as_deref(), Some(&[][..]));
    let got = fetch(&mut client, &fetch_request("nowhere", 0, 60_000, 0), 12);
    assert_eq!(
        got.error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert_eq!(got.records.as_deref(), Some(&[][..]));
    // A session the broker does not keep.
    let response = client.call(
        &fetch_request("t", 0, 0, 0)
            .with_session_id(77)
            .with_session_epoch(3),
        12,
    );
    assert_eq!(
        response.error_code,
        ResponseError::FetchSessionIdNotFound.code()
    );
}

#[test]
fn read_committed_stops_at_the_last_stable_offset() {
    let (_dir, broker, server) = serve(ServerConfig::default());
    broker.create_topic("t", TopicConfig::default()).unwrap();
    broker.producer().send("t", Record::new("before")).unwrap();
    let txn = broker.transactional_producer("open").unwrap();
    txn.begin_transaction().unwrap();
    txn.send("t", Record::new("pending")).unwrap();
    broker.producer().send("t", Record::new("after")).unwrap();

    let mut client = Client::connect(server.local_addr());
    let committed = fetch(&mut client, &fetch_request("t", 0, 0, 1), 12);
    assert_eq!(committed.last_stable_offset, 1);
    assert_eq!(committed.high_watermark, 3);
    assert_eq!(committed.aborted_transactions, Some(vec![]));
    let values: Vec<_> = decode(&committed.records.unwrap())
        .into_iter()
        .map(|r| r.3.unwrap())
        .collect();
    assert_eq!(values, [b"before".to_vec()]);
    let uncommitted = fetch(&mut client, &fetch_request("t", 0, 0, 0), 12);
    assert_eq!(decode(&uncommitted.records.unwrap()).len(), 3);
    assert_eq!(uncommitted.aborted_transactions, None);

    let latest = |client: &mut Client, isolation: i8| {
        let request = ListOffsetsRequest::default()
            .with_isolation_level(isolation)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name("t"))
                .with_partitions(vec![
                    ListOffsetsPartition::default().with_timestamp(-1)
                ])]);
        client.call(&request, 7).topics[0].partitions[0].offset
    };
    assert_eq!(latest(&mut client, 1), 1);
    assert_eq!(latest(&mut client, 0), 3);

    // Aborted: the fetch lists the transaction for the consumer to skip.
    txn.abort_transaction().unwrap();
    let after = fetch(&mut client, &fetch_request("t", 0, 0, 1), 12);
    assert_eq!(after.last_stable_offset, after.high_watermark);
    let aborted = after.aborted_transactions.unwrap();
    assert_eq!(aborted.len(), 1);
    assert_eq!(aborted[0].first_offset, 1);
}

#[test]
fn list_offsets_by_timestamp() {
    let (_dir, broker, server) = serve(ServerConfig::default());
    broker.create_topic("t", TopicConfig::default()).unwrap();
    broker
        .create_topic("unordered", TopicConfig::default())
        .unwrap();
    let producer = broker.producer();
    for (value, at) in [("a", 1_000), ("b", 2_000), ("c", 3_000)] {
        producer
            .send("t", Record::new(value).timestamp(at))
            .unwrap();
    }
    let mut client = Client::connect(server.local_addr());
    // MAX_TIMESTAMP (-3, v7+): the first record with the largest timestamp, which need not
    // be the last one; -1 for an empty partition.
    let max_timestamp = |client: &mut Client| {
        let request = ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
            .with_name(name("unordered"))
            .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(-3)])]);
        let p = client.call(&request, 7).topics[0].partitions[0].clone();
        (p.error_code, p.offset, p.timestamp)
    };
    assert_eq!(max_timestamp(&mut client), (0, -1, -1));
    for at in [1_000, 5_000, 3_000, 5_000, 2_000] {
        producer
            .send("unordered", Record::new("r").timestamp(at))
            .unwrap();
    }
    assert_eq!(max_timestamp(&mut client), (0, 1, 5_000));
    for version in [1, 4, 10] {
        let asked = |client: &mut Client, timestamp: i64| {
            let request =
                ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
                    .with_name(name("t"))
                    .with_partitions(vec![
                        ListOffsetsPartition::default().with_timestamp(timestamp)
                    ])]);
            let p = client.call(&request, version).topics[0].partitions[0].clone();
            (p.error_code, p.offset, p.timestamp)
        };
        assert_eq!(asked(&mut client, 1_500), (0, 1, 2_000));
        assert_eq!(asked(&mut client, 0), (0, 0, 1_000));
        assert_eq!(asked(&mut client, 3_000), (0, 2, 3_000));
        assert_eq!(asked(&mut client, 9_000), (0, -1, -1), "none after it");
        assert_eq!(asked(&mut client, -2).1, 0);
        assert_eq!(asked(&mut client, -1).1, 3);
    }
}

#[test]
fn max_bytes_bound_the_answer_but_one_batch_always_comes() {
    let (_dir, broker, server) = serve(ServerConfig::default());
    broker
        .create_topic("t", TopicConfig::default().partitions(2))
        .unwrap();
    let mut client = Client::connect(server.local_addr());
    for partition in 0..2 {
        for value in [b"first", b"other"] {
            let request = produce_request("t", partition, plain(&value.repeat(100)), -1);
            let response = client.call(&request, 9);
            assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
        }
    }
    let both = |max_bytes: i32, partition_max_bytes: i32| {
        let partitions = (0..2)
            .map(|p| {
                FetchPartition::default()
                    .with_partition(p)
                    .with_partition_max_bytes(partition_max_bytes)
            })
            .collect();
        fetch_request("t", 0, 0, 0)
            .with_max_bytes(max_bytes)
            .with_topics(vec![FetchTopic::default()
                .with_topic(name("t"))
                .with_partitions(partitions)])
    };
    let batches = |p: &PartitionData| decode(p.records.as_deref().unwrap_or_default()).len();

    // Partition limits below one batch: each partition's first batch, alone.
    let response = client.call(&both(1 << 20, 10), 12);
    let parts = &response.responses[0].partitions;
    assert_eq!((batches(&parts[0]), batches(&parts[1])), (1, 0));
    // The response limit below one batch: the first partition's first batch, nothing more;
    // the other partition still gets its offsets.
    let response = client.call(&both(10, 1 << 20), 12);
    let parts = &response.responses[0].partitions;
    assert_eq!((batches(&parts[0]), batches(&parts[1])), (1, 0));
    assert_eq!(parts[1].high_watermark, 2);
    // Room for everything.
    let response = client.call(&both(1 << 20, 1 << 20), 12);
    let parts = &response.responses[0].partitions;
    assert_eq!((batches(&parts[0]), batches(&parts[1])), (2, 2));
}

#[test]
fn a_fetch_waits_for_min_bytes_across_appends() {
    let (_dir, broker, server) = serve(ServerConfig::default());
    broker.create_topic("t", TopicConfig::default()).unwrap();
    broker.producer().send("t", Record::new("small")).unwrap();
    let mut client = Client::connect(server.local_addr());
    // One small record is there, below min_bytes: the fetch waits for more, and a large
    // record sent in process answers it (long before max_wait, past the client's timeout).
    let request = fetch_request("t", 0, 120_000, 0).with_min_bytes(2_000);
    let sender = broker.producer();
    let send = std::thread::spawn(move || sender.send("t", Record::new(vec![7u8; 4_000])));
    let got = fetch(&mut client, &request, 12);
    send.join().unwrap().unwrap();
    assert_eq!(decode(&got.records.unwrap()).len(), 2);
}
