//! One producer id's stretch of copying: the partitions resumed from their commits, their
//! batches sent to their leaders several requests at a time, acknowledgements turned into
//! commits.
//!
//! Each request to a leader carries at most one batch per partition (Kafka takes no more
//! from version 3 on) and up to [`REQUEST_BYTES`] across the partitions that leader leads;
//! up to [`MAX_IN_FLIGHT`] requests wait for their answers on one connection, the number
//! up to which Kafka keeps an idempotent producer's batches in order. A broken connection
//! or a "not now" answer sends every unacknowledged batch again, in order, with the same
//! sequences: the target recognises those it stored. An answer that a sequence is stored
//! already or out of order ends the session: the next one reads the target's end again and
//! goes on as the same producer from there (what a killed run had in flight landed in
//! between). An answer that the producer is unknown or fenced ends it too: the next starts
//! a new producer id from the commits.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use strom::{IsolationLevel, TopicPartition};

use super::lane::{self, Lane};
use super::progress::{self, Commit};
use super::{Mirror, MirrorError, MirrorProgress};
use crate::client::{error_name, ClientError, PendingProduce, EARLIEST};
use crate::cluster::Cluster;

/// The largest Produce request built, in batch bytes (a single larger batch goes alone).
const REQUEST_BYTES: usize = 1 << 20;
/// Requests in flight per connection: Kafka keeps an idempotent producer's order with up
/// to five.
const MAX_IN_FLIGHT: usize = 5;
/// The bytes of stored batches read from a partition at a time.
const FETCH_BYTES: usize = 1 << 20;
/// Prepared batches held at most, across partitions, beyond one fetch: the mirror's
/// memory bound with what is in flight.
const QUEUED_BYTES: usize = MAX_IN_FLIGHT * REQUEST_BYTES;
/// How often acknowledged progress is committed while copying (commits fsync).
const COMMIT_INTERVAL: Duration = Duration::from_millis(100);
/// How long a wait for new data lasts before the stop flag is looked at again.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// Kafka's codes for a producer the target does not know (any more): the session ends and
/// the next starts a new producer id from the commits.
const NEW_PRODUCER: &[i16] = &[
    47, // INVALID_PRODUCER_EPOCH
    59, // UNKNOWN_PRODUCER_ID
    90, // PRODUCER_FENCED
];
/// Kafka's codes for a batch whose sequences the target stored already, or that do not
/// follow what it stored: the target holds other batches than this session thinks (a
/// killed run's, stored late): the session ends, and the next reads the target's end again.
const RESYNC: &[i16] = &[
    45, // OUT_OF_ORDER_SEQUENCE_NUMBER
    46, // DUPLICATE_SEQUENCE_NUMBER
];

/// Why a session ended early.
pub(super) enum Interrupt {
    /// The target holds other batches than the session thought: start again from the
    /// target's end, as the same producers.
    Resync(String),
    /// The target lost track of the producer: start again with a new one.
    NewProducer(String),
    /// Stop copying with this error.
    Fail(MirrorError),
}

impl From<MirrorError> for Interrupt {
    fn from(e: MirrorError) -> Self {
        Self::Fail(e)
    }
}

impl From<strom::Error> for Interrupt {
    fn from(e: strom::Error) -> Self {
        Self::Fail(e.into())
    }
}

impl From<ClientError> for Interrupt {
    fn from(e: ClientError) -> Self {
        Self::Fail(e.into())
    }
}

/// A request in flight: the lanes it carries a batch of, in order.
struct InFlight {
    pending: PendingProduce,
    lanes: Vec<usize>,
    /// Sent before every request with a greater number.
    number: u64,
}

pub(super) struct Session<'a> {
    mirror: &'a Mirror,
    cluster: &'a mut Cluster,
    lanes: Vec<Lane>,
    in_flight: HashMap<i32, VecDeque<InFlight>>,
    sent_requests: u64,
    last_commit: Instant,
    /// Since when the cluster has been failing without an acknowledgement in between.
    failing_since: Option<Instant>,
    pause: Duration,
}

