//! Checkpoints: a Parquet summary of the log that readers start from, so that opening a
//! table reads a bounded number of JSON commits however long the log grows. After each
//! checkpoint, log files older than the table's log retention are deleted.

use deltalake::Path;
use deltalake::checkpoints::cleanup_expired_logs_for;
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::table::config::TablePropertiesExt as _;
use tracing::{debug, info, warn};

use crate::table::LakeTable;

impl LakeTable {
    /// Writes a checkpoint of `version` when `checkpoint_interval` or more commits landed
    /// since the last checkpoint. Counting from the last checkpoint, and not by multiples of
    /// the interval, also covers commits of other writers (such as compaction) and a crash
    /// between a commit and its checkpoint. A failed checkpoint only slows readers down, so
    /// it is logged and not returned.
    pub(crate) async fn checkpoint_if_due(&self, version: u64) {
        let interval = self.settings.checkpoint_interval;
        if interval == 0 {
            return;
        }
        let since = match self.last_checkpoint().await {
            Some(last) => version.saturating_sub(last),
            // Version 0 is the empty table, so the first checkpoint comes after `interval`
            // appends.
            None => version,
        };
        if since < interval {
            return;
        }
        match deltalake::checkpoints::create_checkpoint(&self.table, None).await {
            Ok(()) => {
                debug!(table = %self.spec.name, version, "checkpoint written");
                self.clean_expired_log(version).await;
            }
            Err(error) => {
                warn!(table = %self.spec.name, version, error = %error, "checkpoint failed; the next commit tries again")
            }
        }
    }

    /// Writes the checkpoint that a crash or another writer left out, if one is due. Call it
    /// once from the writer that appends to the table, after opening it.
    pub async fn catch_up_checkpoint(&self) {
        if let Some(version) = self.table.version() {
            let before = self.last_checkpoint().await;
            self.checkpoint_if_due(version).await;
            let after = self.last_checkpoint().await;
            if after != before {
                info!(table = %self.spec.name, version, "wrote a checkpoint that was due");
            }
        }
    }

    /// Deletes commit and checkpoint files older than the table's `delta.logRetentionDuration`
    /// (30 days unless set), unless `delta.enableExpiredLogCleanup` is false.
    ///
    /// Every version committed within the retention stays readable: delta-rs keeps the newest
    /// checkpoint at or below the oldest such version and every file after it, and deletes
    /// only files both older than that checkpoint and older than the retention. Time travel
    /// to a version whose files are gone fails with the versions that remain.
    async fn clean_expired_log(&self, version: u64) {
        let Ok(snapshot) = self.table.snapshot() else {
            return;
        };
        let config = snapshot.table_config();
        if !config.enable_expired_log_cleanup() {
            return;
        }
        let retention = config.log_retention_duration();
        let cutoff = chrono::Utc::now().timestamp_millis()
            - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);

        let log_store = self.table.log_store();
        match cleanup_expired_logs_for(version, log_store.as_ref(), cutoff, None).await {
            Ok(0) => {}
            Ok(deleted) => info!(
                table = %self.spec.name,
                version,
                deleted,
                retention_s = retention.as_secs(),
                "deleted expired log files"
            ),
            Err(error) => {
                warn!(table = %self.spec.name, version, error = %error, "log cleanup failed; the next checkpoint tries again")
            }
        }
    }

    /// Returns the version of the newest checkpoint, from `_delta_log/_last_checkpoint`.
    async fn last_checkpoint(&self) -> Option<u64> {
        let store = self.table.log_store().object_store(None);
        let bytes = store
            .get(&Path::from("_delta_log/_last_checkpoint"))
            .await
            .ok()?
            .bytes()
            .await
            .ok()?;
        let pointer: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        pointer.get("version")?.as_u64()
    }
}
