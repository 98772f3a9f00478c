//! Prints results: aligned tables for people, CSV, TSV, JSON and NDJSON for programs.

use std::io::Write;

use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use deltalake::arrow::csv::WriterBuilder as CsvWriterBuilder;
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::json::WriterBuilder as JsonWriterBuilder;
use deltalake::arrow::json::writer::{JsonArray, LineDelimited};
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::args::OutputFormat;

/// Width up to which a column (timestamps, ids, names) is never wrapped. Wider columns wrap
/// down to it when a table is wider than the terminal.
const MIN_COLUMN_WIDTH: usize = 24;

/// Output settings for results.
#[derive(Debug, Clone, Copy)]
pub struct View {
    pub format: OutputFormat,
    /// Rows printed per result in the table format; `None` prints all.
    pub max_rows: Option<usize>,
    /// Terminal width in characters; wider tables wrap their widest cells. `None` never wraps.
    pub width: Option<usize>,
}

/// Prints `batches` in the view's format.
pub fn write_result(
    output: &mut impl Write,
    batches: &[RecordBatch],
    view: &View,
) -> Result<(), ArrowError> {
    let mut writer = StreamWriter::new(view, output);
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish().map(|_| ())
}

/// Writes a result batch by batch as it arrives: CSV, TSV and JSON go out at once, and the
/// table format keeps its rows until the end, since the column widths depend on all of them.
pub enum StreamWriter<W: Write> {
    Table {
        batches: Vec<RecordBatch>,
        view: View,
        output: W,
    },
    Csv(deltalake::arrow::csv::Writer<W>),
    Json(deltalake::arrow::json::Writer<W, JsonArray>),
    Ndjson(deltalake::arrow::json::Writer<W, LineDelimited>),
}

impl<W: Write> StreamWriter<W> {
    pub fn new(view: &View, output: W) -> Self {
        match view.format {
            OutputFormat::Table => Self::Table {
                batches: Vec::new(),
                view: *view,
                output,
            },
            OutputFormat::Csv | OutputFormat::Tsv => {
                let delimiter = if view.format == OutputFormat::Csv {
                    b','
                } else {
                    b'\t'
                };
                Self::Csv(
                    CsvWriterBuilder::new()
                        .with_header(true)
                        .with_delimiter(delimiter)
                        .build(output),
                )
            }
            OutputFormat::Json => Self::Json(
                JsonWriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, JsonArray>(output),
            ),
            OutputFormat::Ndjson => Self::Ndjson(
                JsonWriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, LineDelimited>(output),
            ),
        }
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        match self {
            Self::Table { batches, .. } => {
                batches.push(batch.clone());
                Ok(())
            }
            Self::Csv(writer) => {
                for batch in nested_as_text(std::slice::from_ref(batch))? {
                    writer.write(&batch)?;
                }
                Ok(())
            }
            Self::Json(writer) => writer.write(batch),
            Self::Ndjson(writer) => writer.write(batch),
        }
    }

    /// Ends the result and returns the output, for the footer.
    pub fn finish(self) -> Result<W, ArrowError> {
        match self {
            Self::Table {
                batches,
                view,
                mut output,
            } => {
                write_table(&mut output, &batches, &view)?;
                Ok(output)
            }
            Self::Csv(writer) => Ok(writer.into_inner()),
            Self::Json(mut writer) => {
                writer.finish()?;
                let mut output = writer.into_inner();
                writeln!(output)?;
                Ok(output)
            }
            Self::Ndjson(mut writer) => {
                writer.finish()?;
                Ok(writer.into_inner())
            }
        }
    }
}

/// Keeps the first `max_rows` rows; `None` keeps all.
pub fn limit_rows(batches: &[RecordBatch], max_rows: Option<usize>) -> Vec<RecordBatch> {
    let mut left = max_rows.unwrap_or(usize::MAX);
    let mut kept = Vec::new();
    for batch in batches {
        kept.push(batch.slice(0, batch.num_rows().min(left)));
        left -= batch.num_rows().min(left);
        if left == 0 {
            break;
        }
    }
    kept
}

/// CSV has no nested values: struct, list and map columns are written as JSON text.
fn nested_as_text(batches: &[RecordBatch]) -> Result<Vec<RecordBatch>, ArrowError> {
    let mut converted = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut fields = Vec::with_capacity(batch.num_columns());
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            if field.data_type().is_nested() {
                fields.push(Field::new(field.name(), DataType::Utf8, true));
                columns.push(Arc::new(json_text(column)?));
            } else {
                fields.push(field.as_ref().clone());
                columns.push(Arc::clone(column));
            }
        }
        converted.push(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?);
    }
    Ok(converted)
}

