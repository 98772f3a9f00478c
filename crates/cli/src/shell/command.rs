//! The shell's backslash commands.

use std::str::FromStr;

use clap::ValueEnum;

use crate::args::OutputFormat;

/// Commits listed by `\history` when no count is given.
pub const DEFAULT_HISTORY: usize = 20;

/// A parsed backslash command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellCommand {
    ListTables,
    Describe(String),
    History { table: String, limit: usize },
    Timing(Option<bool>),
    Format(OutputFormat),
    MaxRows(usize),
    Help,
    Quit,
}

impl FromStr for ShellCommand {
    type Err = String;

    /// Parses the text after the backslash; the error names the command and the fix.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut words = text.split_whitespace();
        let name = words.next().unwrap_or_default();
        let arguments: Vec<&str> = words.collect();
        let command = match (name, arguments.as_slice()) {
            ("d" | "dt" | "tables", []) => Self::ListTables,
            ("d" | "describe", [table]) => Self::Describe(table.to_string()),
            ("history", [table]) => Self::History {
                table: table.to_string(),
                limit: DEFAULT_HISTORY,
            },
            ("history", [table, limit]) => Self::History {
                table: table.to_string(),
                limit: limit.parse().map_err(|_| {
                    format!("\\history {table} {limit}: the count must be a whole number, as in \\history {table} 50")
                })?,
            },
            ("timing", []) => Self::Timing(None),
            ("timing", [switch]) => Self::Timing(Some(parse_switch(switch)?)),
            ("format" | "pset", [format]) => Self::Format(
                OutputFormat::from_str(format, true).map_err(|_| {
                    format!("\\format {format}: unknown format; use table, csv, tsv, json or ndjson")
                })?,
            ),
            ("maxrows", [rows]) => Self::MaxRows(rows.parse().map_err(|_| {
                format!("\\maxrows {rows}: give a number of rows, or 0 to print all")
            })?),
            ("help" | "?" | "h", []) => Self::Help,
            ("q" | "quit" | "exit", []) => Self::Quit,
            _ => {
                return Err(format!(
                    "\\{}: unknown command or wrong arguments; \\help lists the commands",
                    text.trim()
                ));
            }
        };
        Ok(command)
    }
}

fn parse_switch(word: &str) -> Result<bool, String> {
    match word.to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!(
            "\\timing {word}: write \\timing on or \\timing off"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command() {
        let parse = |text: &str| text.parse::<ShellCommand>();
        assert_eq!(parse("d"), Ok(ShellCommand::ListTables));
        assert_eq!(
            parse("d events"),
            Ok(ShellCommand::Describe("events".into()))
        );
        assert_eq!(
            parse("history rejects 5"),
            Ok(ShellCommand::History {
                table: "rejects".into(),
                limit: 5
            })
        );
        assert_eq!(parse("timing off"), Ok(ShellCommand::Timing(Some(false))));
        assert_eq!(
            parse("format CSV"),
            Ok(ShellCommand::Format(OutputFormat::Csv))
        );
        assert_eq!(parse("maxrows 0"), Ok(ShellCommand::MaxRows(0)));
        assert_eq!(parse("?"), Ok(ShellCommand::Help));
        assert_eq!(parse("q"), Ok(ShellCommand::Quit));
    }

    #[test]
    fn errors_name_the_input_and_the_fix() {
        let error = "format xml"
            .parse::<ShellCommand>()
            .expect_err("unknown format");
        assert!(error.contains("xml") && error.contains("ndjson"), "{error}");
        let error = "frobnicate"
            .parse::<ShellCommand>()
            .expect_err("unknown command");
        assert!(
            error.contains("\\frobnicate") && error.contains("\\help"),
            "{error}"
        );
        let error = "history events many"
            .parse::<ShellCommand>()
            .expect_err("bad count");
        assert!(error.contains("many"), "{error}");
    }
}
