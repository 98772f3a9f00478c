//! `eventlake ingest`: runs the ingestor until a signal or, with `--stop-at-end`, until
//! caught up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::args::IngestArgs;
use crate::error::CliError;
use crate::settings::ingest_config;

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

/// Minimum time between two signals for the second one to force an exit.
const REPEAT_SIGNAL_GAP: Duration = Duration::from_secs(2);

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

/// Sets `shutdown` on SIGINT or SIGTERM, so the ingestor flushes, commits and exits 0.
///
/// A second signal at least two seconds later exits at once with 128 + the signal number.
/// Nothing is lost then, because uncommitted records are read again after a restart. Signals
/// closer together count as one, because a supervisor such as `timeout` can deliver one
/// signal twice.
fn spawn_signal_handler(shutdown: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let mut terminate = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(signal) => signal,
            Err(error) => {
                warn!(error = %error, "cannot listen for SIGTERM; only Ctrl-C stops the ingestor cleanly");
                return;
            }
        };
        let mut first_signal: Option<Instant> = None;
        loop {
            let signal_number = tokio::select! {
                _ = tokio::signal::ctrl_c() => SIGINT,
                _ = terminate.recv() => SIGTERM,
            };
            match first_signal {
                None => {
                    first_signal = Some(Instant::now());
                    shutdown.store(true, Ordering::Relaxed);
                    info!("signal received; flushing and committing before exit");
                }
                Some(at) if at.elapsed() >= REPEAT_SIGNAL_GAP => {
                    warn!("second signal; exiting without flushing");
                    std::process::exit(128 + signal_number);
                }
                Some(_) => {}
            }
        }
    });
}
