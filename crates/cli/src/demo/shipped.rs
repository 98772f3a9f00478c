//! The schemas and transforms of the repository's `schemas/` and `sql/`, built into the binary
//! so that the demo runs from any directory.

use std::path::{Path, PathBuf};

use eventlake_events::PayloadSchemas;
use eventlake_transform::TransformSpec;

use crate::error::CliError;

/// `(file name, JSON Schema)` of each shipped event type.
const SCHEMAS: [(&str, &str); 3] = [
    (
        "device_status.json",
        include_str!("../../../../schemas/device_status.json"),
    ),
    (
        "sensor_data.json",
        include_str!("../../../../schemas/sensor_data.json"),
    ),
    (
        "user_action.json",
        include_str!("../../../../schemas/user_action.json"),
    ),
];

/// `(file name, SELECT)` of each shipped transform.
const TRANSFORMS: [(&str, &str); 4] = [
    (
        "device_statuses.sql",
        include_str!("../../../../sql/device_statuses.sql"),
    ),
    (
        "sensor_minutes.sql",
        include_str!("../../../../sql/sensor_minutes.sql"),
    ),
    (
        "sensor_readings.sql",
        include_str!("../../../../sql/sensor_readings.sql"),
    ),
    (
        "user_actions.sql",
        include_str!("../../../../sql/user_actions.sql"),
    ),
];

/// Directories that errors in the built-in files name: those the files come from.
const SCHEMAS_DIR: &str = "<built-in>/schemas";
const TRANSFORMS_DIR: &str = "<built-in>/sql";

pub fn schemas() -> Result<PayloadSchemas, CliError> {
    let sources = SCHEMAS
        .iter()
        .map(|(name, text)| (Path::new(SCHEMAS_DIR).join(name), (*text).to_string()))
        .collect();
    PayloadSchemas::from_sources(sources)
        .map_err(|error| CliError::Internal(format!("a built-in schema is invalid: {error}")))
}

pub fn transforms() -> Result<Vec<TransformSpec>, CliError> {
    TRANSFORMS
        .iter()
        .map(|(name, sql)| {
            let path: PathBuf = Path::new(TRANSFORMS_DIR).join(name);
            TransformSpec::parse(&path, (*sql).to_string()).map_err(|error| {
                CliError::Internal(format!("a built-in transform is invalid: {error}"))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names of the files in a directory of the repository, sorted.
    fn repository_files(dir: &str) -> Vec<String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(dir);
        let mut names: Vec<String> = std::fs::read_dir(&path)
            .expect("repository directory")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn built_in_files_are_every_shipped_file() {
        let schemas: Vec<String> = SCHEMAS.iter().map(|(name, _)| name.to_string()).collect();
        assert_eq!(schemas, repository_files("schemas"));
        let transforms: Vec<String> = TRANSFORMS
            .iter()
            .map(|(name, _)| name.to_string())
            .collect();
        assert_eq!(transforms, repository_files("sql"));
    }

    #[test]
    fn built_in_files_load() {
        let schemas = schemas().expect("schemas load");
        assert_eq!(
            schemas.event_types().collect::<Vec<_>>(),
            ["device_status", "sensor_data", "user_action"]
        );
        let names: Vec<String> = transforms()
            .expect("transforms parse")
            .into_iter()
            .map(|spec| spec.name)
            .collect();
        assert_eq!(
            names,
            [
                "device_statuses",
                "sensor_minutes",
                "sensor_readings",
                "user_actions"
            ]
        );
    }
}
