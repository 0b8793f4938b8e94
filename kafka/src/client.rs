//! The client side of Kafka's protocol, as much of it as the mirror needs: one blocking
//! connection to one broker that asks for versions, reads and creates topics, lists
//! offsets, obtains an idempotent producer id and produces raw version 2 batches, several
//! Produce requests in flight at once (sent, then their answers read in order).
//!
//! Blocking, not async: the mirror runs on a thread of its own, and a plain socket keeps a
//! network failure's error next to the call that met it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, BrokerId, CreateTopicsRequest, InitProducerIdRequest,
    ListOffsetsRequest, MetadataRequest, ProduceRequest, ProducerId, RequestHeader, ResponseHeader,
    TopicName,
};
use kafka_protocol::messages::{
    FetchRequest, FindCoordinatorRequest, GroupId, OffsetCommitRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// The largest response frame read: a Produce or Metadata answer is far smaller, and a size
/// past it is a peer that is not a Kafka broker (or a damaged stream), not a reason to
/// allocate.
const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// How long a request may wait for its answer before the connection counts as broken.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Kafka's error codes that mean "not now" rather than "no": the cluster is electing a
/// leader, loading or short of replicas, so the same request is worth sending again later.
const RETRIABLE: &[i16] = &[
    5,  // LEADER_NOT_AVAILABLE
    6,  // NOT_LEADER_OR_FOLLOWER
    7,  // REQUEST_TIMED_OUT
    14, // COORDINATOR_LOAD_IN_PROGRESS
    15, // COORDINATOR_NOT_AVAILABLE
    16, // NOT_COORDINATOR: the group moved; asking FindCoordinator again finds it
    19, // NOT_ENOUGH_REPLICAS
    20, // NOT_ENOUGH_REPLICAS_AFTER_APPEND
];

/// ListOffsets' timestamp that asks for a partition's end.
/// (The mirror reads a partition's end from a Fetch's high watermark instead: see
/// `mirror::session::target_end`.)
#[cfg(test)]
pub(crate) const LATEST: i64 = -1;
/// ListOffsets' timestamp that asks for a partition's log start offset.
pub(crate) const EARLIEST: i64 = -2;

/// Kafka's error code for a topic that does not exist.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// Kafka's error code for a CreateTopics of a topic that exists.
const TOPIC_ALREADY_EXISTS: i16 = 36;

/// What went wrong talking to the cluster, split by whether waiting could help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClientError {
    /// The connection failed or broke, or the cluster answered "not now": worth retrying
    /// after a pause, on a new connection.
    Unavailable(String),
    /// The cluster refused (authorization, topic policy, a record it will not take) or
    /// answered something unreadable: retrying the same request will not help.
    Refused(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable(reason) => write!(f, "cluster unavailable: {reason}"),
            Self::Refused(reason) => write!(f, "cluster refused: {reason}"),
        }
    }
}

impl std::error::Error for ClientError {}

type Result<T> = std::result::Result<T, ClientError>;

/// A Kafka error code in an answer about `what`, as the error it is.
pub(crate) fn answered(what: &str, code: i16) -> ClientError {
    let reason = format!("{what}: {}", error_name(code));
    if RETRIABLE.contains(&code) {
        ClientError::Unavailable(reason)
    } else {
        ClientError::Refused(reason)
    }
}

/// Kafka's name for an error code, with the code: `TopicAuthorizationFailed (Kafka error
/// code 29)`, so a refusal reads as Kafka's own tools would print it.
pub(crate) fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        Some(ResponseError::Unknown(_)) | None => format!("Kafka error code {code}"),
        Some(known) => format!("{known} (Kafka error code {code})"),
    }
}

/// A Produce sent and not yet answered: what [`Client::read_produce`] needs to read its
/// answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingProduce {
    correlation: i32,
    version: i16,
}

/// One partition's part of a Produce answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProduceAnswer {
    pub(crate) topic: String,
    pub(crate) partition: u32,
    /// Kafka's error code, 0 for none.
    pub(crate) error_code: i16,
    /// The offset given to the batch's first record (−1 where the cluster does not say).
    pub(crate) base_offset: i64,
    /// The cluster's own words about an error, where it gives them.
    pub(crate) message: Option<String>,
}

