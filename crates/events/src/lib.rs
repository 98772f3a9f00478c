//! Events: the envelope of a Kafka event, the payload schemas declared in `schemas/`, and
//! decoding of JSON messages into Arrow record batches for the raw and rejects tables.
//!
//! This crate does no I/O beyond reading schema files. A message goes through three steps:
//!
//! ```text
//! Kafka value ──▶ envelope (event_id, event_type, event_time, event_data)
//!                   │ invalid JSON, not an object, missing field, bad time ──▶ reject
//!                   ▼
//!               group by event_type ──▶ payload checked and decoded per type
//!                                         │ wrong type, missing required field ──▶ reject
//!                                         ▼
//!                                   raw table rows        rejects table rows
//! ```
//!
//! Every message ends up in exactly one of the two outputs, so nothing is dropped.

mod batch;
mod builder;
mod columns;
mod decode;
mod envelope;
mod payload;
mod reject;
pub mod schema;
mod source;
mod time;

pub use batch::{DecodedBatch, EventBatchBuilder};
pub use columns::{
    EventTableLayout, PartitionGranularity, raw_table_schema, rejects_partition_columns,
    rejects_table_schema,
};
pub use envelope::{DecodeOptions, UnknownTypePolicy};
pub use reject::{RejectKind, RejectReason};
pub use schema::{PayloadSchemas, SchemaError};
pub use source::{Header, SourceRecord};
pub use time::EpochUnit;

/// Names of the columns shared by the raw and rejects tables. The exactly-once logic in the
/// lake crate reads the Kafka coordinates of each row from these columns.
pub mod column {
    pub const EVENT_ID: &str = "event_id";
    pub const EVENT_TYPE: &str = "event_type";
    pub const EVENT_TIME: &str = "event_time";
    pub const EVENT_DATE: &str = "event_date";
    pub const EVENT_HOUR: &str = "event_hour";
    pub const EVENT_DATA: &str = "event_data";
    pub const EVENT_DATA_JSON: &str = "event_data_json";
    pub const KAFKA_TOPIC: &str = "kafka_topic";
    pub const KAFKA_PARTITION: &str = "kafka_partition";
    pub const KAFKA_OFFSET: &str = "kafka_offset";
    pub const KAFKA_TIMESTAMP: &str = "kafka_timestamp";
    pub const KAFKA_KEY: &str = "kafka_key";
    pub const KAFKA_HEADERS: &str = "kafka_headers";
    pub const INGESTED_AT: &str = "ingested_at";
    pub const RAW_VALUE: &str = "raw_value";
    pub const RAW_VALUE_ENCODING: &str = "raw_value_encoding";
    pub const REASON_CODE: &str = "reason_code";
    pub const REASON: &str = "reason";
    pub const REJECTED_AT: &str = "rejected_at";
    pub const REJECTED_DATE: &str = "rejected_date";
}
