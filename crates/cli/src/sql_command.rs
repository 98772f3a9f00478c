//! `eventlake sql`: runs SQL over the lake's tables from `-c`, `-f` or standard input and
//! prints the results.

use std::io::{IsTerminal, Read, Write};
use std::time::Instant;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::csv::WriterBuilder as CsvWriterBuilder;
use deltalake::arrow::json::{ArrayWriter, LineDelimitedWriter};
use deltalake::arrow::util::pretty::pretty_format_batches;
use eventlake_query::LakeSession;

use crate::args::{OutputFormat, SqlArgs};
use crate::error::CliError;

pub async fn run(args: SqlArgs) -> Result<(), CliError> {
    let script = read_script(&args)?;
    let session = LakeSession::open(std::path::Path::new(&args.lake))
        .map_err(|error| CliError::Config(error.to_string()))?;
    let statements = session
        .parse(&script)
        .map_err(|error| CliError::Query(one_line(&error.to_string())))?;
    if statements.is_empty() {
        return Err(CliError::Config("no SQL statement given".to_string()));
    }

    let mut output = std::io::stdout().lock();
    for statement in statements {
        let started = Instant::now();
        let batches = session
            .execute(statement)
            .await
            .map_err(|error| CliError::Query(one_line(&error.to_string())))?;
        write_batches(&mut output, &batches, args.format)
            .map_err(|error| CliError::Query(format!("cannot write the result: {error}")))?;
        if args.format == OutputFormat::Table {
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let noun = if rows == 1 { "row" } else { "rows" };
            writeln!(
                output,
                "{rows} {noun} in {:.3} s",
                started.elapsed().as_secs_f64()
            )
            .map_err(|error| CliError::Query(format!("cannot write the result: {error}")))?;
        }
    }
    Ok(())
}

/// Takes the SQL from `-c`, then `-f`, then standard input when it is not a terminal.
fn read_script(args: &SqlArgs) -> Result<String, CliError> {
    if !args.command.is_empty() {
        return Ok(args.command.join(";\n"));
    }
    if let Some(path) = &args.file {
        return std::fs::read_to_string(path).map_err(|error| {
            CliError::Config(format!("cannot read SQL file {}: {error}", path.display()))
        });
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        // NOTE: the interactive shell is not built yet.
        return Err(CliError::Config(
            "no SQL given; pass -c \"SQL\", -f FILE, or SQL on standard input".to_string(),
        ));
    }
    let mut script = String::new();
    stdin.lock().read_to_string(&mut script).map_err(|error| {
        CliError::Config(format!("cannot read SQL from standard input: {error}"))
    })?;
    Ok(script)
}

fn write_batches(
    output: &mut impl Write,
    batches: &[RecordBatch],
    format: OutputFormat,
) -> Result<(), Box<dyn std::error::Error>> {
    match format {
        OutputFormat::Table => writeln!(output, "{}", pretty_format_batches(batches)?)?,
        OutputFormat::Csv | OutputFormat::Tsv => {
            let delimiter = if format == OutputFormat::Csv {
                b','
            } else {
                b'\t'
            };
            let mut writer = CsvWriterBuilder::new()
                .with_header(true)
                .with_delimiter(delimiter)
                .build(&mut *output);
            for batch in batches {
                writer.write(batch)?;
            }
        }
        OutputFormat::Json => {
            let mut writer = ArrayWriter::new(&mut *output);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            writeln!(output)?;
        }
        OutputFormat::Ndjson => {
            let mut writer = LineDelimitedWriter::new(&mut *output);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
    }
    Ok(())
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
