//! `eventlake sql`: the SQL shell over the lake. It runs statements and backslash commands
//! from `-c`, `-f` or standard input, or interactively on a terminal with line editing,
//! history and completion.

mod command;
mod editor;
mod help;
mod input;
mod interrupt;
mod output;
mod render;
mod tables;

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use eventlake_query::{Access, LakeSession, QueryError, TableDetails};
use futures::StreamExt;
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{CompletionType, Config, Editor};

use crate::args::{OutputFormat, SqlArgs};
use crate::error::CliError;
use command::ShellCommand;
use editor::{ShellHelper, Vocabulary};
pub use help::HELP;
use input::{Input, InputBuffer};
use interrupt::Interrupts;
use output::{Printed, Stdout};
pub use output::{one_line, warn};
use render::{StreamWriter, View};

/// Rows printed per result in the interactive shell unless `--max-rows` sets another limit.
const INTERACTIVE_MAX_ROWS: usize = 40;

/// A message from the query task to the shell: the columns first, then the rows as they come.
enum Part {
    Columns(SchemaRef),
    Rows(RecordBatch),
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether the shell goes on after an input.
enum Flow {
    Continue,
    Quit,
}

pub async fn run(args: SqlArgs) -> Result<(), CliError> {
    let access = if args.allow_writes {
        Access::ReadWrite
    } else {
        Access::ReadOnly
    };
    let session = LakeSession::open(Path::new(&args.lake), access)
        .map_err(|error| CliError::Config(error.to_string()))?;
    check_lake(&session, &args.lake)?;
    let interactive =
        args.command.is_empty() && args.file.is_none() && std::io::stdin().is_terminal();
    let default_rows = if interactive { INTERACTIVE_MAX_ROWS } else { 0 };
    let max_rows = args.max_rows.unwrap_or(default_rows);
    let mut shell = Shell {
        session: Arc::new(session),
        view: View {
            format: args.format,
            max_rows: (max_rows > 0).then_some(max_rows),
            width: None,
        },
        timing: true,
        interrupts: None,
        vocabulary: Vocabulary::default(),
    };

    if interactive {
        shell.interrupts = Some(
            Interrupts::listen()
                .map_err(|error| CliError::Config(format!("cannot listen for Ctrl-C: {error}")))?,
        );
        return shell.interactive(args.history).await;
    }
    for (source, script) in scripts(&args)? {
        let mut buffer = InputBuffer::default();
        let mut inputs: Vec<Input> = script
            .lines()
            .filter_map(|line| buffer.push_line(line))
            .collect();
        inputs.extend(buffer.finish());
        for input in inputs {
            let line = match &input {
                Input::Sql { line, .. } | Input::Command { line, .. } => *line,
            };
            match shell.run_input(input).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Quit) => return Ok(()),
                Err(message) => {
                    let place = match &source {
                        Some(source) => format!("{source}, line {line}: "),
                        None => String::new(),
                    };
                    return Err(CliError::Query(format!("{place}{message}")));
                }
            }
        }
    }
    Ok(())
}

/// Refuses a table directory given as the lake, and warns about a lake without tables.
fn check_lake(session: &LakeSession, lake: &str) -> Result<(), CliError> {
    if Path::new(lake).join("_delta_log").is_dir() {
        let parent = Path::new(lake)
            .parent()
            .map_or_else(|| ".".to_string(), |parent| parent.display().to_string());
        return Err(CliError::Config(format!(
            "{lake} is a Delta table, not a lake root; pass the directory that holds the tables, as in --lake {parent}"
        )));
    }
    if session.table_names().is_ok_and(|names| names.is_empty()) {
        warn(&format!(
            "no Delta tables under {lake}; --lake takes the directory that holds the table directories (events, rejects, ...)"
        ));
    }
    Ok(())
}

/// Collects the scripts to run, each with the name that errors cite: each `-c` value, the `-f` file,
/// or standard input.
fn scripts(args: &SqlArgs) -> Result<Vec<(Option<String>, String)>, CliError> {
    if !args.command.is_empty() {
        return Ok(args
            .command
            .iter()
            .map(|command| (None, command.clone()))
            .collect());
    }
    if let Some(path) = &args.file {
        let script = std::fs::read_to_string(path).map_err(|error| {
            CliError::Config(format!("cannot read SQL file {}: {error}", path.display()))
        })?;
        return Ok(vec![(Some(path.display().to_string()), script)]);
    }
    let mut script = String::new();
    std::io::stdin()
        .lock()
        .read_to_string(&mut script)
        .map_err(|error| {
            CliError::Config(format!("cannot read SQL from standard input: {error}"))
        })?;
    if script.trim().is_empty() {
        return Err(CliError::Config(
            "no SQL given; pass -c \"SQL\", -f FILE, or SQL on standard input".to_string(),
        ));
    }
    Ok(vec![(Some("standard input".to_string()), script)])
}

