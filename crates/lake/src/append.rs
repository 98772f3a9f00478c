//! Exactly-once appends: Parquet files and `txn` offsets in one Delta commit.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use deltalake::DeltaTableError;
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::compute::filter_record_batch;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, Add, Transaction};
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use tracing::{debug, info, warn};

use crate::error::LakeError;
use crate::offsets::{OffsetRange, SourcePartition, advancing, stream_app_id, uncommitted_rows};
use crate::table::LakeTable;

/// Maximum wait between two attempts after storage errors.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(30);

/// Rows to append and the Kafka offsets they cover.
#[derive(Debug, Clone, Default)]
pub struct AppendRequest {
    /// The rows; `None` when the covered records produced no row for this table, in which case
    /// the commit carries only the offsets.
    pub batch: Option<RecordBatch>,
    /// Offsets covered per topic-partition.
    pub offsets: BTreeMap<SourcePartition, OffsetRange>,
}

/// Result of an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// A new table version contains the rows and offsets.
    Committed {
        version: u64,
        rows: usize,
        files: usize,
        /// Rows left out because an earlier commit already contains their offsets.
        skipped_rows: usize,
    },
    /// The table already records every offset of the request, so nothing was committed.
    AlreadyCommitted,
}

/// Why one attempt failed, which decides whether and when to try again.
enum AttemptError {
    /// The table changed since the snapshot the attempt checked; retry at once.
    Conflict(String),
    /// Storage failed; retry after a pause.
    Storage(LakeError),
    /// Retrying cannot help.
    Fatal(LakeError),
}

/// Files written by an earlier attempt, reused while the rows to commit stay the same.
struct WrittenFiles {
    /// The committed offsets that shaped the row filter when the files were written.
    overlap: Vec<(SourcePartition, i64)>,
    adds: Vec<Add>,
    rows: usize,
    skipped_rows: usize,
}

impl LakeTable {
    /// Appends the rows of `request` and records its offsets, exactly once.
    ///
    /// Conflicts with other writers are retried at once; storage errors are retried with a
    /// doubling pause, up to [`WriteSettings::max_commit_attempts`](crate::WriteSettings)
    /// attempts in all.
    pub async fn append(&mut self, request: &AppendRequest) -> Result<AppendOutcome, LakeError> {
        self.append_to_stream(None, request).await
    }

