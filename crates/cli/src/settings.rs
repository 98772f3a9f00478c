//! The config file and the merge of flags, environment, file and defaults into one
//! [`IngestConfig`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use deltalake::parquet::basic::{Compression, ZstdLevel};
use eventlake_events::{DecodeOptions, EpochUnit, PayloadSchemas, UnknownTypePolicy};
use eventlake_ingest::{FlushPolicy, IngestConfig, StartPosition, TableNames};
use eventlake_lake::{LakeRoot, WriteSettings};
use eventlake_transform::TransformSpec;
use serde::Deserialize;

use crate::args::IngestArgs;
use crate::args::{DEFAULT_METRICS_ADDRESS, MetricsAddress, parse_metrics_address};
use crate::error::CliError;
use crate::units::{parse_bytes, parse_duration};

/// The TOML config file. Keys mirror the long flags with `_` in place of `-`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub brokers: Option<String>,
    pub topics: Option<Vec<String>>,
    pub group: Option<String>,
    pub lake: Option<String>,
    pub schemas: Option<PathBuf>,
    pub sql: Option<PathBuf>,
    pub epoch_unit: Option<String>,
    pub unknown_types: Option<String>,
    pub partition_by: Option<String>,
    pub flush_rows: Option<usize>,
    pub flush_bytes: Option<String>,
    pub flush_interval: Option<String>,
    pub max_buffer: Option<String>,
    pub start_from: Option<String>,
    pub stop_at_end: Option<bool>,
    pub compression: Option<String>,
    pub checkpoint_interval: Option<u64>,
    pub log_retention: Option<String>,
    pub metrics_address: Option<String>,
    pub compact_after: Option<String>,
    /// librdkafka properties, such as `"security.protocol" = "SASL_SSL"` or `"linger.ms" = 5`.
    #[serde(default)]
    pub kafka: BTreeMap<String, toml::Value>,
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<Self, CliError> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            CliError::Config(format!(
                "cannot read config file {}: {error}",
                path.display()
            ))
        })?;
        toml::from_str(&text).map_err(|error| {
            let message = error.message().replace('\n', " ");
            let location = error
                .span()
                .map(|span| {
                    let line = text[..span.start].matches('\n').count() + 1;
                    format!(" at line {line}")
                })
                .unwrap_or_default();
            CliError::Config(format!(
                "invalid config file {}{location}: {message}",
                path.display()
            ))
        })
    }
}

