//! Command-line flags. Every flag also reads an `EVENTLAKE_*` environment variable; values
//! left unset fall back to the config file, then to the defaults named in the help.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use eventlake_events::{EpochUnit, PartitionGranularity, UnknownTypePolicy};
use eventlake_ingest::StartPosition;

use crate::units::{
    parse_bytes, parse_count, parse_count_or_zero, parse_duration, parse_fraction,
    parse_partitions, parse_property, parse_rate, parse_time,
};

/// eventlake: Kafka JSON events into Delta Lake tables, exactly once.
#[derive(Debug, Parser)]
#[command(name = "eventlake", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log format: text for people, json for log collectors.
    #[arg(long, global = true, env = "EVENTLAKE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read JSON events from Kafka and commit them to the lake's Delta tables, exactly once.
    Ingest(IngestArgs),
    /// Run SQL over the lake's tables (events, rejects, ...) and print the results.
    Sql(SqlArgs),
    /// Compact small files into large ones, without changing data; safe while ingesting.
    Optimize(OptimizeArgs),
    /// Delete data files that no retained table version references.
    Vacuum(VacuumArgs),
    /// Send sample events, or NDJSON lines from a file or stdin, to a Kafka topic.
    Produce(ProduceArgs),
    /// Fill processed tables from the raw events table, for transforms added after the data.
    Backfill(BackfillArgs),
    /// Try eventlake without Kafka: an in-process broker, sample events, ingestion into the
    /// lake and the SQL shell, all stopped when the shell ends.
    Demo(DemoArgs),
}

/// Flags of `eventlake demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Lake root directory to write the tables to; a later run adds to them.
    #[arg(long, value_name = "DIR", default_value = "./lake")]
    pub lake: String,

    /// Sample events sent first, with event times spread over the previous 24 hours.
    #[arg(long, value_name = "N", default_value = "20000", value_parser = parse_count_or_zero, allow_negative_numbers = true)]
    pub backlog: usize,

    /// Live sample events per second, sent after the backlog until the shell ends.
    #[arg(long, value_name = "PER_SECOND", default_value = "200", value_parser = parse_rate, allow_negative_numbers = true)]
    pub rate: f64,

    /// Share of malformed records, which go to the rejects table, such as 0.01 or 1%.
    #[arg(long, value_name = "FRACTION", default_value = "1%", value_parser = parse_fraction)]
    pub malformed: f64,

    /// Partitions of the demo topic.
    #[arg(long, value_name = "N", default_value = "4", value_parser = parse_partitions, allow_negative_numbers = true)]
    pub partitions: i32,

    /// Directory of JSON Schema files, one per event type [default: the shipped schemas, built
    /// into the binary].
    #[arg(long, value_name = "DIR")]
    pub schemas: Option<PathBuf>,

    /// Directory of SQL transforms, or off [default: the shipped transforms, built into the
    /// binary].
    #[arg(long, value_name = "DIR")]
    pub sql: Option<PathBuf>,

    /// SQL or a backslash command to run once the first events are committed, instead of the
    /// shell; repeat for several. Standard input that is not a terminal is read as a script.
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    pub command: Vec<String>,
}

/// Flags of `eventlake backfill`.
#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// Lake root directory holding the Delta tables.
    #[arg(
        long,
        env = "EVENTLAKE_LAKE",
        value_name = "DIR",
        default_value = "./lake"
    )]
    pub lake: String,

    /// Directory of JSON Schema files the raw table was written with.
    #[arg(
        long,
        env = "EVENTLAKE_SCHEMAS",
        value_name = "DIR",
        default_value = "./schemas"
    )]
    pub schemas: PathBuf,

    /// Directory of SQL transforms, one processed table per NAME.sql file.
    #[arg(
        long,
        env = "EVENTLAKE_SQL",
        value_name = "DIR",
        default_value = "./sql"
    )]
    pub sql: PathBuf,

    /// Raw rows per commit.
    #[arg(long, value_name = "N", default_value = "500000", value_parser = parse_count, allow_negative_numbers = true)]
    pub chunk_rows: usize,

    /// Processed tables to fill [default: one per file of --sql].
    #[arg(value_name = "TABLE")]
    pub tables: Vec<String>,
}

