//! `eventlake optimize` and `eventlake vacuum` on tables written by the ingest path: data
//! stays the same, small files become few, and compaction runs safely beside an ingestor.

use std::num::NonZeroU64;
use std::path::Path;
use std::process::Command;

use deltalake::parquet::basic::Compression;
use eventlake_lake::{CompactOptions, compact};
use serde_json::Value;

use crate::support::{Kafka, ingest_to_end, open_table, sensor_event, sql_rows, test_config};

/// Seconds since the epoch of 2024-12-04T00:00:00Z.
const DAY_ONE: i64 = 1_733_270_400;

fn eventlake(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_eventlake"))
        .args(args)
        .output()
        .expect("binary runs")
}

/// Row count, offset sum and per-partition counts: equal fingerprints mean equal data here.
async fn fingerprint(lake: &Path) -> Vec<Vec<Option<String>>> {
    sql_rows(
        lake,
        "SELECT CAST(event_date AS VARCHAR), count(*), count(DISTINCT kafka_offset), sum(kafka_offset), sum(event_data.temperature) FROM events GROUP BY 1 ORDER BY 1",
    )
    .await
}

/// Live data files per partition directory of a table.
async fn files_per_partition(
    lake: &Path,
    table: &str,
) -> std::collections::BTreeMap<String, usize> {
    let table = open_table(lake, table).await;
    let mut counts = std::collections::BTreeMap::new();
    for file in table.snapshot().expect("snapshot").log_data().iter() {
        let path = file.path().to_string();
        let partition = path
            .rsplit_once('/')
            .map_or(String::new(), |(dir, _)| dir.to_string());
        *counts.entry(partition).or_default() += 1;
    }
    counts
}