/// The version ranges of the APIs a broker offered in its ApiVersions answer.
#[derive(Debug, Clone, Default)]
struct Offered(Vec<(i16, i16, i16)>);

/// One blocking connection to a broker.
pub(crate) struct Client {
    stream: TcpStream,
    addr: SocketAddr,
    next_correlation: i32,
    offered: Offered,
}

/// Where a topic's partitions are, as Metadata tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicLayout {
    /// Each partition and the node id of its leader (−1 while it has none), by partition.
    pub(crate) leaders: Vec<(u32, i32)>,
    /// Every broker's node id and `HOST:PORT`.
    pub(crate) brokers: Vec<(i32, String)>,
}

/// An idempotent producer's identity, as InitProducerId hands it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerIdentity {
    pub(crate) id: i64,
    pub(crate) epoch: i16,
}

impl Client {
    /// Connects to `address` (`HOST:PORT`) and agrees on versions with ApiVersions.
    pub(crate) fn connect(address: &str) -> Result<Self> {
        let addrs: Vec<SocketAddr> = address
            .to_socket_addrs()
            .map_err(|e| ClientError::Unavailable(format!("resolve {address}: {e}")))?
            .collect();
        let mut last = ClientError::Unavailable(format!("{address} resolves to no address"));
        for addr in addrs {
            match Self::connect_to(addr) {
                Ok(client) => return Ok(client),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// [`Client::connect`], retried while the cluster is unavailable, with a pause that
    /// doubles from 50 ms to 5 s, until `patience` has passed; a refusal is returned at once.
    pub(crate) fn connect_patiently(address: &str, patience: Duration) -> Result<Self> {
        retry(patience, || Self::connect(address))
    }

    fn connect_to(addr: SocketAddr) -> Result<Self> {
        let broken =
            |e: std::io::Error| ClientError::Unavailable(format!("connect to {addr}: {e}"));
        let stream = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT).map_err(broken)?;
        stream.set_nodelay(true).map_err(broken)?;
        stream
            .set_read_timeout(Some(REQUEST_TIMEOUT))
            .map_err(broken)?;
        // A broker that stops reading must not hold a pipelined write for ever either.
        stream
            .set_write_timeout(Some(REQUEST_TIMEOUT))
            .map_err(broken)?;
        let mut client = Self {
            stream,
            addr,
            next_correlation: 0,
            // Until ApiVersions answers, nothing is known to be offered.
            offered: Offered::default(),
        };
        // ApiVersions v0 first: every broker answers it, whatever it speaks.
        let offered = client.call(&ApiVersionsRequest::default(), 0)?;
        if offered.error_code != 0 {
            return Err(answered(
                &format!("ApiVersions from {addr}"),
                offered.error_code,
            ));
        }
        client.offered = Offered(
            offered
                .api_keys
                .iter()
                .map(|k| (k.api_key, k.min_version, k.max_version))
                .collect(),
        );
        Ok(client)
    }

    /// The version of `key` to send: the newest that both the broker and this client speak,
    /// at least `min` (the first version with what the call needs) and at most `cap` (the
    /// last whose shape the call fills in).
    fn version(&self, key: ApiKey, min: i16, cap: i16) -> Result<i16> {
        let addr = self.addr;
        let &(_, theirs_min, theirs_max) = self
            .offered
            .0
            .iter()
            .find(|(k, _, _)| *k == key as i16)
            .ok_or_else(|| ClientError::Refused(format!("{addr} does not serve {key:?}")))?;
        let ours = key.valid_versions();
        let version = theirs_max.min(cap).min(ours.max);
        if version < theirs_min.max(ours.min).max(min) {
            return Err(ClientError::Refused(format!(
                "{addr} speaks {key:?} versions {theirs_min}..={theirs_max}; this client \
                 needs {min}..={cap}"
            )));
        }
        Ok(version)
    }

    /// Where `topic`'s partitions are on the cluster: each partition's leader and the
    /// address of every broker; `None` if the topic does not exist.
    pub(crate) fn topic_layout(&mut self, topic: &str) -> Result<Option<TopicLayout>> {
        let request = MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(topic)))
            ]))
            .with_allow_auto_topic_creation(false);
        let version = self.version(ApiKey::Metadata, 1, 12)?;
        let metadata = self.call(&request, version)?;
        let Some(found) = metadata
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
        else {
            return Ok(None);
        };
        match found.error_code {
            0 => {}
            UNKNOWN_TOPIC_OR_PARTITION => return Ok(None),
            code => return Err(answered(&format!("Metadata of topic {topic}"), code)),
        }
        let mut leaders = Vec::with_capacity(found.partitions.len());
        for partition in &found.partitions {
            let index = u32::try_from(partition.partition_index).map_err(|_| {
                ClientError::Refused(format!(
                    "Metadata of topic {topic}: partition {}",
                    partition.partition_index
                ))
            })?;
            leaders.push((index, partition.leader_id.0));
        }
        leaders.sort_unstable();
        let brokers = metadata
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
            .collect();
        Ok(Some(TopicLayout { leaders, brokers }))
    }

    /// Creates `topic` with `partitions` partitions (replication as the cluster defaults);
    /// one that exists already is left as it is.
    pub(crate) fn create_topic(
        &mut self,
        topic: &str,
        partitions: usize,
        configs: &[(&str, String)],
    ) -> Result<()> {
        let count = i32::try_from(partitions).map_err(|_| {
            ClientError::Refused(format!(
                "topic {topic}: {partitions} partitions is too many"
            ))
        })?;
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(topic_name(topic))
                .with_num_partitions(count)
                .with_replication_factor(-1)
                .with_configs(
                    configs
                        .iter()
                        .map(|(name, value)| {
                            CreatableTopicConfig::default()
                                .with_name(StrBytes::from_string((*name).to_string()))
                                .with_value(Some(StrBytes::from_string(value.clone())))
                        })
                        .collect(),
                )]);
        let version = self.version(ApiKey::CreateTopics, 0, 7)?;
        let response = self.call(&request, version)?;
        for created in &response.topics {
            if created.error_code != 0 && created.error_code != TOPIC_ALREADY_EXISTS {
                let message = created
                    .error_message
                    .as_ref()
                    .map(|m| format!(" ({})", m.as_str()))
                    .unwrap_or_default();
                return Err(answered(
                    &format!("CreateTopics of topic {topic}{message}"),
                    created.error_code,
                ));
            }
        }
        Ok(())
    }

    /// A new idempotent (not transactional) producer id and epoch.
    pub(crate) fn init_producer_id(&mut self) -> Result<ProducerIdentity> {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(-1)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let version = self.version(ApiKey::InitProducerId, 0, 4)?;
        let response = self.call(&request, version)?;
        if response.error_code != 0 {
            return Err(answered("InitProducerId", response.error_code));
        }
        Ok(ProducerIdentity {
            id: response.producer_id.0,
            epoch: response.producer_epoch,
        })
    }

    /// Produces `batch` (one encoded version 2 batch) to `partition` of `topic` and waits
    /// for the answer: [`send_produce`](Self::send_produce) then
    /// [`read_produce`](Self::read_produce). Returns the offset the cluster gave the first
    /// record.
    #[cfg(test)]
    pub(crate) fn produce(&mut self, topic: &str, partition: u32, batch: Bytes) -> Result<i64> {
        let pending = self.send_produce(vec![(topic.to_string(), vec![(partition, batch)])])?;
        let answers = self.read_produce(pending)?;
        let answer = answers
            .iter()
            .find(|a| a.topic == topic && a.partition == partition)
            .ok_or_else(|| {
                ClientError::Refused(format!(
                    "Produce to {topic}/{partition}: the answer leaves the partition out"
                ))
            })?;
        if answer.error_code != 0 {
            return Err(answered(
                &format!("Produce to {topic}/{partition}"),
                answer.error_code,
            ));
        }
        Ok(answer.base_offset)
    }

    /// The offset ListOffsets answers for `partition` of `topic` at `timestamp`: with
    /// `LATEST` (−1) the partition's end (its high watermark), with [`EARLIEST`] its log start
    /// offset, otherwise the first offset whose record's timestamp is at least `timestamp`
    /// (`None` when no record is that late).
    pub(crate) fn list_offset(
        &mut self,
        topic: &str,
        partition: u32,
        timestamp: i64,
    ) -> Result<Option<i64>> {
        let index = i32::try_from(partition)
            .map_err(|_| ClientError::Refused(format!("partition {topic}/{partition}")))?;
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(0)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(index)
                    .with_timestamp(timestamp)])]);
        // Version 1 is the first that answers one offset rather than a list of them.
        let version = self.version(ApiKey::ListOffsets, 1, 7)?;
        let response = self.call(&request, version)?;
        let answer = response
            .topics
            .iter()
            .filter(|t| t.name.0.as_str() == topic)
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == index)
            .ok_or_else(|| {
                ClientError::Refused(format!(
                    "ListOffsets of {topic}/{partition}: the answer leaves the partition out"
                ))
            })?;
        if answer.error_code != 0 {
            return Err(answered(
                &format!("ListOffsets of {topic}/{partition}"),
                answer.error_code,
            ));
        }
        Ok((answer.offset >= 0).then_some(answer.offset))
    }

    /// Sends a Produce of `batches` (per topic, per partition: one encoded version 2 batch
    /// each, as Kafka takes from version 3 on) without waiting for its answer, so that
    /// several can be in flight on this connection; acknowledged by all in-sync replicas.
    /// Answers come back in the order the requests went out: read each with
    /// [`read_produce`](Self::read_produce).
    pub(crate) fn send_produce(
        &mut self,
        batches: Vec<(String, Vec<(u32, Bytes)>)>,
    ) -> Result<PendingProduce> {
        let mut topic_data = Vec::with_capacity(batches.len());
        for (topic, partitions) in batches {
            let mut partition_data = Vec::with_capacity(partitions.len());
            for (partition, records) in partitions {
                let index = i32::try_from(partition)
                    .map_err(|_| ClientError::Refused(format!("partition {topic}/{partition}")))?;
                partition_data.push(
                    PartitionProduceData::default()
                        .with_index(index)
                        .with_records(Some(records)),
                );
            }
            topic_data.push(
                TopicProduceData::default()
                    .with_name(topic_name(&topic))
                    .with_partition_data(partition_data),
            );
        }
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(topic_data);
        let version = self.version(ApiKey::Produce, 3, 9)?;
        let correlation = self.send(&request, version)?;
        Ok(PendingProduce {
            correlation,
            version,
        })
    }

    /// Reads the answer to `pending`, the oldest Produce still unanswered on this
    /// connection: each partition's error code and first offset.
    pub(crate) fn read_produce(&mut self, pending: PendingProduce) -> Result<Vec<ProduceAnswer>> {
        let response: <ProduceRequest as Request>::Response =
            self.receive::<ProduceRequest>(pending.correlation, pending.version)?;
        let mut answers = Vec::new();
        for topic in &response.responses {
            for p in &topic.partition_responses {
                let Ok(partition) = u32::try_from(p.index) else {
                    continue;
                };
                answers.push(ProduceAnswer {
                    topic: topic.name.0.to_string(),
                    partition,
                    error_code: p.error_code,
                    base_offset: p.base_offset,
                    message: p.error_message.as_ref().map(ToString::to_string),
                });
            }
        }
        Ok(answers)
    }

    /// Sends `request` at `version` and reads its answer.
    fn call<Req: Request>(&mut self, request: &Req, version: i16) -> Result<Req::Response>
    where
        Req::Response: Decodable + HeaderVersion,
    {
        let correlation = self.send(request, version)?;
        self.receive::<Req>(correlation, version)
    }

    /// Writes `request` at `version`; returns its correlation id.
    fn send<Req: Request>(&mut self, request: &Req, version: i16) -> Result<i32> {
        let addr = self.addr;
        self.next_correlation = self.next_correlation.wrapping_add(1);
        let correlation = self.next_correlation;
        let header = RequestHeader::default()
            .with_request_api_key(Req::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(StrBytes::from_static_str("strom-mirror")));
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&[0; 4]);
        header
            .encode(&mut frame, Req::header_version(version))
            .map_err(|e| ClientError::Refused(format!("encode a request header: {e}")))?;
        request
            .encode(&mut frame, version)
            .map_err(|e| ClientError::Refused(format!("encode a {:?} request: {e}", Req::KEY)))?;
        let size = u32::try_from(frame.len() - 4)
            .map_err(|_| ClientError::Refused("a request past 4 GiB".to_string()))?;
        frame[..4].copy_from_slice(&size.to_be_bytes());

        let broken = |e: std::io::Error| ClientError::Unavailable(format!("{addr}: {e}"));
        self.stream.write_all(&frame).map_err(broken)?;
        Ok(correlation)
    }

    /// Reads the answer to the request of `correlation`, sent at `version`: the next frame
    /// on the connection, as the broker answers in order.
    fn receive<Req: Request>(&mut self, correlation: i32, version: i16) -> Result<Req::Response>
    where
        Req::Response: Decodable + HeaderVersion,
    {
        let addr = self.addr;
        let unreadable = |what: &str| ClientError::Refused(format!("{what} from {addr}"));
        let broken = |e: std::io::Error| ClientError::Unavailable(format!("{addr}: {e}"));
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).map_err(broken)?;
        let size = usize::try_from(i32::from_be_bytes(size))
            .ok()
            .filter(|&s| s <= MAX_RESPONSE_BYTES)
            .ok_or_else(|| unreadable("a response frame of impossible size"))?;
        let mut body = vec![0u8; size];
        self.stream.read_exact(&mut body).map_err(broken)?;
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, Req::Response::header_version(version))
            .map_err(|_| unreadable("an unreadable response header"))?;
        if header.correlation_id != correlation {
            return Err(unreadable("an answer to another request"));
        }
        let response = Req::Response::decode(&mut body, version)
            .map_err(|_| unreadable(&format!("an unreadable {:?} response", Req::KEY)))?;
        if body.has_remaining() {
            return Err(unreadable(&format!(
                "bytes after a {:?} response",
                Req::KEY
            )));
        }
        Ok(response)
    }
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// Runs `attempt` until it succeeds, fails with a refusal, or `patience` has passed since the
/// first try; between tries it pauses, doubling from 50 ms to 5 s, so a cluster that is down
/// is not hammered.
pub(crate) fn retry<T>(patience: Duration, mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
    let give_up = Instant::now() + patience;
    let mut pause = Duration::from_millis(50);
    loop {
        match attempt() {
            Err(ClientError::Unavailable(reason)) => {
                let now = Instant::now();
                if now >= give_up {
                    return Err(ClientError::Unavailable(reason));
                }
                tracing::debug!(%reason, ?pause, "cluster unavailable, trying again");
                thread::sleep(pause.min(give_up - now));
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            done => return done,
        }
    }
}

/// What a Fetch answered for one partition: the whole batches it carries (the last one may
/// be cut short, as Kafka cuts at the byte limit) and the partition's offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FetchedPartition {
    /// Record batches back to back, as the broker stores them.
    pub(crate) records: Bytes,
    /// The partition's high watermark.
    pub(crate) high_watermark: i64,
    /// Its last stable offset: the end of what a `read_committed` reader may see.
    pub(crate) last_stable_offset: i64,
    /// Its first offset still in the log.
    pub(crate) log_start_offset: i64,
    /// The aborted transactions the batches may hold: producer id and first offset.
    pub(crate) aborted: Vec<(i64, i64)>,
}

