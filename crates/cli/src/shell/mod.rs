//! `eventlake sql`: the SQL shell over the lake. It runs statements and backslash commands
//! from `-c`, `-f` or standard input, or interactively on a terminal with line editing,
//! history and completion.

mod command;
mod editor;
mod help;
mod input;
mod interrupt;
mod render;
mod tables;

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use deltalake::arrow::array::RecordBatch;
use eventlake_query::{Access, LakeSession, QueryError};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Config, Editor};

use crate::args::{OutputFormat, SqlArgs};
use crate::error::CliError;
use command::ShellCommand;
use editor::{ShellHelper, Vocabulary};
pub use help::HELP;
use input::{Input, InputBuffer};
use interrupt::Interrupts;
use render::View;

/// Rows printed per result in the interactive shell unless `--max-rows` says otherwise.
const INTERACTIVE_MAX_ROWS: usize = 40;

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
    let interactive =
        args.command.is_empty() && args.file.is_none() && std::io::stdin().is_terminal();
    let default_rows = if interactive { INTERACTIVE_MAX_ROWS } else { 0 };
    let max_rows = args.max_rows.unwrap_or(default_rows);
    let mut shell = Shell {
        session,
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
    for script in scripts(&args)? {
        let mut buffer = InputBuffer::default();
        let mut inputs: Vec<Input> = script
            .lines()
            .filter_map(|line| buffer.push_line(line))
            .collect();
        inputs.extend(buffer.finish());
        for input in inputs {
            match shell.run_input(input).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Quit) => return Ok(()),
                Err(message) => return Err(CliError::Query(message)),
            }
        }
    }
    Ok(())
}

