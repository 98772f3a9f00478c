//! A table provider that reads the live files of a Delta snapshot with DataFusion's own
//! Parquet scan.
//!
//! delta-rs's provider puts an operator of its own above the Parquet scan, and DataFusion
//! cannot push a projection of struct fields such as `event_data.user_id` through it. So every
//! field of `event_data` was read and decompressed for a query that needs one. The tables
//! eventlake writes use no Delta feature that needs that operator (column mapping, deletion
//! vectors), so they are read directly. Partition values come from the log, partition filters
//! prune files while the plan is made, and the Parquet reader reads only the struct fields
//! that a query names. Tables with such features keep delta-rs's provider.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::DateTime;
use deltalake::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use deltalake::arrow::datatypes::{DataType, FieldRef, Schema, SchemaRef, TimeUnit};
use deltalake::datafusion::catalog::{Session, TableProvider};
use deltalake::datafusion::common::stats::Precision;
use deltalake::datafusion::common::{ColumnStatistics, DFSchema, Result, ScalarValue, Statistics};
use deltalake::datafusion::datasource::TableType;
use deltalake::datafusion::datasource::listing::PartitionedFile;
use deltalake::datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use deltalake::datafusion::datasource::physical_plan::{
    FileGroup, FileScanConfigBuilder, ParquetSource,
};
use deltalake::datafusion::datasource::source::DataSourceExec;
use deltalake::datafusion::datasource::table_schema::TableSchema;
use deltalake::datafusion::execution::object_store::ObjectStoreUrl;
use deltalake::datafusion::logical_expr::utils::conjunction;
use deltalake::datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use deltalake::datafusion::physical_plan::ExecutionPlan;
use deltalake::{DeltaTable, DeltaTableError, ObjectMeta, Path as StorePath};

/// One live file of the snapshot.
#[derive(Debug, Clone)]
struct DataFile {
    meta: ObjectMeta,
    /// Typed values of the partition columns, in the order of `SnapshotScan::partition_fields`.
    partition_values: Vec<ScalarValue>,
    /// Rows in the file, from the `numRecords` statistic of its `add` action.
    rows: Option<usize>,
    /// Statistics of the file columns, from the log, so that files are pruned unopened.
    statistics: Arc<Statistics>,
}

/// The live files of one version of a Delta table on the local file system.
#[derive(Debug)]
pub(crate) struct SnapshotScan {
    /// Columns in the order of the Delta schema, partition columns included.
    schema: SchemaRef,
    /// Columns stored in the Parquet files: the schema without partition columns.
    file_schema: SchemaRef,
    /// Partition columns in the order of the table metadata.
    partition_fields: Vec<FieldRef>,
    /// For each column of `schema`, its index among the file columns followed by the
    /// partition columns, which is the order DataFusion's file scan produces.
    scan_index: Vec<usize>,
    files: Vec<DataFile>,
}

impl SnapshotScan {
    /// Lists the live files of `table`, whose directory is `root` (an absolute path).
    ///
    /// Returns `None` when the table needs a Delta reader feature beyond version 1 (column
    /// mapping, deletion vectors and others) or names a file by absolute URL. eventlake
    /// writes neither kind, and delta-rs's provider reads them.
    pub(crate) fn try_new(
        table: &DeltaTable,
        root: &Path,
    ) -> Result<Option<Self>, DeltaTableError> {
        let state = table.snapshot()?;
        if state.protocol().min_reader_version() > 1 {
            return Ok(None);
        }

        let schema = state.snapshot().arrow_schema();
        let partition_columns = state.metadata().partition_columns();
        let mut partition_fields = Vec::with_capacity(partition_columns.len());
        for name in partition_columns {
            let field = schema.field_with_name(name)?;
            partition_fields.push(Arc::new(field.clone()));
        }
        let file_fields: Vec<FieldRef> = schema
            .fields()
            .iter()
            .filter(|field| !partition_columns.contains(field.name()))
            .cloned()
            .collect();

        let mut scan_index = Vec::with_capacity(schema.fields().len());
        let mut file_position = 0;
        for field in schema.fields() {
            match partition_columns
                .iter()
                .position(|name| name == field.name())
            {
                Some(position) => scan_index.push(file_fields.len() + position),
                None => {
                    scan_index.push(file_position);
                    file_position += 1;
                }
            }
        }

        let mut files = Vec::with_capacity(state.log_data().num_files());
        for view in state.log_data().iter() {
            let relative = view.path();
            // Shallow clones name files by absolute URL, which this provider does not read.
            if relative.contains("://") {
                return Ok(None);
            }
            let location = StorePath::from_absolute_path(root.join(relative.as_ref()))
                .map_err(|error| DeltaTableError::Generic(error.to_string()))?;
            let raw_values = view.partition_values_map();
            let partition_values = partition_fields
                .iter()
                .map(|field| partition_value(raw_values.get(field.name()), field))
                .collect::<Result<Vec<_>, _>>()?;
            let size = u64::try_from(view.size()).unwrap_or_default();
            let rows = view.num_records();
            let statistics = file_statistics(view.stats(), &file_fields, rows, size);
            files.push(DataFile {
                meta: ObjectMeta {
                    location,
                    last_modified: view.modification_datetime()?,
                    size,
                    e_tag: None,
                    version: None,
                },
                partition_values,
                rows,
                statistics: Arc::new(statistics),
            });
        }

        Ok(Some(Self {
            schema,
            file_schema: Arc::new(Schema::new(file_fields)),
            partition_fields,
            scan_index,
            files,
        }))
    }