// The consumer side: what an import reads from a cluster with, and keeps its progress in.
impl Client {
    /// Fetches `partition` of `topic` from `offset` on, `read_committed` (stopping at the
    /// last stable offset and listing the aborted transactions), at most about `max_bytes`
    /// (the first batch always whole), waiting up to `max_wait` for a first byte.
    pub(crate) fn fetch(
        &mut self,
        topic: &str,
        partition: u32,
        offset: i64,
        max_wait: Duration,
        max_bytes: usize,
    ) -> Result<FetchedPartition> {
        let index = i32::try_from(partition)
            .map_err(|_| ClientError::Refused(format!("partition {topic}/{partition}")))?;
        let max_bytes = i32::try_from(max_bytes).unwrap_or(i32::MAX);
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(i32::try_from(max_wait.as_millis()).unwrap_or(i32::MAX))
            .with_min_bytes(1)
            .with_max_bytes(max_bytes)
            // READ_COMMITTED: open transactions are not read, aborted ones are listed.
            .with_isolation_level(1)
            // No fetch session: every request names its partition in full.
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(index)
                    .with_fetch_offset(offset)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(max_bytes)])]);
        // Version 4 is the first with the last stable offset and the aborted transactions;
        // from 13 on, topics go by id rather than by name.
        let version = self.version(ApiKey::Fetch, 4, 12)?;
        let response = self.call(&request, version)?;
        if response.error_code != 0 {
            return Err(answered(
                &format!("Fetch of {topic}/{partition}"),
                response.error_code,
            ));
        }
        let answer = response
            .responses
            .into_iter()
            .filter(|t| t.topic.0.as_str() == topic)
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == index)
            .ok_or_else(|| {
                ClientError::Refused(format!(
                    "Fetch of {topic}/{partition}: the answer leaves the partition out"
                ))
            })?;
        if answer.error_code != 0 {
            return Err(answered(
                &format!("Fetch of {topic}/{partition} at offset {offset}"),
                answer.error_code,
            ));
        }
        Ok(FetchedPartition {
            records: answer.records.unwrap_or_default(),
            high_watermark: answer.high_watermark,
            last_stable_offset: answer.last_stable_offset,
            log_start_offset: answer.log_start_offset,
            aborted: answer
                .aborted_transactions
                .unwrap_or_default()
                .iter()
                .map(|a| (a.producer_id.0, a.first_offset))
                .collect(),
        })
    }

    /// The node id and `HOST:PORT` of the coordinator of consumer group `group`.
    pub(crate) fn find_coordinator(&mut self, group: &str) -> Result<(i32, String)> {
        let request = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(group.to_string()))
            .with_key_type(0);
        // From version 4 on, one request asks for several keys: a shape this call has no
        // use for.
        let version = self.version(ApiKey::FindCoordinator, 0, 3)?;
        let response = self.call(&request, version)?;
        if response.error_code != 0 {
            let message = response
                .error_message
                .as_ref()
                .map(|m| format!(" ({})", m.as_str()))
                .unwrap_or_default();
            return Err(answered(
                &format!("FindCoordinator of group {group}{message}"),
                response.error_code,
            ));
        }
        Ok((
            response.node_id.0,
            format!("{}:{}", response.host.as_str(), response.port),
        ))
    }

    /// Commits `offsets` (partition, offset, metadata) of `topic` for consumer group
    /// `group` from outside its membership (generation −1, no member id), as Kafka's
    /// `kafka-consumer-groups --reset-offsets` does; the group must have no active members.
    pub(crate) fn offset_commit(
        &mut self,
        group: &str,
        topic: &str,
        offsets: &[(u32, i64, String)],
    ) -> Result<()> {
        let mut partitions = Vec::with_capacity(offsets.len());
        for (partition, offset, metadata) in offsets {
            let index = i32::try_from(*partition)
                .map_err(|_| ClientError::Refused(format!("partition {topic}/{partition}")))?;
            partitions.push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(index)
                    .with_committed_offset(*offset)
                    .with_committed_leader_epoch(-1)
                    .with_committed_metadata(Some(StrBytes::from_string(metadata.clone()))),
            );
        }
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(StrBytes::from_static_str(""))
            .with_retention_time_ms(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(partitions)]);
        // Version 9 belongs to the new consumer protocol's members; 2..=8 commit alike.
        let version = self.version(ApiKey::OffsetCommit, 2, 8)?;
        let response = self.call(&request, version)?;
        for answer in response
            .topics
            .iter()
            .filter(|t| t.name.0.as_str() == topic)
            .flat_map(|t| t.partitions.iter())
        {
            if answer.error_code != 0 {
                return Err(answered(
                    &format!(
                        "OffsetCommit of group {group} for {topic}/{}",
                        answer.partition_index
                    ),
                    answer.error_code,
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_gives_up_after_its_patience_and_stops_at_a_refusal() {
        let mut tries = 0;
        let out: Result<()> = retry(Duration::from_millis(120), || {
            tries += 1;
            Err(ClientError::Unavailable("down".to_string()))
        });
        assert_eq!(out, Err(ClientError::Unavailable("down".to_string())));
        assert!(tries >= 2, "retried {tries} times");

        let mut tries = 0;
        let out: Result<()> = retry(Duration::from_secs(60), || {
            tries += 1;
            Err(ClientError::Refused("no".to_string()))
        });
        assert_eq!(out, Err(ClientError::Refused("no".to_string())));
        assert_eq!(tries, 1);
    }

    #[test]
    fn creates_a_topic_and_produces_restamped_batches_idempotently() {
        use strom::storage::batch::{self, Entry};
        use strom::{Broker, IsolationLevel, TopicPartition};

        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(dir.path()).unwrap();
        let server = crate::KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
        let address = server.local_addr().to_string();
        let mut client = Client::connect_patiently(&address, Duration::from_secs(5)).unwrap();

        assert_eq!(client.topic_layout("readings").unwrap(), None);
        client
            .create_topic("readings", 3, &[("retention.ms", "60000".to_string())])
            .unwrap();
        let layout = client.topic_layout("readings").unwrap().unwrap();
        let node = layout.brokers[0].0;
        assert_eq!(layout.leaders, [(0, node), (1, node), (2, node)]);
        assert_eq!(layout.brokers, [(node, address.clone())]);
        // Creating it again leaves it as it is.
        client.create_topic("readings", 5, &[]).unwrap();
        assert_eq!(
            client
                .topic_layout("readings")
                .unwrap()
                .unwrap()
                .leaders
                .len(),
            3
        );

        let producer = client.init_producer_id().unwrap();
        assert!(producer.id >= 0);
        let headers = [("unit".to_string(), b"celsius".to_vec())];
        let entries = [Entry {
            timestamp: 1_700_000_000_000,
            key: Some(b"oslo"),
            value: Some(b"-3.5"),
            headers: &headers,
        }];
        let mut encoded = vec![0; batch::encoded_len(&entries)];
        batch::encode(&mut encoded, 0, &entries).unwrap();
        batch::set_producer(&mut encoded, producer.id, producer.epoch, 0).unwrap();
        let sent = Bytes::from(encoded);
        assert_eq!(client.list_offset("readings", 2, LATEST).unwrap(), Some(0));
        assert_eq!(client.produce("readings", 2, sent.clone()).unwrap(), 0);
        // The same batch again (a retry after a lost answer) is not stored twice.
        client.produce("readings", 2, sent).unwrap();

        let tp = TopicPartition::new("readings", 2);
        let fetched = broker
            .fetch_batches(&tp, 0, 1 << 20, IsolationLevel::ReadUncommitted)
            .unwrap();
        assert_eq!(fetched.high_watermark, 1);
        assert_eq!(client.list_offset("readings", 2, LATEST).unwrap(), Some(1));
        assert_eq!(
            client.list_offset("readings", 2, EARLIEST).unwrap(),
            Some(0)
        );
        assert_eq!(
            client
                .list_offset("readings", 2, 1_700_000_000_000)
                .unwrap(),
            Some(0)
        );
        assert_eq!(
            client
                .list_offset("readings", 2, 1_800_000_000_000)
                .unwrap(),
            None
        );
        let origin = batch::check(&fetched.bytes).unwrap().origin;
        assert_eq!((origin.producer_id, origin.base_sequence), (producer.id, 0));

        assert!(matches!(
            client.produce("readings", 7, Bytes::from_static(b"")),
            Err(ClientError::Refused(_))
        ));
        server.shutdown().unwrap();
        broker.close().unwrap();
    }

    #[test]
    fn nothing_listening_is_unavailable_not_refused() {
        // A port just released: nothing listens there.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        assert!(matches!(
            Client::connect(&addr),
            Err(ClientError::Unavailable(_))
        ));
    }
}
