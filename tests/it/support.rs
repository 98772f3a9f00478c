//! Shared test helpers: a Kafka-protocol broker (librdkafka's mock cluster), producers, ingest
//! runs and SQL over the written tables.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::datafusion::prelude::SessionContext;
use eventlake_events::{DecodeOptions, PartitionGranularity, PayloadSchemas};
use eventlake_ingest::{FlushPolicy, IngestConfig, IngestSummary, StartPosition, TableNames};
use eventlake_lake::{LakeRoot, WriteSettings};
use eventlake_produce::EventGenerator;
use eventlake_query::LakeSession;
use eventlake_transform::TransformSpec;
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

/// Partition values that need escaping in a path, or that are null.
pub const SPECIAL_VALUES: [Option<&str>; 8] = [
    None,
    Some("R&D"),
    Some("a b"),
    Some("x/y"),
    Some("100%"),
    Some("Zürich"),
    Some("a:b"),
    Some("a=b"),
];

/// Loads the schemas shipped in `schemas/`.
pub fn shipped_schemas() -> Arc<PayloadSchemas> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    Arc::new(PayloadSchemas::load_dir(&dir).expect("shipped schemas load"))
}

/// Reads the transforms shipped in `sql/`.
pub fn shipped_transforms() -> Vec<TransformSpec> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sql");
    TransformSpec::read_directory(&dir).expect("shipped transforms read")
}

/// Sends `count` generated records, alternating between the topic's two partitions.
pub fn send_generated(kafka: &Kafka, topic: &str, generator: &mut EventGenerator, count: usize) {
    for index in 0..count {
        let record = generator.next_record();
        kafka.send(
            topic,
            (index % 2) as i32,
            record.key.as_deref(),
            record.value.as_deref(),
            &[],
        );
    }
    kafka.flush();
}

pub fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

/// A mock Kafka cluster on loopback with one producer.
pub struct Kafka {
    pub cluster: MockCluster<'static, DefaultProducerContext>,
    pub producer: TestProducer,
}

impl Kafka {
    pub fn start() -> Self {
        Self::start_brokers(1)
    }

    /// Starts a cluster of `brokers` brokers, with ids from 1.
    pub fn start_brokers(brokers: i32) -> Self {
        let cluster = MockCluster::new(brokers).expect("mock cluster starts");
        let producer = TestProducer::connect(&cluster.bootstrap_servers());
        Self { cluster, producer }
    }

    pub fn brokers(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    pub fn create_topic(&self, topic: &str, partitions: i32) {
        self.cluster
            .create_topic(topic, partitions, 1)
            .expect("topic created");
    }

    pub fn send(
        &self,
        topic: &str,
        partition: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
    ) {
        self.producer.send(topic, partition, key, value, headers);
    }

    pub fn flush(&self) {
        self.producer.flush();
    }
}

/// A producer that can move to another thread, unlike the mock cluster.
pub struct TestProducer {
    producer: ThreadedProducer<DefaultProducerContext>,
}

impl TestProducer {
    pub fn connect(brokers: &str) -> Self {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("linger.ms", "5")
            // The hostile corpus has records of 10 MiB.
            .set("message.max.bytes", "20000000")
            .create()
            .expect("producer");
        Self { producer }
    }

    /// Sends one record to an explicit partition; `value: None` sends a tombstone.
    pub fn send(
        &self,
        topic: &str,
        partition: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
    ) {
        let mut owned = OwnedHeaders::new();
        for (key, value) in headers {
            owned = owned.insert(Header { key, value: *value });
        }
        let mut record: BaseRecord<'_, [u8], [u8]> =
            BaseRecord::to(topic).partition(partition).headers(owned);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(value) = value {
            record = record.payload(value);
        }
        self.producer
            .send(record)
            .map_err(|(error, _)| error)
            .expect("record queued");
    }