/// Formats each value of a nested column as JSON; NULL stays NULL.
fn json_text(column: &ArrayRef) -> Result<StringArray, ArrowError> {
    // arrow-json writes whole rows, so the column goes out as the only key of each row:
    // `{"v":VALUE}`, and `{}` for NULL.
    let single = RecordBatch::try_from_iter([("v", Arc::clone(column))])?;
    let mut lines = Vec::new();
    let mut writer = JsonWriterBuilder::new().build::<_, LineDelimited>(&mut lines);
    writer.write(&single)?;
    writer.finish()?;
    drop(writer);
    let text =
        String::from_utf8(lines).map_err(|error| ArrowError::JsonError(error.to_string()))?;
    Ok(text
        .lines()
        .map(|line| {
            line.strip_prefix("{\"v\":")
                .and_then(|value| value.strip_suffix('}'))
                .map(str::to_string)
        })
        .collect())
}

/// Writes the line after a statement without a result, such as SET.
pub fn write_done(
    output: &mut impl Write,
    elapsed: Option<std::time::Duration>,
) -> std::io::Result<()> {
    match elapsed {
        Some(elapsed) => writeln!(output, "OK in {:.3} s", elapsed.as_secs_f64()),
        None => writeln!(output, "OK"),
    }
}

/// Writes the row count line that ends a result, with the time taken when it is given.
/// `more` is true when the result had rows past the limit, which were not read, and `hint`
/// names how to print them.
pub fn write_footer(
    output: &mut impl Write,
    rows: usize,
    more: bool,
    hint: &str,
    elapsed: Option<std::time::Duration>,
) -> std::io::Result<()> {
    let noun = if rows == 1 { "row" } else { "rows" };
    let mut line = if more {
        format!("{rows} {noun} shown; the result has more ({hint} prints all)")
    } else {
        format!("{rows} {noun}")
    };
    if let Some(elapsed) = elapsed {
        line.push_str(&format!(" in {:.3} s", elapsed.as_secs_f64()));
    }
    writeln!(output, "{line}")
}

fn write_table(
    output: &mut impl Write,
    batches: &[RecordBatch],
    view: &View,
) -> Result<(), ArrowError> {
    let Some(schema) = batches.first().map(RecordBatch::schema) else {
        return Ok(());
    };
    let headers: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let right_aligned: Vec<bool> = schema
        .fields()
        .iter()
        .map(|field| field.data_type().is_numeric() || *field.data_type() == DataType::Null)
        .collect();

    let rows = collect_cells(batches, view.max_rows)?;
    let mut widths: Vec<usize> = headers.iter().map(|header| text_width(header)).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.lines().map(text_width).max().unwrap_or(0));
        }
    }
    if let Some(terminal) = view.width {
        fit_to_width(&mut widths, terminal);
    }

    let rule = rule_line(&widths);
    writeln!(output, "{rule}")?;
    write_row(output, &headers, &widths, &vec![false; widths.len()])?;
    writeln!(output, "{rule}")?;
    for row in &rows {
        write_row(output, row, &widths, &right_aligned)?;
    }
    if !rows.is_empty() {
        writeln!(output, "{rule}")?;
    }
    Ok(())
}

/// Formats up to `max_rows` rows as text; NULL stands for a null value.
fn collect_cells(
    batches: &[RecordBatch],
    max_rows: Option<usize>,
) -> Result<Vec<Vec<String>>, ArrowError> {
    let options = FormatOptions::default().with_null("NULL");
    let limit = max_rows.unwrap_or(usize::MAX);
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref() as &dyn Array, &options))
            .collect::<Result<Vec<_>, _>>()?;
        for index in 0..batch.num_rows() {
            if rows.len() >= limit {
                return Ok(rows);
            }
            rows.push(
                formatters
                    .iter()
                    .map(|formatter| formatter.value(index).to_string().replace('\t', "    "))
                    .collect(),
            );
        }
    }
    Ok(rows)
}

/// Shrinks the widest columns until the table fits `terminal` characters; columns no wider
/// than `MIN_COLUMN_WIDTH` keep their width, so short values never split.
fn fit_to_width(widths: &mut [usize], terminal: usize) {
    // Each column takes its width plus three characters of border and padding.
    let total = |widths: &[usize]| widths.iter().map(|width| width + 3).sum::<usize>() + 1;
    while total(widths) > terminal {
        let Some(widest) = widths
            .iter_mut()
            .filter(|width| **width > MIN_COLUMN_WIDTH)
            .max_by_key(|width| **width)
        else {
            return;
        };
        *widest -= 1;
    }
}

fn rule_line(widths: &[usize]) -> String {
    let mut line = String::from("+");
    for width in widths {
        line.push_str(&"-".repeat(width + 2));
        line.push('+');
    }
    line
}

