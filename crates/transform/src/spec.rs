//! Transform files: `sql/NAME.sql` contains one `SELECT` over `events` and defines the processed
//! table `NAME`. Options are comment lines of the form `-- eventlake: key = value`.

use std::path::{Path, PathBuf};

use crate::error::TransformError;

/// Prefix of an option line.
const OPTION_PREFIX: &str = "-- eventlake:";

/// One transform file, read but not yet planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformSpec {
    /// Name of the processed table: the file name without `.sql`.
    pub name: String,
    pub path: PathBuf,
    /// The whole file, comments included, so that parser positions are file positions.
    pub sql: String,
    /// Partition columns of the processed table, from `partition_by = a, b`.
    pub partition_by: Vec<String>,
    /// For an aggregate, the output column of its group's time bucket, from `replace_by = c`:
    /// each flush recomputes the buckets its records touch and replaces them.
    pub replace_by: Option<String>,
}

impl TransformSpec {
    /// Reads a transform file and its options.
    pub fn read(path: &Path) -> Result<Self, TransformError> {
        let sql = std::fs::read_to_string(path).map_err(|source| TransformError::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, sql)
    }

    /// Reads the options of a transform's text; `path` names the table and places errors.
    pub fn parse(path: &Path, sql: String) -> Result<Self, TransformError> {
        let name = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or_default()
            .to_string();
        let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(TransformError::InvalidName {
                path: path.to_path_buf(),
                name,
            });
        }

        let mut partition_by = Vec::new();
        let mut replace_by = None;
        for (index, line) in sql.lines().enumerate() {
            let Some(option) = line.trim().strip_prefix(OPTION_PREFIX) else {
                continue;
            };
            let invalid = |message: String| TransformError::Invalid {
                path: path.to_path_buf(),
                line: index + 1,
                message,
            };
            let Some((key, value)) = option.split_once('=') else {
                return Err(invalid(format!(
                    "expected '{OPTION_PREFIX} key = value', got '{}'",
                    line.trim()
                )));
            };
            match key.trim() {
                "partition_by" => {
                    partition_by = value
                        .split(',')
                        .map(|column| column.trim().to_string())
                        .filter(|column| !column.is_empty())
                        .collect();
                }
                "replace_by" => replace_by = Some(value.trim().to_string()),
                other => {
                    return Err(invalid(format!(
                        "unknown option '{other}'; the known options are partition_by and replace_by"
                    )));
                }
            }
        }

        Ok(Self {
            name,
            path: path.to_path_buf(),
            sql,
            partition_by,
            replace_by,
        })
    }

    /// Reads every `*.sql` file of `dir`, sorted by name.
    pub fn read_directory(dir: &Path) -> Result<Vec<Self>, TransformError> {
        let read_error = |source| TransformError::ReadDirectory {
            path: dir.to_path_buf(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(read_error)? {
            let path = entry.map_err(read_error)?.path();
            if path.extension().is_some_and(|extension| extension == "sql") && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        paths.iter().map(|path| Self::read(path)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn options_come_from_comment_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write(
            dir.path(),
            "readings.sql",
            "-- Cleaned readings.\n-- eventlake: partition_by = reading_date, site\nSELECT 1 AS x FROM events\n",
        );
        let spec = TransformSpec::read(&path).expect("valid");
        assert_eq!(spec.name, "readings");
        assert_eq!(spec.partition_by, ["reading_date", "site"]);
    }

    #[test]
    fn unknown_option_names_the_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write(
            dir.path(),
            "t.sql",
            "SELECT 1\n-- eventlake: partitions = a\n",
        );
        let error = TransformSpec::read(&path).expect_err("invalid").to_string();
        assert!(
            error.ends_with(
                "t.sql:2: unknown option 'partitions'; the known options are partition_by and replace_by"
            ),
            "{error}"
        );
    }

    #[test]
    fn file_name_must_name_a_table() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write(dir.path(), "per-minute.sql", "SELECT 1\n");
        let error = TransformSpec::read(&path).expect_err("invalid").to_string();
        assert!(
            error.contains("the file name 'per-minute' cannot name a table"),
            "{error}"
        );
    }
}
