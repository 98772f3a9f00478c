//! Write throughput: decoded raw-table batches to zstd Parquet files and Delta commits with
//! offsets, on one core (a current-thread runtime), into a table on local disk.
//!
//! Two figures: the fixed cost of a commit, from appends of one row each, and the throughput
//! of appends of 100,000 rows each, in rows and megabytes per CPU second.
//!
//! ```sh
//! cargo bench --bench write
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/sample.rs"]
mod sample;

use deltalake::arrow::array::RecordBatch;
use eventlake_lake::{
    AppendRequest, LakeRoot, LakeTable, OffsetColumns, OffsetRange, SourcePartition, TableSpec,
    WriteSettings,
};

/// Appends of one row, for the fixed cost of a commit; checkpoints (every 10 commits) included.
const SMALL_COMMITS: usize = 40;

/// Appends of a whole sample batch, for the throughput.
const LARGE_COMMITS: usize = 8;

/// CPU time of this process so far (user and system), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("stat") + 2..]
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // Linux reports these in clock ticks of 1/100 s on every common configuration.
    Duration::from_millis(ticks * 10)
}

/// Sets the `kafka_offset` range of an append: each append covers the next offsets.
fn request(batch: RecordBatch, first: i64) -> AppendRequest {
    let last = first + batch.num_rows() as i64 - 1;
    let batch = with_offsets(&batch, first);
    let mut offsets = BTreeMap::new();
    offsets.insert(
        SourcePartition::new("events", 0),
        OffsetRange { first, last },
    );
    AppendRequest {
        batch: Some(batch),
        offsets,
    }
}

/// Returns `batch` with `kafka_offset` counting up from `first`.
fn with_offsets(batch: &RecordBatch, first: i64) -> RecordBatch {
    let index = batch
        .schema()
        .index_of("kafka_offset")
        .expect("offset column");
    let offsets = deltalake::arrow::array::Int64Array::from_iter_values(
        first..first + batch.num_rows() as i64,
    );
    let mut columns = batch.columns().to_vec();
    columns[index] = Arc::new(offsets);
    RecordBatch::try_new(batch.schema(), columns).expect("batch")
}

/// Sums the sizes of the Parquet files under `dir`.
fn parquet_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| {
                    let path = entry.path();
                    if path.is_dir() {
                        parquet_bytes(&path)
                    } else if path.extension().is_some_and(|ext| ext == "parquet") {
                        entry.metadata().map(|meta| meta.len()).unwrap_or(0)
                    } else {
                        0
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn main() {
    let (schemas, layout) = sample::shipped_layout();
    let batch = sample::decode(&schemas, &layout, &sample::sample_values(), 0)
        .events
        .expect("events");
    let json_bytes: usize = sample::sample_values().iter().map(Vec::len).sum();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let root = LakeRoot::parse(dir.path().to_str().expect("utf-8 path")).expect("lake root");
    let spec = TableSpec {
        name: "events".to_string(),
        schema: layout.schema.clone(),
        partition_columns: layout.partition_columns.clone(),
        offset_columns: Some(OffsetColumns::default()),
        derive: None,
    };

    runtime.block_on(async {
        let mut table = LakeTable::open_or_create(&root, spec, WriteSettings::default())
            .await
            .expect("table opens");
        let mut next_offset = 0;

        let one_row = batch.slice(0, 1);
        let mut commit_ms = Vec::with_capacity(SMALL_COMMITS);
        for _ in 0..SMALL_COMMITS {
            let started = Instant::now();
            table
                .append(&request(one_row.clone(), next_offset))
                .await
                .expect("append");
            commit_ms.push(started.elapsed().as_secs_f64() * 1e3);
            next_offset += 1;
        }
        commit_ms.sort_by(f64::total_cmp);

        let bytes_before = parquet_bytes(dir.path());
        let cpu_before = cpu_time();
        let started = Instant::now();
        for _ in 0..LARGE_COMMITS {
            table
                .append(&request(batch.clone(), next_offset))
                .await
                .expect("append");
            next_offset += batch.num_rows() as i64;
        }
        let wall = started.elapsed().as_secs_f64();
        let cpu = (cpu_time() - cpu_before).as_secs_f64();
        let rows = (LARGE_COMMITS * batch.num_rows()) as f64;
        let parquet = (parquet_bytes(dir.path()) - bytes_before) as f64;
        let json = (LARGE_COMMITS * json_bytes) as f64;

        println!(
            "commit of one row, {SMALL_COMMITS} commits: median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
            commit_ms[SMALL_COMMITS / 2],
            commit_ms[SMALL_COMMITS * 9 / 10],
            commit_ms[SMALL_COMMITS - 1]
        );
        println!(
            "append of {} rows, {LARGE_COMMITS} commits: {:.2} M rows per CPU second ({:.2} M/s wall), {:.0} MB of JSON per CPU second, {:.1} MB of Parquet per CPU second ({:.1} bytes per row)",
            batch.num_rows(),
            rows / cpu / 1e6,
            rows / wall / 1e6,
            json / cpu / 1e6,
            parquet / cpu / 1e6,
            parquet / rows
        );
        // One line for benches/run.sh, which prints the table of every benchmark.
        println!(
            "RESULT write | rows per CPU s {:.0} | JSON MB per CPU s {:.0} | commit of one row, median ms {:.1} | p90 ms {:.1} |",
            rows / cpu,
            json / cpu / 1e6,
            commit_ms[SMALL_COMMITS / 2],
            commit_ms[SMALL_COMMITS * 9 / 10]
        );
    });
}
