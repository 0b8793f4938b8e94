//! Transactions over the wire: InitProducerId with a transactional id, AddPartitionsToTxn,
//! AddOffsetsToTxn, TxnOffsetCommit and EndTxn, fencing and the error codes Kafka's clients
//! act on.

#![allow(
    clippy::big_endian_bytes,
    reason = "Kafka's wire protocol is big-endian"
)]
#![allow(
    clippy::doc_markdown,
    reason = "Kafka's API names (JoinGroup, EndTxn...)"
)]

mod common;

use common::Client;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, GroupId,
    InitProducerIdRequest, OffsetFetchRequest, ProducerId, TopicName, TransactionalId,
    TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;
use strom::{Broker, ConsumerConfig, TopicConfig, TopicPartition};
use strom_kafka::KafkaServer;

const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const INVALID_TXN_STATE: i16 = 48;
const PRODUCER_FENCED: i16 = 90;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const OPERATION_NOT_ATTEMPTED: i16 = 55;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

/// A transactional client's identity, as InitProducerId gave it.
struct Txn {
    id: &'static str,
    producer_id: i64,
    epoch: i16,
}

fn init(client: &mut Client, id: &'static str) -> Txn {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s(id))))
        .with_transaction_timeout_ms(60_000);
    let response = client.call(&request, 3);
    assert_eq!(response.error_code, 0);
    Txn {
        id,
        producer_id: response.producer_id.0,
        epoch: response.producer_epoch,
    }
}

/// AddPartitionsToTxn (v3): each partition's error code.
fn add_partitions(client: &mut Client, txn: &Txn, topic: &str, partitions: &[i32]) -> Vec<i16> {
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(txn.id)))
        .with_v3_and_below_producer_id(ProducerId(txn.producer_id))
        .with_v3_and_below_producer_epoch(txn.epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(partitions.to_vec())]);
    let response = client.call(&request, 3);
    response.results_by_topic_v3_and_below[0]
        .results_by_partition
        .iter()
        .map(|r| r.partition_error_code)
        .collect()
}

fn add_offsets(client: &mut Client, txn: &Txn, group: &str) -> i16 {
    let request = AddOffsetsToTxnRequest::default()
        .with_transactional_id(TransactionalId(s(txn.id)))
        .with_producer_id(ProducerId(txn.producer_id))
        .with_producer_epoch(txn.epoch)
        .with_group_id(GroupId(s(group)));
    client.call(&request, 3).error_code
}

fn txn_offset_commit(client: &mut Client, txn: &Txn, group: &str, offset: i64) -> i16 {
    let request = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s(txn.id)))
        .with_group_id(GroupId(s(group)))
        .with_producer_id(ProducerId(txn.producer_id))
        .with_producer_epoch(txn.epoch)
        .with_generation_id(-1)
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(TopicName(s("orders")))
            .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)])]);
    client.call(&request, 3).topics[0].partitions[0].error_code
}

fn end(client: &mut Client, txn: &Txn, commit: bool, version: i16) -> i16 {
    let request = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(txn.id)))
        .with_producer_id(ProducerId(txn.producer_id))
        .with_producer_epoch(txn.epoch)
        .with_committed(commit);
    client.call(&request, version).error_code
}

#[test]
fn offsets_sent_to_a_transaction_commit_with_it_and_vanish_with_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker
        .create_topic("orders", TopicConfig::default().partitions(2))
        .unwrap();
    let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
    let mut client = Client::connect(server.local_addr());
    let txn = init(&mut client, "order-processor");
    assert!(txn.producer_id >= 0);
    let tp = TopicPartition::new("orders", 0);
    let committed = || {
        broker
            .consumer(ConsumerConfig::default().group_id("shipping"))
            .committed(&tp)
            .unwrap()
    };

    // Nothing open yet: an EndTxn has nothing to commit.
    assert_eq!(end(&mut client, &txn, true, 3), INVALID_TXN_STATE);

    // Aborted: the offsets are never the group's.
    assert_eq!(add_partitions(&mut client, &txn, "orders", &[0, 1]), [0, 0]);
    assert_eq!(add_offsets(&mut client, &txn, "shipping"), 0);
    assert_eq!(txn_offset_commit(&mut client, &txn, "shipping", 11), 0);
    assert_eq!(committed(), None, "not before the transaction commits");
    assert_eq!(end(&mut client, &txn, false, 3), 0);
    assert_eq!(committed(), None);

    // Committed: they are, at once.
    assert_eq!(add_offsets(&mut client, &txn, "shipping"), 0);
    assert_eq!(txn_offset_commit(&mut client, &txn, "shipping", 12), 0);
    assert_eq!(end(&mut client, &txn, true, 3), 0);
    assert_eq!(committed(), Some(12));

    // A partition that does not exist: none is added, it says why, the others were not tried.
    assert_eq!(
        add_partitions(&mut client, &txn, "orders", &[1, 9]),
        [OPERATION_NOT_ATTEMPTED, UNKNOWN_TOPIC_OR_PARTITION]
    );

    server.shutdown().unwrap();
    broker.close().unwrap();
}

