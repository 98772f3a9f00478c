//! Compaction: rewrites a table's small files into files near a target size, partition by
//! partition, in one commit that changes no data (`dataChange=false`).
//!
//! Ingestors may append to the same table meanwhile. delta-rs checks the compaction commit
//! against the commits that landed since its snapshot, and blind appends do not conflict
//! with it. When a conflict is reported all the same, the compaction is planned again from
//! the new snapshot.

use std::num::NonZeroU64;

use deltalake::kernel::schema::partitions::{FilterOp, FilterValue};
use deltalake::operations::optimize::OptimizeType;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::{DeltaTable, DeltaTableError};
use tracing::warn;

use crate::error::LakeError;

/// Attempts of one compaction before a conflict is reported.
const MAX_ATTEMPTS: usize = 5;

/// Compaction settings.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// Size the rewritten files aim for, in bytes.
    pub target_size: NonZeroU64,
    /// `column = value` pairs that select the partitions to compact; empty means all.
    pub partitions: Vec<(String, String)>,
    /// A column to sort rows by inside the new files, which tightens their statistics.
    pub sort_by: Option<String>,
    pub compression: Compression,
}

/// Result of one compaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactSummary {
    pub files_removed: u64,
    pub files_added: u64,
    pub bytes_removed: u64,
    pub bytes_added: u64,
    pub partitions: u64,
    /// Version of the compaction commit, or `None` when nothing needed rewriting.
    pub version: Option<u64>,
}

/// Compacts the small files of one table.
pub async fn compact(
    table: &DeltaTable,
    name: &str,
    options: &CompactOptions,
) -> Result<CompactSummary, LakeError> {
    let delta_error = |source| LakeError::Delta {
        table: name.to_string(),
        source,
    };
    let filters: Vec<_> = options
        .partitions
        .iter()
        .map(|(column, value)| {
            (
                column.as_str(),
                FilterOp::Eq,
                FilterValue::Scalar(value.as_str()),
            )
        })
        .collect();
    // Z-ordering by one column is a sort by it.
    let optimize_type = || match &options.sort_by {
        Some(column) => OptimizeType::ZOrder(vec![column.clone()]),
        None => OptimizeType::Compact,
    };

    let mut attempt = 1;
    loop {
        let mut current = table.clone();
        current.update_state().await.map_err(delta_error)?;
        let before = current.version();
        let properties = WriterProperties::builder()
            .set_compression(options.compression)
            .build();
        let result = current
            .optimize()
            .with_type(optimize_type())
            .with_filters(&filters)
            .with_target_size(options.target_size)
            .with_writer_properties(properties)
            .await;
        match result {
            Ok((compacted, metrics)) => {
                let version = compacted.version().filter(|after| Some(*after) != before);
                return Ok(CompactSummary {
                    files_removed: metrics.num_files_removed,
                    files_added: metrics.num_files_added,
                    bytes_removed: u64::try_from(metrics.files_removed.total_size).unwrap_or(0),
                    bytes_added: u64::try_from(metrics.files_added.total_size).unwrap_or(0),
                    partitions: metrics.partitions_optimized,
                    version,
                });
            }
            Err(DeltaTableError::Transaction { source }) if attempt < MAX_ATTEMPTS => {
                warn!(table = name, attempt, error = %source, "compaction conflicted with another commit; planning it again");
                attempt += 1;
            }
            Err(source) => return Err(delta_error(source)),
        }
    }
}

/// Returns the partitions, as `column = value` pairs, that have at least `min_files` live
/// files and no file added within `idle` of `now_ms` (milliseconds since the epoch). They
/// are the closed partitions, such as past days, that compaction can rewrite without racing
/// new appends. Partitions with a null partition value are left out, because a filter
/// cannot select them.
pub fn idle_partitions(
    table: &DeltaTable,
    name: &str,
    idle: std::time::Duration,
    min_files: usize,
    now_ms: i64,
) -> Result<Vec<Vec<(String, String)>>, LakeError> {
    let snapshot = table.snapshot().map_err(|source| LakeError::Delta {
        table: name.to_string(),
        source,
    })?;
    let columns = snapshot.metadata().partition_columns().to_vec();
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let idle_ms = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);

    // Per partition: live files and the newest modification time.
    let mut partitions: std::collections::BTreeMap<Vec<(String, String)>, (usize, i64)> =
        std::collections::BTreeMap::new();
    for file in snapshot.log_data().iter() {
        let values = file.partition_values_map();
        let key: Option<Vec<(String, String)>> = columns
            .iter()
            .map(|column| {
                let value = values.get(column)?.clone()?;
                Some((column.clone(), value))
            })
            .collect();
        let Some(key) = key else {
            continue;
        };
        let entry = partitions.entry(key).or_insert((0, i64::MIN));
        entry.0 += 1;
        entry.1 = entry.1.max(file.modification_time());
    }
    Ok(partitions
        .into_iter()
        .filter(|(_, (files, newest))| {
            *files >= min_files && now_ms.saturating_sub(*newest) >= idle_ms
        })
        .map(|(key, _)| key)
        .collect())
}
