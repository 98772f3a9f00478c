//! Planning a transform against the raw table's schema, and running it on each flushed batch.

use std::sync::Arc;

use async_trait::async_trait;
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::compute::{cast, concat_batches};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::prelude::SessionContext;
use eventlake_lake::DeriveRows;
use eventlake_query::sql_message;

use crate::check::{REJECT_REASON, passed_rows, rejected_rows};
use crate::error::TransformError;
use crate::spec::TransformSpec;

/// Table name under which a transform reads the raw rows of a flush.
pub const SOURCE_TABLE: &str = "events";

/// A transform planned against the raw table: its output schema is known, and it runs on
/// each flushed batch of raw rows.
#[derive(Debug)]
pub struct Transform {
    pub spec: TransformSpec,
    /// Schema of the processed table: the output of the `SELECT` over the raw schema, less a
    /// `reject_reason` column.
    pub schema: SchemaRef,
    /// Schema of the `SELECT`'s output, `reject_reason` included.
    output_schema: SchemaRef,
}

impl Transform {
    /// Parses and plans the transform over an empty raw table of `source_schema`, so that a
    /// transform that cannot run stops the ingestor at startup with the file and line.
    pub async fn plan(
        spec: TransformSpec,
        source_schema: SchemaRef,
    ) -> Result<Self, TransformError> {
        let empty = RecordBatch::new_empty(Arc::clone(&source_schema));
        let output_schema = run(&spec.sql, empty)
            .await
            .map(|batch| plain_schema(&batch.schema()))
            .map_err(|error| planning_error(&spec, &error))?;
        check_reject_columns(&spec, &output_schema)?;
        let mut fields = output_schema.fields().to_vec();
        fields.retain(|field| field.name() != REJECT_REASON);
        let schema = Arc::new(Schema::new(fields));

        if let Some(bucket) = &spec.replace_by
            && schema.field_with_name(bucket).is_err()
        {
            return Err(TransformError::Invalid {
                path: spec.path.clone(),
                line: option_line(&spec.sql, "replace_by"),
                message: format!(
                    "replace_by column '{bucket}' is not a column of the SELECT; its columns are {}",
                    column_names(&schema)
                ),
            });
        }
        for column in &spec.partition_by {
            if schema.field_with_name(column).is_err() {
                let line = option_line(&spec.sql, "partition_by");
                return Err(TransformError::Invalid {
                    path: spec.path.clone(),
                    line,
                    message: format!(
                        "partition column '{column}' is not a column of the SELECT; its columns are {}",
                        column_names(&schema)
                    ),
                });
            }
        }
        Ok(Self {
            spec,
            schema,
            output_schema,
        })
    }

    /// Returns whether the `SELECT` has a `reject_reason` column.
    pub fn has_check(&self) -> bool {
        self.output_schema.index_of(REJECT_REASON).is_ok()
    }

    /// Returns the `rejects` rows for the raw rows of `source` that fail this transform's
    /// check, or `None` when none fails or the transform has no check.
    pub async fn rejects(
        &self,
        source: &RecordBatch,
        rejected_at_micros: i64,
    ) -> Result<Option<RecordBatch>, String> {
        if self.output_schema.index_of(REJECT_REASON).is_err() || source.num_rows() == 0 {
            return Ok(None);
        }
        let output = self.output(source.clone()).await?;
        rejected_rows(&self.spec.name, source, &output, rejected_at_micros)
            .map_err(|message| format!("{}: {message}", self.spec.path.display()))
    }

    /// Runs the `SELECT` on `source` and checks the result against the planned columns.
    pub(crate) async fn output(&self, source: RecordBatch) -> Result<RecordBatch, String> {
        let output = run(&self.spec.sql, source)
            .await
            .map_err(|error| format!("{}: {}", self.spec.path.display(), sql_message(&error)))?;
        self.conform(&[output])
    }

