//! The help text shared by `eventlake sql --help` and the shell's `\help`.

/// How to name tables, travel in time and use the shell commands.
pub const HELP: &str = r#"SQL is DataFusion's dialect (close to PostgreSQL); SHOW FUNCTIONS lists the functions.

Tables: every Delta table under --lake, by its directory name: events, rejects, and any other
table the ingestor writes there. Names with capitals need double quotes. Payload fields are
event_data.temperature or event_data['temperature']. Timestamps are UTC.
SHOW TABLES and SHOW COLUMNS FROM events work too.

Time travel: add @ and a version or a time to a table name, in double quotes:
  SELECT count(*) FROM "events@v12";
  SELECT count(*) FROM "events@2024-12-05T10:00:00Z";
The time is a commit time, not an event time: the table as it was after the last commit at
or before it (\history lists the commits). Forms: 2024-12-05T10:00:00Z, +01:00 offsets,
2024-12-05 10:00:00 (UTC) and 2024-12-05 (midnight UTC). \d events@v12 works too.

Shell commands (also in -c and -f, one per line; a line starting with \ is always one):
  \d                  list the tables with their version, files and size
  \d TABLE            describe a table: columns, partitions, version, files, size
  \history TABLE [N]  the table's last N commits, newest first (default 20, 0 for all)
  \format [FORMAT]    show or set the output: table, csv, tsv, json or ndjson
  \maxrows N          rows printed per result; 0 prints all (the shell starts at 40)
  \timing [on|off]    elapsed time after each result; on at start, no argument toggles
  \help               this text (also \?)
  \q                  quit (also \quit, Ctrl-D); Ctrl-C cancels a running query

In the shell, Tab completes keywords, tables and columns, and the history of statements is
kept in ~/.eventlake_history (--history FILE changes it; Ctrl-R searches it).

Scripts (-c, -f, standard input) print only results, with every row unless --max-rows
is given; the table format adds a line with the row count and time. The first failing statement stops the script with exit code 1 and names its line.
Nested values print as JSON text in CSV and TSV. For large exports use --format csv or
ndjson: they stream, while an aligned table holds its rows until the end.

Writes: COPY, INSERT, DELETE and CREATE EXTERNAL TABLE are refused unless --allow-writes is
given (EVENTLAKE_ALLOW_WRITES=true). With it, COPY ... TO a file and external tables work;
lake tables take no INSERT or DELETE, since only the ingestor writes them. Views and
CREATE TABLE ... AS live in the session only.

Examples:
  eventlake sql
  eventlake sql -c 'SELECT event_type, count(*) FROM events GROUP BY 1'
  eventlake sql --format csv -f report.sql > report.csv"#;
