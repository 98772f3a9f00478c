//! Log output through `tracing`, to standard error.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::args::LogFormat;

/// The ingestor's default: `info` for eventlake, `warn` for libraries.
pub const INGEST_FILTER: &str = "warn,deltalake_core::writer::stats=error,eventlake=info,eventlake_ingest=info,eventlake_lake=info,eventlake_cli=info";

/// The SQL shell's default: warnings of eventlake only. The shell reports every failed
/// statement itself, so library logs of the same failure would only repeat it.
pub const SHELL_FILTER: &str = "off,eventlake=warn,eventlake_query=warn,eventlake_cli=warn";

/// The demo's default: warnings of eventlake only, so that the shell's screen stays readable
/// while the ingestor runs beside it.
pub const DEMO_FILTER: &str = "off,eventlake=warn,eventlake_query=warn,eventlake_cli=warn,eventlake_ingest=warn,eventlake_lake=warn";

/// Installs the log subscriber. `EVENTLAKE_LOG` (or `RUST_LOG`) sets the filter, such as
/// `debug` or `eventlake_lake=debug`; `default_filter` applies otherwise.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter = std::env::var("EVENTLAKE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default_filter.to_string());
    let filter = match check_levels(&filter)
        .and_then(|()| EnvFilter::try_new(&filter).map_err(|error| error.to_string()))
    {
        Ok(filter) => filter,
        Err(error) => {
            eprintln!(
                "warning: invalid log filter '{filter}' in EVENTLAKE_LOG ({error}); using the default"
            );
            EnvFilter::new(default_filter)
        }
    };

    // Colours only for a terminal, so that log files stay plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Rejects bare words that are not levels. `tracing` reads a bare word as a target name, so a
/// typo such as `warning` would silently turn every log line off.
fn check_levels(filter: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    for directive in filter
        .split(',')
        .map(str::trim)
        .filter(|directive| !directive.is_empty())
    {
        if !directive.contains('=') && !LEVELS.contains(&directive.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "'{directive}' is not a level; use trace, debug, info, warn, error or off, or target=level"
            ));
        }
    }
    Ok(())
}
