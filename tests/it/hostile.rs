//! Hostile records from `tests/hostile/corpus.tsv`: each one is stored as an event or lands in
//! `rejects` with the expected reason, first through the decoder alone, then through Kafka and
//! the ingestor, which must read past all of them without stopping.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::datatypes::Int64Type;
use eventlake_events::{
    DecodeOptions, EventBatchBuilder, EventTableLayout, PartitionGranularity, SourceRecord,
};
use eventlake_query::{Access, LakeSession};

use crate::support::{Kafka, ingest_to_end, session_rows, shipped_schemas, test_config};

/// Largest repeat sent through the mock cluster, in bytes.
const MOCK_MAX_REPEAT: usize = 4 << 20;

/// One record of the corpus and what must become of it.
pub struct Case {
    pub name: String,
    /// `event`, or `reject:` and the reason code.
    pub expected: String,
    /// Text the reject reason must contain, if any.
    pub reason: Option<String>,
    pub value: Option<Vec<u8>>,
}

/// Expands `@repeat(TEXT,N)` and then `\xNN` escapes of a corpus value. Each repeat is cut
/// to whole copies of TEXT within `max_repeat` bytes.
fn expand(text: &str, max_repeat: usize) -> Option<Vec<u8>> {
    if text == "@null" {
        return None;
    }
    let mut repeated = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("@repeat(") {
        repeated.push_str(&rest[..start]);
        let arguments = &rest[start + "@repeat(".len()..];
        // TEXT ends at the last comma before the count and its closing parenthesis.
        let close = arguments
            .char_indices()
            .find(|&(index, character)| {
                character == ')'
                    && arguments[..index]
                        .rsplit_once(',')
                        .is_some_and(|(_, count)| count.parse::<usize>().is_ok())
            })
            .map(|(index, _)| index)
            .unwrap_or_else(|| panic!("unclosed @repeat in {text}"));
        let (unit, count) = arguments[..close].rsplit_once(',').expect("count");
        let count: usize = count.parse().expect("count");
        repeated.push_str(&unit.repeat(count.min(max_repeat / unit.len().max(1))));
        rest = &arguments[close + 1..];
    }
    repeated.push_str(rest);

    let mut bytes = Vec::with_capacity(repeated.len());
    let mut input = repeated.as_bytes();
    while let Some((&byte, tail)) = input.split_first() {
        if byte == b'\\' && tail.first() == Some(&b'x') && tail.len() >= 3 {
            let hex = std::str::from_utf8(&tail[1..3]).expect("hex digits");
            bytes.push(u8::from_str_radix(hex, 16).expect("hex byte"));
            input = &tail[3..];
        } else {
            bytes.push(byte);
            input = tail;
        }
    }
    Some(bytes)
}

/// Reads the corpus, with repeats cut to `max_repeat` bytes.
pub fn corpus(max_repeat: usize) -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/corpus.tsv");
    let text = std::fs::read(&path).expect("corpus file");
    // The corpus writes invalid UTF-8 only as \xNN escapes, so the file itself is text.
    let text = String::from_utf8(text).expect("corpus is UTF-8");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.splitn(4, '\t').collect();
            assert_eq!(fields.len(), 4, "corpus line: {line}");
            Case {
                name: fields[0].to_string(),
                expected: fields[1].to_string(),
                reason: (fields[2] != "-").then(|| fields[2].to_string()),
                value: expand(fields[3], max_repeat),
            }
        })
        .collect()
}

/// What became of a record: `event`, or `reject:CODE` with the reason.
type Outcome = (String, Option<String>);

/// Lists the cases whose outcome differs from the corpus, one line each. `outcomes` is keyed
/// by the index of the case.
fn mismatches(cases: &[Case], outcomes: &BTreeMap<usize, Vec<Outcome>>) -> Vec<String> {
    let mut found = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let outcome = outcomes.get(&index).cloned().unwrap_or_default();
        let [(kind, reason)] = outcome.as_slice() else {
            found.push(format!(
                "{}: {} rows instead of one",
                case.name,
                outcome.len()
            ));
            continue;
        };
        if kind != &case.expected {
            found.push(format!(
                "{}: expected {}, got {kind} ({})",
                case.name,
                case.expected,
                reason.as_deref().unwrap_or("")
            ));
            continue;
        }
        if let Some(wanted) = &case.reason
            && !reason.as_deref().unwrap_or("").contains(wanted.as_str())
        {
            found.push(format!(
                "{}: reason '{}' lacks '{wanted}'",
                case.name,
                reason.as_deref().unwrap_or("")
            ));
        }
    }
    found
}

