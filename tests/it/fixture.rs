//! The lake that the `.slt` files and the shell tests read, written once per test run by the
//! ingest path from librdkafka's mock cluster.

use std::path::Path;
use std::sync::OnceLock;

use crate::support::{Kafka, ingest_to_end, open_table, sensor_event, test_config};

/// Seconds since the epoch of 2024-12-04T00:00:00Z.
const DAY_ONE: i64 = 1_733_270_400;

/// Returns the fixture lake, writing it on first use. It is only read afterwards.
pub fn fixture_lake() -> &'static Path {
    static LAKE: OnceLock<tempfile::TempDir> = OnceLock::new();
    LAKE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().to_path_buf();
        // Each test has its own runtime; a thread with a runtime of its own writes the lake
        // for whichever test calls this first.
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(write_fixture_lake(&path));
        })
        .join()
        .expect("fixture lake written");
        dir
    })
    .path()
}

/// Writes the lake the `.slt` files describe, in two ingest runs so that `events` has
/// versions 0 (created), 1 (first run) and 2 (second run).
async fn write_fixture_lake(lake: &Path) {
    let kafka = Kafka::start();
    kafka.create_topic("slt", 1);
    let send = |value: &str| kafka.send("slt", 0, None, Some(value.as_bytes()), &[]);

    // First run: 12 sensor readings every 4 hours from 2024-12-04 04:00 UTC, 3 device
    // statuses, 2 user actions and 3 bad records.
    for id in 1..=12 {
        send(&sensor_event(
            id,
            DAY_ONE + id * 4 * 3600,
            id % 3 + 1,
            20.0 + id as f64,
        ));
    }
    for (id, device, status) in [
        (13, "d1", "online"),
        (14, "d2", "offline"),
        (15, "d1", "online"),
    ] {
        send(&format!(
            r#"{{"event_id": {id}, "event_type": "device_status", "event_time": {time}, "event_data": {{"device_id": "{device}", "status": "{status}", "battery": 0.5}}}}"#,
            time = DAY_ONE + id * 600
        ));
    }
    for (id, user, amount) in [(16, "u1", 9.5), (17, "u2", 20.25)] {
        send(&format!(
            r#"{{"event_id": {id}, "event_type": "user_action", "event_time": "2024-12-05T10:00:00Z", "event_data": {{"user_id": "{user}", "action": "purchase", "amount": {amount}, "tags": ["a", "b"]}}}}"#
        ));
    }
    send("not json");
    send(
        r#"{"event_id": 18, "event_type": "sensor_data", "event_time": 1733270400, "event_data": {"sensor_id": "x", "temperature": 1}}"#,
    );
    send(
        r#"{"event_id": 19, "event_type": "doorbell", "event_time": 1733270400, "event_data": {}}"#,
    );
    kafka.flush();
    ingest_to_end(test_config(&kafka.brokers(), "slt", lake)).await;

    // Second run: 5 more readings on 2024-12-06 and one bad record.
    for id in 20..=24 {
        send(&sensor_event(
            id,
            DAY_ONE + 2 * 86_400 + id * 60,
            1,
            30.0 + id as f64,
        ));
    }
    send("[1, 2]");
    kafka.flush();
    ingest_to_end(test_config(&kafka.brokers(), "slt", lake)).await;

    let events = open_table(lake, "events").await;
    assert_eq!(
        events.version(),
        Some(2),
        "the .slt files expect two appends"
    );
}
