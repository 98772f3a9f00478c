//! Aggregate transforms (`replace_by = COLUMN`): a `GROUP BY` over a time bucket stays equal to
//! the same query over the whole raw table, however late or scattered a bucket's events come.
//!
//! For each flush, the buckets that the flush's raw rows fall into are computed again from the
//! raw table and replace the old rows of those buckets in one commit. Only the raw partitions
//! of the flush's event dates are read, so the rows of one bucket must share an event date,
//! which holds for buckets of a day or shorter.

use std::collections::BTreeSet;

use deltalake::DeltaTable;
use deltalake::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use deltalake::arrow::compute::filter_record_batch;
use deltalake::arrow::datatypes::Date32Type;
use deltalake::datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::datafusion::scalar::ScalarValue;
use eventlake_events::column;
use eventlake_query::sql_message;

use crate::check::passed_rows;
use crate::transform::Transform;

/// Name of the whole raw table inside a recompute; `events` is a view of some of its dates.
const WHOLE_RAW_TABLE: &str = "raw_events";

impl Transform {
    /// Returns the bucket column of an aggregate transform.
    pub fn replace_by(&self) -> Option<&str> {
        self.spec.replace_by.as_deref()
    }

    /// Returns, for each event date of `source`, the range of buckets its rows fall into, as
    /// (lowest, highest). Buckets of different dates do not overlap.
    pub async fn bucket_ranges(
        &self,
        source: &RecordBatch,
    ) -> Result<Vec<(ScalarValue, ScalarValue)>, String> {
        let Some(bucket) = self.replace_by() else {
            return Ok(Vec::new());
        };
        let dates = source
            .column_by_name(column::EVENT_DATE)
            .and_then(|column| column.as_primitive_opt::<Date32Type>())
            .ok_or("raw rows lack event_date")?;
        let days: BTreeSet<i32> = dates.iter().flatten().collect();

        let mut ranges = Vec::new();
        for day in days {
            let of_day: BooleanArray = dates.iter().map(|date| Some(date == Some(day))).collect();
            let rows = filter_record_batch(source, &of_day).map_err(|error| error.to_string())?;
            let output = passed_rows(&self.output(rows).await?)?;
            let column = output
                .column_by_name(bucket)
                .ok_or_else(|| format!("the output has no column {bucket}"))?;
            let low = min_value(column)?;
            let high = max_value(column)?;
            if let (Some(low), Some(high)) = (low, high) {
                ranges.push((low, high));
            }
        }
        Ok(ranges)
    }

    /// Computes the rows of the buckets in `ranges` from the raw table `raw`, reading only the
    /// event dates of `source`.
    pub async fn recompute(
        &self,
        raw: &DeltaTable,
        source: &RecordBatch,
        ranges: &[(ScalarValue, ScalarValue)],
    ) -> Result<RecordBatch, String> {
        let bucket = self.replace_by().ok_or("not an aggregate transform")?;
        let failed = |message: String| format!("{}: {message}", self.spec.path.display());
        let dates = event_dates(source)?;
        let output = self.compute_over(raw, Some(&dates)).await?;

        // Keep the recomputed buckets only: other buckets of the same dates are unchanged.
        let column = output
            .column_by_name(bucket)
            .ok_or_else(|| failed(format!("the output has no column {bucket}")))?;
        let keep: BooleanArray = (0..output.num_rows())
            .map(|row| {
                let value = ScalarValue::try_from_array(column, row).ok()?;
                Some(
                    ranges
                        .iter()
                        .any(|(low, high)| &value >= low && &value <= high),
                )
            })
            .collect();
        filter_record_batch(&output, &keep).map_err(|error| failed(error.to_string()))
    }

