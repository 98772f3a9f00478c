//! `eventlake demo`: the whole product on one machine without Kafka. An in-process broker
//! (librdkafka's mock cluster) takes sample events, the ingestor commits them to the lake with
//! the shipped transforms, and the SQL shell opens once the first events are visible. Leaving
//! the shell stops the producer, waits until the ingestor has committed every record sent, and
//! stops it.

mod shipped;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eventlake_events::{DecodeOptions, PartitionGranularity, PayloadSchemas};
use eventlake_ingest::{
    FlushPolicy, IngestConfig, IngestError, IngestMetrics, IngestSummary, StartPosition, TableNames,
};
use eventlake_lake::{LakeRoot, WriteSettings};
use eventlake_produce::{
    EventGenerator, EventTimes, GeneratorSettings, ProduceSummary, ProducerSettings, produce,
};
use eventlake_transform::TransformSpec;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use crate::args::{DemoArgs, OutputFormat, SqlArgs};
use crate::error::CliError;

/// Commit interval of the demo's ingestor, so that live events show up within seconds.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Maximum wait for the backlog to be committed before the shell opens anyway.
const BACKLOG_WAIT: Duration = Duration::from_secs(180);

/// Maximum wait, after the producer stopped, for the ingestor to commit every record sent.
const DRAIN_WAIT: Duration = Duration::from_secs(60);

/// Reason code of transform check rows in `rejects`, which do not come from Kafka records.
const TRANSFORM_CHECK: &str = "transform_check";

/// Queries printed above the shell's prompt, for a first look at each kind of table.
pub const SUGGESTED_QUERIES: [&str; 5] = [
    "SELECT event_type, count(*) FROM events GROUP BY event_type;",
    "SELECT site, count(*) AS readings, round(avg(temperature_c), 1) AS avg_c FROM sensor_readings GROUP BY site ORDER BY site;",
    "SELECT * FROM sensor_minutes ORDER BY minute DESC LIMIT 5;",
    "SELECT reason_code, count(*) FROM rejects GROUP BY reason_code;",
    "SELECT max(event_time) AS newest, now() - max(event_time) AS behind FROM events;",
];

pub async fn run(args: DemoArgs) -> Result<(), CliError> {
    let schemas = match &args.schemas {
        Some(dir) => {
            PayloadSchemas::load_dir(dir).map_err(|error| CliError::Config(error.to_string()))?
        }
        None => shipped::schemas()?,
    };
    let transforms = match &args.sql {
        Some(dir) if dir.as_os_str() == "off" => Vec::new(),
        Some(dir) => TransformSpec::read_directory(dir).map_err(|error| {
            CliError::Config(format!("{error}; pass --sql off to run without transforms"))
        })?,
        None => shipped::transforms()?,
    };
    let lake = LakeRoot::parse(&args.lake).map_err(|error| CliError::Config(error.to_string()))?;

    let cluster = start_broker()?;
    let brokers = cluster.bootstrap_servers();
    // A topic of its own for each run: the lake keeps the offsets of earlier runs, whose
    // broker is gone, and a reused name would make it skip the new records as duplicates.
    let topic = format!("demo_{}", chrono::Utc::now().format("%Y%m%d_%H%M%S"));
    cluster
        .create_topic(&topic, args.partitions, 1)
        .map_err(|error| CliError::Internal(format!("cannot create the demo topic: {error}")))?;

    let metrics = Arc::new(IngestMetrics::new());
    let table_names: Vec<String> = transforms.iter().map(|spec| spec.name.clone()).collect();
    let config = IngestConfig {
        brokers: brokers.clone(),
        topics: vec![topic.clone()],
        group_id: "eventlake-demo".to_string(),
        lake,
        tables: TableNames::default(),
        schemas: Arc::new(schemas),
        decode: DecodeOptions::default(),
        granularity: PartitionGranularity::default(),
        flush: FlushPolicy {
            max_age: FLUSH_INTERVAL,
            ..FlushPolicy::default()
        },
        max_buffer_bytes: 256 * 1024 * 1024,
        start_position: StartPosition::Earliest,
        stop_at_end: false,
        kafka_properties: Default::default(),
        write: WriteSettings::default(),
        metrics: Arc::clone(&metrics),
        auto_compaction: Some(eventlake_ingest::AutoCompaction::after(
            Duration::from_secs(600),
        )),
        metrics_address: None,
        transforms,
    };
    eprintln!(
        "demo: broker on {brokers}, topic {topic} with {} partitions; writing to {}",
        args.partitions, args.lake
    );

    let stop_producing = Arc::new(AtomicBool::new(false));
    let producer = spawn_producer(&args, brokers, topic, Arc::clone(&stop_producing));
    let stop_ingesting = Arc::new(AtomicBool::new(false));
    let ingestor = tokio::spawn(eventlake_ingest::run(config, Arc::clone(&stop_ingesting)));

    let waited = wait_for_backlog(&args, &metrics, &table_names, &ingestor).await;
    let shell = match waited {
        Ok(()) => {
            if args.command.is_empty() && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!("Try these queries:");
                for query in SUGGESTED_QUERIES {
                    eprintln!("  {query}");
                }
            }
            crate::shell::run(SqlArgs {
                lake: args.lake.clone(),
                command: args.command.clone(),
                file: None,
                format: OutputFormat::Table,
                max_rows: None,
                allow_writes: false,
                history: None,
            })
            .await
        }
        Err(error) => Err(error),
    };

    // The producer stops first, so the ingestor's last commit contains every record it read.
    eprintln!("demo: stopping the producer, then committing the records the ingestor has read");
    stop_producing.store(true, Ordering::Relaxed);
    let produced = producer
        .await
        .map_err(|error| CliError::Internal(format!("the producer thread failed: {error}")))?;
    if let Ok(produced) = &produced {
        wait_for_records(&metrics, produced.delivered, DRAIN_WAIT, &ingestor).await;
    }
    stop_ingesting.store(true, Ordering::Relaxed);
    let ingested = ingestor
        .await
        .map_err(|error| CliError::Internal(format!("the ingestor task failed: {error}")))?;
    drop(cluster);

    let summary = ingested?;
    let produced = produced?;
    eprintln!(
        "demo: produced {} records; committed {} events and {} rejected records to {}. Query them again with: eventlake sql --lake {}",
        produced.delivered, summary.events, summary.rejects, args.lake, args.lake
    );
    shell
}

