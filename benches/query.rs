//! Query speed against DuckDB: a fixed set of analytic statements over a raw table of
//! 10 million events (and its rejects), run by eventlake's engine and by DuckDB 1.5.5's
//! `delta_scan` over the same Delta tables, in the same run.
//!
//! The lake is written once to `target/tmp/query-bench-lake` (or `EVENTLAKE_BENCH_LAKE`) and
//! reused. DuckDB runs in the Python of `EVENTLAKE_BENCH_PYTHON`, by default the interop
//! test's environment (`target/tmp/interop-venv`, made by `cargo test --test it interop`).
//!
//! ```sh
//! cargo bench --bench query            # EVENTS=1000000 for a smaller table
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[path = "common/sample.rs"]
mod sample;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::compute::concat_batches;
use eventlake_lake::{
    AppendRequest, LakeRoot, LakeTable, OffsetColumns, OffsetRange, SourcePartition, TableSpec,
    WriteSettings,
};
use eventlake_query::{Access, LakeSession};

/// Timed runs of each statement, after one warm-up run; the best counts.
const RUNS: usize = 3;

/// Records per commit while the table is written.
const COMMIT_RECORDS: usize = 1_000_000;

/// One record in this many is malformed, so that `rejects` has rows to join.
const MALFORMED_EVERY: usize = 1_000;

/// The statements, by name. They read the same in DataFusion and DuckDB.
const QUERIES: [(&str, &str); 9] = [
    ("count_all", "SELECT count(*) FROM events"),
    (
        "count_by_type_day",
        "SELECT event_type, event_date, count(*) AS events FROM events GROUP BY event_type, event_date ORDER BY event_type, event_date",
    ),
    (
        "sensor_day_stats",
        "SELECT event_data.sensor_id AS sensor, avg(event_data.temperature) AS avg_c, max(event_data.humidity) AS max_h FROM events WHERE event_type = 'sensor_data' AND event_time >= '2024-12-05T00:00:00Z' AND event_time < '2024-12-06T00:00:00Z' GROUP BY 1 ORDER BY 1",
    ),
    (
        "hourly_statuses",
        "SELECT date_trunc('hour', event_time) AS hour, count(*) AS reports FROM events WHERE event_type = 'device_status' GROUP BY 1 ORDER BY 1",
    ),
    (
        "top_spenders",
        "SELECT event_data.user_id AS user_id, sum(event_data.amount) AS total FROM events WHERE event_type = 'user_action' GROUP BY 1 ORDER BY total DESC, user_id LIMIT 10",
    ),
    (
        "sites_distinct_sensors",
        "SELECT event_data.location.site AS site, count(DISTINCT event_data.sensor_id) AS sensors FROM events WHERE event_type = 'sensor_data' GROUP BY 1 ORDER BY 1",
    ),
    (
        "lookup_event_id",
        "SELECT event_id, event_type, event_time FROM events WHERE event_id = 7777777",
    ),
    (
        "lookup_id_range",
        "SELECT count(*) FROM events WHERE event_id BETWEEN 5000000 AND 5000999",
    ),
    (
        "join_rejects",
        "SELECT count(*) AS before_reject FROM events e JOIN rejects r ON e.kafka_partition = r.kafka_partition AND e.kafka_offset = r.kafka_offset - 1",
    ),
];

fn table_spec(
    name: &str,
    schema: deltalake::arrow::datatypes::SchemaRef,
    partitions: Vec<String>,
) -> TableSpec {
    TableSpec {
        name: name.to_string(),
        schema,
        partition_columns: partitions,
        offset_columns: Some(OffsetColumns::default()),
        derive: None,
    }
}

