//! Splits the shell's input lines into SQL scripts and backslash commands.
//!
//! A statement may span lines and ends at a `;` outside quotes and comments. A line that
//! starts with `\` is a shell command, even while a statement is pending, as in psql.

use deltalake::datafusion::sql::sqlparser::dialect::GenericDialect;
use deltalake::datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

/// One unit of work read from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// One or more complete SQL statements, with the input line they start on (from 1).
    Sql { text: String, line: usize },
    /// A backslash command without the backslash, with its input line (from 1).
    Command { text: String, line: usize },
}

/// Collects lines until they form a complete statement.
#[derive(Debug, Default)]
pub struct InputBuffer {
    pending: String,
    /// Lines read so far.
    lines: usize,
    /// Line on which the pending statement starts.
    first_line: usize,
}

impl InputBuffer {
    /// Returns whether part of a statement is waiting for more lines.
    pub fn is_pending(&self) -> bool {
        !self.pending.trim().is_empty()
    }

    /// Drops the pending lines, as Ctrl-C at the prompt does.
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    /// Adds one line; returns the input it completes, if any.
    pub fn push_line(&mut self, line: &str) -> Option<Input> {
        self.lines += 1;
        let trimmed = line.trim();
        if let Some(command) = trimmed.strip_prefix('\\') {
            return Some(Input::Command {
                text: command.trim().to_string(),
                line: self.lines,
            });
        }
        if !self.is_pending() {
            // Bare words that users of other shells type first.
            let word = trimmed.trim_end_matches(';').trim().to_ascii_lowercase();
            if matches!(word.as_str(), "help" | "quit" | "exit") {
                return Some(Input::Command {
                    text: word,
                    line: self.lines,
                });
            }
            if !trimmed.is_empty() && self.pending.trim().is_empty() {
                self.pending.clear();
                self.first_line = self.lines;
            }
        }
        self.pending.push_str(line);
        self.pending.push('\n');
        if ends_statement(&self.pending) {
            return self.take();
        }
        None
    }

    /// Returns what is left at the end of the input: a last statement without its `;`.
    pub fn finish(&mut self) -> Option<Input> {
        if self.is_pending() { self.take() } else { None }
    }

    fn take(&mut self) -> Option<Input> {
        Some(Input::Sql {
            text: std::mem::take(&mut self.pending),
            line: self.first_line,
        })
    }
}

/// Returns whether the text's last token, ignoring whitespace and comments, is a `;`. Text that does
/// not tokenize (an open quote or block comment) is incomplete.
fn ends_statement(text: &str) -> bool {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, text).tokenize() else {
        return false;
    };
    tokens
        .iter()
        .rev()
        .find(|token| {
            !matches!(
                token,
                Token::Whitespace(
                    Whitespace::Space
                        | Whitespace::Newline
                        | Whitespace::Tab
                        | Whitespace::SingleLineComment { .. }
                        | Whitespace::MultiLineComment(_)
                )
            )
        })
        .is_some_and(|token| *token == Token::SemiColon)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(lines: &[&str]) -> Vec<Input> {
        let mut buffer = InputBuffer::default();
        let mut inputs: Vec<Input> = lines
            .iter()
            .filter_map(|line| buffer.push_line(line))
            .collect();
        inputs.extend(buffer.finish());
        inputs
    }

    fn sql(text: &str, line: usize) -> Input {
        Input::Sql {
            text: text.to_string(),
            line,
        }
    }

    fn command(text: &str, line: usize) -> Input {
        Input::Command {
            text: text.to_string(),
            line,
        }
    }

    #[test]
    fn semicolon_outside_quotes_ends_statement() {
        assert_eq!(
            feed(&["SELECT 1", "FROM t;", "SELECT ';'", "-- ;", "/* ; */ ;"]),
            vec![
                sql("SELECT 1\nFROM t;\n", 1),
                sql("SELECT ';'\n-- ;\n/* ; */ ;\n", 3),
            ]
        );
        assert_eq!(
            feed(&["", "SELECT 'it''s", "two lines';"]),
            vec![sql("SELECT 'it''s\ntwo lines';\n", 2)]
        );
    }

    #[test]
    fn backslash_lines_are_commands_even_inside_a_statement() {
        assert_eq!(
            feed(&["\\d events", "SELECT 1", "\\d", ";", "quit"]),
            vec![
                command("d events", 1),
                command("d", 3),
                sql("SELECT 1\n;\n", 2),
                command("quit", 5),
            ]
        );
        assert_eq!(
            feed(&["-- a report", "\\timing off", "SELECT 1;"]),
            vec![command("timing off", 2), sql("-- a report\nSELECT 1;\n", 1),]
        );
    }

    #[test]
    fn last_statement_needs_no_semicolon() {
        assert_eq!(feed(&["SELECT 1"]), vec![sql("SELECT 1\n", 1)]);
        assert_eq!(feed(&["  ", ""]), vec![]);
    }
}
