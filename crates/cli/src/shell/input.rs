//! Splits the shell's input lines into SQL scripts and backslash commands.
//!
//! A statement may span lines and ends at a `;` outside quotes and comments. A line that
//! starts with `\` while no statement is pending is a shell command.

use deltalake::datafusion::sql::sqlparser::dialect::GenericDialect;
use deltalake::datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

/// One unit of work read from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// One or more complete SQL statements.
    Sql(String),
    /// A backslash command, without the backslash.
    Command(String),
}

/// Collects lines until they form a complete statement.
#[derive(Debug, Default)]
pub struct InputBuffer {
    pending: String,
}

impl InputBuffer {
    /// Whether part of a statement is waiting for more lines.
    pub fn is_pending(&self) -> bool {
        !self.pending.trim().is_empty()
    }

    /// Drops the pending lines, as Ctrl-C at the prompt does.
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    /// Adds one line; returns the input it completes, if any.
    pub fn push_line(&mut self, line: &str) -> Option<Input> {
        if !self.is_pending() {
            let trimmed = line.trim();
            if let Some(command) = trimmed.strip_prefix('\\') {
                return Some(Input::Command(command.trim().to_string()));
            }
            // Bare words that users of other shells type first.
            let word = trimmed.trim_end_matches(';').trim().to_ascii_lowercase();
            if matches!(word.as_str(), "help" | "quit" | "exit") {
                return Some(Input::Command(word));
            }
        }
        self.pending.push_str(line);
        self.pending.push('\n');
        if ends_statement(&self.pending) {
            return Some(Input::Sql(std::mem::take(&mut self.pending)));
        }
        None
    }

    /// Returns what is left at the end of the input: a last statement without its `;`.
    pub fn finish(&mut self) -> Option<Input> {
        self.is_pending()
            .then(|| Input::Sql(std::mem::take(&mut self.pending)))
    }
}

/// Whether the text's last token, ignoring whitespace and comments, is a `;`. Text that does
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

    #[test]
    fn statements_end_at_a_semicolon_outside_quotes_and_comments() {
        assert_eq!(
            feed(&["SELECT 1", "FROM t;", "SELECT ';'", "-- ;", "/* ; */ ;"]),
            vec![
                Input::Sql("SELECT 1\nFROM t;\n".to_string()),
                Input::Sql("SELECT ';'\n-- ;\n/* ; */ ;\n".to_string()),
            ]
        );
        assert_eq!(
            feed(&["SELECT 'it''s", "two lines';"]),
            vec![Input::Sql("SELECT 'it''s\ntwo lines';\n".to_string())]
        );
    }

    #[test]
    fn backslash_lines_are_commands_between_statements() {
        assert_eq!(
            feed(&["\\d events", "SELECT 1", "\\d", ";", "quit"]),
            vec![
                Input::Command("d events".to_string()),
                Input::Sql("SELECT 1\n\\d\n;\n".to_string()),
                Input::Command("quit".to_string()),
            ]
        );
    }

    #[test]
    fn a_last_statement_without_semicolon_still_runs() {
        assert_eq!(
            feed(&["SELECT 1"]),
            vec![Input::Sql("SELECT 1\n".to_string())]
        );
        assert_eq!(feed(&["  ", ""]), vec![]);
    }
}
