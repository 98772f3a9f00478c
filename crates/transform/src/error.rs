//! Errors of loading and planning transforms.

use std::path::PathBuf;

/// A transform file that cannot be used; each message names the file, and the line when known.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("cannot read the transform directory {path}: {source}")]
    ReadDirectory {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}:{line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },

    #[error(
        "{path}: the file name '{name}' cannot name a table; use letters, digits and underscores, starting with a letter"
    )]
    InvalidName { path: PathBuf, name: String },

    #[error("{path}: table '{name}' is the {role} table; rename the file")]
    ReservedName {
        path: PathBuf,
        name: String,
        role: &'static str,
    },
}
