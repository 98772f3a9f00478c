//! `eventlake demo` as a user runs it: the in-process broker, sample events, ingestion with the
//! built-in transforms, then the shell. After the demo stops, every record it produced is in
//! the lake exactly once.

use std::path::Path;
use std::process::{Command, Output};

use eventlake_cli::SUGGESTED_QUERIES;
use eventlake_query::{Access, LakeSession};

use crate::consistency::kafka_records;
use crate::support::session_count;
use crate::terminal::terminal_session;

/// Runs the demo in `dir` with a backlog of `backlog` records and the given extra arguments.
fn run_demo(dir: &Path, backlog: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eventlake"))
        .current_dir(dir)
        .args(["demo", "--backlog", backlog, "--rate", "400"])
        .args(args)
        .output()
        .expect("binary runs")
}

/// Returns the record count of the demo's closing line, "demo: produced N records; ...".
fn produced(stderr: &str) -> i64 {
    let line = stderr
        .lines()
        .find(|line| line.starts_with("demo: produced "))
        .unwrap_or_else(|| panic!("no closing line in:\n{stderr}"));
    line["demo: produced ".len()..]
        .split_whitespace()
        .next()
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no count in '{line}'"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_script_commits_every_record_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args = Vec::new();
    for query in SUGGESTED_QUERIES {
        args.extend(["-c", query]);
    }
    let output = run_demo(dir.path(), "2000", &args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");

    // Every suggested query printed a table with rows.
    assert_eq!(
        stdout.matches(" rows in ").count() + stdout.matches(" row in ").count(),
        SUGGESTED_QUERIES.len(),
        "{stdout}"
    );
    for expected in [
        "sensor_data",
        "avg_c",
        "temperature_avg",
        "reason_code",
        "behind",
    ] {
        assert!(stdout.contains(expected), "{expected}:\n{stdout}");
    }

    // The backlog was committed before the queries ran, and the stop committed the rest.
    let produced_first = produced(&stderr);
    assert!(produced_first >= 2000, "{stderr}");
    let lake = dir.path().join("lake");
    let session = LakeSession::open(&lake, Access::ReadOnly).expect("session");
    assert_eq!(
        kafka_records(&session).await,
        (produced_first, produced_first)
    );
    assert!(session_count(&session, "SELECT count(*) FROM rejects").await > 0);
    for table in [
        "sensor_readings",
        "sensor_minutes",
        "device_statuses",
        "user_actions",
    ] {
        assert!(
            session_count(&session, &format!("SELECT count(*) FROM {table}")).await > 0,
            "{table} is empty"
        );
    }

    // A second run takes a topic of its own and adds to the same tables.
    let output = run_demo(dir.path(), "500", &["-c", "SELECT 1;"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let produced_second = produced(&stderr);
    let session = LakeSession::open(&lake, Access::ReadOnly).expect("session");
    let total = produced_first + produced_second;
    assert_eq!(kafka_records(&session).await, (total, total));
    assert_eq!(
        session_count(&session, "SELECT count(DISTINCT kafka_topic) FROM events").await,
        2
    );
}

#[test]
fn demo_shell_stops_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path().join("lake");
    let command = format!(
        "'{}' demo --backlog 1000 --lake '{}'",
        env!("CARGO_BIN_EXE_eventlake"),
        lake.display()
    );
    let (status, screen) = terminal_session(
        &command,
        &[
            ("SELECT count(*) > 0 AS has_events FROM events;\r", 2000),
            ("\x04", 500),
        ],
    );
    assert_eq!(status, Some(0), "{screen}");
    assert!(screen.contains("Try these queries:"), "{screen}");
    assert!(screen.contains("SQL shell over 6 table(s)"), "{screen}");
    assert!(screen.contains("| true       |"), "{screen}");
    assert!(screen.contains("demo: produced "), "{screen}");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let session = LakeSession::open(&lake, Access::ReadOnly).expect("session");
    let produced = produced(&screen.replace('\r', ""));
    assert_eq!(
        runtime.block_on(kafka_records(&session)),
        (produced, produced)
    );
}

#[test]
fn demo_rejects_lake_inside_a_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("lake/events/_delta_log")).expect("table directory");
    std::fs::create_dir_all(dir.path().join("lake/events/event_type=x")).expect("partition");
    for lake in [
        "lake/events",
        "lake/events/event_type=x",
        "lake/events/_delta_log",
    ] {
        let output = run_demo(dir.path(), "10", &["--lake", lake, "-c", "SELECT 1;"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{lake}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{lake}: {stderr}");
        assert!(
            stderr.contains("inside the Delta table") && stderr.contains("lake/events;"),
            "{lake}: {stderr}"
        );
    }
    assert!(
        !dir.path().join("lake/events/event_type=x/events").exists(),
        "no lake was written inside the table"
    );
}
