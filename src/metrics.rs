//! Counters, gauges and histograms through the [`metrics`](https://docs.rs/metrics) facade,
//! behind the cargo feature `metrics`: the application installs the recorder (a Prometheus
//! exporter, for one) and strom reports to it.
//!
//! Every handle is registered once, when the thing it measures is opened or created (a
//! partition, a group, a transactional id), never per record or per call; the hot paths
//! only add to a handle they hold. A handle registered while no recorder is installed stays
//! a no-op, so the recorder is installed before [`Broker::open`](crate::Broker::open).
//!
//! Without the feature the types here are empty and their methods compile to nothing.

#[cfg(feature = "metrics")]
pub(crate) use recorded::{
    BytesPassed, GroupMetrics, LagGauges, PartitionMetrics, Timer, TxnMetrics,
};

#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::{
    BytesPassed, GroupMetrics, LagGauges, PartitionMetrics, Timer, TxnMetrics,
};

/// The metrics' names, as the README lists them.
#[cfg(feature = "metrics")]
mod names {
    pub(super) const RECORDS_APPENDED: &str = "strom_records_appended_total";
    pub(super) const BYTES_APPENDED: &str = "strom_bytes_appended_total";
    pub(super) const RECORDS_READ: &str = "strom_records_read_total";
    pub(super) const BYTES_READ: &str = "strom_bytes_read_total";
    pub(super) const FSYNCS: &str = "strom_fsyncs_total";
    pub(super) const FSYNC_SECONDS: &str = "strom_fsync_seconds";
    pub(super) const SEGMENT_ROLLS: &str = "strom_segment_rolls_total";
    pub(super) const SEGMENTS_DELETED: &str = "strom_segments_deleted_total";
    pub(super) const COMPACTION_SEGMENTS: &str = "strom_compaction_segments_rewritten_total";
    pub(super) const COMPACTION_RECORDS: &str = "strom_compaction_records_removed_total";
    pub(super) const GROUP_LAG: &str = "strom_consumer_group_lag";
    pub(super) const REBALANCES: &str = "strom_rebalances_total";
    pub(super) const TXN_COMMITTED: &str = "strom_transactions_committed_total";
    pub(super) const TXN_ABORTED: &str = "strom_transactions_aborted_total";
}

#[cfg(feature = "metrics")]
mod recorded {
    use std::collections::HashMap;
    use std::time::Instant;

    use ::metrics::{Counter, Gauge, Histogram, Label, Unit};
    use parking_lot::Mutex;

    use super::names;
    use crate::record::TopicPartition;
    use crate::storage::segment::MappedBatch;

    /// One partition's handles, labelled `topic` and `partition`.
    #[derive(Debug)]
    pub(crate) struct PartitionMetrics {
        records_appended: Counter,
        bytes_appended: Counter,
        records_read: Counter,
        bytes_read: Counter,
        fsyncs: Counter,
        fsync_seconds: Histogram,
        segment_rolls: Counter,
        segments_deleted: Counter,
        compaction_segments: Counter,
        compaction_records: Counter,
    }

    impl PartitionMetrics {
        /// Registers the handles of `topic`'s `partition` with the current recorder.
        pub(crate) fn new(topic: &str, partition: u32) -> Self {
            describe();
            let labels = [
                Label::new("topic", topic.to_owned()),
                Label::new("partition", partition.to_string()),
            ];
            let counter = |name: &'static str| ::metrics::counter!(name, labels.iter());
            Self {
                records_appended: counter(names::RECORDS_APPENDED),
                bytes_appended: counter(names::BYTES_APPENDED),
                records_read: counter(names::RECORDS_READ),
                bytes_read: counter(names::BYTES_READ),
                fsyncs: counter(names::FSYNCS),
                fsync_seconds: ::metrics::histogram!(names::FSYNC_SECONDS, labels.iter()),
                segment_rolls: counter(names::SEGMENT_ROLLS),
                segments_deleted: counter(names::SEGMENTS_DELETED),
                compaction_segments: counter(names::COMPACTION_SEGMENTS),
                compaction_records: counter(names::COMPACTION_RECORDS),
            }
        }

        /// A batch of `records` taking `bytes` of the log was appended.
        #[inline]
        pub(crate) fn appended(&self, records: u64, bytes: usize) {
            self.records_appended.increment(records);
            self.bytes_appended.increment(bytes as u64);
        }

        /// A poll handed out `records` and read past the log's batches `bytes` tallied.
        #[inline]
        pub(crate) fn read(&self, records: usize, bytes: BytesPassed) {
            if records != 0 || bytes.0 != 0 {
                self.records_read.increment(records as u64);
                self.bytes_read.increment(bytes.0 as u64);
            }
        }