fn start_broker() -> Result<MockCluster<'static, DefaultProducerContext>, CliError> {
    MockCluster::new(1).map_err(|error| {
        CliError::Internal(format!("cannot start the in-process Kafka broker: {error}"))
    })
}

/// Sends the backlog as fast as the broker takes it, then live events at `--rate` until
/// `stop` is set. Returns the total sent.
fn spawn_producer(
    args: &DemoArgs,
    brokers: String,
    topic: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Result<ProduceSummary, CliError>> {
    let now = chrono::Utc::now();
    let first_id = now.timestamp_micros();
    let backlog = args.backlog as u64;
    let malformed_fraction = args.malformed;
    let rate = args.rate;
    let settings = move |rate: Option<f64>, count: Option<u64>| ProducerSettings {
        brokers: brokers.clone(),
        topic: topic.clone(),
        properties: Default::default(),
        rate,
        count,
    };
    let generator = move |seed: u64, times: EventTimes, first_id: i64, count: Option<u64>| {
        EventGenerator::new(GeneratorSettings {
            seed,
            devices: 200,
            users: 2_000,
            malformed_fraction,
            times,
            first_id,
            count,
        })
    };

    tokio::task::spawn_blocking(move || {
        let mut delivered = 0;
        let mut malformed = 0;
        let started = Instant::now();
        if backlog > 0 {
            let mut source = generator(
                1,
                EventTimes::Replay {
                    from: now - chrono::Duration::hours(24),
                    to: now,
                },
                first_id,
                Some(backlog),
            );
            let sent = produce(&settings(None, Some(backlog)), &mut source, &stop)?;
            delivered += sent.delivered;
            malformed += sent.malformed;
        }
        let mut source = generator(2, EventTimes::Now, first_id + backlog as i64, None);
        let sent = produce(&settings(Some(rate), None), &mut source, &stop)?;
        Ok(ProduceSummary {
            delivered: delivered + sent.delivered,
            malformed: malformed + sent.malformed,
            elapsed: started.elapsed(),
        })
    })
}

/// Waits until the backlog's records are committed and every processed table has a commit,
/// so that the first queries see data. Fails when the ingestor stops first.
async fn wait_for_backlog(
    args: &DemoArgs,
    metrics: &IngestMetrics,
    processed_tables: &[String],
    ingestor: &tokio::task::JoinHandle<Result<IngestSummary, IngestError>>,
) -> Result<(), CliError> {
    let target = (args.backlog as u64).max(1);
    eprintln!("demo: loading {target} sample events with times over the last 24 hours");
    let started = Instant::now();
    loop {
        if ingestor.is_finished() {
            return Err(CliError::Internal(
                "the ingestor stopped before the first commit".to_string(),
            ));
        }
        let source_rows = committed_records(metrics);
        let processed_ready = processed_tables
            .iter()
            .all(|name| metrics.table_commits(name) > 0);
        if source_rows >= target && processed_ready {
            eprintln!(
                "demo: {source_rows} records committed in {:.1} s; live events keep arriving at {} per second",
                started.elapsed().as_secs_f64(),
                args.rate
            );
            return Ok(());
        }
        if started.elapsed() > BACKLOG_WAIT {
            eprintln!(
                "demo: only {source_rows} of {target} records committed after {} s; opening the shell anyway",
                BACKLOG_WAIT.as_secs()
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Counts the Kafka records committed so far: rows of `events` and of `rejects`, without the
/// rows that failed a transform's check.
fn committed_records(metrics: &IngestMetrics) -> u64 {
    (metrics.table_rows("events") + metrics.table_rows("rejects"))
        .saturating_sub(metrics.rejected_rows(TRANSFORM_CHECK))
}

/// Waits until `delivered` records are committed, so that stopping the ingestor loses none
/// of the records in the in-process broker, which goes away with the demo.
async fn wait_for_records(
    metrics: &IngestMetrics,
    delivered: u64,
    timeout: Duration,
    ingestor: &tokio::task::JoinHandle<Result<IngestSummary, IngestError>>,
) {
    let started = Instant::now();
    while committed_records(metrics) < delivered && !ingestor.is_finished() {
        if started.elapsed() > timeout {
            eprintln!(
                "demo: {} of {delivered} records committed after {} s; stopping anyway",
                committed_records(metrics),
                timeout.as_secs()
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
