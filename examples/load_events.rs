//! Produces a deterministic load of events to a Kafka topic: three event types over several
//! days, keyed by device, with a share of malformed records of every reject kind.
//!
//! ```sh
//! cargo run --release --example load_events -- BROKERS TOPIC COUNT PARTITIONS MALFORMED
//! ```
//!
//! Prints the number of valid and malformed records sent, so a run can be checked against the
//! tables afterwards.

use std::process::ExitCode;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

/// Start of the generated event times: 2024-12-04T00:00:00Z.
const FIRST_DAY: i64 = 1_733_270_400;
const DAY_SECONDS: i64 = 86_400;

/// A small linear congruential generator, so that every run sends the same records.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn valid_event(id: i64, sequence: &mut Sequence) -> (String, String) {
    let time = FIRST_DAY
        + (sequence.below(3) as i64) * DAY_SECONDS
        + sequence.below(DAY_SECONDS as u64) as i64;
    let device = sequence.below(500);
    let value = match id % 3 {
        0 => format!(
            r#"{{"event_id": {id}, "event_type": "sensor_data", "event_time": {time}, "event_data": {{"sensor_id": {device}, "temperature": {:.1}, "humidity": {}, "location": {{"site": "plant-{}", "lat": 52.{}, "lon": 13.{}}}}}}}"#,
            15.0 + sequence.below(200) as f64 / 10.0,
            30 + sequence.below(50),
            device % 7,
            sequence.below(1000),
            sequence.below(1000)
        ),
        1 => format!(
            r#"{{"event_id": {id}, "event_type": "device_status", "event_time": {time}, "event_data": {{"device_id": "device-{device}", "status": "{}", "uptime_s": {}, "battery": 0.{}}}}}"#,
            ["online", "online", "online", "degraded", "offline"][sequence.below(5) as usize],
            sequence.below(1_000_000),
            sequence.below(100)
        ),
        _ => format!(
            r#"{{"event_id": {id}, "event_type": "user_action", "event_time": {time}, "event_data": {{"user_id": "user-{}", "action": "{}", "page": "/p/{}", "amount": {:.2}}}}}"#,
            sequence.below(10_000),
            ["view", "click", "add_to_cart", "purchase"][sequence.below(4) as usize],
            sequence.below(100),
            sequence.below(20_000) as f64 / 100.0
        ),
    };
    (format!("device-{device}"), value)
}

/// Returns a malformed value of each reject kind in turn, `None` for a tombstone.
fn malformed_value(index: i64) -> Option<Vec<u8>> {
    let value: &[u8] = match index % 8 {
        0 => return None,
        1 => b"{\"event_id\": 1, \"event_type\": \"sensor_data\"",
        2 => b"[1, 2, 3]",
        3 => br#"{"event_type": "sensor_data", "event_time": 1733300000, "event_data": {}}"#,
        4 => br#"{"event_id": 7, "event_type": "sensor_data", "event_time": "tomorrow", "event_data": {}}"#,
        5 => br#"{"event_id": 8, "event_type": "spaceship", "event_time": 1733300000, "event_data": {}}"#,
        6 => br#"{"event_id": 9, "event_type": "sensor_data", "event_time": 1733300000, "event_data": {"sensor_id": "x", "temperature": 1}}"#,
        _ => b"\xff\xfe not utf-8",
    };
    Some(value.to_vec())
}

fn send(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    partition: i32,
    key: &[u8],
    value: Option<&[u8]>,
) {
    let mut record: BaseRecord<'_, [u8], [u8]> =
        BaseRecord::to(topic).partition(partition).key(key);
    if let Some(value) = value {
        record = record.payload(value);
    }
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((error, _)) => panic!("producing failed: {error}"),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [brokers, topic, count, partitions, malformed] = args.as_slice() else {
        eprintln!("usage: load_events BROKERS TOPIC COUNT PARTITIONS MALFORMED");
        return ExitCode::from(2);
    };
    let (Ok(count), Ok(partitions), Ok(malformed)) = (
        count.parse::<i64>(),
        partitions.parse::<i32>(),
        malformed.parse::<i64>(),
    ) else {
        eprintln!("COUNT, PARTITIONS and MALFORMED must be integers");
        return ExitCode::from(2);
    };

    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer configuration is valid");

    let mut sequence = Sequence(42);
    // Malformed records are spread evenly through the stream.
    let every = if malformed > 0 {
        (count / malformed).max(1)
    } else {
        i64::MAX
    };
    let mut sent_malformed = 0;
    for id in 0..count {
        let (key, value) = valid_event(id, &mut sequence);
        let partition = (id % partitions as i64) as i32;
        send(
            &producer,
            topic,
            partition,
            key.as_bytes(),
            Some(value.as_bytes()),
        );
        if id % every == 0 && sent_malformed < malformed {
            let bad = malformed_value(sent_malformed);
            send(&producer, topic, partition, b"bad", bad.as_deref());
            sent_malformed += 1;
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .expect("all records delivered");
    println!("valid={count} malformed={sent_malformed}");
    ExitCode::SUCCESS
}