/// Flags of `eventlake produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Kafka bootstrap servers, host:port separated by commas.
    #[arg(
        long,
        env = "EVENTLAKE_BROKERS",
        value_name = "HOSTS",
        default_value = "localhost:9092"
    )]
    pub brokers: String,

    /// Topic to write to.
    #[arg(long, env = "EVENTLAKE_TOPIC", value_name = "NAME")]
    pub topic: String,

    /// Records to send, malformed ones included [default: until Ctrl-C, or the end of --input].
    #[arg(long, value_name = "N", value_parser = parse_count, allow_negative_numbers = true)]
    pub count: Option<usize>,

    /// Records per second [default: as fast as the brokers take them].
    #[arg(long, value_name = "PER_SECOND", value_parser = parse_rate, allow_negative_numbers = true)]
    pub rate: Option<f64>,

    /// Share of malformed records, of every reject kind in turn, such as 0.01 or 1%.
    #[arg(long, value_name = "FRACTION", default_value = "0", value_parser = parse_fraction)]
    pub malformed: f64,

    /// Replay event times from this time on, spread up to --to, instead of the current time;
    /// RFC 3339 or a date such as 2024-12-04.
    #[arg(long, value_name = "TIME", requires = "to", value_parser = parse_time)]
    pub from: Option<chrono::DateTime<chrono::Utc>>,

    /// End (excluded) of the replayed event times.
    #[arg(long, value_name = "TIME", requires = "from", value_parser = parse_time)]
    pub to: Option<chrono::DateTime<chrono::Utc>>,

    /// Distinct sensors and devices; their ids are the record keys.
    #[arg(long, value_name = "N", default_value = "500", value_parser = parse_count, allow_negative_numbers = true)]
    pub devices: usize,

    /// Distinct users of user_action events.
    #[arg(long, value_name = "N", default_value = "10000", value_parser = parse_count, allow_negative_numbers = true)]
    pub users: usize,

    /// Seed of the generated values; the same seed gives the same events.
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,

    /// event_id of the first event [default: microseconds since 1970, so that runs do not
    /// repeat ids].
    #[arg(long, value_name = "ID")]
    pub first_id: Option<i64>,

    /// Send the lines of this NDJSON file as they are ("-" for stdin) instead of sample events.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["malformed", "from", "to", "devices", "users", "seed", "first_id"])]
    pub input: Option<PathBuf>,

    /// With --input: the field whose value becomes the record key, such as
    /// event_data.sensor_id.
    #[arg(long, value_name = "PATH", requires = "input")]
    pub key_field: Option<String>,

    /// librdkafka producer property as key=value, such as linger.ms=5; repeat the flag.
    #[arg(short = 'X', long = "kafka-property", value_name = "KEY=VALUE", value_parser = parse_property)]
    pub kafka_properties: Vec<(String, String)>,
}

/// The lake and the tables a maintenance command works on.
#[derive(Debug, Args)]
pub struct TableSelection {
    /// Lake root directory holding the Delta tables [default: ./lake].
    #[arg(
        long,
        env = "EVENTLAKE_LAKE",
        value_name = "DIR",
        default_value = "./lake",
        hide_default_value = true
    )]
    pub lake: String,

    /// Tables to work on [default: every table of the lake].
    #[arg(value_name = "TABLE")]
    pub tables: Vec<String>,
}

/// Flags of `eventlake optimize`.
#[derive(Debug, Args)]
pub struct OptimizeArgs {
    #[command(flatten)]
    pub selection: TableSelection,

    /// Compact only partitions with this partition value, as COLUMN=VALUE (for example
    /// event_date=2024-12-05); repeat to narrow further.
    #[arg(long, value_name = "COLUMN=VALUE", value_parser = parse_property)]
    pub partition: Vec<(String, String)>,

    /// Size the rewritten files aim for, such as 192MiB.
    #[arg(long, env = "EVENTLAKE_TARGET_FILE_SIZE", value_name = "SIZE", default_value = "192MiB", value_parser = parse_bytes)]
    pub target_size: usize,

    /// Sort rows by this column inside the new files (event_time tightens time-range pruning).
    #[arg(long, value_name = "COLUMN")]
    pub sort_by: Option<String>,
}

/// Flags of `eventlake vacuum`.
#[derive(Debug, Args)]
pub struct VacuumArgs {
    #[command(flatten)]
    pub selection: TableSelection,

    /// Delete only unreferenced files older than this, such as 7d or 12h.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub retention: Duration,

