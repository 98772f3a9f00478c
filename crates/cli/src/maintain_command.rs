//! `eventlake optimize` and `eventlake vacuum`: table maintenance, one table at a time.

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use deltalake::DeltaTable;
use deltalake::parquet::basic::Compression;
use eventlake_lake::{CompactOptions, compact, table_directories, vacuum};
use tracing::info;
use url::Url;

use crate::args::{OptimizeArgs, TableSelection, VacuumArgs};
use crate::error::CliError;

pub async fn optimize(args: OptimizeArgs) -> Result<(), CliError> {
    let target_size = u64::try_from(args.target_size)
        .ok()
        .and_then(NonZeroU64::new)
        .ok_or_else(|| CliError::Config("--target-size must be greater than zero".to_string()))?;
    let options = CompactOptions {
        target_size,
        partitions: args.partition.clone(),
        sort_by: args.sort_by.clone(),
        compression: Compression::ZSTD(Default::default()),
    };
    for (name, path) in selected_tables(&args.selection)? {
        let table = open(&name, &path).await?;
        let Some(options) =
            options_for(&table, &name, &options, !args.selection.tables.is_empty())?
        else {
            continue;
        };
        let summary = compact(&table, &name, &options).await?;
        match summary.version {
            Some(version) => info!(
                table = %name,
                version,
                files_removed = summary.files_removed,
                files_added = summary.files_added,
                bytes_removed = summary.bytes_removed,
                bytes_added = summary.bytes_added,
                partitions = summary.partitions,
                "compacted"
            ),
            None => info!(table = %name, "nothing to compact"),
        }
    }
    Ok(())
}

/// Fits the options to one table. A table without the `--partition` columns is skipped and
/// one without the `--sort-by` column is compacted unsorted, unless the user named the table,
/// in which case either is an error.
fn options_for(
    table: &DeltaTable,
    name: &str,
    options: &CompactOptions,
    named: bool,
) -> Result<Option<CompactOptions>, CliError> {
    let snapshot = table
        .snapshot()
        .map_err(|error| CliError::Maintenance(format!("cannot read table '{name}': {error}")))?;
    let partition_columns = snapshot.metadata().partition_columns();
    if let Some((column, _)) = options
        .partitions
        .iter()
        .find(|(column, _)| !partition_columns.contains(column))
    {
        let message = format!(
            "table '{name}' is partitioned by [{}], not by '{column}'",
            partition_columns.join(", ")
        );
        if named {
            return Err(CliError::Config(format!(
                "{message}; pass --partition with one of its partition columns"
            )));
        }
        info!(table = %name, "{message}; skipped");
        return Ok(None);
    }

    let mut fitted = options.clone();
    if let Some(column) = &options.sort_by {
        let has_column = snapshot
            .schema()
            .fields()
            .any(|field| field.name() == column);
        if !has_column {
            if named {
                return Err(CliError::Config(format!(
                    "table '{name}' has no column '{column}' to sort by; pass --sort-by with one of its columns"
                )));
            }
            info!(table = %name, column = %column, "table has no such column; compacting without sorting");
            fitted.sort_by = None;
        }
    }
    Ok(Some(fitted))
}

pub async fn vacuum_tables(args: VacuumArgs) -> Result<(), CliError> {
    for (name, path) in selected_tables(&args.selection)? {
        let table = open(&name, &path).await?;
        let summary = vacuum(
            &table,
            &name,
            args.retention,
            args.allow_short_retention,
            args.dry_run,
        )
        .await?;
        for file in &summary.files {
            if args.dry_run {
                println!("would delete {name}/{file}");
            }
        }
        let verb = if args.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        info!(table = %name, files = summary.files.len(), "{verb} unreferenced files");
    }
    Ok(())
}

/// Returns the tables named on the command line, or every table of the lake.
fn selected_tables(selection: &TableSelection) -> Result<Vec<(String, PathBuf)>, CliError> {
    let lake = selection.lake.as_str();
    let names = &selection.tables;
    let root = Path::new(lake);
    if !root.is_dir() {
        return Err(CliError::Config(format!(
            "lake directory {lake} does not exist; pass the directory that holds the tables with --lake"
        )));
    }
    let is_table = |path: &Path| path.join("_delta_log").is_dir();
    if names.is_empty() {
        return table_directories(root).map_err(|error| {
            CliError::Config(format!("cannot read lake directory {lake}: {error}"))
        });
    }
    names
        .iter()
        .map(|name| {
            let path = root.join(name);
            if name.contains(['/', '\\']) || !is_table(&path) {
                return Err(CliError::Config(format!(
                    "table '{name}' does not exist under {lake}; run 'eventlake sql --lake {lake} -c \"\\d\"' to list the tables"
                )));
            }
            Ok((name.clone(), path))
        })
        .collect()
}

async fn open(name: &str, path: &Path) -> Result<DeltaTable, CliError> {
    let absolute = path
        .canonicalize()
        .map_err(|error| CliError::Config(format!("cannot resolve table '{name}': {error}")))?;
    let url = Url::from_directory_path(&absolute)
        .map_err(|()| CliError::Config(format!("cannot resolve table '{name}'")))?;
    deltalake::open_table(url)
        .await
        .map_err(|error| CliError::Maintenance(format!("cannot open table '{name}': {error}")))
}
