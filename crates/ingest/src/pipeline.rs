//! The consumer loop and the entry point of an ingest run.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use eventlake_events::{
    EventTableLayout, Header, SourceRecord, rejects_partition_columns, rejects_table_schema,
};
use eventlake_lake::LakeError;
use eventlake_lake::{LakeTable, OffsetColumns, SourcePartition, TableSpec};
use eventlake_transform::{Transform, TransformError};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::sync::mpsc as async_mpsc;
use tracing::{debug, info, warn};

use crate::buffer::PendingFlush;
use crate::compactor::run_compactor;
use crate::config::IngestConfig;
use crate::consumer::{IngestConsumer, IngestContext, OffsetReader, create_consumer, lock};
use crate::error::IngestError;
use crate::metrics::serve_metrics;
use crate::writer::{FlushDone, FlushJob, TableWriter, run_writer};

/// Time between two log lines while no partition is assigned.
const WAITING_NOTICE_INTERVAL: Duration = Duration::from_secs(30);

/// Maximum wait in one poll, which bounds how late a shutdown or age flush is noticed.
const MAX_POLL_WAIT: Duration = Duration::from_millis(100);

/// Counts of one ingest run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestSummary {
    /// Records read from Kafka.
    pub records: u64,
    /// Rows committed to the raw table.
    pub events: u64,
    /// Rows committed to the rejects table.
    pub rejects: u64,
    /// Flushes committed.
    pub flushes: u64,
    /// Flushes started because the buffer limit was reached before any flush limit.
    pub memory_flushes: u64,
}

/// Plans the SQL transforms over the raw table's schema and returns the processed tables'
/// specs. A transform that does not parse or plan, or that takes the name of the raw or the
/// rejects table, stops the run before anything is read.
async fn plan_transforms(
    config: &IngestConfig,
    layout: &EventTableLayout,
) -> Result<(Vec<TableSpec>, Vec<Arc<Transform>>), IngestError> {
    let mut specs = Vec::new();
    let mut transforms = Vec::new();
    for spec in &config.transforms {
        let role = if spec.name == config.tables.events {
            Some("raw")
        } else if spec.name == config.tables.rejects {
            Some("rejects")
        } else {
            None
        };
        if let Some(role) = role {
            return Err(TransformError::ReservedName {
                path: spec.path.clone(),
                name: spec.name.clone(),
                role,
            }
            .into());
        }
        let transform = Arc::new(Transform::plan(spec.clone(), layout.schema.clone()).await?);
        transforms.push(Arc::clone(&transform));
        info!(table = %spec.name, file = %spec.path.display(), columns = transform.schema.fields().len(), "transform planned");
        specs.push(TableSpec {
            name: spec.name.clone(),
            schema: transform.schema.clone(),
            partition_columns: spec.partition_by.clone(),
            offset_columns: Some(OffsetColumns::default()),
            derive: Some(transform),
        });
    }
    Ok((specs, transforms))
}

