//! The client side of Kafka's protocol, as much of it as the mirror needs: one blocking
//! connection to one broker that asks for versions, reads and creates topics, lists
//! offsets, obtains an idempotent producer id and produces raw version 2 batches.
//!
//! Blocking, not async: the mirror copies one partition at a time on a thread of its own,
//! and a plain socket keeps a network failure's error next to the call that met it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, BrokerId, CreateTopicsRequest, InitProducerIdRequest,
    ListOffsetsRequest, MetadataRequest, ProduceRequest, ProducerId, RequestHeader, ResponseHeader,
    TopicName,
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
    19, // NOT_ENOUGH_REPLICAS
    20, // NOT_ENOUGH_REPLICAS_AFTER_APPEND
];

/// ListOffsets' timestamp that asks for a partition's end.
#[allow(dead_code)] // the mirror's resume and the import use it next
pub(crate) const LATEST: i64 = -1;
/// ListOffsets' timestamp that asks for a partition's log start offset.
#[allow(dead_code)] // the mirror's resume and the import use it next
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
fn answered(what: &str, code: i16) -> ClientError {
    let reason = format!("{what}: Kafka error code {code}");
    if RETRIABLE.contains(&code) {
        ClientError::Unavailable(reason)
    } else {
        ClientError::Refused(reason)
    }
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
    pub(crate) fn create_topic(&mut self, topic: &str, partitions: usize) -> Result<()> {
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
                .with_replication_factor(-1)]);
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

    /// Produces `batches` (encoded version 2 batches, back to back) to `partition` of
    /// `topic`, acknowledged by all in-sync replicas; returns the offset the cluster gave
    /// the first record.
    pub(crate) fn produce(&mut self, topic: &str, partition: u32, batches: Bytes) -> Result<i64> {
        let index = i32::try_from(partition)
            .map_err(|_| ClientError::Refused(format!("partition {topic}/{partition}")))?;
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(index)
                    .with_records(Some(batches))])]);
        // Version 3 is the first that carries version 2 batches, the only kind strom stores.
        let version = self.version(ApiKey::Produce, 3, 9)?;
        let response = self.call(&request, version)?;
        let answer = response
            .responses
            .iter()
            .filter(|t| t.name.0.as_str() == topic)
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == index)
            .ok_or_else(|| {
                ClientError::Refused(format!(
                    "Produce to {topic}/{partition}: the answer leaves the partition out"
                ))
            })?;
        if answer.error_code != 0 {
            let message = answer
                .error_message
                .as_ref()
                .map(|m| format!(" ({})", m.as_str()))
                .unwrap_or_default();
            return Err(answered(
                &format!("Produce to {topic}/{partition}{message}"),
                answer.error_code,
            ));
        }
        Ok(answer.base_offset)
    }

    /// The offset ListOffsets answers for `partition` of `topic` at `timestamp`: with
    /// [`LATEST`] the partition's end (its high watermark), with [`EARLIEST`] its log start
    /// offset, otherwise the first offset whose record's timestamp is at least `timestamp`
    /// (`None` when no record is that late).
    #[allow(dead_code)] // the mirror's resume and the import use it next
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

    /// Sends `request` at `version` and reads its answer.
    fn call<Req: Request>(&mut self, request: &Req, version: i16) -> Result<Req::Response>
    where
        Req::Response: Decodable + HeaderVersion,
    {
        let addr = self.addr;
        let unreadable = |what: &str| ClientError::Refused(format!("{what} from {addr}"));
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
        client.create_topic("readings", 3).unwrap();
        let layout = client.topic_layout("readings").unwrap().unwrap();
        let node = layout.brokers[0].0;
        assert_eq!(layout.leaders, [(0, node), (1, node), (2, node)]);
        assert_eq!(layout.brokers, [(node, address.clone())]);
        // Creating it again leaves it as it is.
        client.create_topic("readings", 5).unwrap();
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
