//! Backfill: fills a processed table from the raw `events` table, for a transform added after
//! the raw data arrived, or one that fell behind.
//!
//! For each Kafka partition the raw table has, the records after the processed table's last
//! offset and up to the raw table's last offset are read back from `events` in offset order
//! and appended through the transform, in chunks. Each chunk commits its offset range like a
//! flush of the ingestor does, so an interrupted backfill resumes where it stopped, and live
//! ingestion continues after the raw table's offsets without a gap or an overlap.

use std::collections::BTreeMap;
use std::sync::Arc;

use deltalake::arrow::array::{AsArray, RecordBatch};
use deltalake::arrow::compute::concat_batches;
use deltalake::arrow::datatypes::{Int32Type, Int64Type};
use deltalake::datafusion::prelude::{SessionConfig, SessionContext};
use eventlake_events::{
    EventTableLayout, PartitionGranularity, PayloadSchemas, column, rejects_partition_columns,
    rejects_table_schema,
};
use eventlake_lake::{
    AppendOutcome, AppendRequest, LakeError, LakeRoot, LakeTable, OffsetColumns, OffsetRange,
    ReplaceRequest, SourcePartition, TableSpec, WriteSettings,
};
use eventlake_transform::{Transform, TransformSpec};
use futures::TryStreamExt;
use tracing::info;

use crate::error::IngestError;

/// Totals of the backfill of one processed table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillSummary {
    pub table: String,
    /// Raw rows read from `events` and run through the transform.
    pub source_rows: usize,
    /// Rows committed to the processed table.
    pub rows: usize,
    pub commits: usize,
    /// Rows that failed the transform's check, added to rejects.
    pub check_rejects: usize,
}

/// Settings of a backfill run.
#[derive(Debug, Clone)]
pub struct BackfillConfig {
    pub lake: LakeRoot,
    /// Name of the raw table under the lake root.
    pub events_table: String,
    /// Name of the rejects table, which takes the rows that fail a transform's check.
    pub rejects_table: String,
    pub schemas: Arc<PayloadSchemas>,
    pub transforms: Vec<TransformSpec>,
    pub write: WriteSettings,
    /// Raw rows per commit.
    pub chunk_rows: usize,
}

/// Backfills every transform of `config` in turn.
pub async fn backfill(config: &BackfillConfig) -> Result<Vec<BackfillSummary>, IngestError> {
    // The raw table's partition columns tell whether it was written by day or by hour.
    let events_url = config.lake.table_url(&config.events_table)?;
    let events = deltalake::open_table(events_url)
        .await
        .map_err(|source| LakeError::Delta {
            table: config.events_table.clone(),
            source,
        })?;
    let snapshot = events.snapshot().map_err(|source| LakeError::Delta {
        table: config.events_table.clone(),
        source,
    })?;
    let granularity = if snapshot
        .metadata()
        .partition_columns()
        .iter()
        .any(|name| name == column::EVENT_HOUR)
    {
        PartitionGranularity::Hour
    } else {
        PartitionGranularity::Day
    };
    let layout = EventTableLayout::new(&config.schemas, granularity);

    let mut summaries = Vec::new();
    for spec in &config.transforms {
        summaries.push(backfill_one(config, &layout, &events, spec).await?);
    }
    Ok(summaries)
}

