//! `eventlake ingest`: runs the ingestor until a signal or, with `--stop-at-end`, until
//! caught up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{info, warn};

use crate::args::IngestArgs;
use crate::error::CliError;
use crate::settings::ingest_config;

pub async fn run(args: IngestArgs) -> Result<(), CliError> {
    let config = ingest_config(args)?;
    let shutdown = Arc::new(AtomicBool::new(false));
    spawn_signal_handler(shutdown.clone());

    let summary = eventlake_ingest::run(config, shutdown).await?;
    info!(
        records = summary.records,
        events = summary.events,
        rejects = summary.rejects,
        flushes = summary.flushes,
        "done"
    );
    Ok(())
}

/// Sets `shutdown` on SIGINT or SIGTERM, so the ingestor flushes, commits and exits 0. A
/// second signal exits at once; nothing is lost, because uncommitted records are read again.
fn spawn_signal_handler(shutdown: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                warn!(error = %error, "cannot listen for SIGTERM; only Ctrl-C stops the ingestor cleanly");
                return;
            }
        };
        for _ in 0..2 {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            if shutdown.swap(true, Ordering::Relaxed) {
                warn!("second signal; exiting without flushing");
                std::process::exit(130);
            }
            info!("signal received; flushing and committing before exit");
        }
    });
}
