//! Exactly-once appends and partition values on real Delta tables on disk.

use std::collections::BTreeMap;
use std::sync::Arc;

use deltalake::arrow::array::{
    ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, StructArray,
    TimestampMicrosecondArray,
};
use deltalake::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use eventlake_lake::{
    AppendOutcome, AppendRequest, LakeError, LakeRoot, LakeTable, OffsetColumns, OffsetRange,
    SourcePartition, TableSpec, WriteSettings,
};

use eventlake_query::{Access, LakeSession};

use crate::support::{SPECIAL_VALUES, batches_as_text, sql_count, sql_rows};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("team", DataType::Utf8, true),
        Field::new("value", DataType::Int64, false),
        Field::new("kafka_topic", DataType::Utf8, false),
        Field::new("kafka_partition", DataType::Int32, false),
        Field::new("kafka_offset", DataType::Int64, false),
    ]))
}

fn spec(name: &str) -> TableSpec {
    TableSpec {
        name: name.to_string(),
        schema: schema(),
        partition_columns: vec!["team".to_string()],
        offset_columns: Some(OffsetColumns::default()),
        derive: None,
    }
}

/// Rows for offsets `first..=last` of partition 0, with the given team of each row.
fn rows(first: i64, last: i64, team: impl Fn(i64) -> Option<&'static str>) -> AppendRequest {
    let offsets: Vec<i64> = (first..=last).collect();
    let batch = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(
                offsets
                    .iter()
                    .map(|offset| team(*offset))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                offsets.iter().map(|offset| offset * 10).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(vec!["topic"; offsets.len()])),
            Arc::new(Int32Array::from(vec![0; offsets.len()])),
            Arc::new(Int64Array::from(offsets.clone())),
        ],
    )
    .expect("batch");
    let mut ranges = BTreeMap::new();
    ranges.insert(
        SourcePartition::new("topic", 0),
        OffsetRange { first, last },
    );
    AppendRequest {
        batch: Some(batch),
        offsets: ranges,
    }
}

async fn open(lake: &std::path::Path, name: &str) -> LakeTable {
    let root = LakeRoot::parse(lake.to_str().expect("utf-8")).expect("root");
    LakeTable::open_or_create(&root, spec(name), WriteSettings::default())
        .await
        .expect("table opens")
}

#[tokio::test]
async fn replayed_append_is_noop() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut table = open(dir.path(), "events").await;
    let request = rows(0, 9, |_| Some("ops"));

    let first = table.append(&request).await.expect("first append");
    assert!(
        matches!(first, AppendOutcome::Committed { rows: 10, .. }),
        "{first:?}"
    );
    let replay = table.append(&request).await.expect("replay");
    assert_eq!(replay, AppendOutcome::AlreadyCommitted);
    assert_eq!(
        sql_count(dir.path(), "SELECT count(*) FROM events").await,
        10
    );
}

#[tokio::test]
async fn stale_writer_drops_committed_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut owner = open(dir.path(), "events").await;
    let mut stale = open(dir.path(), "events").await;

    owner
        .append(&rows(0, 9, |_| Some("ops")))
        .await
        .expect("owner commits 0-9");
    // The stale writer read offsets before the owner's commit; its commit must not repeat 5-9.
    let outcome = stale
        .append(&rows(5, 14, |_| Some("ops")))
        .await
        .expect("stale commit");
    assert!(
        matches!(
            outcome,
            AppendOutcome::Committed {
                rows: 5,
                skipped_rows: 5,
                ..
            }
        ),
        "{outcome:?}"
    );

    assert_eq!(
        sql_count(dir.path(), "SELECT count(*) FROM events").await,
        15
    );
    assert_eq!(
        sql_count(
            dir.path(),
            "SELECT count(DISTINCT kafka_offset) FROM events"
        )
        .await,
        15
    );
    let offsets = stale
        .committed_offsets(&[SourcePartition::new("topic", 0)])
        .await
        .expect("offsets");
    assert_eq!(offsets.get(&SourcePartition::new("topic", 0)), Some(&14));
}

#[tokio::test]
async fn offset_zero_is_recorded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut table = open(dir.path(), "events").await;
    let partition = SourcePartition::new("topic", 0);
    assert!(
        table
            .committed_offsets(std::slice::from_ref(&partition))
            .await
            .expect("offsets")
            .is_empty()
    );

    table
        .append(&rows(0, 0, |_| Some("ops")))
        .await
        .expect("append offset 0");
    table.refresh().await.expect("refresh");
    let offsets = table
        .committed_offsets(std::slice::from_ref(&partition))
        .await
        .expect("offsets");
    assert_eq!(offsets.get(&partition), Some(&0));
    assert_eq!(
        table
            .append(&rows(0, 0, |_| Some("ops")))
            .await
            .expect("replay"),
        AppendOutcome::AlreadyCommitted
    );
}