/// Runs the ingestor until `shutdown` is set or, with `stop_at_end`, until every assigned
/// partition has been read to its end. Buffered records are flushed and committed before it
/// returns.
pub async fn run(
    config: IngestConfig,
    shutdown: Arc<AtomicBool>,
) -> Result<IngestSummary, IngestError> {
    let layout = Arc::new(EventTableLayout::new(&config.schemas, config.granularity));
    let events_spec = TableSpec {
        name: config.tables.events.clone(),
        schema: layout.schema.clone(),
        partition_columns: layout.partition_columns.clone(),
        offset_columns: Some(OffsetColumns::default()),
        derive: None,
    };
    let rejects_spec = TableSpec {
        name: config.tables.rejects.clone(),
        schema: rejects_table_schema(),
        partition_columns: rejects_partition_columns(),
        offset_columns: Some(OffsetColumns::default()),
        derive: None,
    };

    let (processed_specs, transforms) = plan_transforms(&config, &layout).await?;

    let mut processed = Vec::new();
    for (spec, transform) in processed_specs.iter().zip(&transforms) {
        let table = LakeTable::open_or_create(&config.lake, spec.clone(), config.write.clone())
            .await
            .map_err(|error| match error {
                LakeError::SchemaMismatch { difference, .. } => IngestError::TransformChanged {
                    path: transform.spec.path.clone(),
                    table: spec.name.clone(),
                    difference,
                },
                other => other.into(),
            })?;
        processed.push(table);
    }
    let writer = TableWriter {
        metrics: Arc::clone(&config.metrics),
        events: LakeTable::open_or_create(&config.lake, events_spec.clone(), config.write.clone())
            .await?,
        rejects: LakeTable::open_or_create(
            &config.lake,
            rejects_spec.clone(),
            config.write.clone(),
        )
        .await?,
        processed,
        transforms,
    };
    for table in writer.tables() {
        table.catch_up_checkpoint().await;
    }
    // The rebalance callback reads offsets through handles of its own, so that it never
    // waits for the writer.
    let mut offset_tables = vec![
        (
            LakeTable::open_or_create(&config.lake, events_spec, config.write.clone()).await?,
            None,
        ),
        (
            LakeTable::open_or_create(&config.lake, rejects_spec.clone(), config.write.clone())
                .await?,
            None,
        ),
    ];
    for spec in processed_specs {
        offset_tables.push((
            LakeTable::open_or_create(&config.lake, spec, config.write.clone()).await?,
            None,
        ));
    }
    // Rows that a transform's check rejects form an offset stream of their own in rejects.
    for transform in writer
        .transforms
        .iter()
        .filter(|transform| transform.has_check())
    {
        offset_tables.push((
            LakeTable::open_or_create(&config.lake, rejects_spec.clone(), config.write.clone())
                .await?,
            Some(transform.spec.name.clone()),
        ));
    }
    let reader = OffsetReader {
        tables: offset_tables,
    };

    let context = IngestContext::new(
        tokio::runtime::Handle::current(),
        reader,
        config.start_position,
        Arc::clone(&config.metrics),
    );
    let consumer = create_consumer(&config, context)?;
    if let Some(address) = config.metrics_address {
        // Metrics matter less than the data: a taken port is reported, and ingestion goes on.
        if let Err(error) = serve_metrics(address, Arc::clone(&config.metrics)).await {
            warn!(%address, %error, "cannot serve metrics; pass another --metrics-address, or off");
        }
    }
    info!(brokers = %config.brokers, topics = %config.topics.join(","), group = %config.group_id, lake = %config.lake.url(), "ingest started");

    let (jobs, job_receiver) = async_mpsc::channel(1);
    let (result_sender, results) = mpsc::channel();
    let compactor_tables: Vec<_> = writer
        .tables()
        .map(|table| (table.name().to_string(), table.url().clone()))
        .collect();
    let writer_task = tokio::spawn(run_writer(writer, job_receiver, result_sender));
    let compactor_stop = Arc::new(AtomicBool::new(false));
    let compactor = config.auto_compaction.clone().map(|settings| {
        tokio::spawn(run_compactor(
            settings,
            compactor_tables,
            config.write.compression,
            Arc::clone(&compactor_stop),
        ))
    });

    let consumer_loop = ConsumerLoop {
        consumer,
        layout,
        config,
        jobs,
        results,
        shutdown,
        in_flight: None,
        at_end: BTreeSet::new(),
        known_partitions: Vec::new(),
        last_notice: Instant::now(),
        summary: IngestSummary::default(),
    };
    let summary = tokio::task::spawn_blocking(move || consumer_loop.run())
        .await
        .map_err(|_| IngestError::ConsumerGone)??;
    // The consumer loop dropped the job sender, so the writer ends after its last job.
    writer_task.await.map_err(|_| IngestError::WriterGone)?;
    compactor_stop.store(true, Ordering::Relaxed);
    if let Some(compactor) = compactor {
        // A compaction stopped halfway commits nothing, so aborting it loses nothing.
        compactor.abort();
    }
    info!(
        records = summary.records,
        events = summary.events,
        rejects = summary.rejects,
        flushes = summary.flushes,
        "ingest stopped"
    );
    Ok(summary)
}

