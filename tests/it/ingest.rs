//! The ingestor against librdkafka's mock cluster over loopback sockets, writing real Delta
//! tables read back with DataFusion.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eventlake_events::UnknownTypePolicy;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::support::{
    ChildGuard, Kafka, TestProducer, ingest_to_end, schemas_dir, sensor_event, sql_count, sql_rows,
    test_config,
};

const DAY: i64 = 86_400;
const BASE_TIME: i64 = 1_733_300_000;

/// Sends `count` sensor events spread over partitions and three days, ids from `first_id`.
fn send_sensor_events(
    kafka: &TestProducer,
    topic: &str,
    partitions: i32,
    first_id: i64,
    count: i64,
) {
    for id in first_id..first_id + count {
        let value = sensor_event(
            id,
            BASE_TIME + (id % 3) * DAY,
            id % 7,
            20.0 + (id % 10) as f64,
        );
        let key = format!("sensor-{}", id % 7);
        kafka.send(
            topic,
            (id % partitions as i64) as i32,
            Some(key.as_bytes()),
            Some(value.as_bytes()),
            &[],
        );
    }
    kafka.flush();
}

/// Checks that each (partition, offset) appears at most once in both tables, and returns
/// the total number of rows.
async fn assert_unique_offsets(lake: &std::path::Path) -> i64 {
    let events = sql_count(lake, "SELECT count(*) FROM events").await;
    let distinct = sql_count(
        lake,
        "SELECT count(*) FROM (SELECT DISTINCT kafka_partition, kafka_offset FROM events)",
    )
    .await;
    assert_eq!(events, distinct, "duplicate offsets in events");
    let rejects = sql_count(lake, "SELECT count(*) FROM rejects").await;
    let distinct = sql_count(
        lake,
        "SELECT count(*) FROM (SELECT DISTINCT kafka_partition, kafka_offset FROM rejects)",
    )
    .await;
    assert_eq!(rejects, distinct, "duplicate offsets in rejects");
    let overlap = sql_count(
        lake,
        "SELECT count(*) FROM events e JOIN rejects r ON e.kafka_partition = r.kafka_partition AND e.kafka_offset = r.kafka_offset",
    )
    .await;
    assert_eq!(overlap, 0, "a record is in both tables");
    events + rejects
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_stream_lands_in_both_tables() {
    let kafka = Kafka::start();
    kafka.create_topic("mixed", 2);
    send_sensor_events(&kafka.producer, "mixed", 2, 0, 200);
    let device = r#"{"event_id": 900, "event_type": "device_status", "event_time": "2024-12-04T10:00:00Z", "event_data": {"device_id": "d1", "status": "online", "errors": ["E1", "E2"]}}"#;
    let action = r#"{"event_id": 901, "event_type": "user_action", "event_time": "2024-12-04T08:13:20.123+01:00", "event_data": {"user_id": "u1", "action": "purchase", "amount": 9.5, "signup_date": "2024-01-31"}}"#;
    kafka.send(
        "mixed",
        0,
        Some(b"d1"),
        Some(device.as_bytes()),
        &[("source", Some(b"gateway-3")), ("empty", None)],
    );
    kafka.send("mixed", 1, None, Some(action.as_bytes()), &[]);
    kafka.send("mixed", 0, None, Some(b"{not json"), &[]);
    kafka.send("mixed", 1, Some(b"k"), None, &[]);
    kafka.flush();

    let dir = tempfile::tempdir().expect("temp dir");
    let summary = ingest_to_end(test_config(&kafka.brokers(), "mixed", dir.path())).await;
    assert_eq!(summary.records, 204);
    assert_eq!(summary.events, 202);
    assert_eq!(summary.rejects, 2);

    let lake = dir.path();
    assert_eq!(assert_unique_offsets(lake).await, 204);
    let per_type = sql_rows(
        lake,
        "SELECT event_type, count(*) FROM events GROUP BY event_type ORDER BY event_type",
    )
    .await;
    assert_eq!(
        per_type,
        vec![
            vec![Some("device_status".into()), Some("1".into())],
            vec![Some("sensor_data".into()), Some("200".into())],
            vec![Some("user_action".into()), Some("1".into())],
        ]
    );
    let device_row = sql_rows(
        lake,
        "SELECT event_time, event_date, event_data['status'], array_length(event_data['errors']), kafka_headers[1]['key'] FROM events WHERE event_id = 900",
    )
    .await;
    assert_eq!(
        device_row,
        vec![vec![
            Some("2024-12-04T10:00:00Z".into()),
            Some("2024-12-04".into()),
            Some("online".into()),
            Some("2".into()),
            Some("source".into())
        ]]
    );
    let reasons = sql_rows(lake, "SELECT reason_code FROM rejects ORDER BY reason_code").await;
    assert_eq!(
        reasons,
        vec![
            vec![Some("empty_value".into())],
            vec![Some("invalid_json".into())]
        ]
    );

    let days: Vec<String> = std::fs::read_dir(lake.join("events/event_type=sensor_data"))
        .expect("sensor partition")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .to_string()
        })
        .collect();
    let mut days = days;
    days.sort();
    assert_eq!(
        days,
        vec![
            "event_date=2024-12-04",
            "event_date=2024-12-05",
            "event_date=2024-12-06"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_stream_is_exactly_once() {
    let kafka = Kafka::start();
    kafka.create_topic("restart", 3);
    let dir = tempfile::tempdir().expect("temp dir");

    send_sensor_events(&kafka.producer, "restart", 3, 0, 500);
    let first = ingest_to_end(test_config(&kafka.brokers(), "restart", dir.path())).await;
    assert_eq!(first.events, 500);

    send_sensor_events(&kafka.producer, "restart", 3, 500, 700);
    let second = ingest_to_end(test_config(&kafka.brokers(), "restart", dir.path())).await;
    assert_eq!(
        second.records, 700,
        "the second run starts after the committed offsets"
    );
    assert_eq!(assert_unique_offsets(dir.path()).await, 1_200);
    assert_eq!(
        sql_count(dir.path(), "SELECT count(DISTINCT event_id) FROM events").await,
        1_200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_after_offset_zero() {
    let kafka = Kafka::start();
    kafka.create_topic("zero", 1);
    let dir = tempfile::tempdir().expect("temp dir");

    send_sensor_events(&kafka.producer, "zero", 1, 0, 1);
    assert_eq!(
        ingest_to_end(test_config(&kafka.brokers(), "zero", dir.path()))
            .await
            .events,
        1
    );
    send_sensor_events(&kafka.producer, "zero", 1, 1, 1);
    let second = ingest_to_end(test_config(&kafka.brokers(), "zero", dir.path())).await;
    assert_eq!(second.records, 1, "offset 0 is not read again");

    let offsets = sql_rows(
        dir.path(),
        "SELECT kafka_offset FROM events ORDER BY kafka_offset",
    )
    .await;
    assert_eq!(
        offsets,
        vec![vec![Some("0".into())], vec![Some("1".into())]]
    );

    // Kafka's committed offset follows the lake, so lag tools see the group caught up.
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", kafka.brokers())
        .set("group.id", "eventlake-test")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    list.add_partition("zero", 0);
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .expect("committed offsets");
    let offset = committed
        .find_partition("zero", 0)
        .expect("partition")
        .offset();
    assert_eq!(offset, rdkafka::Offset::Offset(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_topic_is_flushed_by_age() {
    let kafka = Kafka::start();
    kafka.create_topic("quiet", 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(&kafka.brokers(), "quiet", dir.path());
    config.stop_at_end = false;
    config.flush.max_rows = 1_000_000;
    config.flush.max_age = Duration::from_millis(300);

    let shutdown = Arc::new(AtomicBool::new(false));
    let run = tokio::spawn(eventlake_ingest::run(config, shutdown.clone()));
    send_sensor_events(&kafka.producer, "quiet", 1, 0, 5);

    // No record follows the five, so only the age limit can flush them.
    let deadline = Instant::now() + Duration::from_secs(60);
    let events_log = dir
        .path()
        .join("events/_delta_log/00000000000000000001.json");
    while !events_log.exists() {
        assert!(
            Instant::now() < deadline,
            "no flush within 60 s of a quiet topic"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        sql_count(dir.path(), "SELECT count(*) FROM events").await,
        5
    );
    assert!(
        !shutdown.load(Ordering::Relaxed),
        "the ingestor was still running when the rows appeared"
    );

    shutdown.store(true, Ordering::Relaxed);
    let summary = run.await.expect("task").expect("clean stop");
    assert_eq!(summary.events, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_types_kept_with_null_payload() {
    let kafka = Kafka::start();
    kafka.create_topic("unknown", 1);
    let with_data = r#"{"event_id": 1, "event_type": "R&D report", "event_time": 1733300000, "event_data": {"pages": 3, "title": null}}"#;
    let null_data =
        r#"{"event_id": 2, "event_type": "a/b", "event_time": 1733300000, "event_data": null}"#;
    kafka.send("unknown", 0, None, Some(with_data.as_bytes()), &[]);
    kafka.send("unknown", 0, None, Some(null_data.as_bytes()), &[]);
    kafka.flush();

    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(&kafka.brokers(), "unknown", dir.path());
    config.decode.unknown_types = UnknownTypePolicy::KeepJson;
    ingest_to_end(config).await;

    let rows = sql_rows(
        dir.path(),
        "SELECT event_type, event_data_json, event_data IS NULL FROM events ORDER BY event_id",
    )
    .await;
    assert_eq!(
        rows,
        vec![
            vec![
                Some("R&D report".into()),
                Some(r#"{"pages": 3, "title": null}"#.into()),
                Some("true".into())
            ],
            vec![Some("a/b".into()), None, Some("true".into())],
        ]
    );
    assert_eq!(
        sql_count(
            dir.path(),
            "SELECT count(*) FROM events WHERE event_data_json = 'null'"
        )
        .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_ingestors_share_a_group() {
    let kafka = Kafka::start();
    kafka.create_topic("shared", 4);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(&kafka.brokers(), "shared", dir.path());
    config.stop_at_end = false;
    config.flush.max_rows = 200;
    config.flush.max_age = Duration::from_millis(200);

    let stop_first = Arc::new(AtomicBool::new(false));
    let stop_second = Arc::new(AtomicBool::new(false));
    let first = tokio::spawn(eventlake_ingest::run(config.clone(), stop_first.clone()));
    send_sensor_events(&kafka.producer, "shared", 4, 0, 2_000);
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The second member joins: the group rebalances in the middle of the stream.
    let second = tokio::spawn(eventlake_ingest::run(config.clone(), stop_second.clone()));
    for round in 0..10 {
        send_sensor_events(&kafka.producer, "shared", 4, 2_000 + round * 200, 200);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The first member leaves: its partitions move to the second.
    stop_first.store(true, Ordering::Relaxed);
    let first_summary = first.await.expect("task").expect("first stops cleanly");
    send_sensor_events(&kafka.producer, "shared", 4, 4_000, 1_000);

    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let rows = sql_count(dir.path(), "SELECT count(*) FROM events").await;
        if rows >= 5_000 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {rows} of 5000 rows after 90 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop_second.store(true, Ordering::Relaxed);
    let second_summary = second.await.expect("task").expect("second stops cleanly");

    assert!(first_summary.events > 0, "the first member committed rows");
    assert!(
        second_summary.events > 0,
        "the second member committed rows"
    );
    assert_eq!(assert_unique_offsets(dir.path()).await, 5_000);
    assert_eq!(
        sql_count(dir.path(), "SELECT count(DISTINCT event_id) FROM events").await,
        5_000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_ingestor_resumes_exactly_once() {
    let kafka = Kafka::start();
    kafka.create_topic("crash", 2);
    let dir = tempfile::tempdir().expect("temp dir");

    // Records keep arriving while the ingestor runs and is killed.
    let producer = {
        let producer = TestProducer::connect(&kafka.brokers());
        tokio::task::spawn_blocking(move || {
            for round in 0..60 {
                send_sensor_events(&producer, "crash", 2, round * 50, 50);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let lake = dir.path().join("lake");

    let log_path = dir.path().join("ingest.log");
    let command = |stop_at_end: bool| {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_eventlake"));
        command
            .args([
                "ingest",
                "--topic",
                "crash",
                "--group",
                "crash-test",
                "--flush-rows",
                "100",
                "--flush-interval",
                "100ms",
            ])
            .arg("--brokers")
            .arg(kafka.brokers())
            .arg("--lake")
            .arg(&lake)
            .arg("--schemas")
            .arg(schemas_dir())
            .args(["-X", "session.timeout.ms=6000"])
            .stdout(Stdio::null())
            .stderr(log);
        if stop_at_end {
            command.arg("--stop-at-end");
        }
        command
    };

    // Kill -9 once a few flushes have landed, in the middle of the stream.
    let mut child = ChildGuard(command(false).spawn().expect("ingestor starts"));
    let fifth_commit = lake.join("events/_delta_log/00000000000000000005.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !fifth_commit.exists() {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "no fifth commit within 60 s; ingestor log:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.0.kill().expect("SIGKILL");
    child.0.wait().expect("reaped");
    let partial = sql_count(&lake, "SELECT count(*) FROM events").await;
    assert!(partial < 3_000, "killed before the end ({partial} rows)");
    producer.await.expect("producer finished");

    let status = command(true).status().expect("second run");
    assert!(status.success(), "second run exits 0");
    assert_eq!(assert_unique_offsets(&lake).await, 3_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushes_stay_within_max_rows() {
    let kafka = Kafka::start();
    kafka.create_topic("bounded", 1);
    send_sensor_events(&kafka.producer, "bounded", 1, 0, 1_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(&kafka.brokers(), "bounded", dir.path());
    config.flush.max_rows = 100;
    ingest_to_end(config).await;

    // Rows per commit, from the numRecords statistics of each commit's add actions.
    let log_dir = dir.path().join("events/_delta_log");
    let mut total = 0;
    for entry in std::fs::read_dir(&log_dir).expect("log dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|extension| extension != "json") {
            continue;
        }
        let mut rows = 0;
        for line in std::fs::read_to_string(&path).expect("commit").lines() {
            let action: serde_json::Value = serde_json::from_str(line).expect("json action");
            if let Some(stats) = action["add"]["stats"].as_str() {
                let stats: serde_json::Value = serde_json::from_str(stats).expect("stats");
                rows += stats["numRecords"].as_i64().expect("numRecords");
            }
        }
        assert!(rows <= 100, "{} has {rows} rows", path.display());
        total += rows;
    }
    assert_eq!(total, 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_limit_starts_flushes() {
    let kafka = Kafka::start();
    kafka.create_topic("pressure", 2);
    send_sensor_events(&kafka.producer, "pressure", 2, 0, 2_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(&kafka.brokers(), "pressure", dir.path());
    // No flush limit is reached in this run, so only the buffer limit can flush: 2000 records
    // of about 200 bytes need at least 2000 * 200 / 32 KiB = 12 flushes.
    config.flush.max_rows = 1_000_000;
    config.flush.max_bytes = 1 << 30;
    config.flush.max_age = Duration::from_secs(3_600);
    config.max_buffer_bytes = 32 * 1024;

    let summary = ingest_to_end(config).await;
    assert!(summary.memory_flushes >= 12, "{summary:?}");
    assert_eq!(summary.events, 2_000);
    assert_eq!(assert_unique_offsets(dir.path()).await, 2_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hour_granularity_adds_event_hour() {
    let kafka = Kafka::start();
    kafka.create_topic("hourly", 1);
    for (id, time) in [
        (1, "2024-12-04T00:59:59Z"),
        (2, "2024-12-04T01:00:00Z"),
        (3, "2024-12-04T23:30:00+01:00"),
    ] {
        let value = format!(
            r#"{{"event_id": {id}, "event_type": "sensor_data", "event_time": "{time}", "event_data": {{"sensor_id": 1, "temperature": 1.0}}}}"#
        );
        kafka.send("hourly", 0, None, Some(value.as_bytes()), &[]);
    }
    kafka.flush();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(&kafka.brokers(), "hourly", dir.path());
    config.granularity = eventlake_events::PartitionGranularity::Hour;
    ingest_to_end(config).await;

    let rows = sql_rows(
        dir.path(),
        "SELECT event_id, event_date, event_hour FROM events ORDER BY event_id",
    )
    .await;
    assert_eq!(
        rows,
        vec![
            vec![
                Some("1".into()),
                Some("2024-12-04".into()),
                Some("0".into())
            ],
            vec![
                Some("2".into()),
                Some("2024-12-04".into()),
                Some("1".into())
            ],
            vec![
                Some("3".into()),
                Some("2024-12-04".into()),
                Some("22".into())
            ],
        ]
    );
    assert!(
        dir.path()
            .join("events/event_type=sensor_data/event_date=2024-12-04/event_hour=22")
            .is_dir()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_and_exits_zero() {
    let kafka = Kafka::start();
    kafka.create_topic("signal", 1);
    send_sensor_events(&kafka.producer, "signal", 1, 0, 300);
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path().join("lake");

    // A long flush interval: only the signal can make these records land.
    let log_path = dir.path().join("ingest.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_eventlake"))
            .args([
                "ingest",
                "--topic",
                "signal",
                "--flush-interval",
                "1h",
                "--flush-rows",
                "1000000",
            ])
            .arg("--brokers")
            .arg(kafka.brokers())
            .arg("--lake")
            .arg(&lake)
            .arg("--schemas")
            .arg(schemas_dir())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("ingestor starts"),
    );

    // Reading 300 small records takes milliseconds once the partition is assigned; the two
    // seconds after that are a wide margin.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .contains("partition assigned")
    {
        assert!(
            Instant::now() < deadline,
            "no partition assigned within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !lake
            .join("events/_delta_log/00000000000000000001.json")
            .exists(),
        "nothing flushed before the signal"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = child.0.wait().expect("ingestor exits");
    assert_eq!(exit.code(), Some(0));
    assert_eq!(sql_count(&lake, "SELECT count(*) FROM events").await, 300);
}
