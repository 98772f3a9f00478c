//! The `eventlake` command line: argument parsing, configuration, logging and the
//! subcommands. `main.rs` only calls [`run`].

mod args;
mod backfill_command;
mod demo;
mod error;
mod ingest_command;
mod logging;
mod maintain_command;
mod produce_command;
mod settings;
mod shell;
mod units;

use std::io::Write;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};

pub use args::Cli;
pub use demo::SUGGESTED_QUERIES;
pub use error::CliError;

/// Parses the command line, runs the subcommand and returns the process exit code: 0 on
/// success, 2 for a bad flag or configuration, 1 for a failure while running.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return report_usage_error(error),
    };
    let default_filter = match cli.command {
        args::Command::Ingest(_) => logging::INGEST_FILTER,
        args::Command::Sql(_) => logging::SHELL_FILTER,
        args::Command::Demo(_) => logging::DEMO_FILTER,
        args::Command::Optimize(_)
        | args::Command::Vacuum(_)
        | args::Command::Produce(_)
        | args::Command::Backfill(_) => logging::INGEST_FILTER,
    };
    logging::init(cli.log_format, default_filter);
    install_panic_hook();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: cannot start the async runtime: {error}"
            );
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            args::Command::Ingest(ingest_args) => ingest_command::run(ingest_args).await,
            args::Command::Sql(sql_args) => shell::run(sql_args).await,
            args::Command::Optimize(optimize_args) => {
                maintain_command::optimize(optimize_args).await
            }
            args::Command::Vacuum(vacuum_args) => {
                maintain_command::vacuum_tables(vacuum_args).await
            }
            args::Command::Produce(produce_args) => produce_command::run(produce_args).await,
            args::Command::Backfill(backfill_args) => backfill_command::run(backfill_args).await,
            args::Command::Demo(demo_args) => demo::run(demo_args).await,
        }
    });

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {error}");
            error.exit_code()
        }
    }
}

/// Prints clap's message on one line, or help and version as they are.
fn report_usage_error(error: clap::Error) -> ExitCode {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    let rendered = error.to_string();
    let mut message: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    // clap's suggestion of a similar flag or value comes after a blank line.
    message.extend(
        rendered
            .lines()
            .map(str::trim)
            .filter(|line| line.starts_with("tip:")),
    );
    let origin = environment_origin(&error)
        .map(|variable| format!(" (the value comes from the environment variable {variable})"))
        .unwrap_or_default();
    let command = Cli::command();
    let help = std::env::args()
        .nth(1)
        .filter(|name| command.find_subcommand(name).is_some())
        .map_or_else(
            || "eventlake --help".to_string(),
            |name| format!("eventlake {name} --help"),
        );
    let _ = writeln!(
        std::io::stderr(),
        "{}{origin}; run '{help}' for usage",
        message.join(" ")
    );
    ExitCode::from(2)
}

/// Returns the environment variable behind an invalid value, when the flag itself was not
/// given, so that the user knows where to look.
fn environment_origin(error: &clap::Error) -> Option<String> {
    let Some(ContextValue::String(argument)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = argument
        .split_whitespace()
        .next()?
        .trim_start_matches('-')
        .to_string();
    let flag_given = std::env::args()
        .any(|given| given == format!("--{long}") || given.starts_with(&format!("--{long}=")));
    if flag_given {
        return None;
    }

    let command = Cli::command();
    let mut commands = vec![&command];
    commands.extend(command.get_subcommands());
    let variable = commands
        .iter()
        .flat_map(|command| command.get_arguments())
        .find(|candidate| candidate.get_long() == Some(long.as_str()))?
        .get_env()?
        .to_str()?
        .to_string();
    std::env::var_os(&variable).is_some().then_some(variable)
}

/// Reports one known panic as a warning, and every other panic as Rust does. object_store's
/// `BufWriter::abort` panics when an upload failed at completion, as on a full disk, and
/// delta-rs catches that panic and returns the write's error, so the panic is no crash.
fn install_panic_hook() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let file = info
            .location()
            .map(|location| location.file())
            .unwrap_or("");
        let message = info.payload().downcast_ref::<&str>().copied().unwrap_or("");
        if is_caught_upload_abort(file, message) {
            tracing::warn!(
                "a data file upload failed at completion and could not be aborted; the write's error follows"
            );
            return;
        }
        default_hook(info);
    }));
}

fn is_caught_upload_abort(file: &str, message: &str) -> bool {
    file.contains("object_store") && file.ends_with("buffered.rs") && message == "Already shut down"
}

#[cfg(test)]
mod tests {
    use super::is_caught_upload_abort;

    #[test]
    fn only_the_caught_upload_abort_is_quiet() {
        let file = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/object_store-0.13.2/src/buffered.rs";
        assert!(is_caught_upload_abort(file, "Already shut down"));
        assert!(!is_caught_upload_abort(file, "index out of bounds"));
        assert!(!is_caught_upload_abort(
            "crates/cli/src/lib.rs",
            "Already shut down"
        ));
    }
}
