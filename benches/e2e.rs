//! End to end: events produced beforehand to a broker on loopback (librdkafka's mock
//! cluster), then `eventlake ingest --stop-at-end` run as a child process until caught up.
//! Reports events per second of wall time, CPU seconds per million events and peak resident
//! memory of the ingestor alone: the broker and the producer live in this process.
//!
//! The mock cluster keeps only about 5 MiB per partition, so the topic gets enough partitions
//! for the compressed events to fit. Each run compares the table's row count with the count
//! produced, so a partition that dropped data fails the run.
//!
//! ```sh
//! cargo bench --bench e2e                  # EVENTS=2000000 PARTITIONS=64 RUNS=3
//! ```
//!
//! `INGEST_ARGS` adds flags to `eventlake ingest`, and `WRAPPER` runs it under a profiler.
//! Under callgrind the ingestor runs about 50 times slower, so the flush interval is raised
//! to keep the flushes of the profile as large as in a normal run:
//!
//! ```sh
//! EVENTS=200000 RUNS=1 INGEST_ARGS="--flush-interval 1h" \
//!     WRAPPER="valgrind --tool=callgrind --callgrind-out-file=target/profiles/e2e.callgrind" \
//!     cargo bench --bench e2e
//! ```

use std::sync::atomic::AtomicBool;

#[path = "common/kafka.rs"]
mod kafka;

use deltalake::arrow::array::AsArray;
use deltalake::arrow::datatypes::Int64Type;
use eventlake_query::{Access, LakeSession};

const TOPIC: &str = "events";

/// Rows of the `events` table under `lake`, through the SQL session.
fn count_rows(runtime: &tokio::runtime::Runtime, lake: &std::path::Path) -> i64 {
    let session = LakeSession::open(lake, Access::ReadOnly).expect("lake opens");
    let batches = runtime
        .block_on(session.query("SELECT count(*) FROM events"))
        .expect("count runs");
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

fn main() {
    // `cargo bench` passes --bench; a filter argument selects nothing here.
    let events = kafka::env_number("EVENTS", 2_000_000);
    let partitions = kafka::env_number("PARTITIONS", 64) as i32;
    let runs = kafka::env_number("RUNS", 3);
    let extra_args = std::env::var("INGEST_ARGS").unwrap_or_default();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    let broker = kafka::start_broker(TOPIC, partitions);
    let mut source = kafka::CountingSource::replayed(7, events);
    let produced = kafka::send(
        &broker.bootstrap_servers(),
        TOPIC,
        &mut source,
        None,
        Some(events),
        &AtomicBool::new(false),
    );
    let average_bytes = source.value_bytes as f64 / produced.delivered as f64;
    println!(
        "produced {} events of {average_bytes:.0} bytes on average to {partitions} partitions in {:.1} s",
        produced.delivered,
        produced.elapsed.as_secs_f64()
    );

    let dir = kafka::scratch_dir("e2e-bench");
    let mut best: Option<kafka::Usage> = None;
    for run in 1..=runs {
        let lake = dir.join(format!("lake-{run}"));
        let time_file = dir.join(format!("time-{run}.txt"));
        // Each run is a new consumer group, so it reads the topic from the start.
        let group = format!("e2e-bench-{run}");
        let mut args = vec!["--stop-at-end", "--group", group.as_str()];
        args.extend(extra_args.split_whitespace());
        let mut child = kafka::spawn_ingest(&broker, TOPIC, &lake, &time_file, &args);
        let status = child.wait().expect("ingestor exits");
        assert!(
            status.success(),
            "ingestor exited with {status}; its log is {}",
            lake.with_extension("log").display()
        );
        let usage = kafka::read_usage(&time_file);

        let rows = count_rows(&runtime, &lake);
        assert_eq!(
            rows, events as i64,
            "the table holds {rows} rows of {events} produced; the mock cluster drops data \
             beyond about 5 MiB per partition, so raise PARTITIONS"
        );

        let per_second = events as f64 / usage.wall_s;
        let cpu_per_million = usage.cpu_s / (events as f64 / 1e6);
        println!(
            "run {run}: {per_second:.0} events/s, {:.2} s wall, {:.2} CPU s, {cpu_per_million:.2} CPU s per million events, {:.0} MiB peak RSS",
            usage.wall_s, usage.cpu_s, usage.max_rss_mib
        );
        if best.is_none_or(|best| usage.cpu_s < best.cpu_s) {
            best = Some(usage);
        }
        let _ = std::fs::remove_dir_all(&lake);
    }

    if let Some(best) = best {
        let per_second = events as f64 / best.wall_s;
        let cpu_per_million = best.cpu_s / (events as f64 / 1e6);
        // One line for benches/run.sh, which prints the table of every benchmark.
        println!(
            "RESULT e2e | events/s {per_second:.0} | CPU s per million {cpu_per_million:.2} | events per CPU s {:.0} | peak RSS MiB {:.0} |",
            1e6 / cpu_per_million,
            best.max_rss_mib
        );
    }
}
