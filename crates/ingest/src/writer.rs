//! The writer task: decodes flushed records and appends them to both tables.

use std::collections::BTreeMap;
use std::sync::mpsc;

use eventlake_lake::{AppendOutcome, AppendRequest, LakeTable, OffsetRange, SourcePartition};
use tokio::sync::mpsc as async_mpsc;
use tracing::info;

use crate::buffer::PendingFlush;
use crate::error::IngestError;

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

        let events = self
            .events
            .append(&AppendRequest {
                batch: decoded.events,
                offsets: offsets.clone(),
            })
            .await?;
        let rejects = self
            .rejects
            .append(&AppendRequest {
                batch: decoded.rejects,
                offsets: offsets.clone(),
            })
            .await?;

        Ok(FlushDone {
            offsets,
            events: committed_rows(&events),
            rejects: committed_rows(&rejects),
        })
    }
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
