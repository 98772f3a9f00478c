//! Faults under continuous production. Ingestors with the shipped transforms are killed with
//! SIGKILL at random moments and restarted. Afterwards every Kafka record is in `events` or
//! `rejects` exactly once, and every processed table equals its SQL over `events`.
//!
//! `EVENTLAKE_CRASH_KILLS` sets the number of kills (3 by default; the full harness runs 50
//! or more) and `EVENTLAKE_CRASH_SEED` replays the kill times of a run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eventlake_ingest::{IngestConfig, IngestError, IngestSummary};
use eventlake_produce::{EventGenerator, EventTimes, GeneratorSettings};
use eventlake_query::{Access, LakeSession};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCoordinator;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

use crate::consistency::{assert_processed_tables_match, kafka_records};
use crate::support::{
    ChildGuard, Kafka, Random, TestProducer, ingest_to_end, open_table, schemas_dir,
    shipped_transforms, test_config,
};

/// Records produced per second while members come and go or brokers fail.
const RATE: u64 = 200;

/// Records produced per second in the crash loop. Each run is killed a few seconds after its
/// first commit, so a higher rate would outpace ingestion and, over 50 kills, the mock
/// cluster's 5 MiB per partition would drop records before they were read.
const CRASH_RATE: u64 = 60;

/// Partitions of the topic, so that several partitions commit in each flush.
const PARTITIONS: i32 = 3;

/// Reads a count from the environment, or returns `default`.
fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

/// Returns the newest version of a table's log, or `None` before its first commit.
fn latest_version(table: &Path) -> Option<u64> {
    std::fs::read_dir(table.join("_delta_log"))
        .ok()?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".json")?.parse().ok()
        })
        .max()
}

