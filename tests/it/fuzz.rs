//! A seeded fuzz test of the decoder: records mutated from the hostile corpus and from sample
//! events must each become exactly one event or one reject with a reason, and decoding must
//! neither panic nor fail the batch.
//!
//! `EVENTLAKE_FUZZ_CASES` sets the number of records (20,000 by default, which takes seconds)
//! and `EVENTLAKE_FUZZ_SEED` replays a run; the seed in use is printed either way.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::datatypes::Int64Type;
use eventlake_events::{
    DecodeOptions, EventBatchBuilder, EventTableLayout, PartitionGranularity, SourceRecord,
};
use eventlake_produce::{EventGenerator, EventTimes, GeneratorSettings};

use crate::hostile::corpus;
use crate::support::{Random, shipped_schemas};

/// Records decoded per batch, as the ingestor decodes many records per flush.
const BATCH: usize = 500;

/// Repeats of the corpus are cut to this many bytes, so that mutations stay fast.
const MAX_REPEAT: usize = 2_000;

/// Fragments that are likely to break a decoder when spliced into JSON.
const TOKENS: [&[u8]; 24] = [
    b"NaN",
    b"-Infinity",
    b"null",
    b"true",
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b",",
    b":",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"1e400",
    b"-0",
    b"9223372036854775808",
    b"\"event_type\"",
    b"\"event_data\": ",
    b"\"event_time\": \"9999-12-31T23:59:59.999999999Z\"",
    b"\xff",
    b"\xc3",
    b"\xef\xbb\xbf",
    b"\"x/y\"",
];

/// Applies one to four random edits to `value`.
fn mutate(random: &mut Random, value: &[u8]) -> Vec<u8> {
    let mut bytes = value.to_vec();
    for _ in 0..1 + random.below(4) {
        let at = random.below(bytes.len() + 1);
        match random.below(6) {
            0 if !bytes.is_empty() => {
                let index = at.min(bytes.len() - 1);
                bytes[index] ^= 1 << random.below(8);
            }
            1 => {
                let end = (at + random.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            2 => {
                let token = TOKENS[random.below(TOKENS.len())];
                bytes.splice(at..at, token.iter().copied());
            }
            3 => bytes.truncate(at),
            4 => {
                let end = (at + random.below(32)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                bytes.splice(end..end, copy);
            }
            _ => {
                let noise: Vec<u8> = (0..1 + random.below(8))
                    .map(|_| random.next() as u8)
                    .collect();
                bytes.splice(at..at, noise);
            }
        }
    }
    bytes
}

/// Checks one decoded batch of `inputs`: one row per record, reasons on every reject, and
/// each reject's `raw_value` equal to the record's value. Returns the failures.
fn check_batch(
    inputs: &[Vec<u8>],
    events: Option<&RecordBatch>,
    rejects: Option<&RecordBatch>,
) -> Vec<String> {
    let mut rows: BTreeMap<i64, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    if let Some(events) = events {
        let offsets = events
            .column_by_name("kafka_offset")
            .expect("offsets")
            .as_primitive::<Int64Type>();
        for row in 0..events.num_rows() {
            *rows.entry(offsets.value(row)).or_default() += 1;
        }
    }
    if let Some(rejects) = rejects {
        let column = |name: &str| rejects.column_by_name(name).expect("column").clone();
        let offsets = column("kafka_offset");
        let offsets = offsets.as_primitive::<Int64Type>();
        let reasons = column("reason");
        let reasons = reasons.as_string::<i32>();
        let raw_values = column("raw_value");
        let raw_values = raw_values.as_string::<i32>();
        let encodings = column("raw_value_encoding");
        let encodings = encodings.as_string::<i32>();
        for row in 0..rejects.num_rows() {
            let offset = offsets.value(row);
            *rows.entry(offset).or_default() += 1;
            let input = &inputs[offset as usize];
            if !reasons.is_valid(row) || reasons.value(row).is_empty() {
                failures.push(format!("{}: reject without a reason", show(input)));
            }
            let stored = match (raw_values.is_valid(row), encodings.value(row)) {
                (false, _) => Vec::new(),
                (true, "base64") => base64::engine::general_purpose::STANDARD
                    .decode(raw_values.value(row))
                    .unwrap_or_default(),
                (true, _) => raw_values.value(row).as_bytes().to_vec(),
            };
            if &stored != input {
                failures.push(format!("{}: raw_value differs", show(input)));
            }
        }
    }
    for (offset, input) in inputs.iter().enumerate() {
        let count = rows.get(&(offset as i64)).copied().unwrap_or(0);
        if count != 1 {
            failures.push(format!("{}: {count} rows instead of one", show(input)));
        }
    }
    failures
}

/// Shows a value for a failure message: its start, with invalid UTF-8 replaced.
fn show(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    let start: String = text.chars().take(120).collect();
    format!("{start:?} ({} bytes)", value.len())
}

#[test]
fn mutated_records_become_one_row_each() {
    let cases: usize = std::env::var("EVENTLAKE_FUZZ_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(20_000);
    let seed: u64 = std::env::var("EVENTLAKE_FUZZ_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| chrono::Utc::now().timestamp_micros() as u64);
    eprintln!("fuzz seed {seed} ({cases} records); replay with EVENTLAKE_FUZZ_SEED={seed}");

    let mut seeds: Vec<Vec<u8>> = corpus(MAX_REPEAT)
        .into_iter()
        .filter_map(|case| case.value)
        .collect();
    let mut generator = EventGenerator::new(GeneratorSettings {
        seed,
        devices: 10,
        users: 10,
        malformed_fraction: 0.0,
        times: EventTimes::Now,
        first_id: 1,
        count: None,
    });
    seeds.extend((0..200).filter_map(|_| generator.next_record().value));

    let schemas = shipped_schemas();
    let layout = Arc::new(EventTableLayout::new(&schemas, PartitionGranularity::Day));
    let mut random = Random(seed);
    let mut failures = Vec::new();
    let mut done = 0;
    let mut stored = 0;
    while done < cases && failures.len() < 20 {
        let inputs: Vec<Vec<u8>> = (0..BATCH.min(cases - done))
            .map(|_| {
                let seed_value = &seeds[random.below(seeds.len())];
                mutate(&mut random, seed_value)
            })
            .collect();
        let mut builder =
            EventBatchBuilder::new(schemas.clone(), layout.clone(), DecodeOptions::default());
        for (offset, input) in inputs.iter().enumerate() {
            builder.push(&SourceRecord {
                topic: "fuzz",
                partition: 0,
                offset: offset as i64,
                timestamp_ms: Some(1_733_300_000_000),
                key: None,
                value: Some(input),
                headers: &[],
            });
        }
        match builder.finish(1_733_300_001_000_000) {
            Ok(decoded) => {
                stored += decoded.events.as_ref().map_or(0, RecordBatch::num_rows);
                failures.extend(check_batch(
                    &inputs,
                    decoded.events.as_ref(),
                    decoded.rejects.as_ref(),
                ));
            }
            Err(error) => failures.push(format!("the batch failed to decode: {error}")),
        }
        done += inputs.len();
    }
    eprintln!(
        "{done} records: {stored} stored as events, {} rejected",
        done - stored
    );
    assert!(failures.is_empty(), "seed {seed}:\n{}", failures.join("\n"));
}
