//! The Kafka consumer: client settings and partition assignment from the lake's offsets.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use eventlake_lake::{LakeTable, SourcePartition};
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::error::KafkaResult;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use tracing::{debug, error, info, warn};

use crate::config::{IngestConfig, StartPosition};
use crate::error::IngestError;
use crate::metrics::{IngestMetrics, PartitionLabel};
use crate::throttle::LogThrottle;

/// Shortest time between two log lines about the same Kafka client problem.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Locks a mutex, taking the data of a poisoned one: every writer of these mutexes leaves
/// them consistent at each statement.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Assignment state shared between the rebalance callback and the consumer loop.
#[derive(Debug, Default)]
pub(crate) struct Assignment {
    pub partitions: BTreeSet<SourcePartition>,
    /// Set when the partitions changed since the consumer loop last looked.
    pub changed: bool,
    /// Set when the committed offsets could not be read; the loop stops with it.
    pub error: Option<String>,
}

/// Reads the committed offsets of every table for an assignment.
pub(crate) struct OffsetReader {
    /// Each table with the offset stream to read: `None` for its main one, or the name of a
    /// transform whose check rows the table takes.
    pub tables: Vec<(LakeTable, Option<String>)>,
}

impl OffsetReader {
    /// Returns, per partition, the lowest last-committed offset over all tables, or no entry
    /// when some table has none for it.
    async fn committed(
        &mut self,
        partitions: &[SourcePartition],
    ) -> Result<HashMap<SourcePartition, i64>, IngestError> {
        let mut lowest: Option<HashMap<SourcePartition, i64>> = None;
        for (table, stream) in &mut self.tables {
            table.refresh().await?;
            let offsets = table.stream_offsets(stream.as_deref(), partitions).await?;
            lowest = Some(match lowest {
                None => offsets,
                Some(previous) => previous
                    .into_iter()
                    .filter_map(|(partition, offset)| {
                        let other = offsets.get(&partition)?;
                        Some((partition, offset.min(*other)))
                    })
                    .collect(),
            });
        }
        Ok(lowest.unwrap_or_default())
    }
}

/// librdkafka callbacks of the ingestor.
pub(crate) struct IngestContext {
    runtime: tokio::runtime::Handle,
    reader: Mutex<OffsetReader>,
    start_position: StartPosition,
    /// Last offset consumed per partition, kept across revocations: records still buffered
    /// or being flushed must not be read a second time if the partition comes back.
    pub consumed: Mutex<HashMap<SourcePartition, i64>>,
    pub assignment: Mutex<Assignment>,
    /// Keeps a broker outage from logging a line per reconnect attempt.
    pub log_throttle: LogThrottle,
    /// Offset each newly assigned partition was started at, until its first record arrives.
    pub seek_targets: Mutex<HashMap<SourcePartition, i64>>,
    /// Whether `seek_targets` has entries, so that the consumer loop does not lock it for
    /// every record.
    pub has_seek_targets: AtomicBool,
    /// Set once the run has drained: later statistics predate the final offset commit, so
    /// they no longer update the lag.
    pub lag_final: AtomicBool,
    metrics: Arc<IngestMetrics>,
}

impl IngestContext {
    pub fn new(
        runtime: tokio::runtime::Handle,
        reader: OffsetReader,
        start_position: StartPosition,
        metrics: Arc<IngestMetrics>,
    ) -> Self {
        Self {
            runtime,
            reader: Mutex::new(reader),
            start_position,
            consumed: Mutex::new(HashMap::new()),
            assignment: Mutex::new(Assignment::default()),
            log_throttle: LogThrottle::new(LOG_INTERVAL),
            seek_targets: Mutex::new(HashMap::new()),
            has_seek_targets: AtomicBool::new(false),
            lag_final: AtomicBool::new(false),
            metrics,
        }
    }