fn is_unknown_topic(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic)
    )
}

struct ConsumerLoop {
    consumer: Arc<IngestConsumer>,
    layout: Arc<EventTableLayout>,
    config: IngestConfig,
    jobs: async_mpsc::Sender<FlushJob>,
    results: mpsc::Receiver<Result<FlushDone, IngestError>>,
    shutdown: Arc<AtomicBool>,
    /// Bytes held by the flush the writer is working on.
    in_flight: Option<usize>,
    /// Assigned partitions read to their end, for `stop_at_end`.
    at_end: BTreeSet<SourcePartition>,
    /// Partitions seen so far, so that a record does not allocate its partition's name.
    known_partitions: Vec<SourcePartition>,
    /// When `notice_if_unassigned` last looked.
    last_notice: Instant,
    summary: IngestSummary,
}

impl ConsumerLoop {
    fn run(mut self) -> Result<IngestSummary, IngestError> {
        let mut pending = self.new_pending();
        loop {
            self.collect_results()?;
            self.check_assignment()?;
            if self.shutdown.load(Ordering::Relaxed) {
                info!("shutdown requested; flushing buffered records");
                break;
            }
            self.notice_if_unassigned();
            let buffered = pending.buffered_bytes() + self.in_flight.unwrap_or(0);
            self.config
                .metrics
                .buffered_bytes
                .set(i64::try_from(buffered).unwrap_or(i64::MAX));
            if self.config.stop_at_end && self.caught_up() {
                info!("every assigned partition is read to its end; flushing and stopping");
                break;
            }

            // A due flush goes to the writer when it is free. While the writer is busy the
            // loop waits for it rather than read on, so a flush stays within its limits and
            // memory within the buffer limit. librdkafka keeps prefetching meanwhile, up to
            // its own queue limit (queued.max.messages.kbytes).
            //
            // The loop does not pause partitions: resuming makes librdkafka fetch from the
            // middle of a record batch, and some brokers return the next batch for such a fetch.
            let over_memory = self.over_memory_limit(&pending);
            if over_memory || pending.should_flush(&self.config.flush, Instant::now()) {
                if self.in_flight.is_none() {
                    if over_memory {
                        self.summary.memory_flushes += 1;
                    }
                    let full = std::mem::replace(&mut pending, self.new_pending());
                    self.send(full)?;
                } else {
                    self.wait_for_writer(Some(MAX_POLL_WAIT))?;
                }
                continue;
            }

            let now = Instant::now();
            let wait = pending
                .time_to_age_limit(&self.config.flush, now)
                .map_or(MAX_POLL_WAIT, |left| left.min(MAX_POLL_WAIT));
            match self.consumer.clone().poll(wait) {
                None => {}
                Some(Ok(message)) => self.buffer(&mut pending, &message),
                Some(Err(KafkaError::PartitionEOF(partition))) => self.mark_at_end(partition),
                Some(Err(error)) if self.config.stop_at_end && is_unknown_topic(&error) => {
                    // A batch run would wait forever for partitions that cannot be assigned.
                    return Err(IngestError::TopicNotFound {
                        topics: self.config.topics.join(", "),
                    });
                }
                Some(Err(error)) => {
                    let key = format!("{:?}", error.rdkafka_error_code());
                    if let Some(suppressed) = self.consumer.context().log_throttle.admit(&key) {
                        warn!(error = %error, suppressed, "Kafka consumer error; librdkafka retries by itself");
                    }
                }
            }
        }

        // Drain: the flush in progress, then whatever is still buffered.
        while self.in_flight.is_some() {
            self.wait_for_writer(None)?;
        }
        if !pending.is_empty() {
            self.send(pending)?;
            self.wait_for_writer(None)?;
        }
        self.config.metrics.buffered_bytes.set(0);

        // librdkafka's lag counts from the offsets committed to Kafka, and its last statistics
        // came before the final commit. Partitions read to their end are now fully committed.
        self.consumer
            .context()
            .lag_final
            .store(true, Ordering::Relaxed);
        for source in &self.at_end {
            self.config
                .metrics
                .consumer_lag
                .get_or_create(&crate::metrics::PartitionLabel {
                    topic: source.topic.to_string(),
                    partition: source.partition.to_string(),
                })
                .set(0);
        }
        Ok(self.summary)
    }

