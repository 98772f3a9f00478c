//! Ingest metrics: the counters agree with what the tables hold, and the endpoint serves
//! them in the Prometheus text format.

use std::io::{Read, Write};
use std::sync::Arc;

use eventlake_ingest::{IngestMetrics, serve_metrics};

use crate::support::{Kafka, ingest_to_end, sensor_event, sql_count, test_config};

/// Returns the value of the sample whose name and labels are `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_the_committed_tables() {
    let kafka = Kafka::start();
    kafka.create_topic("metered", 1);
    for id in 0..200 {
        let event = sensor_event(id, 1_733_300_000 + id, id % 4, 21.0);
        kafka.send("metered", 0, None, Some(event.as_bytes()), &[]);
    }
    for bad in ["not json", "[1]", "{}"] {
        kafka.send("metered", 0, None, Some(bad.as_bytes()), &[]);
    }
    kafka.flush();

    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path();
    let metrics = Arc::new(IngestMetrics::new());
    let mut config = test_config(&kafka.brokers(), "metered", lake);
    config.flush.max_rows = 50;
    config.metrics = Arc::clone(&metrics);
    config
        .kafka_properties
        .insert("statistics.interval.ms".to_string(), "100".to_string());
    ingest_to_end(config).await;

    let text = metrics.encode();
    let events = sql_count(lake, "SELECT count(*) FROM events").await as f64;
    let rejects = sql_count(lake, "SELECT count(*) FROM rejects").await as f64;
    assert_eq!(events, 200.0);
    assert_eq!(rejects, 3.0);
    assert_eq!(
        sample(&text, "eventlake_records_consumed_total"),
        Some(203.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "eventlake_rows_committed_total{table=\"events\"}"),
        Some(events),
        "{text}"
    );
    assert_eq!(
        sample(&text, "eventlake_rows_committed_total{table=\"rejects\"}"),
        Some(rejects),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "eventlake_events_committed_total{event_type=\"sensor_data\"}"
        ),
        Some(events),
        "{text}"
    );
    let rejected: f64 = ["invalid_json", "not_an_object", "invalid_envelope"]
        .iter()
        .filter_map(|reason| {
            sample(
                &text,
                &format!("eventlake_rows_rejected_total{{reason=\"{reason}\"}}"),
            )
        })
        .sum();
    assert_eq!(rejected, rejects, "{text}");

    let events_table = crate::support::open_table(lake, "events").await;
    let appends = events_table.version().expect("version") as f64;
    assert_eq!(
        sample(&text, "eventlake_commits_total{table=\"events\"}"),
        Some(appends),
        "one commit per table version after the creating one:\n{text}"
    );
    assert_eq!(
        sample(
            &text,
            "eventlake_commit_duration_seconds_count{table=\"events\"}"
        ),
        Some(appends),
        "{text}"
    );
    assert_eq!(
        sample(&text, "eventlake_produce_to_commit_seconds_count"),
        Some(events),
        "one latency per committed event:\n{text}"
    );
    let newest = sample(&text, "eventlake_newest_event_time_seconds").expect("newest event time");
    assert_eq!(newest, 1_733_300_199.0);
    assert!(sample(&text, "eventlake_freshness_seconds").is_some_and(|age| age > 0.0));
    assert_eq!(
        sample(&text, "eventlake_buffered_bytes"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "eventlake_consumer_lag{topic=\"metered\",partition=\"0\"}"
        ),
        Some(0.0),
        "caught up at the end:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_serves_the_text_format() {
    let metrics = Arc::new(IngestMetrics::new());
    metrics.records_consumed.inc_by(7);
    let address = serve_metrics("127.0.0.1:0".parse().expect("address"), metrics)
        .await
        .expect("endpoint binds");

    let get = move |path: &str| {
        let mut stream = std::net::TcpStream::connect(address).expect("connects");
        write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("request sent");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response read");
        response
    };
    let response = tokio::task::spawn_blocking(move || (get("/metrics"), get("/other")))
        .await
        .expect("requests");
    let (metrics_page, other) = response;
    assert!(
        metrics_page.starts_with("HTTP/1.1 200 OK\r\n"),
        "{metrics_page}"
    );
    assert!(
        metrics_page.contains("\neventlake_records_consumed_total 7\n"),
        "{metrics_page}"
    );
    assert!(metrics_page.contains("# TYPE eventlake_records_consumed counter"));
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
}
