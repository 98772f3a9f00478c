//! Replacing rows by key: the commit of an aggregate table, which puts recomputed groups in
//! place of the old ones and records the Kafka offsets it covers, in one Delta commit.

use std::collections::BTreeMap;

use deltalake::arrow::array::RecordBatch;
use deltalake::datafusion::prelude::{Expr, col, lit};
use deltalake::datafusion::scalar::ScalarValue;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::protocol::SaveMode;
use tracing::info;

use crate::append::AppendOutcome;
use crate::error::LakeError;
use crate::offsets::{OffsetRange, SourcePartition, advancing, app_id};
use crate::table::LakeTable;

/// Rows that take the place of every row whose `column` value lies in one of `ranges`.
#[derive(Debug, Clone)]
pub struct ReplaceRequest {
    /// The new rows; the `column` value of each lies in one of `ranges`.
    pub batch: RecordBatch,
    pub column: String,
    /// Inclusive ranges of `column` values, as (lowest, highest).
    pub ranges: Vec<(ScalarValue, ScalarValue)>,
    /// Offsets covered per topic-partition.
    pub offsets: BTreeMap<SourcePartition, OffsetRange>,
}

impl LakeTable {
    /// Replaces the rows in `request.ranges` and records the offsets, in one commit at exactly
    /// the loaded snapshot's version + 1.
    ///
    /// The caller refreshes this table, then reads the source of the new rows, then calls
    /// this. A commit of another writer that the refresh saw came after that writer's source
    /// rows, which the read then includes. A later one makes this commit fail with
    /// [`LakeError::ReplaceConflict`], and the caller computes the rows again.
    pub async fn replace(&mut self, request: &ReplaceRequest) -> Result<AppendOutcome, LakeError> {
        let sources: Vec<SourcePartition> = request.offsets.keys().cloned().collect();
        let committed = self.committed_offsets(&sources).await?;
        let transactions: Vec<Transaction> = advancing(&request.offsets, &committed)
            .into_iter()
            .map(|(source, range)| Transaction::new(app_id(source), range.last))
            .collect();
        if transactions.is_empty() {
            return Ok(AppendOutcome::AlreadyCommitted);
        }

        let column = || col(format!("\"{}\"", request.column));
        let predicate: Option<Expr> = request
            .ranges
            .iter()
            .map(|(low, high)| {
                column()
                    .gt_eq(lit(low.clone()))
                    .and(column().lt_eq(lit(high.clone())))
            })
            .reduce(Expr::or);
        let Some(predicate) = predicate else {
            return Err(LakeError::Derive {
                table: self.spec.name.clone(),
                message: "a replace needs at least one range; this is a bug".to_string(),
            });
        };
        let properties = CommitProperties::default()
            .with_max_retries(0)
            .with_create_checkpoint(false)
            .with_cleanup_expired_logs(Some(false))
            .with_application_transactions(transactions);
        let writer_properties = WriterProperties::builder()
            .set_compression(self.settings.compression)
            .build();
        let started = std::time::Instant::now();
        let result = self
            .table
            .clone()
            .write(vec![request.batch.clone()])
            .with_save_mode(SaveMode::Overwrite)
            .with_replace_where(predicate)
            .with_writer_properties(writer_properties)
            .with_commit_properties(properties)
            .await;
        let table = match result {
            Ok(table) => table,
            Err(deltalake::DeltaTableError::Transaction { source }) => {
                return Err(LakeError::ReplaceConflict {
                    table: self.spec.name.clone(),
                    message: source.to_string(),
                });
            }
            Err(source) => return Err(self.delta_error(source)),
        };
        self.table = table;
        let version = self.table.version().unwrap_or(0);
        let files = self.files_added(version).await;
        info!(
            table = %self.spec.name,
            version,
            rows = request.batch.num_rows(),
            ranges = request.ranges.len(),
            duration_ms = started.elapsed().as_millis() as u64,
            "replaced groups"
        );
        self.checkpoint_if_due(version).await;
        Ok(AppendOutcome::Committed {
            version,
            rows: request.batch.num_rows(),
            files,
            skipped_rows: 0,
        })
    }

    /// Counts the `add` actions of the commit at `version`, or 0 when it cannot be read.
    async fn files_added(&self, version: u64) -> usize {
        match self.table.log_store().read_commit_entry(version).await {
            Ok(Some(entry)) => entry
                .split(|byte| *byte == b'\n')
                .filter(|line| line.starts_with(b"{\"add\""))
                .count(),
            _ => 0,
        }
    }
}
