//! The cluster as a client sees it: which broker leads each partition, and a connection to
//! each broker asked, opened again when it breaks.
//!
//! Kafka takes a partition's records only at its leader, and a cluster of several brokers
//! spreads the leaders; the bootstrap address is just the first broker asked. Leaders move
//! (a broker restarts, a partition is reassigned), so a leader that answers "not the leader"
//! or stops answering is forgotten, and the next call asks Metadata again.

use std::collections::HashMap;
use std::time::Duration;

use crate::client::{retry, Client, ClientError};

type Result<T> = std::result::Result<T, ClientError>;

/// Connections to a cluster's brokers, and where its partitions lead.
pub(crate) struct Cluster {
    bootstrap: String,
    patience: Duration,
    /// The connection for questions any broker answers (Metadata, CreateTopics, ...).
    any: Option<Client>,
    /// Node id → `HOST:PORT`, as Metadata last told.
    brokers: HashMap<i32, String>,
    /// Topic → each partition's leader node id, as Metadata last told; a topic missing here
    /// is asked about again.
    leaders: HashMap<String, Vec<(u32, i32)>>,
    /// A connection to each leader asked so far.
    nodes: HashMap<i32, Client>,
    /// Consumer group → its coordinator's node id, as FindCoordinator last told.
    coordinators: HashMap<String, i32>,
}

impl Cluster {
    /// Connects to the broker at `bootstrap` (`HOST:PORT`), trying again while it is
    /// unavailable, for up to `patience`; `patience` bounds every later call's retries too.
    pub(crate) fn connect(bootstrap: &str, patience: Duration) -> Result<Self> {
        let any = Client::connect_patiently(bootstrap, patience)?;
        Ok(Self {
            bootstrap: bootstrap.to_string(),
            patience,
            any: Some(any),
            brokers: HashMap::new(),
            leaders: HashMap::new(),
            nodes: HashMap::new(),
            coordinators: HashMap::new(),
        })
    }

    /// Runs `request` on a connection to any broker, reconnecting and repeating it while the
    /// cluster is unavailable, up to the patience.
    pub(crate) fn call_any<T>(
        &mut self,
        mut request: impl FnMut(&mut Client) -> Result<T>,
    ) -> Result<T> {
        retry(self.patience, || {
            let out = request(self.any_client()?);
            if matches!(out, Err(ClientError::Unavailable(_))) {
                self.any = None;
            }
            out
        })
    }

    /// Runs `request` on a connection to the coordinator of consumer group `group` (any
    /// broker of the cluster, found with FindCoordinator), finding it again and repeating
    /// while the cluster is unavailable (the coordinator moved, is loading), up to
    /// `patience`.
    pub(crate) fn call_coordinator<T>(
        &mut self,
        group: &str,
        patience: Duration,
        mut request: impl FnMut(&mut Client) -> Result<T>,
    ) -> Result<T> {
        retry(patience, || {
            let node = match self.coordinators.get(group) {
                Some(&node) => node,
                None => {
                    let found = self.any_client()?.find_coordinator(group);
                    if found.is_err() {
                        self.any = None;
                    }
                    let (node, address) = found?;
                    self.brokers.insert(node, address);
                    self.coordinators.insert(group.to_string(), node);
                    node
                }
            };
            let out = request(self.node(node)?);
            if matches!(out, Err(ClientError::Unavailable(_))) {
                self.disconnect(node);
                self.coordinators.remove(group);
            }
            out
        })
    }

    /// The number of partitions of `topic` on the cluster, `None` if it does not exist;
    /// their leaders are remembered for [`call_leader`](Self::call_leader).
    pub(crate) fn partitions(&mut self, topic: &str) -> Result<Option<usize>> {
        self.forget(topic);
        let layout = self.call_any(|c| c.topic_layout(topic))?;
        Ok(layout.map(|layout| {
            let count = layout.leaders.len();
            self.brokers.extend(layout.brokers);
            self.leaders.insert(topic.to_string(), layout.leaders);
            count
        }))
    }

    /// The number of partitions of `topic`, just created. Kafka answers CreateTopics before
    /// its brokers' metadata holds the new topic, so for a moment Metadata may still call it
    /// unknown: it is asked again until it knows it, up to the patience.
    pub(crate) fn created_partitions(&mut self, topic: &str) -> Result<usize> {
        let patience = self.patience;
        retry(patience, || {
            self.partitions(topic)?.ok_or_else(|| {
                ClientError::Unavailable(format!(
                    "topic {topic} was created, but the cluster's metadata does not show it yet"
                ))
            })
        })
    }

