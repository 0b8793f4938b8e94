//! Fetch: the stored record batches of each partition asked for, as they are stored (the
//! records bytes are the log's own, never encoded again), and Kafka's long-poll: a fetch
//! that finds less than `min_bytes` waits, woken by the log's appends, until there is
//! enough or `max_wait_ms` has passed.
//!
//! Sessions (KIP-227) are not kept: every fetch is a full one, answered with session id 0,
//! which clients take as "this broker keeps no session" and go on sending full fetches. A
//! request naming a session (id ≠ 0) is answered FETCH_SESSION_ID_NOT_FOUND, as Kafka
//! answers one whose session it no longer has; the client then starts over sessionless.
//!
//! Versions 4 to 12: from version 13 a fetch names topics by id, and strom's topics have
//! none (Metadata answers no ids).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId};
use kafka_protocol::ResponseError;
use strom::{IsolationLevel, TopicPartition};

use super::Poll;
use super::{decode, encode, error_code, RequestError};
use crate::bounds::{Checked, Walk};
use crate::server::Shared;

pub(super) fn check(walk: &mut Walk<'_>, version: i16) -> Checked {
    walk.i32()?; // replica id
    walk.i32()?; // max wait
    walk.i32()?; // min bytes
    walk.i32()?; // max bytes
    walk.int8()?; // isolation level
    if version >= 7 {
        walk.i32()?; // session id
        walk.i32()?; // session epoch
    }
    walk.array(|topic| {
        topic.string()?;
        topic.array(|partition| {
            partition.i32()?;
            if version >= 9 {
                partition.i32()?; // current leader epoch
            }
            partition.i64()?; // fetch offset
            if version >= 12 {
                partition.i32()?; // last fetched epoch
            }
            if version >= 5 {
                partition.i64()?; // log start offset
            }
            partition.i32()?; // partition max bytes
            partition.tags()
        })?;
        topic.tags()
    })?;
    if version >= 7 {
        walk.array(|forgotten| {
            forgotten.string()?;
            forgotten.array(Walk::i32)?;
            forgotten.tags()
        })?;
    }
    if version >= 11 {
        walk.string()?; // rack id
    }
    walk.tags()
}

/// Answers a Fetch at once, whatever its `max_wait_ms`: for a request answered outside
/// the server's runtime ([`answer_frame`](crate::answer_frame)).
pub(super) fn answer(shared: &Shared, version: i16, body: Bytes) -> Result<BytesMut, RequestError> {
    match answer_polling(shared, version, body, Poll::Never)? {
        Fetched::Answer(body) => Ok(body),
        // Never asked to wait: answered at once.
        Fetched::Wait(_) => Err(RequestError("a fetch waiting without a runtime".to_owned())),
    }
}

/// A Fetch's answer, or the wait before it.
pub(crate) enum Fetched {
    Answer(BytesMut),
    Wait(Wait),
}

/// A Fetch that found less than `min_bytes`, waiting for an append past what it has seen.
pub(crate) struct Wait {
    /// Each partition read, at the end of what it could serve.
    pub(crate) positions: Vec<(TopicPartition, u64)>,
    pub(crate) isolation: IsolationLevel,
    /// `max_wait_ms` after the request's first reading.
    pub(crate) deadline: tokio::time::Instant,
}

impl Wait {
    /// Resolves once there is data past a position, or at the deadline.
    pub(crate) async fn wait(self, broker: &strom::Broker) {
        if self.positions.is_empty() {
            // Nothing to watch (no partition asked for): Kafka waits all the same.
            tokio::time::sleep_until(self.deadline).await;
            return;
        }
        let _ = tokio::time::timeout_at(
            self.deadline,
            broker.wait_for_data(&self.positions, self.isolation),
        )
        .await;
    }
}

/// Answers a Fetch, or says how to wait when it finds less than `min_bytes` and `poll`
/// allows a wait that has not passed its deadline.
pub(super) fn answer_polling(
    shared: &Shared,
    version: i16,
    body: Bytes,
    poll: Poll,
) -> Result<Fetched, RequestError> {
    let request: FetchRequest = decode(body, version)?;
    if version >= 7 && request.session_id != 0 {
        return encode(
            &FetchResponse::default()
                .with_error_code(ResponseError::FetchSessionIdNotFound.code())
                .with_session_id(0),
            version,
        )
        .map(Fetched::Answer);
    }
    let isolation = if request.isolation_level == 1 {
        IsolationLevel::ReadCommitted
    } else {
        IsolationLevel::ReadUncommitted
    };
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0).max(1);
    let answered = read(shared, &request, isolation);
    let now = tokio::time::Instant::now();
    let deadline = match poll {
        Poll::Never => None,
        Poll::First => u64::try_from(request.max_wait_ms)
            .ok()
            .filter(|&ms| ms > 0)
            .map(|ms| now + Duration::from_millis(ms)),
        Poll::Until(deadline) => Some(deadline),
    };
    if let Some(deadline) = deadline.filter(|&d| d > now) {
        if answered.bytes < min_bytes && !answered.failed {
            return Ok(Fetched::Wait(Wait {
                positions: answered.seen,
                isolation,
                deadline,
            }));
        }
    }
    encode(
        &FetchResponse::default()
            .with_session_id(0)
            .with_responses(answered.topics),
        version,
    )
    .map(Fetched::Answer)
}

