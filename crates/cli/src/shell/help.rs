//! The help text shared by `eventlake sql --help` and the shell's `\help`.

/// How to name tables, travel in time and use the shell commands.
pub const HELP: &str = r#"Tables: every Delta table under --lake, by its directory name: events, rejects and each
processed table. Payload fields: event_data.temperature or event_data['temperature'].
Timestamps are in UTC. SHOW TABLES and SHOW COLUMNS FROM events work too.

Time travel: add @ and a version or a UTC time to a table name, in double quotes:
  SELECT count(*) FROM "events@v12";
  SELECT count(*) FROM "events@2024-12-05T10:00:00Z";
The time form reads the last version committed at or before that time.

Shell commands (also accepted in -c and -f, one per line):
  \d                  list the tables with their version, files and size
  \d TABLE            describe a table: columns, partitions, version, files, size
  \history TABLE [N]  the table's last N commits, newest first (default 20)
  \format FORMAT      table, csv, tsv, json or ndjson
  \maxrows N          rows printed per result; 0 prints all
  \timing [on|off]    print the elapsed time after each result
  \help               this text
  \q                  quit (Ctrl-D too); Ctrl-C cancels a running query

Examples:
  eventlake sql
  eventlake sql -c 'SELECT event_type, count(*) FROM events GROUP BY 1'
  eventlake sql --format csv -f report.sql > report.csv"#;
