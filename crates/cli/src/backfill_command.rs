//! `eventlake backfill`: fills processed tables from the raw table, then prints what each got.

use std::sync::Arc;

use eventlake_events::PayloadSchemas;
use eventlake_ingest::{BackfillConfig, backfill};
use eventlake_lake::{LakeRoot, WriteSettings};
use eventlake_transform::TransformSpec;

use crate::args::BackfillArgs;
use crate::error::CliError;

pub async fn run(args: BackfillArgs) -> Result<(), CliError> {
    let lake = LakeRoot::parse(&args.lake).map_err(|error| CliError::Config(error.to_string()))?;
    if !std::path::Path::new(&args.lake)
        .join("events/_delta_log")
        .is_dir()
    {
        return Err(CliError::Config(format!(
            "no raw table 'events' under --lake {}; backfill reads it, so ingest first or point --lake at the lake root",
            args.lake
        )));
    }
    let schemas = PayloadSchemas::load_dir(&args.schemas)
        .map_err(|error| CliError::Config(error.to_string()))?;
    let mut transforms = TransformSpec::read_directory(&args.sql)
        .map_err(|error| CliError::Config(error.to_string()))?;
    if !args.tables.is_empty() {
        let known: Vec<String> = transforms.iter().map(|spec| spec.name.clone()).collect();
        if let Some(unknown) = args.tables.iter().find(|table| !known.contains(table)) {
            return Err(CliError::Config(format!(
                "no transform {}/{unknown}.sql; the transforms are: {}",
                args.sql.display(),
                known.join(", ")
            )));
        }
        transforms.retain(|spec| args.tables.contains(&spec.name));
    }

    let config = BackfillConfig {
        lake,
        events_table: "events".to_string(),
        rejects_table: "rejects".to_string(),
        schemas: Arc::new(schemas),
        transforms,
        write: WriteSettings::default(),
        chunk_rows: args.chunk_rows,
    };
    for summary in backfill(&config).await? {
        println!(
            "{}: {} raw rows read, {} rows committed in {} {}, {} rows to rejects",
            summary.table,
            summary.source_rows,
            summary.rows,
            summary.commits,
            if summary.commits == 1 {
                "commit"
            } else {
                "commits"
            },
            summary.check_rejects
        );
    }
    Ok(())
}