impl<'a> Session<'a> {
    /// Starts a session: each partition resumed from its commit and the target's end (see
    /// [`progress`]), as the producer its commit names if `reuse`, else as a new producer id.
    /// `partitions`: each partition, its log start and where `once` stops.
    pub(super) fn start(
        mirror: &'a Mirror,
        cluster: &'a mut Cluster,
        partitions: &[(TopicPartition, u64, Option<u64>)],
        reuse: bool,
    ) -> Result<Self, MirrorError> {
        let producer = cluster.call_any(crate::client::Client::init_producer_id)?;
        let commits = progress::load(&mirror.broker, &mirror.group)?;
        let mut lanes = Vec::with_capacity(partitions.len());
        let mut first = Vec::new();
        for (tp, log_start, until) in partitions {
            let target_end = target_end(cluster, tp)?;
            // Known since the ListOffsets just answered: no request.
            let node = cluster.leader(&tp.topic, tp.partition)?;
            let lane = match commits.get(tp) {
                None => {
                    // Committed before anything is sent, so that a crash from here on finds
                    // the target's end to count from.
                    first.push(Commit {
                        tp: tp.clone(),
                        offset: *log_start,
                        target_end,
                        producer,
                        sequence: 0,
                    });
                    Lane::new(
                        tp.clone(),
                        node,
                        *log_start,
                        *until,
                        (target_end, 0),
                        (*log_start, target_end),
                        producer,
                        0,
                    )
                }
                Some(&(offset, resume)) => {
                    let resume = resume.unwrap_or_else(|| {
                        tracing::warn!(
                            topic = %tp.topic,
                            partition = tp.partition,
                            "mirror: the group's commit carries no target end; resuming at \
                             its offset as it stands"
                        );
                        progress::Resume {
                            target_end,
                            producer: None,
                        }
                    });
                    let committed_end = resume.target_end;
                    let skip = progress::written_since(tp, committed_end, target_end)?;
                    // The committed producer numbers the target's records on from the
                    // commit: the records passed over took the sequences before.
                    let (producer, sequence) = match resume.producer {
                        Some((committed, sequence)) if reuse => {
                            (committed, lane::sequence_after(sequence, skip))
                        }
                        _ => (producer, 0),
                    };
                    if offset < *log_start && skip > 0 {
                        return Err(MirrorError::Refused(format!(
                            "{}/{}: the records this mirror wrote after its last commit \
                             (offset {offset}) were deleted here by retention (log start \
                             {log_start}); the target's {skip} records past the commit cannot \
                             be matched",
                            tp.topic, tp.partition
                        )));
                    }
                    let from = offset.max(*log_start);
                    Lane::new(
                        tp.clone(),
                        node,
                        from,
                        *until,
                        (target_end, skip),
                        (offset, committed_end),
                        producer,
                        sequence,
                    )
                }
            };
            lanes.push(lane);
        }
        progress::commit(&mirror.broker, &mirror.group, &first)?;
        Ok(Self {
            mirror,
            cluster,
            lanes,
            in_flight: HashMap::new(),
            sent_requests: 0,
            last_commit: Instant::now(),
            failing_since: None,
            pause: Duration::from_millis(50),
        })
    }

    /// Copies until every lane is done (`once`), `stop` is set, or an interruption; commits
    /// what was acknowledged in every case.
    pub(super) fn run(
        &mut self,
        stop: &AtomicBool,
        waiter: Option<&tokio::runtime::Runtime>,
        progress: &mut MirrorProgress,
    ) -> Result<(), Interrupt> {
        let out = self.copy(stop, waiter, progress);
        // Acknowledged is acknowledged, whatever stopped the copy.
        let committed = self.commit();
        out?;
        committed.map_err(Interrupt::Fail)
    }

    fn copy(
        &mut self,
        stop: &AtomicBool,
        waiter: Option<&tokio::runtime::Runtime>,
        progress: &mut MirrorProgress,
    ) -> Result<(), Interrupt> {
        loop {
            let stopping = stop.load(Ordering::Relaxed);
            if stopping && self.failing_since.is_some() {
                // Not waiting out the patience to stop: what is unacknowledged is the next
                // run's to send (or to pass over, if it was stored after all).
                return Ok(());
            }
            let read = !stopping && self.fill()?;
            self.send()?;
            if let Some(node) = self.oldest_in_flight() {
                self.receive(node, progress)?;
            } else if stopping
                || self.lanes.iter().all(Lane::is_done)
                || (waiter.is_none() && !read && !self.lanes.iter().any(Lane::has_unsent))
            {
                return Ok(());
            } else if !self.lanes.iter().any(Lane::has_unsent) {
                // Caught up: commit, then wait for new data (following only: `once` lanes
                // are done when caught up).
                self.commit()?;
                if let Some(runtime) = waiter {
                    let positions: Vec<(TopicPartition, u64)> = self
                        .lanes
                        .iter()
                        .map(|l| (l.tp.clone(), l.position()))
                        .collect();
                    let wait = self
                        .mirror
                        .broker
                        .wait_for_data(&positions, IsolationLevel::ReadCommitted);
                    // Resolved or not, the next round reads; a timeout only lets `stop` be
                    // seen.
                    let _ =
                        runtime.block_on(async { tokio::time::timeout(WAIT_SLICE, wait).await });
                }
            }
            if self.last_commit.elapsed() >= COMMIT_INTERVAL {
                self.commit()?;
            }
        }
    }