    /// Returns the files whose partition values pass every filter that reads only partition
    /// columns. Other filters are left to the Parquet reader and the plan above the scan.
    ///
    /// Filters on other columns prune files when the Parquet reader opens them, by the
    /// statistics from the log (see `file_statistics`), then row groups by each footer.
    fn prune(&self, state: &dyn Session, filters: &[Expr]) -> Result<Vec<DataFile>> {
        let partition_filters = filters
            .iter()
            .filter(|filter| self.is_partition_filter(filter));
        let Some(filter) = conjunction(partition_filters.cloned()) else {
            return Ok(self.files.clone());
        };
        if self.files.is_empty() {
            return Ok(Vec::new());
        }

        // One row per file with its partition values, to evaluate the filter on.
        let schema = Arc::new(Schema::new(self.partition_fields.clone()));
        let columns = (0..self.partition_fields.len())
            .map(|index| {
                ScalarValue::iter_to_array(
                    self.files
                        .iter()
                        .map(|file| file.partition_values[index].clone()),
                )
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let values = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        let predicate = state.create_physical_expr(filter, &DFSchema::try_from(schema)?)?;
        let matches = predicate.evaluate(&values)?.into_array(values.num_rows())?;
        let matches = matches.as_boolean();

        Ok(self
            .files
            .iter()
            .enumerate()
            .filter(|(index, _)| matches.is_valid(*index) && matches.value(*index))
            .map(|(_, file)| file.clone())
            .collect())
    }

    /// Returns whether `filter` reads only partition columns and has the same value for every
    /// row of a file, so that pruning files by it leaves no row to check.
    fn is_partition_filter(&self, filter: &Expr) -> bool {
        let columns = filter.column_refs();
        !columns.is_empty()
            && !filter.is_volatile()
            && columns.iter().all(|column| {
                self.partition_fields
                    .iter()
                    .any(|field| field.name() == &column.name)
            })
    }

    /// Returns the row count when the log records it for every file. Column statistics are
    /// left unknown, so plans never rely on them.
    fn statistics(&self, files: &[DataFile], scan_schema: &Schema) -> Statistics {
        let rows: Option<usize> = files.iter().map(|file| file.rows).sum();
        let bytes: u64 = files.iter().map(|file| file.meta.size).sum();
        Statistics {
            num_rows: rows.map_or(Precision::Absent, Precision::Exact),
            total_byte_size: Precision::Inexact(usize::try_from(bytes).unwrap_or(usize::MAX)),
            column_statistics: vec![ColumnStatistics::new_unknown(); scan_schema.fields().len()],
        }
    }
}

/// Parses a partition value as the log stores it: text, with null or an empty string for
/// a null value.
fn partition_value(
    raw: Option<&Option<String>>,
    field: &FieldRef,
) -> Result<ScalarValue, DeltaTableError> {
    match raw {
        Some(Some(text)) if !text.is_empty() => {
            ScalarValue::try_from_string(text.clone(), field.data_type()).map_err(|error| {
                DeltaTableError::Generic(format!(
                    "partition value '{text}' of column {} is not a valid {}: {error}",
                    field.name(),
                    field.data_type()
                ))
            })
        }
        _ => ScalarValue::try_from(field.data_type())
            .map_err(|error| DeltaTableError::Generic(error.to_string())),
    }
}

/// Builds a file's statistics from the `stats` JSON of its `add` action.
///
/// Integer, date and microsecond timestamp columns get their minimum and maximum, which
/// DataFusion uses to skip files unopened. Strings get none, because writers may truncate
/// long strings in bounds. Delta writers truncate timestamp bounds to milliseconds while the
/// columns hold microseconds, so those bounds are widened by one millisecond on each side.
/// The scan uses per-file bounds only to skip files, so a widened bound cannot change a
/// result.
fn file_statistics(
    stats: Option<String>,
    file_fields: &[FieldRef],
    rows: Option<usize>,
    size: u64,
) -> Statistics {
    let stats: Option<serde_json::Value> = stats.and_then(|text| serde_json::from_str(&text).ok());
    let bound = |kind: &str, field: &FieldRef| -> Precision<ScalarValue> {
        let Some(value) = stats
            .as_ref()
            .and_then(|stats| stats.get(kind))
            .and_then(|bounds| bounds.get(field.name()))
        else {
            return Precision::Absent;
        };
        let scalar = match field.data_type() {
            DataType::Int64 => value.as_i64().map(|value| ScalarValue::Int64(Some(value))),
            DataType::Int32 => value
                .as_i64()
                .and_then(|value| i32::try_from(value).ok())
                .map(|value| ScalarValue::Int32(Some(value))),
            DataType::Date32 => value.as_str().and_then(|text| {
                ScalarValue::try_from_string(text.to_string(), &DataType::Date32).ok()
            }),
            DataType::Timestamp(TimeUnit::Microsecond, timezone) => value
                .as_str()
                .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
                .map(|time| {
                    let widen = if kind == "minValues" { -1_000 } else { 1_000 };
                    let micros = time.timestamp_micros().saturating_add(widen);
                    ScalarValue::TimestampMicrosecond(Some(micros), timezone.clone())
                }),
            _ => None,
        };
        scalar.map_or(Precision::Absent, Precision::Exact)
    };

    let column_statistics = file_fields
        .iter()
        .map(|field| ColumnStatistics {
            min_value: bound("minValues", field),
            max_value: bound("maxValues", field),
            ..ColumnStatistics::new_unknown()
        })
        .collect();
    Statistics {
        num_rows: rows.map_or(Precision::Absent, Precision::Exact),
        total_byte_size: Precision::Inexact(usize::try_from(size).unwrap_or(usize::MAX)),
        column_statistics,
    }
}

/// Spreads files over `count` groups of about equal bytes, one group per scan partition.
fn file_groups(mut files: Vec<DataFile>, count: usize) -> Vec<FileGroup> {
    files.sort_by_key(|file| std::cmp::Reverse(file.meta.size));
    let count = count.clamp(1, files.len().max(1));
    let mut groups: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); count];
    for file in files {
        // The group with the fewest bytes so far takes the next largest file.
        let Some(group) = groups.iter_mut().min_by_key(|(bytes, _)| *bytes) else {
            break;
        };
        group.0 += file.meta.size;
        let mut partitioned = PartitionedFile::from(file.meta);
        // Partition values come first, because `with_statistics` adds their statistics.
        partitioned.partition_values = file.partition_values;
        group.1.push(partitioned.with_statistics(file.statistics));
    }
    groups
        .into_iter()
        .filter(|(_, files)| !files.is_empty())
        .map(|(_, files)| FileGroup::new(files))
        .collect()
}

