//! Consumer groups over the wire: the classic group protocol as Kafka's clients speak it,
//! with strom's groups behind it — remote members beside in-process consumers, committed
//! offsets across a restart.

#![allow(
    clippy::big_endian_bytes,
    reason = "Kafka's wire protocol is big-endian"
)]
#![allow(
    clippy::doc_markdown,
    reason = "Kafka's API names (JoinGroup, EndTxn...)"
)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::Client;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, DescribeGroupsRequest, GroupId,
    HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest,
    OffsetFetchRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use strom::{Broker, ConsumerConfig, OffsetAndMetadata, TopicConfig, TopicPartition};
use strom_kafka::KafkaServer;

const NOT_LEADER: &str = "strom-coordinator";
const REBALANCE_IN_PROGRESS: i16 = 27;
const UNKNOWN_MEMBER_ID: i16 = 25;
const ILLEGAL_GENERATION: i16 = 22;
const GROUP_ID_NOT_FOUND: i16 = 69;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

fn serve(partitions: u32) -> (tempfile::TempDir, Broker, KafkaServer) {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker
        .create_topic("clicks", TopicConfig::default().partitions(partitions))
        .unwrap();
    let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
    (dir, broker, server)
}

/// A consumer's subscription to `clicks` as clients encode it (version 1, with owned
/// partitions).
fn subscription(owned: &[i32]) -> Bytes {
    let mut sub = ConsumerProtocolSubscription::default().with_topics(vec![s("clicks")]);
    if !owned.is_empty() {
        sub = sub.with_owned_partitions(vec![
            kafka_protocol::messages::consumer_protocol_subscription::TopicPartition::default()
                .with_topic(TopicName(s("clicks")))
                .with_partitions(owned.to_vec()),
        ]);
    }
    let mut out = BytesMut::new();
    out.put_i16(1);
    sub.encode(&mut out, 1).unwrap();
    out.freeze()
}

/// A remote member as a client drives it.
struct Member {
    client: Client,
    group: String,
    id: String,
    generation: i32,
}

impl Member {
    fn new(server: &KafkaServer, group: &str) -> Self {
        Self {
            client: Client::connect(server.local_addr()),
            group: group.to_owned(),
            id: String::new(),
            generation: -1,
        }
    }

    /// JoinGroup (v5), offering `protocol`; keeps the id and generation given.
    fn join(&mut self, protocol: &str, owned: &[i32]) {
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(s(&self.group)))
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(30_000)
            .with_member_id(s(&self.id))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(s("unknown-assignor"))
                    .with_metadata(subscription(owned)),
                JoinGroupRequestProtocol::default()
                    .with_name(s(protocol))
                    .with_metadata(subscription(owned)),
            ]);
        let response = self.client.call(&request, 5);
        assert_eq!(response.error_code, 0, "join of {:?}", self.id);
        assert_eq!(response.protocol_name.as_deref(), Some(protocol));
        assert_eq!(response.leader.as_str(), NOT_LEADER);
        assert_ne!(
            response.leader, response.member_id,
            "every client is a follower"
        );
        assert!(response.members.is_empty());
        self.id = response.member_id.to_string();
        self.generation = response.generation_id;
    }

    /// SyncGroup (v5): the partitions of `clicks` assigned.
    fn sync(&mut self) -> BTreeSet<i32> {
        let request = SyncGroupRequest::default()
            .with_group_id(GroupId(s(&self.group)))
            .with_generation_id(self.generation)
            .with_member_id(s(&self.id))
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range")));
        let response = self.client.call(&request, 5);
        assert_eq!(response.error_code, 0);
        assert_eq!(response.protocol_type.as_deref(), Some("consumer"));
        decode_assignment(response.assignment)
    }

    fn heartbeat(&mut self, generation: i32) -> i16 {
        let request = HeartbeatRequest::default()
            .with_group_id(GroupId(s(&self.group)))
            .with_generation_id(generation)
            .with_member_id(s(&self.id));
        self.client.call(&request, 4).error_code
    }

    fn commit(&mut self, generation: i32, member: &str, partition: i32, offset: i64) -> i16 {
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(s(&self.group)))
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(s(member))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("clicks")))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(partition)
                    .with_committed_offset(offset)])]);
        let response = self.client.call(&request, 8);
        response.topics[0].partitions[0].error_code
    }
}