    /// Allow a retention under 7 days. Files an ingestor is writing, and files that readers
    /// of older versions need, may then be deleted.
    #[arg(long)]
    pub allow_short_retention: bool,

    /// List the files that would be deleted, and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Output format of query results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned text table with the row count and elapsed time.
    Table,
    Csv,
    Tsv,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// Flags of `eventlake sql`.
#[derive(Debug, Args)]
#[command(after_long_help = crate::shell::HELP)]
pub struct SqlArgs {
    /// Lake root directory holding the Delta tables [default: ./lake].
    #[arg(
        long,
        env = "EVENTLAKE_LAKE",
        value_name = "DIR",
        default_value = "./lake",
        hide_default_value = true
    )]
    pub lake: String,

    /// SQL or a backslash command to run; repeat for several. Without -c or -f, statements
    /// are read from standard input, or an interactive shell starts on a terminal.
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    pub command: Vec<String>,

    /// File of SQL statements, each ended by ';', and backslash commands, one per line.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        conflicts_with = "command"
    )]
    pub file: Option<PathBuf>,

    /// Output format.
    #[arg(long, env = "EVENTLAKE_FORMAT", value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,

    /// Rows printed per result; 0 prints all [default: 40 in the shell, all otherwise].
    #[arg(long, env = "EVENTLAKE_MAX_ROWS", value_name = "N")]
    pub max_rows: Option<usize>,

    /// Allow statements that write files, change tables or register files by path (COPY,
    /// INSERT, DELETE, CREATE EXTERNAL TABLE).
    #[arg(long, env = "EVENTLAKE_ALLOW_WRITES")]
    pub allow_writes: bool,

    /// History file of the interactive shell [default: ~/.eventlake_history].
    #[arg(long, env = "EVENTLAKE_HISTORY", value_name = "FILE")]
    pub history: Option<PathBuf>,
}

