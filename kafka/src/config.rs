//! The server's settings, builder style.

use std::net::SocketAddr;
use std::time::Duration;

/// Settings of a [`KafkaServer`](crate::KafkaServer), given to
/// [`KafkaServer::bind_with`](crate::KafkaServer::bind_with). Names follow Kafka's broker
/// configs where there is one.
///
/// ```
/// use std::time::Duration;
/// use strom_kafka::ServerConfig;
///
/// let config = ServerConfig::default()
///     .advertised("kafka.internal:9092")
///     .auto_create_topics(false)
///     .max_connections(64)
///     .connections_max_idle(Duration::from_secs(60));
/// assert_eq!(config.max_connections, 64);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The `host:port` clients are told to connect to (Kafka's `advertised.listeners`). By
    /// default, the address the server is bound to.
    pub advertised: Option<String>,
    /// Whether a topic a client asks for and that does not exist is created (Kafka's
    /// `auto.create.topics.enable`). By default, `true`.
    pub auto_create_topics: bool,
    /// Partitions of auto-created topics, and of topics created with `num_partitions = -1`
    /// (Kafka's `num.partitions`). By default, 1.
    pub partitions: u32,
    /// The most partitions a topic created over the protocol may have: a CreateTopics
    /// request asking for more is refused with INVALID_PARTITIONS, as a policy would in
    /// Kafka (each partition is a directory and files). By default, 1024.
    pub max_partitions_per_topic: u32,
    /// The largest request accepted, in bytes (Kafka's `socket.request.max.bytes`); a
    /// larger one closes its connection. By default, 100 MiB.
    pub max_request_bytes: usize,
    /// Connections open at once; one more is closed as it is accepted (Kafka's
    /// `max.connections`). By default, 1024.
    pub max_connections: usize,
    /// A connection that sends no request for this long is closed (Kafka's
    /// `connections.max.idle.ms`). By default, 10 minutes.
    pub connections_max_idle: Duration,
    /// This server's node id in metadata (Kafka's `node.id`). By default, 0.
    pub node_id: i32,
    /// The cluster id in metadata. By default, `strom`.
    pub cluster_id: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            advertised: None,
            auto_create_topics: true,
            partitions: 1,
            max_partitions_per_topic: 1024,
            max_request_bytes: 100 << 20,
            max_connections: 1024,
            connections_max_idle: Duration::from_secs(600),
            node_id: 0,
            cluster_id: "strom".to_owned(),
        }
    }
}

impl ServerConfig {
    /// Sets the `host:port` clients are told to connect to. By default, the bound address.
    ///
    /// ```
    /// let config = strom_kafka::ServerConfig::default().advertised("10.0.0.5:9092");
    /// assert_eq!(config.advertised.as_deref(), Some("10.0.0.5:9092"));
    /// ```
    #[must_use]
    pub fn advertised(mut self, host_port: impl Into<String>) -> Self {
        self.advertised = Some(host_port.into());
        self
    }

    /// Sets whether unknown topics a client asks for are created. By default, `true`.
    ///
    /// ```
    /// let config = strom_kafka::ServerConfig::default().auto_create_topics(false);
    /// assert!(!config.auto_create_topics);
    /// ```
    #[must_use]
    pub fn auto_create_topics(mut self, yes: bool) -> Self {
        self.auto_create_topics = yes;
        self
    }

    /// Sets the partitions of auto-created topics. By default, 1.
    ///
    /// ```
    /// let config = strom_kafka::ServerConfig::default().partitions(6);
    /// assert_eq!(config.partitions, 6);
    /// ```
    #[must_use]
    pub fn partitions(mut self, n: u32) -> Self {
        self.partitions = n;
        self
    }

    /// Sets the most partitions a topic created over the protocol may have. By default, 1024.
    ///
    /// ```
    /// let config = strom_kafka::ServerConfig::default().max_partitions_per_topic(64);
    /// assert_eq!(config.max_partitions_per_topic, 64);
    /// ```
    #[must_use]
    pub fn max_partitions_per_topic(mut self, n: u32) -> Self {
        self.max_partitions_per_topic = n;
        self
    }

    /// Sets the largest request accepted. By default, 100 MiB.
    ///
    /// ```
    /// let config = strom_kafka::ServerConfig::default().max_request_bytes(1 << 20);
    /// assert_eq!(config.max_request_bytes, 1 << 20);
    /// ```
    #[must_use]
    pub fn max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes;
        self
    }

    /// Sets how many connections may be open at once. By default, 1024.
    ///
    /// ```
    /// let config = strom_kafka::ServerConfig::default().max_connections(16);
    /// assert_eq!(config.max_connections, 16);
    /// ```
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Sets how long a connection may stay without a request. By default, 10 minutes.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = strom_kafka::ServerConfig::default().connections_max_idle(Duration::from_secs(30));
    /// assert_eq!(config.connections_max_idle, Duration::from_secs(30));
    /// ```
    #[must_use]
    pub fn connections_max_idle(mut self, idle: Duration) -> Self {
        self.connections_max_idle = idle;
        self
    }

    /// Sets the node id metadata gives this server. By default, 0.
    ///
    /// ```
    /// let config = strom_kafka::ServerConfig::default().node_id(7);
    /// assert_eq!(config.node_id, 7);
    /// ```
    #[must_use]
    pub fn node_id(mut self, id: i32) -> Self {
        self.node_id = id;
        self
    }

    /// Sets the cluster id metadata reports. By default, `strom`.
    ///
    /// ```
    /// let config = strom_kafka::ServerConfig::default().cluster_id("edge-1");
    /// assert_eq!(config.cluster_id, "edge-1");
    /// ```
    #[must_use]
    pub fn cluster_id(mut self, id: impl Into<String>) -> Self {
        self.cluster_id = id.into();
        self
    }

    /// The advertised host and port: the configured ones, else the bound address.
    pub(crate) fn advertised_host_port(&self, bound: SocketAddr) -> (String, i32) {
        if let Some(adv) = &self.advertised {
            if let Some((host, port)) = adv.rsplit_once(':') {
                if let Ok(port) = port.parse::<u16>() {
                    let host = host.trim_start_matches('[').trim_end_matches(']');
                    return (host.to_owned(), i32::from(port));
                }
            }
            return (adv.clone(), i32::from(bound.port()));
        }
        (bound.ip().to_string(), i32::from(bound.port()))
    }
}