fn decode_assignment(mut bytes: Bytes) -> BTreeSet<i32> {
    let version = bytes.get_i16();
    let assignment = ConsumerProtocolAssignment::decode(&mut bytes, version).unwrap();
    assignment
        .assigned_partitions
        .iter()
        .inspect(|t| assert_eq!(t.topic.as_str(), "clicks"))
        .flat_map(|t| t.partitions.iter().copied())
        .collect()
}

/// The group's committed offsets in `clicks` (OffsetFetch v8, all topics).
fn fetch_committed(client: &mut Client, group: &str) -> Vec<(i32, i64)> {
    let request = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(None), // null: every partition committed
    ]);
    let response = client.call(&request, 8);
    assert_eq!(response.groups[0].error_code, 0);
    response.groups[0]
        .topics
        .iter()
        .filter(|t| t.name.as_str() == "clicks")
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.partition_index, p.committed_offset))
        })
        .collect()
}

#[test]
fn two_remote_members_rebalance_and_split_the_partitions() {
    let (_dir, broker, server) = serve(4);
    let mut a = Member::new(&server, "dashboards");
    let mut b = Member::new(&server, "dashboards");

    a.join("range", &[]);
    assert!(!a.id.is_empty());
    assert_eq!(a.sync(), BTreeSet::from([0, 1, 2, 3]));
    assert_eq!(a.heartbeat(a.generation), 0);

    // A second member: a new generation, which the first learns of at its heartbeat.
    b.join("range", &[]);
    assert!(b.generation > a.generation);
    assert_eq!(a.heartbeat(a.generation), REBALANCE_IN_PROGRESS);
    // An eager client rejoins having let go of everything; both are in one generation.
    a.join("range", &[]);
    assert_eq!(a.generation, b.generation);
    let (mine, theirs) = (a.sync(), b.sync());
    assert_eq!(mine.len(), 2);
    assert_eq!(theirs.len(), 2);
    assert!(mine.is_disjoint(&theirs));
    assert_eq!(
        mine.union(&theirs).copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([0, 1, 2, 3])
    );
    assert_eq!(a.heartbeat(a.generation), 0);
    assert_eq!(b.heartbeat(b.generation), 0);
    assert_eq!(a.heartbeat(a.generation + 5), ILLEGAL_GENERATION);

    // Commits: the member's own partition in its generation; not another's with an old one.
    let own = *mine.iter().next().unwrap();
    let other = *theirs.iter().next().unwrap();
    let id = a.id.clone();
    assert_eq!(a.commit(a.generation, &id, own, 17), 0);
    assert_eq!(
        a.commit(a.generation - 1, &id, other, 3),
        ILLEGAL_GENERATION
    );
    assert_eq!(
        a.commit(a.generation, "consumer-nobody", own, 3),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(fetch_committed(&mut b.client, "dashboards"), [(own, 17)]);

    // ListGroups and DescribeGroups see both members and their assignments.
    let listed = a.client.call(&ListGroupsRequest::default(), 4);
    let group = listed
        .groups
        .iter()
        .find(|g| g.group_id.as_str() == "dashboards")
        .expect("the group is listed");
    assert_eq!(group.group_state.as_str(), "Stable");
    let of_type = |client: &mut Client, kind: &str| {
        let request = ListGroupsRequest::default().with_types_filter(vec![s(kind)]);
        client.call(&request, 5).groups.len()
    };
    assert_eq!(of_type(&mut a.client, "classic"), 1);
    assert_eq!(of_type(&mut a.client, "consumer"), 0, "no KIP-848 groups");
    let describe = |client: &mut Client| {
        let request = DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(s("dashboards")), GroupId(s("nobody"))]);
        client.call(&request, 5)
    };
    let described = describe(&mut a.client);
    assert_eq!(described.groups[0].group_state.as_str(), "Stable");
    assert_eq!(described.groups[0].protocol_data.as_str(), "range");
    let mut by_member: Vec<(String, BTreeSet<i32>)> = described.groups[0]
        .members
        .iter()
        .map(|m| {
            (
                m.member_id.to_string(),
                decode_assignment(m.member_assignment.clone()),
            )
        })
        .collect();
    by_member.sort();
    let mut expected = vec![(a.id.clone(), mine), (b.id.clone(), theirs)];
    expected.sort();
    assert_eq!(by_member, expected);
    assert_eq!(described.groups[1].group_state.as_str(), "Dead");

    // LeaveGroup (v3, a batch of members): the group is empty, its commits stay.
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(s("dashboards")))
        .with_members(vec![
            MemberIdentity::default().with_member_id(s(&a.id)),
            MemberIdentity::default().with_member_id(s(&b.id)),
            MemberIdentity::default().with_member_id(s("consumer-nobody")),
        ]);
    let left = a.client.call(&leave, 3);
    let codes: Vec<i16> = left.members.iter().map(|m| m.error_code).collect();
    assert_eq!(codes, [0, 0, UNKNOWN_MEMBER_ID]);
    assert_eq!(b.heartbeat(b.generation), UNKNOWN_MEMBER_ID);
    assert_eq!(
        describe(&mut a.client).groups[0].group_state.as_str(),
        "Empty"
    );
    assert_eq!(fetch_committed(&mut a.client, "dashboards"), [(own, 17)]);

    server.shutdown().unwrap();
    broker.close().unwrap();
}