/// Flags of `eventlake ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// TOML config file; flags and environment variables override its values.
    #[arg(long, env = "EVENTLAKE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Kafka bootstrap servers, host:port separated by commas [default: localhost:9092].
    #[arg(long, env = "EVENTLAKE_BROKERS", value_name = "HOSTS")]
    pub brokers: Option<String>,

    /// Topic to read; repeat the flag or separate names with commas.
    #[arg(
        long = "topic",
        env = "EVENTLAKE_TOPIC",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub topics: Vec<String>,

    /// Kafka consumer group; ingestors in one group share the partitions [default: eventlake].
    #[arg(long, env = "EVENTLAKE_GROUP", value_name = "ID")]
    pub group: Option<String>,

    /// Lake root directory holding the Delta tables [default: ./lake].
    #[arg(long, env = "EVENTLAKE_LAKE", value_name = "DIR")]
    pub lake: Option<String>,

    /// Directory of JSON Schema files, one per event type [default: ./schemas].
    #[arg(long, env = "EVENTLAKE_SCHEMAS", value_name = "DIR")]
    pub schemas: Option<PathBuf>,

    /// Directory of SQL transforms, one processed table per NAME.sql file, or "off"
    /// [default: ./sql when it exists].
    #[arg(long, env = "EVENTLAKE_SQL", value_name = "DIR")]
    pub sql: Option<PathBuf>,

    /// Unit of numeric event_time values: seconds, milliseconds, microseconds or nanoseconds
    /// [default: seconds]. RFC 3339 strings are always accepted.
    #[arg(long, env = "EVENTLAKE_EPOCH_UNIT", value_name = "UNIT", value_parser = parse_epoch_unit)]
    pub epoch_unit: Option<EpochUnit>,

    /// Events of a type without a schema file: reject them, or keep their payload as JSON
    /// text in event_data_json [default: reject].
    #[arg(long, env = "EVENTLAKE_UNKNOWN_TYPES", value_name = "POLICY", value_parser = parse_unknown_types)]
    pub unknown_types: Option<UnknownTypePolicy>,

    /// Time partitions of the events table: day (event_date) or hour (event_date and
    /// event_hour) [default: day].
    #[arg(long, env = "EVENTLAKE_PARTITION_BY", value_name = "GRANULARITY", value_parser = parse_granularity)]
    pub partition_by: Option<PartitionGranularity>,

    /// Flush after this many buffered records [default: 500000].
    #[arg(long, env = "EVENTLAKE_FLUSH_ROWS", value_name = "COUNT", value_parser = parse_count, allow_negative_numbers = true)]
    pub flush_rows: Option<usize>,

    /// Flush after this many buffered bytes, such as 128MiB [default: 128MiB].
    #[arg(long, env = "EVENTLAKE_FLUSH_BYTES", value_name = "SIZE", value_parser = parse_bytes)]
    pub flush_bytes: Option<usize>,

    /// Flush when the oldest buffered record is this old, such as 10s or 500ms, also while
    /// the topic is quiet [default: 10s].
    #[arg(long, env = "EVENTLAKE_FLUSH_INTERVAL", value_name = "DURATION", value_parser = parse_duration)]
    pub flush_interval: Option<Duration>,

    /// Memory for buffered records including a flush in progress; reaching it starts a flush
    /// or stops reading until the one in progress ends [default: 512MiB].
    #[arg(long, env = "EVENTLAKE_MAX_BUFFER", value_name = "SIZE", value_parser = parse_bytes)]
    pub max_buffer: Option<usize>,

    /// Start position of partitions that the lake has no offset for: earliest, or latest (the
    /// group's committed offset, else the end) [default: earliest].
    #[arg(long, env = "EVENTLAKE_START_FROM", value_name = "POSITION", value_parser = parse_start_position)]
    pub start_from: Option<StartPosition>,

    /// Stop once every assigned partition is read to its end, after committing. The
    /// environment variable takes true/false, yes/no, on/off or 1/0.
    #[arg(long, env = "EVENTLAKE_STOP_AT_END", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub stop_at_end: bool,

    /// Parquet compression: zstd, snappy, gzip, lz4 or none [default: zstd].
    #[arg(long, env = "EVENTLAKE_COMPRESSION", value_name = "CODEC")]
    pub compression: Option<String>,

    /// Compact a partition in the background once no file was added to it for this long,
    /// such as 1h, or "off" [default: 1h].
    #[arg(long, env = "EVENTLAKE_COMPACT_AFTER", value_name = "DURATION")]
    pub compact_after: Option<String>,

    /// Address of the Prometheus metrics endpoint (GET /metrics), or "off"
    /// [default: 127.0.0.1:9464].
    #[arg(
        long,
        env = "EVENTLAKE_METRICS_ADDRESS",
        value_name = "HOST:PORT",
        value_parser = parse_metrics_address
    )]
    pub metrics_address: Option<MetricsAddress>,

    /// Write a Delta checkpoint once N commits have landed since the last; 0 turns
    /// checkpoints off [default: 10].
    #[arg(long, env = "EVENTLAKE_CHECKPOINT_INTERVAL", value_name = "N")]
    pub checkpoint_interval: Option<u64>,

    /// Keep log files this long after their commit, such as 7d. Older ones are deleted when a
    /// checkpoint is written, so time travel reaches back this far. Stored in each table as
    /// delta.logRetentionDuration [default: the table's value, 30d for a new table].
    #[arg(long, env = "EVENTLAKE_LOG_RETENTION", value_name = "DURATION", value_parser = parse_duration)]
    pub log_retention: Option<Duration>,

    /// librdkafka property passed through as key=value, such as security.protocol=SASL_SSL;
    /// repeat the flag, or separate properties with commas in the environment variable.
    #[arg(short = 'X', long = "kafka-property", env = "EVENTLAKE_KAFKA_PROPERTIES", value_name = "KEY=VALUE", value_delimiter = ',', value_parser = parse_property)]
    pub kafka_properties: Vec<(String, String)>,
}

fn parse_epoch_unit(text: &str) -> Result<EpochUnit, String> {
    text.parse()
}

fn parse_unknown_types(text: &str) -> Result<UnknownTypePolicy, String> {
    text.parse()
}

fn parse_granularity(text: &str) -> Result<PartitionGranularity, String> {
    text.parse()
}

fn parse_start_position(text: &str) -> Result<StartPosition, String> {
    text.parse()
}

/// Metrics endpoint setting of the ingestor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAddress {
    Off,
    At(std::net::SocketAddr),
}

/// Default address of the metrics endpoint.
pub const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:9464";

pub fn parse_metrics_address(text: &str) -> Result<MetricsAddress, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(MetricsAddress::Off);
    }
    text.trim()
        .parse()
        .map(MetricsAddress::At)
        .map_err(|_| {
            format!("invalid metrics address '{text}': expected HOST:PORT with an IP address, such as 127.0.0.1:9464, or off")
        })
}
