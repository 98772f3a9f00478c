//! Freshness: the time from producing an event to seeing it in SQL, at a steady produce rate,
//! with the default flush settings and with a 1 s flush interval.
//!
//! A producer sends generated events at `RATE` per second to librdkafka's mock cluster on
//! loopback, and `eventlake ingest` runs as a child process. Every 100 ms this process queries
//! the SQL session for rows it has not seen yet. An event's latency is the time that result
//! arrived minus the event's `kafka_timestamp`, which the producer set when it queued the event.
//! So the figures include the poll interval (50 ms on average) and the query's own time,
//! as a user polling the table would see them. Events of the first `WARMUP` seconds, while
//! the consumer joins its group, are left out.
//!
//! ```sh
//! cargo bench --bench freshness            # RATE=5000 DURATION=75 WARMUP=15
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

#[path = "common/kafka.rs"]
mod kafka;

use deltalake::arrow::array::AsArray;
use deltalake::arrow::datatypes::{Int32Type, Int64Type};
use eventlake_query::{Access, LakeSession};

/// Pause between two polls of the table.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Maximum wait for the last events after the producer stopped.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

const PARTITIONS: i32 = 4;

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Latencies in milliseconds of the events produced after `measured_from` (µs since the
/// epoch), collected by polling the `events` table under `lake` until `expected` rows
/// were seen.
async fn poll_latencies(lake: &Path, expected: &ProducedCount, measured_from: i64) -> Vec<f64> {
    // Highest offset seen per Kafka partition; each commit adds offsets above it.
    let mut seen: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, -1)).collect();
    let mut rows_seen = 0u64;
    let mut latencies = Vec::new();
    let mut session: Option<LakeSession> = None;
    let mut drain_started: Option<Instant> = None;

    loop {
        tokio::time::sleep(POLL_INTERVAL).await;
        if let Some(expected) = expected.get() {
            if rows_seen >= expected {
                return latencies;
            }
            let started = *drain_started.get_or_insert_with(Instant::now);
            assert!(
                started.elapsed() < DRAIN_TIMEOUT,
                "saw {rows_seen} of {expected} events {} s after the producer stopped",
                DRAIN_TIMEOUT.as_secs()
            );
        }

        // The table appears with the first commit.
        if session.is_none() {
            match LakeSession::open(lake, Access::ReadOnly) {
                Ok(opened) if opened.table_names().is_ok_and(|names| !names.is_empty()) => {
                    session = Some(opened)
                }
                _ => continue,
            }
        }
        let Some(session) = &session else { continue };
        if !session
            .table_names()
            .is_ok_and(|names| names.iter().any(|name| name == "events"))
        {
            continue;
        }

        let filter: Vec<String> = seen
            .iter()
            .map(|(partition, offset)| {
                format!("(kafka_partition = {partition} AND kafka_offset > {offset})")
            })
            .collect();
        let sql = format!(
            "SELECT kafka_partition, kafka_offset, CAST(kafka_timestamp AS BIGINT) FROM events WHERE {}",
            filter.join(" OR ")
        );
        let batches = session.query(&sql).await.expect("poll query runs");
        let visible_at = now_micros();

        for batch in &batches {
            let partitions = batch.column(0).as_primitive::<Int32Type>();
            let offsets = batch.column(1).as_primitive::<Int64Type>();
            let produced_at = batch.column(2).as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                let highest = seen.entry(partitions.value(row)).or_insert(-1);
                *highest = (*highest).max(offsets.value(row));
                rows_seen += 1;
                if produced_at.value(row) >= measured_from {
                    latencies.push((visible_at - produced_at.value(row)) as f64 / 1000.0);
                }
            }
        }
    }
}

/// The number of events produced, set once the producer is done.
#[derive(Default)]
struct ProducedCount(OnceLock<u64>);

impl ProducedCount {
    fn get(&self) -> Option<u64> {
        self.0.get().copied()
    }
}

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index]
}

/// One measured setting: its name, and the ingest flags beyond the defaults.
struct Setting {
    name: &'static str,
    args: &'static [&'static str],
}

const SETTINGS: [Setting; 2] = [
    Setting {
        name: "default",
        args: &[],
    },
    Setting {
        name: "1s",
        args: &["--flush-interval", "1s"],
    },
];

fn main() {
    let rate = kafka::env_number("RATE", 5_000) as f64;
    let duration = Duration::from_secs(kafka::env_number("DURATION", 75));
    let warmup = Duration::from_secs(kafka::env_number("WARMUP", 15));
    assert!(warmup < duration, "WARMUP must be shorter than DURATION");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = kafka::scratch_dir("freshness-bench");
    let broker = kafka::start_broker("warm-up", 1);

    for setting in SETTINGS {
        let topic = format!("fresh-{}", setting.name);
        kafka::create_topic(&broker, &topic, PARTITIONS);
        let lake = dir.join(setting.name);
        let time_file = dir.join(format!("{}-time.txt", setting.name));
        // A group of its own: joining the group of the ingestor stopped before would wait
        // for that member's session timeout on the mock cluster.
        let group = format!("freshness-{}", setting.name);
        let mut args = vec!["--group", group.as_str()];
        args.extend(setting.args);
        let mut child = kafka::spawn_ingest(&broker, &topic, &lake, &time_file, &args);

        let stop = Arc::new(AtomicBool::new(false));
        let produced = Arc::new(ProducedCount::default());
        let measured_from = now_micros() + warmup.as_micros() as i64;
        let producer = {
            let stop = Arc::clone(&stop);
            let produced = Arc::clone(&produced);
            let brokers = broker.bootstrap_servers();
            let topic = topic.clone();
            std::thread::spawn(move || {
                let mut source = kafka::CountingSource::live(11);
                let summary = kafka::send(&brokers, &topic, &mut source, Some(rate), None, &stop);
                let _ = produced.0.set(summary.delivered);
                summary
            })
        };
        let mut latencies = runtime.block_on(async {
            let timer = async {
                tokio::time::sleep(duration).await;
                stop.store(true, Ordering::Relaxed);
            };
            let (_, latencies) =
                tokio::join!(timer, poll_latencies(&lake, &produced, measured_from));
            latencies
        });
        let summary = producer.join().expect("producer thread");
        kafka::terminate(&mut child);
        let usage = kafka::read_usage(&time_file);

        latencies.sort_by(f64::total_cmp);
        assert!(!latencies.is_empty(), "no event was measured");
        let p50 = percentile(&latencies, 0.50) / 1000.0;
        let p99 = percentile(&latencies, 0.99) / 1000.0;
        let max = latencies[latencies.len() - 1] / 1000.0;
        let cpu_share = usage.cpu_s / usage.wall_s * 100.0;
        println!(
            "{}: {} events at {rate:.0}/s, {} measured: p50 {p50:.2} s, p99 {p99:.2} s, max {max:.2} s; ingestor CPU {cpu_share:.1}% of one core, peak RSS {:.0} MiB",
            setting.name,
            summary.delivered,
            latencies.len(),
            usage.max_rss_mib
        );
        // One line for benches/run.sh, which prints the table of every benchmark.
        println!(
            "RESULT freshness {} | p50 s {p50:.2} | p99 s {p99:.2} | max s {max:.2} | events/s {rate:.0} |",
            setting.name
        );
    }
}