#[async_trait]
impl TableProvider for SnapshotScan {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Pruning files applies partition filters exactly. Other filters prune row groups, and
        // a filter above the scan checks every row.
        Ok(filters
            .iter()
            .map(|filter| match self.is_partition_filter(filter) {
                true => TableProviderFilterPushDown::Exact,
                false => TableProviderFilterPushDown::Inexact,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let files = self.prune(state, filters)?;
        let table_schema = TableSchema::builder(Arc::clone(&self.file_schema))
            .with_table_partition_cols(self.partition_fields.clone())
            .build();
        let scan_schema = Arc::clone(table_schema.table_schema());
        let statistics = self.statistics(&files, &scan_schema);

        let store_url = ObjectStoreUrl::local_filesystem();
        let store = state.runtime_env().object_store(&store_url)?;
        let footers = state.runtime_env().cache_manager.get_file_metadata_cache();
        let mut source = ParquetSource::new(table_schema)
            .with_table_parquet_options(state.table_options().parquet.clone())
            .with_parquet_file_reader_factory(Arc::new(CachedParquetFileReaderFactory::new(
                store, footers,
            )));
        let row_filters = filters
            .iter()
            .filter(|filter| !self.is_partition_filter(filter));
        if let Some(filter) = conjunction(row_filters.cloned()) {
            let predicate =
                state.create_physical_expr(filter, &DFSchema::try_from(scan_schema)?)?;
            source = source.with_predicate(predicate);
        }

        let columns: Vec<usize> = match projection {
            Some(projection) => projection
                .iter()
                .map(|&index| self.scan_index[index])
                .collect(),
            None => self.scan_index.clone(),
        };
        let config = FileScanConfigBuilder::new(store_url, Arc::new(source))
            .with_file_groups(file_groups(files, state.config().target_partitions()))
            .with_statistics(statistics)
            .with_limit(limit)
            .with_projection_indices(Some(columns))?
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}