    /// Checks the first record of a partition after its assignment against the offset it was
    /// started at. A gap is legal in Kafka (compaction, retention, transaction markers), but
    /// it can also be a broker that skips records, so it is logged.
    pub fn check_first_record(&self, partition: &SourcePartition, offset: i64) {
        if !self.has_seek_targets.load(Ordering::Acquire) {
            return;
        }
        let mut targets = lock(&self.seek_targets);
        if let Some(start) = targets.remove(partition)
            && offset > start
        {
            warn!(
                partition = %partition,
                start,
                first_offset = offset,
                missing = offset - start,
                "the broker delivered the first record after the start offset; the records between were compacted, expired or skipped by the broker"
            );
        }
        if targets.is_empty() {
            self.has_seek_targets.store(false, Ordering::Release);
        }
    }

    /// Sets the start offset of each partition in `list`: after the offset committed to the
    /// lake, or after the last record already consumed, whichever is later.
    fn set_start_offsets(
        &self,
        list: &mut TopicPartitionList,
    ) -> Result<Vec<SourcePartition>, IngestError> {
        let partitions: Vec<SourcePartition> = list
            .elements()
            .iter()
            .map(|element| SourcePartition::new(element.topic(), element.partition()))
            .collect();
        let committed = {
            let mut reader = lock(&self.reader);
            self.runtime.block_on(reader.committed(&partitions))?
        };
        let consumed = lock(&self.consumed).clone();

        for partition in &partitions {
            let last_done = match (committed.get(partition), consumed.get(partition)) {
                (Some(lake), Some(buffered)) => Some(*lake.max(buffered)),
                (Some(lake), None) => Some(*lake),
                (None, Some(buffered)) => Some(*buffered),
                (None, None) => None,
            };
            let offset = match (last_done, self.start_position) {
                (Some(last), _) => Offset::Offset(last + 1),
                (None, StartPosition::Earliest) => Offset::Beginning,
                (None, StartPosition::Latest) => Offset::Stored,
            };
            let lake_offset = committed
                .get(partition)
                .map_or_else(|| "none".to_string(), i64::to_string);
            let start = match offset {
                Offset::Offset(start) => start.to_string(),
                Offset::Beginning => "beginning".to_string(),
                _ => "committed Kafka offset".to_string(),
            };
            info!(partition = %partition, %lake_offset, %start, "partition assigned");
            if let Offset::Offset(start) = offset {
                lock(&self.seek_targets).insert(partition.clone(), start);
                self.has_seek_targets.store(true, Ordering::Release);
            }
            list.set_partition_offset(&partition.topic, partition.partition, offset)
                .map_err(|error| IngestError::Assignment(error.to_string()))?;
        }
        Ok(partitions)
    }

    fn assign(&self, consumer: &BaseConsumer<Self>, list: &mut TopicPartitionList) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match self.set_start_offsets(list) {
            Ok(partitions) => {
                let result = if cooperative {
                    consumer.incremental_assign(list)
                } else {
                    consumer.assign(list)
                };
                if let Err(error) = result {
                    self.fail(consumer, format!("assigning partitions failed: {error}"));
                    return;
                }
                let mut assignment = lock(&self.assignment);
                if !cooperative {
                    assignment.partitions.clear();
                }
                assignment.partitions.extend(partitions);
                assignment.changed = true;
            }
            Err(error) => self.fail(consumer, error.to_string()),
        }
    }

    fn revoke(&self, consumer: &BaseConsumer<Self>, list: &TopicPartitionList) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let result: KafkaResult<()> = if cooperative {
            consumer.incremental_unassign(list)
        } else {
            consumer.unassign()
        };
        if let Err(error) = result {
            warn!(error = %error, "unassigning partitions failed");
        }

        let mut assignment = lock(&self.assignment);
        for element in list.elements() {
            let partition = SourcePartition::new(element.topic(), element.partition());
            info!(partition = %partition, "partition revoked");
            assignment.partitions.remove(&partition);
        }
        assignment.changed = true;
    }

    /// Drops the assignment and records why, so that no record is read from a wrong offset.
    fn fail(&self, consumer: &BaseConsumer<Self>, message: String) {
        error!(error = %message, "partition assignment failed; stopping");
        if let Err(error) = consumer.unassign() {
            warn!(error = %error, "unassigning partitions failed");
        }
        let mut assignment = lock(&self.assignment);
        assignment.partitions.clear();
        assignment.changed = true;
        assignment.error = Some(message);
    }
}

