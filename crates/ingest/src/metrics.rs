//! Ingest metrics in the Prometheus text format, and the HTTP endpoint that serves them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{debug, info};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabel {
    pub table: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventTypeLabel {
    pub event_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    pub topic: String,
    pub partition: String,
}

type SecondsHistogram = Family<TableLabel, Histogram, fn() -> Histogram>;

/// Counters and gauges of one ingestor; cheap to update from any thread.
pub struct IngestMetrics {
    registry: Registry,
    pub records_consumed: Counter,
    pub bytes_consumed: Counter,
    pub rows_committed: Family<TableLabel, Counter>,
    pub events_committed: Family<EventTypeLabel, Counter>,
    pub rows_rejected: Family<ReasonLabel, Counter>,
    pub commits: Family<TableLabel, Counter>,
    pub commit_seconds: SecondsHistogram,
    pub files_written: Family<TableLabel, Counter>,
    /// Seconds from each record's Kafka timestamp to the commit of its row.
    pub produce_to_commit_seconds: Histogram,
    pub buffered_bytes: Gauge,
    pub consumer_lag: Family<PartitionLabel, Gauge>,
    /// Newest `event_time` committed to the events table, in seconds since the epoch.
    pub newest_event_time: Gauge<f64, AtomicU64>,
    /// Seconds from the newest committed event time to now, set when metrics are read.
    freshness: Gauge<f64, AtomicU64>,
}

impl std::fmt::Debug for IngestMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestMetrics").finish_non_exhaustive()
    }
}

impl Default for IngestMetrics {
    fn default() -> Self {
        Self::new()
    }
}

fn commit_histogram() -> Histogram {
    // 5 ms to about 40 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

fn latency_histogram() -> Histogram {
    // 10 ms to about 3 hours, since a catching-up ingestor commits old records.
    Histogram::new(exponential_buckets(0.01, 2.0, 21))
}

impl IngestMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("eventlake");
        let metrics = Self {
            records_consumed: Counter::default(),
            bytes_consumed: Counter::default(),
            rows_committed: Family::default(),
            events_committed: Family::default(),
            rows_rejected: Family::default(),
            commits: Family::default(),
            commit_seconds: Family::new_with_constructor(commit_histogram),
            files_written: Family::default(),
            produce_to_commit_seconds: latency_histogram(),
            buffered_bytes: Gauge::default(),
            consumer_lag: Family::default(),
            newest_event_time: Gauge::default(),
            freshness: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "records_consumed",
            "Kafka records read",
            metrics.records_consumed.clone(),
        );
        registry.register(
            "consumed_bytes",
            "Bytes of Kafka record values read",
            metrics.bytes_consumed.clone(),
        );
        registry.register(
            "rows_committed",
            "Rows committed, per table",
            metrics.rows_committed.clone(),
        );
        registry.register(
            "events_committed",
            "Events committed to the events table, per event type",
            metrics.events_committed.clone(),
        );
        registry.register(
            "rows_rejected",
            "Records committed to the rejects table, per reason code",
            metrics.rows_rejected.clone(),
        );
        registry.register(
            "commits",
            "Delta commits, per table",
            metrics.commits.clone(),
        );
        registry.register(
            "commit_duration_seconds",
            "Time to write and commit one append, per table",
            metrics.commit_seconds.clone(),
        );
        registry.register(
            "files_written",
            "Parquet files committed, per table",
            metrics.files_written.clone(),
        );
        registry.register(
            "produce_to_commit_seconds",
            "Seconds from a record's Kafka timestamp to the commit of its row to the events table",
            metrics.produce_to_commit_seconds.clone(),
        );
        registry.register(
            "buffered_bytes",
            "Bytes of records read and not yet committed",
            metrics.buffered_bytes.clone(),
        );
        registry.register(
            "consumer_lag",
            "Records between the consumer position and the partition end, per partition",
            metrics.consumer_lag.clone(),
        );
        registry.register(
            "newest_event_time_seconds",
            "Newest event_time committed to the events table, in seconds since the epoch",
            metrics.newest_event_time.clone(),
        );
        registry.register(
            "freshness_seconds",
            "Seconds between the newest committed event_time and the time of the scrape",
            metrics.freshness.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// Records the newest committed event time, in microseconds since the epoch.
    pub fn observe_event_time(&self, micros: i64) {
        let seconds = micros as f64 / 1e6;
        if seconds > self.newest_event_time.get() {
            self.newest_event_time.set(seconds);
        }
    }

    /// Rows committed to `table` so far.
    pub fn table_rows(&self, table: &str) -> u64 {
        // The guard must go before the value is returned: a lookup of a new label elsewhere
        // takes the family's write lock.
        let counter = self.rows_committed.get_or_create(&TableLabel {
            table: table.to_string(),
        });
        counter.get()
    }

    /// Commits to `table` so far.
    pub fn table_commits(&self, table: &str) -> u64 {
        let counter = self.commits.get_or_create(&TableLabel {
            table: table.to_string(),
        });
        counter.get()
    }

    /// Rows sent to `rejects` with `reason` so far.
    pub fn rejected_rows(&self, reason: &str) -> u64 {
        let counter = self.rows_rejected.get_or_create(&ReasonLabel {
            reason: reason.to_string(),
        });
        counter.get()
    }

    /// Encodes every metric in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let newest = self.newest_event_time.get();
        if newest > 0.0 {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_secs_f64();
            self.freshness.set(now - newest);
        }
        let mut text = String::new();
        // The encoder only fails when its writer does, and writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// Serves `GET /metrics` on `address` until the process ends. Returns the bound address,
/// which carries the port the system chose when `address` requests port 0.
pub async fn serve_metrics(
    address: SocketAddr,
    metrics: Arc<IngestMetrics>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    info!(address = %bound, "serving metrics at /metrics");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, peer)) = listener.accept().await else {
                continue;
            };
            let metrics = Arc::clone(&metrics);
            tokio::spawn(async move {
                let head = match read_request_head(&mut stream).await {
                    Ok(head) => head,
                    Err(error) => {
                        debug!(%peer, %error, "metrics request could not be read");
                        return;
                    }
                };
                let response = if head.starts_with("GET /metrics ")
                    || head.starts_with("GET /metrics?")
                {
                    let body = metrics.encode();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    let body = "not found; metrics are at /metrics\n";
                    format!(
                        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok(bound)
}

/// Reads a request line and headers, which may arrive over several reads, up to the blank
/// line that ends them. 8 KiB is plenty for a scrape, and the body, if any, is ignored.
async fn read_request_head(stream: &mut tokio::net::TcpStream) -> std::io::Result<String> {
    const MAX_HEAD: usize = 8 * 1024;
    let mut head = Vec::new();
    let mut chunk = [0_u8; 1024];
    while head.len() < MAX_HEAD && !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..read]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}