/// Collects the outcome of each case from decoded rows, whose offset is the case's index.
fn record_outcomes(
    events: Option<&RecordBatch>,
    rejects: Option<&RecordBatch>,
    outcomes: &mut BTreeMap<usize, Vec<Outcome>>,
) {
    if let Some(events) = events {
        let offsets = events
            .column_by_name("kafka_offset")
            .expect("offsets")
            .as_primitive::<Int64Type>();
        for row in 0..events.num_rows() {
            outcomes
                .entry(offsets.value(row) as usize)
                .or_default()
                .push(("event".to_string(), None));
        }
    }
    if let Some(rejects) = rejects {
        let offsets = rejects
            .column_by_name("kafka_offset")
            .expect("offsets")
            .as_primitive::<Int64Type>();
        let codes = rejects
            .column_by_name("reason_code")
            .expect("codes")
            .as_string::<i32>();
        let reasons = rejects
            .column_by_name("reason")
            .expect("reasons")
            .as_string::<i32>();
        for row in 0..rejects.num_rows() {
            let reason = reasons
                .is_valid(row)
                .then(|| reasons.value(row).to_string());
            outcomes
                .entry(offsets.value(row) as usize)
                .or_default()
                .push((format!("reject:{}", codes.value(row)), reason));
        }
    }
}

#[test]
fn corpus_has_fifty_kinds() {
    let cases = corpus(usize::MAX);
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|case| case.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");
}

#[test]
fn decoder_sorts_every_hostile_record() {
    let cases = corpus(usize::MAX);
    let schemas = shipped_schemas();
    let layout = Arc::new(EventTableLayout::new(&schemas, PartitionGranularity::Day));
    let mut builder = EventBatchBuilder::new(schemas, layout, DecodeOptions::default());
    for (offset, case) in cases.iter().enumerate() {
        builder.push(&SourceRecord {
            topic: "hostile",
            partition: 0,
            offset: offset as i64,
            timestamp_ms: Some(1_733_300_000_000),
            key: None,
            value: case.value.as_deref(),
            headers: &[],
        });
    }
    let decoded = builder.finish(1_733_300_001_000_000).expect("decodes");

    let mut outcomes = BTreeMap::new();
    record_outcomes(
        decoded.events.as_ref(),
        decoded.rejects.as_ref(),
        &mut outcomes,
    );
    let found = mismatches(&cases, &outcomes);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingestor_reads_past_every_hostile_record() {
    // The mock cluster keeps about 5 MiB per partition and drops older data silently, so
    // values of 10 MiB are cut to 4 MiB here, and each large record gets a partition of its own.
    let cases = corpus(MOCK_MAX_REPEAT);
    let large = cases
        .iter()
        .filter(|case| {
            case.value
                .as_ref()
                .is_some_and(|value| value.len() > 1 << 20)
        })
        .count();
    let kafka = Kafka::start();
    kafka.create_topic("hostile", 1 + large as i32);
    let mut places = BTreeMap::new();
    let mut next_offset = 0;
    let mut next_partition = 1;
    for (index, case) in cases.iter().enumerate() {
        let partition = if case
            .value
            .as_ref()
            .is_some_and(|value| value.len() > 1 << 20)
        {
            next_partition += 1;
            places.insert((next_partition - 1, 0), index);
            next_partition - 1
        } else {
            places.insert((0, next_offset), index);
            next_offset += 1;
            0
        };
        kafka.send("hostile", partition, None, case.value.as_deref(), &[]);
    }
    kafka.flush();

    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path();
    let mut config = test_config(&kafka.brokers(), "hostile", lake);
    // Records of 4 MiB need more than librdkafka's default limits on one fetch.
    config
        .kafka_properties
        .insert("fetch.max.bytes".to_string(), "104857600".to_string());
    config.kafka_properties.insert(
        "receive.message.max.bytes".to_string(),
        "104858112".to_string(),
    );
    let summary = ingest_to_end(config).await;
    assert_eq!(summary.records, cases.len() as u64);

    let session = LakeSession::open(lake, Access::ReadOnly).expect("session");
    let place = |row: &[Option<String>]| -> usize {
        let number = |text: &Option<String>| -> i64 {
            text.as_deref()
                .and_then(|text| text.parse().ok())
                .expect("number")
        };
        places[&(number(&row[0]) as i32, number(&row[1]))]
    };
    let mut outcomes: BTreeMap<usize, Vec<Outcome>> = BTreeMap::new();
    for row in session_rows(&session, "SELECT kafka_partition, kafka_offset FROM events").await {
        outcomes
            .entry(place(&row))
            .or_default()
            .push(("event".to_string(), None));
    }
    for row in session_rows(
        &session,
        "SELECT kafka_partition, kafka_offset, reason_code, reason FROM rejects",
    )
    .await
    {
        outcomes.entry(place(&row)).or_default().push((
            format!("reject:{}", row[2].as_deref().unwrap_or("")),
            row[3].clone(),
        ));
    }
    let found = mismatches(&cases, &outcomes);
    assert!(found.is_empty(), "{}", found.join("\n"));
}