impl ClientContext for IngestContext {
    fn stats(&self, statistics: Statistics) {
        if self.lag_final.load(Ordering::Relaxed) {
            return;
        }
        for (topic, details) in &statistics.topics {
            // librdkafka reports -1 for a partition without a known position or end, and
            // lists an internal partition -1.
            for (partition, stats) in &details.partitions {
                if *partition < 0 || stats.consumer_lag < 0 {
                    continue;
                }
                self.metrics
                    .consumer_lag
                    .get_or_create(&PartitionLabel {
                        topic: topic.clone(),
                        partition: partition.to_string(),
                    })
                    .set(stats.consumer_lag);
            }
        }
    }

    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        let Some(suppressed) = self.log_throttle.admit(facility) else {
            return;
        };
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                warn!(facility, suppressed, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Warning | RDKafkaLogLevel::Notice => {
                info!(facility, suppressed, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Info | RDKafkaLogLevel::Debug => {
                debug!(facility, suppressed, "librdkafka: {message}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // Reaching the end of a partition signals --stop-at-end that it is done, so it is not an error.
        if matches!(error, KafkaError::PartitionEOF(_))
            || error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::PartitionEOF)
        {
            return;
        }
        let key = format!("{:?}", error.rdkafka_error_code());
        if let Some(suppressed) = self.log_throttle.admit(&key) {
            warn!(error = %error, suppressed, "Kafka client error, retried by librdkafka: {reason}");
        }
    }
}

impl ConsumerContext for IngestContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        list: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, list),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.revoke(consumer, list),
            other => {
                warn!(error = ?other, "rebalance error; dropping the assignment until the next rebalance");
                if let Err(error) = consumer.unassign() {
                    warn!(error = %error, "unassigning partitions failed");
                }
                let mut assignment = lock(&self.assignment);
                assignment.partitions.clear();
                assignment.changed = true;
            }
        }
    }
}

/// Builds the librdkafka client settings: eventlake's defaults, then the user's properties.
pub(crate) fn client_config(config: &IngestConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", &config.group_id)
        // Progress lives in the Delta log; Kafka offsets are committed by hand after it.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.offset.reset",
            match config.start_position {
                StartPosition::Earliest => "earliest",
                StartPosition::Latest => "latest",
            },
        )
        // librdkafka's 500 ms default makes some brokers serve reads slowly, and its 1 s
        // fetch queue backoff leaves a busy consumer idle half the time.
        .set("fetch.wait.max.ms", "100")
        .set("fetch.queue.backoff.ms", "10")
        // The statistics carry each partition's consumer lag for the metrics.
        .set("statistics.interval.ms", "5000")
        .set(
            "enable.partition.eof",
            if config.stop_at_end { "true" } else { "false" },
        );
    for (key, value) in &config.kafka_properties {
        client.set(key, value);
    }
    client
}

pub(crate) type IngestConsumer = BaseConsumer<IngestContext>;

/// librdkafka properties that eventlake sets itself, with the flag that replaces each.
const RESERVED_PROPERTIES: [(&str, &str); 5] = [
    ("bootstrap.servers", "--brokers"),
    ("group.id", "--group"),
    (
        "enable.auto.commit",
        "nothing: offsets are committed after each Delta commit",
    ),
    (
        "enable.auto.offset.store",
        "nothing: offsets are committed after each Delta commit",
    ),
    ("enable.partition.eof", "--stop-at-end"),
];

/// Creates the consumer and subscribes it to the configured topics.
pub(crate) fn create_consumer(
    config: &IngestConfig,
    context: IngestContext,
) -> Result<Arc<IngestConsumer>, IngestError> {
    for (key, flag) in RESERVED_PROPERTIES {
        if config.kafka_properties.contains_key(key) {
            return Err(IngestError::ReservedProperty {
                key: key.to_string(),
                flag,
            });
        }
    }
    let consumer: IngestConsumer = client_config(config)
        .create_with_context(context)
        .map_err(IngestError::KafkaConfig)?;
    let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|source| IngestError::Subscribe {
            topics: config.topics.join(", "),
            source,
        })?;
    Ok(Arc::new(consumer))
}
