//! Kafka offsets recorded in Delta `txn` actions, and the row filter they imply.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use deltalake::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use deltalake::arrow::datatypes::{Int32Type, Int64Type};

use crate::error::LakeError;

/// A Kafka topic-partition whose records feed a table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourcePartition {
    pub topic: Arc<str>,
    pub partition: i32,
}

impl SourcePartition {
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for SourcePartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.topic, self.partition)
    }
}

/// Returns the `appId` of the `txn` action that records offsets of a topic-partition. Kafka
/// topic names cannot contain ':', so the id is unambiguous.
pub fn app_id(source: &SourcePartition) -> String {
    format!("eventlake:{}:{}", source.topic, source.partition)
}

/// Returns the `appId` of a second offset stream of a table, such as the rows that a
/// transform's check adds to `rejects`: `eventlake:STREAM/...`. Kafka topic names cannot
/// contain '/', so the id differs from every [`app_id`].
pub fn stream_app_id(stream: Option<&str>, source: &SourcePartition) -> String {
    match stream {
        Some(stream) => format!("eventlake:{stream}/{}:{}", source.topic, source.partition),
        None => app_id(source),
    }
}

/// Returns the partitions of `offsets` whose last offset is past the `committed` one, which a
/// commit of `offsets` moves forward; the others are already done.
pub(crate) fn advancing<'a>(
    offsets: &'a std::collections::BTreeMap<SourcePartition, OffsetRange>,
    committed: &HashMap<SourcePartition, i64>,
) -> Vec<(&'a SourcePartition, &'a OffsetRange)> {
    offsets
        .iter()
        .filter(|(source, range)| {
            committed
                .get(*source)
                .is_none_or(|offset| range.last > *offset)
        })
        .collect()
}

/// The first and last Kafka offsets, inclusive, that an append covers for one partition.
/// `last` is what the `txn` action records, even if the record at `last` produced no row in
/// this table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetRange {
    pub first: i64,
    pub last: i64,
}

/// Columns that hold each row's Kafka coordinates, used to drop rows that another commit
/// already contains.
#[derive(Debug, Clone)]
pub struct OffsetColumns {
    pub topic: String,
    pub partition: String,
    pub offset: String,
}

impl Default for OffsetColumns {
    fn default() -> Self {
        Self {
            topic: "kafka_topic".to_string(),
            partition: "kafka_partition".to_string(),
            offset: "kafka_offset".to_string(),
        }
    }
}

/// Builds the mask of rows whose offset is above what `committed` records for their
/// partition. Rows of partitions absent from `committed` are kept.
pub(crate) fn uncommitted_rows(
    table: &str,
    batch: &RecordBatch,
    columns: &OffsetColumns,
    committed: &HashMap<SourcePartition, i64>,
) -> Result<BooleanArray, LakeError> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| LakeError::MissingOffsetColumn {
                table: table.to_string(),
                column: name.to_string(),
            })
    };
    let topics = column(&columns.topic)?.as_string::<i32>().clone();
    let partitions = column(&columns.partition)?
        .as_primitive::<Int32Type>()
        .clone();
    let offsets = column(&columns.offset)?.as_primitive::<Int64Type>().clone();

    // Look-ups by (topic, partition) without allocating a key per row.
    let mut by_partition: HashMap<(&str, i32), i64> = HashMap::with_capacity(committed.len());
    for (source, offset) in committed {
        by_partition.insert((source.topic.as_ref(), source.partition), *offset);
    }

    let keep: BooleanArray = (0..batch.num_rows())
        .map(|row| {
            if topics.is_null(row) {
                return Some(true);
            }
            let key = (topics.value(row), partitions.value(row));
            let keep = match by_partition.get(&key) {
                Some(committed_offset) => offsets.value(row) > *committed_offset,
                None => true,
            };
            Some(keep)
        })
        .collect();
    Ok(keep)
}
