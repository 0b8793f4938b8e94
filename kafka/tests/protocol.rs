//! The server over real sockets, driven by hand-made requests: what each API answers, and
//! how malformed, truncated, oversized and hostile requests close only their connection.

#![allow(
    clippy::big_endian_bytes,
    reason = "Kafka's wire protocol is big-endian"
)]

mod common;

use std::time::{Duration, Instant};

use common::{raw_request, Client};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    FindCoordinatorRequest, ListOffsetsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
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

fn metadata_of(topics: &[&str], allow_auto: bool) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(
            topics
                .iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(name(t))))
                .collect(),
        ))
        .with_allow_auto_topic_creation(allow_auto)
}

#[test]
fn api_versions_lists_what_is_served_and_answers_an_unknown_version_with_v0() {
    let (_dir, _broker, server) = serve(ServerConfig::default());
    let mut client = Client::connect(server.local_addr());
    for version in 0..=3 {
        let response = client.call(&ApiVersionsRequest::default(), version);
        assert_eq!(response.error_code, 0);
        let keys: Vec<(i16, i16, i16)> = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.min_version, k.max_version))
            .collect();
        assert_eq!(keys, strom_kafka::supported_apis());
        assert!(keys.contains(&(ApiKey::Metadata as i16, 0, 13)));
    }
    // A version above the server's: a v0 response with UNSUPPORTED_VERSION and the table.
    // Its header is a v2 one, ending with (no) tagged fields.
    client
        .send_frame(&raw_request(ApiKey::ApiVersions, 9, &[0]))
        .unwrap();
    let body = client
        .read_frame()
        .expect("an answer, not a closed connection");
    let mut bytes = bytes::Bytes::from(body);
    let _header =
        <kafka_protocol::messages::ResponseHeader as kafka_protocol::protocol::Decodable>::decode(
            &mut bytes, 0,
        )
        .unwrap();
    let response = <kafka_protocol::messages::ApiVersionsResponse as kafka_protocol::protocol::Decodable>::decode(&mut bytes, 0).unwrap();
    assert_eq!(
        response.error_code,
        ResponseError::UnsupportedVersion.code()
    );
    assert_eq!(response.api_keys.len(), strom_kafka::supported_apis().len());
    // The connection goes on.
    assert_eq!(client.call(&ApiVersionsRequest::default(), 3).error_code, 0);
}

#[test]
fn metadata_describes_this_node_and_creates_requested_topics() {
    let config = ServerConfig::default()
        .partitions(3)
        .node_id(5)
        .cluster_id("test-cluster")
        .advertised("kafka.example:19092");
    let (_dir, broker, server) = serve(config);
    broker
        .create_topic("existing", TopicConfig::default().partitions(2))
        .unwrap();
    broker
        .create_internal_topic("__internal", TopicConfig::default())
        .unwrap();
    let mut client = Client::connect(server.local_addr());

    // Every topic (null list): the internal one is hidden.
    let all = client.call(&MetadataRequest::default().with_topics(None), 12);
    assert_eq!(all.brokers.len(), 1);
    assert_eq!(all.brokers[0].node_id.0, 5);
    assert_eq!(&*all.brokers[0].host, "kafka.example");
    assert_eq!(all.brokers[0].port, 19092);
    assert_eq!(all.controller_id.0, 5);
    assert_eq!(all.cluster_id.as_deref(), Some("test-cluster"));
    let names: Vec<String> = all
        .topics
        .iter()
        .map(|t| t.name.as_ref().unwrap().0.to_string())
        .collect();
    assert_eq!(names, ["existing"]);
    let partitions = &all.topics[0].partitions;
    assert_eq!(partitions.len(), 2);
    for (i, p) in partitions.iter().enumerate() {
        assert_eq!(p.partition_index, i32::try_from(i).unwrap());
        assert_eq!(p.leader_id.0, 5);
        assert_eq!(p.replica_nodes.iter().map(|n| n.0).collect::<Vec<_>>(), [5]);
        assert_eq!(p.isr_nodes.iter().map(|n| n.0).collect::<Vec<_>>(), [5]);
    }

    // Asked for by name, allowed: created with the server's partition count.
    let created = client.call(&metadata_of(&["fresh"], true), 12);
    assert_eq!(created.topics[0].error_code, 0);
    assert_eq!(created.topics[0].partitions.len(), 3);
    assert_eq!(broker.describe_topic("fresh").unwrap().partitions.len(), 3);

    // Not allowed by the request: unknown, not created.
    let unknown = client.call(&metadata_of(&["other"], false), 12);
    assert_eq!(
        unknown.topics[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert!(broker.describe_topic("other").is_err());

    // A name no topic can have; an internal one.
    let bad = client.call(&metadata_of(&["no spaces!", "__internal"], true), 12);
    assert_eq!(
        bad.topics[0].error_code,
        ResponseError::InvalidTopicException.code()
    );
    assert_eq!(
        bad.topics[1].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );

    // By topic id alone (v10+): strom's topics have none.
    let by_id = client.call(
        &MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(None)])),
        12,
    );
    assert_eq!(
        by_id.topics[0].error_code,
        ResponseError::UnknownTopicId.code()
    );

    // Old versions: v0's empty list is every topic; v1 (before the auto-create flag).
    let v0 = client.call(&MetadataRequest::default().with_topics(Some(vec![])), 0);
    assert_eq!(v0.topics.len(), 2);
    let v1 = client.call(&metadata_of(&["from-v1"], true), 1);
    assert_eq!(v1.topics[0].error_code, 0, "before v4 requests create");
}