    fn new_pending(&self) -> PendingFlush {
        PendingFlush::new(
            self.config.schemas.clone(),
            self.layout.clone(),
            self.config.decode,
        )
    }

    fn send(&mut self, pending: PendingFlush) -> Result<(), IngestError> {
        let bytes = pending.buffered_bytes();
        debug!(records = pending.builder.len(), bytes, "flushing");
        self.jobs
            .blocking_send(FlushJob { pending })
            .map_err(|_| IngestError::WriterGone)?;
        self.in_flight = Some(bytes);
        Ok(())
    }

    /// Takes finished flushes from the writer without waiting.
    fn collect_results(&mut self) -> Result<(), IngestError> {
        loop {
            match self.results.try_recv() {
                Ok(result) => self.finish_flush(result, CommitMode::Async)?,
                Err(mpsc::TryRecvError::Empty) => return Ok(()),
                Err(mpsc::TryRecvError::Disconnected) if self.in_flight.is_none() => return Ok(()),
                Err(mpsc::TryRecvError::Disconnected) => return Err(IngestError::WriterGone),
            }
        }
    }

    /// Waits up to `timeout` for the flush in progress, or without limit when `None`.
    fn wait_for_writer(&mut self, timeout: Option<Duration>) -> Result<(), IngestError> {
        let result = match timeout {
            None => self.results.recv().map_err(|_| IngestError::WriterGone)?,
            Some(timeout) => match self.results.recv_timeout(timeout) {
                Ok(result) => result,
                Err(mpsc::RecvTimeoutError::Timeout) => return Ok(()),
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(IngestError::WriterGone),
            },
        };
        // The last commit before exit is synchronous so that it is not lost when the consumer
        // closes.
        let mode = if timeout.is_none() {
            CommitMode::Sync
        } else {
            CommitMode::Async
        };
        self.finish_flush(result, mode)
    }

    fn finish_flush(
        &mut self,
        result: Result<FlushDone, IngestError>,
        mode: CommitMode,
    ) -> Result<(), IngestError> {
        self.in_flight = None;
        let done = result?;
        self.summary.events += done.events as u64;
        self.summary.rejects += done.rejects as u64;
        self.summary.flushes += 1;
        self.commit_kafka_offsets(&done, mode);
        Ok(())
    }

    /// Commits the flushed offsets to Kafka for lag tools; the lake already has them.
    fn commit_kafka_offsets(&self, done: &FlushDone, mode: CommitMode) {
        let assigned = lock(&self.consumer.context().assignment).partitions.clone();
        let mut list = TopicPartitionList::new();
        for (source, range) in &done.offsets {
            if assigned.contains(source)
                && let Err(error) = list.add_partition_offset(
                    &source.topic,
                    source.partition,
                    Offset::Offset(range.last + 1),
                )
            {
                warn!(partition = %source, error = %error, "cannot list the offset to commit to Kafka");
            }
        }
        if list.count() == 0 {
            return;
        }
        if let Err(error) = self.consumer.commit(&list, mode) {
            debug!(error = %error, "committing offsets to Kafka failed; the lake has them, so only lag tools are affected");
        }
    }

