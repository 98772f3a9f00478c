//! Table open time: how long loading a table's latest snapshot takes, and the first query
//! through the SQL session, for a lake that an ingestor may be writing to right now.
//!
//! ```sh
//! cargo bench --bench table_open -- LAKE_DIR [TABLE] [REPEAT]
//! ```
//!
//! Prints one line: the version, log files, the newest checkpoint, live data files, then the
//! median of REPEAT (default 5) opens and of as many `SELECT count(*)` runs, in milliseconds.

use std::path::{Path, PathBuf};
use std::time::Instant;

use eventlake_query::{Access, LakeSession};

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn log_files(table_dir: &Path) -> usize {
    std::fs::read_dir(table_dir.join("_delta_log")).map_or(0, |entries| entries.count())
}

fn last_checkpoint(table_dir: &Path) -> String {
    std::fs::read(table_dir.join("_delta_log/_last_checkpoint"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|pointer| pointer["version"].as_u64())
        .map_or_else(|| "none".to_string(), |version| version.to_string())
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes --bench; only the positional arguments count.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let Some(lake) = args.first().map(PathBuf::from) else {
        eprintln!("usage: cargo bench --bench table_open -- LAKE_DIR [TABLE] [REPEAT]");
        std::process::exit(2);
    };
    let table = args.get(1).cloned().unwrap_or_else(|| "events".to_string());
    let repeat: usize = args.get(2).and_then(|text| text.parse().ok()).unwrap_or(5);
    let table_dir = lake.join(&table);
    let url = url::Url::from_directory_path(table_dir.canonicalize().expect("table directory"))
        .expect("table url");

    let mut opens = Vec::new();
    let mut version = 0;
    let mut files = 0;
    for _ in 0..repeat {
        let started = Instant::now();
        let loaded = deltalake::open_table(url.clone())
            .await
            .expect("table opens");
        opens.push(started.elapsed().as_secs_f64() * 1e3);
        version = loaded.version().unwrap_or(0);
        files = loaded.snapshot().expect("snapshot").log_data().num_files();
    }

    let session = LakeSession::open(&lake, Access::ReadOnly).expect("session");
    let mut queries = Vec::new();
    let mut rows = 0;
    for _ in 0..repeat {
        let started = Instant::now();
        let batches = session
            .query(&format!("SELECT count(*) FROM \"{table}\""))
            .await
            .expect("count runs");
        queries.push(started.elapsed().as_secs_f64() * 1e3);
        rows = batches
            .first()
            .map(|batch| {
                deltalake::arrow::array::AsArray::as_primitive::<
                    deltalake::arrow::datatypes::Int64Type,
                >(batch.column(0))
                .value(0)
            })
            .unwrap_or(0);
    }

    println!(
        "table={table} version={version} log_files={} last_checkpoint={} data_files={files} rows={rows} open_ms={:.1} count_ms={:.1}",
        log_files(&table_dir),
        last_checkpoint(&table_dir),
        median(opens),
        median(queries),
    );
}
