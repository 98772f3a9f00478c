//! Background compaction of closed partitions while the ingestor runs.
//!
//! Streaming commits leave many small files in each partition. Once a partition has had no
//! new file for the idle time (a past day or hour, as a rule), this task rewrites its files
//! into few large ones. It runs beside the writer without blocking it: the compaction commit
//! does not conflict with appends, and the writer re-checks and retries if one lands first.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deltalake::parquet::basic::Compression;
use eventlake_lake::{CompactOptions, compact, idle_partitions};
use tracing::{info, warn};
use url::Url;

/// Settings of background compaction.
#[derive(Debug, Clone)]
pub struct AutoCompaction {
    /// A partition is compacted once no file was added to it for this long.
    pub idle: Duration,
    /// Size the rewritten files aim for, in bytes.
    pub target_size: NonZeroU64,
    /// Minimum number of live files that makes a partition worth rewriting.
    pub min_files: usize,
}

/// Size of the files background compaction writes: 192 MiB.
const TARGET_SIZE: NonZeroU64 = match NonZeroU64::new(192 * 1024 * 1024) {
    Some(size) => size,
    None => panic!("the target size is not zero"),
};

impl AutoCompaction {
    /// Compacts partitions with two or more files once they were idle for `idle`.
    pub fn after(idle: Duration) -> Self {
        Self {
            idle,
            target_size: TARGET_SIZE,
            min_files: 2,
        }
    }
}

/// Checks the tables for idle partitions every quarter of the idle time (at least every
/// second, at most every five minutes) until `shutdown` is set.
pub(crate) async fn run_compactor(
    settings: AutoCompaction,
    tables: Vec<(String, Url)>,
    compression: Compression,
    shutdown: Arc<AtomicBool>,
) {
    let period = (settings.idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(300));
    while !shutdown.load(Ordering::Relaxed) {
        tokio::time::sleep(period).await;
        for (name, url) in &tables {
            if shutdown.load(Ordering::Relaxed) {
                return;
            }
            if let Err(message) = compact_idle(&settings, name, url, compression).await {
                // The next round tries again; ingestion is not affected.
                warn!(table = %name, error = %message, "background compaction failed");
            }
        }
    }
}

async fn compact_idle(
    settings: &AutoCompaction,
    name: &str,
    url: &Url,
    compression: Compression,
) -> Result<(), String> {
    let table = deltalake::open_table(url.clone())
        .await
        .map_err(|error| error.to_string())?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let partitions = idle_partitions(&table, name, settings.idle, settings.min_files, now_ms)
        .map_err(|error| error.to_string())?;
    for partition in partitions {
        let options = CompactOptions {
            target_size: settings.target_size,
            partitions: partition.clone(),
            sort_by: None,
            compression,
        };
        let summary = compact(&table, name, &options)
            .await
            .map_err(|error| error.to_string())?;
        if let Some(version) = summary.version {
            let partition: Vec<String> = partition
                .iter()
                .map(|(column, value)| format!("{column}={value}"))
                .collect();
            info!(
                table = %name,
                partition = %partition.join("/"),
                version,
                files_removed = summary.files_removed,
                files_added = summary.files_added,
                "compacted an idle partition"
            );
        }
    }
    Ok(())
}
