//! Settings of an ingest run.

use crate::metrics::IngestMetrics;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use eventlake_events::{DecodeOptions, PartitionGranularity, PayloadSchemas};
use eventlake_lake::{LakeRoot, WriteSettings};

/// When buffered records are written to the lake; whichever limit is reached first.
#[derive(Debug, Clone)]
pub struct FlushPolicy {
    /// Buffered records.
    pub max_rows: usize,
    /// Buffered key and value bytes.
    pub max_bytes: usize,
    /// Time since the first buffered record, also checked while the topic is quiet.
    pub max_age: Duration,
}

impl Default for FlushPolicy {
    fn default() -> Self {
        Self {
            max_rows: 500_000,
            max_bytes: 128 * 1024 * 1024,
            max_age: Duration::from_secs(10),
        }
    }
}

/// Start position of a partition for which the lake has no offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartPosition {
    /// The oldest record Kafka still keeps.
    #[default]
    Earliest,
    /// The group's committed Kafka offset or, without one, the end of the partition.
    Latest,
}

impl FromStr for StartPosition {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "earliest" => Ok(StartPosition::Earliest),
            "latest" => Ok(StartPosition::Latest),
            other => Err(format!(
                "invalid start position '{other}': expected earliest or latest"
            )),
        }
    }
}

/// Names of the tables under the lake root.
#[derive(Debug, Clone)]
pub struct TableNames {
    pub events: String,
    pub rejects: String,
}

impl Default for TableNames {
    fn default() -> Self {
        Self {
            events: "events".to_string(),
            rejects: "rejects".to_string(),
        }
    }
}

/// Everything an ingest run needs.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Kafka bootstrap servers, `host:port` separated by commas.
    pub brokers: String,
    pub topics: Vec<String>,
    /// Kafka consumer group id; members of one group share the partitions.
    pub group_id: String,
    pub lake: LakeRoot,
    pub tables: TableNames,
    pub schemas: Arc<PayloadSchemas>,
    pub decode: DecodeOptions,
    pub granularity: PartitionGranularity,
    pub flush: FlushPolicy,
    /// Memory for buffered records, including a flush in progress, in bytes. Reaching it
    /// starts a flush or, while one is in progress, stops reading until it ends.
    pub max_buffer_bytes: usize,
    pub start_position: StartPosition,
    /// Stop once every assigned partition has been read to its end.
    pub stop_at_end: bool,
    /// Extra librdkafka properties; they override eventlake's defaults.
    pub kafka_properties: BTreeMap<String, String>,
    pub write: WriteSettings,
    /// Counters the ingestor updates.
    pub metrics: Arc<IngestMetrics>,
    /// Background compaction of idle partitions; `None` leaves it to `eventlake optimize`.
    pub auto_compaction: Option<crate::compactor::AutoCompaction>,
    /// Address of the metrics endpoint, served once the consumer is set up. `None` serves none.
    pub metrics_address: Option<std::net::SocketAddr>,
    /// SQL transforms, one per processed table, planned when the run starts.
    pub transforms: Vec<eventlake_transform::TransformSpec>,
}
