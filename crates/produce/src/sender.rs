//! Sending records to a topic with librdkafka, at a fixed rate or as fast as the brokers take
//! them, counting what was delivered.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use tracing::{debug, info, trace, warn};

use crate::error::ProduceError;
use crate::generator::Record;

/// How long the last records may take to be delivered before producing gives up.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// Interval of the progress log line.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(10);

/// Destination and pace of the records.
#[derive(Debug, Clone)]
pub struct ProducerSettings {
    pub brokers: String,
    pub topic: String,
    /// librdkafka properties, applied after eventlake's own.
    pub properties: BTreeMap<String, String>,
    /// Records per second, or `None` for as fast as possible.
    pub rate: Option<f64>,
    /// Records to send, or `None` until the source ends or a stop is requested.
    pub count: Option<u64>,
}

/// Records to send; `None` ends the stream.
pub trait RecordSource {
    fn next_record(&mut self) -> Option<Result<Record, ProduceError>>;
}

/// Totals of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProduceSummary {
    /// Records delivered, malformed ones included.
    pub delivered: u64,
    pub malformed: u64,
    pub elapsed: Duration,
}

/// Counts delivery failures reported by librdkafka's background thread.
#[derive(Default)]
struct DeliveryCounter {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// Client errors already logged: librdkafka repeats an unreachable broker many times a
    /// second, so each kind is logged once and the delivery error at the end sums it up.
    logged: Mutex<HashSet<String>>,
}

impl DeliveryCounter {
    /// Counts one record that was not delivered, keeping the first error for the report.
    fn count_failure(&self, error: &KafkaError) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut first = self
            .first_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        first.get_or_insert_with(|| error.to_string());
    }
}

impl ClientContext for DeliveryCounter {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning => debug!(facility, "librdkafka: {message}"),
            _ => trace!(facility, "librdkafka: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let kind = format!("{:?}", error.rdkafka_error_code());
        let first = self
            .logged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(kind);
        if first {
            warn!(error = %error, "Kafka client error, retried by librdkafka: {reason}");
        }
    }
}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        if let Err((error, _)) = result {
            self.count_failure(error);
        }
    }
}

/// Sends records from `source` until it ends, `settings.count` records were sent or `stop`
/// is set, then waits for every record to be delivered. Blocks the calling thread.
pub fn produce(
    settings: &ProducerSettings,
    source: &mut dyn RecordSource,
    stop: &AtomicBool,
) -> Result<ProduceSummary, ProduceError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("linger.ms", "20")
        .set("compression.type", "zstd")
        .set("queue.buffering.max.messages", "500000");
    for (key, value) in &settings.properties {
        config.set(key, value);
    }
    let producer: ThreadedProducer<DeliveryCounter> = config
        .create_with_context(DeliveryCounter::default())
        .map_err(ProduceError::Client)?;

    let started = Instant::now();
    let mut sent = 0u64;
    let mut malformed = 0u64;
    let mut last_progress = started;
    while !stop.load(Ordering::Relaxed) && settings.count.is_none_or(|count| sent < count) {
        let Some(record) = source.next_record() else {
            break;
        };
        let record = record?;

        // Pacing: record n is due n / rate seconds after the start.
        if let Some(rate) = settings.rate {
            let due = started + Duration::from_secs_f64(sent as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }

        send(&producer, &settings.topic, &record);
        sent += 1;
        malformed += u64::from(record.malformed);
        if last_progress.elapsed() >= PROGRESS_INTERVAL {
            last_progress = Instant::now();
            let seconds = started.elapsed().as_secs_f64();
            info!(
                topic = %settings.topic,
                sent,
                malformed,
                per_second = (sent as f64 / seconds).round(),
                "producing"
            );
        }
    }

    // Records still queued are delivered, or time out and count as failed.
    let _ = producer.flush(FLUSH_TIMEOUT);
    let queued = u64::try_from(producer.in_flight_count()).unwrap_or(0);
    let context = producer.context();
    let failed = context.failed.load(Ordering::Relaxed) + queued;
    if failed > 0 {
        let first = context
            .first_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| format!("not delivered within {} s", FLUSH_TIMEOUT.as_secs()));
        return Err(ProduceError::Delivery {
            topic: settings.topic.clone(),
            sent,
            failed,
            first,
        });
    }
    Ok(ProduceSummary {
        delivered: sent,
        malformed,
        elapsed: started.elapsed(),
    })
}

/// Queues one record, waiting while librdkafka's queue is full.
fn send(producer: &ThreadedProducer<DeliveryCounter>, topic: &str, record: &Record) {
    let mut base: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic);
    if let Some(key) = &record.key {
        base = base.key(key.as_slice());
    }
    if let Some(value) = &record.value {
        base = base.payload(value.as_slice());
    }
    loop {
        match producer.send(base) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                base = returned;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((error, _)) => {
                // Errors other than a full queue (such as a record over message.max.bytes)
                // are counted as failed deliveries.
                producer.context().count_failure(&error);
                return;
            }
        }
    }
}
