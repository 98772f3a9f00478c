//! Standard output and standard error for the shell. A closed pipe ends the output quietly,
//! and messages to a closed standard error are dropped instead of panicking.

use std::io::{ErrorKind, Write};

/// Outcome of printing a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Printed {
    Written,
    /// The reader went away (as `| head` does); the shell stops without an error.
    PipeClosed,
}

/// Standard output that remembers a broken pipe, whichever writer hit it.
#[derive(Default)]
pub struct Stdout {
    pipe_closed: bool,
}

/// Returns whether a write error means that the reader went away.
pub fn is_closed_pipe(error: &std::io::Error) -> bool {
    error.kind() == ErrorKind::BrokenPipe
}

impl Stdout {
    /// Flushes, and turns the result of writing into what the shell does next.
    pub fn finish(mut self, written: std::io::Result<()>) -> Result<Printed, String> {
        if let Err(error) = &written
            && (is_closed_pipe(error) || error.to_string().contains("Broken pipe"))
        {
            // Writers that wrap I/O errors (CSV, JSON) lose the error kind on the way.
            self.pipe_closed = true;
        }
        let flushed = written.and_then(|()| self.flush());
        match flushed {
            _ if self.pipe_closed => Ok(Printed::PipeClosed),
            Ok(()) => Ok(Printed::Written),
            Err(error) => Err(format!("cannot write the result: {error}")),
        }
    }

    fn check<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(error) = &result
            && is_closed_pipe(error)
        {
            self.pipe_closed = true;
        }
        result
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = std::io::stdout().lock().write(buf);
        self.check(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = std::io::stdout().lock().flush();
        self.check(result)
    }
}

/// Prints `error: MESSAGE` on standard error.
pub fn error(message: &str) {
    let _ = writeln!(std::io::stderr(), "error: {message}");
}

/// Prints `warning: MESSAGE` on standard error.
pub fn warn(message: &str) {
    let _ = writeln!(std::io::stderr(), "warning: {message}");
}

/// Joins a multi-line message into one line and drops a backtrace that a library appended
/// (as some do when `RUST_BACKTRACE` is set), so that every error is one line.
pub fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Backtrace") && !line.starts_with("stack backtrace"))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
