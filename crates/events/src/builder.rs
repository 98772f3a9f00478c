//! Growable Arrow columns for payload decoding that can take back the rows of a payload.
//!
//! A payload is decoded straight into these columns while it is checked. When a check fails
//! halfway through, some columns already contain values of the failed payload. `truncate`
//! removes them, so the columns contain only whole accepted payloads. arrow-rs builders cannot
//! shrink, which is why these exist.

use std::sync::Arc;

use deltalake::arrow::array::{
    ArrayRef, BooleanArray, BooleanBufferBuilder, Date32Array, Float64Array, Int64Array, ListArray,
    StringArray, StructArray, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray, TimestampSecondArray,
};
use deltalake::arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use deltalake::arrow::datatypes::{DataType, FieldRef, Fields, TimeUnit};
use deltalake::arrow::error::ArrowError;

/// One column of a payload field, with a validity bit per row.
#[derive(Debug)]
pub(crate) struct ColumnBuilder {
    validity: BooleanBufferBuilder,
    pub(crate) values: Values,
}

/// The values of a column, by Arrow type. A null row gets a default value.
#[derive(Debug)]
pub(crate) enum Values {
    Int64(Vec<i64>),
    Float64(Vec<f64>),
    Boolean(BooleanBufferBuilder),
    /// UTF-8 bytes of all rows, and `len + 1` offsets into them.
    Utf8 {
        offsets: Vec<i32>,
        bytes: Vec<u8>,
    },
    /// Days since 1970-01-01.
    Date32(Vec<i32>),
    /// Time since the epoch in `unit`.
    Timestamp {
        unit: TimeUnit,
        timezone: Option<Arc<str>>,
        values: Vec<i64>,
    },
    /// One child per field, each as long as the struct column.
    Struct {
        fields: Fields,
        children: Vec<ColumnBuilder>,
    },
    /// `len + 1` offsets into the item column.
    List {
        item: FieldRef,
        offsets: Vec<i32>,
        items: Box<ColumnBuilder>,
    },
}

impl ColumnBuilder {
    /// Creates an empty column of `data_type`, with room for `capacity` rows at the top level.
    pub(crate) fn new(data_type: &DataType, capacity: usize) -> Result<Self, ArrowError> {
        let values = match data_type {
            DataType::Int64 => Values::Int64(Vec::with_capacity(capacity)),
            DataType::Float64 => Values::Float64(Vec::with_capacity(capacity)),
            DataType::Boolean => Values::Boolean(BooleanBufferBuilder::new(capacity)),
            DataType::Utf8 => {
                let mut offsets = Vec::with_capacity(capacity + 1);
                offsets.push(0);
                Values::Utf8 {
                    offsets,
                    bytes: Vec::new(),
                }
            }
            DataType::Date32 => Values::Date32(Vec::with_capacity(capacity)),
            DataType::Timestamp(unit, timezone) => Values::Timestamp {
                unit: *unit,
                timezone: timezone.clone(),
                values: Vec::with_capacity(capacity),
            },
            DataType::Struct(fields) => Values::Struct {
                fields: fields.clone(),
                children: fields
                    .iter()
                    .map(|field| ColumnBuilder::new(field.data_type(), capacity))
                    .collect::<Result<_, _>>()?,
            },
            DataType::List(item) => {
                let mut offsets = Vec::with_capacity(capacity + 1);
                offsets.push(0);
                Values::List {
                    item: item.clone(),
                    offsets,
                    items: Box::new(ColumnBuilder::new(item.data_type(), capacity)?),
                }
            }
            other => {
                return Err(ArrowError::NotYetImplemented(format!(
                    "payload fields of type {other} cannot be decoded; this is a bug in the schema conversion"
                )));
            }
        };
        Ok(Self {
            validity: BooleanBufferBuilder::new(capacity),
            values,
        })
    }

    /// Returns the number of rows.
    pub(crate) fn len(&self) -> usize {
        self.validity.len()
    }

    /// Marks the end of a non-null row whose value was pushed to `values`.
    pub(crate) fn append_valid(&mut self) {
        self.validity.append(true);
    }