struct Shell {
    session: Arc<LakeSession>,
    view: View,
    timing: bool,
    /// Set in the interactive shell, where Ctrl-C cancels the running query.
    interrupts: Option<Interrupts>,
    vocabulary: Vocabulary,
}

impl Shell {
    fn interactive_mode(&self) -> bool {
        self.interrupts.is_some()
    }

    /// Reads lines with editing until `\q` or Ctrl-D; Ctrl-C drops the pending statement at
    /// the prompt and cancels a running one.
    async fn interactive(&mut self, history: Option<PathBuf>) -> Result<(), CliError> {
        let setup_error =
            |error: ReadlineError| CliError::Config(format!("cannot set up line editing: {error}"));
        let config = Config::builder()
            .auto_add_history(false)
            .completion_type(CompletionType::List)
            .max_history_size(10_000)
            .map_err(setup_error)?
            .build();
        let mut editor: Editor<ShellHelper, DefaultHistory> =
            Editor::with_config(config).map_err(setup_error)?;
        editor.set_helper(Some(ShellHelper {
            vocabulary: self.vocabulary.clone(),
        }));
        let history = history.or_else(default_history_file);
        if let Some(path) = &history {
            // A missing file is the first run; other failures only cost the history.
            if let Err(error) = editor.load_history(path)
                && path.exists()
            {
                warn(&format!(
                    "cannot read the history file {}: {error}",
                    path.display()
                ));
            }
        }
        let mut known_tables = self.refresh_vocabulary().await;
        println!(
            "eventlake {} SQL shell over {} table(s): {}",
            env!("CARGO_PKG_VERSION"),
            known_tables.len(),
            known_tables.join(", ")
        );
        println!("End statements with ';'. \\help lists the commands, \\q or Ctrl-D quits.");

        let mut buffer = InputBuffer::default();
        let mut statement_lines: Vec<String> = Vec::new();
        loop {
            let prompt = if buffer.is_pending() {
                "       -> "
            } else {
                "eventlake> "
            };
            let line = tokio::task::block_in_place(|| editor.readline(prompt));
            let input = match line {
                Ok(line) => {
                    let input = buffer.push_line(&line);
                    if !line.trim().starts_with('\\') {
                        statement_lines.push(line.clone());
                    }
                    // History keeps whole statements, so that one recall brings all lines back.
                    let entry = match &input {
                        Some(Input::Command { .. }) => line.trim().to_string(),
                        Some(Input::Sql { .. }) => std::mem::take(&mut statement_lines)
                            .join("\n")
                            .trim()
                            .to_string(),
                        None => String::new(),
                    };
                    if !entry.is_empty() {
                        let _ = editor.add_history_entry(entry);
                        if let Some(path) = &history
                            && let Err(error) = editor.save_history(path)
                        {
                            warn(&format!(
                                "cannot write the history file {}: {error}",
                                path.display()
                            ));
                        }
                    }
                    input
                }
                Err(ReadlineError::Interrupted) => {
                    buffer.clear();
                    statement_lines.clear();
                    continue;
                }
                Err(ReadlineError::Eof) => break,
                Err(error) => {
                    warn(&format!("cannot read the input: {error}"));
                    break;
                }
            };
            let Some(input) = input else {
                continue;
            };
            self.view.width = editor.dimensions().map(|(columns, _)| usize::from(columns));
            match self.run_input(input).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Quit) => break,
                Err(message) => output::error(&message),
            }
            // Loading every schema takes a read of each table's log, so completion is only
            // refreshed when a table appears or goes.
            if self.session.table_names().unwrap_or_default() != known_tables {
                known_tables = self.refresh_vocabulary().await;
            }
        }
        Ok(())
    }

    /// Runs a script or a backslash command; the error is one line.
    async fn run_input(&mut self, input: Input) -> Result<Flow, String> {
        match input {
            Input::Sql { text, .. } => {
                let statements = self
                    .session
                    .parse(&text)
                    .map_err(|error| one_line(&error.to_string()))?;
                for statement in statements {
                    if self.run_statement(statement).await? == Printed::PipeClosed {
                        return Ok(Flow::Quit);
                    }
                }
                Ok(Flow::Continue)
            }
            Input::Command { text, .. } => {
                let command: ShellCommand = text.parse()?;
                self.run_command(command).await
            }
        }
    }

    /// Runs one statement and prints its result as it arrives. The statement runs in a task
    /// of its own, so Ctrl-C in the interactive shell is handled even while the query keeps
    /// every worker busy. Cancelling aborts the task, which drops the query.
    async fn run_statement(
        &self,
        statement: eventlake_query::Statement,
    ) -> Result<Printed, String> {
        let started = Instant::now();
        let limit = self.view.max_rows.unwrap_or(usize::MAX);
        let (sender, mut receiver) = tokio::sync::mpsc::channel(2);
        let session = Arc::clone(&self.session);
        let query = tokio::spawn(async move {
            let (schema, mut stream) = match session.execute_stream(statement).await {
                Ok(result) => result,
                Err(error) => {
                    let _ = sender.send(Err(one_line(&error.to_string()))).await;
                    return;
                }
            };
            if sender.send(Ok(Part::Columns(schema))).await.is_err() {
                return;
            }
            while let Some(batch) = stream.next().await {
                let part = batch
                    .map(Part::Rows)
                    .map_err(|error| one_line(&QueryError::Sql(error).to_string()));
                let failed = part.is_err();
                if sender.send(part).await.is_err() || failed {
                    return;
                }
            }
        });
        // Dropping the guard aborts the query on every way out of this function.
        let _guard = AbortOnDrop(query);

        let mut writer: Option<StreamWriter<Stdout>> = None;
        let mut columns = 0;
        let mut rows = 0;
        let mut more = false;
        loop {
            let part = match &self.interrupts {
                Some(interrupts) => tokio::select! {
                    part = receiver.recv() => part,
                    () = interrupts.wait() => return Err("query cancelled".to_string()),
                },
                None => receiver.recv().await,
            };
            match part {
                None => break,
                Some(Err(message)) => return Err(message),
                Some(Ok(Part::Columns(schema))) => {
                    columns = schema.fields().len();
                    let mut started_writer = StreamWriter::new(&self.view, Stdout::default());
                    if columns > 0 {
                        // The header goes out even when no row follows.
                        started_writer
                            .write(&RecordBatch::new_empty(schema))
                            .map_err(|error| error.to_string())?;
                    }
                    writer = Some(started_writer);
                }
                Some(Ok(Part::Rows(batch))) => {
                    if rows >= limit {
                        more = batch.num_rows() > 0;
                    } else {
                        let room = limit - rows;
                        more = batch.num_rows() > room;
                        let batch = batch.slice(0, batch.num_rows().min(room));
                        rows += batch.num_rows();
                        if let Some(writer) = writer.as_mut()
                            && let Err(error) = writer.write(&batch)
                        {
                            return Stdout::default()
                                .finish(Err(std::io::Error::other(error.to_string())));
                        }
                    }
                    if more {
                        break;
                    }
                }
            }
        }

        let Some(writer) = writer else {
            return Ok(Printed::Written);
        };
        let elapsed = Some(started.elapsed()).filter(|_| self.timing);
        let finished = writer
            .finish()
            .map_err(|error| std::io::Error::other(error.to_string()));
        let mut stdout = match finished {
            Ok(stdout) => stdout,
            Err(error) => return Stdout::default().finish(Err(error)),
        };
        let footer = if columns == 0 {
            // SET and other statements without a result print only that they ran.
            if self.interactive_mode() {
                render::write_done(&mut stdout, elapsed)
            } else {
                Ok(())
            }
        } else if self.view.format == OutputFormat::Table || self.interactive_mode() {
            render::write_footer(&mut stdout, rows, more, self.row_hint(), elapsed)
        } else {
            if more {
                warn(&format!(
                    "the result was cut at {rows} rows by --max-rows; --max-rows 0 prints all"
                ));
            }
            Ok(())
        };
        stdout.finish(footer)
    }

    fn row_hint(&self) -> &'static str {
        if self.interactive_mode() {
            "\\maxrows 0"
        } else {
            "--max-rows 0"
        }
    }

    async fn run_command(&mut self, command: ShellCommand) -> Result<Flow, String> {
        let query_error = |error: QueryError| one_line(&error.to_string());
        let arrow_error = |error: deltalake::arrow::error::ArrowError| error.to_string();
        let printed = match command {
            ShellCommand::ListTables => {
                let details = self.describe_all().await.map_err(query_error)?;
                let batch = tables::table_list(&details).map_err(arrow_error)?;
                self.print(&[batch], None)?
            }
            ShellCommand::Describe(name) => {
                let details = self.session.describe(&name).await.map_err(query_error)?;
                if self.view.format == OutputFormat::Table {
                    println!("{}", tables::describe_header(&details));
                }
                let batch = tables::column_list(&details).map_err(arrow_error)?;
                self.print(&[batch], None)?
            }
            ShellCommand::History { table, limit } => {
                let commits = self
                    .session
                    .history(&table, limit.unwrap_or(usize::MAX))
                    .await
                    .map_err(query_error)?;
                let batch = tables::commit_list(&commits).map_err(arrow_error)?;
                self.print(&[batch], None)?
            }
            ShellCommand::Timing(switch) => {
                self.timing = switch.unwrap_or(!self.timing);
                self.notice(&format!(
                    "Timing is {}.",
                    if self.timing { "on" } else { "off" }
                ));
                Printed::Written
            }
            ShellCommand::Format(None) => {
                self.notice(&format!(
                    "Output format is {}; \\format table, csv, tsv, json or ndjson changes it.",
                    format_name(self.view.format)
                ));
                Printed::Written
            }
            ShellCommand::Format(Some(format)) => {
                self.view.format = format;
                self.notice(&format!("Output format is {}.", format_name(format)));
                Printed::Written
            }
            ShellCommand::MaxRows(rows) => {
                self.view.max_rows = (rows > 0).then_some(rows);
                match self.view.max_rows {
                    Some(1) => self.notice("Results print at most 1 row."),
                    Some(rows) => self.notice(&format!("Results print at most {rows} rows.")),
                    None => self.notice("Results print all rows."),
                }
                Printed::Written
            }
            ShellCommand::Help => {
                println!("{HELP}");
                Printed::Written
            }
            ShellCommand::Quit => return Ok(Flow::Quit),
        };
        match printed {
            Printed::PipeClosed => Ok(Flow::Quit),
            Printed::Written => Ok(Flow::Continue),
        }
    }

    /// Describes every table; a table that cannot be read is reported and left out.
    async fn describe_all(&self) -> Result<Vec<TableDetails>, QueryError> {
        let mut details = Vec::new();
        for name in self.session.table_names()? {
            match self.session.describe(&name).await {
                Ok(table) => details.push(table),
                Err(error) => warn(&one_line(&error.to_string())),
            }
        }
        Ok(details)
    }

    /// Prints what a setting command changed; scripts print only results.
    fn notice(&self, message: &str) {
        if self.interactive_mode() {
            println!("{message}");
        }
    }

    /// Prints the result of a shell command, which is small and complete.
    fn print(&self, batches: &[RecordBatch], started: Option<Instant>) -> Result<Printed, String> {
        let mut stdout = Stdout::default();
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let elapsed = started
            .filter(|_| self.timing)
            .map(|started| started.elapsed());
        let limited = render::limit_rows(batches, self.view.max_rows);
        let more = self.view.max_rows.is_some_and(|limit| rows > limit);
        let shown = rows.min(self.view.max_rows.unwrap_or(usize::MAX));
        let footer = self.view.format == OutputFormat::Table || self.interactive_mode();
        let written = render::write_result(&mut stdout, &limited, &self.view)
            .map_err(|error| std::io::Error::other(error.to_string()))
            .and_then(|()| {
                if footer {
                    render::write_footer(&mut stdout, shown, more, self.row_hint(), elapsed)
                } else {
                    Ok(())
                }
            });
        stdout.finish(written)
    }

    /// Offers the lake's tables and their columns to completion; returns the tables.
    async fn refresh_vocabulary(&self) -> Vec<String> {
        let tables = self.session.table_names().unwrap_or_default();
        let mut columns = Vec::new();
        for table in &tables {
            if let Ok(details) = self.session.describe(table).await {
                columns.extend(details.columns().into_iter().map(|column| column.name));
            }
        }
        self.vocabulary.set_names(tables.clone(), columns);
        tables
    }
}

fn format_name(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Table => "table",
        OutputFormat::Csv => "csv",
        OutputFormat::Tsv => "tsv",
        OutputFormat::Json => "json",
        OutputFormat::Ndjson => "ndjson",
    }
}

fn default_history_file() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".eventlake_history"))
}
