//! Transaction administration, as Kafka's admin client lists and describes transactions.

use super::Broker;
use crate::error::Result;
use crate::transaction::TransactionDescription;

impl Broker {
    /// Every transactional id this broker has seen since it opened (with the ids of
    /// transactions a crash left to recover), sorted: its producer id and epoch, and the
    /// transaction it has open. As Kafka's `listTransactions` and `describeTransactions`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// use strom::{Broker, Record, TopicConfig, TransactionState};
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic("payments", TopicConfig::default())?;
    /// let producer = broker.transactional_producer("payments-1")?;
    /// producer.begin_transaction()?;
    /// producer.send("payments", Record::new("10.00"))?;
    /// let listed = broker.list_transactions()?;
    /// assert_eq!(listed[0].transactional_id, "payments-1");
    /// assert_eq!(listed[0].state, TransactionState::Ongoing);
    /// assert_eq!(listed[0].partitions.len(), 1);
    /// producer.commit_transaction()?;
    /// assert_eq!(broker.list_transactions()?[0].state, TransactionState::Empty);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn list_transactions(&self) -> Result<Vec<TransactionDescription>> {
        self.inner.check_open()?;
        Ok(self
            .inner
            .transactions()
            .describe_all(self.inner.config.transaction_timeout))
    }
}