#[test]
fn metadata_creates_nothing_when_the_server_says_no() {
    let (_dir, broker, server) = serve(ServerConfig::default().auto_create_topics(false));
    let mut client = Client::connect(server.local_addr());
    let response = client.call(&metadata_of(&["wanted"], true), 9);
    assert_eq!(
        response.topics[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert!(broker.topics().is_empty());
}

fn creatable(topic: &str, partitions: i32, replication: i16) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(name(topic))
        .with_num_partitions(partitions)
        .with_replication_factor(replication)
}

/// Found by the Java client's differential scenarios (`java_admin_topic_configs`): from v5 the
/// answer lists the new topic's configs, those the request set as the topic's own (source 1)
/// and the others at their default (source 5), as `DescribeConfigs` says and Kafka answers.
#[test]
fn create_topics_answers_where_each_config_comes_from() {
    let (_dir, _broker, server) = serve(ServerConfig::default());
    let mut client = Client::connect(server.local_addr());
    for version in [5, 7] {
        let request = CreateTopicsRequest::default().with_topics(vec![creatable(
            &format!("sourced-v{version}"),
            1,
            1,
        )
        .with_configs(vec![CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str("retention.ms"))
            .with_value(Some(StrBytes::from_static_str("60000")))])]);
        let response = client.call(&request, version);
        assert_eq!(response.topics[0].error_code, 0);
        let configs = response.topics[0].configs.as_ref().unwrap();
        let source = |key: &str| {
            configs
                .iter()
                .find(|c| &*c.name == key)
                .map(|c| (c.value.as_deref().map(str::to_owned), c.config_source))
        };
        assert_eq!(
            source("retention.ms"),
            Some((Some("60000".to_owned()), 1)),
            "v{version}"
        );
        assert_eq!(
            source("cleanup.policy"),
            Some((Some("delete".to_owned()), 5)),
            "v{version}"
        );
        assert_eq!(
            source("segment.bytes").map(|(_, s)| s),
            Some(5),
            "v{version}"
        );
    }
}

