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
    /// `limit` is `None` for every commit.
    History {
        table: String,
        limit: Option<usize>,
    },
    Timing(Option<bool>),
    /// `None` shows the current format.
    Format(Option<OutputFormat>),
    MaxRows(usize),
    Help,
    Quit,
}

impl FromStr for ShellCommand {
    type Err = String;

    /// Parses the text after the backslash; the error names the command and the fix.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // A `;` out of SQL habit and double quotes around a table name are both accepted.
        let text = text.trim().trim_end_matches(';');
        let mut words = text.split_whitespace().map(|word| word.trim_matches('"'));
        let name = words.next().unwrap_or_default();
        let arguments: Vec<&str> = words.collect();
        let command = match (name, arguments.as_slice()) {
            ("d" | "dt" | "tables", []) => Self::ListTables,
            ("d" | "describe", [table]) => Self::Describe(table.to_string()),
            ("history", []) => {
                return Err("\\history needs a table name, as in \\history events 10".to_string());
            }
            ("history", [table]) => Self::History {
                table: table.to_string(),
                limit: Some(DEFAULT_HISTORY),
            },
            ("history", [table, limit]) => {
                let limit: usize = limit.parse().map_err(|_| {
                    format!("\\history {table} {limit}: the count must be a whole number, as in \\history {table} 50, or 0 for all")
                })?;
                Self::History {
                    table: table.to_string(),
                    limit: (limit > 0).then_some(limit),
                }
            }
            ("timing", []) => Self::Timing(None),
            ("timing", [switch]) => Self::Timing(Some(parse_switch(switch)?)),
            ("format" | "pset", []) => Self::Format(None),
            ("format" | "pset", [format]) => Self::Format(Some(
                OutputFormat::from_str(format, true).map_err(|_| {
                    format!(
                        "\\format {format}: unknown format; use table, csv, tsv, json or ndjson"
                    )
                })?,
            )),
            ("maxrows", []) => {
                return Err(
                    "\\maxrows needs a number of rows, as in \\maxrows 100, or 0 for all"
                        .to_string(),
                );
            }
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
                limit: Some(5)
            })
        );
        assert_eq!(
            parse("history \"events\" 0;"),
            Ok(ShellCommand::History {
                table: "events".into(),
                limit: None
            })
        );
        assert_eq!(
            parse("d \"events@v5\""),
            Ok(ShellCommand::Describe("events@v5".into()))
        );
        assert_eq!(parse("format"), Ok(ShellCommand::Format(None)));
        assert_eq!(parse("timing off"), Ok(ShellCommand::Timing(Some(false))));
        assert_eq!(
            parse("format CSV"),
            Ok(ShellCommand::Format(Some(OutputFormat::Csv)))
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
        assert!(error.contains("xml"), "{error}");
        assert!(error.contains("ndjson"), "{error}");
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
