//! `eventlake sql` as a user runs it, over tables written by the ingest path.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::support::{Kafka, ingest_to_end, test_config};

fn eventlake_sql(lake: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventlake"))
        .arg("sql")
        .arg("--lake")
        .arg(lake)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .expect("write stdin");
    drop(input);
    child.wait_with_output().expect("binary exits")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_command_reads_ingested_tables() {
    let kafka = Kafka::start();
    kafka.create_topic("query", 1);
    for (id, event_type, data) in [
        (1, "sensor_data", r#"{"sensor_id": 7, "temperature": 21.5}"#),
        (2, "sensor_data", r#"{"sensor_id": 7, "temperature": 22.5}"#),
        (
            3,
            "device_status",
            r#"{"device_id": "d1", "status": "online"}"#,
        ),
    ] {
        let value = format!(
            r#"{{"event_id": {id}, "event_type": "{event_type}", "event_time": 1733300000, "event_data": {data}}}"#
        );
        kafka.send("query", 0, None, Some(value.as_bytes()), &[]);
    }
    kafka.send("query", 0, None, Some(b"not json"), &[]);
    kafka.flush();
    let dir = tempfile::tempdir().expect("temp dir");
    ingest_to_end(test_config(&kafka.brokers(), "query", dir.path())).await;
    let lake = dir.path();

    let csv = eventlake_sql(
        lake,
        &[
            "--format",
            "csv",
            "-c",
            "SELECT event_type, count(*) AS events, avg(event_data.temperature) AS temperature FROM events GROUP BY event_type ORDER BY event_type",
        ],
        None,
    );
    assert_eq!(
        csv.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&csv.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&csv.stdout),
        "event_type,events,temperature\ndevice_status,1,\nsensor_data,2,22.0\n"
    );

    let ndjson = eventlake_sql(
        lake,
        &["--format", "ndjson"],
        Some("SELECT reason_code FROM rejects;"),
    );
    assert_eq!(
        String::from_utf8_lossy(&ndjson.stdout),
        "{\"reason_code\":\"invalid_json\"}\n"
    );

    let table = eventlake_sql(
        lake,
        &["-c", "SELECT event_time FROM events WHERE event_id = 3"],
        None,
    );
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("2024-12-04T08:13:20Z"),
        "timestamps are shown in UTC:\n{text}"
    );
    assert!(text.contains("1 row in "), "{text}");

    let copy_target = lake.join("copied.csv");
    let copy = eventlake_sql(
        lake,
        &["-c", &format!("COPY events TO '{}'", copy_target.display())],
        None,
    );
    assert_eq!(copy.status.code(), Some(1));
    assert!(!copy_target.exists(), "a read-only session writes no file");

    let typo = eventlake_sql(lake, &["-c", "SELEC 1"], None);
    let stderr = String::from_utf8_lossy(&typo.stderr);
    assert_eq!(typo.status.code(), Some(1));
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("SELEC"), "{stderr}");
}