/// Parses a value from the config file with the same parser as its flag, naming the key.
fn from_file<T>(
    key: &str,
    value: Option<&String>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, CliError> {
    value
        .map(|text| {
            parse(text)
                .map_err(|message| CliError::Config(format!("config key '{key}': {message}")))
        })
        .transpose()
}

fn parse_compression(text: &str) -> Result<Compression, String> {
    match text {
        "zstd" => Ok(Compression::ZSTD(ZstdLevel::default())),
        "snappy" => Ok(Compression::SNAPPY),
        "gzip" => Ok(Compression::GZIP(Default::default())),
        "lz4" => Ok(Compression::LZ4_RAW),
        "none" => Ok(Compression::UNCOMPRESSED),
        other => Err(format!(
            "invalid compression '{other}': expected zstd, snappy, gzip, lz4 or none"
        )),
    }
}

/// Merges flags (with their environment variables), the config file and defaults.
pub fn ingest_config(args: IngestArgs) -> Result<IngestConfig, CliError> {
    let file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };

    let topics = if args.topics.is_empty() {
        file.topics.clone().unwrap_or_default()
    } else {
        args.topics.clone()
    };
    let mut topics: Vec<String> = topics
        .into_iter()
        .map(|topic| topic.trim().to_string())
        .filter(|topic| !topic.is_empty())
        .collect();
    topics.sort();
    topics.dedup();
    if topics.is_empty() {
        return Err(CliError::Config(
            "no topic given; pass --topic NAME or set topics = [\"NAME\"] in the config file"
                .to_string(),
        ));
    }

    let schemas_dir = args
        .schemas
        .or(file.schemas)
        .unwrap_or_else(|| PathBuf::from("schemas"));
    let schemas = PayloadSchemas::load_dir(&schemas_dir)
        .map_err(|error| CliError::Config(error.to_string()))?;
    for type_schema in schemas.types() {
        if !type_schema.ignored_keywords.is_empty() {
            tracing::warn!(
                file = %type_schema.file.display(),
                keywords = %type_schema.ignored_keywords.join(", "),
                "schema keywords are not enforced; values are checked for type and required fields only"
            );
        }
    }
    // The default directory is optional; one named by a flag, variable or file must exist.
    let transforms = match args.sql.or(file.sql) {
        Some(dir) if dir.as_os_str() == "off" => Vec::new(),
        Some(dir) => TransformSpec::read_directory(&dir).map_err(|error| {
            CliError::Config(format!("{error}; pass --sql off to run without transforms"))
        })?,
        None if Path::new("sql").is_dir() => TransformSpec::read_directory(Path::new("sql"))
            .map_err(|error| CliError::Config(error.to_string()))?,
        None => Vec::new(),
    };
    let lake_location = args
        .lake
        .or(file.lake)
        .unwrap_or_else(|| "./lake".to_string());
    let lake =
        LakeRoot::parse(&lake_location).map_err(|error| CliError::Config(error.to_string()))?;

    let epoch_unit = match args.epoch_unit {
        Some(unit) => unit,
        None => from_file("epoch_unit", file.epoch_unit.as_ref(), |text| {
            text.parse::<EpochUnit>()
        })?
        .unwrap_or_default(),
    };
    let unknown_types = match args.unknown_types {
        Some(policy) => policy,
        None => from_file("unknown_types", file.unknown_types.as_ref(), |text| {
            text.parse::<UnknownTypePolicy>()
        })?
        .unwrap_or_default(),
    };
    let granularity = match args.partition_by {
        Some(granularity) => granularity,
        None => from_file("partition_by", file.partition_by.as_ref(), |text| {
            text.parse()
        })?
        .unwrap_or_default(),
    };
    let start_position = match args.start_from {
        Some(position) => position,
        None => from_file("start_from", file.start_from.as_ref(), |text| {
            text.parse::<StartPosition>()
        })?
        .unwrap_or_default(),
    };

    let defaults = FlushPolicy::default();
    let flush = FlushPolicy {
        max_rows: args
            .flush_rows
            .or(file.flush_rows)
            .unwrap_or(defaults.max_rows),
        max_bytes: match args.flush_bytes {
            Some(bytes) => bytes,
            None => from_file("flush_bytes", file.flush_bytes.as_ref(), parse_bytes)?
                .unwrap_or(defaults.max_bytes),
        },
        max_age: match args.flush_interval {
            Some(interval) => interval,
            None => from_file(
                "flush_interval",
                file.flush_interval.as_ref(),
                parse_duration,
            )?
            .unwrap_or(defaults.max_age),
        },
    };
    if flush.max_rows == 0 {
        return Err(CliError::Config(
            "config key 'flush_rows': must be greater than zero".to_string(),
        ));
    }
    let max_buffer_bytes = match args.max_buffer {
        Some(bytes) => bytes,
        None => from_file("max_buffer", file.max_buffer.as_ref(), parse_bytes)?
            .unwrap_or(512 * 1024 * 1024),
    };

    let mut write = WriteSettings::default();
    let compression = match &args.compression {
        Some(text) => Some(
            parse_compression(text)
                .map_err(|message| CliError::Config(format!("--compression: {message}")))?,
        ),
        None => from_file("compression", file.compression.as_ref(), parse_compression)?,
    };
    if let Some(compression) = compression {
        write.compression = compression;
    }
    let compact_after = args
        .compact_after
        .clone()
        .or_else(|| file.compact_after.clone())
        .unwrap_or_else(|| "1h".to_string());
    let auto_compaction = if compact_after.trim().eq_ignore_ascii_case("off") {
        None
    } else {
        let idle = parse_duration(&compact_after).map_err(|error| {
            CliError::Config(format!("{error}; --compact-after also takes off"))
        })?;
        Some(eventlake_ingest::AutoCompaction::after(idle))
    };
    let metrics_address = match (args.metrics_address, &file.metrics_address) {
        (Some(address), _) => address,
        (None, Some(text)) => parse_metrics_address(text).map_err(|error| {
            CliError::Config(format!("{error} (metrics_address in the config file)"))
        })?,
        (None, None) => parse_metrics_address(DEFAULT_METRICS_ADDRESS).map_err(CliError::Config)?,
    };
    if let Some(interval) = args.checkpoint_interval.or(file.checkpoint_interval) {
        write.checkpoint_interval = interval;
    }
    write.log_retention = match args.log_retention {
        Some(retention) => Some(retention),
        None => from_file("log_retention", file.log_retention.as_ref(), parse_duration)?,
    };

    let mut kafka_properties = BTreeMap::new();
    for (key, value) in &file.kafka {
        let text = match value {
            toml::Value::String(text) => text.clone(),
            toml::Value::Integer(number) => number.to_string(),
            toml::Value::Float(number) => number.to_string(),
            toml::Value::Boolean(flag) => flag.to_string(),
            other => {
                return Err(CliError::Config(format!(
                    "config key 'kafka.\"{key}\"': expected a string, number or boolean, got a {}",
                    other.type_str()
                )));
            }
        };
        kafka_properties.insert(key.clone(), text);
    }
    kafka_properties.extend(args.kafka_properties);

    let group_id = args
        .group
        .or(file.group)
        .unwrap_or_else(|| "eventlake".to_string());
    if group_id.trim().is_empty() {
        return Err(CliError::Config(
            "the consumer group is empty; pass --group NAME".to_string(),
        ));
    }
    let brokers = args
        .brokers
        .or(file.brokers)
        .unwrap_or_else(|| "localhost:9092".to_string());
    if brokers.trim().is_empty() {
        return Err(CliError::Config(
            "no brokers given; pass --brokers HOST:PORT".to_string(),
        ));
    }

    Ok(IngestConfig {
        brokers,
        topics,
        group_id,
        lake,
        tables: TableNames::default(),
        schemas: Arc::new(schemas),
        decode: DecodeOptions {
            epoch_unit,
            unknown_types,
        },
        granularity,
        flush,
        max_buffer_bytes,
        start_position,
        stop_at_end: args.stop_at_end || file.stop_at_end.unwrap_or(false),
        kafka_properties,
        write,
        metrics: std::sync::Arc::new(eventlake_ingest::IngestMetrics::new()),
        auto_compaction,
        metrics_address: match metrics_address {
            MetricsAddress::Off => None,
            MetricsAddress::At(address) => Some(address),
        },
        transforms,
    })
}
