//! The administration APIs Kafka's tools send, over real sockets: `CreatePartitions`,
//! `IncrementalAlterConfigs`, `AlterConfigs`, `DeleteGroups`, `OffsetDelete`,
//! `DescribeTopicPartitions`, `ListTransactions`, `DescribeTransactions`,
//! `DescribeProducers` and `WriteTxnMarkers`, each
//! checked against what the log holds afterwards. (`kafka_tools.rs` drives the same APIs
//! with Kafka's own tools where Java is installed.)

#![allow(
    clippy::big_endian_bytes,
    reason = "Kafka's wire protocol is big-endian (the shared client frames requests)"
)]

mod common;

use common::Client;
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    alter_configs_request, describe_producers_request, AlterConfigsRequest, BrokerId,
    CreatePartitionsRequest, DeleteGroupsRequest, DescribeConfigsRequest, DescribeProducersRequest,
    DescribeTopicPartitionsRequest, DescribeTransactionsRequest, GroupId,
    IncrementalAlterConfigsRequest, ListTransactionsRequest, OffsetDeleteRequest, ProducerId,
    TopicName, TransactionalId, WriteTxnMarkersRequest,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use strom::{
    Broker, CleanupPolicy, IsolationLevel, JoinGroup, Record, TopicConfig, TopicPartition,
};
use strom_kafka::KafkaServer;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

fn group(s: &str) -> GroupId {
    GroupId(StrBytes::from_string(s.to_owned()))
}

fn serve() -> (tempfile::TempDir, Broker, KafkaServer) {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
    (dir, broker, server)
}

fn grow(topic: &str, count: i32) -> CreatePartitionsTopic {
    CreatePartitionsTopic::default()
        .with_name(name(topic))
        .with_count(count)
        // Null: the server places the new partitions (the protocol crate's default is an
        // empty list, which Kafka refuses).
        .with_assignments(None)
}

#[test]
fn create_partitions_grows_a_topic_and_refuses_to_shrink_it() {
    let (_dir, broker, server) = serve();
    broker
        .create_topic("orders", TopicConfig::default().partitions(2))
        .unwrap();
    let mut client = Client::connect(server.local_addr());
    for version in [0, 3] {
        let count = 3 + i32::from(version);
        let request = CreatePartitionsRequest::default().with_topics(vec![
            grow("orders", count),
            grow("orders-missing", 4),
            grow("__consumer_offsets", 4),
        ]);
        let response = client.call(&request, version);
        let codes: Vec<i16> = response.results.iter().map(|r| r.error_code).collect();
        let unknown = ResponseError::UnknownTopicOrPartition.code();
        assert_eq!(codes, [0, unknown, unknown], "v{version}");
        assert_eq!(
            broker.describe_topic("orders").unwrap().config.partitions,
            u32::try_from(count).unwrap()
        );
    }
    // The same count, fewer, or validate-only: nothing changes.
    let refused = [grow("orders", 6), grow("orders", 1)];
    for topic in refused {
        let response = client.call(
            &CreatePartitionsRequest::default().with_topics(vec![topic]),
            3,
        );
        let result = &response.results[0];
        assert_eq!(result.error_code, ResponseError::InvalidPartitions.code());
        assert!(result
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("orders")));
    }
    let response = client.call(
        &CreatePartitionsRequest::default()
            .with_topics(vec![grow("orders", 8)])
            .with_validate_only(true),
        3,
    );
    assert_eq!(response.results[0].error_code, 0);
    // An assignment must name one replica per new partition.
    let response = client.call(
        &CreatePartitionsRequest::default().with_topics(vec![grow("orders", 8).with_assignments(
            Some(vec![
                CreatePartitionsAssignment::default().with_broker_ids(vec![BrokerId(0)])
            ]),
        )]),
        3,
    );
    assert_eq!(
        response.results[0].error_code,
        ResponseError::InvalidReplicaAssignment.code()
    );
    assert_eq!(
        broker.describe_topic("orders").unwrap().config.partitions,
        6
    );
}

