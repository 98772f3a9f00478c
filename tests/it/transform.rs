//! Processed tables: the shipped SQL transforms run by the ingestor equal the same SQL over
//! the raw table, across restarts in which the processed tables fall behind the raw one.

use std::path::{Path, PathBuf};
use std::process::Command;

use eventlake_produce::{EventGenerator, EventTimes, GeneratorSettings};
use eventlake_query::{Access, LakeSession};
use eventlake_transform::TransformSpec;

use crate::consistency::assert_processed_tables_match;
use crate::support::{
    Kafka, ingest_to_end, send_generated, session_count, shipped_transforms, sql_rows, test_config,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processed_tables_equal_sql_over_raw() {
    let kafka = Kafka::start();
    kafka.create_topic("transformed", 2);
    let mut generator = EventGenerator::new(GeneratorSettings {
        seed: 5,
        devices: 40,
        users: 60,
        malformed_fraction: 0.02,
        times: EventTimes::Replay {
            from: "2024-12-04T00:00:00Z".parse().expect("time"),
            to: "2024-12-07T00:00:00Z".parse().expect("time"),
        },
        first_id: 1,
        count: Some(3_000),
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path();

    // Run 1 has the transforms. Run 2 has none, so the processed tables fall behind the raw
    // one, as after a crash between commits. Run 3 has them again and catches up.
    for (run, transforms) in [(1, true), (2, false), (3, true)] {
        send_generated(&kafka, "transformed", &mut generator, 1_000);
        let mut config = test_config(&kafka.brokers(), "transformed", lake);
        config.flush.max_rows = 300;
        if transforms {
            config.transforms = shipped_transforms();
        }
        let summary = ingest_to_end(config).await;
        assert!(summary.records > 0, "run {run} read records");
    }

    let raw = sql_rows(
        lake,
        "SELECT count(*), count(DISTINCT kafka_partition * 1000000 + kafka_offset) FROM events",
    )
    .await;
    assert_eq!(
        raw,
        vec![vec![Some("2940".to_string()), Some("2940".to_string())]]
    );

    assert_processed_tables_match(lake, 100).await;
}

fn ingest_with_sql(sql_dir: &Path, lake: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_eventlake"))
        .args([
            "ingest",
            "--brokers",
            "127.0.0.1:9",
            "--topic",
            "t",
            "--metrics-address",
            "off",
        ])
        .arg("--lake")
        .arg(lake)
        .arg("--schemas")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas"))
        .arg("--sql")
        .arg(sql_dir)
        .output()
        .expect("binary runs")
}

#[test]
fn broken_transform_stops_startup_at_its_line() {
    let cases = [
        (
            "syntax.sql",
            "-- Readings.\nSELECT event_id\nFROM events WHERE (\n",
            "syntax.sql:3: syntax error",
        ),
        (
            "table.sql",
            "SELECT event_id\nFROM readings\n",
            "a transform reads only the table 'events'",
        ),
        (
            "unknown.sql",
            "-- Readings.\nSELECT event_id,\n       no_such_column\nFROM events\n",
            "unknown.sql:3:",
        ),
        (
            "partition.sql",
            "-- eventlake: partition_by = day\nSELECT event_id FROM events\n",
            "partition.sql:1: partition column 'day' is not a column of the SELECT; its columns are event_id",
        ),
        (
            "events.sql",
            "SELECT event_id FROM events\n",
            "table 'events' is the raw table; rename the file",
        ),
    ];
    for (file, sql, expected) in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        let sql_dir = dir.path().join("sql");
        std::fs::create_dir(&sql_dir).expect("sql dir");
        std::fs::write(sql_dir.join(file), sql).expect("write transform");
        let output = ingest_with_sql(&sql_dir, &dir.path().join("lake"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{file}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("error: "), "{file}: {stderr}");
        assert!(last.contains(expected), "{file}: {stderr}");
        assert!(
            !dir.path().join("lake/events").exists(),
            "{file}: no table written"
        );
    }
}

/// Checks that a processed table equals its SQL over the raw table, row for row.
async fn assert_equals_sql_over_raw(lake: &Path, spec: &TransformSpec) {
    let session = LakeSession::open(lake, Access::ReadOnly).expect("session");
    let select = spec.sql.trim().trim_end_matches(';');
    let table = format!("SELECT * FROM {}", spec.name);
    let processed = session_count(&session, &format!("SELECT count(*) FROM {}", spec.name)).await;
    let expected = session_count(&session, &format!("SELECT count(*) FROM ({select})")).await;
    assert_eq!(processed, expected, "{}", spec.name);
    let offsets = session_count(
        &session,
        &format!(
            "SELECT count(DISTINCT kafka_partition * 1000000 + kafka_offset) FROM {}",
            spec.name
        ),
    )
    .await;
    assert_eq!(offsets, processed, "{}: one row per record", spec.name);
    let columns = format!(
        "SELECT {} FROM ({select})",
        "event_id, action_time, action_date, user_id, session_id, action, page, is_purchase, amount, currency, os, kafka_partition, kafka_offset"
    );
    let missing = session_count(
        &session,
        &format!(
            "SELECT count(*) FROM (({columns}) EXCEPT ALL (SELECT event_id, action_time, action_date, user_id, session_id, action, page, is_purchase, amount, currency, os, kafka_partition, kafka_offset FROM ({table})))"
        ),
    )
    .await;
    assert_eq!(missing, 0, "{}", spec.name);
}

/// Runs `eventlake backfill TABLE` over the lake with the shipped schemas and transforms.
fn run_backfill(lake: &Path, args: &[&str]) -> std::process::Output {
    let repository = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Command::new(env!("CARGO_BIN_EXE_eventlake"))
        .arg("backfill")
        .args(args)
        .arg("--lake")
        .arg(lake)
        .arg("--schemas")
        .arg(repository.join("schemas"))
        .arg("--sql")
        .arg(repository.join("sql"))
        .output()
        .expect("binary runs")
}

/// Checks that `sensor_minutes` counts every in-range reading of the raw table once.
async fn assert_aggregate_matches(lake: &Path) {
    let session = LakeSession::open(lake, Access::ReadOnly).expect("session");
    let readings = session_count(
        &session,
        "SELECT coalesce(sum(readings), 0) FROM sensor_minutes",
    )
    .await;
    let raw = session_count(
        &session,
        "SELECT count(*) FROM events WHERE event_type = 'sensor_data' AND event_data.temperature BETWEEN -90 AND 60 AND (event_data.humidity IS NULL OR event_data.humidity BETWEEN 0 AND 100)",
    )
    .await;
    assert!(raw > 0);
    assert_eq!(readings, raw);
    let groups = session_count(&session, "SELECT count(*) FROM sensor_minutes").await;
    let distinct = session_count(
        &session,
        "SELECT count(*) FROM (SELECT DISTINCT minute, sensor_id FROM sensor_minutes)",
    )
    .await;
    assert_eq!(groups, distinct, "one row per minute and sensor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_fills_a_transform_added_later() {
    let kafka = Kafka::start();
    kafka.create_topic("later", 2);
    let mut generator = EventGenerator::new(GeneratorSettings {
        seed: 9,
        devices: 30,
        users: 50,
        malformed_fraction: 0.01,
        times: EventTimes::Now,
        first_id: 1,
        count: None,
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path().join("lake");

    // The raw data arrives before the transform exists.
    send_generated(&kafka, "later", &mut generator, 1_000);
    ingest_to_end(test_config(&kafka.brokers(), "later", &lake)).await;

    let sql_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sql");
    let output = run_backfill(&lake, &["--chunk-rows", "100", "user_actions"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with("user_actions: 990 raw rows read, "),
        "{stdout}"
    );
    let spec = TransformSpec::read(&sql_dir.join("user_actions.sql")).expect("spec");
    assert_equals_sql_over_raw(&lake, &spec).await;

    // A second backfill finds nothing to do.
    let again = run_backfill(&lake, &["user_actions"]);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        "user_actions: 0 raw rows read, 0 rows committed in 0 commits, 0 rows to rejects\n"
    );

    // A transform with a check also adds its failing rows to rejects.
    let readings = run_backfill(&lake, &["sensor_readings"]);
    assert_eq!(
        readings.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&readings.stderr)
    );
    let session = LakeSession::open(&lake, Access::ReadOnly).expect("session");
    let select = TransformSpec::read(&sql_dir.join("sensor_readings.sql"))
        .expect("spec")
        .sql;
    let failing = session_count(
        &session,
        &format!("SELECT count(*) FROM ({select}) WHERE reject_reason IS NOT NULL"),
    )
    .await;
    let rejected = session_count(
        &session,
        "SELECT count(*) FROM rejects WHERE reason_code = 'transform_check'",
    )
    .await;
    assert_eq!(rejected, failing);
    assert!(
        String::from_utf8_lossy(&readings.stdout)
            .trim_end()
            .ends_with(&format!(", {failing} rows to rejects")),
        "{}",
        String::from_utf8_lossy(&readings.stdout)
    );

    // An aggregate is computed over the whole raw table in one commit.
    let minutes = run_backfill(&lake, &["sensor_minutes"]);
    assert_eq!(
        minutes.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&minutes.stderr)
    );
    let aggregate = TransformSpec::read(&sql_dir.join("sensor_minutes.sql")).expect("spec");
    assert_aggregate_matches(&lake).await;

    // Live ingestion with the transforms continues after the backfilled offsets.
    send_generated(&kafka, "later", &mut generator, 1_000);
    let mut config = test_config(&kafka.brokers(), "later", &lake);
    config.transforms = vec![spec.clone(), aggregate];
    ingest_to_end(config).await;
    assert_equals_sql_over_raw(&lake, &spec).await;
    assert_aggregate_matches(&lake).await;
    let raw = sql_rows(&lake, "SELECT count(*) FROM events").await;
    assert_eq!(raw, vec![vec![Some("1980".to_string())]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregate_recomputes_late_buckets() {
    let kafka = Kafka::start();
    kafka.create_topic("minutes", 2);
    let sql_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sql");
    let spec = TransformSpec::read(&sql_dir.join("sensor_minutes.sql")).expect("spec");
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path();
    // 2024-12-05T10:00:00Z, in seconds.
    let start = 1_733_392_800;

    // Six minutes of readings from four sensors in time order, over many small flushes, then
    // late readings for the first minute and for the day before.
    let rounds: [Vec<(i64, i64)>; 2] = [
        (0..600).map(|id| (id, start + id * 6 / 10)).collect(),
        (600..660)
            .map(|id| (id, start + id % 60))
            .chain((660..690).map(|id| (id, start - 30)))
            .collect(),
    ];
    for round in rounds {
        for (id, time) in round {
            let event =
                crate::support::sensor_event(id, time, id % 4, 20.0 + (id % 7) as f64 / 3.0);
            kafka.send(
                "minutes",
                (id % 2) as i32,
                None,
                Some(event.as_bytes()),
                &[],
            );
        }
        kafka.flush();
        let mut config = test_config(&kafka.brokers(), "minutes", lake);
        config.flush.max_rows = 50;
        config.transforms = vec![spec.clone()];
        let metrics = std::sync::Arc::clone(&config.metrics);
        ingest_to_end(config).await;

        // Replacing commits count the files they add.
        let text = metrics.encode();
        let files = text
            .lines()
            .find(|line| {
                line.starts_with("eventlake_files_written_total{table=\"sensor_minutes\"}")
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse::<f64>().ok());
        assert!(files.is_some_and(|files| files >= 1.0), "{text}");
    }

    let session = LakeSession::open(lake, Access::ReadOnly).expect("session");
    let columns = "minute, minute_date, sensor_id, readings, round(temperature_avg, 9), temperature_min, temperature_max";
    let table = format!("SELECT {columns} FROM sensor_minutes");
    let over_raw = format!(
        "SELECT {columns} FROM ({})",
        spec.sql.trim().trim_end_matches(';')
    );
    let rows = session_count(&session, "SELECT count(*) FROM sensor_minutes").await;
    // Six minutes and the minute of the day before, for each of four sensors.
    assert_eq!(rows, 28);
    for (left, right) in [(&table, &over_raw), (&over_raw, &table)] {
        let differing = session_count(
            &session,
            &format!("SELECT count(*) FROM (({left}) EXCEPT ALL ({right}))"),
        )
        .await;
        assert_eq!(differing, 0, "{left}\nEXCEPT ALL\n{right}");
    }
    let first_minute = session_count(
        &session,
        "SELECT sum(readings) FROM sensor_minutes WHERE minute = TIMESTAMP '2024-12-05T10:00:00Z'",
    )
    .await;
    assert_eq!(first_minute, 100 + 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_transform_stops_without_losing_records() {
    let kafka = Kafka::start();
    kafka.create_topic("failing", 2);
    let mut generator = EventGenerator::new(GeneratorSettings {
        seed: 3,
        devices: 20,
        users: 20,
        malformed_fraction: 0.0,
        times: EventTimes::Now,
        first_id: 1,
        count: None,
    });
    send_generated(&kafka, "failing", &mut generator, 300);
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path().join("lake");
    let sql_dir = dir.path().join("sql");
    std::fs::create_dir(&sql_dir).expect("sql dir");
    let path = sql_dir.join("device_numbers.sql");

    // Device ids such as 'device-7' are not numbers: the cast plans, and fails on the rows.
    std::fs::write(
        &path,
        "SELECT event_id, kafka_partition, kafka_offset, CAST(event_data.device_id AS INT) AS device\nFROM events WHERE event_type = 'device_status'\n",
    )
    .expect("write transform");
    let mut config = test_config(&kafka.brokers(), "failing", &lake);
    config.transforms = vec![TransformSpec::read(&path).expect("spec")];
    let error = eventlake_ingest::run(config, Default::default())
        .await
        .expect_err("the transform fails");
    let message = error.to_string();
    assert!(message.contains("device_numbers"), "{message}");
    assert!(message.contains("device_numbers.sql"), "{message}");

    // The fixed transform picks up every record the failed one could not take.
    std::fs::write(
        &path,
        "SELECT event_id, kafka_partition, kafka_offset, CAST(substr(event_data.device_id, 8) AS INT) AS device\nFROM events WHERE event_type = 'device_status'\n",
    )
    .expect("write transform");
    let mut config = test_config(&kafka.brokers(), "failing", &lake);
    config.transforms = vec![TransformSpec::read(&path).expect("spec")];
    ingest_to_end(config).await;
    let raw = sql_rows(
        &lake,
        "SELECT count(*) FROM events WHERE event_type = 'device_status'",
    )
    .await;
    let session = LakeSession::open(&lake, Access::ReadOnly).expect("session");
    let processed = session_count(
        &session,
        "SELECT count(DISTINCT kafka_offset) FROM device_numbers",
    )
    .await;
    let rows = session_count(&session, "SELECT count(*) FROM device_numbers").await;
    assert_eq!(raw, vec![vec![Some(processed.to_string())]]);
    assert_eq!(rows, processed);
    assert!(processed > 20, "{processed} status reports");
}
