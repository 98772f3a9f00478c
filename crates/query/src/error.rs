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
        "table '{table}' does not exist under the lake root; \\d lists the tables, and SHOW TABLES does too"
    )]
    UnknownTable { table: String },

    #[error(
        "'{reference}' has an unknown point in time; write \"table@v12\" for version 12 or \"table@2024-12-05T10:00:00Z\" for a UTC time, in double quotes"
    )]
    TablePoint { reference: String },

    #[error(
        "'{reference}' cannot be read: {source}; \\history {table} lists the table's versions and their times"
    )]
    TimeTravel {
        reference: String,
        table: String,
        #[source]
        source: DeltaTableError,
    },

    #[error(
        "'{reference}' does not exist: table '{table}' has versions {earliest} to {latest}{retention}; \\history {table} lists them with their times"
    )]
    NoSuchVersion {
        reference: String,
        table: String,
        earliest: u64,
        latest: u64,
        /// Reason that older versions are gone, or empty when none is.
        retention: String,
    },

    #[error(
        "'{reference}' is before the earliest commit of table '{table}' in its log, at {committed}; \\history {table} lists the table's versions and their times"
    )]
    BeforeFirstCommit {
        reference: String,
        table: String,
        committed: String,
    },

    #[error(
        "'{table}' is a Delta table of the lake, and the shell never deletes lake tables, only the tables and views a session creates"
    )]
    LakeTableDrop { table: String },

    #[error("{0}, and the session is read-only; pass --allow-writes to run it")]
    ReadOnly(String),

    /// A catalog failure raised while DataFusion planned a statement.
    #[error("{0}")]
    Catalog(String),

    /// A statement that failed to parse, plan or run; DataFusion's message names the position.
    #[error("{}", sql_message(.0))]
    Sql(#[from] DataFusionError),
}

impl QueryError {
    /// Carries this error through DataFusion's catalog calls, which return DataFusion errors.
    pub(crate) fn into_datafusion(self) -> DataFusionError {
        DataFusionError::External(Box::new(self))
    }

    /// Takes back a query error that went through DataFusion, so that its message is not
    /// prefixed with DataFusion's wrapping.
    pub(crate) fn from_datafusion(error: DataFusionError) -> Self {
        if let DataFusionError::External(inner) = error.find_root()
            && let Some(query) = inner.downcast_ref::<QueryError>()
        {
            return Self::Catalog(query.to_string());
        }
        Self::Sql(error)
    }
}

/// DataFusion's message, with the parser's wrapping and catalog-internal names taken out.
pub fn sql_message(error: &DataFusionError) -> String {
    use deltalake::datafusion::sql::sqlparser::parser::ParserError;

    match error.find_root() {
        DataFusionError::SQL(parser, _) => match parser.as_ref() {
            ParserError::ParserError(message) | ParserError::TokenizerError(message) => {
                format!("syntax error: {message}")
            }
            ParserError::RecursionLimitExceeded => {
                "syntax error: the statement nests too deeply".to_string()
            }
        },
        DataFusionError::Plan(message) => match unknown_table(message) {
            Some(table) => QueryError::UnknownTable { table }.to_string(),
            None => without_bug_report_plea(message),
        },
        _ => without_bug_report_plea(&error.to_string()),
    }
}

/// Drops DataFusion's request to file a bug from a type mismatch, such as `sum` of a text
/// column: that is the user's mistake, and the rest of the message names the fix.
fn without_bug_report_plea(message: &str) -> String {
    const PLEA: &str = "This issue was likely caused by a bug in DataFusion's code. Please help us to resolve this by filing a bug report in our issue tracker: https://github.com/apache/datafusion/issues.";
    if !message.contains("failed to match any signature") {
        return message.to_string();
    }
    let message = message.replace(PLEA, "");
    message
        .strip_prefix("Internal error: ")
        .unwrap_or(&message)
        .to_string()
}

/// Extracts the table of DataFusion's "table 'datafusion.public.x' not found", without the
/// catalog and schema, which users never wrote.
fn unknown_table(message: &str) -> Option<String> {
    let qualified = message
        .strip_prefix("table '")?
        .strip_suffix("' not found")?;
    let table = qualified
        .strip_prefix("datafusion.public.")
        .unwrap_or(qualified);
    Some(table.to_string())
}
