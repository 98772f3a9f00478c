//! `eventlake produce` against the mock cluster, read back by the ingest path: every record
//! sent arrives, valid events as rows of `events` and malformed ones in `rejects`.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{Kafka, ingest_to_end, sql_rows, test_config};

fn produce(brokers: &str, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventlake"))
        .args(["produce", "--brokers", brokers])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("binary exits")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_events_arrive_in_events_and_rejects() {
    let kafka = Kafka::start();
    kafka.create_topic("generated", 4);
    let output = produce(
        &kafka.brokers(),
        &[
            "--topic",
            "generated",
            "--count",
            "2000",
            "--malformed",
            "5%",
            "--from",
            "2024-12-04",
            "--to",
            "2024-12-07",
            "--first-id",
            "1",
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("produced 2000 records (100 malformed) to topic 'generated'"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path();
    ingest_to_end(test_config(&kafka.brokers(), "generated", lake)).await;

    let events = sql_rows(
        lake,
        "SELECT count(*), count(DISTINCT event_id), min(event_id), max(event_id), count(DISTINCT event_type), count(DISTINCT event_date) FROM events",
    )
    .await;
    let expected = ["1900", "1900", "1", "1900", "3", "3"];
    assert_eq!(
        events,
        vec![
            expected
                .iter()
                .map(|text| Some(text.to_string()))
                .collect::<Vec<_>>()
        ]
    );

    // Malformed records cover every reject kind.
    let rejects = sql_rows(
        lake,
        "SELECT reason_code, count(*) FROM rejects GROUP BY 1 ORDER BY 1",
    )
    .await;
    let reasons: Vec<&str> = rejects.iter().filter_map(|row| row[0].as_deref()).collect();
    assert_eq!(
        reasons,
        [
            "empty_value",
            "invalid_envelope",
            "invalid_event_time",
            "invalid_json",
            "not_an_object",
            "schema_mismatch",
            "unknown_event_type"
        ]
    );
    let total: i64 = rejects
        .iter()
        .map(|row| {
            row[1]
                .as_deref()
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(total, 100);

    // Events of one device share a key, so they land in one partition.
    let spread = sql_rows(
        lake,
        "SELECT count(*) FROM (SELECT kafka_key FROM events GROUP BY kafka_key HAVING count(DISTINCT kafka_partition) > 1)",
    )
    .await;
    assert_eq!(spread, vec![vec![Some("0".to_string())]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_lines_are_sent_as_they_are() {
    let kafka = Kafka::start();
    kafka.create_topic("lines", 1);
    let lines = concat!(
        r#"{"event_id": 1, "event_type": "sensor_data", "event_time": 1733300000, "event_data": {"sensor_id": 31, "temperature": 20.5}}"#,
        "\n\n",
        r#"{"event_id": 2, "event_type": "sensor_data", "event_time": 1733300001, "event_data": {"sensor_id": 32, "temperature": 21.5}}"#,
        "\n",
        "not JSON\n",
    );
    let output = produce(
        &kafka.brokers(),
        &[
            "--topic",
            "lines",
            "--input",
            "-",
            "--key-field",
            "event_data.sensor_id",
        ],
        Some(lines),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("produced 3 records"), "{stderr}");

    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path();
    ingest_to_end(test_config(&kafka.brokers(), "lines", lake)).await;
    let events = sql_rows(
        lake,
        "SELECT event_id, CAST(kafka_key AS VARCHAR) FROM events ORDER BY event_id",
    )
    .await;
    let expected = vec![
        vec![Some("1".to_string()), Some("31".to_string())],
        vec![Some("2".to_string()), Some("32".to_string())],
    ];
    assert_eq!(events, expected);
    let rejects = sql_rows(lake, "SELECT reason_code FROM rejects").await;
    assert_eq!(rejects, vec![vec![Some("invalid_json".to_string())]]);
}

#[test]
fn bad_flags_name_the_value() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["--topic", "t", "--malformed", "2"],
            "invalid fraction '2'",
        ),
        (&["--topic", "t", "--rate", "0"], "invalid rate '0'"),
        (
            &["--topic", "t", "--from", "2024-12-05", "--to", "2024-12-04"],
            "is not before --to",
        ),
        (
            &["--topic", "t", "--from", "yesterday", "--to", "2024-12-04"],
            "invalid time 'yesterday'",
        ),
    ];
    for (args, expected) in cases {
        let output = produce("127.0.0.1:9", args, None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}
