//! The lake as a DataFusion schema: every directory of the lake root that contains a `_delta_log`
//! is a table, loaded when a statement names it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deltalake::datafusion::catalog::{SchemaProvider, TableProvider};
use deltalake::datafusion::error::{DataFusionError, Result as DataFusionResult};
use deltalake::datafusion::execution::SessionState;
use deltalake::{DeltaTable, DeltaTableBuilder};
use eventlake_lake::{earliest_version, table_directories};
use url::Url;

use crate::details::summarize;
use crate::error::QueryError;
use crate::reference::{TablePoint, TableReference};
use crate::scan::SnapshotScan;

/// Resolves table names to Delta tables under the lake root.
///
/// Lookups load the table again each time, so every statement reads the latest commit. Tables
/// that a statement registers (only with writes allowed) live in memory for the session.
#[derive(Debug)]
pub(crate) struct LakeSchema {
    root: PathBuf,
    /// A state that shares the session's runtime, used to register each table's object store.
    runtime_state: SessionState,
    registered: Mutex<HashMap<String, Arc<dyn TableProvider>>>,
}

impl LakeSchema {
    pub(crate) fn new(root: PathBuf, runtime_state: SessionState) -> Self {
        Self {
            root,
            runtime_state,
            registered: Mutex::default(),
        }
    }

    /// Returns the Delta tables under the lake root, sorted by name.
    pub(crate) fn lake_tables(&self) -> Result<Vec<String>, QueryError> {
        let tables = table_directories(&self.root).map_err(|source| QueryError::LakeNotFound {
            path: self.root.display().to_string(),
            source,
        })?;
        Ok(tables.into_iter().map(|(name, _)| name).collect())
    }

    /// Returns the directory of a lake table, or `None` when no such table exists. Names that
    /// are not a plain directory name never resolve, so SQL cannot reach outside the root.
    pub(crate) fn table_path(&self, table: &str) -> Option<PathBuf> {
        let plain = !table.is_empty()
            && !table.starts_with('.')
            && !table.contains(['/', '\\'])
            && Path::new(table).components().count() == 1;
        let path = self.root.join(table);
        (plain && path.join("_delta_log").is_dir()).then_some(path)
    }

    /// Loads a table at a point in time.
    pub(crate) async fn load(&self, reference: &TableReference) -> Result<DeltaTable, QueryError> {
        let table = &reference.table;
        let path = self
            .table_path(table)
            .ok_or_else(|| QueryError::UnknownTable {
                table: table.clone(),
            })?;
        let url = Url::from_directory_path(&path).map_err(|()| QueryError::Table {
            table: table.clone(),
            source: deltalake::DeltaTableError::InvalidTableLocation(path.display().to_string()),
        })?;
        let builder =
            DeltaTableBuilder::from_url(url.clone()).map_err(|source| QueryError::Table {
                table: table.clone(),
                source,
            })?;
        let travel_error = |source| QueryError::TimeTravel {
            reference: format!("{table}@{}", point_text(&reference.point)),
            table: table.clone(),
            source,
        };
        match &reference.point {
            TablePoint::Latest => builder.load().await.map_err(|source| QueryError::Table {
                table: table.clone(),
                source,
            }),
            TablePoint::Version(version) => match builder.with_version(*version).load().await {
                Ok(loaded) => Ok(loaded),
                Err(source) => {
                    // delta-rs reports a version past the end, or one whose commits log cleanup
                    // deleted, as a log segment error, so the error names the versions that exist.
                    let latest = open_latest(table, &url).await?.version();
                    let earliest = earliest_version(&path).ok().flatten().unwrap_or(0);
                    match latest {
                        Some(latest) if *version < earliest || latest < *version => {
                            Err(QueryError::NoSuchVersion {
                                reference: format!("{table}@v{version}"),
                                table: table.clone(),
                                earliest,
                                latest,
                                retention: if earliest > 0 {
                                    " (log files of older versions outlived delta.logRetentionDuration and were deleted)".to_string()
                                } else {
                                    String::new()
                                },
                            })
                        }
                        _ => Err(travel_error(source)),
                    }
                }
            },
            TablePoint::Timestamp(instant) => {
                let version = version_at(table, &url, *instant).await?;
                builder
                    .with_version(version)
                    .load()
                    .await
                    .map_err(travel_error)
            }
        }
    }

