//! Column layout of the raw `events` table and the `rejects` table.

use std::str::FromStr;
use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use crate::column;
use crate::schema::PayloadSchemas;

/// Time granularity of the raw table's partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartitionGranularity {
    /// `event_type=…/event_date=YYYY-MM-DD`
    #[default]
    Day,
    /// `event_type=…/event_date=YYYY-MM-DD/event_hour=H`
    Hour,
}

impl FromStr for PartitionGranularity {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "day" => Ok(PartitionGranularity::Day),
            "hour" => Ok(PartitionGranularity::Hour),
            other => Err(format!(
                "invalid partition granularity '{other}': expected day or hour"
            )),
        }
    }
}

/// Schema and partition columns of the raw table for a set of payload schemas.
#[derive(Debug, Clone)]
pub struct EventTableLayout {
    pub schema: SchemaRef,
    pub partition_columns: Vec<String>,
    pub granularity: PartitionGranularity,
}

impl EventTableLayout {
    pub fn new(schemas: &PayloadSchemas, granularity: PartitionGranularity) -> Self {
        let mut partition_columns = vec![
            column::EVENT_TYPE.to_string(),
            column::EVENT_DATE.to_string(),
        ];
        if granularity == PartitionGranularity::Hour {
            partition_columns.push(column::EVENT_HOUR.to_string());
        }
        Self {
            schema: raw_table_schema(schemas, granularity),
            partition_columns,
            granularity,
        }
    }
}

pub(crate) fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Type of `kafka_headers`: an ordered list of key and value pairs.
pub(crate) fn headers_type() -> DataType {
    DataType::List(Arc::new(Field::new(
        "element",
        DataType::Struct(header_fields()),
        true,
    )))
}

pub(crate) fn header_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Binary, true),
    ])
}

fn kafka_fields() -> Vec<Field> {
    vec![
        Field::new(column::KAFKA_TOPIC, DataType::Utf8, false),
        Field::new(column::KAFKA_PARTITION, DataType::Int32, false),
        Field::new(column::KAFKA_OFFSET, DataType::Int64, false),
        Field::new(column::KAFKA_TIMESTAMP, timestamp_type(), true),
        Field::new(column::KAFKA_KEY, DataType::Binary, true),
        Field::new(column::KAFKA_HEADERS, headers_type(), true),
    ]
}

/// Returns the schema of the raw `events` table.
pub fn raw_table_schema(schemas: &PayloadSchemas, granularity: PartitionGranularity) -> SchemaRef {
    let mut fields = vec![
        Field::new(column::EVENT_ID, DataType::Int64, false),
        Field::new(column::EVENT_TYPE, DataType::Utf8, false),
        Field::new(column::EVENT_TIME, timestamp_type(), false),
        Field::new(column::EVENT_DATE, DataType::Date32, false),
    ];
    if granularity == PartitionGranularity::Hour {
        fields.push(Field::new(column::EVENT_HOUR, DataType::Int32, false));
    }
    fields.push(Field::new(
        column::EVENT_DATA,
        schemas.event_data_type(),
        true,
    ));
    fields.push(Field::new(column::EVENT_DATA_JSON, DataType::Utf8, true));
    fields.extend(kafka_fields());
    fields.push(Field::new(column::INGESTED_AT, timestamp_type(), false));
    Arc::new(Schema::new(fields))
}

/// Returns the schema of the `rejects` table, partitioned by `rejected_date`.
pub fn rejects_table_schema() -> SchemaRef {
    let mut fields = kafka_fields();
    fields.extend([
        Field::new(column::RAW_VALUE, DataType::Utf8, true),
        Field::new(column::RAW_VALUE_ENCODING, DataType::Utf8, true),
        Field::new(column::REASON_CODE, DataType::Utf8, false),
        Field::new(column::REASON, DataType::Utf8, false),
        Field::new(column::EVENT_TYPE, DataType::Utf8, true),
        Field::new(column::REJECTED_AT, timestamp_type(), false),
        Field::new(column::REJECTED_DATE, DataType::Date32, false),
    ]);
    Arc::new(Schema::new(fields))
}

/// Partition columns of the `rejects` table.
pub fn rejects_partition_columns() -> Vec<String> {
    vec![column::REJECTED_DATE.to_string()]
}
