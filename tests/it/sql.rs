//! `eventlake sql` as a user runs it, over the fixture lake written by the ingest path: the
//! output is compared as text, with timings, commit times and sizes masked.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use regex::Regex;

use crate::fixture::fixture_lake;
use crate::terminal::terminal_session;

fn eventlake_sql(lake: &Path, args: &[&str], stdin: Option<&str>) -> Output {
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

/// Masks what changes from run to run and squeezes the padding that depends on it.
fn masked(text: &str) -> String {
    let elapsed = Regex::new(r" in \d+\.\d{3} s").expect("regex");
    let commit_time = Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z").expect("regex");
    let size = Regex::new(r"\b\d+(\.\d)? (B|KiB|MiB)\b").expect("regex");
    let dashes = Regex::new(r"-{2,}").expect("regex");
    text.lines()
        .map(|line| {
            let line = elapsed.replace_all(line, " in <elapsed>");
            let line = commit_time.replace_all(&line, "<time>");
            let line = size.replace_all(&line, "<size>");
            let line = dashes.replace_all(&line, "-");
            line.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn stdout(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn shell_commands_and_queries_print_aligned_results() {
    let script = r#"
\d
\history events
\timing off
SELECT event_type, count(*) AS events
FROM events   -- statements span lines
GROUP BY event_type
ORDER BY event_type;
\maxrows 2
SELECT event_id, event_time FROM events ORDER BY event_id;
SELECT event_id FROM events WHERE event_id < 0;
\format csv
SELECT count(*) AS n,
\timing on
  max(event_id) AS last FROM "events@v1";
SELECT event_data.tags AS tags FROM events WHERE event_id = 16;
"#;
    let output = eventlake_sql(fixture_lake(), &[], Some(script));
    let expected = r#"+-+-+-+-+-+-+
| table | version | files | size | last_commit | partitioned_by |
+-+-+-+-+-+-+
| events | 2 | 6 | <size> | <time> | event_type, event_date |
| rejects | 2 | 2 | <size> | <time> | rejected_date |
+-+-+-+-+-+-+
2 rows
+-+-+-+-+-+-+
| version | committed_at | operation | rows_added | files_added | files_removed |
+-+-+-+-+-+-+
| 2 | <time> | WRITE | 5 | 1 | 0 |
| 1 | <time> | WRITE | 17 | 5 | 0 |
| 0 | <time> | CREATE TABLE | 0 | 0 | 0 |
+-+-+-+-+-+-+
3 rows
+-+-+
| event_type | events |
+-+-+
| device_status | 3 |
| sensor_data | 17 |
| user_action | 2 |
+-+-+
3 rows
+-+-+
| event_id | event_time |
+-+-+
| 1 | 2024-12-04T04:00:00Z |
| 2 | 2024-12-04T08:00:00Z |
+-+-+
2 rows shown; the result has more (--max-rows 0 prints all)
+-+
| event_id |
+-+
0 rows
n,last
17,17
tags
"[""a"",""b""]""#;
    assert_eq!(masked(&stdout(&output)), masked(expected));
}

#[test]
fn describe_lists_columns_partitions_and_size() {
    let output = eventlake_sql(fixture_lake(), &["-c", "\\d rejects"], None);
    let text = masked(&stdout(&output));
    assert!(
        text.starts_with(
            "Table rejects: version 2, 2 files, <size>, last commit <time>\nPartitioned by: rejected_date\n"
        ),
        "{text}"
    );
    for row in [
        "| kafka_offset | BIGINT | false | false |",
        "| reason_code | VARCHAR | false | false |",
        "| rejected_at | TIMESTAMP (UTC) | false | false |",
        "| rejected_date | DATE | false | true |",
    ] {
        assert!(text.contains(row), "missing {row} in\n{text}");
    }

    let output = eventlake_sql(
        fixture_lake(),
        &["--format", "csv", "-c", "\\d events"],
        None,
    );
    let text = stdout(&output);
    assert!(
        text.starts_with("column,type,nullable,partition\n"),
        "{text}"
    );
    assert!(
        text.contains("event_data.temperature,DOUBLE,true,false\n"),
        "{text}"
    );
}

#[test]
fn every_output_format_prints_the_same_rows() {
    let query = "SELECT event_id, event_data.status AS status FROM events WHERE event_type = 'device_status' ORDER BY event_id";
    let run = |format: &str| {
        stdout(&eventlake_sql(
            fixture_lake(),
            &["--format", format, "-c", query],
            None,
        ))
    };
    assert_eq!(
        run("csv"),
        "event_id,status\n13,online\n14,offline\n15,online\n"
    );
    assert_eq!(
        run("tsv"),
        "event_id\tstatus\n13\tonline\n14\toffline\n15\tonline\n"
    );
    assert_eq!(
        run("json"),
        "[{\"event_id\":13,\"status\":\"online\"},{\"event_id\":14,\"status\":\"offline\"},{\"event_id\":15,\"status\":\"online\"}]\n"
    );
    assert_eq!(
        run("ndjson"),
        "{\"event_id\":13,\"status\":\"online\"}\n{\"event_id\":14,\"status\":\"offline\"}\n{\"event_id\":15,\"status\":\"online\"}\n"
    );
}

#[test]
fn explain_lists_one_partition_files() {
    let output = eventlake_sql(
        fixture_lake(),
        &[
            "--format",
            "csv",
            "-c",
            "EXPLAIN SELECT avg(event_data.temperature) FROM events WHERE event_type = 'sensor_data' AND event_date = DATE '2024-12-05'",
        ],
        None,
    );
    let plan = stdout(&output);
    let files =
        Regex::new(r"event_type=[^/]+/event_date=[^/]+/part-[^,\]\s]+\.parquet").expect("regex");
    let scanned: Vec<&str> = files.find_iter(&plan).map(|found| found.as_str()).collect();
    assert!(
        !scanned.is_empty(),
        "the plan lists the files it reads:\n{plan}"
    );
    for file in &scanned {
        assert!(
            file.starts_with("event_type=sensor_data/event_date=2024-12-05/"),
            "a file outside the partition is read: {file}\n{plan}"
        );
    }

    let all_files = std::fs::read_dir(fixture_lake().join("events/event_type=sensor_data"))
        .expect("partition directory")
        .count();
    assert!(all_files > 1, "the fixture has several sensor days");
}

#[test]
fn explain_reads_single_struct_fields() {
    let output = eventlake_sql(
        fixture_lake(),
        &[
            "--format",
            "csv",
            "-c",
            "EXPLAIN SELECT avg(event_data.temperature) FROM events WHERE event_type = 'sensor_data'",
        ],
        None,
    );
    let plan = stdout(&output);

    // The Parquet scan itself extracts the field, so it reads no other field of event_data.
    let scan = plan
        .lines()
        .find(|line| line.contains("DataSourceExec"))
        .unwrap_or_else(|| panic!("no Parquet scan in the plan:\n{plan}"));
    assert!(
        scan.contains("get_field(event_data@"),
        "the scan reads the whole struct:\n{plan}"
    );
}

#[test]
fn errors_print_one_line_and_fail() {
    let lake = fixture_lake();
    for (args, needle) in [
        (vec!["-c", "SELEC 1"], "SELEC"),
        (vec!["-c", "SELECT nosuch FROM events"], "nosuch"),
        (vec!["-c", "SELECT * FROM missing_table"], "missing_table"),
        (vec!["-c", "SELECT * FROM \"events@v99\""], "events@v99"),
        (vec!["-c", "\\frobnicate"], "\\help"),
        (vec!["-c", "\\format xml"], "ndjson"),
        (vec!["-c", "COPY events TO 'x.csv'"], "--allow-writes"),
    ] {
        let output = eventlake_sql(lake, &args, None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(needle),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("backtrace"), "{stderr}");
    }

    // A failing statement stops a script; the statements before it have printed.
    let output = eventlake_sql(
        lake,
        &[],
        Some("SELECT 1 AS one;\nSELECT * FROM nope;\nSELECT 2;\n"),
    );
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("|   1 |"), "{text}");
    assert!(!text.contains("| 2 "), "{text}");

    let missing = eventlake_sql(&lake.join("no-such-dir"), &["-c", "SELECT 1"], None);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--lake"));
}

#[test]
fn script_error_names_its_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("report.sql");
    std::fs::write(
        &script,
        "-- daily report\nSELECT 1 AS one;\n\nSELECT nope\nFROM events;\nSELECT 2 AS two;\n",
    )
    .expect("script written");
    let output = eventlake_sql(
        fixture_lake(),
        &["-f", script.to_str().expect("UTF-8")],
        None,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: {}, line 4: ", script.display())),
        "{stderr}"
    );
    assert!(stderr.contains("nope"), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("| one |"), "{stdout}");
    assert!(!stdout.contains("two"), "{stdout}");
}

#[test]
fn closed_pipe_ends_output_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventlake"))
        .args(["sql", "--lake"])
        .arg(fixture_lake())
        .args(["-c", "SELECT value FROM range(1000000)"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    // Both readers go away early, as with `2>&1 | head -3`.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0_u8; 64];
    std::io::Read::read_exact(&mut stdout, &mut first).expect("first bytes");
    drop(stdout);
    drop(child.stderr.take());
    let status = child.wait().expect("binary exits");
    assert_eq!(
        status.code(),
        Some(0),
        "no panic and no error for a closed pipe"
    );
}

#[test]
fn writes_need_the_allow_writes_flag() {
    let out = tempfile::tempdir().expect("temp dir");
    let target = out.path().join("sensors.csv");
    let copy = format!(
        "COPY (SELECT event_id FROM events WHERE event_type = 'user_action' ORDER BY event_id) TO '{}' STORED AS CSV",
        target.display()
    );
    let rejected = eventlake_sql(fixture_lake(), &["-c", &copy], None);
    assert_eq!(rejected.status.code(), Some(1));
    assert!(!target.exists(), "a read-only session writes no file");

    let allowed = eventlake_sql(fixture_lake(), &["--allow-writes", "-c", &copy], None);
    stdout(&allowed);
    assert_eq!(
        std::fs::read_to_string(&target).expect("COPY wrote the file"),
        "event_id\n16\n17\n"
    );

    // A table created in the session lives in memory; the lake's names stay reserved.
    let session = "CREATE TABLE totals AS SELECT event_type, count(*) AS n FROM events GROUP BY 1;\nSELECT n FROM totals WHERE event_type = 'sensor_data';\nCREATE TABLE events AS SELECT 1;\n";
    let output = eventlake_sql(
        fixture_lake(),
        &["--allow-writes", "--format", "csv"],
        Some(session),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("n\n17\n"));
    assert!(String::from_utf8_lossy(&output.stderr).contains("'events' already exists"));
}

#[test]
fn interactive_shell_edits_keeps_history_and_cancels_queries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let history = dir.path().join("history");
    let command = format!(
        "'{}' sql --lake '{}' --history '{}'",
        env!("CARGO_BIN_EXE_eventlake"),
        fixture_lake().display(),
        history.display()
    );
    let (status, screen) = terminal_session(
        &command,
        &[
            // A statement over two lines, then Ctrl-C at the prompt drops a pending one.
            ("SELECT count(*) AS total\r", 300),
            ("FROM events;\r", 1500),
            ("SELECT 'dropped' AS never\r", 300),
            ("\x03", 300),
            // A backslash command runs even inside a pending statement.
            ("SELECT 'pending'\r", 300),
            ("\\timing off\r", 300),
            ("AS kept;\r", 1500),
            // A sum over 10^11 generated rows runs for minutes; Ctrl-C cancels it.
            ("SELECT sum(value) FROM range(100000000000);\r", 3000),
            ("\x03", 1500),
            ("SELECT 'still here' AS after;\r", 1500),
            // The first 40 rows print and the rest of 10^11 rows is never computed.
            ("SELECT value FROM range(100000000000);\r", 3000),
            ("\x04", 1000),
        ],
    );
    assert_eq!(status, Some(0), "{screen}");
    assert!(
        screen.contains("SQL shell over 2 table(s): events, rejects"),
        "{screen}"
    );
    assert!(
        screen.contains("       -> "),
        "continuation prompt:\n{screen}"
    );
    assert!(screen.contains("|    22 |"), "{screen}");
    assert!(!screen.contains("| dropped"), "{screen}");
    assert!(screen.contains("query cancelled"), "{screen}");
    assert!(screen.contains("| still here |"), "{screen}");
    assert!(
        screen.contains("40 rows shown; the result has more (\\maxrows 0 prints all)"),
        "{screen}"
    );
    assert!(screen.contains("Timing is off."), "{screen}");
    assert!(screen.contains("| pending |"), "{screen}");

    let saved = std::fs::read_to_string(&history).expect("history file written");
    // History keeps whole statements: one entry for the two lines.
    assert!(saved.contains("SELECT count(*) AS total"), "{saved}");
    assert!(saved.contains("FROM events;"), "{saved}");
    assert!(!saved.contains("dropped"), "{saved}");
    assert!(saved.contains("SELECT 'still here' AS after;"), "{saved}");
}