        /// The fsync `timer` timed is done.
        #[inline]
        pub(crate) fn fsynced(&self, timer: Timer) {
            self.fsyncs.increment(1);
            self.fsync_seconds.record(timer.0.elapsed().as_secs_f64());
        }

        /// The active segment was sealed and a new one started.
        pub(crate) fn rolled(&self) {
            self.segment_rolls.increment(1);
        }

        /// Retention deleted `segments` segments.
        pub(crate) fn segments_deleted(&self, segments: usize) {
            self.segments_deleted.increment(segments as u64);
        }

        /// Compaction rewrote `segments` segments, removing `records` records.
        pub(crate) fn compacted(&self, segments: usize, records: usize) {
            self.compaction_segments.increment(segments as u64);
            self.compaction_records.increment(records as u64);
        }
    }

    /// When an fsync began.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Timer(Instant);

    impl Timer {
        /// Starts timing.
        #[inline]
        pub(crate) fn start() -> Self {
            Self(Instant::now())
        }
    }

    /// The bytes of the log's batches a read went past.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct BytesPassed(usize);

    impl BytesPassed {
        /// None yet.
        #[inline]
        pub(crate) fn new() -> Self {
            Self(0)
        }

        /// The read went past `batch` (and the batches it read on through).
        #[inline]
        pub(crate) fn add(&mut self, batch: &MappedBatch<'_>) {
            self.0 += batch.passed_bytes();
        }
    }

    /// A consumer group's handles, labelled `group`.
    #[derive(Debug)]
    pub(crate) struct GroupMetrics {
        rebalances: Counter,
    }

    impl GroupMetrics {
        /// Registers the handles of `group_id` with the current recorder.
        pub(crate) fn new(group_id: &str) -> Self {
            describe();
            Self {
                rebalances: ::metrics::counter!(names::REBALANCES, "group" => group_id.to_owned()),
            }
        }

        /// The group started a new generation.
        pub(crate) fn rebalanced(&self) {
            self.rebalances.increment(1);
        }
    }

    /// A transactional id's handles, labelled `transactional_id`.
    #[derive(Debug)]
    pub(crate) struct TxnMetrics {
        committed: Counter,
        aborted: Counter,
    }

    impl TxnMetrics {
        /// Registers the handles of `transactional_id` with the current recorder.
        pub(crate) fn new(transactional_id: &str) -> Self {
            describe();
            let label = || ("transactional_id", transactional_id.to_owned());
            Self {
                committed: ::metrics::counter!(names::TXN_COMMITTED, &[label()]),
                aborted: ::metrics::counter!(names::TXN_ABORTED, &[label()]),
            }
        }

        /// A transaction ended: committed or aborted.
        pub(crate) fn ended(&self, committed: bool) {
            if committed {
                self.committed.increment(1);
            } else {
                self.aborted.increment(1);
            }
        }
    }

    /// The lag gauges of every group and partition, registered at their first commit (or
    /// at open, for what was committed before).
    #[derive(Debug)]
    pub(crate) struct LagGauges {
        gauges: Mutex<HashMap<String, HashMap<TopicPartition, Gauge>>>,
    }

    impl LagGauges {
        /// No gauge yet.
        pub(crate) fn new() -> Self {
            Self {
                gauges: Mutex::new(HashMap::new()),
            }
        }