#[test]
fn a_remote_member_and_an_in_process_consumer_share_a_group() {
    let (_dir, broker, server) = serve(4);
    let mut remote = Member::new(&server, "billing");
    remote.join("roundrobin", &[]);
    assert_eq!(remote.sync().len(), 4);

    let mut local = broker.consumer(ConsumerConfig::default().group_id("billing"));
    local.subscribe(["clicks"]).unwrap();
    // The in-process consumer's join rebalances the group; the remote member learns of it.
    local.poll(Duration::from_millis(10)).unwrap();
    assert_eq!(remote.heartbeat(remote.generation), REBALANCE_IN_PROGRESS);
    remote.join("roundrobin", &[]);
    let remote_share = remote.sync();
    assert_eq!(remote_share.len(), 2);
    // The in-process consumer takes its share once the remote member let go of it.
    let mut local_share = BTreeSet::new();
    for _ in 0..1000 {
        local.poll(Duration::from_millis(10)).unwrap();
        local_share = local
            .assignment()
            .iter()
            .map(|tp| i32::try_from(tp.partition).unwrap())
            .collect();
        if local_share.len() == 2 {
            break;
        }
    }
    assert_eq!(
        local_share.len(),
        2,
        "the in-process consumer got its share"
    );
    assert!(remote_share.is_disjoint(&local_share));

    // Each sees the other's commits.
    let theirs = *local_share.iter().next().unwrap();
    let mine = *remote_share.iter().next().unwrap();
    let theirs_tp = TopicPartition::new("clicks", u32::try_from(theirs).unwrap());
    local.commit_offsets(&[(theirs_tp.clone(), 5)]).unwrap();
    assert!(fetch_committed(&mut remote.client, "billing").contains(&(theirs, 5)));
    let id = remote.id.clone();
    assert_eq!(remote.commit(remote.generation, &id, mine, 9), 0);
    let mine_tp = TopicPartition::new("clicks", u32::try_from(mine).unwrap());
    assert_eq!(local.committed(&mine_tp).unwrap(), Some(9));

    server.shutdown().unwrap();
    broker.close().unwrap();
}

#[test]
fn committed_offsets_survive_a_server_and_broker_restart() {
    let (dir, broker, server) = serve(2);
    let mut client = Client::connect(server.local_addr());
    // A standalone commit: generation −1, no member.
    let mut outside = Member::new(&server, "mirror");
    assert_eq!(outside.commit(-1, "", 1, 42), 0);
    assert_eq!(
        outside.commit(-1, "", 7, 1),
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    assert_eq!(fetch_committed(&mut client, "mirror"), [(1, 42)]);
    server.shutdown().unwrap();
    broker.close().unwrap();

    let broker = Broker::open(dir.path()).unwrap();
    let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
    let mut client = Client::connect(server.local_addr());
    assert_eq!(fetch_committed(&mut client, "mirror"), [(1, 42)]);
    // The older OffsetFetch shape (v5): named partitions, one never committed (−1).
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(s("mirror")))
        .with_topics(Some(vec![
            kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("clicks")))
                .with_partition_indexes(vec![0, 1]),
        ]));
    let response = client.call(&request, 5);
    let offsets: Vec<(i32, i64)> = response.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset))
        .collect();
    assert_eq!(offsets, [(0, -1), (1, 42)]);
    server.shutdown().unwrap();
    broker.close().unwrap();
}

