//! Consumer groups: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
//! ListGroups and DescribeGroups, over strom's own groups.
//!
//! Every remote consumer is a member of the strom group of its `group_id`, beside the
//! in-process consumers of that id, and never the group's leader: strom's assignor computes
//! every member's partitions, so the JoinGroup response names a leader that is no client
//! (every client is a follower, sending an empty SyncGroup) and SyncGroup answers with the
//! member's share as strom assigned it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, DescribeGroupsRequest,
    DescribeGroupsResponse, GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest,
    ListGroupsResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::ResponseError;
use strom::{AssignmentStrategy, JoinGroup, OffsetAndMetadata, TopicPartition};

use super::{decode, encode, error_code, RequestError};
use crate::bounds::{Checked, Walk};
use crate::server::Shared;

/// The leader every JoinGroup response names: no client's member id, so that every client
/// is a follower and none computes an assignment.
pub(crate) const LEADER: &str = "strom-coordinator";

/// The only protocol type served: Kafka's consumers.
const CONSUMER: &str = "consumer";

/// The group type of every group (ListGroups v5): Kafka's classic group protocol.
const CLASSIC: &str = "classic";

/// The assignors a client may offer that strom's own stand for, in Kafka's names.
const STRATEGIES: &[(&str, AssignmentStrategy)] = &[
    ("range", AssignmentStrategy::Range),
    ("roundrobin", AssignmentStrategy::RoundRobin),
    ("cooperative-sticky", AssignmentStrategy::CooperativeSticky),
];

/// The session timeouts a member may ask for, in milliseconds (Kafka's defaults).
const SESSION_TIMEOUT_MS: std::ops::RangeInclusive<i32> = 6_000..=1_800_000;

/// How often a SyncGroup waiting for partitions still held elsewhere asks again.
const SYNC_RETRY: Duration = Duration::from_millis(5);

/// Kafka's default rebalance timeout (the consumer's `max.poll.interval.ms`), for a
/// JoinGroup with a negative one.
const DEFAULT_REBALANCE_TIMEOUT: Duration = Duration::from_secs(300);

/// At most this many members' join details are remembered; past it the oldest are forgotten
/// and their SyncGroup does not wait.
const MAX_SESSIONS: usize = 65_536;

/// What a member's JoinGroup said that its later requests need.
#[derive(Debug, Clone)]
struct Session {
    rebalance_timeout: Duration,
    /// The version of its subscription, which its assignment is encoded in.
    version: i16,
    protocol: &'static str,
    joined: Instant,
    /// Who joined, as DescribeGroups lists the member: the client id of its request header
    /// and its address as Kafka writes it (`/127.0.0.1`).
    client: Client,
}

/// The client behind a request: its header's client id and the connection's address.
#[derive(Debug, Clone, Default)]
pub(crate) struct Client {
    pub(crate) client_id: String,
    pub(crate) host: String,
}

/// The join details of the members of every group, by group and member id.
#[derive(Debug, Default)]
pub(crate) struct Sessions(Mutex<HashMap<(String, String), Session>>);

impl Sessions {
    fn remember(&self, group: &str, member: &str, session: Session) {
        let mut sessions = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if sessions.len() >= MAX_SESSIONS {
            // Members that left without a LeaveGroup (expired) are never removed otherwise.
            let oldest = sessions
                .iter()
                .min_by_key(|(_, s)| s.joined)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                sessions.remove(&oldest);
            }
        }
        sessions.insert((group.to_owned(), member.to_owned()), session);
    }

    fn get(&self, group: &str, member: &str) -> Option<Session> {
        let sessions = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        sessions
            .get(&(group.to_owned(), member.to_owned()))
            .cloned()
    }

    fn forget(&self, group: &str, member: &str) {
        let mut sessions = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.remove(&(group.to_owned(), member.to_owned()));
    }

    /// The protocol (assignor name) the group's members joined with.
    fn protocol(&self, group: &str) -> Option<&'static str> {
        let sessions = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        sessions
            .iter()
            .find(|((g, _), _)| g == group)
            .map(|(_, s)| s.protocol)
    }
}

/// The protocol's error code for a refused group call.
fn group_error(e: &strom::Error) -> i16 {
    match e {
        strom::Error::Membership { kind, .. } => kind.kafka_code(),
        strom::Error::InvalidConfig { .. } => ResponseError::InvalidGroupId.code(),
        strom::Error::Closed => ResponseError::CoordinatorNotAvailable.code(),
        _ => error_code(e),
    }
}

