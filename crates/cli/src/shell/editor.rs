//! Line editing for the interactive shell: completion of keywords, tables, columns and
//! backslash commands.

use std::sync::{Arc, PoisonError, RwLock};

use rustyline::Helper;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;

/// SQL words offered by completion, besides table and column names.
const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "ORDER",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "JOIN",
    "LEFT",
    "RIGHT",
    "FULL",
    "INNER",
    "OUTER",
    "CROSS",
    "ON",
    "USING",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "ILIKE",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "DISTINCT",
    "UNION",
    "ALL",
    "EXCEPT",
    "INTERSECT",
    "WITH",
    "DESC",
    "ASC",
    "EXPLAIN",
    "ANALYZE",
    "DESCRIBE",
    "SHOW",
    "TABLES",
    "COLUMNS",
    "CAST",
    "INTERVAL",
    "TIMESTAMP",
    "DATE",
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "approx_distinct",
    "approx_percentile_cont",
    "date_trunc",
    "date_bin",
    "now",
    "to_timestamp",
    "unnest",
    "coalesce",
    "round",
];

/// Backslash commands offered by completion.
const COMMANDS: &[&str] = &[
    "\\d",
    "\\history",
    "\\format",
    "\\maxrows",
    "\\timing",
    "\\help",
    "\\q",
];

/// Output formats offered after `\format`.
const FORMATS: &[&str] = &["table", "csv", "tsv", "json", "ndjson"];

/// Keywords after which a table name comes.
const BEFORE_TABLE: &[&str] = &["from", "join", "into", "table", "\\d", "\\history"];

/// Names that completion offers; the shell refreshes them.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    names: Arc<RwLock<Names>>,
}

#[derive(Debug, Default)]
struct Names {
    tables: Vec<String>,
    columns: Vec<String>,
}

impl Vocabulary {
    /// Replaces the table and column names.
    pub fn set_names(&self, tables: Vec<String>, columns: Vec<String>) {
        *self.names.write().unwrap_or_else(PoisonError::into_inner) = Names { tables, columns };
    }
}

/// The rustyline helper of the shell.
pub struct ShellHelper {
    pub vocabulary: Vocabulary,
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _context: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before
            .char_indices()
            .rev()
            .find(|(_, character)| !is_word_character(*character))
            .map_or(0, |(index, character)| index + character.len_utf8());
        let word = &before[start..];
        if word.is_empty() && !before.ends_with(' ') {
            return Ok((start, Vec::new()));
        }

        let lower_case = word.chars().all(|c| !c.is_ascii_uppercase());
        let names = self
            .vocabulary
            .names
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let keywords = KEYWORDS.iter().map(|keyword| {
            if lower_case {
                keyword.to_ascii_lowercase()
            } else {
                keyword.to_string()
            }
        });
        // The word before decides what fits: a table after FROM, a format after \format.
        let previous = before[..start]
            .split_whitespace()
            .next_back()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut candidates: Vec<String> = if word.starts_with('\\') {
            COMMANDS.iter().map(|command| command.to_string()).collect()
        } else if previous == "\\format" {
            FORMATS.iter().map(|format| format.to_string()).collect()
        } else if BEFORE_TABLE.contains(&previous.as_str()) {
            names.tables.clone()
        } else {
            names
                .columns
                .iter()
                .chain(&names.tables)
                .cloned()
                .chain(keywords)
                .collect()
        };
        candidates.retain(|candidate| {
            candidate != word
                && candidate.is_char_boundary(word.len())
                && candidate[..word.len()].eq_ignore_ascii_case(word)
        });
        candidates.sort();
        candidates.dedup();
        let pairs = candidates
            .into_iter()
            .map(|candidate| Pair {
                display: candidate.clone(),
                replacement: candidate,
            })
            .collect();
        Ok((start, pairs))
    }
}

fn is_word_character(character: char) -> bool {
    character.is_alphanumeric() || matches!(character, '_' | '.' | '\\')
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}

#[cfg(test)]
mod tests {
    use rustyline::history::DefaultHistory;

    use super::*;

    fn complete(line: &str, names: &[&str]) -> Vec<String> {
        let helper = ShellHelper {
            vocabulary: Vocabulary::default(),
        };
        let (tables, columns): (Vec<&str>, Vec<&str>) =
            names.iter().partition(|name| !name.contains("data"));
        helper.vocabulary.set_names(
            tables.iter().map(|name| name.to_string()).collect(),
            columns.iter().map(|name| name.to_string()).collect(),
        );
        let history = DefaultHistory::new();
        let context = rustyline::Context::new(&history);
        let (_, pairs) = helper
            .complete(line, line.len(), &context)
            .expect("completes");
        pairs.into_iter().map(|pair| pair.replacement).collect()
    }

    #[test]
    fn completes_tables_columns_keywords_and_commands() {
        // Names with "data" in them are columns here, the others tables.
        let names = ["events", "event_data.temperature", "rejects"];
        assert_eq!(complete("SELECT * FROM ev", &names), ["events"]);
        assert_eq!(complete("SELECT * FROM ", &names), ["events", "rejects"]);
        assert_eq!(complete("\\d r", &names), ["rejects"]);
        assert_eq!(
            complete("SELECT ev", &names),
            ["event_data.temperature", "events"]
        );
        assert_eq!(
            complete("SELECT event_data.te", &names),
            ["event_data.temperature"]
        );
        assert_eq!(complete("sel", &names), ["select"]);
        assert_eq!(complete("SEL", &names), ["SELECT"]);
        assert_eq!(complete("\\hi", &names), ["\\history"]);
        assert_eq!(complete("\\format j", &names), ["json"]);
    }
}
