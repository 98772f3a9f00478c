//! Opening and creating lake tables.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use deltalake::arrow::datatypes::SchemaRef;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, MetadataExt, StructType};
use deltalake::parquet::basic::Compression;
use deltalake::protocol::DeltaOperation;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use futures::future::try_join_all;
use tracing::{info, warn};
use url::Url;

use crate::derive::DeriveRows;
use crate::error::LakeError;
use crate::evolve::widened_fields;
use crate::location::LakeRoot;
use crate::offsets::{OffsetColumns, SourcePartition, stream_app_id};

/// Attempts at evolving a table's schema while other writers change it too.
const MAX_EVOLVE_ATTEMPTS: usize = 5;

/// Definition of a table: its name under the lake root, schema and partition columns.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub name: String,
    pub schema: SchemaRef,
    pub partition_columns: Vec<String>,
    /// Columns with each row's Kafka coordinates, when rows map one to one to records. For a
    /// derived table, the columns of the source rows that appends take.
    pub offset_columns: Option<OffsetColumns>,
    /// For a derived table, how its rows are computed from the source rows of an append.
    pub derive: Option<Arc<dyn DeriveRows>>,
}

/// Settings for writing files and making commits.
#[derive(Debug, Clone)]
pub struct WriteSettings {
    /// Parquet compression codec.
    pub compression: Compression,
    /// A checkpoint is written once this many commits have landed since the last one; 0 turns
    /// checkpoints off.
    pub checkpoint_interval: u64,
    /// Attempts for one append before giving up, counting conflicts and storage errors.
    pub max_commit_attempts: usize,
    /// Wait before the first retry after a storage error; it doubles on each retry.
    pub retry_backoff: Duration,
    /// How long log files stay after their commit, stored as the table's
    /// `delta.logRetentionDuration`; `None` keeps the table's value (30 days by default).
    pub log_retention: Option<Duration>,
}

impl Default for WriteSettings {
    fn default() -> Self {
        Self {
            compression: Compression::ZSTD(Default::default()),
            checkpoint_interval: 10,
            max_commit_attempts: 20,
            retry_backoff: Duration::from_millis(100),
            log_retention: None,
        }
    }
}

/// An open Delta table of the lake.
pub struct LakeTable {
    pub(crate) spec: TableSpec,
    pub(crate) settings: WriteSettings,
    pub(crate) table: DeltaTable,
    pub(crate) url: Url,
}

impl std::fmt::Debug for LakeTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeTable")
            .field("name", &self.spec.name)
            .field("url", &self.url.as_str())
            .field("version", &self.table.version())
            .finish()
    }
}

/// Writes a duration as a Delta interval property value, such as `interval 604800 seconds`.
fn delta_interval(duration: Duration) -> String {
    format!("interval {} seconds", duration.as_secs().max(1))
}

/// Stores `retention` as the table's `delta.logRetentionDuration` when it has another value,
/// so that the setting also applies to tables created earlier, and to other writers.
async fn set_log_retention(
    table: DeltaTable,
    retention: Duration,
) -> Result<DeltaTable, DeltaTableError> {
    let expected = delta_interval(retention);
    let current = table
        .snapshot()?
        .metadata()
        .configuration()
        .get(deltalake::TableProperty::LogRetentionDuration.as_ref())
        .cloned();
    if current.as_deref() == Some(expected.as_str()) {
        return Ok(table);
    }
    info!(
        table = %table.table_url(),
        retention = %expected,
        "setting delta.logRetentionDuration"
    );
    let properties = HashMap::from([(
        deltalake::TableProperty::LogRetentionDuration
            .as_ref()
            .to_string(),
        expected,
    )]);
    table.set_tbl_properties().with_properties(properties).await
}

impl LakeTable {
    /// Opens the table `spec.name` under `root`, creating it when missing. An existing table
    /// must have the same schema and partition columns as `spec`.
    pub async fn open_or_create(
        root: &LakeRoot,
        spec: TableSpec,
        settings: WriteSettings,
    ) -> Result<Self, LakeError> {
        let url = root.table_url(&spec.name)?;
        let delta_error = |source: DeltaTableError| LakeError::Delta {
            table: spec.name.clone(),
            source,
        };
        let kernel_schema: StructType =
            spec.schema
                .as_ref()
                .try_into_kernel()
                .map_err(|error| LakeError::Delta {
                    table: spec.name.clone(),
                    source: DeltaTableError::from(error),
                })?;

        // Checking for the log first avoids delta-rs logging an error for a missing table.
        let mut table = DeltaTableBuilder::from_url(url.clone())
            .and_then(|builder| builder.build())
            .map_err(delta_error)?;
        let exists = table
            .verify_deltatable_existence()
            .await
            .map_err(delta_error)?;
        let table = if exists {
            table.load().await.map_err(delta_error)?;
            table
        } else {
            // Ignore mode returns the existing table when another process created it first.
            table
                .create()
                .with_columns(kernel_schema.fields().cloned())
                .with_partition_columns(spec.partition_columns.clone())
                .with_save_mode(SaveMode::Ignore)
                .with_configuration_property(
                    deltalake::TableProperty::CheckpointInterval,
                    Some(settings.checkpoint_interval.max(1).to_string()),
                )
                .with_configuration_property(
                    deltalake::TableProperty::LogRetentionDuration,
                    settings.log_retention.map(delta_interval),
                )
                .await
                .map_err(delta_error)?
        };
        let table = match settings.log_retention {
            Some(retention) => set_log_retention(table, retention)
                .await
                .map_err(delta_error)?,
            None => table,
        };

        let mut lake_table = Self {
            spec,
            settings,
            table,
            url,
        };
        lake_table.check_layout(&kernel_schema).await?;
        Ok(lake_table)
    }

