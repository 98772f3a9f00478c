//! Checks inside a transform: a `reject_reason` column of the `SELECT` marks rows that fail,
//! which go to the `rejects` table with that reason instead of the processed table.

use std::collections::HashMap;
use std::sync::Arc;

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    UInt32Array,
};
use deltalake::arrow::compute::{cast, filter_record_batch, is_not_null, is_null, take};
use deltalake::arrow::datatypes::{Field, Int32Type, Int64Type};
use deltalake::arrow::json::LineDelimitedWriter;
use eventlake_events::{column, rejects_table_schema};

/// Output column whose non-null value rejects the row, with that text as the reason.
pub const REJECT_REASON: &str = "reject_reason";

/// `reason_code` of rows rejected by a transform's check.
pub const TRANSFORM_CHECK: &str = "transform_check";

/// Returns the rows of `output` that pass, without the `reject_reason` column.
pub(crate) fn passed_rows(output: &RecordBatch) -> Result<RecordBatch, String> {
    let Ok(index) = output.schema().index_of(REJECT_REASON) else {
        return Ok(output.clone());
    };
    let keep = is_null(output.column(index)).map_err(|error| error.to_string())?;
    let mut passed = filter_record_batch(output, &keep).map_err(|error| error.to_string())?;
    passed.remove_column(index);
    Ok(passed)
}

/// Builds `rejects` rows for the rows of `output` that fail the check, taking the Kafka
/// columns and event type from the raw row with the same partition and offset. The raw value
/// of such a row is the transform's output row as JSON, which shows the values checked.
pub(crate) fn rejected_rows(
    table: &str,
    raw: &RecordBatch,
    output: &RecordBatch,
    rejected_at_micros: i64,
) -> Result<Option<RecordBatch>, String> {
    let Ok(index) = output.schema().index_of(REJECT_REASON) else {
        return Ok(None);
    };
    let failed = is_not_null(output.column(index)).map_err(|error| error.to_string())?;
    let mut failed = filter_record_batch(output, &failed).map_err(|error| error.to_string())?;
    if failed.num_rows() == 0 {
        return Ok(None);
    }
    let reasons = failed.remove_column(index);

    // Each failed row maps back to its raw row through the Kafka partition and offset.
    let raw_rows: HashMap<(i32, i64), u32> = {
        let partitions = int_column::<Int32Type>(raw, column::KAFKA_PARTITION)?;
        let offsets = int_column::<Int64Type>(raw, column::KAFKA_OFFSET)?;
        (0..raw.num_rows())
            .map(|row| ((partitions.value(row), offsets.value(row)), row as u32))
            .collect()
    };
    let partitions = int_column::<Int32Type>(&failed, column::KAFKA_PARTITION)?;
    let offsets = int_column::<Int64Type>(&failed, column::KAFKA_OFFSET)?;
    let mut indices = Vec::with_capacity(failed.num_rows());
    for row in 0..failed.num_rows() {
        let key = (partitions.value(row), offsets.value(row));
        let raw_row = raw_rows.get(&key).ok_or_else(|| {
            format!(
                "rejected row has kafka_partition {} and kafka_offset {}, which no raw row has; select both columns unchanged from events",
                key.0, key.1
            )
        })?;
        indices.push(*raw_row);
    }
    let indices = UInt32Array::from(indices);
    // Raw rows read back from the table may come with view types, such as Utf8View.
    let from_raw = |field: &Field| -> Result<ArrayRef, String> {
        let name = field.name();
        let column = raw
            .column_by_name(name)
            .ok_or_else(|| format!("raw rows lack column '{name}'"))?;
        let selected = take(column, &indices, None).map_err(|error| error.to_string())?;
        if selected.data_type() == field.data_type() {
            Ok(selected)
        } else {
            cast(&selected, field.data_type()).map_err(|error| error.to_string())
        }
    };

    let schema = rejects_table_schema();
    let rows = failed.num_rows();
    let reasons = reasons.as_string::<i32>();
    let reason: StringArray = (0..rows)
        .map(|row| Some(format!("{table}: {}", reasons.value(row))))
        .collect();
    let day = rejected_at_micros.div_euclid(86_400_000_000) as i32;
    let mut columns: Vec<ArrayRef> = Vec::new();
    for field in schema.fields() {
        let array: ArrayRef = match field.name().as_str() {
            column::RAW_VALUE => Arc::new(StringArray::from(json_lines(&failed)?)),
            column::RAW_VALUE_ENCODING => Arc::new(StringArray::from(vec!["utf8"; rows])),
            column::REASON_CODE => Arc::new(StringArray::from(vec![TRANSFORM_CHECK; rows])),
            column::REASON => Arc::new(reason.clone()),
            column::REJECTED_AT => Arc::new(
                TimestampMicrosecondArray::from(vec![rejected_at_micros; rows])
                    .with_timezone("UTC"),
            ),
            column::REJECTED_DATE => Arc::new(Date32Array::from(vec![day; rows])),
            _ => from_raw(field)?,
        };
        columns.push(array);
    }
    RecordBatch::try_new(schema, columns)
        .map(Some)
        .map_err(|error| error.to_string())
}

fn int_column<'a, T: deltalake::arrow::datatypes::ArrowPrimitiveType>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a deltalake::arrow::array::PrimitiveArray<T>, String> {
    batch
        .column_by_name(name)
        .and_then(|column| column.as_primitive_opt::<T>())
        .filter(|column| column.null_count() == 0)
        .ok_or_else(|| {
            format!("a transform with {REJECT_REASON} must select {name} unchanged from events")
        })
}

/// Writes each row as one JSON object.
fn json_lines(batch: &RecordBatch) -> Result<Vec<String>, String> {
    let mut buffer = Vec::new();
    {
        let mut writer = LineDelimitedWriter::new(&mut buffer);
        writer.write(batch).map_err(|error| error.to_string())?;
        writer.finish().map_err(|error| error.to_string())?;
    }
    let text = String::from_utf8(buffer).map_err(|error| error.to_string())?;
    Ok(text.lines().map(str::to_string).collect())
}
