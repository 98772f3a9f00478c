//! Errors of producing records.

use std::path::PathBuf;

/// Failure of a produce run.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("invalid Kafka producer setting: {0}; check --brokers and the -X properties")]
    Client(rdkafka::error::KafkaError),

    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{failed} of {sent} records were not delivered to topic '{topic}', the first because of: {first}; check that the topic exists and the brokers are reachable"
    )]
    Delivery {
        topic: String,
        sent: u64,
        failed: u64,
        first: String,
    },
}