    /// Checks the table's partition columns and schema against the spec, adding the
    /// nullable columns and struct fields that the spec has and the table lacks.
    async fn check_layout(&mut self, expected: &StructType) -> Result<(), LakeError> {
        let snapshot = self
            .table
            .snapshot()
            .map_err(|source| self.delta_error(source))?;
        let found_partitions = snapshot.metadata().partition_columns().to_vec();
        if found_partitions != self.spec.partition_columns {
            return Err(LakeError::PartitionMismatch {
                table: self.spec.name.clone(),
                found: found_partitions.join(", "),
                expected: self.spec.partition_columns.join(", "),
            });
        }

        // A concurrent writer may evolve the schema first; then the check passes on reload.
        for _ in 0..MAX_EVOLVE_ATTEMPTS {
            let snapshot = self
                .table
                .snapshot()
                .map_err(|source| self.delta_error(source))?;
            let found = snapshot.schema();
            if found.as_ref() == expected {
                return Ok(());
            }
            let added = widened_fields(found.as_ref(), expected).map_err(|difference| {
                LakeError::SchemaMismatch {
                    table: self.spec.name.clone(),
                    location: self.url.to_string(),
                    difference,
                }
            })?;
            if added.is_empty() {
                return Err(LakeError::SchemaMismatch {
                    table: self.spec.name.clone(),
                    location: self.url.to_string(),
                    difference: "column order differs".to_string(),
                });
            }

            let metadata = snapshot
                .metadata()
                .clone()
                .with_schema(expected)
                .map_err(|source| self.delta_error(DeltaTableError::from(source)))?;
            let names: Vec<String> = added.iter().map(|field| field.name().clone()).collect();
            let result = CommitBuilder::default()
                .with_actions(vec![Action::Metadata(metadata)])
                .with_max_retries(0)
                .build(
                    Some(snapshot),
                    self.table.log_store(),
                    DeltaOperation::AddColumn { fields: added },
                )
                .await;
            match result {
                Ok(finalized) => {
                    info!(table = %self.spec.name, version = finalized.version(), columns = %names.join(","), "schema evolved");
                    self.table.state = Some(finalized.snapshot());
                    return Ok(());
                }
                Err(error) => {
                    warn!(table = %self.spec.name, error = %error, "schema evolution commit failed; reloading");
                    self.refresh().await?;
                }
            }
        }
        Err(LakeError::CommitRetriesExhausted {
            table: self.spec.name.clone(),
            attempts: MAX_EVOLVE_ATTEMPTS,
            last_error: "the schema kept changing while it was evolved".to_string(),
        })
    }

    pub(crate) fn delta_error(&self, source: DeltaTableError) -> LakeError {
        LakeError::Delta {
            table: self.spec.name.clone(),
            source,
        }
    }

    /// Returns the table name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Returns the table location.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Returns the version of the loaded snapshot.
    pub fn version(&self) -> Option<u64> {
        self.table.version()
    }

    /// Loads the latest version of the table.
    pub async fn refresh(&mut self) -> Result<(), LakeError> {
        let result = self.table.update_incremental(None).await;
        result.map_err(|source| self.delta_error(source))
    }

    /// Returns the last committed offset of each partition in the loaded snapshot; partitions
    /// without a `txn` action are absent.
    pub async fn committed_offsets(
        &self,
        partitions: &[SourcePartition],
    ) -> Result<HashMap<SourcePartition, i64>, LakeError> {
        self.stream_offsets(None, partitions).await
    }

    /// Returns the last committed offset of an offset stream of the table (see
    /// [`LakeTable::append_to_stream`]) for each of `partitions` that has one.
    pub async fn stream_offsets(
        &self,
        stream: Option<&str>,
        partitions: &[SourcePartition],
    ) -> Result<HashMap<SourcePartition, i64>, LakeError> {
        let snapshot = self
            .table
            .snapshot()
            .map_err(|source| self.delta_error(source))?;
        let log_store = self.table.log_store();
        let lookups = partitions.iter().map(|partition| {
            let log_store = log_store.clone();
            async move {
                let version = snapshot
                    .transaction_version(log_store.as_ref(), stream_app_id(stream, partition))
                    .await?;
                Ok::<_, DeltaTableError>((partition.clone(), version))
            }
        });
        let versions = try_join_all(lookups)
            .await
            .map_err(|source| self.delta_error(source))?;
        Ok(versions
            .into_iter()
            .filter_map(|(partition, version)| version.map(|version| (partition, version)))
            .collect())
    }

    /// Returns the underlying delta-rs table, for reads.
    pub fn delta_table(&self) -> &DeltaTable {
        &self.table
    }
}