/// The scripts to run: each `-c` value, the `-f` file, or standard input.
fn scripts(args: &SqlArgs) -> Result<Vec<String>, CliError> {
    if !args.command.is_empty() {
        return Ok(args.command.clone());
    }
    if let Some(path) = &args.file {
        let script = std::fs::read_to_string(path).map_err(|error| {
            CliError::Config(format!("cannot read SQL file {}: {error}", path.display()))
        })?;
        return Ok(vec![script]);
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
    Ok(vec![script])
}

struct Shell {
    session: LakeSession,
    view: View,
    timing: bool,
    /// Set in the interactive shell, where Ctrl-C cancels the running query.
    interrupts: Option<Interrupts>,
    vocabulary: Vocabulary,
}

impl Shell {
    /// Reads lines with editing until `\q` or Ctrl-D; Ctrl-C drops the pending statement at
    /// the prompt and cancels a running one.
    async fn interactive(&mut self, history: Option<PathBuf>) -> Result<(), CliError> {
        let config = Config::builder()
            .auto_add_history(false)
            .max_history_size(10_000)
            .map_err(|error| CliError::Config(format!("cannot set up line editing: {error}")))?
            .build();
        let mut editor: Editor<ShellHelper, DefaultHistory> = Editor::with_config(config)
            .map_err(|error| CliError::Config(format!("cannot set up line editing: {error}")))?;
        editor.set_helper(Some(ShellHelper {
            vocabulary: self.vocabulary.clone(),
        }));
        let history = history.or_else(default_history_file);
        if let Some(path) = &history {
            // A missing file is the first run; other failures only cost the history.
            if let Err(error) = editor.load_history(path)
                && path.exists()
            {
                eprintln!(
                    "warning: cannot read the history file {}: {error}",
                    path.display()
                );
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
        loop {
            let prompt = if buffer.is_pending() {
                "       -> "
            } else {
                "eventlake> "
            };
            let line = tokio::task::block_in_place(|| editor.readline(prompt));
            let input = match line {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = editor.add_history_entry(line.as_str());
                    }
                    buffer.push_line(&line)
                }
                Err(ReadlineError::Interrupted) => {
                    buffer.clear();
                    continue;
                }
                Err(ReadlineError::Eof) => break,
                Err(error) => {
                    eprintln!("error: cannot read the input: {error}");
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
                Err(message) => eprintln!("error: {message}"),
            }
            // Loading every schema takes a read of each table's log, so completion is only
            // refreshed when a table appears or goes.
            if self.session.table_names().unwrap_or_default() != known_tables {
                known_tables = self.refresh_vocabulary().await;
            }
        }

        if let Some(path) = &history
            && let Err(error) = editor.save_history(path)
        {
            eprintln!(
                "warning: cannot write the history file {}: {error}",
                path.display()
            );
        }
        Ok(())
    }

    /// Runs a script or a backslash command; the error is one line.
    async fn run_input(&mut self, input: Input) -> Result<Flow, String> {
        match input {
            Input::Sql(script) => {
                let statements = self
                    .session
                    .parse(&script)
                    .map_err(|error| one_line(&error.to_string()))?;
                for statement in statements {
                    let started = Instant::now();
                    let batches = self.execute(statement).await?;
                    self.print(&batches, Some(started))?;
                }
                Ok(Flow::Continue)
            }
            Input::Command(text) => {
                let command: ShellCommand = text.parse()?;
                self.run_command(command).await
            }
        }
    }

    /// Runs one statement; in the interactive shell Ctrl-C cancels it.
    async fn execute(
        &self,
        statement: eventlake_query::Statement,
    ) -> Result<Vec<RecordBatch>, String> {
        let result = if let Some(interrupts) = &self.interrupts {
            // Dropping the query's future stops DataFusion's tasks at their next yield.
            tokio::select! {
                result = self.session.execute(statement) => result,
                () = interrupts.wait() => return Err("query cancelled".to_string()),
            }
        } else {
            self.session.execute(statement).await
        };
        result.map_err(|error| one_line(&error.to_string()))
    }

    async fn run_command(&mut self, command: ShellCommand) -> Result<Flow, String> {
        let query_error = |error: QueryError| one_line(&error.to_string());
        let arrow_error = |error: deltalake::arrow::error::ArrowError| error.to_string();
        match command {
            ShellCommand::ListTables => {
                let mut details = Vec::new();
                for name in self.session.table_names().map_err(query_error)? {
                    details.push(self.session.describe(&name).await.map_err(query_error)?);
                }
                let batch = tables::table_list(&details).map_err(arrow_error)?;
                self.print(&[batch], None)?;
            }
            ShellCommand::Describe(name) => {
                let details = self.session.describe(&name).await.map_err(query_error)?;
                if self.view.format == OutputFormat::Table {
                    println!("{}", tables::describe_header(&details));
                }
                let batch = tables::column_list(&details).map_err(arrow_error)?;
                self.print(&[batch], None)?;
            }
            ShellCommand::History { table, limit } => {
                let commits = self
                    .session
                    .history(&table, limit)
                    .await
                    .map_err(query_error)?;
                let batch = tables::commit_list(&commits).map_err(arrow_error)?;
                self.print(&[batch], None)?;
            }
            ShellCommand::Timing(switch) => {
                self.timing = switch.unwrap_or(!self.timing);
                println!("Timing is {}.", if self.timing { "on" } else { "off" });
            }
            ShellCommand::Format(format) => {
                self.view.format = format;
                println!("Output format is {format:?}.");
            }
            ShellCommand::MaxRows(rows) => {
                self.view.max_rows = (rows > 0).then_some(rows);
                match self.view.max_rows {
                    Some(rows) => println!("Results print at most {rows} rows."),
                    None => println!("Results print all rows."),
                }
            }
            ShellCommand::Help => println!("{HELP}"),
            ShellCommand::Quit => return Ok(Flow::Quit),
        }
        Ok(Flow::Continue)
    }

    /// Prints a result; tables end with the row count and, when timing is on, the time.
    fn print(&self, batches: &[RecordBatch], started: Option<Instant>) -> Result<(), String> {
        let mut output = std::io::stdout().lock();
        let write_error =
            |error: &dyn std::fmt::Display| format!("cannot write the result: {error}");
        render::write_result(&mut output, batches, &self.view)
            .map_err(|error| write_error(&error))?;
        if self.view.format == OutputFormat::Table {
            let rows = batches.iter().map(RecordBatch::num_rows).sum();
            let elapsed = started
                .filter(|_| self.timing)
                .map(|started| started.elapsed());
            render::write_footer(&mut output, rows, self.view.max_rows, elapsed)
                .map_err(|error| write_error(&error))?;
        }
        output.flush().map_err(|error| write_error(&error))
    }

    /// Offers the lake's tables and their columns to completion; returns the tables.
    async fn refresh_vocabulary(&self) -> Vec<String> {
        let tables = self.session.table_names().unwrap_or_default();
        let mut names = tables.clone();
        for table in &tables {
            if let Ok(details) = self.session.describe(table).await {
                names.extend(details.columns().into_iter().map(|column| column.name));
            }
        }
        self.vocabulary.set_names(names);
        tables
    }
}

fn default_history_file() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".eventlake_history"))
}

/// Joins a multi-line message, so that every error is one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