    /// Concatenates output batches into one with the planned columns. View types become the
    /// plain types the table has, and a batch whose output columns differ from the planned
    /// ones cannot go into the table.
    pub(crate) fn conform(&self, batches: &[RecordBatch]) -> Result<RecordBatch, String> {
        let failed = |error: String| format!("{}: {error}", self.spec.path.display());
        let Some(first) = batches.first() else {
            return Ok(RecordBatch::new_empty(Arc::clone(&self.output_schema)));
        };
        let output =
            concat_batches(&first.schema(), batches).map_err(|error| failed(error.to_string()))?;
        let columns = output
            .columns()
            .iter()
            .zip(self.output_schema.fields())
            .map(|(column, field)| {
                if column.data_type() == field.data_type() {
                    Ok(Arc::clone(column))
                } else {
                    cast(column, field.data_type())
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| failed(error.to_string()))?;
        RecordBatch::try_new(Arc::clone(&self.output_schema), columns).map_err(|error| {
            failed(format!(
                "the output no longer matches the table's columns ({}): {error}",
                column_names(&self.output_schema)
            ))
        })
    }
}

/// Checks that a `reject_reason` column is text, and that the rows it rejects can be traced to
/// their Kafka record.
fn check_reject_columns(spec: &TransformSpec, output: &SchemaRef) -> Result<(), TransformError> {
    let Ok(reason) = output.field_with_name(REJECT_REASON) else {
        return Ok(());
    };
    let invalid = |message: String| TransformError::Invalid {
        path: spec.path.clone(),
        line: statement_line(&spec.sql),
        message,
    };
    if reason.data_type() != &DataType::Utf8 {
        return Err(invalid(format!(
            "{REJECT_REASON} must be text, but is {}; cast it to VARCHAR",
            reason.data_type()
        )));
    }
    for required in ["kafka_partition", "kafka_offset"] {
        if output.field_with_name(required).is_err() {
            return Err(invalid(format!(
                "a transform with {REJECT_REASON} must also select {required}, so that a rejected row names its Kafka record"
            )));
        }
    }
    Ok(())
}

#[async_trait]
impl DeriveRows for Transform {
    async fn derive(&self, source: RecordBatch) -> Result<RecordBatch, String> {
        let output = self.output(source).await?;
        passed_rows(&output)
    }
}

/// Runs `sql` over `source` registered as the `events` table, and returns the result as one
/// batch.
async fn run(sql: &str, source: RecordBatch) -> Result<RecordBatch, DataFusionError> {
    let context = SessionContext::new();
    let schema = source.schema();
    let table = MemTable::try_new(Arc::clone(&schema), vec![vec![source]])?;
    context.register_table(SOURCE_TABLE, Arc::new(table))?;
    let frame = context.sql(sql).await?;
    let output_schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await?;
    Ok(concat_batches(&output_schema, &batches)?)
}

/// Builds the startup error of a transform, at the line DataFusion points to, or else at the
/// first line of the statement.
fn planning_error(spec: &TransformSpec, error: &DataFusionError) -> TransformError {
    let line = error
        .diagnostic()
        .and_then(|diagnostic| diagnostic.span)
        .map(|span| span.start.line as usize)
        .or_else(|| parser_line(&error.to_string()))
        .or_else(|| unknown_field_line(&spec.sql, &error.to_string()))
        .or_else(|| {
            // The parser gives no position when the file ends too early.
            error
                .to_string()
                .contains("found: EOF")
                .then(|| last_line(&spec.sql))
        })
        .unwrap_or_else(|| statement_line(&spec.sql));
    // The shell's hint to list the lake's tables does not apply: a transform reads one table.
    let message = match error.find_root() {
        DataFusionError::Plan(text)
            if text.starts_with("table '") && text.ends_with("' not found") =>
        {
            format!(
                "{text}; a transform reads only the table '{SOURCE_TABLE}', the raw rows of each flush"
            )
        }
        _ => sql_message(error),
    };
    TransformError::Invalid {
        path: spec.path.clone(),
        line,
        message: message.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// Finds the line of a column or struct field that DataFusion reports missing, since that
/// error carries no position: the first line outside comments that contains the name.
fn unknown_field_line(sql: &str, message: &str) -> Option<usize> {
    // DataFusion words a missing column "No field named x." and a missing struct field
    // "Field x not found in struct".
    let name = if let Some(start) = message.find("No field named ") {
        let rest = &message[start + "No field named ".len()..];
        rest.split(|c: char| c.is_whitespace())
            .next()?
            .trim_end_matches('.')
    } else {
        let start = message.find("Field ")? + "Field ".len();
        let rest = &message[start..];
        let end = rest.find(" not found in struct")?;
        &rest[..end]
    };
    let name = name.rsplit('.').next()?.trim_matches('"');
    sql.lines()
        .position(|line| {
            let code = line.split("--").next().unwrap_or_default();
            code.contains(name)
        })
        .map(|index| index + 1)
}

/// Reads the line of sqlparser's "at Line: 3, Column: 7".
fn parser_line(message: &str) -> Option<usize> {
    let rest = &message[message.find("Line: ")? + "Line: ".len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Returns the first line that is neither blank nor a comment.
fn statement_line(sql: &str) -> usize {
    sql.lines()
        .position(|line| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with("--")
        })
        .map_or(1, |index| index + 1)
}

/// Returns the last line that is not blank.
fn last_line(sql: &str) -> usize {
    sql.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .last()
        .map_or(1, |(index, _)| index + 1)
}

/// Returns the line of an option.
fn option_line(sql: &str, option: &str) -> usize {
    sql.lines()
        .position(|line| line.contains(option))
        .map_or(1, |index| index + 1)
}

/// Returns `schema` with DataFusion's view and large types replaced by the plain types that
/// Delta readers know: `Utf8View` and `LargeUtf8` by `Utf8`, and so on, at every depth.
fn plain_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| plain_field(field))
        .collect();
    Arc::new(Schema::new(fields))
}

fn plain_field(field: &Field) -> Field {
    field.clone().with_data_type(plain_type(field.data_type()))
}

fn plain_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::List(item) | DataType::LargeList(item) | DataType::ListView(item) => {
            DataType::List(Arc::new(plain_field(item)))
        }
        DataType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|field| Arc::new(plain_field(field)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn column_names(schema: &SchemaRef) -> String {
    schema
        .fields()
        .iter()
        .map(|field| field.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
