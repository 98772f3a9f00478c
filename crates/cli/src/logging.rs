//! Log output through `tracing`, to standard error.

use tracing_subscriber::EnvFilter;

use crate::args::LogFormat;

const DEFAULT_FILTER: &str = "warn,deltalake_core::writer::stats=error,eventlake=info,eventlake_ingest=info,eventlake_lake=info,eventlake_cli=info";

/// Installs the log subscriber. `EVENTLAKE_LOG` (or `RUST_LOG`) sets the filter, such as
/// `debug` or `eventlake_lake=debug`. The default is `info` for eventlake and `warn` for
/// libraries, less delta-rs's per-file warning that binary columns get no statistics.
pub fn init(format: LogFormat) {
    let filter = std::env::var("EVENTLAKE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| DEFAULT_FILTER.to_string());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|error| {
        eprintln!("warning: invalid log filter '{filter}' ({error}); using 'info'");
        EnvFilter::new("info")
    });

    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
