//! Kafka and ingestor parts shared by the end-to-end and freshness benchmarks: librdkafka's
//! mock cluster on loopback, the event generator of `eventlake produce`, and the `eventlake`
//! binary of this build run as a child process.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;

use chrono::{TimeZone, Utc};
use eventlake_produce::{
    EventGenerator, EventTimes, GeneratorSettings, ProduceError, ProduceSummary, ProducerSettings,
    Record, RecordSource, produce,
};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

/// Reads a whole number setting from the environment variable `name`.
pub fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text} is not a whole number")),
        Err(_) => default,
    }
}

/// The broker: librdkafka's mock cluster, one broker on a random 127.0.0.1 port.
pub type Broker = MockCluster<'static, DefaultProducerContext>;

/// Starts the broker and creates `topic` with `partitions` partitions.
pub fn start_broker(topic: &str, partitions: i32) -> Broker {
    let broker = MockCluster::new(1).expect("mock cluster starts");
    broker
        .create_topic(topic, partitions, 1)
        .expect("topic created");
    broker
}

/// Creates one more topic on a running broker.
pub fn create_topic(broker: &Broker, topic: &str, partitions: i32) {
    broker
        .create_topic(topic, partitions, 1)
        .expect("topic created");
}

/// Generated events of the shipped types, counting the bytes of the values it hands out.
pub struct CountingSource {
    generator: EventGenerator,
    pub value_bytes: u64,
}

impl CountingSource {
    /// Events with times now, as a live stream has them.
    pub fn live(seed: u64) -> Self {
        Self::new(seed, EventTimes::Now, None)
    }

    /// `count` events with times replayed over three days, so that the raw table gets three
    /// day partitions per type.
    pub fn replayed(seed: u64, count: u64) -> Self {
        let from = Utc
            .with_ymd_and_hms(2024, 12, 4, 0, 0, 0)
            .single()
            .expect("valid date");
        let to = from + chrono::Duration::days(3);
        Self::new(seed, EventTimes::Replay { from, to }, Some(count))
    }

    fn new(seed: u64, times: EventTimes, count: Option<u64>) -> Self {
        let generator = EventGenerator::new(GeneratorSettings {
            seed,
            devices: 500,
            users: 10_000,
            malformed_fraction: 0.0,
            times,
            first_id: 1,
            count,
        });
        Self {
            generator,
            value_bytes: 0,
        }
    }
}

impl RecordSource for CountingSource {
    fn next_record(&mut self) -> Option<Result<Record, ProduceError>> {
        let record = self.generator.next_record();
        self.value_bytes += record.value.as_ref().map_or(0, |value| value.len() as u64);
        Some(Ok(record))
    }
}

/// Sends records from `source` to `topic`, at `rate` per second or as fast as possible,
/// until `count` were sent or `stop` is set.
pub fn send(
    brokers: &str,
    topic: &str,
    source: &mut CountingSource,
    rate: Option<f64>,
    count: Option<u64>,
    stop: &AtomicBool,
) -> ProduceSummary {
    let settings = ProducerSettings {
        brokers: brokers.to_string(),
        topic: topic.to_string(),
        properties: Default::default(),
        rate,
        count,
    };
    produce(&settings, source, stop).expect("every record is delivered")
}

/// Creates an empty directory under `target/tmp` for one benchmark and returns its path.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("tmp")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory is created");
    dir
}

/// Starts `eventlake ingest` on `topic` into `lake`, without transforms, with its log next to
/// `lake` (`<lake>.log`), under GNU time, which writes `wall user system max-rss-KiB` to
/// `time_file`.
pub fn spawn_ingest(
    broker: &Broker,
    topic: &str,
    lake: &Path,
    time_file: &Path,
    extra_args: &[&str],
) -> Child {
    let log_path = lake.with_extension("log");
    let log = std::fs::File::create(&log_path).expect("ingest log is created");
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    if !Path::new(TIME).exists() {
        panic!("{TIME} is missing; install Debian's `time` package (apt-get install time)");
    }
    // A profiler such as `valgrind --tool=callgrind` can run the ingestor, from WRAPPER.
    let wrapper = std::env::var("WRAPPER").unwrap_or_default();
    Command::new(TIME)
        .args(["-f", "%e %U %S %M", "-o"])
        .arg(time_file)
        .args(wrapper.split_whitespace())
        .arg(env!("CARGO_BIN_EXE_eventlake"))
        .args(["ingest", "--brokers", &broker.bootstrap_servers()])
        .args(["--topic", topic, "--sql", "off", "--schemas"])
        .arg(&schemas)
        .arg("--lake")
        .arg(lake)
        .args(extra_args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("eventlake ingest starts")
}

/// GNU time, for the CPU time and peak resident memory of the ingestor.
const TIME: &str = "/usr/bin/time";

/// Resources of a finished child, as GNU time reported them.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub wall_s: f64,
    pub cpu_s: f64,
    pub max_rss_mib: f64,
}

/// Reads the line that [`spawn_ingest`] asked GNU time to write.
pub fn read_usage(time_file: &Path) -> Usage {
    let text = std::fs::read_to_string(time_file).expect("GNU time wrote its file");
    // GNU time writes "Command exited with non-zero status N" first when the child failed.
    let line = text.lines().last().expect("a line of figures");
    let numbers: Vec<f64> = line
        .split_whitespace()
        .map(|field| field.parse().expect("a number from GNU time"))
        .collect();
    Usage {
        wall_s: numbers[0],
        cpu_s: numbers[1] + numbers[2],
        max_rss_mib: numbers[3] / 1024.0,
    }
}

/// Asks the ingestor under GNU time to stop as SIGTERM does for a user, and waits for it.
pub fn terminate(child: &mut Child) {
    // GNU time does not pass signals on, so the signal goes to its child, the ingestor,
    // which flushes, commits and exits 0.
    let pid = child.id();
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .expect("/proc lists the children of GNU time");
    for ingestor in children.split_whitespace() {
        let status = Command::new("kill")
            .args(["-TERM", ingestor])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {ingestor} failed");
    }
    let status = child.wait().expect("ingestor exits");
    assert!(status.success(), "ingestor exited with {status}");
}
