//! Opening and creating lake tables.

use std::collections::HashMap;
use std::time::Duration;

use deltalake::arrow::datatypes::SchemaRef;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::parquet::basic::Compression;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use futures::future::try_join_all;
use url::Url;

use crate::error::LakeError;
use crate::location::LakeRoot;
use crate::offsets::{OffsetColumns, SourcePartition, app_id};

/// Definition of a table: its name under the lake root, schema and partition columns.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub name: String,
    pub schema: SchemaRef,
    pub partition_columns: Vec<String>,
    /// Columns with each row's Kafka coordinates, when rows map one to one to records.
    pub offset_columns: Option<OffsetColumns>,
}

/// Settings for writing files and making commits.
#[derive(Debug, Clone)]
pub struct WriteSettings {
    /// Parquet compression codec.
    pub compression: Compression,
    /// A checkpoint is written after every commit whose version is a multiple of this; 0
    /// turns checkpoints off.
    pub checkpoint_interval: u64,
    /// Attempts for one append before giving up, counting conflicts and storage errors.
    pub max_commit_attempts: usize,
    /// Wait before the first retry after a storage error; it doubles on each retry.
    pub retry_backoff: Duration,
}

impl Default for WriteSettings {
    fn default() -> Self {
        Self {
            compression: Compression::ZSTD(Default::default()),
            checkpoint_interval: 10,
            max_commit_attempts: 20,
            retry_backoff: Duration::from_millis(100),
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

impl LakeTable {
    /// Opens the table `spec.name` under `root`, creating it when missing. An existing table
    /// must have the same schema and partition columns as `spec`.
    pub async fn open_or_create(root: &LakeRoot, spec: TableSpec, settings: WriteSettings) -> Result<Self, LakeError> {
        let url = root.table_url(&spec.name)?;
        let delta_error = |source: DeltaTableError| LakeError::Delta {
            table: spec.name.clone(),
            source,
        };
        let kernel_schema: StructType = spec.schema.as_ref().try_into_kernel().map_err(|error| LakeError::Delta {
            table: spec.name.clone(),
            source: DeltaTableError::from(error),
        })?;

        // Checking for the log first avoids delta-rs logging an error for a missing table.
        let mut table = DeltaTableBuilder::from_url(url.clone())
            .and_then(|builder| builder.build())
            .map_err(delta_error)?;
        let exists = table.verify_deltatable_existence().await.map_err(delta_error)?;
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
                .await
                .map_err(delta_error)?
        };

        let lake_table = Self {
            spec,
            settings,
            table,
            url,
        };
        lake_table.check_layout(&kernel_schema)?;
        Ok(lake_table)
    }

    fn check_layout(&self, expected: &StructType) -> Result<(), LakeError> {
        let snapshot = self.table.snapshot().map_err(|source| self.delta_error(source))?;
        let found = snapshot.schema();
        if found.as_ref() != expected {
            return Err(LakeError::SchemaMismatch {
                table: self.spec.name.clone(),
                location: self.url.to_string(),
                difference: describe_difference(expected, found.as_ref()),
            });
        }

        let found_partitions = snapshot.metadata().partition_columns().to_vec();
        if found_partitions != self.spec.partition_columns {
            return Err(LakeError::PartitionMismatch {
                table: self.spec.name.clone(),
                found: found_partitions.join(", "),
                expected: self.spec.partition_columns.join(", "),
            });
        }
        Ok(())
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
        let snapshot = self.table.snapshot().map_err(|source| self.delta_error(source))?;
        let log_store = self.table.log_store();
        let lookups = partitions.iter().map(|partition| {
            let log_store = log_store.clone();
            async move {
                let version = snapshot.transaction_version(log_store.as_ref(), app_id(partition)).await?;
                Ok::<_, DeltaTableError>((partition.clone(), version))
            }
        });
        let versions = try_join_all(lookups).await.map_err(|source| self.delta_error(source))?;
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

/// Names the first column that differs between two schemas.
fn describe_difference(expected: &StructType, found: &StructType) -> String {
    for field in expected.fields() {
        match found.field(field.name()) {
            None => return format!("column '{}' is missing from the table", field.name()),
            Some(existing) if existing != field => {
                return format!(
                    "column '{}' is {} in the table but {} here",
                    field.name(),
                    existing.data_type(),
                    field.data_type()
                );
            }
            Some(_) => {}
        }
    }
    for field in found.fields() {
        if expected.field(field.name()).is_none() {
            return format!("the table has column '{}', which this configuration lacks", field.name());
        }
    }
    "column order or nullability differs".to_string()
}
