//! The writer task: decodes flushed records and appends them to both tables.

use std::collections::BTreeMap;
use std::sync::mpsc;

use eventlake_lake::{
    AppendOutcome, AppendRequest, LakeError, LakeTable, OffsetRange, ReplaceRequest,
    SourcePartition,
};
use eventlake_transform::{TRANSFORM_CHECK, Transform};
use tokio::sync::mpsc as async_mpsc;
use tracing::{debug, info, warn};

use deltalake::arrow::array::{AsArray, PrimitiveArray, RecordBatch};
use deltalake::arrow::compute::{cast, max};
use deltalake::arrow::datatypes::{DataType, TimestampMicrosecondType};
use eventlake_events::column;
use std::sync::Arc;
use std::time::Instant;

use crate::metrics::{EventTypeLabel, IngestMetrics, ReasonLabel, TableLabel};

use crate::buffer::PendingFlush;
use crate::error::IngestError;

/// Attempts at replacing an aggregate's buckets while other writers change the table or
/// storage fails.
const MAX_REPLACE_ATTEMPTS: usize = 12;

/// Wait before the first retry of a replace after a storage failure. It doubles on each
/// retry up to [`MAX_REPLACE_BACKOFF`], so twelve attempts span about two minutes.
const REPLACE_RETRY_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);
const MAX_REPLACE_BACKOFF: std::time::Duration = std::time::Duration::from_secs(30);

/// A flush handed to the writer.
pub(crate) struct FlushJob {
    pub pending: PendingFlush,
}

/// A flush whose rows and offsets are committed to both tables.
#[derive(Debug)]
pub(crate) struct FlushDone {
    pub offsets: BTreeMap<SourcePartition, OffsetRange>,
    pub events: usize,
    pub rejects: usize,
}

/// The tables that every flush is appended to, in this order.
pub(crate) struct TableWriter {
    pub events: LakeTable,
    pub rejects: LakeTable,
    /// Processed tables, each computed from the raw rows by its transform.
    pub processed: Vec<LakeTable>,
    /// The transforms of the processed tables, whose checks add rows to `rejects`.
    pub transforms: Vec<Arc<Transform>>,
    pub metrics: Arc<IngestMetrics>,
}

impl TableWriter {
    /// Returns every table of the writer: raw, rejects, then the processed ones.
    pub fn tables(&self) -> impl Iterator<Item = &LakeTable> {
        [&self.events, &self.rejects]
            .into_iter()
            .chain(self.processed.iter())
    }
}

impl TableWriter {
    async fn flush(&mut self, job: FlushJob) -> Result<FlushDone, IngestError> {
        let PendingFlush {
            builder, offsets, ..
        } = job.pending;

        // Payload decoding is CPU work; keep it off the async worker threads.
        let ingested_at = chrono::Utc::now().timestamp_micros();
        let decoded = tokio::task::spawn_blocking(move || builder.finish(ingested_at))
            .await
            .map_err(|_| IngestError::WriterGone)?
            .map_err(IngestError::Decode)?;
        if !decoded.rejects_by_code.is_empty() {
            info!(rejects = ?decoded.rejects_by_code, "records rejected in this flush");
        }

        let started = Instant::now();
        let request = AppendRequest {
            batch: decoded.events,
            offsets: offsets.clone(),
        };
        let events = self.events.append(&request).await?;
        self.record_commit(self.events.name(), &events, started);
        // A partly replayed append committed only some rows, so the per-event metrics skip it
        // rather than count rows twice.
        if let (
            AppendOutcome::Committed {
                skipped_rows: 0, ..
            },
            Some(batch),
        ) = (&events, request.batch.as_ref())
        {
            self.record_events(batch);
        }

        let started = Instant::now();
        let rejects = self
            .rejects
            .append(&AppendRequest {
                batch: decoded.rejects,
                offsets: offsets.clone(),
            })
            .await?;
        self.record_commit(self.rejects.name(), &rejects, started);
        if matches!(
            rejects,
            AppendOutcome::Committed {
                skipped_rows: 0,
                ..
            }
        ) {
            for (reason, count) in &decoded.rejects_by_code {
                self.metrics
                    .rows_rejected
                    .get_or_create(&ReasonLabel {
                        reason: reason.to_string(),
                    })
                    .inc_by(*count as u64);
            }
        }

        // Each processed table takes the raw rows and derives its own from those it lacks.
        let raw = AppendRequest {
            batch: request.batch,
            offsets: offsets.clone(),
        };
        for index in 0..self.processed.len() {
            let started = Instant::now();
            let transform = Arc::clone(&self.transforms[index]);
            let outcome = if transform.replace_by().is_some() {
                self.replace_buckets(index, &transform, &raw).await?
            } else {
                self.processed[index].append(&raw).await?
            };
            self.record_commit(self.processed[index].name(), &outcome, started);
        }

        // Rows that fail a transform's check go to rejects under offsets of that transform's
        // own, so a replay or a catch-up adds each of them once, as for a processed table.
        // NOTE: a checked transform runs its SELECT twice per flush, here and in its append.
        for transform in self.transforms.clone() {
            if transform.has_check() {
                self.commit_check_rejects(&transform, &raw, ingested_at)
                    .await?;
            }
        }

        Ok(FlushDone {
            offsets,
            events: committed_rows(&events),
            rejects: committed_rows(&rejects),
        })
    }
}