    /// Appends like [`LakeTable::append`], recording the offsets in a second offset stream
    /// of the table, named `stream`, instead of its main one. Each stream drops the rows at or
    /// below its own offsets, so a table can take rows from the same records once per stream:
    /// `rejects` takes the records that failed decoding in its main stream, and the rows that
    /// a transform's check rejects in a stream named after the transform.
    pub async fn append_to_stream(
        &mut self,
        stream: Option<&str>,
        request: &AppendRequest,
    ) -> Result<AppendOutcome, LakeError> {
        let started = Instant::now();
        let mut written: Option<WrittenFiles> = None;
        let mut backoff = self.settings.retry_backoff;
        let mut last_error = String::new();
        let attempts = self.settings.max_commit_attempts.max(1);

        for attempt in 1..=attempts {
            match self.try_append(stream, request, &mut written).await {
                Ok(outcome) => {
                    self.log_outcome(&outcome, request, started);
                    return Ok(outcome);
                }
                Err(AttemptError::Conflict(message)) => {
                    debug!(table = %self.spec.name, attempt, %message, "table changed during the commit; checking offsets again");
                    last_error = message;
                }
                Err(AttemptError::Storage(error)) => {
                    warn!(table = %self.spec.name, attempt, error = %error, backoff_ms = backoff.as_millis() as u64, "commit failed; retrying");
                    last_error = error.to_string();
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_RETRY_BACKOFF);
                }
                Err(AttemptError::Fatal(error)) => return Err(error),
            }
        }
        Err(LakeError::CommitRetriesExhausted {
            table: self.spec.name.clone(),
            attempts,
            last_error,
        })
    }

    fn log_outcome(&self, outcome: &AppendOutcome, request: &AppendRequest, started: Instant) {
        let offsets: Vec<String> = request
            .offsets
            .iter()
            .map(|(source, range)| format!("{source}:{}-{}", range.first, range.last))
            .collect();
        match outcome {
            AppendOutcome::Committed {
                version,
                rows,
                files,
                skipped_rows,
            } => info!(
                table = %self.spec.name,
                version,
                rows,
                files,
                skipped_rows,
                offsets = %offsets.join(","),
                duration_ms = started.elapsed().as_millis() as u64,
                "committed"
            ),
            AppendOutcome::AlreadyCommitted => info!(
                table = %self.spec.name,
                offsets = %offsets.join(","),
                "offsets already committed; nothing to do"
            ),
        }
    }

    async fn try_append(
        &mut self,
        stream: Option<&str>,
        request: &AppendRequest,
        written: &mut Option<WrittenFiles>,
    ) -> Result<AppendOutcome, AttemptError> {
        self.refresh().await.map_err(classify)?;
        let sources: Vec<SourcePartition> = request.offsets.keys().cloned().collect();
        let committed = self
            .stream_offsets(stream, &sources)
            .await
            .map_err(classify)?;

        let advancing = advancing(&request.offsets, &committed);
        if advancing.is_empty() {
            return Ok(AppendOutcome::AlreadyCommitted);
        }

        // Committed offsets that reach into this request's ranges decide which rows to drop.
        let mut overlap: Vec<(SourcePartition, i64)> = request
            .offsets
            .iter()
            .filter_map(|(source, range)| {
                let offset = *committed.get(source)?;
                (offset >= range.first).then(|| (source.clone(), offset))
            })
            .collect();
        overlap.sort();

        let reusable = written
            .as_ref()
            .is_some_and(|files| files.overlap == overlap);
        if !reusable {
            *written = Some(self.write_files(request, overlap).await?);
        }
        let Some(files) = written.as_ref() else {
            unreachable!("files were written above");
        };

        let transactions: Vec<Transaction> = advancing
            .iter()
            .map(|(source, range)| Transaction::new(stream_app_id(stream, source), range.last))
            .collect();
        let version = self.commit(files.adds.clone(), transactions).await?;
        let outcome = AppendOutcome::Committed {
            version,
            rows: files.rows,
            files: files.adds.len(),
            skipped_rows: files.skipped_rows,
        };
        self.checkpoint_if_due(version).await;
        Ok(outcome)
    }

    /// Writes the request's rows, less those at or below an overlapping committed offset.
    async fn write_files(
        &self,
        request: &AppendRequest,
        overlap: Vec<(SourcePartition, i64)>,
    ) -> Result<WrittenFiles, AttemptError> {
        let Some(batch) = &request.batch else {
            return Ok(WrittenFiles {
                overlap,
                adds: Vec::new(),
                rows: 0,
                skipped_rows: 0,
            });
        };

        let batch = if overlap.is_empty() {
            batch.clone()
        } else {
            self.drop_committed_rows(batch, &overlap)?
        };
        let skipped_rows =
            request.batch.as_ref().map_or(0, RecordBatch::num_rows) - batch.num_rows();
        let batch = match &self.spec.derive {
            Some(derive) if batch.num_rows() > 0 => {
                derive.derive(batch).await.map_err(|message| {
                    AttemptError::Fatal(LakeError::Derive {
                        table: self.spec.name.clone(),
                        message,
                    })
                })?
            }
            _ => batch,
        };
        if batch.num_rows() == 0 {
            return Ok(WrittenFiles {
                overlap,
                adds: Vec::new(),
                rows: 0,
                skipped_rows,
            });
        }

        let properties = WriterProperties::builder()
            .set_compression(self.settings.compression)
            .build();
        let mut writer = RecordBatchWriter::for_table(&self.table)
            .map_err(|source| AttemptError::Fatal(self.delta_error(source)))?
            .with_writer_properties(properties);
        let rows = batch.num_rows();
        writer
            .write(batch)
            .await
            .map_err(|source| classify(self.delta_error(source)))?;
        let adds = writer
            .flush()
            .await
            .map_err(|source| classify(self.delta_error(source)))?;
        Ok(WrittenFiles {
            overlap,
            adds,
            rows,
            skipped_rows,
        })
    }

    fn drop_committed_rows(
        &self,
        batch: &RecordBatch,
        overlap: &[(SourcePartition, i64)],
    ) -> Result<RecordBatch, AttemptError> {
        let Some(columns) = &self.spec.offset_columns else {
            // NOTE: a table whose rows do not map to records cannot take part of a range.
            return Err(AttemptError::Fatal(LakeError::MissingOffsetColumn {
                table: self.spec.name.clone(),
                column: "kafka_offset".to_string(),
            }));
        };
        let committed: HashMap<SourcePartition, i64> = overlap.iter().cloned().collect();
        let keep = uncommitted_rows(&self.spec.name, batch, columns, &committed)
            .map_err(AttemptError::Fatal)?;
        filter_record_batch(batch, &keep).map_err(|source| {
            AttemptError::Fatal(LakeError::Arrow {
                table: self.spec.name.clone(),
                source,
            })
        })
    }

    /// Commits at exactly the loaded snapshot's version + 1, so that the offsets checked
    /// against that snapshot are still the latest when the commit lands.
    async fn commit(
        &mut self,
        adds: Vec<Add>,
        transactions: Vec<Transaction>,
    ) -> Result<u64, AttemptError> {
        let snapshot = self
            .table
            .snapshot()
            .map_err(|source| AttemptError::Fatal(self.delta_error(source)))?;
        let properties = CommitProperties::default()
            .with_max_retries(0)
            .with_create_checkpoint(false)
            .with_cleanup_expired_logs(Some(false))
            .with_application_transactions(transactions);
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(self.spec.partition_columns.clone())
                .filter(|columns| !columns.is_empty()),
            predicate: None,
        };
        let actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();

        let result = CommitBuilder::from(properties)
            .with_actions(actions)
            .build(Some(snapshot), self.table.log_store(), operation)
            .await;
        match result {
            Ok(finalized) => {
                let version = finalized.version();
                self.table.state = Some(finalized.snapshot());
                Ok(version)
            }
            Err(error) => Err(classify(self.delta_error(error))),
        }
    }
}

/// Sorts an error into conflict, storage or fatal.
fn classify(error: LakeError) -> AttemptError {
    let LakeError::Delta { source, .. } = &error else {
        return AttemptError::Fatal(error);
    };
    match source {
        DeltaTableError::VersionAlreadyExists(_)
        | DeltaTableError::Transaction {
            source:
                TransactionError::MaxCommitAttempts(_)
                | TransactionError::CommitConflict(_)
                | TransactionError::VersionAlreadyExists(_),
        } => AttemptError::Conflict(source.to_string()),
        _ if error.is_storage_failure() => AttemptError::Storage(error),
        _ => AttemptError::Fatal(error),
    }
}