/// Writes one row; cells with line breaks or wider than their column take several lines.
fn write_row(
    output: &mut impl Write,
    cells: &[String],
    widths: &[usize],
    right_aligned: &[bool],
) -> std::io::Result<()> {
    let wrapped: Vec<Vec<String>> = cells
        .iter()
        .zip(widths)
        .map(|(cell, width)| wrap(cell, *width))
        .collect();
    let height = wrapped.iter().map(Vec::len).max().unwrap_or(1);
    for line in 0..height {
        let mut text = String::from("|");
        for ((lines, width), right) in wrapped.iter().zip(widths).zip(right_aligned) {
            let part = lines.get(line).map(String::as_str).unwrap_or("");
            let padding = " ".repeat(width.saturating_sub(text_width(part)));
            if *right {
                text.push_str(&format!(" {padding}{part} |"));
            } else {
                text.push_str(&format!(" {part}{padding} |"));
            }
        }
        writeln!(output, "{text}")?;
    }
    Ok(())
}

/// Splits a cell at its line breaks, then every `width` characters.
fn wrap(cell: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for line in cell.split('\n') {
        let characters: Vec<char> = line.chars().collect();
        if characters.is_empty() {
            lines.push(String::new());
        }
        for chunk in characters.chunks(width.max(1)) {
            lines.push(chunk.iter().collect());
        }
    }
    lines
}

fn text_width(text: &str) -> usize {
    text.chars().count()
}

#[cfg(test)]
mod tests {
    use deltalake::arrow::array::{Int64Array, StructArray};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(vec![
                    Some("short"),
                    None,
                    Some("a longer name"),
                ])),
                Arc::new(Int64Array::from(vec![Some(1), Some(200), None])),
            ],
        )
        .expect("valid batch")
    }

    fn render(view: View) -> String {
        let mut output = Vec::new();
        write_result(&mut output, &[batch()], &view).expect("renders");
        String::from_utf8(output).expect("UTF-8")
    }

    #[test]
    fn csv_and_json_write_nested_values() {
        let point = StructArray::from(vec![(
            Arc::new(Field::new("x", DataType::Int64, true)),
            Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef,
        )]);
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            ("point", Arc::new(point) as ArrayRef),
        ])
        .expect("valid batch");
        let write = |format| {
            let view = View {
                format,
                max_rows: None,
                width: None,
            };
            let mut output = Vec::new();
            write_result(&mut output, std::slice::from_ref(&batch), &view).expect("renders");
            String::from_utf8(output).expect("UTF-8")
        };
        assert_eq!(
            write(OutputFormat::Csv),
            "id,point\n1,\"{\"\"x\"\":1}\"\n2,{}\n"
        );
        assert_eq!(
            write(OutputFormat::Ndjson),
            "{\"id\":1,\"point\":{\"x\":1}}\n{\"id\":2,\"point\":{\"x\":null}}\n"
        );
    }

    #[test]
    fn limits_rows_across_batches() {
        let batches = [batch(), batch()];
        let kept = limit_rows(&batches, Some(4));
        let rows: Vec<usize> = kept.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(rows, [3, 1]);
        assert_eq!(limit_rows(&batches, None).len(), 2);
    }

    #[test]
    fn aligns_text_left_and_numbers_right() {
        let view = View {
            format: OutputFormat::Table,
            max_rows: None,
            width: None,
        };
        assert_eq!(
            render(view),
            "+---------------+------+\n\
             | name          | n    |\n\
             +---------------+------+\n\
             | short         |    1 |\n\
             | NULL          |  200 |\n\
             | a longer name | NULL |\n\
             +---------------+------+\n"
        );
    }

    #[test]
    fn limits_rows_and_wraps_to_the_terminal() {
        let limited = View {
            format: OutputFormat::Table,
            max_rows: Some(1),
            width: None,
        };
        assert_eq!(
            render(limited),
            "+-------+---+\n\
             | name  | n |\n\
             +-------+---+\n\
             | short | 1 |\n\
             +-------+---+\n"
        );
        let wide = "w".repeat(30);
        let batch = RecordBatch::try_from_iter([(
            "text",
            Arc::new(StringArray::from(vec![wide.as_str()])) as ArrayRef,
        )])
        .expect("valid batch");
        let narrow = View {
            format: OutputFormat::Table,
            max_rows: None,
            width: Some(20),
        };
        let mut output = Vec::new();
        write_result(&mut output, &[batch], &narrow).expect("renders");
        assert_eq!(
            String::from_utf8(output).expect("UTF-8"),
            format!(
                "+{dashes}+\n| text{pad} |\n+{dashes}+\n| {first} |\n| {rest}{rest_pad} |\n+{dashes}+\n",
                dashes = "-".repeat(26),
                pad = " ".repeat(20),
                first = "w".repeat(24),
                rest = "w".repeat(6),
                rest_pad = " ".repeat(18),
            )
        );
        assert_eq!(wrap("abcdef\ngh", 4), vec!["abcd", "ef", "gh"]);
    }
}