/// OffsetCommit (v8) of `(partition, offset, metadata)` in `clicks`: each partition's
/// error code.
fn commit_with_metadata(
    client: &mut Client,
    group: &str,
    (generation, member): (i32, &str),
    partitions: &[(i32, i64, Option<&str>)],
) -> Vec<i16> {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s("clicks")))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&(partition, offset, metadata)| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(partition)
                            .with_committed_offset(offset)
                            .with_committed_metadata(metadata.map(s))
                    })
                    .collect(),
            )]);
    let response = client.call(&request, 8);
    response.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect()
}

/// The group's committed offsets and metadata in `clicks` (OffsetFetch v8, all topics).
fn fetch_metadata(client: &mut Client, group: &str) -> Vec<(i32, i64, Option<String>)> {
    let request =
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(None)]);
    let response = client.call(&request, 8);
    assert_eq!(response.groups[0].error_code, 0);
    response.groups[0]
        .topics
        .iter()
        .filter(|t| t.name.as_str() == "clicks")
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    p.partition_index,
                    p.committed_offset,
                    p.metadata.as_ref().map(ToString::to_string),
                )
            })
        })
        .collect()
}

#[test]
fn offset_commit_metadata_is_stored_and_fetched_back() {
    const OFFSET_METADATA_TOO_LARGE: i16 = 12;
    let some = |m: &str| Some(m.to_owned());
    let (dir, broker, server) = serve(3);
    let mut client = Client::connect(server.local_addr());

    // Standalone: metadata kept; a null one is stored as "" (Kafka answers "" for none).
    assert_eq!(
        commit_with_metadata(
            &mut client,
            "mirror",
            (-1, ""),
            &[(0, 42, Some("resume at 9000")), (1, 7, None)]
        ),
        [0, 0]
    );
    assert_eq!(
        fetch_metadata(&mut client, "mirror"),
        [(0, 42, some("resume at 9000")), (1, 7, some(""))]
    );
    // Too long refuses that partition only, as Kafka does; the other is committed.
    let too_long = "m".repeat(4097);
    assert_eq!(
        commit_with_metadata(
            &mut client,
            "mirror",
            (-1, ""),
            &[(0, 43, Some(&too_long)), (1, 8, Some("ok"))]
        ),
        [OFFSET_METADATA_TOO_LARGE, 0]
    );
    assert_eq!(
        fetch_metadata(&mut client, "mirror"),
        [(0, 42, some("resume at 9000")), (1, 8, some("ok"))]
    );
    // The library sees what the protocol committed, and the protocol what it commits.
    assert_eq!(
        broker.committed_offsets_with_metadata("mirror").unwrap()[1],
        (
            TopicPartition::new("clicks", 1),
            OffsetAndMetadata::with_metadata(8, "ok")
        )
    );
    broker
        .commit_offsets("mirror", &[(TopicPartition::new("clicks", 0), 50)])
        .unwrap();
    assert_eq!(
        fetch_metadata(&mut client, "mirror")[0],
        (0, 50, some("")),
        "a commit without metadata replaces it with \"\""
    );

    // A member's commit carries it too.
    let mut member = Member::new(&server, "readers");
    member.join("range", &[]);
    assert_eq!(member.sync(), BTreeSet::from([0, 1, 2]));
    let (generation, id) = (member.generation, member.id.clone());
    assert_eq!(
        commit_with_metadata(
            &mut member.client,
            "readers",
            (generation, &id),
            &[(2, 5, Some("member's"))]
        ),
        [0]
    );
    server.shutdown().unwrap();
    broker.close().unwrap();

    // Durable, and in the older OffsetFetch shape (v5) too.
    let broker = Broker::open(dir.path()).unwrap();
    let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
    let mut client = Client::connect(server.local_addr());
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(s("readers")))
        .with_topics(Some(vec![
            kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("clicks")))
                .with_partition_indexes(vec![0, 2]),
        ]));
    let response = client.call(&request, 5);
    let fetched: Vec<(i32, i64, Option<String>)> = response.topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.committed_offset,
                p.metadata.as_ref().map(ToString::to_string),
            )
        })
        .collect();
    assert_eq!(fetched, [(0, -1, some("")), (2, 5, some("member's"))]);
    server.shutdown().unwrap();
    broker.close().unwrap();
}