#[tokio::test]
async fn partition_values_round_trip() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut table = open(dir.path(), "events").await;
    let teams = SPECIAL_VALUES;
    table
        .append(&rows(0, teams.len() as i64 - 1, |offset| {
            teams[offset as usize]
        }))
        .await
        .expect("append");

    let stored = sql_rows(dir.path(), "SELECT team FROM events ORDER BY kafka_offset").await;
    let expected: Vec<Vec<Option<String>>> = teams
        .iter()
        .map(|team| vec![team.map(str::to_string)])
        .collect();
    assert_eq!(stored, expected);
    assert_eq!(
        sql_count(dir.path(), "SELECT count(*) FROM events WHERE team IS NULL").await,
        1
    );
    assert_eq!(
        sql_count(dir.path(), "SELECT count(*) FROM events WHERE team = 'R&D'").await,
        1
    );
    assert_eq!(
        sql_count(dir.path(), "SELECT count(*) FROM events WHERE team = 'a b'").await,
        1
    );

    let entries: Vec<String> = std::fs::read_dir(dir.path().join("events"))
        .expect("table dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .to_string()
        })
        .collect();
    assert!(
        entries.contains(&"team=__HIVE_DEFAULT_PARTITION__".to_string()),
        "{entries:?}"
    );

    let log = std::fs::read_to_string(
        dir.path()
            .join("events/_delta_log/00000000000000000001.json"),
    )
    .expect("commit 1");
    assert!(
        log.contains(r#""partitionValues":{"team":null}"#),
        "null partition value in add action:\n{log}"
    );
    assert!(log.contains(r#""partitionValues":{"team":"R&D"}"#), "{log}");
    assert!(log.contains(r#""partitionValues":{"team":"a b"}"#), "{log}");
}

#[tokio::test]
async fn checkpoint_every_ten_commits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut table = open(dir.path(), "events").await;
    for batch in 0..10 {
        table
            .append(&rows(batch * 2, batch * 2 + 1, |_| Some("ops")))
            .await
            .expect("append");
    }
    let checkpoint = dir
        .path()
        .join("events/_delta_log/00000000000000000010.checkpoint.parquet");
    assert!(checkpoint.exists(), "checkpoint at version 10");
    assert_eq!(
        sql_count(dir.path(), "SELECT count(*) FROM events").await,
        20
    );
}

#[tokio::test]
async fn protocol_is_lowest_versions() {
    let dir = tempfile::tempdir().expect("temp dir");
    open(dir.path(), "events").await;
    let log = std::fs::read_to_string(
        dir.path()
            .join("events/_delta_log/00000000000000000000.json"),
    )
    .expect("commit 0");
    assert!(log.contains(r#""minReaderVersion":1"#), "{log}");
    assert!(log.contains(r#""minWriterVersion":2"#), "{log}");
}

#[tokio::test]
async fn changed_schema_is_rejected() {
    let dir = tempfile::tempdir().expect("temp dir");
    open(dir.path(), "events").await;

    let root = LakeRoot::parse(dir.path().to_str().expect("utf-8")).expect("root");
    let mut other = spec("events");
    other.schema = Arc::new(Schema::new(vec![
        Field::new("team", DataType::Utf8, true),
        Field::new("value", DataType::Utf8, false),
    ]));
    let error = LakeTable::open_or_create(&root, other, WriteSettings::default())
        .await
        .expect_err("schema differs");
    assert!(matches!(error, LakeError::SchemaMismatch { .. }), "{error}");
    assert!(error.to_string().contains("value"), "{error}");
}

#[tokio::test]
async fn added_nullable_column_evolves_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut table = open(dir.path(), "events").await;
    table
        .append(&rows(0, 1, |_| Some("ops")))
        .await
        .expect("append");

    let root = LakeRoot::parse(dir.path().to_str().expect("utf-8")).expect("root");
    let mut wider = spec("events");
    let mut fields: Vec<Field> = schema()
        .fields()
        .iter()
        .map(|field| field.as_ref().clone())
        .collect();
    fields.push(Field::new("note", DataType::Utf8, true));
    wider.schema = Arc::new(Schema::new(fields));
    LakeTable::open_or_create(&root, wider, WriteSettings::default())
        .await
        .expect("schema evolves");

    assert_eq!(
        sql_count(dir.path(), "SELECT count(*) FROM events WHERE note IS NULL").await,
        2
    );

    // The narrower spec no longer matches: dropping a column is not an evolution.
    let error = LakeTable::open_or_create(&root, spec("events"), WriteSettings::default())
        .await
        .expect_err("column dropped");
    assert!(error.to_string().contains("note"), "{error}");
}

/// Returns a table spec whose struct column `info` has the field `a`, and `b` when `with_b` is set.
fn struct_spec(with_b: bool) -> TableSpec {
    let mut info = vec![Field::new("a", DataType::Int64, true)];
    if with_b {
        info.push(Field::new("b", DataType::Utf8, true));
    }
    let mut table = spec("facts");
    table.schema = Arc::new(Schema::new(vec![
        Field::new("team", DataType::Utf8, true),
        Field::new("info", DataType::Struct(Fields::from(info)), true),
        Field::new("kafka_topic", DataType::Utf8, false),
        Field::new("kafka_partition", DataType::Int32, false),
        Field::new("kafka_offset", DataType::Int64, false),
    ]));
    table
}

/// Rows for offsets `first..=last` of partition 0 in the layout of `struct_spec(with_b)`.
fn struct_rows(first: i64, last: i64, with_b: bool) -> AppendRequest {
    let offsets: Vec<i64> = (first..=last).collect();
    let mut fields = vec![Field::new("a", DataType::Int64, true)];
    let mut children: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(
        offsets.iter().map(|offset| offset * 10).collect::<Vec<_>>(),
    ))];
    if with_b {
        fields.push(Field::new("b", DataType::Utf8, true));
        children.push(Arc::new(StringArray::from(
            offsets
                .iter()
                .map(|offset| format!("x{offset}"))
                .collect::<Vec<_>>(),
        )));
    }
    let info = StructArray::try_new(Fields::from(fields), children, None).expect("struct");

    rows_with_second_column(first, last, struct_spec(with_b).schema, Arc::new(info))
}

/// Returns `rows(first, last, ..)` for team `ops` with its second column replaced by `column`,
/// in the layout of `schema`.
fn rows_with_second_column(
    first: i64,
    last: i64,
    schema: SchemaRef,
    column: ArrayRef,
) -> AppendRequest {
    let mut request = rows(first, last, |_| Some("ops"));
    let batch = request.batch.take().expect("rows");
    let mut columns = batch.columns().to_vec();
    columns[1] = column;
    request.batch = Some(RecordBatch::try_new(schema, columns).expect("batch"));
    request
}

#[tokio::test]
async fn added_struct_field_is_null_in_old_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = LakeRoot::parse(dir.path().to_str().expect("utf-8")).expect("root");
    let mut narrow = LakeTable::open_or_create(&root, struct_spec(false), WriteSettings::default())
        .await
        .expect("table opens");
    narrow
        .append(&struct_rows(0, 1, false))
        .await
        .expect("append narrow rows");
    let mut wide = LakeTable::open_or_create(&root, struct_spec(true), WriteSettings::default())
        .await
        .expect("struct field added");
    wide.append(&struct_rows(2, 3, true))
        .await
        .expect("append wide rows");

    // The query reads single struct fields, which the scan reads straight from the files.
    let session = LakeSession::open(dir.path(), Access::ReadOnly).expect("session");
    let rows = batches_as_text(
        &session
            .query("SELECT kafka_offset, info.a, info.b FROM facts WHERE team = 'ops' ORDER BY kafka_offset")
            .await
            .expect("query runs"),
    );
    let text = |value: &str| Some(value.to_string());
    assert_eq!(
        rows,
        vec![
            vec![text("0"), text("0"), None],
            vec![text("1"), text("10"), None],
            vec![text("2"), text("20"), text("x2")],
            vec![text("3"), text("30"), text("x3")],
        ]
    );
    let missing = session
        .query("SELECT count(*) FROM facts WHERE info.b IS NULL")
        .await
        .expect("query runs");
    assert_eq!(batches_as_text(&missing), vec![vec![text("2")]]);
}

#[tokio::test]
async fn sub_millisecond_time_is_found_past_log_bounds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = LakeRoot::parse(dir.path().to_str().expect("utf-8")).expect("root");
    let mut table = spec("times");
    table.schema = Arc::new(Schema::new(vec![
        Field::new("team", DataType::Utf8, true),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("kafka_topic", DataType::Utf8, false),
        Field::new("kafka_partition", DataType::Int32, false),
        Field::new("kafka_offset", DataType::Int64, false),
    ]));
    // 2024-12-04T08:13:20Z and 999 microseconds after it: the log keeps milliseconds, so the
    // file's recorded maximum is below the second value.
    let times = TimestampMicrosecondArray::from(vec![1_733_300_000_000_000, 1_733_300_000_000_999])
        .with_timezone("UTC");
    let request = rows_with_second_column(0, 1, Arc::clone(&table.schema), Arc::new(times));
    let mut writer = LakeTable::open_or_create(&root, table, WriteSettings::default())
        .await
        .expect("table opens");
    writer.append(&request).await.expect("append");

    let session = LakeSession::open(dir.path(), Access::ReadOnly).expect("session");
    let found = session
        .query("SELECT kafka_offset FROM times WHERE at = TIMESTAMP '2024-12-04T08:13:20.000999Z'")
        .await
        .expect("query runs");
    assert_eq!(batches_as_text(&found), vec![vec![Some("1".to_string())]]);
    let by_offset = session
        .query("SELECT count(*) FROM times WHERE kafka_offset = 1")
        .await
        .expect("query runs");
    assert_eq!(
        batches_as_text(&by_offset),
        vec![vec![Some("1".to_string())]]
    );
}
