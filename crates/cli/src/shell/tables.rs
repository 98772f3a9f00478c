//! Results of the table commands (`\d`, `\d TABLE`, `\history`) as record batches, so they
//! print in every output format.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use deltalake::arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray, UInt64Array};
use deltalake::arrow::error::ArrowError;
use eventlake_query::{CommitSummary, TableDetails};

/// Builds one row per table.
pub fn table_list(tables: &[TableDetails]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_from_iter([
        strings("table", tables.iter().map(|t| Some(t.name.clone()))),
        numbers("version", tables.iter().map(|t| Some(t.version))),
        numbers("files", tables.iter().map(|t| Some(t.files as u64))),
        strings("size", tables.iter().map(|t| Some(human_bytes(t.bytes)))),
        strings(
            "last_commit",
            tables.iter().map(|t| t.last_commit.map(utc_text)),
        ),
        strings(
            "partitioned_by",
            tables.iter().map(|t| Some(t.partition_columns.join(", "))),
        ),
    ])
}

/// Formats the summary lines printed above a table's columns.
pub fn describe_header(table: &TableDetails) -> String {
    let last_commit = table
        .last_commit
        .map_or_else(|| "unknown".to_string(), utc_text);
    format!(
        "Table {}: version {}, {} files, {}, last commit {last_commit}\nPartitioned by: {}",
        table.name,
        table.version,
        table.files,
        human_bytes(table.bytes),
        if table.partition_columns.is_empty() {
            "nothing".to_string()
        } else {
            table.partition_columns.join(", ")
        },
    )
}

/// Builds one row per column, with struct fields flattened.
pub fn column_list(table: &TableDetails) -> Result<RecordBatch, ArrowError> {
    let columns = table.columns();
    RecordBatch::try_from_iter([
        strings("column", columns.iter().map(|c| Some(c.name.clone()))),
        strings("type", columns.iter().map(|c| Some(c.data_type.clone()))),
        (
            "nullable".to_string(),
            Arc::new(BooleanArray::from_iter(
                columns.iter().map(|c| Some(c.nullable)),
            )) as ArrayRef,
        ),
        (
            "partition".to_string(),
            Arc::new(BooleanArray::from_iter(
                columns.iter().map(|c| Some(c.partition)),
            )) as ArrayRef,
        ),
    ])
}

/// Builds one row per commit, newest first.
pub fn commit_list(commits: &[CommitSummary]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_from_iter([
        numbers("version", commits.iter().map(|c| Some(c.version))),
        strings(
            "committed_at",
            commits.iter().map(|c| c.timestamp.map(utc_text)),
        ),
        strings(
            "operation",
            commits.iter().map(|c| Some(c.operation.clone())),
        ),
        numbers("rows_added", commits.iter().map(|c| c.rows_added)),
        numbers("files_added", commits.iter().map(|c| Some(c.files_added))),
        numbers(
            "files_removed",
            commits.iter().map(|c| Some(c.files_removed)),
        ),
    ])
}

/// Formats a commit time to the millisecond, in UTC with a `Z`.
fn utc_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn strings(name: &str, values: impl Iterator<Item = Option<String>>) -> (String, ArrayRef) {
    (name.to_string(), Arc::new(StringArray::from_iter(values)))
}

fn numbers(name: &str, values: impl Iterator<Item = Option<u64>>) -> (String, ArrayRef) {
    (name.to_string(), Arc::new(UInt64Array::from_iter(values)))
}

/// Sizes in binary units with one decimal: `12.3 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