/// One reading of every partition asked for.
struct Answered {
    topics: Vec<FetchableTopicResponse>,
    /// Records bytes in the answer.
    bytes: usize,
    /// A partition is answered with an error: the fetch answers at once, as Kafka's does.
    failed: bool,
    /// Each partition read, at the end of what it can serve now (its high watermark or last
    /// stable offset), or at the fetch offset when that is further.
    seen: Vec<(TopicPartition, u64)>,
}

fn read(shared: &Shared, request: &FetchRequest, isolation: IsolationLevel) -> Answered {
    let mut left = usize::try_from(request.max_bytes).unwrap_or(0);
    let mut answered = Answered {
        topics: Vec::with_capacity(request.topics.len()),
        bytes: 0,
        failed: false,
        seen: Vec::new(),
    };
    for topic in &request.topics {
        let name = topic.topic.0.as_str();
        let partitions = topic
            .partitions
            .iter()
            .map(|asked| {
                let answer = PartitionData::default()
                    .with_partition_index(asked.partition)
                    .with_aborted_transactions(match isolation {
                        IsolationLevel::ReadCommitted => Some(Vec::new()),
                        IsolationLevel::ReadUncommitted => None,
                    })
                    // Empty, not null, as Kafka answers a partition it has no records for:
                    // librdkafka takes a null record set for a broken answer and retries.
                    .with_records(Some(Bytes::new()));
                let fail = |answered: &mut Answered, code: i16| {
                    answered.failed = true;
                    answer.clone().with_error_code(code).with_high_watermark(-1)
                };
                let (Ok(partition), false) =
                    (u32::try_from(asked.partition), name.starts_with("__"))
                else {
                    return fail(&mut answered, ResponseError::UnknownTopicOrPartition.code());
                };
                let Ok(offset) = u64::try_from(asked.fetch_offset) else {
                    return fail(&mut answered, ResponseError::OffsetOutOfRange.code());
                };
                let tp = TopicPartition::new(name, partition);
                // Past the response's max_bytes, a partition gets no records: but the first
                // batch of the answer is always whole, so a consumer makes progress (KIP-74).
                let limit = usize::try_from(asked.partition_max_bytes)
                    .unwrap_or(0)
                    .min(left);
                let fetched = match shared.broker.fetch_batches(&tp, offset, limit, isolation) {
                    Ok(fetched) => fetched,
                    Err(e) => {
                        let code = match e {
                            strom::Error::OffsetOutOfRange { .. } => {
                                ResponseError::OffsetOutOfRange.code()
                            }
                            _ => error_code(&e),
                        };
                        tracing::debug!(%tp, offset, "fetch refused: {e}");
                        return fail(&mut answered, code);
                    }
                };
                let end = match isolation {
                    IsolationLevel::ReadUncommitted => fetched.high_watermark,
                    IsolationLevel::ReadCommitted => fetched.last_stable_offset,
                };
                answered.seen.push((tp, end.max(offset)));
                let mut bytes = fetched.bytes;
                if answered.bytes > 0 && bytes.len() > limit {
                    bytes.clear();
                }
                left = left.saturating_sub(bytes.len());
                answered.bytes += bytes.len();
                let aborted = fetched
                    .aborted
                    .iter()
                    .map(|a| {
                        AbortedTransaction::default()
                            .with_producer_id(ProducerId(a.producer_id))
                            .with_first_offset(i64::try_from(a.first_offset).unwrap_or(i64::MAX))
                    })
                    .collect();
                answer
                    .with_high_watermark(to_i64(fetched.high_watermark))
                    .with_last_stable_offset(to_i64(fetched.last_stable_offset))
                    .with_log_start_offset(to_i64(fetched.log_start_offset))
                    .with_aborted_transactions(match isolation {
                        IsolationLevel::ReadCommitted => Some(aborted),
                        IsolationLevel::ReadUncommitted => None,
                    })
                    .with_records(Some(Bytes::from(bytes)))
            })
            .collect();
        answered.topics.push(
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_partitions(partitions),
        );
    }
    answered
}

fn to_i64(offset: u64) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}