    pub fn flush(&self) {
        self.producer
            .flush(Duration::from_secs(30))
            .expect("producer flushed");
    }
}

/// Formats a sensor event as JSON text.
pub fn sensor_event(event_id: i64, event_time: i64, sensor_id: i64, temperature: f64) -> String {
    format!(
        r#"{{"event_id": {event_id}, "event_type": "sensor_data", "event_time": {event_time}, "event_data": {{"sensor_id": {sensor_id}, "temperature": {temperature}, "humidity": 45}}}}"#
    )
}

/// Ingest settings for tests: small flushes, stop at the end of the topic.
pub fn test_config(brokers: &str, topic: &str, lake: &Path) -> IngestConfig {
    let mut kafka_properties = std::collections::BTreeMap::new();
    // The mock cluster makes a re-joining member wait out the previous one's session.
    kafka_properties.insert("session.timeout.ms".to_string(), "6000".to_string());
    IngestConfig {
        brokers: brokers.to_string(),
        topics: vec![topic.to_string()],
        group_id: "eventlake-test".to_string(),
        lake: LakeRoot::parse(lake.to_str().expect("utf-8 path")).expect("lake root"),
        tables: TableNames::default(),
        schemas: shipped_schemas(),
        decode: DecodeOptions::default(),
        granularity: PartitionGranularity::Day,
        flush: FlushPolicy {
            max_rows: 1_000,
            max_bytes: 64 * 1024 * 1024,
            max_age: Duration::from_millis(500),
        },
        max_buffer_bytes: 256 * 1024 * 1024,
        start_position: StartPosition::Earliest,
        stop_at_end: true,
        kafka_properties,
        write: WriteSettings::default(),
        metrics: Arc::new(eventlake_ingest::IngestMetrics::new()),
        metrics_address: None,
        transforms: Vec::new(),
        auto_compaction: None,
    }
}

/// Runs the ingestor to the end of the topic.
pub async fn ingest_to_end(config: IngestConfig) -> IngestSummary {
    let shutdown = Arc::new(AtomicBool::new(false));
    tokio::time::timeout(
        Duration::from_secs(120),
        eventlake_ingest::run(config, shutdown),
    )
    .await
    .expect("ingest finished within two minutes")
    .expect("ingest succeeded")
}

/// Opens the latest version of a table of the lake.
pub async fn open_table(lake: &Path, name: &str) -> DeltaTable {
    let url = url::Url::from_directory_path(lake.join(name).canonicalize().expect("table exists"))
        .expect("url");
    deltalake::open_table(url).await.expect("table opens")
}

/// Runs SQL over the lake's `events` and `rejects` tables with DataFusion.
pub async fn sql(lake: &Path, query: &str) -> Vec<RecordBatch> {
    let context = SessionContext::new();
    for name in ["events", "rejects"] {
        if !lake.join(name).join("_delta_log").exists() {
            continue;
        }
        let table = open_table(lake, name).await;
        table
            .update_datafusion_session(&context.state())
            .expect("session prepared");
        let provider = table.table_provider().await.expect("provider");
        context
            .register_table(name, provider)
            .expect("table registered");
    }
    context
        .sql(query)
        .await
        .expect("query plans")
        .collect()
        .await
        .expect("query runs")
}

/// Runs SQL that returns one integer.
pub async fn sql_count(lake: &Path, query: &str) -> i64 {
    let batches = sql(lake, query).await;
    let batch = batches
        .iter()
        .find(|batch| batch.num_rows() > 0)
        .expect("one row");
    let column = deltalake::arrow::compute::cast(
        batch.column(0),
        &deltalake::arrow::datatypes::DataType::Int64,
    )
    .expect("integer");
    column
        .as_any()
        .downcast_ref::<deltalake::arrow::array::Int64Array>()
        .expect("int64")
        .value(0)
}

/// Runs SQL and returns every value as text, `None` for NULL.
pub async fn sql_rows(lake: &Path, query: &str) -> Vec<Vec<Option<String>>> {
    batches_as_text(&sql(lake, query).await)
}

/// Returns the rows of `batches` with every value as text, `None` for NULL.
pub fn batches_as_text(batches: &[RecordBatch]) -> Vec<Vec<Option<String>>> {
    use deltalake::arrow::array::{Array, AsArray};

    let mut rows = Vec::new();
    for batch in batches {
        let columns: Vec<_> = batch
            .columns()
            .iter()
            .map(|column| {
                deltalake::arrow::compute::cast(
                    column,
                    &deltalake::arrow::datatypes::DataType::Utf8,
                )
                .expect("cast to text")
            })
            .collect();
        for row in 0..batch.num_rows() {
            rows.push(
                columns
                    .iter()
                    .map(|column| {
                        let text = column.as_string::<i32>();
                        text.is_valid(row).then(|| text.value(row).to_string())
                    })
                    .collect(),
            );
        }
    }
    rows
}

/// A child process that is killed when dropped, so that a failing test leaves no ingestor
/// running.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Counts one integer with the SQL session over the lake.
pub async fn session_count(session: &LakeSession, sql: &str) -> i64 {
    let batches = session
        .query(sql)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    let column = deltalake::arrow::compute::cast(
        batches[0].column(0),
        &deltalake::arrow::datatypes::DataType::Int64,
    )
    .expect("integer");
    deltalake::arrow::array::AsArray::as_primitive::<deltalake::arrow::datatypes::Int64Type>(
        &column,
    )
    .value(0)
}

/// Runs SQL with the session over the lake and returns every value as text, `None` for NULL.
pub async fn session_rows(session: &LakeSession, sql: &str) -> Vec<Vec<Option<String>>> {
    let batches = session
        .query(sql)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    batches_as_text(&batches)
}

/// SplitMix64: small, fast and the same on every machine, so a seed replays a run.
pub struct Random(pub u64);

impl Random {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Returns a number in `0..bound`; `bound` must be positive.
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}
