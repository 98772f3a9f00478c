//! Decode throughput: JSON event records to Arrow record batches for the raw table, on one
//! core, with the shipped schemas. Prints events per second and megabytes per second.
//!
//! ```sh
//! cargo bench --bench decode
//! ```

use std::hint::black_box;
use std::time::Instant;

#[path = "common/sample.rs"]
mod sample;

use sample::EVENTS_PER_BATCH;

const BATCHES: usize = 10;

fn main() {
    let (schemas, layout) = sample::shipped_layout();
    let values = sample::sample_values();
    let bytes: usize = values.iter().map(Vec::len).sum();

    let mut best_seconds = f64::MAX;
    for _ in 0..BATCHES {
        let started = Instant::now();
        let decoded = sample::decode(&schemas, &layout, &values, 0);
        black_box(decoded);
        best_seconds = best_seconds.min(started.elapsed().as_secs_f64());
    }

    println!(
        "decode: {EVENTS_PER_BATCH} events of {:.0} bytes on average, best of {BATCHES} runs: {:.2} M events/s, {:.0} MB/s",
        bytes as f64 / EVENTS_PER_BATCH as f64,
        EVENTS_PER_BATCH as f64 / best_seconds / 1e6,
        bytes as f64 / best_seconds / 1e6
    );
    // One line for benches/run.sh, which prints the table of every benchmark.
    println!(
        "RESULT decode | events/s {:.0} | MB/s {:.0} | bytes per event {:.0} |",
        EVENTS_PER_BATCH as f64 / best_seconds,
        bytes as f64 / best_seconds / 1e6,
        bytes as f64 / EVENTS_PER_BATCH as f64
    );
}
