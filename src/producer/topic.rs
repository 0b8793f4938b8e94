//! [`TopicProducer`]: a [`Producer`](crate::Producer) bound to one topic, looked up once.

use std::sync::Arc;

use serde::Serialize;

use super::{json_record, send_batch_to, send_to, BatchBuilder, Plain};
use crate::broker::Inner;
use crate::error::Result;
use crate::record::{Record, RecordMetadata};
use crate::topic::Topic;

/// Appends records to one topic, resolved once by [`Producer::topic`](crate::Producer::topic).
///
/// `send`, `send_batch` and `send_json` behave exactly as [`Producer`](crate::Producer)'s
/// (partitioning, validation, errors, metadata) but skip the look-up of the topic by name
/// that each `Producer` call makes. `Clone + Send + Sync`; clones are cheap and share the
/// topic.
///
/// If the topic is deleted, or replaced by [`Broker::alter_topic`](crate::Broker::alter_topic),
/// each call looks it up by name again, as `Producer::send` does: a deleted topic gives
/// [`Error::UnknownTopic`](crate::Error::UnknownTopic) (or is created again when the broker
/// auto-creates topics), and nothing is ever written into a deleted topic's files. Call
/// [`Producer::topic`](crate::Producer::topic) again to skip the look-up once more.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use strom::{Broker, Record, TopicConfig};
///
/// let broker = Broker::open(dir.path())?;
/// broker.create_topic("clicks", TopicConfig::default().partitions(3))?;
/// let clicks = broker.producer().topic("clicks")?;
/// let meta = clicks.send(Record::new("home").key("u1"))?;
/// assert_eq!((meta.topic.as_str(), meta.offset), ("clicks", 0));
/// # Ok::<(), strom::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TopicProducer {
    inner: Arc<Inner>,
    topic: Arc<Topic>,
}

impl TopicProducer {
    pub(crate) fn new(inner: Arc<Inner>, topic: Arc<Topic>) -> Self {
        Self { inner, topic }
    }

    /// The topic's name.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("clicks", strom::TopicConfig::default())?;
    /// let clicks = broker.producer().topic("clicks")?;
    /// assert_eq!(clicks.name(), "clicks");
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        self.topic.name()
    }

    /// Runs `f` on the topic: the one held while it is current, else the broker's topic
    /// of that name now (or the error `Producer::send` would give).
    fn with_topic<T>(&self, f: impl FnOnce(&Topic) -> Result<T>) -> Result<T> {
        if self.topic.is_current() {
            self.inner.check_open()?;
            f(&self.topic)
        } else {
            f(&*self.inner.topic_for_send(self.topic.name())?)
        }
    }

    /// Appends one record, as [`Producer::send`](crate::Producer::send).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("clicks", strom::TopicConfig::default())?;
    /// use strom::Record;
    ///
    /// let clicks = broker.producer().topic("clicks")?;
    /// assert_eq!(clicks.send(Record::new("home"))?.offset, 0);
    /// assert_eq!(clicks.send(Record::new("cart"))?.offset, 1);
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Producer::send`](crate::Producer::send).
    pub fn send(&self, record: Record) -> Result<RecordMetadata> {
        self.with_topic(|topic| send_to(topic, record, &mut Plain))
    }

    /// Appends many records, as [`Producer::send_batch`](crate::Producer::send_batch): one
    /// batch per partition, all-or-nothing per partition, one [`RecordMetadata`] per record
    /// in input order.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("clicks", strom::TopicConfig::default())?;
    /// use strom::Record;
    ///
    /// let clicks = broker.producer().topic("clicks")?;
    /// let metas = clicks.send_batch([Record::new("home"), Record::new("cart")])?;
    /// assert_eq!(metas.iter().map(|m| m.offset).collect::<Vec<_>>(), [0, 1]);
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Producer::send_batch`](crate::Producer::send_batch).
    pub fn send_batch(
        &self,
        records: impl IntoIterator<Item = Record>,
    ) -> Result<Vec<RecordMetadata>> {
        self.with_topic(|topic| send_batch_to(topic, records, &mut Plain))
    }

    /// Appends `value` serialized as JSON, with an optional key, as
    /// [`Producer::send_json`](crate::Producer::send_json).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("clicks", strom::TopicConfig::default())?;
    /// let clicks = broker.producer().topic("clicks")?;
    /// let meta = clicks.send_json(Some("u1"), &serde_json::json!({"page": "home"}))?;
    /// assert_eq!(meta.offset, 0);
    /// # Ok::<(), strom::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Producer::send_json`](crate::Producer::send_json).
    pub fn send_json<T: Serialize + ?Sized>(
        &self,
        key: Option<&str>,
        value: &T,
    ) -> Result<RecordMetadata> {
        let record = json_record(self.name(), key, value)?;
        self.send(record)
    }

    /// A [`BatchBuilder`] for this topic, as [`Producer::batch`](crate::Producer::batch)
    /// without the look-up.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let broker = strom::Broker::open(dir.path())?;
    /// # broker.create_topic("clicks", strom::TopicConfig::default())?;
    /// let clicks = broker.producer().topic("clicks")?;
    /// let mut batch = clicks.batch();
    /// batch.push(Some(b"u1"), b"home")?;
    /// assert_eq!(batch.send()?.ranges.len(), 1);
    /// # Ok::<(), strom::Error>(())
    /// ```
    pub fn batch(&self) -> BatchBuilder {
        BatchBuilder::new(Arc::clone(&self.inner), Arc::clone(&self.topic))
    }
}