    /// Computes every bucket from the whole raw table `raw`, and returns the rows with the
    /// range of buckets they cover, or `None` for the range when there is no row.
    pub async fn compute_all(
        &self,
        raw: &DeltaTable,
    ) -> Result<(RecordBatch, Option<(ScalarValue, ScalarValue)>), String> {
        let bucket = self.replace_by().ok_or("not an aggregate transform")?;
        let output = self.compute_over(raw, None).await?;
        let column = output
            .column_by_name(bucket)
            .ok_or_else(|| format!("the output has no column {bucket}"))?;
        let range = match (min_value(column)?, max_value(column)?) {
            (Some(low), Some(high)) => Some((low, high)),
            _ => None,
        };
        Ok((output, range))
    }

    /// Runs the `SELECT` over the raw table `raw`, or over its rows of `dates` only.
    async fn compute_over(
        &self,
        raw: &DeltaTable,
        dates: Option<&[String]>,
    ) -> Result<RecordBatch, String> {
        let failed = |message: String| format!("{}: {message}", self.spec.path.display());

        // Strings stay plain Utf8, as in the batches the ingestor decodes.
        let config = SessionConfig::new().set_bool(
            "datafusion.execution.parquet.schema_force_view_types",
            false,
        );
        let context = SessionContext::new_with_config(config);
        raw.update_datafusion_session(&context.state())
            .map_err(|error| failed(error.to_string()))?;
        let provider = raw
            .table_provider()
            .await
            .map_err(|error| failed(error.to_string()))?;
        context
            .register_table(WHOLE_RAW_TABLE, provider)
            .map_err(|error| failed(error.to_string()))?;
        let filter = match dates {
            Some(dates) => format!(
                " WHERE {} IN ({})",
                column::EVENT_DATE,
                dates
                    .iter()
                    .map(|date| format!("DATE '{date}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => String::new(),
        };
        let view = format!(
            "CREATE VIEW {} AS SELECT * FROM {WHOLE_RAW_TABLE}{filter}",
            crate::transform::SOURCE_TABLE,
        );
        context
            .sql(&view)
            .await
            .map_err(|error| failed(sql_message(&error)))?;

        let frame = context
            .sql(&self.spec.sql)
            .await
            .map_err(|error| failed(sql_message(&error)))?;
        let batches = frame
            .collect()
            .await
            .map_err(|error| failed(sql_message(&error)))?;
        passed_rows(&self.conform(&batches)?)
    }
}

/// Returns the lowest non-null value of `column`.
fn min_value(column: &dyn Array) -> Result<Option<ScalarValue>, String> {
    extreme(column, std::cmp::Ordering::Less)
}

/// Returns the highest non-null value of `column`.
fn max_value(column: &dyn Array) -> Result<Option<ScalarValue>, String> {
    extreme(column, std::cmp::Ordering::Greater)
}

/// Returns the value of `column` that compares as `direction` against every other.
fn extreme(
    column: &dyn Array,
    direction: std::cmp::Ordering,
) -> Result<Option<ScalarValue>, String> {
    let mut best: Option<ScalarValue> = None;
    for row in 0..column.len() {
        if column.is_null(row) {
            continue;
        }
        let value = ScalarValue::try_from_array(column, row).map_err(|error| error.to_string())?;
        if best
            .as_ref()
            .is_none_or(|current| value.partial_cmp(current) == Some(direction))
        {
            best = Some(value);
        }
    }
    Ok(best)
}

/// Returns the distinct event dates of raw rows, as `YYYY-MM-DD`.
fn event_dates(source: &RecordBatch) -> Result<Vec<String>, String> {
    let dates = source
        .column_by_name(column::EVENT_DATE)
        .and_then(|column| column.as_primitive_opt::<Date32Type>())
        .ok_or("raw rows lack event_date")?;
    let mut days = BTreeSet::new();
    for value in dates.iter().flatten() {
        days.insert(value);
    }
    // A Date32 scalar prints as YYYY-MM-DD.
    Ok(days
        .into_iter()
        .map(|day| ScalarValue::Date32(Some(day)).to_string())
        .collect())
}