/// A generation as the protocol carries it; `None` for a negative one.
fn generation(id: i32) -> Option<u64> {
    u64::try_from(id).ok()
}

/// A generation as the protocol carries it, saturated.
fn generation_id(generation: u64) -> i32 {
    i32::try_from(generation).unwrap_or(i32::MAX)
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

// ---------------------------------------------------------------------------------------
// JoinGroup

pub(super) fn check_join(walk: &mut Walk<'_>, version: i16) -> Checked {
    walk.string()?; // group id
    walk.i32()?; // session timeout
    if version >= 1 {
        walk.i32()?; // rebalance timeout
    }
    walk.string()?; // member id
    if version >= 5 {
        walk.string()?; // group instance id
    }
    walk.string()?; // protocol type
    walk.array(|protocol| {
        protocol.string()?;
        protocol.bytes()?;
        protocol.tags()
    })?;
    if version >= 8 {
        walk.string()?; // reason
    }
    walk.tags()
}

/// Walks an embedded subscription of `version` (never flexible).
fn check_subscription(walk: &mut Walk<'_>, version: i16) -> Checked {
    walk.array(Walk::string)?;
    walk.bytes()?;
    if version >= 1 {
        walk.array(|owned| {
            owned.string()?;
            owned.array(Walk::i32)
        })?;
    }
    if version >= 2 {
        walk.i32()?;
    }
    if version >= 3 {
        walk.string()?;
    }
    Ok(())
}

/// A member's subscription (its version, then the structure), as a consumer encodes it in
/// its protocol metadata; `None` when it is not one.
fn subscription(metadata: &Bytes) -> Option<(i16, ConsumerProtocolSubscription)> {
    let mut buf = metadata.clone();
    if buf.len() < 2 {
        return None;
    }
    let version = buf.get_i16();
    if version < 0 {
        return None;
    }
    // The consumer protocol is forward compatible: a newer version is read as the newest
    // known, its extra fields at the end ignored.
    let known = version.min(3);
    check_subscription(&mut Walk::new(&buf, false), known).ok()?;
    let decoded = ConsumerProtocolSubscription::decode(&mut buf, known).ok()?;
    Some((known, decoded))
}

pub(super) fn join(shared: &Shared, version: i16, body: Bytes) -> Result<BytesMut, RequestError> {
    join_from(shared, version, body, Client::default())
}

/// JoinGroup from `client`, whom DescribeGroups then names.
pub(super) fn join_from(
    shared: &Shared,
    version: i16,
    body: Bytes,
    client: Client,
) -> Result<BytesMut, RequestError> {
    let request: JoinGroupRequest = decode(body, version)?;
    let refuse = |error: ResponseError| {
        let response = JoinGroupResponse::default()
            .with_error_code(error.code())
            .with_generation_id(-1)
            .with_member_id(request.member_id.clone());
        encode(&response, version)
    };
    let group_id = request.group_id.0.as_str();
    if group_id.is_empty() {
        return refuse(ResponseError::InvalidGroupId);
    }
    if request.protocol_type.as_str() != CONSUMER {
        return refuse(ResponseError::InconsistentGroupProtocol);
    }
    // The first assignor the client offers (in its order of preference) that strom has.
    let chosen = request.protocols.iter().find_map(|offered| {
        STRATEGIES
            .iter()
            .find(|(name, _)| *name == offered.name.as_str())
            .map(|&(name, strategy)| (name, strategy, &offered.metadata))
    });
    let Some((protocol, strategy, metadata)) = chosen else {
        return refuse(ResponseError::InconsistentGroupProtocol);
    };
    let Some((subscription_version, subscription)) = subscription(metadata) else {
        return refuse(ResponseError::InconsistentGroupProtocol);
    };
    let owned = subscription.owned_partitions.iter().flat_map(|owned| {
        owned.partitions.iter().filter_map(|&p| {
            u32::try_from(p)
                .ok()
                .map(|p| TopicPartition::new(owned.topic.0.as_str(), p))
        })
    });
    // Kafka's group.min.session.timeout.ms and group.max.session.timeout.ms defaults: a
    // shorter session would expire between a client's heartbeats.
    if !SESSION_TIMEOUT_MS.contains(&request.session_timeout_ms) {
        return refuse(ResponseError::InvalidSessionTimeout);
    }
    let session_timeout =
        Duration::from_millis(u64::from(request.session_timeout_ms.unsigned_abs()));
    let mut join = JoinGroup::new(subscription.topics.iter().map(|t| t.as_str().to_owned()))
        .strategy(strategy)
        .owned(owned.collect::<Vec<_>>())
        .session_timeout(session_timeout);
    if !request.member_id.is_empty() {
        join = join.member_id(request.member_id.as_str());
    }
    // A new member gets its id and joins in one round trip: Kafka's MEMBER_ID_REQUIRED
    // exchange (v4+) is optional for the clients, which take the id of a successful join.
    let member = match shared.broker.join_group(group_id, join) {
        Ok(member) => member,
        Err(e) => {
            let response = JoinGroupResponse::default()
                .with_error_code(group_error(&e))
                .with_generation_id(-1)
                .with_member_id(request.member_id.clone());
            return encode(&response, version);
        }
    };
    let rebalance_timeout = if version >= 1 {
        u64::try_from(request.rebalance_timeout_ms)
            .map_or(DEFAULT_REBALANCE_TIMEOUT, Duration::from_millis)
    } else {
        u64::try_from(request.session_timeout_ms)
            .map_or(DEFAULT_REBALANCE_TIMEOUT, Duration::from_millis)
    };
    shared.groups.remember(
        group_id,
        member.member_id(),
        Session {
            rebalance_timeout,
            version: subscription_version,
            protocol,
            joined: Instant::now(),
            client,
        },
    );
    let mut response = JoinGroupResponse::default()
        .with_generation_id(generation_id(member.generation()))
        .with_protocol_name(Some(str_bytes(protocol)))
        .with_leader(str_bytes(LEADER))
        .with_member_id(str_bytes(member.member_id()));
    if version >= 7 {
        response = response.with_protocol_type(Some(str_bytes(CONSUMER)));
    }
    encode(&response, version)
}

// ---------------------------------------------------------------------------------------
// SyncGroup

pub(super) fn check_sync(walk: &mut Walk<'_>, version: i16) -> Checked {
    walk.string()?; // group id
    walk.i32()?; // generation
    walk.string()?; // member id
    if version >= 3 {
        walk.string()?; // group instance id
    }
    if version >= 5 {
        walk.string()?; // protocol type
        walk.string()?; // protocol name
    }
    walk.array(|assignment| {
        assignment.string()?;
        assignment.bytes()?;
        assignment.tags()
    })?;
    walk.tags()
}

/// A member's partitions as a consumer reads them in its SyncGroup response: the
/// assignment's version, then the structure.
fn encode_assignment(partitions: &[TopicPartition], version: i16) -> Result<Bytes, RequestError> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        topics
            .entry(tp.topic.as_str())
            .or_default()
            .push(i32::try_from(tp.partition).unwrap_or(i32::MAX));
    }
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
        topics
            .into_iter()
            .map(|(topic, partitions)| {
                AssignedTopic::default()
                    .with_topic(TopicName(str_bytes(topic)))
                    .with_partitions(partitions)
            })
            .collect(),
    );
    let mut out = BytesMut::new();
    out.put_i16(version);
    assignment
        .encode(&mut out, version)
        .map_err(|e| RequestError(format!("a consumer assignment cannot be encoded: {e}")))?;
    Ok(out.freeze())
}

