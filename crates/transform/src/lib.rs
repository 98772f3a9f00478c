//! Transform: the processed tables of eventlake, each defined by one SQL file.
//!
//! `sql/NAME.sql` contains one `SELECT` over `events` and defines the processed table `NAME`:
//!
//! ```sql
//! -- eventlake: partition_by = reading_date
//! SELECT event_id, event_data.sensor_id AS sensor_id, CAST(event_time AS DATE) AS reading_date
//! FROM events
//! WHERE event_type = 'sensor_data'
//! ```
//!
//! At startup each file is planned over the raw table's schema, which fixes the processed
//! table's columns and reports a broken file with its line. On each flush the ingestor appends
//! the raw rows to every processed table. The append first drops the rows whose offsets the
//! table already contains, then runs the `SELECT` on the rest with DataFusion
//! ([`Transform`] implements [`eventlake_lake::DeriveRows`]). Each processed table so records
//! its own Kafka offsets and is exactly once on its own.
//!
//! A `SELECT` may output a text column `reject_reason`: rows where it is not null go to the
//! `rejects` table with that reason (reason code `transform_check`) instead of the processed
//! table. Such a transform also selects `kafka_partition` and `kafka_offset`, which tie each
//! rejected row to its record.

mod aggregate;
mod check;
mod error;
mod spec;
mod transform;

pub use check::{REJECT_REASON, TRANSFORM_CHECK};
pub use error::TransformError;
pub use spec::TransformSpec;
pub use transform::{SOURCE_TABLE, Transform};
