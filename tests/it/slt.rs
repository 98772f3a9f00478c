//! SQL behaviour in sqllogictest files (`tests/slt/*.slt`), run over a lake written by the
//! ingest path from a Kafka-protocol broker.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use deltalake::arrow::array::{Array, RecordBatch};
use deltalake::arrow::datatypes::DataType;
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use eventlake_query::{Access, LakeSession, QueryError};
use sqllogictest::{DBOutput, DefaultColumnType};

use crate::fixture::fixture_lake;

/// A session under test, in the form the sqllogictest runner drives.
struct LakeDb {
    session: LakeSession,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SltError(String);

#[async_trait]
impl sqllogictest::AsyncDB for LakeDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let error = |error: QueryError| SltError(error.to_string());
        let mut batches = Vec::new();
        for statement in self.session.parse(sql).map_err(error)? {
            batches = self.session.execute(statement).await.map_err(error)?;
        }
        let Some(schema) = batches.first().map(RecordBatch::schema) else {
            return Ok(DBOutput::StatementComplete(0));
        };
        let types = schema
            .fields()
            .iter()
            .map(|field| column_type(field.data_type()))
            .collect();
        Ok(DBOutput::Rows {
            types,
            rows: text_rows(&batches)?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "eventlake"
    }
}

fn column_type(data_type: &DataType) -> DefaultColumnType {
    if data_type.is_integer() {
        DefaultColumnType::Integer
    } else if data_type.is_floating() || matches!(data_type, DataType::Decimal128(..)) {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

/// Formats every value as text: NULL for null, and `(empty)` for an empty string so that a
/// row keeps its width.
fn text_rows(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, SltError> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref() as &dyn Array, &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| SltError(error.to_string()))?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|formatter| match formatter.value(row).to_string() {
                        text if text.is_empty() => "(empty)".to_string(),
                        text => text,
                    })
                    .collect(),
            );
        }
    }
    Ok(rows)
}

fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt exists")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "slt"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictest_files_pass() {
    let files = slt_files();
    assert!(files.len() >= 4, "expected the .slt files, found {files:?}");
    for file in files {
        let lake = fixture_lake().to_path_buf();
        let mut runner = sqllogictest::Runner::new(move || {
            let lake = lake.clone();
            async move {
                let session = LakeSession::open(&lake, Access::ReadOnly)
                    .map_err(|error| SltError(error.to_string()))?;
                Ok(LakeDb { session })
            }
        });
        if let Err(error) = runner.run_file_async(&file).await {
            panic!("{}: {}", file.display(), error.display(true));
        }
    }
}

/// Travel by time resolves against the commit times that `\history` shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_travel_by_commit_time() {
    let session = LakeSession::open(fixture_lake(), Access::ReadOnly).expect("session opens");
    let history = session.history("events", 10).await.expect("history");
    let committed: Vec<_> = history
        .iter()
        .map(|commit| (commit.version, commit.timestamp.expect("commit time")))
        .collect();
    assert_eq!(committed.iter().map(|c| c.0).collect::<Vec<_>>(), [2, 1, 0]);

    let count_at = |instant: chrono::DateTime<chrono::Utc>| {
        let session = &session;
        async move {
            let sql = format!(
                "SELECT count(*) FROM \"events@{}\"",
                instant.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            );
            let batches = session
                .query(&sql)
                .await
                .map_err(|error| error.to_string())?;
            let count = deltalake::arrow::compute::cast(batches[0].column(0), &DataType::Int64)
                .expect("integer");
            Ok::<i64, String>(
                count
                    .as_any()
                    .downcast_ref::<deltalake::arrow::array::Int64Array>()
                    .expect("int64")
                    .value(0),
            )
        }
    };
    let one_ms = chrono::Duration::milliseconds(1);
    let (_, second_append) = committed[0];
    let (_, first_append) = committed[1];
    let (_, created) = committed[2];
    assert_eq!(count_at(second_append).await, Ok(22));
    assert_eq!(count_at(second_append - one_ms).await, Ok(17));
    assert_eq!(count_at(first_append).await, Ok(17));
    assert_eq!(count_at(first_append - one_ms).await, Ok(0));
    assert_eq!(count_at(created).await, Ok(0));
    let before = count_at(created - one_ms)
        .await
        .expect_err("no version existed then");
    assert!(before.contains("before the earliest commit"), "{before}");
}