#[test]
fn a_second_init_producer_id_fences_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker
        .create_topic("orders", TopicConfig::default())
        .unwrap();
    let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
    let mut old_client = Client::connect(server.local_addr());
    let mut new_client = Client::connect(server.local_addr());

    let old = init(&mut old_client, "order-processor");
    assert_eq!(add_partitions(&mut old_client, &old, "orders", &[0]), [0]);
    let new = init(&mut new_client, "order-processor");
    assert_eq!(new.producer_id, old.producer_id);
    assert!(new.epoch > old.epoch);

    // Its retry of InitProducerId with its old epoch does not fence the newer producer.
    let retry = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s(old.id))))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(old.producer_id))
        .with_producer_epoch(old.epoch);
    assert_eq!(old_client.call(&retry, 4).error_code, PRODUCER_FENCED);
    assert_eq!(
        old_client.call(&retry, 3).error_code,
        INVALID_PRODUCER_EPOCH
    );

    // The zombie is told it is fenced, in each version's words.
    assert_eq!(
        add_partitions(&mut old_client, &old, "orders", &[0]),
        [PRODUCER_FENCED]
    );
    assert_eq!(end(&mut old_client, &old, true, 3), PRODUCER_FENCED);
    assert_eq!(end(&mut old_client, &old, true, 1), INVALID_PRODUCER_EPOCH);
    // The transaction it left open was aborted: the new producer starts clean.
    assert_eq!(end(&mut new_client, &new, true, 3), INVALID_TXN_STATE);
    assert_eq!(add_partitions(&mut new_client, &new, "orders", &[0]), [0]);
    assert_eq!(end(&mut new_client, &new, true, 3), 0);
    // The current producer retrying with its own id and epoch gets the next epoch.
    let bump = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s(new.id))))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(new.producer_id))
        .with_producer_epoch(new.epoch);
    let bumped = new_client.call(&bump, 4);
    assert_eq!(bumped.error_code, 0);
    assert!(bumped.producer_epoch > new.epoch);
    let new = Txn {
        epoch: bumped.producer_epoch,
        ..new
    };

    // An id no InitProducerId made, or another producer id.
    let stranger = Txn {
        id: "nobody",
        producer_id: new.producer_id,
        epoch: 0,
    };
    assert_eq!(
        add_partitions(&mut new_client, &stranger, "orders", &[0]),
        [INVALID_PRODUCER_ID_MAPPING]
    );
    let wrong_id = Txn {
        id: new.id,
        producer_id: new.producer_id + 1000,
        epoch: new.epoch,
    };
    assert_eq!(
        end(&mut new_client, &wrong_id, true, 3),
        INVALID_PRODUCER_ID_MAPPING
    );

    server.shutdown().unwrap();
    broker.close().unwrap();
}

/// TxnOffsetCommit (v3) of `(partition, offset, metadata, leader epoch)` in `orders`: each
/// partition's error code.
fn txn_offset_commit_tagged(
    client: &mut Client,
    txn: &Txn,
    group: &str,
    partitions: &[(i32, i64, &str, i32)],
) -> Vec<i16> {
    let request = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s(txn.id)))
        .with_group_id(GroupId(s(group)))
        .with_producer_id(ProducerId(txn.producer_id))
        .with_producer_epoch(txn.epoch)
        .with_generation_id(-1)
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(TopicName(s("orders")))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&(partition, offset, metadata, epoch)| {
                        TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(partition)
                            .with_committed_offset(offset)
                            .with_committed_metadata(Some(s(metadata)))
                            .with_committed_leader_epoch(epoch)
                    })
                    .collect(),
            )]);
    client.call(&request, 3).topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect()
}

