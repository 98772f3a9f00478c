//! Other engines read the tables that eventlake writes. Python `deltalake`, polars, DuckDB's
//! delta extension and Spark (over the Parquet files that the Delta log lists as live) each
//! fingerprint the raw, processed and rejects tables, and every fingerprint must equal
//! DataFusion's. The lake is read in three states: after ingestion (with a checkpoint), after
//! `optimize` (removed files still on disk) and after `vacuum`.
//!
//! The readers come from `tests/interop/requirements.txt`. The first run installs them into a
//! virtual environment under the target directory (about 1.2 GB), or the interpreter named by
//! `EVENTLAKE_INTEROP_PYTHON` is used. Spark needs Java 17 on the `PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;

use eventlake_events::UnknownTypePolicy;
use eventlake_produce::{EventGenerator, EventTimes, GeneratorSettings};
use eventlake_query::{Access, LakeSession};
use eventlake_transform::TransformSpec;
use serde_json::{Value, json};

use crate::support::{
    Kafka, SPECIAL_VALUES, ingest_to_end, send_generated, session_rows, shipped_transforms,
    test_config,
};

/// Columns to fingerprint in one table.
struct TableCheck {
    table: &'static str,
    /// Rows are counted per value of this column.
    group: Option<&'static str>,
    integer_sums: &'static [&'static str],
    float_sums: &'static [&'static str],
    /// Timestamp columns whose minimum and maximum are compared.
    times: &'static [&'static str],
}

const CHECKS: [TableCheck; 7] = [
    TableCheck {
        table: "events",
        group: Some("event_type"),
        integer_sums: &["kafka_offset", "event_id"],
        float_sums: &[],
        times: &["event_time", "kafka_timestamp"],
    },
    TableCheck {
        table: "rejects",
        group: Some("reason_code"),
        integer_sums: &["kafka_offset"],
        float_sums: &[],
        times: &["rejected_at"],
    },
    TableCheck {
        table: "sensor_readings",
        group: Some("site"),
        integer_sums: &["kafka_offset"],
        float_sums: &["temperature_c", "humidity_pct"],
        times: &["reading_time"],
    },
    TableCheck {
        table: "sensor_minutes",
        group: None,
        integer_sums: &["readings"],
        float_sums: &["temperature_avg", "temperature_max"],
        times: &["minute"],
    },
    TableCheck {
        table: "device_statuses",
        group: Some("status"),
        integer_sums: &["error_count", "kafka_offset"],
        float_sums: &[],
        times: &["reported_at"],
    },
    TableCheck {
        table: "user_actions",
        group: Some("action"),
        integer_sums: &["kafka_offset"],
        float_sums: &["amount"],
        times: &["action_time"],
    },
    TableCheck {
        table: "pages",
        group: Some("page"),
        integer_sums: &["kafka_offset"],
        float_sums: &[],
        times: &["event_time"],
    },
];

/// A processed table partitioned by a column with nulls and with characters that partition
/// paths must escape.
const PAGES_TRANSFORM: &str = "\
-- eventlake: partition_by = page
SELECT event_id, event_time, event_data.page AS page, kafka_partition, kafka_offset
FROM events
WHERE event_type = 'user_action' AND event_data.session_id = 'interop'
";

/// Returns a Python interpreter with the pinned readers, installing them on first use.
fn interop_python() -> PathBuf {
    if let Some(python) = std::env::var_os("EVENTLAKE_INTEROP_PYTHON") {
        return PathBuf::from(python);
    }
    let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/requirements.txt");
    let requirements_text = std::fs::read_to_string(&requirements).expect("requirements file");
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-venv");
    let python = venv.join("bin/python");
    // A copy of the requirements inside the environment marks it as up to date.
    let stamp = venv.join("eventlake-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(requirements_text.as_str()) {
        return python;
    }

    let run = |command: &mut Command, what: &str| {
        let output = command
            .output()
            .unwrap_or_else(|error| panic!("{what} failed to start: {error}"));
        assert!(
            output.status.success(),
            "{what} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run(
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
        "python3 -m venv (install Python 3 with its venv module)",
    );
    run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "-r"])
            .arg(&requirements),
        "pip install of tests/interop/requirements.txt",
    );
    std::fs::write(&stamp, requirements_text).expect("stamp written");
    python
}

/// Copies a directory tree, so that a state of the lake can be read after later changes.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("directory created");
    for entry in std::fs::read_dir(from).expect("directory read") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("file copied");
        }
    }
}