fn alter(topic: &str, configs: &[(&str, i8, Option<&str>)]) -> IncrementalAlterConfigsRequest {
    IncrementalAlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(StrBytes::from_string(topic.to_owned()))
        .with_configs(
            configs
                .iter()
                .map(|&(key, operation, value)| {
                    AlterableConfig::default()
                        .with_name(StrBytes::from_string(key.to_owned()))
                        .with_config_operation(operation)
                        .with_value(value.map(|v| StrBytes::from_string(v.to_owned())))
                })
                .collect(),
        )])
}

#[test]
fn incremental_alter_configs_sets_deletes_and_appends_topic_configs() {
    let (_dir, broker, server) = serve();
    broker
        .create_topic("orders", TopicConfig::default().retention_ms(1000))
        .unwrap();
    let mut client = Client::connect(server.local_addr());
    let default_retention = TopicConfig::default().retention_ms;
    for version in [0, 1] {
        let set = alter(
            "orders",
            &[
                ("segment.bytes", 0, Some("2000000")),
                ("retention.ms", 1, None),
                ("cleanup.policy", 2, Some("compact")),
            ],
        );
        let response = client.call(&set, version);
        assert_eq!(response.responses[0].error_code, 0, "v{version}");
        let config = broker.describe_topic("orders").unwrap().config;
        assert_eq!(config.segment_bytes, 2_000_000);
        assert_eq!(config.retention_ms, default_retention);
        assert_eq!(config.cleanup_policy, CleanupPolicy::CompactAndDelete);
    }
    let response = client.call(
        &alter("orders", &[("cleanup.policy", 3, Some("delete"))]),
        1,
    );
    assert_eq!(response.responses[0].error_code, 0);
    assert_eq!(
        broker
            .describe_topic("orders")
            .unwrap()
            .config
            .cleanup_policy,
        CleanupPolicy::Compact
    );
    // Refused whole: an unknown key, a bad value, a list operation on a number, an
    // unknown topic, a broker resource.
    let before = broker.describe_topic("orders").unwrap().config;
    for (request, code) in [
        (
            alter(
                "orders",
                &[
                    ("segment.bytes", 0, Some("3000000")),
                    ("no.such", 0, Some("1")),
                ],
            ),
            ResponseError::InvalidConfig,
        ),
        (
            alter("orders", &[("retention.ms", 0, Some("soon"))]),
            ResponseError::InvalidConfig,
        ),
        (
            alter("orders", &[("retention.ms", 2, Some("5"))]),
            ResponseError::InvalidConfig,
        ),
        (
            alter("missing", &[("retention.ms", 0, Some("5"))]),
            ResponseError::UnknownTopicOrPartition,
        ),
    ] {
        let response = client.call(&request, 1);
        assert_eq!(response.responses[0].error_code, code.code(), "{request:?}");
        assert!(response.responses[0].error_message.is_some());
    }
    let mut broker_resource = alter("0", &[("log.retention.ms", 0, Some("5"))]);
    broker_resource.resources[0].resource_type = 4;
    let response = client.call(&broker_resource, 1);
    assert_eq!(
        response.responses[0].error_code,
        ResponseError::InvalidRequest.code()
    );
    assert_eq!(broker.describe_topic("orders").unwrap().config, before);
    // validate_only checks and keeps the config as it was.
    let response = client.call(
        &alter("orders", &[("segment.bytes", 0, Some("3000000"))]).with_validate_only(true),
        1,
    );
    assert_eq!(response.responses[0].error_code, 0);
    assert_eq!(broker.describe_topic("orders").unwrap().config, before);
    // What was set is described as the topic's own, with itself as its synonym.
    let described = client.call(
        &DescribeConfigsRequest::default()
            .with_resources(vec![DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("orders"))
                .with_configuration_keys(Some(vec![StrBytes::from_static_str(
                    "segment.bytes",
                )]))])
            .with_include_synonyms(true),
        4,
    );
    let config = &described.results[0].configs[0];
    assert_eq!(config.value.as_deref(), Some("2000000"));
    assert_eq!(config.synonyms.len(), 1);
    assert_eq!(config.synonyms[0].source, 1);
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario: each step depends on the state the one before left"
)]
fn delete_groups_and_offsets_spare_groups_with_members() {
    let (_dir, broker, server) = serve();
    broker
        .create_topic("orders", TopicConfig::default().partitions(2))
        .unwrap();
    broker
        .create_topic("audit", TopicConfig::default())
        .unwrap();
    let p0 = TopicPartition::new("orders", 0);
    let p1 = TopicPartition::new("orders", 1);
    broker
        .commit_offsets("billing", &[(p0.clone(), 3), (p1.clone(), 4)])
        .unwrap();
    broker
        .commit_offsets(
            "active",
            &[(TopicPartition::new("audit", 0), 1), (p0.clone(), 2)],
        )
        .unwrap();
    let member = broker
        .join_group("active", JoinGroup::new(["orders"]))
        .unwrap();
    let mut client = Client::connect(server.local_addr());

    // OffsetDelete: one partition of an idle group.
    let delete_offsets = |group_id: &str, topic: &str, partitions: &[i32]| {
        OffsetDeleteRequest::default()
            .with_group_id(group(group_id))
            .with_topics(vec![OffsetDeleteRequestTopic::default()
                .with_name(name(topic))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|&p| OffsetDeleteRequestPartition::default().with_partition_index(p))
                        .collect(),
                )])
    };
    let response = client.call(&delete_offsets("billing", "orders", &[0, 9]), 0);
    assert_eq!(response.error_code, 0);
    let codes: Vec<i16> = response.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(codes, [0, ResponseError::UnknownTopicOrPartition.code()]);
    assert_eq!(
        broker.committed_offsets("billing").unwrap(),
        [(p1.clone(), 4)]
    );
    // Its last offset gone, the idle group stays, empty, as in Kafka.
    let response = client.call(&delete_offsets("billing", "orders", &[1]), 0);
    assert_eq!(response.topics[0].partitions[0].error_code, 0);
    assert!(broker.groups().contains(&"billing".to_string()));
    assert!(broker
        .describe_group("billing")
        .unwrap()
        .partitions
        .is_empty());
    // In one request: the topic the group's member subscribes to keeps its offsets, the
    // other topic's go.
    let mut both = delete_offsets("active", "orders", &[0]);
    both.topics
        .extend(delete_offsets("active", "audit", &[0]).topics);
    let response = client.call(&both, 0);
    assert_eq!(response.error_code, 0);
    let codes: Vec<(String, i16)> = response
        .topics
        .iter()
        .map(|t| (t.name.to_string(), t.partitions[0].error_code))
        .collect();
    assert_eq!(
        codes,
        [
            (
                "orders".to_string(),
                ResponseError::GroupSubscribedToTopic.code()
            ),
            ("audit".to_string(), 0),
        ]
    );
    assert_eq!(broker.committed_offsets("active").unwrap(), [(p0, 2)]);
    let response = client.call(&delete_offsets("nobody", "orders", &[0]), 0);
    assert_eq!(response.error_code, ResponseError::GroupIdNotFound.code());

    // DeleteGroups: the idle group goes, the one with a member stays, an unknown one is
    // not found.
    for version in [0, 2] {
        let response = client.call(
            &DeleteGroupsRequest::default().with_groups_names(vec![
                group("billing"),
                group("active"),
                group("nobody"),
            ]),
            version,
        );
        let codes: Vec<(String, i16)> = response
            .results
            .iter()
            .map(|r| (r.group_id.to_string(), r.error_code))
            .collect();
        let first = if version == 0 {
            0
        } else {
            ResponseError::GroupIdNotFound.code()
        };
        assert_eq!(
            codes,
            [
                ("billing".to_string(), first),
                ("active".to_string(), ResponseError::NonEmptyGroup.code()),
                ("nobody".to_string(), ResponseError::GroupIdNotFound.code()),
            ],
            "v{version}"
        );
    }
    assert_eq!(broker.groups(), ["active"]);
    // Once its member leaves, it can be deleted.
    member.leave().unwrap();
    let response = client.call(
        &DeleteGroupsRequest::default().with_groups_names(vec![group("active")]),
        2,
    );
    assert_eq!(response.results[0].error_code, 0);
    assert!(broker.groups().is_empty());
    assert!(matches!(
        broker.delete_group("active"),
        Err(strom::Error::UnknownGroup { .. })
    ));
}