#[test]
fn create_and_delete_topics() {
    let (_dir, broker, server) = serve(ServerConfig::default().partitions(4));
    let mut client = Client::connect(server.local_addr());
    for version in [2, 5, 7] {
        let t = format!("orders-v{version}");
        let request = CreateTopicsRequest::default().with_topics(vec![
            creatable(&t, 2, 1).with_configs(vec![
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("retention.ms"))
                    .with_value(Some(StrBytes::from_static_str("60000"))),
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("cleanup.policy"))
                    .with_value(Some(StrBytes::from_static_str("compact"))),
            ]),
            creatable(&format!("{t}-default"), -1, -1),
            creatable(&format!("{t}-replicated"), 1, 3),
            creatable(&format!("{t}-badconfig"), 1, 1).with_configs(vec![
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("retention.ms"))
                    .with_value(Some(StrBytes::from_static_str("soon"))),
            ]),
            creatable(&format!("{t}-zero"), 0, 1),
            creatable(&format!("{t}-huge"), 2_000_000, 1),
        ]);
        let response = client.call(&request, version);
        let codes: Vec<i16> = response.topics.iter().map(|t| t.error_code).collect();
        assert_eq!(
            codes,
            [
                0,
                0,
                ResponseError::InvalidReplicationFactor.code(),
                ResponseError::InvalidConfig.code(),
                ResponseError::InvalidPartitions.code(),
                ResponseError::InvalidPartitions.code()
            ],
            "v{version}"
        );
        let d = broker.describe_topic(&t).unwrap();
        assert_eq!(d.partitions.len(), 2);
        assert_eq!(d.config.retention_ms, 60_000);
        assert_eq!(d.config.cleanup_policy, strom::CleanupPolicy::Compact);
        assert_eq!(
            broker
                .describe_topic(&format!("{t}-default"))
                .unwrap()
                .partitions
                .len(),
            4
        );
        assert!(broker.describe_topic(&format!("{t}-replicated")).is_err());
        assert!(response.topics[3]
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("retention.ms")));

        // Again: exists. Validate-only: checked, not created.
        let again = client.call(
            &CreateTopicsRequest::default().with_topics(vec![creatable(&t, 1, 1)]),
            version,
        );
        assert_eq!(
            again.topics[0].error_code,
            ResponseError::TopicAlreadyExists.code()
        );
        let dry = client.call(
            &CreateTopicsRequest::default()
                .with_topics(vec![creatable(&format!("{t}-dry"), 1, 1)])
                .with_validate_only(true),
            version,
        );
        assert_eq!(dry.topics[0].error_code, 0);
        assert!(broker.describe_topic(&format!("{t}-dry")).is_err());
    }

    for (version, t) in [(1, "orders-v2"), (4, "orders-v5"), (5, "orders-v7")] {
        let response = client.call(
            &DeleteTopicsRequest::default().with_topic_names(vec![name(t), name("never")]),
            version,
        );
        let codes: Vec<i16> = response.responses.iter().map(|r| r.error_code).collect();
        assert_eq!(
            codes,
            [0, ResponseError::UnknownTopicOrPartition.code()],
            "v{version}"
        );
        assert!(broker.describe_topic(t).is_err());
    }
    let v6 = client.call(
        &DeleteTopicsRequest::default().with_topics(vec![
            kafka_protocol::messages::delete_topics_request::DeleteTopicState::default()
                .with_name(Some(name("orders-v2-default"))),
        ]),
        6,
    );
    assert_eq!(v6.responses[0].error_code, 0);
    assert!(broker.describe_topic("orders-v2-default").is_err());
}

/// Found by the Java client's differential scenarios (`java_list_offsets`): `ListOffsets` v7+
/// with `MAX_TIMESTAMP` (-3) answers the first record holding the partition's largest
/// timestamp, even in the middle of a batch and in an earlier batch than the last, as Kafka
/// does; an empty partition answers offset and timestamp -1.
#[test]
fn list_offsets_finds_the_record_with_the_largest_timestamp() {
    let (_dir, broker, server) = serve(ServerConfig::default());
    broker
        .create_topic("timed", TopicConfig::default().partitions(2))
        .unwrap();
    let producer = broker.producer();
    let at = |ts: i64| Record::new(format!("at {ts}")).partition(0).timestamp(ts);
    producer
        .send_batch("timed", [at(1_000), at(5_000), at(3_000), at(5_000)])
        .unwrap();
    producer
        .send_batch("timed", [at(2_000), at(4_000)])
        .unwrap();
    let mut client = Client::connect(server.local_addr());
    for version in [7, 10] {
        let request = ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
            .with_name(name("timed"))
            .with_partitions(vec![
                ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-3),
                ListOffsetsPartition::default()
                    .with_partition_index(1)
                    .with_timestamp(-3),
            ])]);
        let response = client.call(&request, version);
        let got: Vec<(i16, i64, i64)> = response.topics[0]
            .partitions
            .iter()
            .map(|p| (p.error_code, p.offset, p.timestamp))
            .collect();
        assert_eq!(got, [(0, 1, 5_000), (0, -1, -1)], "v{version}");
    }
}

#[test]
fn list_offsets_gives_earliest_and_latest() {
    let (_dir, broker, server) = serve(ServerConfig::default());
    broker
        .create_topic("events", TopicConfig::default().partitions(2))
        .unwrap();
    let producer = broker.producer();
    for i in 0..5 {
        producer
            .send("events", Record::new(format!("e{i}")).partition(1))
            .unwrap();
    }
    let mut client = Client::connect(server.local_addr());
    for version in [1, 5, 10] {
        let request = ListOffsetsRequest::default().with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(name("events"))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(1)
                        .with_timestamp(-2),
                    ListOffsetsPartition::default()
                        .with_partition_index(1)
                        .with_timestamp(-1),
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-1),
                    ListOffsetsPartition::default()
                        .with_partition_index(9)
                        .with_timestamp(-1),
                ]),
            ListOffsetsTopic::default()
                .with_name(name("missing"))
                .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(-1)]),
        ]);
        let response = client.call(&request, version);
        let got: Vec<(i16, i64)> = response.topics[0]
            .partitions
            .iter()
            .map(|p| (p.error_code, p.offset))
            .collect();
        let unknown = ResponseError::UnknownTopicOrPartition.code();
        assert_eq!(got, [(0, 0), (0, 5), (0, 0), (unknown, -1)], "v{version}");
        assert_eq!(response.topics[1].partitions[0].error_code, unknown);
    }
}