impl TableWriter {
    /// Appends the rows of `raw` that fail the check of `transform` to rejects, in the
    /// transform's offset stream.
    async fn commit_check_rejects(
        &mut self,
        transform: &Transform,
        raw: &AppendRequest,
        rejected_at: i64,
    ) -> Result<(), IngestError> {
        let batch = match &raw.batch {
            Some(batch) => transform
                .rejects(batch, rejected_at)
                .await
                .map_err(|message| LakeError::Derive {
                    table: transform.spec.name.clone(),
                    message,
                })?,
            None => None,
        };
        let rows = batch.as_ref().map_or(0, RecordBatch::num_rows);
        let started = Instant::now();
        let outcome = self
            .rejects
            .append_to_stream(
                Some(&transform.spec.name),
                &AppendRequest {
                    batch,
                    offsets: raw.offsets.clone(),
                },
            )
            .await?;
        self.record_commit(self.rejects.name(), &outcome, started);
        if rows > 0
            && matches!(
                outcome,
                AppendOutcome::Committed {
                    skipped_rows: 0,
                    ..
                }
            )
        {
            self.metrics
                .rows_rejected
                .get_or_create(&ReasonLabel {
                    reason: TRANSFORM_CHECK.to_string(),
                })
                .inc_by(rows as u64);
        }
        Ok(())
    }

