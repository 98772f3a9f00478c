//! The lake root: a directory (or, later, an object store URL) holding one Delta table per
//! subdirectory.

use std::path::{Path, PathBuf};

use deltalake::ensure_table_uri;
use url::Url;

use crate::error::LakeError;

/// The root of the lake, under which each table is a directory named after it.
#[derive(Debug, Clone)]
pub struct LakeRoot {
    url: Url,
}

/// Returns the Delta table that `path` is, or lies inside of: the nearest directory, `path`
/// included, that has a `_delta_log` or is one. A lake there would mix its files into the
/// table's, where a vacuum of the table deletes them.
fn enclosing_table(path: &Path) -> Option<PathBuf> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    absolute.ancestors().find_map(|directory| {
        if directory
            .file_name()
            .is_some_and(|name| name == "_delta_log")
        {
            directory.parent().map(Path::to_path_buf)
        } else if directory.join("_delta_log").is_dir() {
            Some(directory.to_path_buf())
        } else {
            None
        }
    })
}

impl LakeRoot {
    /// Parses a local path (created if missing) or a `file://` URL.
    pub fn parse(location: &str) -> Result<Self, LakeError> {
        let invalid = |reason: String| LakeError::InvalidLocation {
            location: location.to_string(),
            reason,
        };
        if location.trim().is_empty() {
            return Err(invalid(
                "the location is empty; pass a directory such as ./lake".to_string(),
            ));
        }

        if location.contains("://") && !location.starts_with("file://") {
            // NOTE: object stores need deltalake's storage features, which are not built yet.
            return Err(invalid(
                "only local directories and file:// URLs are supported for now".to_string(),
            ));
        }
        let path = match location.strip_prefix("file://") {
            Some(path) => PathBuf::from(path),
            None => PathBuf::from(location),
        };
        if path.exists() && !path.is_dir() {
            return Err(invalid(
                "it is a file, not a directory; pass a directory".to_string(),
            ));
        }
        if let Some(table) = enclosing_table(&path) {
            let parent = table.parent().map_or_else(
                || "./lake".to_string(),
                |parent| parent.display().to_string(),
            );
            return Err(invalid(format!(
                "it is inside the Delta table {}; pass the directory that holds the tables, such as {parent}",
                table.display()
            )));
        }
        std::fs::create_dir_all(&path)
            .map_err(|error| invalid(format!("cannot create the directory: {error}")))?;
        let absolute = path
            .canonicalize()
            .map_err(|error| invalid(format!("cannot resolve the directory: {error}")))?;
        let url = Url::from_directory_path(&absolute)
            .map_err(|()| invalid("not an absolute directory path".to_string()))?;
        Ok(Self { url })
    }

    /// Returns the URL of the table named `name`, creating its directory when local.
    pub fn table_url(&self, name: &str) -> Result<Url, LakeError> {
        let invalid = |reason: String| LakeError::InvalidLocation {
            location: format!("{}{name}", self.url),
            reason,
        };
        let url = self
            .url
            .join(&format!("{name}/"))
            .map_err(|error| invalid(error.to_string()))?;
        if let Ok(path) = url.to_file_path() {
            std::fs::create_dir_all(&path)
                .map_err(|error| invalid(format!("cannot create the directory: {error}")))?;
        }
        ensure_table_uri(url.as_str()).map_err(|error| invalid(error.to_string()))
    }

    /// Returns the URL of the lake root.
    pub fn url(&self) -> &Url {
        &self.url
    }
}

/// Lists the Delta tables in a local lake directory: each subdirectory with a `_delta_log`,
/// as (name, path) sorted by name.
pub fn table_directories(root: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut tables: Vec<(String, PathBuf)> = std::fs::read_dir(root)?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("_delta_log").is_dir())
        .filter_map(|entry| Some((entry.file_name().to_str()?.to_string(), entry.path())))
        .collect();
    tables.sort();
    Ok(tables)
}
