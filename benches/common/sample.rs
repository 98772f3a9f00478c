//! Sample records shared by the benchmarks: the three shipped event types in turn, 182 bytes
//! of JSON on average, with event times spread over three days. Each benchmark includes this
//! file and uses part of it.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use eventlake_events::{
    DecodeOptions, DecodedBatch, EventBatchBuilder, EventTableLayout, PartitionGranularity,
    PayloadSchemas, SourceRecord,
};

/// Records in one sample batch.
pub const EVENTS_PER_BATCH: usize = 100_000;

/// Returns [`EVENTS_PER_BATCH`] JSON records.
pub fn sample_values() -> Vec<Vec<u8>> {
    sample_values_from(0, EVENTS_PER_BATCH)
}

/// Returns `count` JSON records with event ids from `first` on.
pub fn sample_values_from(first: usize, count: usize) -> Vec<Vec<u8>> {
    (first..first + count)
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

/// Loads the shipped schemas and the raw table's layout, partitioned by day.
pub fn shipped_layout() -> (Arc<PayloadSchemas>, Arc<EventTableLayout>) {
    let schemas = Arc::new(
        PayloadSchemas::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas"))
            .expect("shipped schemas load"),
    );
    let layout = Arc::new(EventTableLayout::new(&schemas, PartitionGranularity::Day));
    (schemas, layout)
}

/// Decodes `values` as records of partition 0 with offsets from `first_offset` on.
pub fn decode(
    schemas: &Arc<PayloadSchemas>,
    layout: &Arc<EventTableLayout>,
    values: &[Vec<u8>],
    first_offset: usize,
) -> DecodedBatch {
    let mut builder =
        EventBatchBuilder::new(schemas.clone(), layout.clone(), DecodeOptions::default());
    for (index, value) in values.iter().enumerate() {
        builder.push(&SourceRecord {
            topic: "events",
            partition: 0,
            offset: (first_offset + index) as i64,
            timestamp_ms: Some(1_733_300_000_000),
            key: None,
            value: Some(value),
            headers: &[],
        });
    }
    builder.finish(1_733_300_000_000_000).expect("decodes")
}