/// Writes `events` and `rejects` with `total` records, one commit per million.
async fn write_lake(lake: &Path, total: usize) {
    let (schemas, layout) = sample::shipped_layout();
    let root = LakeRoot::parse(lake.to_str().expect("utf-8 path")).expect("lake root");
    let mut events = LakeTable::open_or_create(
        &root,
        table_spec(
            "events",
            layout.schema.clone(),
            layout.partition_columns.clone(),
        ),
        WriteSettings::default(),
    )
    .await
    .expect("events table");
    let mut rejects = LakeTable::open_or_create(
        &root,
        table_spec(
            "rejects",
            eventlake_events::rejects_table_schema(),
            eventlake_events::rejects_partition_columns(),
        ),
        WriteSettings::default(),
    )
    .await
    .expect("rejects table");

    let started = Instant::now();
    for first in (0..total).step_by(COMMIT_RECORDS) {
        let count = COMMIT_RECORDS.min(total - first);
        let mut values = sample::sample_values_from(first, count);
        for (index, value) in values.iter_mut().enumerate() {
            if (first + index) % MALFORMED_EVERY == MALFORMED_EVERY - 1 {
                *value = format!(
                    r#"{{"event_id": {}, "event_type": "sensor_da"#,
                    first + index
                )
                .into_bytes();
            }
        }
        let decoded = sample::decode(&schemas, &layout, &values, first);
        let mut offsets = BTreeMap::new();
        offsets.insert(
            SourcePartition::new("events", 0),
            OffsetRange {
                first: first as i64,
                last: (first + count - 1) as i64,
            },
        );
        for (table, batch) in [
            (&mut events, decoded.events),
            (&mut rejects, decoded.rejects),
        ] {
            table
                .append(&AppendRequest {
                    batch,
                    offsets: offsets.clone(),
                })
                .await
                .expect("append");
        }
        eprintln!(
            "wrote {} of {total} records in {:.0} s",
            first + count,
            started.elapsed().as_secs_f64()
        );
    }
}

/// Returns the best time in milliseconds of [`RUNS`] runs and the rows of the result.
async fn time_eventlake(session: &LakeSession, sql: &str) -> (f64, usize) {
    let rows = |batches: &[RecordBatch]| batches.iter().map(RecordBatch::num_rows).sum::<usize>();
    let warm_up = session
        .query(sql)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    let mut best = f64::MAX;
    for _ in 0..RUNS {
        let started = Instant::now();
        let batches = session.query(sql).await.expect("query runs");
        best = best.min(started.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(concat_batches(&batches[0].schema(), &batches).ok());
    }
    (best, rows(&warm_up))
}

fn main() {
    let total: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(10_000_000);
    let target_tmp = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tmp");
    let lake = std::env::var_os("EVENTLAKE_BENCH_LAKE")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_tmp.join(format!("query-bench-lake-{total}")));
    let python = std::env::var_os("EVENTLAKE_BENCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_tmp.join("interop-venv/bin/python"));
    assert!(
        python.exists(),
        "no Python with duckdb at {}; run `cargo test --test it interop` once, or set EVENTLAKE_BENCH_PYTHON",
        python.display()
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    if !lake.join("events/_delta_log").exists() {
        runtime.block_on(write_lake(&lake, total));
    }

    let session = LakeSession::open(&lake, Access::ReadOnly).expect("session");
    let mut ours = Vec::new();
    for (name, sql) in QUERIES {
        ours.push((name, runtime.block_on(time_eventlake(&session, sql))));
    }

    let queries_file = lake.with_extension("queries.json");
    let list: Vec<[&str; 2]> = QUERIES.iter().map(|(name, sql)| [*name, *sql]).collect();
    std::fs::write(&queries_file, serde_json::to_string(&list).expect("json")).expect("written");
    let output = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/query_duckdb.py"))
        .arg(&lake)
        .arg(&queries_file)
        .arg(RUNS.to_string())
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "DuckDB failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let duckdb: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");

    println!("{total} events; best of {RUNS} runs after a warm-up, in milliseconds");
    println!("| query | eventlake | DuckDB | eventlake / DuckDB | rows |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, (ms, rows)) in ours {
        let theirs = duckdb[name]["ms"].as_f64().expect("time");
        let their_rows = duckdb[name]["rows"].as_u64().expect("rows") as usize;
        let rows = if rows == their_rows {
            rows.to_string()
        } else {
            format!("{rows} (DuckDB: {their_rows})")
        };
        println!(
            "| {name} | {ms:.1} | {theirs:.1} | {:.2} | {rows} |",
            ms / theirs
        );
        // One line per statement for benches/run.sh, which prints the table of every benchmark.
        println!(
            "RESULT query {name} | eventlake ms {ms:.1} | DuckDB ms {theirs:.1} | ratio {:.2} |",
            ms / theirs
        );
    }
}
