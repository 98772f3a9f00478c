//! Errors of the lake crate.

use deltalake::DeltaTableError;

/// A failure to open, create or write a lake table; each names the table.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("invalid lake location '{location}': {reason}")]
    InvalidLocation { location: String, reason: String },

    #[error(
        "table '{table}' at {location} has a different schema than this configuration: {difference}; point --lake at another directory, or restore the schema files the table was created with"
    )]
    SchemaMismatch {
        table: String,
        location: String,
        difference: String,
    },

    #[error(
        "table '{table}' is partitioned by [{found}] but this configuration partitions it by [{expected}]; use another lake directory or the granularity the table was created with"
    )]
    PartitionMismatch {
        table: String,
        found: String,
        expected: String,
    },

    #[error(
        "batch for table '{table}' lacks column '{column}' needed to track Kafka offsets; this is a bug"
    )]
    MissingOffsetColumn { table: String, column: String },

    #[error("computing the rows of table '{table}' failed: {message}")]
    Derive { table: String, message: String },

    #[error("another writer changed table '{table}' during a replace: {message}")]
    ReplaceConflict { table: String, message: String },

    #[error("Delta operation on table '{table}' failed: {source}")]
    Delta {
        table: String,
        #[source]
        source: DeltaTableError,
    },

    #[error("commit to table '{table}' failed after {attempts} attempts: {last_error}")]
    CommitRetriesExhausted {
        table: String,
        attempts: usize,
        last_error: String,
    },

    #[error(
        "retention {retention} is under 7 days, which can delete files that an ingestor is about to commit or that readers of older versions need; pass --allow-short-retention if no ingestor runs and no reader needs older versions"
    )]
    ShortRetention { retention: String },

    #[error("retention {retention} is too long; give at most a few hundred years")]
    InvalidRetention { retention: String },

    #[error("Arrow error on table '{table}': {source}")]
    Arrow {
        table: String,
        #[source]
        source: deltalake::arrow::error::ArrowError,
    },
}

impl LakeError {
    /// Returns whether reading or writing storage failed, as with a full disk, a read-only
    /// directory or a lost connection to an object store. Such a failure may pass, so the
    /// operation is worth retrying after a pause.
    pub fn is_storage_failure(&self) -> bool {
        let LakeError::Delta { source, .. } = self else {
            return false;
        };
        matches!(
            source,
            DeltaTableError::ObjectStore { .. }
                | DeltaTableError::Io { .. }
                | DeltaTableError::Parquet { .. }
                | DeltaTableError::KernelError(_)
                | DeltaTableError::Kernel { .. }
                | DeltaTableError::GenericError { .. }
                | DeltaTableError::Transaction {
                    source: deltalake::kernel::transaction::TransactionError::ObjectStore { .. },
                }
        )
    }
}