#[test]
fn describe_topic_partitions_pages_by_the_partition_limit() {
    let (_dir, broker, server) = serve();
    broker
        .create_topic("b-orders", TopicConfig::default().partitions(3))
        .unwrap();
    broker
        .create_topic("a-audit", TopicConfig::default().partitions(2))
        .unwrap();
    let mut client = Client::connect(server.local_addr());
    // Every topic, in name order, 3 partitions a page.
    let mut seen = Vec::new();
    let mut cursor: Option<Cursor> = None;
    let mut pages = 0;
    loop {
        let response = client.call(
            &DescribeTopicPartitionsRequest::default()
                .with_response_partition_limit(3)
                .with_cursor(cursor.take()),
            0,
        );
        pages += 1;
        for topic in &response.topics {
            assert_eq!(topic.error_code, 0);
            for p in &topic.partitions {
                assert_eq!(p.leader_id, BrokerId(0));
                assert_eq!(p.isr_nodes, [BrokerId(0)]);
                seen.push((topic.name.as_ref().unwrap().to_string(), p.partition_index));
            }
        }
        match response.next_cursor {
            Some(next) => {
                cursor = Some(
                    Cursor::default()
                        .with_topic_name(next.topic_name)
                        .with_partition_index(next.partition_index),
                );
            }
            None => break,
        }
        assert!(pages < 10, "the cursor does not move on: {seen:?}");
    }
    let expected: Vec<(String, i32)> = [("a-audit", 0), ("a-audit", 1), ("b-orders", 0)]
        .into_iter()
        .chain([("b-orders", 1), ("b-orders", 2)])
        .map(|(t, p)| (t.to_string(), p))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(pages, 2);
    // Named topics; an unknown one answers its error.
    let response = client.call(
        &DescribeTopicPartitionsRequest::default()
            .with_topics(vec![
                TopicRequest::default().with_name(name("b-orders")),
                TopicRequest::default().with_name(name("missing")),
            ])
            .with_response_partition_limit(2000),
        0,
    );
    assert_eq!(response.topics.len(), 2);
    let by_name = |n: &str| {
        response
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|name| name.0.as_str() == n))
            .unwrap()
    };
    assert_eq!(by_name("b-orders").partitions.len(), 3);
    assert_eq!(
        by_name("missing").error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert!(response.next_cursor.is_none());
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario: each filter is checked against the same transactions"
)]
fn list_and_describe_transactions() {
    let (_dir, broker, server) = serve();
    broker
        .create_topic("payments", TopicConfig::default().partitions(2))
        .unwrap();
    let open = broker.transactional_producer("payments-open").unwrap();
    open.begin_transaction().unwrap();
    open.send("payments", Record::new("1").partition(1))
        .unwrap();
    open.send("payments", Record::new("2").partition(0))
        .unwrap();
    let idle = broker.transactional_producer("payments-idle").unwrap();
    let mut client = Client::connect(server.local_addr());
    let listed = |client: &mut Client, request: &ListTransactionsRequest, version: i16| {
        let response = client.call(request, version);
        assert_eq!(response.error_code, 0);
        let ids: Vec<(String, String)> = response
            .transaction_states
            .iter()
            .map(|t| {
                (
                    t.transactional_id.to_string(),
                    t.transaction_state.to_string(),
                )
            })
            .collect();
        (ids, response.unknown_state_filters)
    };
    let everything = ListTransactionsRequest::default().with_duration_filter(-1);
    for version in [0, 1] {
        let (ids, _) = listed(&mut client, &everything, version);
        assert_eq!(
            ids,
            [
                ("payments-idle".to_string(), "Empty".to_string()),
                ("payments-open".to_string(), "Ongoing".to_string()),
            ],
            "v{version}"
        );
    }
    let ongoing = ListTransactionsRequest::default()
        .with_state_filters(vec![
            StrBytes::from_static_str("Ongoing"),
            StrBytes::from_static_str("Sleeping"),
        ])
        .with_duration_filter(-1);
    let (ids, unknown) = listed(&mut client, &ongoing, 1);
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].0, "payments-open");
    assert_eq!(unknown, [StrBytes::from_static_str("Sleeping")]);
    let by_producer = ListTransactionsRequest::default()
        .with_producer_id_filters(vec![ProducerId(idle.producer_id())])
        .with_duration_filter(-1);
    assert_eq!(listed(&mut client, &by_producer, 1).0[0].0, "payments-idle");
    // Running for longer than a day: none; the id that never began one passes, as in Kafka.
    let long = ListTransactionsRequest::default().with_duration_filter(86_400_000);
    assert_eq!(
        listed(&mut client, &long, 1).0,
        [("payments-idle".to_string(), "Empty".to_string())]
    );
    // v2: ids the whole of which the pattern matches.
    let pattern = |p: &'static str| {
        ListTransactionsRequest::default()
            .with_duration_filter(-1)
            .with_transactional_id_pattern(Some(StrBytes::from_static_str(p)))
    };
    let (ids, _) = listed(&mut client, &pattern("pay.*-o[a-z]+"), 2);
    assert_eq!(ids, [("payments-open".to_string(), "Ongoing".to_string())]);
    assert!(listed(&mut client, &pattern("payments"), 2).0.is_empty());
    assert_eq!(listed(&mut client, &pattern(""), 2).0.len(), 2);
    let invalid = client.call(&pattern("payments-["), 2);
    assert_eq!(
        invalid.error_code,
        ResponseError::InvalidRegularExpression.code()
    );

    let response = client.call(
        &DescribeTransactionsRequest::default().with_transactional_ids(vec![
            TransactionalId(StrBytes::from_static_str("payments-open")),
            TransactionalId(StrBytes::from_static_str("payments-nobody")),
        ]),
        0,
    );
    let described = &response.transaction_states[0];
    assert_eq!(described.error_code, 0);
    assert_eq!(&*described.transaction_state, "Ongoing");
    assert_eq!(described.producer_id, ProducerId(open.producer_id()));
    assert_eq!(described.producer_epoch, open.epoch());
    assert_eq!(described.transaction_timeout_ms, 60_000);
    assert!(described.transaction_start_time_ms > 0);
    assert_eq!(described.topics.len(), 1);
    assert_eq!(described.topics[0].partitions, [0, 1]);
    assert_eq!(
        response.transaction_states[1].error_code,
        ResponseError::TransactionalIdNotFound.code()
    );
    // Committed: nothing open any more, and Kafka's name for how it ended.
    open.commit_transaction().unwrap();
    let (ids, _) = listed(&mut client, &everything, 1);
    assert_eq!(
        ids,
        [
            ("payments-idle".to_string(), "Empty".to_string()),
            ("payments-open".to_string(), "CompleteCommit".to_string()),
        ]
    );
}