/// Counts the Parquet files under a table directory, live or not.
fn parquet_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| {
                    let path = entry.path();
                    if path.is_dir() {
                        parquet_files(&path)
                    } else {
                        usize::from(path.extension().is_some_and(|ext| ext == "parquet"))
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Sends sample events, malformed ones and checks' failures included, at `rate` records a
/// second over the topic's partitions until `stop` is set. Returns the number sent.
fn spawn_steady_producer(
    brokers: &str,
    topic: &'static str,
    rate: u64,
    seed: u64,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    let producer = TestProducer::connect(brokers);
    std::thread::spawn(move || {
        let mut generator = EventGenerator::new(GeneratorSettings {
            seed,
            devices: 50,
            users: 100,
            malformed_fraction: 0.02,
            times: EventTimes::Now,
            first_id: 1,
            count: None,
        });
        let mut index = 0u64;
        while !stop.load(Ordering::Relaxed) {
            for _ in 0..rate / 10 {
                let record = generator.next_record();
                let partition = (index % PARTITIONS as u64) as i32;
                producer.send(
                    topic,
                    partition,
                    record.key.as_deref(),
                    record.value.as_deref(),
                    &[],
                );
                index += 1;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        producer.flush();
        index
    })
}

/// Builds an `eventlake ingest` command over the shipped schemas and transforms, logging to `log`.
fn ingest_command(brokers: &str, topic: &str, group: &str, lake: &Path, log: &Path) -> Command {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_eventlake"));
    command
        .args(["ingest", "--topic", topic, "--group", group])
        .args(["--flush-rows", "200", "--flush-interval", "200ms"])
        .args(["--metrics-address", "off", "--compact-after", "off"])
        .arg("--brokers")
        .arg(brokers)
        .arg("--lake")
        .arg(lake)
        .arg("--schemas")
        .arg(schemas_dir())
        .arg("--sql")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sql"))
        // The mock cluster makes a new member wait out a killed member's session.
        .args(["-X", "session.timeout.ms=6000"])
        .stdout(Stdio::null())
        .stderr(log);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_loses_and_duplicates_nothing() {
    let kills = setting("EVENTLAKE_CRASH_KILLS", 3);
    let seed = setting(
        "EVENTLAKE_CRASH_SEED",
        chrono::Utc::now().timestamp_micros() as u64,
    );
    eprintln!("crash loop: {kills} kills, seed {seed}; replay with EVENTLAKE_CRASH_SEED={seed}");

    let kafka = Kafka::start();
    kafka.create_topic("crashes", PARTITIONS);
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path().join("lake");
    let log = dir.path().join("ingest.log");

    let stop = Arc::new(AtomicBool::new(false));
    let producer = spawn_steady_producer(
        &kafka.brokers(),
        "crashes",
        CRASH_RATE,
        seed,
        Arc::clone(&stop),
    );

    // Most kills come 0 to 3 s after the run's first commit, so they hit flushes, commits and
    // checkpoints. Every fourth comes 0 to 8 s after the start, while the ingestor starts up
    // or waits for its partitions.
    let mut random = Random(seed);
    let events = lake.join("events");
    for kill in 0..kills {
        let before = latest_version(&events);
        let started = Instant::now();
        let mut child = ChildGuard(
            ingest_command(&kafka.brokers(), "crashes", "crash-loop", &lake, &log)
                .spawn()
                .expect("ingestor starts"),
        );
        let delay = Duration::from_millis(random.below(3_000) as u64);
        if kill % 4 == 3 {
            tokio::time::sleep(delay * 8 / 3).await;
        } else {
            while latest_version(&events) == before && started.elapsed() < Duration::from_secs(60) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tokio::time::sleep(delay).await;
        }
        assert!(
            child.0.try_wait().expect("status").is_none(),
            "the ingestor exited by itself before kill {kill}; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        child.0.kill().expect("SIGKILL");
        child.0.wait().expect("reaped");
    }

    stop.store(true, Ordering::Relaxed);
    let sent = producer.join().expect("producer thread") as i64;
    assert_eq!(
        records_in_topic(&kafka.brokers(), "crashes", PARTITIONS),
        sent
    );
    let status = ingest_command(&kafka.brokers(), "crashes", "crash-loop", &lake, &log)
        .arg("--stop-at-end")
        .status()
        .expect("last run");
    assert!(
        status.success(),
        "the last run failed; log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // Files that a killed run wrote but never committed stay on disk; readers must skip them.
    let live = open_table(&lake, "events")
        .await
        .get_file_uris()
        .expect("live files")
        .count();
    let summary = format!(
        "crash loop: {kills} kills, {} uncommitted Parquet files left in events beside {live} live ones",
        parquet_files(&events) - live
    );
    assert_exactly_once(&lake, sent, &summary).await;
}

/// An ingestor running in this process while faults are injected.
struct RunningIngestor {
    config: IngestConfig,
    shutdown: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Result<IngestSummary, IngestError>>,
}

impl RunningIngestor {
    fn start(config: IngestConfig) -> Self {
        let shutdown = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(eventlake_ingest::run(config.clone(), Arc::clone(&shutdown)));
        Self {
            config,
            shutdown,
            task,
        }
    }

    /// Checks that the ingestor is still running, stops it, and reads the rest of the topic
    /// with a run that stops at its end.
    async fn finish(self) {
        assert!(
            !self.task.is_finished(),
            "the ingestor stopped during the faults: {:?}",
            self.task.await
        );
        self.shutdown.store(true, Ordering::Relaxed);
        self.task
            .await
            .expect("ingestor task")
            .expect("the ingestor recovered from every fault");
        let mut last = self.config;
        last.stop_at_end = true;
        ingest_to_end(last).await;
    }
}

/// Asserts that the lake contains each of `expected` Kafka records once, and that the processed
/// tables match the raw one; `summary` starts the printed report.
async fn assert_exactly_once(lake: &Path, expected: i64, summary: &str) {
    let session = LakeSession::open(lake, Access::ReadOnly).expect("session");
    let (stored, distinct) = kafka_records(&session).await;
    eprintln!(
        "{summary}; {expected} records in Kafka, {stored} stored, lost {}, duplicated {}",
        expected - distinct,
        stored - distinct
    );
    assert_eq!(distinct, expected, "every record is stored");
    assert_eq!(stored, distinct, "no record is stored twice");
    assert_processed_tables_match(lake, 0).await;
}

/// Sums the records each partition of `topic` holds, from the brokers' watermarks.
fn records_in_topic(brokers: &str, topic: &str, partitions: i32) -> i64 {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("consumer");
    (0..partitions)
        .map(|partition| {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition, Duration::from_secs(10))
                .expect("watermarks");
            assert_eq!(
                low, 0,
                "the mock cluster dropped records of partition {partition}"
            );
            high
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_faults_lose_and_duplicate_nothing() {
    let kafka = Kafka::start_brokers(3);
    kafka.create_topic("faults", PARTITIONS);
    kafka
        .cluster
        .coordinator(MockCoordinator::Group("broker-faults".to_string()), 3)
        .expect("coordinator set");
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path().join("lake");

    // The producer retries through the same faults, so Kafka may hold a record twice at two
    // offsets. The expected count is therefore read from the watermarks at the end.
    let stop = Arc::new(AtomicBool::new(false));
    let producer = spawn_steady_producer(&kafka.brokers(), "faults", RATE, 3, Arc::clone(&stop));

    let mut config = test_config(&kafka.brokers(), "faults", &lake);
    config.group_id = "broker-faults".to_string();
    config.stop_at_end = false;
    config.transforms = shipped_transforms();
    let ingestor = RunningIngestor::start(config);

    // Each step injects one fault, then lets records flow for a while.
    let pause = || tokio::time::sleep(Duration::from_secs(3));
    let cluster = &kafka.cluster;
    let mut faults = 0;
    pause().await;
    let errors = |api: RDKafkaApiKey, error: RDKafkaRespErr, count: usize| {
        cluster.request_errors(api, &vec![error; count]);
    };
    errors(
        RDKafkaApiKey::Fetch,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        5,
    );
    faults += 1;
    pause().await;
    errors(
        RDKafkaApiKey::Fetch,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR__TRANSPORT,
        3,
    );
    faults += 1;
    pause().await;
    errors(
        RDKafkaApiKey::Produce,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        5,
    );
    faults += 1;
    pause().await;
    errors(
        RDKafkaApiKey::OffsetCommit,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        3,
    );
    faults += 1;
    pause().await;
    errors(
        RDKafkaApiKey::Heartbeat,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
        1,
    );
    faults += 1;
    pause().await;
    for broker in 1..=3 {
        cluster
            .broker_round_trip_time(broker, Duration::from_millis(800))
            .expect("delay set");
    }
    faults += 1;
    pause().await;
    for broker in 1..=3 {
        cluster
            .broker_round_trip_time(broker, Duration::ZERO)
            .expect("delay cleared");
    }
    // Taking a broker down also takes away the leader of its partitions. A partition set to
    // have no leader at all crashes librdkafka 2.12.1's mock cluster in its Produce handler.
    cluster.broker_down(2).expect("broker 2 down");
    faults += 1;
    tokio::time::sleep(Duration::from_secs(4)).await;
    cluster.broker_up(2).expect("broker 2 up");
    pause().await;
    cluster
        .partition_leader("faults", 0, Some(3))
        .expect("leader moved");
    cluster
        .partition_leader("faults", 1, Some(1))
        .expect("leader moved");
    faults += 1;
    pause().await;
    // The group's coordinator goes away for a while.
    cluster.broker_down(3).expect("broker 3 down");
    faults += 1;
    tokio::time::sleep(Duration::from_secs(4)).await;
    cluster.broker_up(3).expect("broker 3 up");
    pause().await;

    stop.store(true, Ordering::Relaxed);
    producer.join().expect("producer thread");
    ingestor.finish().await;
    let expected = records_in_topic(&kafka.brokers(), "faults", PARTITIONS);
    assert_exactly_once(
        &lake,
        expected,
        &format!("broker faults: {faults} injected"),
    )
    .await;
}

/// Sends SIGTERM, which makes an ingestor commit what it holds, leave the group and exit 0.
fn terminate(child: &mut ChildGuard) {
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "SIGTERM sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_churn_loses_and_duplicates_nothing() {
    let cycles = setting("EVENTLAKE_CHURN_CYCLES", 3);
    let seed = setting(
        "EVENTLAKE_CHURN_SEED",
        chrono::Utc::now().timestamp_micros() as u64,
    );
    eprintln!("group churn: {cycles} cycles, seed {seed}; replay with EVENTLAKE_CHURN_SEED={seed}");

    let kafka = Kafka::start();
    kafka.create_topic("churn", 6);
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path().join("lake");
    let stop = Arc::new(AtomicBool::new(false));
    let producer = spawn_steady_producer(&kafka.brokers(), "churn", RATE, seed, Arc::clone(&stop));

    // Three members share the group. Each cycle stops one with SIGTERM, so the others take
    // its partitions in the middle of their batches, then starts a new one, which takes
    // partitions away from them again: two rebalances per cycle.
    let mut random = Random(seed);
    let mut started = 0;
    let start_member = |started: &mut usize| {
        let log = dir.path().join(format!("member-{started}.log"));
        *started += 1;
        let child = ingest_command(&kafka.brokers(), "churn", "churn", &lake, &log)
            .spawn()
            .expect("member starts");
        (ChildGuard(child), log)
    };
    // Every member logs each partition it is given, so the count of those lines grows once
    // a rebalance has handed partitions over.
    let assignments = |started: usize| -> usize {
        (0..started)
            .map(|member| {
                std::fs::read_to_string(dir.path().join(format!("member-{member}.log")))
                    .unwrap_or_default()
                    .matches("partition assigned")
                    .count()
            })
            .sum()
    };
    let rebalanced = |before: usize, started: usize| async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        while assignments(started) == before && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assignments(started) > before
    };

    let mut members: Vec<(ChildGuard, PathBuf)> =
        (0..3).map(|_| start_member(&mut started)).collect();
    assert!(
        rebalanced(0, started).await,
        "the first members got no partitions"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut rebalances = 0;
    for _ in 0..cycles {
        let index = random.below(members.len());
        let (mut leaving, log) = members.swap_remove(index);
        let before = assignments(started);
        terminate(&mut leaving);
        let status = leaving.0.wait().expect("member exits");
        assert!(
            status.success(),
            "a member failed to stop cleanly; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        rebalances += usize::from(rebalanced(before, started).await);
        tokio::time::sleep(Duration::from_millis(random.below(2_000) as u64)).await;

        let before = assignments(started);
        members.push(start_member(&mut started));
        rebalances += usize::from(rebalanced(before, started).await);
        tokio::time::sleep(Duration::from_millis(random.below(2_000) as u64)).await;
    }

    stop.store(true, Ordering::Relaxed);
    let sent = producer.join().expect("producer thread") as i64;
    assert_eq!(records_in_topic(&kafka.brokers(), "churn", 6), sent);
    for (member, _) in &mut members {
        terminate(member);
    }
    for (member, log) in &mut members {
        let status = member.0.wait().expect("member exits");
        assert!(
            status.success(),
            "a member failed; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
    let last_log = dir.path().join("last.log");
    let status = ingest_command(&kafka.brokers(), "churn", "churn", &lake, &last_log)
        .arg("--stop-at-end")
        .status()
        .expect("last run");
    assert!(status.success(), "the last run exits 0");

    assert_eq!(
        rebalances,
        2 * cycles as usize,
        "every change of members rebalanced"
    );
    let summary = format!(
        "group churn: {rebalances} rebalances from {started} members, {} partition assignments",
        assignments(started)
    );
    assert_exactly_once(&lake, sent, &summary).await;
}

/// A tmpfs mounted for one test, so that the lake's disk can be filled; unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> Self {
        std::fs::create_dir_all(path).expect("mount point");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("mount runs");
        assert!(
            output.status.success(),
            "mounting a tmpfs needs root: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self(path.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Sets or clears the immutable attribute, which makes a directory read-only even for root.
fn set_immutable(path: &Path, immutable: bool) {
    let flag = if immutable { "+i" } else { "-i" };
    let output = Command::new("chattr")
        .arg(flag)
        .arg(path)
        .output()
        .expect("chattr runs");
    assert!(
        output.status.success(),
        "chattr {flag} {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Fills the disk under `dir` with one file, and returns its path.
fn fill_disk(dir: &Path) -> PathBuf {
    use std::io::Write;

    let path = dir.join("ballast");
    let mut file = std::fs::File::create(&path).expect("ballast file");
    let chunk = vec![0u8; 1 << 20];
    while file.write_all(&chunk).is_ok() {}
    while file.write_all(&chunk[..4096]).is_ok() {}
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_faults_lose_and_duplicate_nothing() {
    let kafka = Kafka::start();
    kafka.create_topic("storage", PARTITIONS);
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = SmallDisk::mount(&dir.path().join("disk"), "96m");
    let lake = disk.0.join("lake");
    let stop = Arc::new(AtomicBool::new(false));
    let producer = spawn_steady_producer(&kafka.brokers(), "storage", RATE, 5, Arc::clone(&stop));

    let mut config = test_config(&kafka.brokers(), "storage", &lake);
    config.stop_at_end = false;
    config.transforms = shipped_transforms();
    let ingestor = RunningIngestor::start(config);
    let events = lake.join("events");
    let deadline = Instant::now() + Duration::from_secs(60);
    while latest_version(&events).is_none_or(|version| version < 3) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The log turns read-only for a while: commits fail and are retried, and none lands.
    let log_dir = events.join("_delta_log");
    set_immutable(&log_dir, true);
    let frozen = latest_version(&events);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let unchanged = latest_version(&events) == frozen;
    set_immutable(&log_dir, false);
    assert!(unchanged, "a commit landed in a read-only log");
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The disk fills up for a while: data files and commits fail, and are retried.
    let ballast = fill_disk(&disk.0);
    let frozen = latest_version(&events);
    let full = std::fs::write(disk.0.join("probe"), [0u8; 8192]).is_err();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let unchanged = latest_version(&events) == frozen;
    std::fs::remove_file(&ballast).expect("ballast removed");
    assert!(full, "the disk was not full");
    assert!(unchanged, "a commit landed on a full disk");
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Another writer wins commit races: each compaction commits between the ingestor's reads
    // and its commits, which then retry at the next version.
    let mut compactions = 0;
    for _ in 0..3 {
        let output = Command::new(env!("CARGO_BIN_EXE_eventlake"))
            .args(["optimize", "--lake"])
            .arg(&lake)
            .output()
            .expect("optimize runs");
        assert!(
            output.status.success(),
            "optimize failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        compactions += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    stop.store(true, Ordering::Relaxed);
    let sent = producer.join().expect("producer thread") as i64;
    ingestor.finish().await;
    let summary = format!(
        "storage faults: a read-only log, a full disk, {compactions} concurrent compactions"
    );
    assert_exactly_once(&lake, sent, &summary).await;
    drop(disk);
}
