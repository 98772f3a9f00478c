//! Errors of an ingest run.

use eventlake_lake::LakeError;
use rdkafka::error::KafkaError;

/// A failure that stops the ingestor.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("invalid Kafka configuration: {0}; check the -X properties and --brokers")]
    KafkaConfig(#[source] KafkaError),

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

    #[error("cannot read committed offsets for the new partition assignment: {0}")]
    Assignment(String),

    #[error("decoding a batch failed: {0}; this is a bug")]
    Decode(#[source] deltalake::arrow::error::ArrowError),

    #[error("the writer task stopped unexpectedly; this is a bug")]
    WriterGone,
}