pub(super) fn sync(shared: &Shared, version: i16, body: Bytes) -> Result<BytesMut, RequestError> {
    let request: SyncGroupRequest = decode(body, version)?;
    let group_id = request.group_id.0.as_str();
    let member_id = request.member_id.as_str();
    let answer = |error: i16, assignment: Bytes| {
        let mut response = SyncGroupResponse::default()
            .with_error_code(error)
            .with_assignment(assignment);
        if version >= 5 {
            response = response
                .with_protocol_type(request.protocol_type.clone())
                .with_protocol_name(request.protocol_name.clone());
        }
        encode(&response, version)
    };
    let member = match shared.broker.group_member(group_id, member_id) {
        Ok(member) => member,
        Err(e) => return answer(group_error(&e), Bytes::new()),
    };
    if generation(request.generation_id) != Some(member.generation()) {
        return answer(ResponseError::IllegalGeneration.code(), Bytes::new());
    }
    let session = shared.groups.get(group_id, member_id);
    // A member whose join is forgotten (or made through another server) is not waited
    // for: it learns of the rebalance and joins again.
    let (timeout, assignment_version) =
        session.map_or((Duration::ZERO, 0), |s| (s.rebalance_timeout, s.version));
    // A partition moves only once its previous owner let go of it (an in-process consumer
    // at its next poll, a remote one at its rejoin): ask again until then, within the
    // rebalance timeout, as Kafka's SyncGroup waits for the leader's assignment.
    let deadline = Instant::now() + timeout;
    loop {
        match member.sync() {
            Ok(Some(assigned)) => {
                let bytes = encode_assignment(&assigned.partitions, assignment_version)?;
                return answer(0, bytes);
            }
            Ok(None) if Instant::now() < deadline && !*shared.stopped.borrow() => {
                std::thread::sleep(SYNC_RETRY);
            }
            Ok(None) => return answer(ResponseError::RebalanceInProgress.code(), Bytes::new()),
            Err(e) => return answer(group_error(&e), Bytes::new()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Heartbeat and LeaveGroup

pub(super) fn check_heartbeat(walk: &mut Walk<'_>, version: i16) -> Checked {
    walk.string()?;
    walk.i32()?;
    walk.string()?;
    if version >= 3 {
        walk.string()?;
    }
    walk.tags()
}

pub(super) fn heartbeat(
    shared: &Shared,
    version: i16,
    body: Bytes,
) -> Result<BytesMut, RequestError> {
    let request: HeartbeatRequest = decode(body, version)?;
    let error = match (
        shared
            .broker
            .group_member(request.group_id.0.as_str(), request.member_id.as_str()),
        generation(request.generation_id),
    ) {
        (Err(e), _) => group_error(&e),
        (Ok(_), None) => ResponseError::IllegalGeneration.code(),
        (Ok(member), Some(generation)) => match member.heartbeat(generation) {
            Ok(()) => 0,
            Err(e) => group_error(&e),
        },
    };
    encode(
        &HeartbeatResponse::default().with_error_code(error),
        version,
    )
}

pub(super) fn check_leave(walk: &mut Walk<'_>, version: i16) -> Checked {
    walk.string()?;
    if version <= 2 {
        walk.string()?;
    } else {
        walk.array(|member| {
            member.string()?;
            member.string()?;
            if version >= 5 {
                member.string()?;
            }
            member.tags()
        })?;
    }
    walk.tags()
}

/// Removes `member_id` from `group_id`; the error code.
fn leave_one(shared: &Shared, group_id: &str, member_id: &str) -> i16 {
    let left = shared
        .broker
        .group_member(group_id, member_id)
        .and_then(|member| member.leave());
    shared.groups.forget(group_id, member_id);
    match left {
        Ok(()) => 0,
        Err(e) => group_error(&e),
    }
}

pub(super) fn leave(shared: &Shared, version: i16, body: Bytes) -> Result<BytesMut, RequestError> {
    let request: LeaveGroupRequest = decode(body, version)?;
    let group_id = request.group_id.0.as_str();
    let response = if version <= 2 {
        LeaveGroupResponse::default().with_error_code(leave_one(
            shared,
            group_id,
            request.member_id.as_str(),
        ))
    } else {
        let members = request
            .members
            .iter()
            .map(|member| {
                MemberResponse::default()
                    .with_member_id(member.member_id.clone())
                    .with_group_instance_id(member.group_instance_id.clone())
                    .with_error_code(leave_one(shared, group_id, member.member_id.as_str()))
            })
            .collect();
        LeaveGroupResponse::default().with_members(members)
    };
    encode(&response, version)
}

// ---------------------------------------------------------------------------------------
// OffsetCommit and OffsetFetch

pub(super) fn check_offset_commit(walk: &mut Walk<'_>, version: i16) -> Checked {
    walk.string()?; // group id
    walk.i32()?; // generation
    walk.string()?; // member id
    if version >= 7 {
        walk.string()?; // group instance id
    }
    if version <= 4 {
        walk.i64()?; // retention
    }
    check_offsets(walk, version >= 6)?;
    walk.tags()
}

/// The topics of offsets to commit, in OffsetCommit and TxnOffsetCommit alike: each
/// partition's index, offset, leader epoch (in the versions that carry one) and metadata.
pub(super) fn check_offsets(walk: &mut Walk<'_>, leader_epoch: bool) -> Checked {
    walk.array(|topic| {
        topic.string()?;
        topic.array(|partition| {
            partition.i32()?;
            partition.i64()?;
            if leader_epoch {
                partition.i32()?;
            }
            partition.string()?; // metadata
            partition.tags()
        })?;
        topic.tags()
    })
}

/// The partition counts of topics, looked up once each.
struct Partitions<'a> {
    shared: &'a Shared,
    counts: HashMap<String, Result<u32, i16>>,
}

impl<'a> Partitions<'a> {
    fn new(shared: &'a Shared) -> Self {
        Self {
            shared,
            counts: HashMap::new(),
        }
    }

    /// The partition named, or the error code answering it.
    fn find(&mut self, topic: &str, partition: i32) -> Result<TopicPartition, i16> {
        let shared = self.shared;
        let count = self.counts.entry(topic.to_owned()).or_insert_with(|| {
            match shared.broker.describe_topic(topic) {
                Ok(d) => Ok(u32::try_from(d.partitions.len()).unwrap_or(u32::MAX)),
                Err(e) => Err(error_code(&e)),
            }
        });
        let count = (*count)?;
        match u32::try_from(partition) {
            Ok(p) if p < count => Ok(TopicPartition::new(topic, p)),
            _ => Err(ResponseError::UnknownTopicOrPartition.code()),
        }
    }
}

/// Each partition's error code in a commit, `None` until the commit says.
type Answers = Vec<(i32, Option<i16>)>;

/// A leader epoch as a commit sends it: −1 (and the versions without the field, which
/// decode as −1) is none.
pub(super) fn leader_epoch(sent: i32) -> Option<i32> {
    (sent >= 0).then_some(sent)
}

pub(super) fn offset_commit(
    shared: &Shared,
    version: i16,
    body: Bytes,
) -> Result<BytesMut, RequestError> {
    let request: OffsetCommitRequest = decode(body, version)?;
    let group_id = request.group_id.0.as_str();
    let mut partitions = Partitions::new(shared);
    // Each partition's error so far (None: valid), in the request's order.
    let mut outcome: Vec<(TopicName, Answers)> = Vec::new();
    let mut offsets = Vec::new();
    for topic in &request.topics {
        let mut answers = Vec::with_capacity(topic.partitions.len());
        for partition in &topic.partitions {
            // A null metadata is stored as "", as Kafka does.
            let metadata = partition
                .committed_metadata
                .as_ref()
                .map_or("", |m| m.as_str());
            let checked = partitions
                .find(topic.name.0.as_str(), partition.partition_index)
                .and_then(|tp| {
                    u64::try_from(partition.committed_offset)
                        .map(|offset| {
                            let committed = OffsetAndMetadata::with_metadata(offset, metadata)
                                .with_leader_epoch(leader_epoch(partition.committed_leader_epoch));
                            (tp, committed)
                        })
                        .map_err(|_| ResponseError::InvalidRequest.code())
                })
                .and_then(|commit| {
                    // Refused for this partition alone; the others are committed, as Kafka
                    // answers.
                    if metadata.len() > OffsetAndMetadata::MAX_METADATA_BYTES {
                        Err(ResponseError::OffsetMetadataTooLarge.code())
                    } else {
                        Ok(commit)
                    }
                });
            match checked {
                Ok(commit) => {
                    offsets.push(commit);
                    answers.push((partition.partition_index, None));
                }
                Err(code) => answers.push((partition.partition_index, Some(code))),
            }
        }
        outcome.push((topic.name.clone(), answers));
    }
    // Generation −1 and no member: a commit from outside the group's membership (an admin
    // tool, a consumer with assigned partitions), as Kafka allows.
    let standalone = request.generation_id_or_member_epoch < 0 && request.member_id.is_empty();
    let committed = if group_id.is_empty() {
        ResponseError::InvalidGroupId.code()
    } else if offsets.is_empty() {
        0
    } else if standalone {
        // Kafka takes offsets from outside the membership only while the group has no
        // members: a live group's offsets are its members' to commit, and an admin tool
        // resetting them under it is told it is no member (UNKNOWN_MEMBER_ID).
        let has_members = shared
            .broker
            .describe_group(group_id)
            .is_ok_and(|group| !group.members.is_empty());
        if has_members {
            ResponseError::UnknownMemberId.code()
        } else {
            match shared
                .broker
                .commit_offsets_with_metadata(group_id, &offsets)
            {
                Ok(()) => 0,
                Err(e) => group_error(&e),
            }
        }
    } else {
        match (
            shared
                .broker
                .group_member(group_id, request.member_id.as_str()),
            generation(request.generation_id_or_member_epoch),
        ) {
            (Err(e), _) => group_error(&e),
            (Ok(_), None) => ResponseError::IllegalGeneration.code(),
            (Ok(member), Some(generation)) => {
                match member.commit_with_metadata(generation, &offsets) {
                    Ok(()) => 0,
                    Err(e) => group_error(&e),
                }
            }
        }
    };
    let topics = outcome
        .into_iter()
        .map(|(name, answers)| {
            OffsetCommitResponseTopic::default()
                .with_name(name)
                .with_partitions(
                    answers
                        .into_iter()
                        .map(|(index, error)| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(index)
                                .with_error_code(error.unwrap_or(committed))
                        })
                        .collect(),
                )
        })
        .collect();
    encode(
        &OffsetCommitResponse::default().with_topics(topics),
        version,
    )
}

pub(super) fn check_offset_fetch(walk: &mut Walk<'_>, version: i16) -> Checked {
    let topics = |walk: &mut Walk<'_>| {
        walk.array(|topic| {
            topic.string()?;
            topic.array(Walk::i32)?;
            topic.tags()
        })
    };
    if version <= 7 {
        walk.string()?;
        topics(walk)?;
    } else {
        walk.array(|group| {
            group.string()?;
            if version >= 9 {
                group.string()?; // member id
                group.i32()?; // member epoch
            }
            topics(group)?;
            group.tags()
        })?;
    }
    if version >= 7 {
        walk.boolean()?; // require stable
    }
    walk.tags()
}

/// One partition's committed offset as OffsetFetch answers it: index, offset or −1, leader
/// epoch or −1, metadata ("" when none was committed, as Kafka answers) and error code.
struct FetchedPartition {
    index: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
    error: i16,
}

impl FetchedPartition {
    fn new(index: i32, committed: Option<&OffsetAndMetadata>) -> Self {
        Self {
            index,
            offset: committed.map_or(-1, |c| i64::try_from(c.offset).unwrap_or(i64::MAX)),
            leader_epoch: committed.and_then(|c| c.leader_epoch).unwrap_or(-1),
            metadata: committed.map(|c| c.metadata.clone()).unwrap_or_default(),
            error: 0,
        }
    }
}

/// Each topic's committed offsets as OffsetFetch answers them.
type Fetched = Vec<(String, Vec<FetchedPartition>)>;

/// A group's committed offsets in the topics asked for (`None`: all it committed); the
/// error code when they cannot be read. With `require_stable` (v7+, sent by consumers
/// reading `read_committed`), the partitions an open transaction holds offsets for are
/// answered UNSTABLE_OFFSET_COMMIT with no offset, as Kafka does (KIP-447): the client asks
/// again until the transaction ends rather than start from an offset about to move.
fn fetch_committed(
    shared: &Shared,
    group_id: &str,
    asked: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Result<Fetched, i16> {
    let committed = shared
        .broker
        .committed_offsets_with_metadata(group_id)
        .map_err(|e| group_error(&e))?;
    let mut fetched = fetched_offsets(committed, asked);
    if require_stable {
        let pending = shared
            .broker
            .pending_transactional_offsets(group_id)
            .map_err(|e| group_error(&e))?;
        for (topic, partitions) in &mut fetched {
            for p in partitions {
                let held = u32::try_from(p.index)
                    .is_ok_and(|i| pending.contains(&TopicPartition::new(topic.as_str(), i)));
                if held {
                    *p = FetchedPartition::new(p.index, None);
                    p.error = ResponseError::UnstableOffsetCommit.code();
                }
            }
        }
    }
    Ok(fetched)
}

/// The committed offsets of the topics asked for (`None`: all of them), as answered.
fn fetched_offsets(
    committed: Vec<(TopicPartition, OffsetAndMetadata)>,
    asked: Option<Vec<(String, Vec<i32>)>>,
) -> Fetched {
    match asked {
        Some(topics) => topics
            .into_iter()
            .map(|(topic, partitions)| {
                let found = partitions
                    .into_iter()
                    .map(|p| {
                        let found = committed.iter().find(|(tp, _)| {
                            tp.topic == topic && i64::from(tp.partition) == i64::from(p)
                        });
                        FetchedPartition::new(p, found.map(|(_, o)| o))
                    })
                    .collect();
                (topic, found)
            })
            .collect(),
        None => {
            let mut by_topic: BTreeMap<String, Vec<FetchedPartition>> = BTreeMap::new();
            for (tp, o) in committed {
                let p = i32::try_from(tp.partition).unwrap_or(i32::MAX);
                by_topic
                    .entry(tp.topic)
                    .or_default()
                    .push(FetchedPartition::new(p, Some(&o)));
            }
            by_topic.into_iter().collect()
        }
    }
}

pub(super) fn offset_fetch(
    shared: &Shared,
    version: i16,
    body: Bytes,
) -> Result<BytesMut, RequestError> {
    let request: OffsetFetchRequest = decode(body, version)?;
    if version <= 7 {
        let asked = request.topics.map(|topics| {
            topics
                .into_iter()
                .map(|t| (t.name.0.as_str().to_owned(), t.partition_indexes))
                .collect()
        });
        let stable = request.require_stable;
        let response = match fetch_committed(shared, request.group_id.0.as_str(), asked, stable) {
            Ok(fetched) => OffsetFetchResponse::default().with_topics(
                fetched
                    .into_iter()
                    .map(|(topic, partitions)| {
                        OffsetFetchResponseTopic::default()
                            .with_name(TopicName(str_bytes(&topic)))
                            .with_partitions(
                                partitions
                                    .into_iter()
                                    .map(|p| {
                                        OffsetFetchResponsePartition::default()
                                            .with_partition_index(p.index)
                                            .with_committed_offset(p.offset)
                                            .with_committed_leader_epoch(p.leader_epoch)
                                            .with_metadata(Some(StrBytes::from_string(p.metadata)))
                                            .with_error_code(p.error)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
            // The top-level error code exists from v2.
            Err(code) if version >= 2 => OffsetFetchResponse::default().with_error_code(code),
            Err(_) => OffsetFetchResponse::default(),
        };
        return encode(&response, version);
    }
    let groups = request
        .groups
        .into_iter()
        .map(|group| {
            let asked = group.topics.map(|topics| {
                topics
                    .into_iter()
                    .map(|t| (t.name.0.as_str().to_owned(), t.partition_indexes))
                    .collect()
            });
            let answer = OffsetFetchResponseGroup::default().with_group_id(group.group_id.clone());
            match fetch_committed(
                shared,
                group.group_id.0.as_str(),
                asked,
                request.require_stable,
            ) {
                Ok(fetched) => answer.with_topics(
                    fetched
                        .into_iter()
                        .map(|(topic, partitions)| {
                            OffsetFetchResponseTopics::default()
                                .with_name(TopicName(str_bytes(&topic)))
                                .with_partitions(
                                    partitions
                                        .into_iter()
                                        .map(|p| {
                                            OffsetFetchResponsePartitions::default()
                                                .with_partition_index(p.index)
                                                .with_committed_offset(p.offset)
                                                .with_committed_leader_epoch(p.leader_epoch)
                                                .with_metadata(Some(StrBytes::from_string(
                                                    p.metadata,
                                                )))
                                                .with_error_code(p.error)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
                Err(code) => answer.with_error_code(code),
            }
        })
        .collect();
    encode(&OffsetFetchResponse::default().with_groups(groups), version)
}

// ---------------------------------------------------------------------------------------
// ListGroups and DescribeGroups

pub(super) fn check_list(walk: &mut Walk<'_>, version: i16) -> Checked {
    if version >= 4 {
        walk.array(Walk::string)?;
    }
    if version >= 5 {
        walk.array(Walk::string)?;
    }
    walk.tags()
}

/// A group's state as Kafka names it: members or none. (A rebalance in progress is not
/// told apart: strom's groups rebalance at once.)
fn state(description: &strom::GroupDescription) -> &'static str {
    if description.members.is_empty() {
        "Empty"
    } else {
        "Stable"
    }
}

/// The group's protocol type: none ("") for a group that only had offsets committed for it
/// (no member joined since the broker opened), which Kafka's clients call a simple consumer
/// group, as Kafka reports it; "consumer" once a consumer joined.
fn protocol_type(description: &strom::GroupDescription) -> &'static str {
    if description.members.is_empty() && description.generation == 0 {
        ""
    } else {
        CONSUMER
    }
}

pub(super) fn list(shared: &Shared, version: i16, body: Bytes) -> Result<BytesMut, RequestError> {
    let request: ListGroupsRequest = decode(body, version)?;
    let groups = shared
        .broker
        .groups()
        .into_iter()
        .filter_map(|id| {
            let described = shared.broker.describe_group(&id);
            let state = described.as_ref().map_or("Dead", state);
            let protocol = described.as_ref().map_or(CONSUMER, protocol_type);
            let wanted = (request.states_filter.is_empty()
                || request
                    .states_filter
                    .iter()
                    .any(|s| s.as_str().eq_ignore_ascii_case(state)))
                // Every group here speaks the classic protocol (Kafka's group type "classic",
                // not KIP-848's "consumer").
                && (request.types_filter.is_empty()
                    || request
                        .types_filter
                        .iter()
                        .any(|t| t.as_str().eq_ignore_ascii_case(CLASSIC)));
            if !wanted {
                return None;
            }
            let mut listed = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(&id)))
                .with_protocol_type(str_bytes(protocol));
            if version >= 4 {
                listed = listed.with_group_state(str_bytes(state));
            }
            if version >= 5 {
                listed = listed.with_group_type(str_bytes(CLASSIC));
            }
            Some(listed)
        })
        .collect();
    encode(&ListGroupsResponse::default().with_groups(groups), version)
}

pub(super) fn check_describe(walk: &mut Walk<'_>, version: i16) -> Checked {
    walk.array(Walk::string)?;
    if version >= 3 {
        walk.boolean()?;
    }
    walk.tags()
}

pub(super) fn describe(
    shared: &Shared,
    version: i16,
    body: Bytes,
) -> Result<BytesMut, RequestError> {
    let request: DescribeGroupsRequest = decode(body, version)?;
    let mut groups = Vec::with_capacity(request.groups.len());
    for group_id in request.groups {
        let id = group_id.0.as_str().to_owned();
        let described = DescribedGroup::default().with_group_id(group_id);
        let described = match shared.broker.describe_group(&id) {
            Ok(description) => {
                let mut members = Vec::with_capacity(description.members.len());
                for member in &description.members {
                    let session = shared.groups.get(&id, &member.member_id);
                    let version = session.as_ref().map_or(0, |s| s.version);
                    let client = session.map(|s| s.client).unwrap_or_default();
                    members.push(
                        DescribedGroupMember::default()
                            .with_member_id(str_bytes(&member.member_id))
                            .with_client_id(str_bytes(&client.client_id))
                            .with_client_host(str_bytes(&client.host))
                            .with_member_assignment(encode_assignment(
                                &member.assignment,
                                version,
                            )?),
                    );
                }
                let protocol = if members.is_empty() {
                    ""
                } else {
                    shared.groups.protocol(&id).unwrap_or("range")
                };
                described
                    .with_group_state(str_bytes(state(&description)))
                    .with_protocol_type(str_bytes(protocol_type(&description)))
                    .with_protocol_data(str_bytes(protocol))
                    .with_members(members)
            }
            // As Kafka: a group it does not know is described as dead, without an error,
            // and from v6 (KIP-1043) as not found.
            Err(strom::Error::UnknownGroup { .. }) if version >= 6 => described
                .with_group_state(str_bytes("Dead"))
                .with_error_code(ResponseError::GroupIdNotFound.code())
                .with_error_message(Some(str_bytes(&format!("Group {id} not found.")))),
            Err(strom::Error::UnknownGroup { .. }) => described.with_group_state(str_bytes("Dead")),
            Err(e) => described.with_error_code(group_error(&e)),
        };
        groups.push(described);
    }
    encode(
        &DescribeGroupsResponse::default().with_groups(groups),
        version,
    )
}
