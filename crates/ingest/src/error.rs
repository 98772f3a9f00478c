//! Errors of an ingest run.

use eventlake_lake::LakeError;
use rdkafka::error::KafkaError;

/// A failure that stops the ingestor.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("invalid Kafka configuration: {}; check the -X properties and --brokers", describe_config_error(.0))]
    KafkaConfig(#[source] KafkaError),

    #[error("-X {key} is set by eventlake itself; use {flag} instead")]
    ReservedProperty { key: String, flag: &'static str },

    #[error("cannot subscribe to topics [{topics}]: {source}")]
    Subscribe {
        topics: String,
        #[source]
        source: KafkaError,
    },

    #[error("topic [{topics}] does not exist on the broker; create it or check --topic")]
    TopicNotFound { topics: String },

    #[error("Kafka consumer failed: {0}")]
    Kafka(#[source] KafkaError),

    #[error(transparent)]
    Lake(#[from] LakeError),

    #[error(transparent)]
    Transform(#[from] eventlake_transform::TransformError),

    #[error("backfill failed: {0}")]
    Backfill(String),

    #[error(
        "{}: the SELECT's columns no longer match table '{table}': {difference}; restore the columns, or stop the ingestor, delete the table's directory under the lake root and run 'eventlake backfill {table}'",
        path.display()
    )]
    TransformChanged {
        path: std::path::PathBuf,
        table: String,
        difference: String,
    },

    #[error("cannot read committed offsets for the new partition assignment: {0}")]
    Assignment(String),

    #[error("decoding a batch failed: {0}; this is a bug")]
    Decode(#[source] deltalake::arrow::error::ArrowError),

    #[error("the writer task stopped unexpectedly; this is a bug")]
    WriterGone,

    #[error("the consumer thread stopped unexpectedly; this is a bug")]
    ConsumerGone,
}

/// Names the property and value of a librdkafka configuration error once.
fn describe_config_error(error: &KafkaError) -> String {
    match error {
        KafkaError::ClientConfig(_, description, key, value) => {
            format!("{key}={value}: {description}")
        }
        other => other.to_string(),
    }
}
