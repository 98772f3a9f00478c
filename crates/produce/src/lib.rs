//! Produce: writes JSON events to a Kafka topic, for demos, tests and benchmarks.
//!
//! Two sources feed the same sender:
//!
//! - [`EventGenerator`] makes sample events of the shipped types (`sensor_data`,
//!   `device_status`, `user_action`) from a seed, with event times at the wall clock or spread
//!   over a replayed range, and a chosen share of malformed records of every reject kind.
//! - [`NdjsonSource`] sends the lines of a file or of standard input as they are.
//!
//! [`produce`] sends at a fixed rate or as fast as the brokers accept, and fails when any
//! record was not delivered.

mod error;
mod generator;
mod malformed;
mod ndjson;
mod random;
mod sender;

pub use error::ProduceError;
pub use generator::{EventGenerator, EventTimes, GeneratorSettings, Record};
pub use ndjson::NdjsonSource;
pub use sender::{ProduceSummary, ProducerSettings, RecordSource, produce};

impl RecordSource for EventGenerator {
    fn next_record(&mut self) -> Option<Result<Record, ProduceError>> {
        Some(Ok(EventGenerator::next_record(self)))
    }
}
