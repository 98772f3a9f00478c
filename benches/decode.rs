//! Decode throughput: JSON event records to Arrow record batches for the raw table, on one
//! core, with the shipped schemas. Prints events per second and megabytes per second.
//!
//! ```sh
//! cargo bench --bench decode
//! ```

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use eventlake_events::{
    DecodeOptions, EventBatchBuilder, EventTableLayout, PartitionGranularity, PayloadSchemas,
    SourceRecord,
};

const EVENTS_PER_BATCH: usize = 100_000;
const BATCHES: usize = 10;

fn sample_values() -> Vec<Vec<u8>> {
    (0..EVENTS_PER_BATCH)
        .map(|id| {
            let time = 1_733_270_400 + (id as i64 * 7) % 259_200;
            let value = match id % 3 {
                0 => format!(
                    r#"{{"event_id": {id}, "event_type": "sensor_data", "event_time": {time}, "event_data": {{"sensor_id": {}, "temperature": {}.5, "humidity": {}, "location": {{"site": "plant-{}", "lat": 52.5, "lon": 13.4}}}}}}"#,
                    id % 500,
                    15 + id % 20,
                    30 + id % 50,
                    id % 7
                ),
                1 => format!(
                    r#"{{"event_id": {id}, "event_type": "device_status", "event_time": {time}, "event_data": {{"device_id": "device-{}", "status": "online", "uptime_s": {}, "battery": 0.{}}}}}"#,
                    id % 500,
                    id * 13,
                    id % 100
                ),
                _ => format!(
                    r#"{{"event_id": {id}, "event_type": "user_action", "event_time": {time}, "event_data": {{"user_id": "user-{}", "action": "click", "page": "/p/{}", "amount": {}.25}}}}"#,
                    id % 10_000,
                    id % 100,
                    id % 200
                ),
            };
            value.into_bytes()
        })
        .collect()
}

fn main() {
    let schemas = Arc::new(
        PayloadSchemas::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas"))
            .expect("shipped schemas load"),
    );
    let layout = Arc::new(EventTableLayout::new(&schemas, PartitionGranularity::Day));
    let values = sample_values();
    let bytes: usize = values.iter().map(Vec::len).sum();

    let mut best_seconds = f64::MAX;
    for _ in 0..BATCHES {
        let started = Instant::now();
        let mut builder =
            EventBatchBuilder::new(schemas.clone(), layout.clone(), DecodeOptions::default());
        for (offset, value) in values.iter().enumerate() {
            builder.push(&SourceRecord {
                topic: "events",
                partition: 0,
                offset: offset as i64,
                timestamp_ms: Some(1_733_300_000_000),
                key: Some(b"device-1"),
                value: Some(value),
                headers: &[],
            });
        }
        let decoded = builder.finish(1_733_300_000_000_000).expect("decodes");
        black_box(decoded);
        best_seconds = best_seconds.min(started.elapsed().as_secs_f64());
    }

    println!(
        "decode: {EVENTS_PER_BATCH} events of {:.0} bytes on average, best of {BATCHES} runs: {:.2} M events/s, {:.0} MB/s",
        bytes as f64 / EVENTS_PER_BATCH as f64,
        EVENTS_PER_BATCH as f64 / best_seconds / 1e6,
        bytes as f64 / best_seconds / 1e6
    );
}