    /// Reads more batches for the lanes that have sent all theirs, within the memory bound;
    /// returns whether any lane read something.
    fn fill(&mut self) -> Result<bool, MirrorError> {
        let broker = &self.mirror.broker;
        let mut read = false;
        for i in 0..self.lanes.len() {
            let queued: usize = self.lanes.iter().map(|l| l.queued_bytes).sum();
            if queued >= QUEUED_BYTES {
                // Over the bound: as if read, so that `once` waits for the answers.
                return Ok(true);
            }
            let lane = &mut self.lanes[i];
            if !lane.has_unsent() && lane.queue.len() < MAX_IN_FLIGHT {
                let producer = lane.producer;
                read |= lane.fill(broker, producer, FETCH_BYTES)?;
            }
        }
        Ok(read)
    }

    /// Sends requests to each leader while it has fewer than [`MAX_IN_FLIGHT`] unanswered.
    fn send(&mut self) -> Result<(), Interrupt> {
        let mut nodes: Vec<i32> = self.lanes.iter().map(|l| l.node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        for node in nodes {
            loop {
                let flying = self.in_flight.get(&node).map_or(0, VecDeque::len);
                if flying >= MAX_IN_FLIGHT {
                    break;
                }
                let mut carried = Vec::new();
                let mut by_topic: Vec<(String, Vec<(u32, Bytes)>)> = Vec::new();
                let mut bytes = 0;
                // Each request starts at another partition, so that large batches of the
                // first ones do not keep the others waiting.
                let count = self.lanes.len();
                let first = usize::try_from(self.sent_requests).unwrap_or(0) % count.max(1);
                for i in (first..count).chain(0..first) {
                    let lane = &self.lanes[i];
                    if lane.node != node || !lane.has_unsent() {
                        continue;
                    }
                    let next = &lane.queue[lane.sent];
                    if bytes > 0 && bytes + next.bytes.len() > REQUEST_BYTES {
                        continue;
                    }
                    bytes += next.bytes.len();
                    carried.push(i);
                    let part = (lane.tp.partition, next.bytes.clone());
                    match by_topic.iter_mut().find(|(t, _)| *t == lane.tp.topic) {
                        Some((_, parts)) => parts.push(part),
                        None => by_topic.push((lane.tp.topic.clone(), vec![part])),
                    }
                }
                if carried.is_empty() {
                    break;
                }
                let sent = self
                    .cluster
                    .node(node)
                    .and_then(|client| client.send_produce(by_topic));
                match sent {
                    Ok(pending) => {
                        for &i in &carried {
                            self.lanes[i].sent += 1;
                        }
                        self.sent_requests += 1;
                        self.in_flight.entry(node).or_default().push_back(InFlight {
                            pending,
                            lanes: carried,
                            number: self.sent_requests,
                        });
                    }
                    Err(ClientError::Unavailable(reason)) => {
                        self.reset(node, &reason)?;
                        break;
                    }
                    Err(refused) => return Err(refused.into()),
                }
            }
        }
        Ok(())
    }

    /// The node whose oldest unanswered request went out first.
    fn oldest_in_flight(&self) -> Option<i32> {
        self.in_flight
            .iter()
            .filter_map(|(&node, q)| q.front().map(|f| (f.number, node)))
            .min()
            .map(|(_, node)| node)
    }

    /// Reads the answer to `node`'s oldest request and acts on it.
    fn receive(&mut self, node: i32, progress: &mut MirrorProgress) -> Result<(), Interrupt> {
        let Some(flight) = self.in_flight.get_mut(&node).and_then(VecDeque::pop_front) else {
            return Ok(());
        };
        let answers = match self
            .cluster
            .node(node)
            .and_then(|c| c.read_produce(flight.pending))
        {
            Ok(answers) => answers,
            Err(ClientError::Unavailable(reason)) => return self.reset(node, &reason),
            Err(refused) => return Err(refused.into()),
        };
        let mut retry = None;
        for &i in &flight.lanes {
            let lane = &mut self.lanes[i];
            let tp = &lane.tp;
            let answer = answers
                .iter()
                .find(|a| a.topic == tp.topic && a.partition == tp.partition)
                .ok_or_else(|| {
                    MirrorError::Refused(format!(
                        "Produce to {}/{}: the answer leaves the partition out",
                        tp.topic, tp.partition
                    ))
                })?;
            let code = answer.error_code;
            if code == 0 {
                if let Some(done) = lane.acknowledge() {
                    progress.batches += 1;
                    progress.records += done.records;
                    progress.bytes += done.bytes.len() as u64;
                }
                self.failing_since = None;
                self.pause = Duration::from_millis(50);
                continue;
            }
            let what = format!(
                "Produce to {}/{}: {}{}",
                tp.topic,
                tp.partition,
                error_name(code),
                answer
                    .message
                    .as_ref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            );
            if RESYNC.contains(&code) {
                return Err(Interrupt::Resync(what));
            }
            if NEW_PRODUCER.contains(&code) {
                return Err(Interrupt::NewProducer(what));
            }
            match crate::client::answered(&what, code) {
                ClientError::Unavailable(_) => retry = Some(what),
                ClientError::Refused(_) => return Err(MirrorError::Refused(what).into()),
            }
        }
        match retry {
            Some(reason) => self.reset(node, &reason),
            None => Ok(()),
        }
    }

    /// Gives up `node`'s connection and what is in flight on it after a failure: its
    /// partitions' unacknowledged batches go again, in order, with the same sequences, to
    /// their leaders as Metadata tells after a pause; past the patience,
    /// [`MirrorError::Unavailable`].
    fn reset(&mut self, node: i32, reason: &str) -> Result<(), Interrupt> {
        let since = *self.failing_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= self.mirror.patience {
            return Err(MirrorError::Unavailable(reason.to_string()).into());
        }
        tracing::debug!(%reason, pause = ?self.pause, "mirror: sending again after a pause");
        self.cluster.disconnect(node);
        self.in_flight.remove(&node);
        thread::sleep(self.pause);
        self.pause = (self.pause * 2).min(Duration::from_secs(5));
        for lane in self.lanes.iter_mut().filter(|l| l.node == node) {
            lane.sent = 0;
            self.cluster.forget(&lane.tp.topic);
        }
        for i in 0..self.lanes.len() {
            if self.lanes[i].node == node {
                let (topic, partition) =
                    (self.lanes[i].tp.topic.clone(), self.lanes[i].tp.partition);
                match self.cluster.leader(&topic, partition) {
                    Ok(leader) => self.lanes[i].node = leader,
                    // Still no leader: this node again, after the next pause.
                    Err(ClientError::Unavailable(_)) => {}
                    Err(refused) => return Err(refused.into()),
                }
            }
        }
        Ok(())
    }

    /// Commits each partition's acknowledged position that moved, with the target's end.
    fn commit(&mut self) -> Result<(), MirrorError> {
        self.last_commit = Instant::now();
        let due: Vec<Commit> = self
            .lanes
            .iter()
            .filter(|l| l.is_dirty())
            .map(|l| Commit {
                tp: l.tp.clone(),
                offset: l.acked_offset,
                target_end: l.target_end,
                producer: l.producer,
                sequence: l.acked_sequence(),
            })
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        progress::commit(&self.mirror.broker, &self.mirror.group, &due)?;
        for lane in self.lanes.iter_mut().filter(|l| l.is_dirty()) {
            lane.committed = (lane.acked_offset, lane.target_end);
        }
        Ok(())
    }
}

/// The end of the target partition `tp` now: the offset its next record will get, as a
/// Fetch's high watermark tells it. Not ListOffsets(latest), which every broker should answer
/// the same, but one Kafka-compatible broker (tansu's memory engine) answers with its last
/// batch's first offset plus one.
fn target_end(cluster: &mut Cluster, tp: &TopicPartition) -> Result<u64, MirrorError> {
    let (topic, partition) = (tp.topic.as_str(), tp.partition);
    let start = cluster
        .call_leader(topic, partition, |c| {
            c.list_offset(topic, partition, EARLIEST)
        })?
        .unwrap_or(0);
    // One byte asked: the answer carries at most the first batch, and the watermark. A short
    // wait, not none: a Fetch that may not wait is answered by some brokers with no
    // partition at all.
    let fetched = cluster.call_leader(topic, partition, |c| {
        c.fetch(topic, partition, start, Duration::from_millis(10), 1)
    })?;
    u64::try_from(fetched.high_watermark).map_err(|_| {
        MirrorError::Refused(format!(
            "Fetch of {topic}/{partition} on the target gave the high watermark {}",
            fetched.high_watermark
        ))
    })
}