/// Writes the lake: generated events over three days with malformed records, user actions
/// with special page values, and event types without a schema kept as JSON.
async fn write_lake(lake: &Path, sql_dir: &Path) {
    let kafka = Kafka::start();
    kafka.create_topic("interop", 2);
    let mut generator = EventGenerator::new(GeneratorSettings {
        seed: 11,
        devices: 30,
        users: 50,
        malformed_fraction: 0.02,
        times: EventTimes::Replay {
            from: "2024-12-04T00:00:00Z".parse().expect("time"),
            to: "2024-12-07T00:00:00Z".parse().expect("time"),
        },
        first_id: 1,
        count: Some(6_000),
    });
    send_generated(&kafka, "interop", &mut generator, 6_000);

    // 2024-12-05T10:00:00Z in seconds, the default epoch unit.
    let event_time = 1_733_392_800_i64;
    for (index, page) in SPECIAL_VALUES.iter().enumerate() {
        let page = page.map_or(String::new(), |page| format!(r#", "page": "{page}""#));
        let event = format!(
            r#"{{"event_id": {}, "event_type": "user_action", "event_time": {event_time}, "event_data": {{"user_id": "u{index}", "action": "view", "session_id": "interop"{page}}}}}"#,
            100_000 + index
        );
        kafka.send("interop", 0, None, Some(event.as_bytes()), &[]);
    }
    for (index, event_type) in SPECIAL_VALUES.iter().flatten().enumerate() {
        let event = format!(
            r#"{{"event_id": {}, "event_type": "{event_type}", "event_time": {event_time}, "event_data": {{"note": "kept as JSON"}}}}"#,
            200_000 + index
        );
        kafka.send("interop", 1, None, Some(event.as_bytes()), &[]);
    }
    kafka.flush();

    std::fs::write(sql_dir.join("pages.sql"), PAGES_TRANSFORM).expect("transform written");
    let mut config = test_config(&kafka.brokers(), "interop", lake);
    config.decode.unknown_types = UnknownTypePolicy::KeepJson;
    // Small flushes give each table more than ten commits, and so a checkpoint.
    config.flush.max_rows = 400;
    config.transforms = shipped_transforms();
    config
        .transforms
        .push(TransformSpec::read(&sql_dir.join("pages.sql")).expect("pages transform"));
    ingest_to_end(config).await;
}

/// Fingerprints one table with DataFusion, in the shape `fingerprints.py` prints.
async fn datafusion_fingerprint(session: &LakeSession, check: &TableCheck) -> Value {
    let table = check.table;
    let value = |text: &Option<String>| -> Value {
        match text {
            None => Value::Null,
            Some(text) => serde_json::from_str(text).unwrap_or_else(|_| json!(text)),
        }
    };
    let single = |rows: Vec<Vec<Option<String>>>| value(&rows[0][0]);

    let rows = single(session_rows(session, &format!("SELECT count(*) FROM {table}")).await);
    let mut fingerprint = json!({ "rows": rows });
    if let Some(group) = check.group {
        let mut pairs: Vec<(Option<String>, i64)> = session_rows(
            session,
            &format!("SELECT CAST({group} AS VARCHAR), count(*) FROM {table} GROUP BY 1"),
        )
        .await
        .into_iter()
        .map(|row| {
            let count = row[1].as_deref().and_then(|count| count.parse().ok());
            (row[0].clone(), count.expect("count"))
        })
        .collect();
        pairs.sort();
        fingerprint["groups"] = json!(pairs);
    }
    let mut sums = serde_json::Map::new();
    for column in check.integer_sums {
        let sql = format!("SELECT sum({column}) FROM {table}");
        sums.insert(
            column.to_string(),
            single(session_rows(session, &sql).await),
        );
    }
    fingerprint["sums"] = Value::Object(sums);
    let mut floats = serde_json::Map::new();
    for column in check.float_sums {
        let sql = format!("SELECT sum({column}) FROM {table}");
        floats.insert(
            column.to_string(),
            single(session_rows(session, &sql).await),
        );
    }
    fingerprint["floats"] = Value::Object(floats);
    let mut times = serde_json::Map::new();
    for column in check.times {
        let sql = format!(
            "SELECT CAST(min({column}) AS BIGINT), CAST(max({column}) AS BIGINT) FROM {table}"
        );
        let rows = session_rows(session, &sql).await;
        times.insert(
            column.to_string(),
            json!([value(&rows[0][0]), value(&rows[0][1])]),
        );
    }
    fingerprint["times"] = Value::Object(times);
    fingerprint
}

/// Lists where `actual` differs from `expected`; float sums may differ in the last bits,
/// because each engine adds the values in another order.
fn differences(expected: &Value, actual: &Value, place: &str, found: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => {
            for (key, value) in expected {
                let inner = format!("{place}.{key}");
                match actual.get(key) {
                    Some(other) => differences(value, other, &inner, found),
                    None => found.push(format!("{inner}: missing")),
                }
            }
        }
        (Value::Array(expected), Value::Array(actual)) if expected.len() == actual.len() => {
            for (index, (value, other)) in expected.iter().zip(actual).enumerate() {
                differences(value, other, &format!("{place}[{index}]"), found);
            }
        }
        (Value::Number(expected), Value::Number(actual))
            if expected.is_f64() || actual.is_f64() =>
        {
            let (expected, actual) = (
                expected.as_f64().expect("number"),
                actual.as_f64().expect("number"),
            );
            if (expected - actual).abs() > 1e-9 * expected.abs().max(1.0) {
                found.push(format!("{place}: expected {expected}, read {actual}"));
            }
        }
        _ if expected == actual => {}
        _ => found.push(format!("{place}: expected {expected}, read {actual}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_readers_agree_with_datafusion() {
    let python = interop_python();
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path().join("lake");
    let sql_dir = dir.path().join("sql");
    std::fs::create_dir_all(&sql_dir).expect("sql directory");
    write_lake(&lake, &sql_dir).await;
    assert!(
        lake.join("events/_delta_log/_last_checkpoint").exists(),
        "the raw table has a checkpoint"
    );

    // Three states of the lake: as ingested, compacted with the replaced files still on disk,
    // and vacuumed.
    let eventlake = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_eventlake"))
            .args(args)
            .output()
            .expect("binary runs");
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let lake_arg = lake.to_str().expect("utf-8 path");
    let ingested = dir.path().join("ingested");
    copy_tree(&lake, &ingested);
    eventlake(&["optimize", "--lake", lake_arg]);
    let optimized = dir.path().join("optimized");
    copy_tree(&lake, &optimized);
    // The shortest retention is one second, so the removed files must be older than that.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    eventlake(&[
        "vacuum",
        "--lake",
        lake_arg,
        "--retention",
        "1s",
        "--allow-short-retention",
    ]);
    let states = [
        ("ingested", ingested),
        ("optimized", optimized),
        ("vacuumed", lake.clone()),
    ];

    let mut expected = serde_json::Map::new();
    for (state, path) in &states {
        let session = LakeSession::open(path, Access::ReadOnly).expect("session");
        let mut tables = serde_json::Map::new();
        for check in &CHECKS {
            tables.insert(
                check.table.to_string(),
                datafusion_fingerprint(&session, check).await,
            );
        }
        expected.insert(state.to_string(), Value::Object(tables));
    }
    let expected = Value::Object(expected);

    // The fixture exercises what the readers must get right: special partition values, null
    // partitions, rejects of several kinds and event types without a schema.
    let pages = &expected["ingested"]["pages"]["groups"];
    assert_eq!(
        pages.as_array().map(Vec::len),
        Some(SPECIAL_VALUES.len()),
        "{pages}"
    );
    assert_eq!(pages[0], json!([null, 1]), "{pages}");
    let event_types = expected["ingested"]["events"]["groups"].to_string();
    assert!(event_types.contains("Zürich"), "{event_types}");
    assert!(event_types.contains("x/y"), "{event_types}");
    let reasons = expected["ingested"]["rejects"]["groups"]
        .as_array()
        .map(Vec::len);
    assert!(reasons > Some(3), "{reasons:?}");

    let request = json!({
        "lakes": states.iter().map(|(state, path)| (state.to_string(), json!(path))).collect::<serde_json::Map<_, _>>(),
        "tables": CHECKS.iter().map(|check| json!({
            "table": check.table,
            "group": check.group,
            "sums": check.integer_sums,
            "floats": check.float_sums,
            "times": check.times,
        })).collect::<Vec<_>>(),
    });
    let request_path = dir.path().join("request.json");
    std::fs::write(&request_path, request.to_string()).expect("request written");
    let output = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/fingerprints.py"))
        .arg(&request_path)
        .output()
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "fingerprints.py failed:\n{stderr}");
    let read: Value = serde_json::from_slice(&output.stdout).expect("fingerprints are JSON");

    for reader in ["deltalake", "polars", "duckdb", "spark"] {
        let mut found = Vec::new();
        differences(&expected, &read[reader], reader, &mut found);
        assert!(
            found.is_empty(),
            "{reader} disagrees with DataFusion:\n{}",
            found.join("\n")
        );
    }
}