        /// Sets the lag of `group_id` in each of `partitions` to what `lag` says. With
        /// `register`, partitions without a gauge get one; without (the background thread,
        /// where the application's recorder may not be the current one), they are skipped.
        pub(crate) fn set<'a>(
            &self,
            group_id: &str,
            partitions: impl IntoIterator<Item = &'a TopicPartition>,
            register: bool,
            lag: impl Fn(&TopicPartition) -> u64,
        ) {
            let mut all = self.gauges.lock();
            let group = match all.get_mut(group_id) {
                Some(group) => group,
                None if register => all.entry(group_id.to_owned()).or_default(),
                None => return,
            };
            for tp in partitions {
                let gauge = match group.get(tp) {
                    Some(gauge) => gauge,
                    None if register => {
                        describe();
                        let gauge = ::metrics::gauge!(
                            names::GROUP_LAG,
                            "group" => group_id.to_owned(),
                            "topic" => tp.topic.clone(),
                            "partition" => tp.partition.to_string()
                        );
                        group.entry(tp.clone()).or_insert(gauge)
                    }
                    None => continue,
                };
                #[expect(
                    clippy::cast_precision_loss,
                    reason = "a gauge is an f64; a lag past 2⁵³ records is never exact"
                )]
                gauge.set(lag(tp) as f64);
            }
        }

        /// The groups and partitions that have a gauge.
        pub(crate) fn registered(&self) -> Vec<(String, Vec<TopicPartition>)> {
            self.gauges
                .lock()
                .iter()
                .map(|(group, tps)| (group.clone(), tps.keys().cloned().collect()))
                .collect()
        }
    }

    /// Tells the current recorder what each metric means (an exporter's `# HELP` lines).
    fn describe() {
        use ::metrics::{describe_counter, describe_gauge, describe_histogram};
        describe_counter!(
            names::RECORDS_APPENDED,
            "Records appended to the partition's log."
        );
        describe_counter!(
            names::BYTES_APPENDED,
            Unit::Bytes,
            "Bytes of record batches appended to the partition's log."
        );
        describe_counter!(
            names::RECORDS_READ,
            "Records handed out by consumers' polls."
        );
        describe_counter!(
            names::BYTES_READ,
            Unit::Bytes,
            "Bytes of record batches consumers' polls read past."
        );
        describe_counter!(
            names::FSYNCS,
            "Fsyncs of the partition's appended data (each shared by the sends it covers)."
        );
        describe_histogram!(
            names::FSYNC_SECONDS,
            Unit::Seconds,
            "How long each fsync of the partition's data took."
        );
        describe_counter!(
            names::SEGMENT_ROLLS,
            "Segments sealed and replaced by a new one."
        );
        describe_counter!(names::SEGMENTS_DELETED, "Segments deleted by retention.");
        describe_counter!(
            names::COMPACTION_SEGMENTS,
            "Segments rewritten by compaction."
        );
        describe_counter!(names::COMPACTION_RECORDS, "Records removed by compaction.");
        describe_gauge!(
            names::GROUP_LAG,
            "High watermark minus the group's committed offset (or the log start)."
        );
        describe_counter!(names::REBALANCES, "Generations the consumer group started.");
        describe_counter!(names::TXN_COMMITTED, "Transactions committed.");
        describe_counter!(names::TXN_ABORTED, "Transactions aborted.");
    }
}

#[cfg(not(feature = "metrics"))]
mod disabled {
    //! The same calls, doing nothing: the feature is off.
    #![expect(
        clippy::unused_self,
        reason = "the same calls as with the feature, so that callers need no `cfg`"
    )]

    use crate::record::TopicPartition;
    use crate::storage::segment::MappedBatch;

    #[derive(Debug)]
    pub(crate) struct PartitionMetrics;

    impl PartitionMetrics {
        pub(crate) fn new(_topic: &str, _partition: u32) -> Self {
            Self
        }
        #[inline]
        pub(crate) fn appended(&self, _records: u64, _bytes: usize) {}
        #[inline]
        pub(crate) fn read(&self, _records: usize, _bytes: BytesPassed) {}
        #[inline]
        pub(crate) fn fsynced(&self, _timer: Timer) {}
        pub(crate) fn rolled(&self) {}
        pub(crate) fn segments_deleted(&self, _segments: usize) {}
        pub(crate) fn compacted(&self, _segments: usize, _records: usize) {}
    }

    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Timer;

    impl Timer {
        #[inline]
        pub(crate) fn start() -> Self {
            Self
        }
    }

    #[derive(Debug, Clone, Copy)]
    pub(crate) struct BytesPassed;

    impl BytesPassed {
        #[inline]
        pub(crate) fn new() -> Self {
            Self
        }
        #[inline]
        pub(crate) fn add(&mut self, _batch: &MappedBatch<'_>) {}
    }

    #[derive(Debug)]
    pub(crate) struct GroupMetrics;

    impl GroupMetrics {
        pub(crate) fn new(_group_id: &str) -> Self {
            Self
        }
        pub(crate) fn rebalanced(&self) {}
    }

    #[derive(Debug)]
    pub(crate) struct TxnMetrics;

    impl TxnMetrics {
        pub(crate) fn new(_transactional_id: &str) -> Self {
            Self
        }
        pub(crate) fn ended(&self, _committed: bool) {}
    }

    #[derive(Debug)]
    pub(crate) struct LagGauges;

    impl LagGauges {
        pub(crate) fn new() -> Self {
            Self
        }
        #[inline]
        pub(crate) fn set<'a>(
            &self,
            _group_id: &str,
            _partitions: impl IntoIterator<Item = &'a TopicPartition>,
            _register: bool,
            _lag: impl Fn(&TopicPartition) -> u64,
        ) {
        }
        pub(crate) fn registered(&self) -> Vec<(String, Vec<TopicPartition>)> {
            Vec::new()
        }
    }
}
