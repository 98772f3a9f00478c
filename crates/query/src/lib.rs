//! Query: a DataFusion session over every Delta table under the lake root.
//!
//! Each table is a directory of the lake root that contains a `_delta_log`. Its live files, as
//! the Delta log lists them, are read by DataFusion's own Parquet scan (see `scan`), so
//! partition pruning, row-group pruning and reads of single struct fields apply. Tables that
//! need a Delta reader feature such as deletion vectors are read through delta-rs's provider. A statement loads
//! each table it names when it is planned, so a long-lived session reads every new commit.
//! `"events@v12"` reads version 12 of `events` and `"events@2024-12-05T10:00:00Z"` the version
//! current at that UTC time. The session is read-only unless opened with [`Access::ReadWrite`].

mod catalog;
mod details;
mod error;
mod reference;
mod scan;
mod session;

pub use deltalake::datafusion::execution::SendableRecordBatchStream;
pub use deltalake::datafusion::sql::parser::Statement;
pub use details::{ColumnDetails, CommitSummary, TableDetails};
pub use error::{QueryError, sql_message};
pub use reference::{TablePoint, TableReference};
pub use session::{Access, LakeSession};
