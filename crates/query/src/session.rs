//! The DataFusion session over the lake.

use std::path::Path;
use std::sync::Arc;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::catalog::{CatalogProvider, MemoryCatalogProvider};
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::datafusion::execution::runtime_env::RuntimeEnv;
use deltalake::datafusion::execution::session_state::SessionStateBuilder;
use deltalake::datafusion::logical_expr::{DdlStatement, LogicalPlan, WriteOp};
use deltalake::datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::datafusion::sql::parser::{DFParser, Statement};
use futures::StreamExt;

use crate::catalog::LakeSchema;
use crate::error::QueryError;

/// Statements a session may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Queries only: no `COPY`, `INSERT`, `CREATE` or other statement that writes files,
    /// changes tables or registers outside locations.
    ReadOnly,
    /// Every statement DataFusion supports.
    ReadWrite,
}

/// A SQL session over every Delta table under one lake root.
pub struct LakeSession {
    context: SessionContext,
    schema: Arc<LakeSchema>,
    access: Access,
}

impl LakeSession {
    /// Opens a session over the tables under `root`.
    pub fn open(root: &Path, access: Access) -> Result<Self, QueryError> {
        let root = root
            .canonicalize()
            .map_err(|source| QueryError::LakeNotFound {
                path: root.display().to_string(),
                source,
            })?;

        let mut config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema("datafusion", "public");
        // Timestamps are stored in UTC; `now()` and casts of zone-less text use UTC as well.
        config.options_mut().execution.time_zone = Some("UTC".to_string());
        let runtime = Arc::new(RuntimeEnv::default());
        let context = SessionContext::new_with_config_rt(config, Arc::clone(&runtime));

        let runtime_state = SessionStateBuilder::new().with_runtime_env(runtime).build();
        let schema = Arc::new(LakeSchema::new(root, runtime_state));
        let catalog = MemoryCatalogProvider::new();
        catalog.register_schema("public", Arc::clone(&schema) as _)?;
        context.register_catalog("datafusion", Arc::new(catalog));
        let session = Self {
            context,
            schema,
            access,
        };
        session.schema.lake_tables()?;
        Ok(session)
    }

    /// Returns the names of the Delta tables under the lake root, sorted.
    pub fn table_names(&self) -> Result<Vec<String>, QueryError> {
        self.schema.lake_tables()
    }

    /// Splits a script into its statements, ended by `;`.
    pub fn parse(&self, script: &str) -> Result<Vec<Statement>, QueryError> {
        Ok(DFParser::parse_sql(script)?.into_iter().collect())
    }

    /// Runs one statement against the latest version of every table it names. Dropping the
    /// returned future cancels the statement.
    pub async fn execute(&self, statement: Statement) -> Result<Vec<RecordBatch>, QueryError> {
        let (schema, mut stream) = self.execute_stream(statement).await?;
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            batches.push(batch.map_err(QueryError::from_datafusion)?);
        }
        // An empty result still carries its columns, so a table prints its header.
        if batches.is_empty() {
            batches.push(RecordBatch::new_empty(schema));
        }
        Ok(batches)
    }

    /// Plans one statement and returns its columns and a stream of its result, which runs as
    /// it is read. Dropping the stream cancels the statement.
    pub async fn execute_stream(
        &self,
        statement: Statement,
    ) -> Result<(SchemaRef, SendableRecordBatchStream), QueryError> {
        let plan = self
            .context
            .state()
            .statement_to_plan(statement)
            .await
            .map_err(QueryError::from_datafusion)?;
        if let LogicalPlan::Ddl(DdlStatement::DropTable(drop)) = &plan
            && self.schema.table_path(drop.name.table()).is_some()
        {
            return Err(QueryError::LakeTableDrop {
                table: drop.name.table().to_string(),
            });
        }
        if self.access == Access::ReadOnly {
            check_read_only(&plan)?;
        }
        let frame = self
            .context
            .execute_logical_plan(plan)
            .await
            .map_err(QueryError::from_datafusion)?;
        let schema = Arc::clone(frame.schema().inner());
        let stream = frame
            .execute_stream()
            .await
            .map_err(QueryError::from_datafusion)?;
        Ok((schema, stream))
    }

    /// Runs a script of statements and returns the result of the last one.
    pub async fn query(&self, script: &str) -> Result<Vec<RecordBatch>, QueryError> {
        let mut result = Vec::new();
        for statement in self.parse(script)? {
            result = self.execute(statement).await?;
        }
        Ok(result)
    }

    pub(crate) fn schema(&self) -> &LakeSchema {
        &self.schema
    }
}

/// Refuses statements that write files, change tables or reach outside the lake. Views and
/// in-memory tables live only in the session, so they stay allowed.
fn check_read_only(plan: &LogicalPlan) -> Result<(), QueryError> {
    let refused = match plan {
        LogicalPlan::Copy(_) => Some("COPY writes files"),
        LogicalPlan::Dml(dml) => Some(match dml.op {
            WriteOp::Insert(_) => "INSERT changes a table",
            WriteOp::Delete => "DELETE changes a table",
            WriteOp::Update => "UPDATE changes a table",
            _ => "the statement changes a table",
        }),
        LogicalPlan::Ddl(DdlStatement::CreateExternalTable(_)) => {
            Some("CREATE EXTERNAL TABLE registers files by path, inside or outside the lake")
        }
        LogicalPlan::Ddl(
            DdlStatement::CreateCatalog(_)
            | DdlStatement::CreateCatalogSchema(_)
            | DdlStatement::DropCatalogSchema(_)
            | DdlStatement::CreateIndex(_),
        ) => Some("the statement changes the catalog"),
        _ => None,
    };
    match refused {
        Some(reason) => Err(QueryError::ReadOnly(reason.to_string())),
        None => Ok(()),
    }
}