    fn check_assignment(&mut self) -> Result<(), IngestError> {
        // This runs once per record, so the assigned set is read in place, never copied.
        let mut assignment = lock(&self.consumer.context().assignment);
        let changed = std::mem::take(&mut assignment.changed);
        if let Some(message) = assignment.error.take() {
            return Err(IngestError::Assignment(message));
        }
        if changed {
            self.at_end
                .retain(|partition| assignment.partitions.contains(partition));
        }
        Ok(())
    }

    /// Logs now and then while the group gives this member no partition, so that a run that
    /// cannot reach its brokers or group coordinator reports it.
    fn notice_if_unassigned(&mut self) {
        if self.last_notice.elapsed() < WAITING_NOTICE_INTERVAL {
            return;
        }
        self.last_notice = Instant::now();
        let summary = &self.summary;
        info!(
            records = summary.records,
            events = summary.events,
            rejects = summary.rejects,
            flushes = summary.flushes,
            "progress"
        );
        if lock(&self.consumer.context().assignment)
            .partitions
            .is_empty()
        {
            warn!(
                brokers = %self.config.brokers,
                group = %self.config.group_id,
                topics = %self.config.topics.join(","),
                "no partition assigned yet; check that the brokers are reachable, or that the group has fewer members than the topics have partitions"
            );
        }
    }

    fn caught_up(&self) -> bool {
        let assignment = lock(&self.consumer.context().assignment);
        !assignment.partitions.is_empty()
            && assignment
                .partitions
                .iter()
                .all(|partition| self.at_end.contains(partition))
    }

    /// Marks partition number `partition` of every assigned topic as read to its end.
    // NOTE: librdkafka reports only the partition number, so with several topics a partition
    // of one topic at its end also marks the same number of the others until they deliver.
    fn mark_at_end(&mut self, partition: i32) {
        let assignment = lock(&self.consumer.context().assignment);
        for source in assignment
            .partitions
            .iter()
            .filter(|source| source.partition == partition)
        {
            debug!(partition = %source, "partition read to its end");
            self.at_end.insert(source.clone());
        }
    }

    /// Returns whether the buffered records, with the flush in progress, reached the memory
    /// limit.
    fn over_memory_limit(&self, pending: &PendingFlush) -> bool {
        !pending.is_empty()
            && pending.buffered_bytes() + self.in_flight.unwrap_or(0)
                >= self.config.max_buffer_bytes
    }

    fn buffer(&mut self, pending: &mut PendingFlush, message: &BorrowedMessage<'_>) {
        let source = self.source_partition(message.topic(), message.partition());
        let headers: Vec<Header> = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|header| Header {
                        key: header.key.to_string(),
                        value: header.value.map(<[u8]>::to_vec),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let record = SourceRecord {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp_ms: message.timestamp().to_millis(),
            key: message.key(),
            value: message.payload(),
            headers: &headers,
        };
        self.consumer
            .context()
            .check_first_record(&source, record.offset);
        pending.push(&source, &record);
        self.summary.records += 1;
        let metrics = &self.config.metrics;
        metrics.records_consumed.inc();
        metrics
            .bytes_consumed
            .inc_by(record.value.map_or(0, <[u8]>::len) as u64);

        lock(&self.consumer.context().consumed).insert(source.clone(), message.offset());
        if !self.at_end.is_empty() {
            self.at_end.remove(&source);
        }
    }

    fn source_partition(&mut self, topic: &str, partition: i32) -> SourcePartition {
        let known = self
            .known_partitions
            .iter()
            .find(|source| source.partition == partition && source.topic.as_ref() == topic);
        if let Some(source) = known {
            return source.clone();
        }
        let source = SourcePartition::new(topic, partition);
        self.known_partitions.push(source.clone());
        source
    }
}
