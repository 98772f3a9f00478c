//! The `eventlake` binary as a user runs it: exit codes and one-line errors.

use std::io::Write;
use std::process::{Command, Output};

use crate::support::schemas_dir;

fn eventlake(args: &[&str]) -> Output {
    // The repository's sql/ directory would add processed tables and their startup lines.
    Command::new(env!("CARGO_BIN_EXE_eventlake"))
        .args(args)
        .env_remove("EVENTLAKE_BROKERS")
        .env("EVENTLAKE_SQL", "off")
        .output()
        .expect("binary runs")
}

/// Asserts exit code 2 and a single stderr line that contains each of `needles`.
fn assert_usage_error(output: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "'{needle}' missing from: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_flag_value_exits_2() {
    let output = eventlake(&["ingest", "--topic", "t", "--flush-rows", "lots"]);
    assert_usage_error(&output, &["lots", "--flush-rows"]);
}

#[test]
fn bad_duration_names_value() {
    let output = eventlake(&["ingest", "--topic", "t", "--flush-interval", "10"]);
    assert_usage_error(&output, &["'10'", "10s"]);
}

#[test]
fn missing_topic_exits_2() {
    let schemas = schemas_dir();
    let output = eventlake(&["ingest", "--schemas", schemas.to_str().expect("utf-8")]);
    assert_usage_error(&output, &["--topic"]);
}

#[test]
fn unknown_config_key_exits_2() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "topics = [\"t\"]\nflush_rowz = 5").expect("write");
    let output = eventlake(&["ingest", "--config", file.path().to_str().expect("utf-8")]);
    assert_usage_error(&output, &["flush_rowz", "line 2"]);
}

#[test]
fn bad_config_value_exits_2() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "topics = [\"t\"]\nepoch_unit = \"fortnights\"").expect("write");
    let output = eventlake(&["ingest", "--config", file.path().to_str().expect("utf-8")]);
    assert_usage_error(&output, &["epoch_unit", "fortnights"]);
}

#[test]
fn conflicting_schema_files_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("a.json"),
        r#"{"type": "object", "properties": {"level": {"type": "integer"}}}"#,
    )
    .expect("write");
    std::fs::write(
        dir.path().join("b.json"),
        r#"{"type": "object", "properties": {"level": {"type": "boolean"}}}"#,
    )
    .expect("write");
    let output = eventlake(&[
        "ingest",
        "--topic",
        "t",
        "--schemas",
        dir.path().to_str().expect("utf-8"),
    ]);
    assert_usage_error(&output, &["a.json", "b.json", "level"]);
}

#[test]
fn unknown_kafka_property_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let schemas = schemas_dir();
    let output = eventlake(&[
        "ingest",
        "--topic",
        "t",
        "--schemas",
        schemas.to_str().expect("utf-8"),
        "--lake",
        dir.path().to_str().expect("utf-8"),
        "-X",
        "no.such.property=1",
    ]);
    assert_usage_error(&output, &["no.such.property"]);
}

#[test]
fn help_lists_ingest_flags() {
    let output = eventlake(&["ingest", "--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--brokers",
        "--topic",
        "--lake",
        "--flush-interval",
        "--stop-at-end",
        "EVENTLAKE_BROKERS",
    ] {
        assert!(help.contains(flag), "{flag} missing from help");
    }
}

#[test]
fn bad_environment_value_exits_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_eventlake"))
        .args(["ingest", "--topic", "t"])
        .env("EVENTLAKE_MAX_BUFFER", "lots")
        .output()
        .expect("binary runs");
    assert_usage_error(&output, &["lots", "--max-buffer", "EVENTLAKE_MAX_BUFFER"]);
}

#[test]
fn boolean_environment_accepts_yes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_eventlake"))
        .args([
            "ingest",
            "--topic",
            "t",
            "--schemas",
            dir.path().to_str().expect("utf-8"),
        ])
        .env("EVENTLAKE_STOP_AT_END", "yes")
        .output()
        .expect("binary runs");
    // The empty schema directory is the only error, so the variable was accepted.
    assert_usage_error(&output, &["no *.json files"]);
}

#[test]
fn reserved_kafka_property_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let schemas = schemas_dir();
    let output = eventlake(&[
        "ingest",
        "--topic",
        "t",
        "--schemas",
        schemas.to_str().expect("utf-8"),
        "--lake",
        dir.path().to_str().expect("utf-8"),
        "-X",
        "group.id=other",
    ]);
    assert_usage_error(&output, &["group.id", "--group"]);
}

#[test]
fn lake_path_that_is_a_file_exits_2() {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let schemas = schemas_dir();
    let output = eventlake(&[
        "ingest",
        "--topic",
        "t",
        "--schemas",
        schemas.to_str().expect("utf-8"),
        "--lake",
        file.path().to_str().expect("utf-8"),
    ]);
    assert_usage_error(&output, &["not a directory"]);
}