    /// Commits a flush to an aggregate table: the buckets its raw rows fall into are computed
    /// again from the raw table, which already has the rows, and replace the old ones.
    async fn replace_buckets(
        &mut self,
        index: usize,
        transform: &Transform,
        raw: &AppendRequest,
    ) -> Result<AppendOutcome, IngestError> {
        let table_name = self.processed[index].name().to_string();
        let derive_error = |message: String| LakeError::Derive {
            table: table_name.clone(),
            message,
        };
        let offsets_only = AppendRequest {
            batch: None,
            offsets: raw.offsets.clone(),
        };
        let (Some(batch), Some(column)) = (&raw.batch, transform.replace_by()) else {
            return Ok(self.processed[index].append(&offsets_only).await?);
        };
        let ranges = transform.bucket_ranges(batch).await.map_err(derive_error)?;
        if ranges.is_empty() {
            return Ok(self.processed[index].append(&offsets_only).await?);
        }

        let mut last_error = String::new();
        let mut backoff = REPLACE_RETRY_BACKOFF;
        for attempt in 1..=MAX_REPLACE_ATTEMPTS {
            // The aggregate table is read before the raw one, so that every aggregate commit
            // this snapshot contains is backed by raw rows that the recompute reads.
            self.processed[index].refresh().await?;
            self.events.refresh().await?;
            let rows = transform
                .recompute(self.events.delta_table(), batch, &ranges)
                .await
                .map_err(derive_error)?;
            let request = ReplaceRequest {
                batch: rows,
                column: column.to_string(),
                ranges: ranges.clone(),
                offsets: raw.offsets.clone(),
            };
            match self.processed[index].replace(&request).await {
                Err(LakeError::ReplaceConflict { message, .. }) => {
                    debug!(table = %table_name, attempt, %message, "aggregate changed during the replace; computing it again");
                    last_error = message;
                }
                Err(error) if error.is_storage_failure() => {
                    warn!(table = %table_name, attempt, error = %error, backoff_ms = backoff.as_millis() as u64, "replace failed; retrying");
                    last_error = error.to_string();
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_REPLACE_BACKOFF);
                }
                other => return Ok(other?),
            }
        }
        Err(LakeError::CommitRetriesExhausted {
            table: table_name,
            attempts: MAX_REPLACE_ATTEMPTS,
            last_error,
        }
        .into())
    }

    fn record_commit(&self, table: &str, outcome: &AppendOutcome, started: Instant) {
        let AppendOutcome::Committed { rows, files, .. } = outcome else {
            return;
        };
        let label = TableLabel {
            table: table.to_string(),
        };
        let metrics = &self.metrics;
        metrics.commits.get_or_create(&label).inc();
        metrics
            .rows_committed
            .get_or_create(&label)
            .inc_by(*rows as u64);
        metrics
            .files_written
            .get_or_create(&label)
            .inc_by(*files as u64);
        metrics
            .commit_seconds
            .get_or_create(&label)
            .observe(started.elapsed().as_secs_f64());
    }
}

impl TableWriter {
    /// Records the per-event metrics of a batch just committed to the events table.
    fn record_events(&self, batch: &RecordBatch) {
        for (event_type, count) in count_by_event_type(batch) {
            self.metrics
                .events_committed
                .get_or_create(&EventTypeLabel { event_type })
                .inc_by(count);
        }
        if let Some(newest) = timestamps(batch, column::EVENT_TIME).and_then(max) {
            self.metrics.observe_event_time(newest);
        }
        let Some(produced) = timestamps(batch, column::KAFKA_TIMESTAMP) else {
            return;
        };
        let committed_at = chrono::Utc::now().timestamp_micros();
        for produced_at in produced.iter().flatten() {
            let seconds = committed_at.saturating_sub(produced_at) as f64 / 1e6;
            self.metrics
                .produce_to_commit_seconds
                .observe(seconds.max(0.0));
        }
    }
}

/// Counts the rows of each event type in a batch of the events table.
fn count_by_event_type(batch: &RecordBatch) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    let Some(column) = batch.column_by_name(column::EVENT_TYPE) else {
        return counts;
    };
    let Ok(text) = cast(column, &DataType::Utf8) else {
        return counts;
    };
    for event_type in text.as_string::<i32>().iter().flatten() {
        *counts.entry(event_type.to_string()).or_default() += 1;
    }
    counts
}

/// Returns a timestamp column of a batch of the events table, in microseconds.
fn timestamps<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Option<&'a PrimitiveArray<TimestampMicrosecondType>> {
    batch
        .column_by_name(name)?
        .as_primitive_opt::<TimestampMicrosecondType>()
}

fn committed_rows(outcome: &AppendOutcome) -> usize {
    match outcome {
        AppendOutcome::Committed { rows, .. } => *rows,
        AppendOutcome::AlreadyCommitted => 0,
    }
}

/// Runs flushes one at a time until the job channel closes or a flush fails.
pub(crate) async fn run_writer(
    mut writer: TableWriter,
    mut jobs: async_mpsc::Receiver<FlushJob>,
    results: mpsc::Sender<Result<FlushDone, IngestError>>,
) {
    while let Some(job) = jobs.recv().await {
        let result = writer.flush(job).await;
        let failed = result.is_err();
        if results.send(result).is_err() || failed {
            return;
        }
    }
}