async fn backfill_one(
    config: &BackfillConfig,
    layout: &EventTableLayout,
    events: &deltalake::DeltaTable,
    spec: &TransformSpec,
) -> Result<BackfillSummary, IngestError> {
    let transform = Arc::new(Transform::plan(spec.clone(), layout.schema.clone()).await?);
    let table_spec = TableSpec {
        name: spec.name.clone(),
        schema: transform.schema.clone(),
        partition_columns: spec.partition_by.clone(),
        offset_columns: Some(OffsetColumns::default()),
        derive: Some(Arc::clone(&transform) as Arc<dyn eventlake_lake::DeriveRows>),
    };
    let mut processed =
        LakeTable::open_or_create(&config.lake, table_spec, config.write.clone()).await?;

    // Strings stay plain Utf8, as in the batches the ingestor decodes.
    let session_config = SessionConfig::new().set_bool(
        "datafusion.execution.parquet.schema_force_view_types",
        false,
    );
    let context = SessionContext::new_with_config(session_config);
    events
        .update_datafusion_session(&context.state())
        .map_err(|source| LakeError::Delta {
            table: config.events_table.clone(),
            source,
        })?;
    let provider = events
        .table_provider()
        .await
        .map_err(|error| query_error(&config.events_table, &error))?;
    context
        .register_table("events", provider)
        .map_err(|error| query_error(&config.events_table, &error))?;

    // The raw table's offsets, read from the same snapshot the rows come from.
    let sources = source_partitions(&context, &config.events_table).await?;
    let raw_offsets = committed_offsets(events, &config.events_table, &sources).await?;
    let done = processed.committed_offsets(&sources).await?;

    let mut summary = BackfillSummary {
        table: spec.name.clone(),
        ..BackfillSummary::default()
    };
    if let Some(column) = transform.replace_by() {
        backfill_aggregate(
            &mut processed,
            &transform,
            events,
            column,
            &raw_offsets,
            &done,
            &mut summary,
        )
        .await?;
        return Ok(summary);
    }
    fill_ranges(
        &context,
        &config.events_table,
        &sources,
        &raw_offsets,
        &done,
        config.chunk_rows,
        async |source, chunk, first, last| {
            commit_chunk(&mut processed, &mut summary, source, chunk, first, last).await
        },
    )
    .await?;

    // Rows that fail the transform's check go to rejects, in the transform's offset stream.
    if transform.has_check() {
        let rejects_spec = TableSpec {
            name: config.rejects_table.clone(),
            schema: rejects_table_schema(),
            partition_columns: rejects_partition_columns(),
            offset_columns: Some(OffsetColumns::default()),
            derive: None,
        };
        let mut rejects =
            LakeTable::open_or_create(&config.lake, rejects_spec, config.write.clone()).await?;
        let checked = rejects.stream_offsets(Some(&spec.name), &sources).await?;
        let rejected_at = chrono::Utc::now().timestamp_micros();
        fill_ranges(
            &context,
            &config.events_table,
            &sources,
            &raw_offsets,
            &checked,
            config.chunk_rows,
            async |source, chunk, first, last| {
                let batch = concat(chunk, &spec.name)?;
                let rows = match &batch {
                    Some(batch) => {
                        transform
                            .rejects(batch, rejected_at)
                            .await
                            .map_err(|message| LakeError::Derive {
                                table: spec.name.clone(),
                                message,
                            })?
                    }
                    None => None,
                };
                summary.check_rejects += rows.as_ref().map_or(0, RecordBatch::num_rows);
                let request = AppendRequest {
                    batch: rows,
                    offsets: BTreeMap::from([(source.clone(), OffsetRange { first, last })]),
                };
                rejects.append_to_stream(Some(&spec.name), &request).await?;
                Ok(())
            },
        )
        .await?;
    }
    info!(
        table = %summary.table,
        source_rows = summary.source_rows,
        rows = summary.rows,
        commits = summary.commits,
        "backfill done"
    );
    Ok(summary)
}

/// Computes an aggregate from the whole raw snapshot and replaces all of its buckets, with
/// the raw table's offsets, in one commit.
async fn backfill_aggregate(
    processed: &mut LakeTable,
    transform: &Transform,
    events: &deltalake::DeltaTable,
    column: &str,
    raw_offsets: &BTreeMap<SourcePartition, i64>,
    done: &std::collections::HashMap<SourcePartition, i64>,
    summary: &mut BackfillSummary,
) -> Result<(), IngestError> {
    let offsets: BTreeMap<SourcePartition, OffsetRange> = raw_offsets
        .iter()
        .filter_map(|(source, &until)| {
            let after = done.get(source).copied().unwrap_or(-1);
            (until > after).then(|| {
                (
                    source.clone(),
                    OffsetRange {
                        first: after + 1,
                        last: until,
                    },
                )
            })
        })
        .collect();
    if offsets.is_empty() {
        return Ok(());
    }
    let (rows, range) =
        transform
            .compute_all(events)
            .await
            .map_err(|message| LakeError::Derive {
                table: processed.name().to_string(),
                message,
            })?;
    summary.source_rows += events.snapshot().map_or(0, |snapshot| {
        snapshot
            .log_data()
            .iter()
            .filter_map(|file| file.num_records())
            .sum::<usize>()
    });
    let outcome = match range {
        Some(range) => {
            processed
                .replace(&ReplaceRequest {
                    batch: rows,
                    column: column.to_string(),
                    ranges: vec![range],
                    offsets,
                })
                .await?
        }
        None => {
            processed
                .append(&AppendRequest {
                    batch: None,
                    offsets,
                })
                .await?
        }
    };
    if let AppendOutcome::Committed { rows, .. } = outcome {
        summary.rows += rows;
        summary.commits += 1;
    }
    Ok(())
}

