//! The DataFusion session over the lake.

use std::path::{Path, PathBuf};

use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::datafusion::execution::context::SQLOptions;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::datafusion::sql::parser::{DFParser, Statement};
use url::Url;

use crate::error::QueryError;

/// A SQL session over every Delta table under one lake root.
pub struct LakeSession {
    root: PathBuf,
    context: SessionContext,
}

impl LakeSession {
    /// Opens a session over the tables under `root`.
    pub fn open(root: &Path) -> Result<Self, QueryError> {
        let root = root
            .canonicalize()
            .map_err(|source| QueryError::LakeNotFound {
                path: root.display().to_string(),
                source,
            })?;
        Ok(Self {
            root,
            context: SessionContext::new(),
        })
    }

    /// Returns the names of the Delta tables under the lake root, sorted.
    pub fn table_names(&self) -> Result<Vec<String>, QueryError> {
        let entries = std::fs::read_dir(&self.root).map_err(|source| QueryError::LakeNotFound {
            path: self.root.display().to_string(),
            source,
        })?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|entry| entry.path().join("_delta_log").is_dir())
            .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Loads the latest version of every table and registers it under its name.
    async fn refresh(&self) -> Result<(), QueryError> {
        for name in self.table_names()? {
            let table_error = |source: deltalake::DeltaTableError| QueryError::Table {
                table: name.clone(),
                source,
            };
            let path = self.root.join(&name);
            let url = Url::from_directory_path(&path).map_err(|()| QueryError::Table {
                table: name.clone(),
                source: deltalake::DeltaTableError::InvalidTableLocation(
                    path.display().to_string(),
                ),
            })?;
            let table: DeltaTable = deltalake::open_table(url).await.map_err(table_error)?;
            table
                .update_datafusion_session(&self.context.state())
                .map_err(table_error)?;
            let provider = table.table_provider().await?;
            self.context.deregister_table(name.as_str())?;
            self.context.register_table(name.as_str(), provider)?;
        }
        Ok(())
    }

    /// Splits a script into its statements, ended by `;`.
    pub fn parse(&self, script: &str) -> Result<Vec<Statement>, QueryError> {
        Ok(DFParser::parse_sql(script)?.into_iter().collect())
    }

    /// Runs one read-only statement against the latest version of every table.
    pub async fn execute(&self, statement: Statement) -> Result<Vec<RecordBatch>, QueryError> {
        self.refresh().await?;
        let plan = self.context.state().statement_to_plan(statement).await?;
        // Reads only: no DDL (CREATE EXTERNAL TABLE), DML (INSERT, COPY) or SET statements.
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|error| QueryError::ReadOnly(error.message().to_string()))?;
        let frame = self.context.execute_logical_plan(plan).await?;
        Ok(frame.collect().await?)
    }
}