/// OffsetFetch (v8) of `orders` 0 and 1 for `group`: each partition's (offset, metadata,
/// leader epoch, error code).
fn fetch_offsets(
    client: &mut Client,
    group: &str,
    require_stable: bool,
) -> Vec<(i64, String, i32, i16)> {
    let request = OffsetFetchRequest::default()
        .with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TopicName(s("orders")))
                .with_partition_indexes(vec![0, 1])]))])
        .with_require_stable(require_stable);
    let response = client.call(&request, 8);
    assert_eq!(response.groups[0].error_code, 0);
    response.groups[0].topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.committed_offset,
                p.metadata
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                p.committed_leader_epoch,
                p.error_code,
            )
        })
        .collect()
}

/// Found by the Java client's `java_txn_offsets`: the metadata and leader epoch sent with a
/// transaction's offsets are the group's with them once it commits, durably, where they
/// were dropped; metadata too long is refused for its partition alone; and until the
/// transaction ends, a fetch requiring stable offsets is told they are unstable.
#[test]
fn a_transactions_offsets_keep_their_metadata_and_are_unstable_until_it_ends() {
    const OFFSET_METADATA_TOO_LARGE: i16 = 12;
    const UNSTABLE_OFFSET_COMMIT: i16 = 88;
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker
        .create_topic("orders", TopicConfig::default().partitions(2))
        .unwrap();
    let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
    let mut client = Client::connect(server.local_addr());
    let txn = init(&mut client, "tagger");
    assert_eq!(add_offsets(&mut client, &txn, "tagged"), 0);
    let too_long = "m".repeat(4097);
    assert_eq!(
        txn_offset_commit_tagged(
            &mut client,
            &txn,
            "tagged",
            &[(0, 2, "in txn", 4), (1, 3, &too_long, -1)]
        ),
        [0, OFFSET_METADATA_TOO_LARGE]
    );
    // While the transaction is open its offsets are unstable to a fetch that requires stable
    // offsets (Kafka's UNSTABLE_OFFSET_COMMIT, KIP-447); the partition it holds none for,
    // and a fetch that does not require them, are answered as they stand.
    let none = (-1, String::new(), -1, 0);
    assert_eq!(
        fetch_offsets(&mut client, "tagged", true),
        [
            (-1, String::new(), -1, UNSTABLE_OFFSET_COMMIT),
            none.clone()
        ]
    );
    assert_eq!(
        fetch_offsets(&mut client, "tagged", false),
        [none.clone(), none.clone()]
    );
    assert_eq!(end(&mut client, &txn, true, 3), 0);
    let expected = [(2, "in txn".to_owned(), 4, 0), none];
    assert_eq!(fetch_offsets(&mut client, "tagged", true), expected);
    // An aborted transaction's offsets are unstable until the abort, then gone.
    assert_eq!(add_offsets(&mut client, &txn, "tagged"), 0);
    assert_eq!(
        txn_offset_commit_tagged(&mut client, &txn, "tagged", &[(0, 9, "dropped", 5)]),
        [0]
    );
    assert_eq!(
        fetch_offsets(&mut client, "tagged", true)[0].3,
        UNSTABLE_OFFSET_COMMIT
    );
    assert_eq!(fetch_offsets(&mut client, "tagged", false), expected);
    assert_eq!(end(&mut client, &txn, false, 3), 0);
    assert_eq!(fetch_offsets(&mut client, "tagged", true), expected);
    server.shutdown().unwrap();
    broker.close().unwrap();

    // Held by the transaction log, and applied again at open.
    let broker = Broker::open(dir.path()).unwrap();
    let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
    let mut client = Client::connect(server.local_addr());
    assert_eq!(fetch_offsets(&mut client, "tagged", false), expected);
    server.shutdown().unwrap();
    broker.close().unwrap();
}
