//! Query: a DataFusion session over every Delta table under the lake root.
//!
//! Each table is a directory of the lake root that contains a `_delta_log`, registered under the
//! directory's name through delta-rs's table provider, so partition and file-statistics
//! pruning apply. Tables are loaded again before every statement, so a long-lived session
//! reads each new commit. The session is read-only: statements that write files or register
//! outside locations are rejected.

mod error;
mod session;

pub use deltalake::datafusion::sql::parser::Statement;
pub use error::QueryError;
pub use session::LakeSession;