#[test]
fn find_coordinator_and_describe_configs() {
    let (_dir, broker, server) = serve(ServerConfig::default().node_id(3));
    broker
        .create_topic("configured", TopicConfig::default().retention_ms(1000))
        .unwrap();
    let mut client = Client::connect(server.local_addr());
    let old = client.call(
        &FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("group-a")),
        2,
    );
    assert_eq!(old.error_code, 0);
    assert_eq!(old.node_id.0, 3);
    assert_eq!(old.port, i32::from(server.local_addr().port()));
    let batched = client.call(
        &FindCoordinatorRequest::default().with_coordinator_keys(vec![
            StrBytes::from_static_str("group-a"),
            StrBytes::from_static_str("txn-b"),
        ]),
        4,
    );
    assert_eq!(batched.coordinators.len(), 2);
    assert!(batched.coordinators.iter().all(|c| c.node_id.0 == 3));

    let described = client.call(
        &DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("configured")),
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("nope")),
        ]),
        4,
    );
    let configs = &described.results[0].configs;
    let retention = configs.iter().find(|c| &*c.name == "retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("1000"));
    assert_eq!(retention.config_source, 1);
    assert_eq!(
        described.results[1].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
}

/// A connection that must be closed by the server, and proof that another one works and
/// the records stored before are intact.
fn assert_only_that_connection_closes(server: &KafkaServer, broker: &Broker, send: &[u8]) {
    let mut healthy = Client::connect(server.local_addr());
    assert_eq!(
        healthy.call(&ApiVersionsRequest::default(), 3).error_code,
        0
    );
    let mut hostile = Client::connect(server.local_addr());
    hostile.send_raw(send).unwrap();
    let _ = hostile.stream.shutdown(std::net::Shutdown::Write);
    assert!(
        hostile.closed_by_server(),
        "closed after {:?}",
        &send[..send.len().min(16)]
    );
    let answered = healthy.call(&metadata_of(&["kept"], false), 12);
    assert_eq!(answered.topics[0].error_code, 0);
    let d = broker.describe_topic("kept").unwrap();
    assert_eq!(d.partitions[0].high_watermark, 3);
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = i32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

#[test]
fn bad_requests_close_only_their_connection() {
    let (_dir, broker, server) = serve(ServerConfig::default().max_request_bytes(1 << 20));
    broker.create_topic("kept", TopicConfig::default()).unwrap();
    for i in 0..3 {
        broker
            .producer()
            .send("kept", Record::new(format!("r{i}")))
            .unwrap();
    }
    // Oversized and negative sizes.
    assert_only_that_connection_closes(&server, &broker, &((1 << 20) + 1i32).to_be_bytes());
    assert_only_that_connection_closes(&server, &broker, &(-5i32).to_be_bytes());
    // Truncated: 100 bytes announced, 10 sent, then the write side closed.
    let mut truncated = 100i32.to_be_bytes().to_vec();
    truncated.extend_from_slice(&[0; 10]);
    assert_only_that_connection_closes(&server, &broker, &truncated);
    // Shorter than a header; an unknown api key; an unsupported api; a bad version.
    assert_only_that_connection_closes(&server, &broker, &framed(&[0, 3, 0]));
    let mut unknown_key = raw_request(ApiKey::Metadata, 1, &[]);
    unknown_key[0..2].copy_from_slice(&999i16.to_be_bytes());
    assert_only_that_connection_closes(&server, &broker, &framed(&unknown_key));
    assert_only_that_connection_closes(
        &server,
        &broker,
        &framed(&raw_request(ApiKey::SaslHandshake, 1, &[0, 0])),
    );
    assert_only_that_connection_closes(
        &server,
        &broker,
        &framed(&raw_request(ApiKey::Metadata, 99, &[0, 0, 0, 0])),
    );
    // An ApiVersions above the server's whose header lacks v2's tagged fields (Kafka
    // closes it too, unanswered).
    assert_only_that_connection_closes(
        &server,
        &broker,
        &framed(&raw_request(ApiKey::ApiVersions, 99, &[])),
    );
    // Garbage where the body should be; a body cut short.
    assert_only_that_connection_closes(
        &server,
        &broker,
        &framed(&raw_request(ApiKey::CreateTopics, 2, &[0xff; 40])),
    );
    assert_only_that_connection_closes(
        &server,
        &broker,
        &framed(&raw_request(ApiKey::Metadata, 1, &[0, 0, 0, 1, 0, 5, b'a'])),
    );
}

#[test]
fn requests_claiming_huge_arrays_or_strings_are_refused_before_decoding() {
    let (_dir, broker, server) = serve(ServerConfig::default());
    broker.create_topic("kept", TopicConfig::default()).unwrap();
    for i in 0..3 {
        broker
            .producer()
            .send("kept", Record::new(format!("r{i}")))
            .unwrap();
    }
    // Metadata v1: 2^31 - 1 topics in a 20-byte request.
    let huge_array = raw_request(ApiKey::Metadata, 1, &i32::MAX.to_be_bytes());
    assert_only_that_connection_closes(&server, &broker, &framed(&huge_array));
    // Metadata v9 (compact): 2^32 - 2 topics in a varint.
    let mut flexible = raw_request(ApiKey::Metadata, 9, &[]);
    flexible.push(0); // header tagged fields
    flexible.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert_only_that_connection_closes(&server, &broker, &framed(&flexible));
    // CreateTopics v2: one topic whose replica assignments claim 2^31 - 1 entries.
    let mut create = Vec::new();
    create.extend_from_slice(&1i32.to_be_bytes());
    create.extend_from_slice(&1i16.to_be_bytes());
    create.push(b'x');
    create.extend_from_slice(&1i32.to_be_bytes());
    create.extend_from_slice(&1i16.to_be_bytes());
    create.extend_from_slice(&i32::MAX.to_be_bytes());
    let create = raw_request(ApiKey::CreateTopics, 2, &create);
    assert_only_that_connection_closes(&server, &broker, &framed(&create));
    // DescribeConfigs v1: a resource name claiming 32 KiB.
    let mut describe = 1i32.to_be_bytes().to_vec();
    describe.push(2);
    describe.extend_from_slice(&i16::MAX.to_be_bytes());
    let describe = raw_request(ApiKey::DescribeConfigs, 1, &describe);
    assert_only_that_connection_closes(&server, &broker, &framed(&describe));
}

#[test]
fn connections_over_the_limit_are_closed_at_accept() {
    let (_dir, _broker, server) = serve(ServerConfig::default().max_connections(2));
    let mut first = Client::connect(server.local_addr());
    let mut second = Client::connect(server.local_addr());
    // Both answered: both hold their slot.
    assert_eq!(first.call(&ApiVersionsRequest::default(), 3).error_code, 0);
    assert_eq!(second.call(&ApiVersionsRequest::default(), 3).error_code, 0);
    let mut third = Client::connect(server.local_addr());
    assert!(third.try_call(&ApiVersionsRequest::default(), 3).is_none());
    // A slot freed: a new connection is served once the server has seen the close.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut again = Client::connect(server.local_addr());
        if again.try_call(&ApiVersionsRequest::default(), 3).is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot was never reused");
    }
    assert_eq!(second.call(&ApiVersionsRequest::default(), 3).error_code, 0);
}

#[test]
fn idle_connections_are_closed() {
    let (_dir, _broker, server) =
        serve(ServerConfig::default().connections_max_idle(Duration::from_millis(200)));
    let mut idle = Client::connect(server.local_addr());
    assert_eq!(idle.call(&ApiVersionsRequest::default(), 3).error_code, 0);
    // Blocks until the server closes it (the read timeout is a safety net of 30 s).
    let started = Instant::now();
    assert!(idle.closed_by_server());
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn shutdown_closes_connections_and_keeps_the_broker_open() {
    let (_dir, broker, server) = serve(ServerConfig::default());
    let mut client = Client::connect(server.local_addr());
    assert_eq!(client.call(&ApiVersionsRequest::default(), 3).error_code, 0);
    server.shutdown().unwrap();
    assert!(client.closed_by_server());
    broker
        .create_topic("after", TopicConfig::default())
        .unwrap();
    broker.close().unwrap();
}