/// Found by the Java client's `java_group_commit`: the leader epoch a commit carries (v6+)
/// is answered by OffsetFetch, as Kafka does (the client checks its position against it);
/// a commit without one (−1) replaces it with none, durably.
#[test]
fn the_committed_leader_epoch_is_fetched_back() {
    let (dir, broker, server) = serve(2);
    let mut client = Client::connect(server.local_addr());
    let commit = |client: &mut Client, partition: i32, offset: i64, epoch: i32| {
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(s("epochs")))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("clicks")))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(partition)
                    .with_committed_offset(offset)
                    .with_committed_leader_epoch(epoch)])]);
        let response = client.call(&request, 8);
        assert_eq!(response.topics[0].partitions[0].error_code, 0);
    };
    let fetch = |client: &mut Client, version: i16| -> Vec<(i32, i64, i32)> {
        let request = if version >= 8 {
            OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s("epochs")))
                .with_topics(None)])
        } else {
            OffsetFetchRequest::default()
                .with_group_id(GroupId(s("epochs")))
                .with_topics(None)
        };
        let response = client.call(&request, version);
        let topics = if version >= 8 {
            response.groups[0]
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter())
                .map(|p| {
                    (
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                    )
                })
                .collect()
        } else {
            response
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter())
                .map(|p| {
                    (
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                    )
                })
                .collect()
        };
        topics
    };
    commit(&mut client, 0, 5, 0);
    commit(&mut client, 1, 3, 7);
    assert_eq!(fetch(&mut client, 8), [(0, 5, 0), (1, 3, 7)]);
    commit(&mut client, 0, 2, -1);
    assert_eq!(fetch(&mut client, 8), [(0, 2, -1), (1, 3, 7)]);
    assert_eq!(
        broker.committed_offsets_with_metadata("epochs").unwrap()[1],
        (
            TopicPartition::new("clicks", 1),
            OffsetAndMetadata::new(3).with_leader_epoch(Some(7))
        )
    );
    server.shutdown().unwrap();
    broker.close().unwrap();

    let broker = Broker::open(dir.path()).unwrap();
    let server = KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
    let mut client = Client::connect(server.local_addr());
    assert_eq!(fetch(&mut client, 7), [(0, 2, -1), (1, 3, 7)]);
    server.shutdown().unwrap();
    broker.close().unwrap();
}

#[test]
fn a_session_timeout_outside_kafkas_bounds_is_refused() {
    let (_dir, broker, server) = serve(1);
    let mut client = Client::connect(server.local_addr());
    for (timeout, code) in [(10, 26), (1_800_001, 26), (6_000, 0)] {
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(s("brief")))
            .with_session_timeout_ms(timeout)
            .with_rebalance_timeout_ms(30_000)
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(subscription(&[]))]);
        assert_eq!(client.call(&request, 5).error_code, code, "{timeout} ms");
    }
    server.shutdown().unwrap();
    broker.close().unwrap();
}

#[test]
fn a_sync_group_waits_until_the_partitions_are_let_go_of() {
    let (_dir, broker, server) = serve(4);
    let mut a = Member::new(&server, "waiting");
    a.join("range", &[]);
    assert_eq!(a.sync().len(), 4);
    let mut b = Member::new(&server, "waiting");
    b.join("range", &[]);
    // B's share is still A's: its SyncGroup is answered only once A let go of it, at the
    // rejoin below, which this thread makes without waiting for B.
    let waiting = std::thread::spawn(move || {
        let share = b.sync();
        (b, share)
    });
    assert_eq!(a.heartbeat(a.generation), REBALANCE_IN_PROGRESS);
    a.join("range", &[]);
    let mine = a.sync();
    let (b, theirs) = waiting.join().unwrap();
    assert_eq!(b.generation, a.generation);
    assert_eq!((mine.len(), theirs.len()), (2, 2));
    assert!(mine.is_disjoint(&theirs));
    server.shutdown().unwrap();
    broker.close().unwrap();
}