    /// Appends a null row.
    pub(crate) fn append_null(&mut self) {
        self.validity.append(false);
        match &mut self.values {
            Values::Int64(values) => values.push(0),
            Values::Float64(values) => values.push(0.0),
            Values::Boolean(values) => values.append(false),
            Values::Utf8 { offsets, bytes } => offsets.push(offset(bytes.len())),
            Values::Date32(values) => values.push(0),
            Values::Timestamp { values, .. } => values.push(0),
            Values::Struct { children, .. } => children.iter_mut().for_each(Self::append_null),
            Values::List { offsets, items, .. } => offsets.push(offset(items.len())),
        }
    }

    /// Turns the row at `index` into a null, keeping its child values.
    pub(crate) fn set_null(&mut self, index: usize) {
        self.validity.set_bit(index, false);
    }

    /// Keeps the first `len` rows and drops the rest, with their children.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.validity.truncate(len);
        match &mut self.values {
            Values::Int64(values) => values.truncate(len),
            Values::Float64(values) => values.truncate(len),
            Values::Boolean(values) => values.truncate(len),
            Values::Utf8 { offsets, bytes } => {
                offsets.truncate(len + 1);
                bytes.truncate(offsets[len] as usize);
            }
            Values::Date32(values) => values.truncate(len),
            Values::Timestamp { values, .. } => values.truncate(len),
            Values::Struct { children, .. } => {
                children.iter_mut().for_each(|child| child.truncate(len))
            }
            Values::List { offsets, items, .. } => {
                offsets.truncate(len + 1);
                items.truncate(offsets[len] as usize);
            }
        }
    }

    /// Builds the Arrow array.
    pub(crate) fn finish(mut self) -> Result<ArrayRef, ArrowError> {
        let validity = NullBuffer::new(self.validity.finish());
        let nulls = (validity.null_count() > 0).then_some(validity);
        let array: ArrayRef = match self.values {
            Values::Int64(values) => Arc::new(Int64Array::try_new(values.into(), nulls)?),
            Values::Float64(values) => Arc::new(Float64Array::try_new(values.into(), nulls)?),
            Values::Boolean(mut values) => Arc::new(BooleanArray::new(values.finish(), nulls)),
            Values::Utf8 { offsets, bytes } => Arc::new(StringArray::try_new(
                offsets_buffer(offsets)?,
                bytes.into(),
                nulls,
            )?),
            Values::Date32(values) => Arc::new(Date32Array::try_new(values.into(), nulls)?),
            Values::Timestamp {
                unit,
                timezone,
                values,
            } => timestamps(unit, timezone, values.into(), nulls)?,
            Values::Struct { fields, children } => {
                let children = children
                    .into_iter()
                    .map(ColumnBuilder::finish)
                    .collect::<Result<Vec<_>, _>>()?;
                Arc::new(StructArray::try_new(fields, children, nulls)?)
            }
            Values::List {
                item,
                offsets,
                items,
            } => Arc::new(ListArray::try_new(
                item,
                offsets_buffer(offsets)?,
                items.finish()?,
                nulls,
            )?),
        };
        Ok(array)
    }
}

/// Converts a length into an offset. Arrow's `Utf8` and `List` offsets are 32-bit, so a batch
/// past 2 GiB of strings saturates here and `offsets_buffer` rejects it.
fn offset(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

fn offsets_buffer(offsets: Vec<i32>) -> Result<OffsetBuffer<i32>, ArrowError> {
    if offsets.last() == Some(&i32::MAX) {
        return Err(ArrowError::InvalidArgumentError(
            "the payloads of one batch hold more than 2 GiB of strings or list items; lower --flush-bytes".to_string(),
        ));
    }
    Ok(OffsetBuffer::new(ScalarBuffer::from(offsets)))
}

fn timestamps(
    unit: TimeUnit,
    timezone: Option<Arc<str>>,
    values: ScalarBuffer<i64>,
    nulls: Option<NullBuffer>,
) -> Result<ArrayRef, ArrowError> {
    Ok(match unit {
        TimeUnit::Second => {
            Arc::new(TimestampSecondArray::try_new(values, nulls)?.with_timezone_opt(timezone))
        }
        TimeUnit::Millisecond => {
            Arc::new(TimestampMillisecondArray::try_new(values, nulls)?.with_timezone_opt(timezone))
        }
        TimeUnit::Microsecond => {
            Arc::new(TimestampMicrosecondArray::try_new(values, nulls)?.with_timezone_opt(timezone))
        }
        TimeUnit::Nanosecond => {
            Arc::new(TimestampNanosecondArray::try_new(values, nulls)?.with_timezone_opt(timezone))
        }
    })
}