    async fn provider(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, QueryError> {
        let reference = TableReference::parse(name)?;
        if self.table_path(&reference.table).is_none() {
            return Ok(None);
        }
        let table = self.load(&reference).await?;
        let root = self
            .table_path(&reference.table)
            .ok_or_else(|| QueryError::UnknownTable {
                table: reference.table.clone(),
            })?;
        let direct = SnapshotScan::try_new(&table, &root).map_err(|source| QueryError::Table {
            table: reference.table.clone(),
            source,
        })?;
        if let Some(scan) = direct {
            return Ok(Some(Arc::new(scan)));
        }
        table
            .update_datafusion_session(&self.runtime_state)
            .map_err(|source| QueryError::Table {
                table: reference.table.clone(),
                source,
            })?;
        Ok(Some(table.table_provider().await?))
    }

    fn registered(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<dyn TableProvider>>> {
        self.registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Returns the last version committed at or before `instant`, by the commit times that
/// `\history` shows. delta-rs would go by the log files' modification times instead,
/// which come a little after the recorded commit time.
async fn version_at(table: &str, url: &Url, instant: DateTime<Utc>) -> Result<u64, QueryError> {
    let latest = open_latest(table, url).await?;
    let log_store = latest.log_store();
    let mut earliest = None;
    let mut next = latest.version();
    while let Some(version) = next {
        let entry = log_store
            .read_commit_entry(version)
            .await
            .map_err(|source| QueryError::Table {
                table: table.to_string(),
                source,
            })?;
        // Older entries may have been cleaned up after a checkpoint.
        let Some(entry) = entry else {
            break;
        };
        let committed = summarize(version, &entry).timestamp;
        if committed.is_some_and(|committed| committed <= instant) {
            return Ok(version);
        }
        earliest = committed.or(earliest);
        next = version.checked_sub(1);
    }
    Err(QueryError::BeforeFirstCommit {
        reference: format!("{table}@{}", point_text(&TablePoint::Timestamp(instant))),
        table: table.to_string(),
        committed: earliest.map_or_else(|| "an unknown time".to_string(), |time| time.to_rfc3339()),
    })
}

/// Loads the latest version of the table at `url`.
async fn open_latest(table: &str, url: &Url) -> Result<DeltaTable, QueryError> {
    let table_error = |source| QueryError::Table {
        table: table.to_string(),
        source,
    };
    DeltaTableBuilder::from_url(url.clone())
        .map_err(table_error)?
        .load()
        .await
        .map_err(table_error)
}

/// Writes a point in time as it appears after `@` in a table name.
pub(crate) fn point_text(point: &TablePoint) -> String {
    match point {
        TablePoint::Latest => "latest".to_string(),
        TablePoint::Version(version) => format!("v{version}"),
        TablePoint::Timestamp(instant) => instant.to_rfc3339(),
    }
}

#[async_trait]
impl SchemaProvider for LakeSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.lake_tables().unwrap_or_default();
        names.extend(self.registered().keys().cloned());
        names
    }

    async fn table(&self, name: &str) -> DataFusionResult<Option<Arc<dyn TableProvider>>> {
        if let Some(provider) = self.registered().get(name) {
            return Ok(Some(Arc::clone(provider)));
        }
        self.provider(name)
            .await
            .map_err(QueryError::into_datafusion)
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DataFusionResult<Option<Arc<dyn TableProvider>>> {
        if self.table_path(&name).is_some() {
            return Err(DataFusionError::Plan(format!(
                "'{name}' is a Delta table of the lake; choose another name for the new table"
            )));
        }
        Ok(self.registered().insert(name, table))
    }

    fn deregister_table(&self, name: &str) -> DataFusionResult<Option<Arc<dyn TableProvider>>> {
        if self.table_path(name).is_some() {
            return Err(QueryError::LakeTableDrop {
                table: name.to_string(),
            }
            .into_datafusion());
        }
        Ok(self.registered().remove(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.registered().contains_key(name)
            || TableReference::parse(name)
                .is_ok_and(|reference| self.table_path(&reference.table).is_some())
    }
}
