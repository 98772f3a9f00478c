//! Vacuum: deletes data files that no retained version of a table references.
//!
//! A file is deleted when the current version does not reference it and it is older than the
//! retention: files that compaction replaced, and orphans that a failed writer left behind
//! without a commit. Readers of a version younger than the retention keep their files.

use std::time::Duration;

use deltalake::DeltaTable;
use deltalake::operations::vacuum::VacuumMode;

use crate::error::LakeError;

/// The shortest retention allowed without asking: delta-rs's default for
/// `delta.deletedFileRetentionDuration`.
pub const MIN_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Result of one vacuum, or in a dry run the files it would delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VacuumSummary {
    /// Paths relative to the table root.
    pub files: Vec<String>,
    pub dry_run: bool,
}

/// Deletes unreferenced files older than `retention` from one table.
///
/// A retention under 7 days is rejected unless `allow_short_retention` is set. A concurrent
/// writer's files stay unreferenced until its commit lands, and a reader of an older version
/// needs the files that version lists.
pub async fn vacuum(
    table: &DeltaTable,
    name: &str,
    retention: Duration,
    allow_short_retention: bool,
    dry_run: bool,
) -> Result<VacuumSummary, LakeError> {
    let delta_error = |source| LakeError::Delta {
        table: name.to_string(),
        source,
    };
    if retention < MIN_RETENTION && !allow_short_retention {
        return Err(LakeError::ShortRetention {
            retention: format!("{}h", retention.as_secs() / 3600),
        });
    }
    let retention =
        chrono::Duration::from_std(retention).map_err(|_| LakeError::InvalidRetention {
            retention: format!("{retention:?}"),
        })?;

    let mut current = table.clone();
    current.update_state().await.map_err(delta_error)?;
    let (_, metrics) = current
        .vacuum()
        .with_mode(VacuumMode::Full)
        .with_retention_period(retention)
        .with_enforce_retention_duration(!allow_short_retention)
        .with_dry_run(dry_run)
        .await
        .map_err(delta_error)?;
    Ok(VacuumSummary {
        files: metrics.files_deleted,
        dry_run,
    })
}
