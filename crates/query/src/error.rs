//! Errors of the query crate.

use deltalake::DeltaTableError;
use deltalake::datafusion::error::DataFusionError;

/// A failure to open the lake or to run a statement.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(
        "lake directory {path} cannot be read: {source}; pass an existing directory with --lake"
    )]
    LakeNotFound {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("table '{table}' cannot be loaded: {source}")]
    Table {
        table: String,
        #[source]
        source: DeltaTableError,
    },

    #[error(
        "{0}: the session is read-only, so statements that write files, change tables or register outside locations are rejected"
    )]
    ReadOnly(String),

    /// A statement that failed to parse, plan or run; DataFusion's message names the position.
    #[error("{0}")]
    Sql(#[from] DataFusionError),
}