    /// Runs `request` on a connection to the leader of `partition` of `topic`. While the
    /// cluster is unavailable (no leader, the leader moved or stopped answering) the leader
    /// is looked up again and the request repeated after a pause, up to the patience; a
    /// repeated Produce is safe only for an idempotent producer, which the cluster
    /// recognises by its sequence.
    pub(crate) fn call_leader<T>(
        &mut self,
        topic: &str,
        partition: u32,
        mut request: impl FnMut(&mut Client) -> Result<T>,
    ) -> Result<T> {
        retry(self.patience, || {
            let node = self.leader(topic, partition)?;
            let out = request(self.node(node)?);
            if matches!(out, Err(ClientError::Unavailable(_))) {
                // The connection may be mid-answer, or the leader elsewhere now.
                self.disconnect(node);
                self.forget(topic);
            }
            out
        })
    }

    /// The connection to broker `node` (as Metadata named it), opened if there is none.
    pub(crate) fn node(&mut self, node: i32) -> Result<&mut Client> {
        if !self.nodes.contains_key(&node) {
            let address = self.brokers.get(&node).cloned().ok_or_else(|| {
                ClientError::Unavailable(format!("broker {node} is not among the brokers"))
            })?;
            let client = Client::connect(&address)?;
            self.nodes.insert(node, client);
        }
        self.nodes
            .get_mut(&node)
            .ok_or_else(|| ClientError::Unavailable(format!("broker {node}: not connected")))
    }

    /// Closes the connection to broker `node` (its answers may be mid-stream, or it may have
    /// stopped leading): the next [`node`](Self::node) opens a new one.
    pub(crate) fn disconnect(&mut self, node: i32) {
        self.nodes.remove(&node);
    }

    /// The node id of the leader of `partition` of `topic`, asking Metadata once if it is
    /// not known.
    pub(crate) fn leader(&mut self, topic: &str, partition: u32) -> Result<i32> {
        if !self.leaders.contains_key(topic) {
            let layout = self.any_client()?.topic_layout(topic);
            if layout.is_err() {
                self.any = None;
            }
            let layout = layout?.ok_or_else(|| {
                ClientError::Refused(format!("topic {topic} does not exist on the cluster"))
            })?;
            self.brokers.extend(layout.brokers);
            self.leaders.insert(topic.to_string(), layout.leaders);
        }
        let leaders = self
            .leaders
            .get(topic)
            .map(Vec::as_slice)
            .unwrap_or_default();
        match leaders.iter().find(|(p, _)| *p == partition) {
            Some(&(_, node)) if node >= 0 => Ok(node),
            Some(_) => {
                self.forget(topic);
                Err(ClientError::Unavailable(format!(
                    "{topic}/{partition} has no leader"
                )))
            }
            None => Err(ClientError::Refused(format!(
                "partition {topic}/{partition} does not exist on the cluster"
            ))),
        }
    }

    /// Forgets where `topic`'s partitions lead, so the next call asks again.
    pub(crate) fn forget(&mut self, topic: &str) {
        self.leaders.remove(topic);
    }

    /// The connection to any broker, opened again if the last one broke.
    fn any_client(&mut self) -> Result<&mut Client> {
        if self.any.is_none() {
            self.any = Some(Client::connect(&self.bootstrap)?);
        }
        self.any
            .as_mut()
            .ok_or_else(|| ClientError::Unavailable(format!("{}: not connected", self.bootstrap)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom::Broker;

    #[test]
    fn finds_each_partitions_leader_and_refuses_a_partition_that_does_not_exist() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(dir.path()).unwrap();
        let server = crate::KafkaServer::bind(broker.clone(), "127.0.0.1:0").unwrap();
        let address = server.local_addr().to_string();
        let mut cluster = Cluster::connect(&address, Duration::from_secs(5)).unwrap();

        assert_eq!(cluster.partitions("readings").unwrap(), None);
        cluster
            .call_any(|c| c.create_topic("readings", 2, &[]))
            .unwrap();
        assert_eq!(cluster.partitions("readings").unwrap(), Some(2));
        let end = cluster
            .call_leader("readings", 1, |c| c.list_offset("readings", 1, -1))
            .unwrap();
        assert_eq!(end, Some(0));
        assert!(matches!(
            cluster.call_leader("readings", 2, |c| c.list_offset("readings", 2, -1)),
            Err(ClientError::Refused(_))
        ));
        assert!(matches!(
            cluster.call_leader("absent", 0, |c| c.list_offset("absent", 0, -1)),
            Err(ClientError::Refused(_))
        ));
        server.shutdown().unwrap();
        broker.close().unwrap();
    }
}
