//! The `eventlake` binary.

use std::process::ExitCode;

fn main() -> ExitCode {
    eventlake_cli::run()
}