/// Reads, for each partition, the raw rows after `done` up to `raw_offsets` in offset order,
/// and hands them to `commit` in chunks of about `chunk_rows` with the offsets each covers.
async fn fill_ranges(
    context: &SessionContext,
    table: &str,
    sources: &[SourcePartition],
    raw_offsets: &BTreeMap<SourcePartition, i64>,
    done: &std::collections::HashMap<SourcePartition, i64>,
    chunk_rows: usize,
    mut commit: impl AsyncFnMut(&SourcePartition, &[RecordBatch], i64, i64) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    for source in sources {
        let Some(&until) = raw_offsets.get(source) else {
            continue;
        };
        let after = done.get(source).copied().unwrap_or(-1);
        if until <= after {
            continue;
        }
        let sql = format!(
            "SELECT * FROM events WHERE {} = '{}' AND {} = {} AND {} > {after} AND {} <= {until} ORDER BY {}",
            column::KAFKA_TOPIC,
            source.topic.replace('\'', "''"),
            column::KAFKA_PARTITION,
            source.partition,
            column::KAFKA_OFFSET,
            column::KAFKA_OFFSET,
            column::KAFKA_OFFSET,
        );
        let mut stream = context
            .sql(&sql)
            .await
            .map_err(|error| query_error(table, &error))?
            .execute_stream()
            .await
            .map_err(|error| query_error(table, &error))?;

        let mut chunk: Vec<RecordBatch> = Vec::new();
        let mut rows = 0;
        let mut first = after + 1;
        while let Some(batch) = stream
            .try_next()
            .await
            .map_err(|error| query_error(table, &error))?
        {
            // Batches are cut so that no chunk exceeds `chunk_rows`.
            let mut rest = batch;
            while rest.num_rows() > 0 {
                let fitting = (chunk_rows - rows).min(rest.num_rows());
                chunk.push(rest.slice(0, fitting));
                rest = rest.slice(fitting, rest.num_rows() - fitting);
                rows += fitting;
                if rows >= chunk_rows {
                    let last = last_offset(&chunk).unwrap_or(first);
                    commit(source, &chunk, first, last).await?;
                    first = last + 1;
                    chunk.clear();
                    rows = 0;
                }
            }
        }
        // The last chunk reaches the raw table's offset, which may be a record that went to
        // rejects and so has no raw row.
        if rows > 0 || first <= until {
            commit(source, &chunk, first, until).await?;
        }
    }
    Ok(())
}

/// Concatenates a chunk into one batch, or `None` when it has no rows.
fn concat(chunk: &[RecordBatch], table: &str) -> Result<Option<RecordBatch>, IngestError> {
    match chunk.first() {
        Some(head) => Ok(Some(concat_batches(&head.schema(), chunk).map_err(
            |source| LakeError::Arrow {
                table: table.to_string(),
                source,
            },
        )?)),
        None => Ok(None),
    }
}

/// Appends raw rows of one partition, covering offsets `first` to `last`.
async fn commit_chunk(
    processed: &mut LakeTable,
    summary: &mut BackfillSummary,
    source: &SourcePartition,
    chunk: &[RecordBatch],
    first: i64,
    last: i64,
) -> Result<(), IngestError> {
    let batch = concat(chunk, processed.name())?;
    let source_rows = batch.as_ref().map_or(0, RecordBatch::num_rows);
    let request = AppendRequest {
        batch,
        offsets: BTreeMap::from([(source.clone(), OffsetRange { first, last })]),
    };
    if let AppendOutcome::Committed { rows, .. } = processed.append(&request).await? {
        summary.rows += rows;
        summary.commits += 1;
    }
    summary.source_rows += source_rows;
    Ok(())
}

/// Returns the topic-partitions that have rows in the raw table.
async fn source_partitions(
    context: &SessionContext,
    table: &str,
) -> Result<Vec<SourcePartition>, IngestError> {
    let sql = format!(
        "SELECT DISTINCT {}, {} FROM events ORDER BY 1, 2",
        column::KAFKA_TOPIC,
        column::KAFKA_PARTITION
    );
    let batches = context
        .sql(&sql)
        .await
        .map_err(|error| query_error(table, &error))?
        .collect()
        .await
        .map_err(|error| query_error(table, &error))?;
    let mut sources = Vec::new();
    for batch in &batches {
        let topics = deltalake::arrow::compute::cast(
            batch.column(0),
            &deltalake::arrow::datatypes::DataType::Utf8,
        )
        .map_err(|source| LakeError::Arrow {
            table: table.to_string(),
            source,
        })?;
        let topics = topics.as_string::<i32>();
        let partitions = batch.column(1).as_primitive::<Int32Type>();
        for row in 0..batch.num_rows() {
            sources.push(SourcePartition::new(
                topics.value(row),
                partitions.value(row),
            ));
        }
    }
    Ok(sources)
}

/// Reads the raw table's committed offsets from the loaded snapshot.
async fn committed_offsets(
    events: &deltalake::DeltaTable,
    table: &str,
    sources: &[SourcePartition],
) -> Result<BTreeMap<SourcePartition, i64>, IngestError> {
    let snapshot = events.snapshot().map_err(|source| LakeError::Delta {
        table: table.to_string(),
        source,
    })?;
    let log_store = events.log_store();
    let mut offsets = BTreeMap::new();
    for source in sources {
        let version = snapshot
            .transaction_version(log_store.as_ref(), eventlake_lake::app_id(source))
            .await
            .map_err(|error| LakeError::Delta {
                table: table.to_string(),
                source: error,
            })?;
        if let Some(offset) = version {
            offsets.insert(source.clone(), offset);
        }
    }
    Ok(offsets)
}

fn last_offset(chunk: &[RecordBatch]) -> Option<i64> {
    let batch = chunk.iter().rev().find(|batch| batch.num_rows() > 0)?;
    let offsets = batch
        .column_by_name(column::KAFKA_OFFSET)?
        .as_primitive_opt::<Int64Type>()?;
    Some(offsets.value(offsets.len() - 1))
}

fn query_error(table: &str, error: &deltalake::datafusion::error::DataFusionError) -> IngestError {
    IngestError::Backfill(format!("reading table '{table}' failed: {error}"))
}
