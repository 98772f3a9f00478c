//! Payload schemas: one JSON Schema file per event type in `schemas/`, converted to Arrow.
//!
//! Each event type's `event_data` is decoded with its own Arrow fields. The raw table stores
//! every type in one `event_data` struct column whose fields are the union of all types'
//! fields, so two types must agree on the type of a field they share.

mod json_schema;
mod merge;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Fields};

pub use json_schema::{RequiredFields, TypeSchema};

/// Errors found while loading `schemas/`; each names the file and what to change in it.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "cannot read schema directory {path}: {source}; pass an existing directory with --schemas"
    )]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read schema file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("schema file {path} is not valid JSON: {source}")]
    InvalidJson {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("schema file {path}, at {pointer}: {message}")]
    Unsupported {
        path: PathBuf,
        pointer: String,
        message: String,
    },
    #[error(
        "field event_data.{field} is {first_type} in {first_file} but {second_type} in {second_file}; give it one type in both files or rename it in one"
    )]
    Conflict {
        field: String,
        first_file: PathBuf,
        first_type: String,
        second_file: PathBuf,
        second_type: String,
    },
    #[error(
        "field event_data.{first_field} in {first_file} and event_data.{second_field} in {second_file} differ only in case, which Delta column names cannot; use one spelling in both files"
    )]
    CaseConflict {
        first_field: String,
        first_file: PathBuf,
        second_field: String,
        second_file: PathBuf,
    },
    #[error(
        "schema directory {path} contains no *.json files; add one JSON Schema file per event type"
    )]
    Empty { path: PathBuf },
}

/// The payload schemas of all known event types and the union of their fields.
#[derive(Debug, Clone)]
pub struct PayloadSchemas {
    types: BTreeMap<String, Arc<TypeSchema>>,
    union_fields: Fields,
}

impl PayloadSchemas {
    /// Loads every `*.json` file in `dir`; the file stem is the event type it describes.
    pub fn load_dir(dir: &Path) -> Result<Self, SchemaError> {
        let entries = std::fs::read_dir(dir).map_err(|source| SchemaError::ReadDir {
            path: dir.to_path_buf(),
            source,
        })?;

        let mut files = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|source| SchemaError::ReadDir {
                    path: dir.to_path_buf(),
                    source,
                })?
                .path();
            if path
                .extension()
                .is_some_and(|extension| extension == "json")
            {
                files.push(path);
            }
        }
        // Sorted so that conflict messages and column order do not depend on the file system.
        files.sort();
        if files.is_empty() {
            return Err(SchemaError::Empty {
                path: dir.to_path_buf(),
            });
        }

        let mut sources = Vec::with_capacity(files.len());
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|source| SchemaError::ReadFile {
                path: path.clone(),
                source,
            })?;
            sources.push((path, text));
        }
        Self::from_sources(sources)
    }

    /// Builds the schemas from `(file path, JSON Schema text)` pairs; the file stem of each
    /// path is its event type.
    pub fn from_sources(sources: Vec<(PathBuf, String)>) -> Result<Self, SchemaError> {
        let mut types = BTreeMap::new();
        for (path, text) in sources {
            let document: serde_json::Value =
                serde_json::from_str(&text).map_err(|source| SchemaError::InvalidJson {
                    path: path.clone(),
                    source,
                })?;
            let type_schema = TypeSchema::from_json_schema(&path, &document)?;
            types.insert(type_schema.event_type.clone(), Arc::new(type_schema));
        }

        let union_fields = merge::union_fields(types.values().map(|schema| schema.as_ref()))?;
        Ok(Self {
            types,
            union_fields,
        })
    }

    /// Returns the schema of `event_type`, or `None` when no file declares it.
    pub fn get(&self, event_type: &str) -> Option<&Arc<TypeSchema>> {
        self.types.get(event_type)
    }

    /// Iterates over the schemas of the known event types in name order.
    pub fn types(&self) -> impl Iterator<Item = &TypeSchema> {
        self.types.values().map(|schema| schema.as_ref())
    }

    /// Iterates over the known event types in name order.
    pub fn event_types(&self) -> impl Iterator<Item = &str> {
        self.types.keys().map(String::as_str)
    }

    /// Returns the type of the raw table's `event_data` column: a struct with the union of
    /// every event type's fields, all nullable.
    pub fn event_data_type(&self) -> DataType {
        DataType::Struct(self.union_fields.clone())
    }
}