/// Sends `count` sensor readings spread over three days to partition 0 of `topic`.
fn send_readings(kafka: &Kafka, topic: &str, first_id: i64, count: i64) {
    for id in first_id..first_id + count {
        let time = DAY_ONE + (id % 3) * 86_400 + id;
        let event = sensor_event(id, time, id % 5, 20.0 + (id % 10) as f64);
        kafka.send(topic, 0, None, Some(event.as_bytes()), &[]);
    }
    kafka.flush();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimize_compacts_small_files_and_keeps_data() {
    let kafka = Kafka::start();
    kafka.create_topic("compact", 1);
    send_readings(&kafka, "compact", 1, 600);
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path();
    let mut config = test_config(&kafka.brokers(), "compact", lake);
    config.flush.max_rows = 30;
    ingest_to_end(config).await;

    let before = fingerprint(lake).await;
    let small_files = files_per_partition(lake, "events").await;
    assert_eq!(small_files.len(), 3, "{small_files:?}");
    assert!(
        small_files.values().all(|files| *files > 2),
        "{small_files:?}"
    );

    let lake_arg = lake.to_str().expect("UTF-8 path");
    let output = eventlake(&["optimize", "--lake", lake_arg, "--sort-by", "event_time"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    assert_eq!(fingerprint(lake).await, before);
    let compacted = files_per_partition(lake, "events").await;
    assert_eq!(
        compacted.keys().collect::<Vec<_>>(),
        small_files.keys().collect::<Vec<_>>()
    );
    assert!(compacted.values().all(|files| *files <= 2), "{compacted:?}");

    // The compaction commit marks its files as a rewrite, not as new data.
    let table = open_table(lake, "events").await;
    let version = table.version().expect("version");
    let commit =
        std::fs::read_to_string(lake.join(format!("events/_delta_log/{version:020}.json")))
            .expect("commit file");
    let actions: Vec<Value> = commit
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON action"))
        .collect();
    let operation = actions
        .iter()
        .find_map(|action| action["commitInfo"]["operation"].as_str());
    assert_eq!(operation, Some("OPTIMIZE"));
    for action in &actions {
        for kind in ["add", "remove"] {
            if let Some(file) = action.get(kind) {
                assert_eq!(file["dataChange"], Value::Bool(false), "{kind}: {file}");
            }
        }
    }

    // A second run finds nothing left to compact and commits nothing.
    let output = eventlake(&["optimize", "--lake", lake_arg, "events"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(open_table(lake, "events").await.version(), Some(version));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_beside_an_ingestor_loses_and_duplicates_nothing() {
    let kafka = Kafka::start();
    kafka.create_topic("busy", 1);
    send_readings(&kafka, "busy", 1, 3_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path().to_path_buf();
    let mut config = test_config(&kafka.brokers(), "busy", &lake);
    config.flush.max_rows = 50;
    let ingest = tokio::spawn(ingest_to_end(config));

    // Compact over and over while the ingestor commits every 50 rows.
    let options = CompactOptions {
        target_size: NonZeroU64::new(64 * 1024 * 1024).expect("non-zero"),
        partitions: Vec::new(),
        sort_by: None,
        compression: Compression::SNAPPY,
    };
    let mut compactions = 0;
    while !ingest.is_finished() {
        if lake.join("events/_delta_log").is_dir() {
            let table = open_table(&lake, "events").await;
            let summary = compact(&table, "events", &options)
                .await
                .expect("compaction succeeds");
            compactions += usize::from(summary.version.is_some());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    ingest.await.expect("ingest task");
    assert!(
        compactions > 0,
        "no compaction landed while the ingestor ran"
    );

    let rows = sql_rows(
        &lake,
        "SELECT count(*), count(DISTINCT kafka_offset), min(kafka_offset), max(kafka_offset) FROM events",
    )
    .await;
    let expected = ["3000", "3000", "0", "2999"].map(|value| Some(value.to_string()));
    assert_eq!(rows, vec![expected.to_vec()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vacuum_deletes_replaced_and_orphan_files_only() {
    let kafka = Kafka::start();
    kafka.create_topic("vacuum", 1);
    send_readings(&kafka, "vacuum", 1, 300);
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path();
    let mut config = test_config(&kafka.brokers(), "vacuum", lake);
    config.flush.max_rows = 30;
    ingest_to_end(config).await;
    let lake_arg = lake.to_str().expect("UTF-8 path");
    let before = fingerprint(lake).await;

    let output = eventlake(&["optimize", "--lake", lake_arg]);
    assert_eq!(output.status.code(), Some(0));
    let partition = lake.join("events/event_type=sensor_data/event_date=2024-12-04");
    let orphan = partition.join("part-orphan-left-by-a-failed-writer.parquet");
    std::fs::write(&orphan, b"not committed").expect("orphan written");
    let parquet_files = |dir: &Path| {
        std::fs::read_dir(dir)
            .expect("partition directory")
            .filter(|entry| {
                entry
                    .as_ref()
                    .expect("entry")
                    .path()
                    .extension()
                    .is_some_and(|ext| ext == "parquet")
            })
            .count()
    };
    let live = files_per_partition(lake, "events").await;
    let live_here = live.values().next().copied().expect("a partition");
    assert!(
        parquet_files(&partition) > live_here + 1,
        "replaced files are still on disk"
    );

    // The default retention of 7 days keeps everything this young.
    let output = eventlake(&["vacuum", "--lake", lake_arg]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(orphan.exists());

    // A short retention needs the explicit flag.
    let output = eventlake(&["vacuum", "--lake", lake_arg, "--retention", "1s"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--allow-short-retention"));

    // Files must be older than the retention: wait past it, then vacuum for real.
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    let output = eventlake(&[
        "vacuum",
        "--lake",
        lake_arg,
        "--retention",
        "1s",
        "--allow-short-retention",
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!orphan.exists(), "the orphan file is deleted");
    assert_eq!(
        parquet_files(&partition),
        live_here,
        "only live files remain"
    );
    assert_eq!(fingerprint(lake).await, before);
}

/// The version `_delta_log/_last_checkpoint` points at.
fn last_checkpoint(lake: &Path, table: &str) -> Option<u64> {
    let pointer = std::fs::read(lake.join(table).join("_delta_log/_last_checkpoint")).ok()?;
    serde_json::from_slice::<Value>(&pointer).ok()?["version"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_interval_counts_from_last() {
    let kafka = Kafka::start();
    kafka.create_topic("checkpoints", 1);
    send_readings(&kafka, "checkpoints", 1, 300);
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path();

    // A run without checkpoints leaves a log of JSON commits only.
    let mut config = test_config(&kafka.brokers(), "checkpoints", lake);
    config.flush.max_rows = 30;
    config.write.checkpoint_interval = 1_000;
    ingest_to_end(config).await;
    let version = open_table(lake, "events").await.version().expect("version");
    assert!(version >= 10, "expected ten or more commits, got {version}");
    assert_eq!(last_checkpoint(lake, "events"), None);

    // The next start finds the checkpoint overdue and writes it before reading anything.
    let mut config = test_config(&kafka.brokers(), "checkpoints", lake);
    config.write.checkpoint_interval = 4;
    ingest_to_end(config).await;
    assert_eq!(last_checkpoint(lake, "events"), Some(version));

    // A compaction commit counts towards the next checkpoint like any other commit.
    let lake_arg = lake.to_str().expect("UTF-8 path");
    for round in 0..3 {
        send_readings(&kafka, "checkpoints", 1_000 + round * 10, 10);
        let mut config = test_config(&kafka.brokers(), "checkpoints", lake);
        config.write.checkpoint_interval = 4;
        ingest_to_end(config).await;
        let output = eventlake(&["optimize", "--lake", lake_arg, "events"]);
        assert_eq!(output.status.code(), Some(0));
    }
    send_readings(&kafka, "checkpoints", 2_000, 10);
    let mut config = test_config(&kafka.brokers(), "checkpoints", lake);
    config.write.checkpoint_interval = 4;
    ingest_to_end(config).await;
    // Three appends and three compactions followed the checkpoint, then one more append.
    // Whichever commits those were, no four of them in a row go without a checkpoint.
    let latest = open_table(lake, "events").await.version().expect("version");
    assert_eq!(latest, version + 7);
    let last = last_checkpoint(lake, "events").expect("a checkpoint");
    assert!(last > version, "a checkpoint followed the compactions");
    assert!(
        latest - last < 4,
        "at most three commits since the checkpoint ({last} of {latest})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_ingestor_compacts_idle_partitions() {
    let kafka = Kafka::start();
    kafka.create_topic("idle", 1);
    send_readings(&kafka, "idle", 1, 600);
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path().to_path_buf();
    let mut config = test_config(&kafka.brokers(), "idle", &lake);
    config.flush.max_rows = 30;
    config.stop_at_end = false;
    config.auto_compaction = Some(eventlake_ingest::AutoCompaction::after(
        std::time::Duration::from_secs(2),
    ));
    let shutdown = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ingest = tokio::spawn(eventlake_ingest::run(
        config,
        std::sync::Arc::clone(&shutdown),
    ));

    // Wait until every row is in and every partition is down to its compacted files.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let mut compacted = std::collections::BTreeMap::new();
    while std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        if !lake.join("events/_delta_log").is_dir() {
            continue;
        }
        let rows = sql_rows(&lake, "SELECT count(*) FROM events").await;
        compacted = files_per_partition(&lake, "events").await;
        if rows == vec![vec![Some("600".to_string())]]
            && compacted.len() == 3
            && compacted.values().all(|files| *files <= 2)
        {
            break;
        }
    }
    shutdown.store(true, std::sync::atomic::Ordering::Relaxed);
    ingest
        .await
        .expect("ingest task")
        .expect("ingest succeeded beside the compactor");

    assert_eq!(compacted.len(), 3, "{compacted:?}");
    assert!(compacted.values().all(|files| *files <= 2), "{compacted:?}");
    let rows = sql_rows(
        &lake,
        "SELECT count(*), count(DISTINCT kafka_offset) FROM events",
    )
    .await;
    assert_eq!(
        rows,
        vec![vec![Some("600".to_string()), Some("600".to_string())]]
    );
    let history = std::fs::read_dir(lake.join("events/_delta_log"))
        .expect("log")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".json"))
        .map(|entry| std::fs::read_to_string(entry.path()).expect("commit"))
        .filter(|commit| commit.contains("\"operation\":\"OPTIMIZE\""))
        .count();
    assert!(history > 0, "a compaction commit is in the log");
}

/// Versions of the checkpoint files in a table's log.
fn checkpoint_versions(lake: &Path, table: &str) -> Vec<u64> {
    let mut versions: Vec<u64> = std::fs::read_dir(lake.join(table).join("_delta_log"))
        .expect("log dir")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.contains(".checkpoint")
                .then(|| name[..20].parse().ok())
                .flatten()
        })
        .collect();
    versions.sort_unstable();
    versions
}

/// Row count of `events` at `version`, through the shell's time travel.
fn count_at(lake: &str, version: u64) -> String {
    let query = format!("SELECT count(*) FROM \"events@v{version}\"");
    let output = eventlake(&["sql", "--lake", lake, "--format", "csv", "-c", &query]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_cleanup_keeps_retained_versions() {
    let kafka = Kafka::start();
    kafka.create_topic("retention", 1);
    send_readings(&kafka, "retention", 1, 300);
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path();
    let lake_arg = lake.to_str().expect("UTF-8 path");
    let retention = std::time::Duration::from_secs(3600);

    let mut config = test_config(&kafka.brokers(), "retention", lake);
    config.flush.max_rows = 30;
    config.write.checkpoint_interval = 4;
    config.write.log_retention = Some(retention);
    ingest_to_end(config).await;
    let table = open_table(lake, "events").await;
    let properties = table
        .snapshot()
        .expect("snapshot")
        .metadata()
        .configuration()
        .clone();
    assert_eq!(
        properties
            .get("delta.logRetentionDuration")
            .map(String::as_str),
        Some("interval 3600 seconds")
    );
    let latest = table.version().expect("version");
    let boundary = *checkpoint_versions(lake, "events")
        .last()
        .expect("a checkpoint");
    assert!(
        boundary >= 8,
        "two checkpoints or more, the last at {boundary}"
    );

    // Every version from the boundary on, with its row count, before any cleanup.
    let mut counts = Vec::new();
    for version in boundary..=latest {
        counts.push((version, count_at(lake_arg, version)));
    }

    // Nothing is old enough yet: a checkpoint with a fresh log deletes nothing.
    assert!(
        lake.join("events/_delta_log/00000000000000000000.json")
            .exists()
    );

    // Age every log file below the boundary past the retention, as if written two hours ago.
    let two_hours_ago = std::time::SystemTime::now() - 2 * retention;
    for entry in std::fs::read_dir(lake.join("events/_delta_log")).expect("log dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("");
        if name.len() > 20
            && name[..20]
                .parse::<u64>()
                .is_ok_and(|version| version < boundary)
        {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .expect("open log file")
                .set_modified(two_hours_ago)
                .expect("set mtime");
        }
    }

    // More appends lead to the next checkpoint, which deletes the expired files.
    send_readings(&kafka, "retention", 1_000, 150);
    let mut config = test_config(&kafka.brokers(), "retention", lake);
    config.flush.max_rows = 30;
    config.write.checkpoint_interval = 4;
    config.write.log_retention = Some(retention);
    ingest_to_end(config).await;
    assert!(
        *checkpoint_versions(lake, "events")
            .last()
            .expect("checkpoint")
            > latest,
        "a checkpoint after the second run"
    );
    assert!(
        !lake
            .join("events/_delta_log/00000000000000000000.json")
            .exists()
    );
    assert_eq!(
        eventlake_lake::earliest_version(&lake.join("events")).expect("log"),
        Some(boundary)
    );

    // Every version inside the retention reads as before, and the latest has all rows.
    for (version, count) in &counts {
        assert_eq!(&count_at(lake_arg, *version), count, "version {version}");
    }
    let all = sql_rows(
        lake,
        "SELECT count(*), count(DISTINCT kafka_offset) FROM events",
    )
    .await;
    assert_eq!(
        all,
        vec![vec![Some("450".to_string()), Some("450".to_string())]]
    );

    // A version whose log files are gone gets an error naming the versions left.
    let output = eventlake(&[
        "sql",
        "--lake",
        lake_arg,
        "-c",
        &format!("SELECT count(*) FROM \"events@v{}\"", boundary - 1),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("has versions {boundary} to "))
            && stderr.contains("delta.logRetentionDuration"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