/// Found by the Java client's differential scenarios (java_group_offsets): Admin's
/// alterConsumerGroupOffsets, a commit with no member and generation -1, must not move a
/// live group's offsets under its members; Kafka refuses it with UNKNOWN_MEMBER_ID and takes
/// it once the group is empty.
#[test]
fn a_commit_from_outside_a_live_group_is_refused() {
    let (_dir, _broker, server) = serve(2);
    let mut member = Member::new(&server, "ledger");
    member.join("range", &[]);
    assert_eq!(member.sync(), BTreeSet::from([0, 1]));
    let generation = member.generation;
    let id = member.id.clone();
    assert_eq!(member.commit(generation, &id, 0, 5), 0);

    let mut admin = Client::connect(server.local_addr());
    let outside = commit_with_metadata(&mut admin, "ledger", (-1, ""), &[(0, 1, None)]);
    assert_eq!(outside, vec![UNKNOWN_MEMBER_ID]);
    assert_eq!(fetch_committed(&mut admin, "ledger"), vec![(0, 5)]);

    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(s("ledger")))
        .with_members(vec![MemberIdentity::default().with_member_id(s(&id))]);
    assert_eq!(member.client.call(&leave, 3).members[0].error_code, 0);
    let empty = commit_with_metadata(&mut admin, "ledger", (-1, ""), &[(0, 1, None)]);
    assert_eq!(empty, vec![0]);
    assert_eq!(fetch_committed(&mut admin, "ledger"), vec![(0, 1)]);
}

/// Found by the Java client's differential scenarios (java_group_admin): a group that only
/// had offsets committed for it has no protocol type (Kafka's clients call it a simple
/// consumer group), one a consumer joined says "consumer" and names its members' client id
/// and host, and from DescribeGroups v6 an unknown group is GROUP_ID_NOT_FOUND rather than
/// an error-free "Dead", as Kafka answers.
#[test]
fn groups_are_described_with_their_protocol_type_and_unknown_ones_not_found() {
    let (_dir, broker, server) = serve(2);
    broker
        .commit_offsets("ledger", &[(TopicPartition::new("clicks", 0), 3)])
        .unwrap();
    let mut member = Member::new(&server, "dashboards");
    member.join("range", &[]);
    member.sync();

    let mut admin = Client::connect(server.local_addr());
    let listed = admin.call(&ListGroupsRequest::default(), 5);
    let mut types: Vec<(String, String)> = listed
        .groups
        .iter()
        .map(|g| (g.group_id.to_string(), g.protocol_type.to_string()))
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            ("dashboards".to_owned(), "consumer".to_owned()),
            ("ledger".to_owned(), String::new())
        ]
    );
    let groups = vec![
        GroupId(s("ledger")),
        GroupId(s("dashboards")),
        GroupId(s("nobody")),
    ];
    let v6 = admin.call(
        &DescribeGroupsRequest::default().with_groups(groups.clone()),
        6,
    );
    let seen: Vec<(&str, &str, i16)> = v6
        .groups
        .iter()
        .map(|g| {
            (
                g.group_state.as_str(),
                g.protocol_type.as_str(),
                g.error_code,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("Empty", "", 0),
            ("Stable", "consumer", 0),
            ("Dead", "", GROUP_ID_NOT_FOUND)
        ]
    );
    // The member as it joined: its request header's client id and its address, written as
    // Kafka writes it.
    let joined = &v6.groups[1].members[0];
    assert_eq!(joined.client_id.as_str(), "strom-kafka-tests");
    assert_eq!(joined.client_host.as_str(), "/127.0.0.1");
    let v5 = admin.call(&DescribeGroupsRequest::default().with_groups(groups), 5);
    assert_eq!(v5.groups[2].group_state.as_str(), "Dead");
    assert_eq!(v5.groups[2].error_code, 0);
}
