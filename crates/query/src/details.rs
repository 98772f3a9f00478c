//! Table details for the shell: layout, size and commit history.

use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use deltalake::arrow::datatypes::{DataType, Field, SchemaRef};
use deltalake::kernel::Version;
use serde_json::Value;

use crate::error::QueryError;
use crate::reference::TableReference;
use crate::session::LakeSession;

/// A table's current version and size.
#[derive(Debug, Clone)]
pub struct TableDetails {
    pub name: String,
    pub version: Version,
    pub schema: SchemaRef,
    pub partition_columns: Vec<String>,
    /// Live data files of the current version.
    pub files: usize,
    /// Bytes of the live data files.
    pub bytes: u64,
    pub last_commit: Option<DateTime<Utc>>,
}

/// One column of a table, with nested struct fields flattened to `parent.child`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDetails {
    pub name: String,
    pub data_type: String,
    pub nullable: bool,
    pub partition: bool,
}

/// One commit of a table.
#[derive(Debug, Clone)]
pub struct CommitSummary {
    pub version: Version,
    pub timestamp: Option<DateTime<Utc>>,
    pub operation: String,
    /// Rows in the files the commit added, when their statistics record it.
    pub rows_added: Option<u64>,
    pub files_added: u64,
    pub files_removed: u64,
}

impl TableDetails {
    /// Columns in table order; the fields of struct columns follow their parent.
    pub fn columns(&self) -> Vec<ColumnDetails> {
        let mut columns = Vec::new();
        for field in self.schema.fields() {
            let partition = self.partition_columns.contains(field.name());
            flatten(field, String::new(), partition, &mut columns);
        }
        columns
    }
}

fn flatten(field: &Field, prefix: String, partition: bool, columns: &mut Vec<ColumnDetails>) {
    let name = format!("{prefix}{}", field.name());
    let data_type = sql_type(field.data_type());
    columns.push(ColumnDetails {
        name: name.clone(),
        data_type,
        nullable: field.is_nullable(),
        partition,
    });
    if let DataType::Struct(children) = field.data_type() {
        for child in children {
            flatten(child, format!("{name}."), false, columns);
        }
    }
}

/// Returns the SQL name of a column type, as users write it in CAST.
fn sql_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Boolean => "BOOLEAN".to_string(),
        DataType::Int8 => "TINYINT".to_string(),
        DataType::Int16 => "SMALLINT".to_string(),
        DataType::Int32 => "INT".to_string(),
        DataType::Int64 => "BIGINT".to_string(),
        DataType::Float32 => "REAL".to_string(),
        DataType::Float64 => "DOUBLE".to_string(),
        DataType::Decimal128(precision, scale) => format!("DECIMAL({precision}, {scale})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".to_string(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BYTEA".to_string(),
        DataType::Date32 | DataType::Date64 => "DATE".to_string(),
        DataType::Timestamp(_, Some(zone)) => format!("TIMESTAMP ({zone})"),
        DataType::Timestamp(_, None) => "TIMESTAMP".to_string(),
        DataType::Dictionary(_, values) => sql_type(values),
        DataType::List(item) | DataType::LargeList(item) | DataType::ListView(item) => {
            format!("{}[]", sql_type(item.data_type()))
        }
        DataType::Struct(_) => "STRUCT".to_string(),
        other => other.to_string(),
    }
}

impl LakeSession {
    /// Describes the latest version of a table.
    pub async fn describe(&self, name: &str) -> Result<TableDetails, QueryError> {
        let reference = TableReference::parse(name)?;
        let table = self.schema().load(&reference).await?;
        let table_error = |source| QueryError::Table {
            table: reference.table.clone(),
            source,
        };
        let snapshot = table.snapshot().map_err(table_error)?;
        let files = snapshot.log_data();
        let bytes = files
            .iter()
            .map(|file| u64::try_from(file.size()).unwrap_or(0))
            .sum();
        let version = snapshot.version();
        let last_commit = commits(&table, &reference.table, 1)
            .await?
            .first()
            .and_then(|commit| commit.timestamp);
        Ok(TableDetails {
            name: reference.table.clone(),
            version,
            schema: table.table_provider().await?.schema(),
            partition_columns: snapshot.metadata().partition_columns().to_vec(),
            files: files.num_files(),
            bytes,
            last_commit,
        })
    }

    /// Returns up to `limit` commits of a table, newest first. Commits whose log entry was
    /// already cleaned up are not listed.
    pub async fn history(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Vec<CommitSummary>, QueryError> {
        let reference = TableReference::parse(name)?;
        let table = self.schema().load(&reference).await?;
        commits(&table, &reference.table, limit).await
    }
}

/// Reads up to `limit` commits of a loaded table, newest first, stopping at the first one
/// whose log entry was cleaned up.
async fn commits(
    table: &DeltaTable,
    name: &str,
    limit: usize,
) -> Result<Vec<CommitSummary>, QueryError> {
    let table_error = |source| QueryError::Table {
        table: name.to_string(),
        source,
    };
    let log_store = table.log_store();
    let mut commits = Vec::new();
    let mut next = Some(table.version().unwrap_or(0));
    while let Some(version) = next.filter(|_| commits.len() < limit) {
        let Some(entry) = log_store
            .read_commit_entry(version)
            .await
            .map_err(table_error)?
        else {
            break;
        };
        commits.push(summarize(version, &entry));
        next = version.checked_sub(1);
    }
    Ok(commits)
}

/// Reads one commit file: newline-delimited JSON actions.
pub(crate) fn summarize(version: Version, entry: &[u8]) -> CommitSummary {
    let mut summary = CommitSummary {
        version,
        timestamp: None,
        operation: String::new(),
        rows_added: Some(0),
        files_added: 0,
        files_removed: 0,
    };
    let actions = entry
        .split(|byte| *byte == b'\n')
        .filter_map(|line| serde_json::from_slice::<Value>(line).ok());
    for action in actions {
        if let Some(info) = action.get("commitInfo") {
            summary.timestamp = info
                .get("timestamp")
                .and_then(Value::as_i64)
                .and_then(DateTime::from_timestamp_millis);
            summary.operation = info
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
        } else if let Some(add) = action.get("add") {
            summary.files_added += 1;
            // `stats` is itself a JSON document, stored as a string.
            let rows = add
                .get("stats")
                .and_then(Value::as_str)
                .and_then(|stats| serde_json::from_str::<Value>(stats).ok())
                .and_then(|stats| stats.get("numRecords").and_then(Value::as_u64));
            summary.rows_added = summary.rows_added.zip(rows).map(|(sum, rows)| sum + rows);
        } else if action.get("remove").is_some() {
            summary.files_removed += 1;
        }
    }
    summary
}
