//! The files of a table's `_delta_log` directory, read by name.

use std::io;
use std::path::Path;

/// Returns the oldest version of the table in `table_dir` that readers can still load, or
/// `None` when the log has no commit.
///
/// Version 0 stays loadable while its commit file exists. After log cleanup, the oldest
/// loadable version is the oldest checkpoint left, since cleanup deletes commits only below a
/// checkpoint it keeps.
pub fn earliest_version(table_dir: &Path) -> io::Result<Option<u64>> {
    let mut oldest_commit: Option<u64> = None;
    let mut oldest_checkpoint: Option<u64> = None;
    for entry in std::fs::read_dir(table_dir.join("_delta_log"))? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let Some((digits, rest)) = name.split_at_checked(20) else {
            continue;
        };
        let Ok(version) = digits.parse::<u64>() else {
            continue;
        };
        let slot = if rest == ".json" {
            &mut oldest_commit
        } else if rest.starts_with(".checkpoint") && rest.ends_with(".parquet") {
            &mut oldest_checkpoint
        } else {
            continue;
        };
        *slot = Some(slot.map_or(version, |oldest| oldest.min(version)));
    }

    Ok(match (oldest_commit, oldest_checkpoint) {
        (Some(0), _) => Some(0),
        (_, Some(checkpoint)) => Some(checkpoint),
        (commit, None) => commit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("_delta_log")).expect("log dir");
        for file in files {
            std::fs::write(dir.path().join("_delta_log").join(file), b"").expect("write");
        }
        dir
    }

    #[test]
    fn full_log_starts_at_zero() {
        let dir = log_with(&[
            "00000000000000000000.json",
            "00000000000000000001.json",
            "00000000000000000010.checkpoint.parquet",
            "_last_checkpoint",
        ]);
        assert_eq!(earliest_version(dir.path()).expect("log read"), Some(0));
    }

    #[test]
    fn cleaned_log_starts_at_checkpoint() {
        let dir = log_with(&[
            "00000000000000000018.json",
            "00000000000000000020.checkpoint.parquet",
            "00000000000000000020.json",
            "00000000000000000030.checkpoint.0000000001.0000000002.parquet",
            "00000000000000000031.json",
        ]);
        assert_eq!(earliest_version(dir.path()).expect("log read"), Some(20));
    }

    #[test]
    fn empty_log_has_no_version() {
        let dir = log_with(&["_last_checkpoint"]);
        assert_eq!(earliest_version(dir.path()).expect("log read"), None);
    }
}