fn replace_configs(
    topic: &str,
    configs: &[(&str, &str)],
    validate_only: bool,
) -> AlterConfigsRequest {
    AlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(vec![alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.to_owned()))
            .with_configs(
                configs
                    .iter()
                    .map(|&(key, value)| {
                        alter_configs_request::AlterableConfig::default()
                            .with_name(StrBytes::from_string(key.to_owned()))
                            .with_value(Some(StrBytes::from_string(value.to_owned())))
                    })
                    .collect(),
            )])
}

#[test]
fn alter_configs_replaces_a_topics_whole_config() {
    let (_dir, broker, server) = serve();
    let original = TopicConfig::default()
        .partitions(2)
        .retention_ms(1000)
        .max_record_bytes(5000);
    broker.create_topic("orders", original.clone()).unwrap();
    let mut client = Client::connect(server.local_addr());
    let defaults = TopicConfig::default();
    for version in [0, 1, 2] {
        // Validated only: nothing changes.
        let checked = client.call(
            &replace_configs("orders", &[("segment.bytes", "2000000")], true),
            version,
        );
        assert_eq!(checked.responses[0].error_code, 0, "v{version}");
        assert_eq!(broker.describe_topic("orders").unwrap().config, original);

        let response = client.call(
            &replace_configs("orders", &[("segment.bytes", "2000000")], false),
            version,
        );
        assert_eq!(response.responses[0].error_code, 0, "v{version}");
        let config = broker.describe_topic("orders").unwrap().config;
        // The key given set, every other one back to its default, the partitions kept.
        assert_eq!(config.segment_bytes, 2_000_000);
        assert_eq!(config.retention_ms, defaults.retention_ms);
        assert_eq!(config.max_record_bytes, defaults.max_record_bytes);
        assert_eq!(config.partitions, 2);
        broker.alter_topic("orders", original.clone()).unwrap();
    }
    let unknown_key = client.call(
        &replace_configs(
            "orders",
            &[("segment.bytes", "2000000"), ("colour", "blue")],
            false,
        ),
        2,
    );
    assert_eq!(
        unknown_key.responses[0].error_code,
        ResponseError::InvalidConfig.code()
    );
    assert_eq!(broker.describe_topic("orders").unwrap().config, original);
    let unknown_topic = client.call(&replace_configs("nowhere", &[], false), 2);
    assert_eq!(
        unknown_topic.responses[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
}

#[test]
fn describe_producers_and_abort_a_transaction_with_a_marker() {
    let (_dir, broker, server) = serve();
    broker
        .create_topic("payments", TopicConfig::default().partitions(2))
        .unwrap();
    let txn = broker.transactional_producer("ledger").unwrap();
    txn.begin_transaction().unwrap();
    txn.send("payments", Record::new("hanging").partition(1))
        .unwrap();
    let mut client = Client::connect(server.local_addr());
    let describe = DescribeProducersRequest::default().with_topics(vec![
        describe_producers_request::TopicRequest::default()
            .with_name(name("payments"))
            .with_partition_indexes(vec![0, 1, 7]),
    ]);
    let response = client.call(&describe, 0);
    let partitions = &response.topics[0].partitions;
    assert_eq!(partitions[0].error_code, 0);
    assert!(partitions[0].active_producers.is_empty());
    assert_eq!(partitions[1].error_code, 0);
    let open = &partitions[1].active_producers[0];
    assert_eq!(open.producer_id, ProducerId(txn.producer_id()));
    assert_eq!(open.producer_epoch, i32::from(txn.epoch()));
    assert_eq!(open.last_sequence, -1);
    assert_eq!(open.coordinator_epoch, -1);
    assert_eq!(open.current_txn_start_offset, 0);
    assert_eq!(
        partitions[2].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );

    let marker = |commit: bool, epoch: i16| {
        WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
            .with_producer_id(ProducerId(txn.producer_id()))
            .with_producer_epoch(epoch)
            .with_transaction_result(commit)
            .with_coordinator_epoch(0)
            .with_topics(vec![WritableTxnMarkerTopic::default()
                .with_name(name("payments"))
                .with_partition_indexes(vec![1])])])
    };
    let code = |response: &kafka_protocol::messages::WriteTxnMarkersResponse| {
        response.markers[0].topics[0].partitions[0].error_code
    };
    // Only aborts, and not for an epoch older than the partition's.
    let commit = client.call(&marker(true, txn.epoch()), 1);
    assert_eq!(code(&commit), ResponseError::InvalidRequest.code());
    let stale = client.call(&marker(false, txn.epoch() - 1), 1);
    assert_eq!(code(&stale), ResponseError::InvalidProducerEpoch.code());
    let tp = TopicPartition::new("payments", 1);
    let last_stable = |broker: &Broker| {
        broker
            .fetch_batches(&tp, 0, 1 << 20, IsolationLevel::ReadCommitted)
            .unwrap()
            .last_stable_offset
    };
    assert_eq!(last_stable(&broker), 0);
    let aborted = client.call(&marker(false, txn.epoch()), 1);
    assert_eq!(code(&aborted), 0);
    assert_eq!(last_stable(&broker), 2);
    let after = client.call(&describe, 0);
    let ended = &after.topics[0].partitions[1].active_producers[0];
    assert_eq!(ended.current_txn_start_offset, -1);
    assert_eq!(ended.coordinator_epoch, 0);
    drop(txn);
}
