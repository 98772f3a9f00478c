//! Decoding records into raw and rejects rows, without Kafka or storage.

use std::path::PathBuf;
use std::sync::Arc;

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::datatypes::{Float64Type, Int64Type};
use eventlake_events::{
    DecodeOptions, EventBatchBuilder, EventTableLayout, Header, PartitionGranularity,
    PayloadSchemas, SchemaError, SourceRecord, UnknownTypePolicy,
};

use crate::support::shipped_schemas;

fn decode(
    values: &[Option<&[u8]>],
    options: DecodeOptions,
) -> (Option<RecordBatch>, Option<RecordBatch>) {
    let schemas = shipped_schemas();
    let layout = Arc::new(EventTableLayout::new(&schemas, PartitionGranularity::Day));
    let mut builder = EventBatchBuilder::new(schemas, layout, options);
    let headers = vec![Header {
        key: "trace".to_string(),
        value: Some(b"abc".to_vec()),
    }];
    for (offset, value) in values.iter().enumerate() {
        builder.push(&SourceRecord {
            topic: "events",
            partition: 0,
            offset: offset as i64,
            timestamp_ms: Some(1_733_300_000_000),
            key: Some(b"device-1"),
            value: *value,
            headers: &headers,
        });
    }
    let decoded = builder.finish(1_733_300_001_000_000).expect("decodes");
    (decoded.events, decoded.rejects)
}

fn string_column(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let column = batch
        .column_by_name(name)
        .expect("column exists")
        .as_string::<i32>();
    (0..column.len())
        .map(|row| column.is_valid(row).then(|| column.value(row).to_string()))
        .collect()
}

#[test]
fn every_reject_kind_has_a_reason() {
    let cases: Vec<(Option<&[u8]>, &str)> = vec![
        (None, "empty_value"),
        (Some(b""), "empty_value"),
        (Some(b"{\"event_id\": 1, "), "invalid_json"),
        (Some(b"\xff\xfe{}"), "invalid_json"),
        (Some(b"[1, 2, 3]"), "not_an_object"),
        (Some(b"42"), "not_an_object"),
        (Some(br#"{"event_type": "sensor_data", "event_time": 1}"#), "invalid_envelope"),
        (Some(br#"{"event_id": 1, "event_time": 1}"#), "invalid_envelope"),
        (Some(br#"{"event_id": "one", "event_type": "sensor_data", "event_time": 1}"#), "invalid_envelope"),
        (Some(br#"{"event_id": 1, "event_type": "sensor_data", "event_time": "noon"}"#), "invalid_event_time"),
        (Some(br#"{"event_id": 1, "event_type": "sensor_data", "event_time": 99999999999999}"#), "invalid_event_time"),
        (Some(br#"{"event_id": 1, "event_type": "spaceship", "event_time": 1, "event_data": {}}"#), "unknown_event_type"),
        (Some(br#"{"event_id": 1, "event_type": "sensor_data", "event_time": 1, "event_data": {"sensor_id": 1, "temperature": "hot"}}"#), "schema_mismatch"),
        (Some(br#"{"event_id": 1, "event_type": "sensor_data", "event_time": 1, "event_data": {"temperature": 20.5}}"#), "schema_mismatch"),
        (Some(br#"{"event_id": 1, "event_type": "sensor_data", "event_time": 1, "event_data": "text"}"#), "schema_mismatch"),
        (Some(br#"{"event_id": 1, "event_type": "sensor_data", "event_time": 1, "event_data": {"sensor_id": 1, "temperature": 2, "humidity": 45.5}}"#), "schema_mismatch"),
        (Some(br#"{"event_id": 1, "event_type": "sensor_data", "event_time": 1, "event_data": {"sensor_id": "1", "temperature": 2}}"#), "schema_mismatch"),
        (Some(br#"{"event_id": 1, "event_type": "sensor_data", "event_time": 1}"#), "schema_mismatch"),
    ];
    let values: Vec<Option<&[u8]>> = cases.iter().map(|(value, _)| *value).collect();
    let (events, rejects) = decode(&values, DecodeOptions::default());

    assert!(events.is_none(), "no case is valid");
    let rejects = rejects.expect("rejects");
    assert_eq!(rejects.num_rows(), cases.len());
    let codes = string_column(&rejects, "reason_code");
    let reasons = string_column(&rejects, "reason");
    for (row, (_, expected)) in cases.iter().enumerate() {
        assert_eq!(
            codes[row].as_deref(),
            Some(*expected),
            "row {row}: {:?}",
            reasons[row]
        );
        assert!(
            reasons[row]
                .as_ref()
                .is_some_and(|reason| !reason.is_empty()),
            "row {row} has a reason"
        );
    }

    let offsets = rejects
        .column_by_name("kafka_offset")
        .expect("offsets")
        .as_primitive::<Int64Type>();
    assert_eq!(
        offsets.values().to_vec(),
        (0..cases.len() as i64).collect::<Vec<_>>()
    );
}

#[test]
fn raw_values_keep_text_base64_and_null() {
    let (_, rejects) = decode(
        &[None, Some(b"not json"), Some(b"\xff\x00")],
        DecodeOptions::default(),
    );
    let rejects = rejects.expect("rejects");
    assert_eq!(
        string_column(&rejects, "raw_value"),
        vec![None, Some("not json".to_string()), Some("/wA=".to_string())]
    );
    assert_eq!(
        string_column(&rejects, "raw_value_encoding"),
        vec![None, Some("utf8".to_string()), Some("base64".to_string())]
    );
}

#[test]
fn missing_required_field_names_path_and_file() {
    let value = br#"{"event_id": 1, "event_type": "sensor_data", "event_time": 1, "event_data": {"sensor_id": 3, "temperature": 1.5, "location": {"lat": 1.0}}}"#;
    let (events, rejects) = decode(&[Some(value)], DecodeOptions::default());
    assert!(events.is_none());
    let reason = string_column(&rejects.expect("rejects"), "reason")
        .remove(0)
        .expect("reason");
    assert!(reason.contains("event_data.location.lon"), "{reason}");
    assert!(reason.contains("sensor_data.json"), "{reason}");
}

#[test]
fn json_null_stays_null() {
    let value = br#"{"event_id": 1, "event_type": "sensor_data", "event_time": 1, "event_data": {"sensor_id": 3, "temperature": 1.5, "pressure": null, "location": {"site": null, "lat": 1, "lon": 2}}}"#;
    let (events, rejects) = decode(&[Some(value)], DecodeOptions::default());
    assert!(rejects.is_none());
    let events = events.expect("one event");
    let data = events
        .column_by_name("event_data")
        .expect("event_data")
        .as_struct();
    let pressure = data.column_by_name("pressure").expect("pressure");
    assert!(pressure.is_null(0));
    let site = data
        .column_by_name("location")
        .expect("location")
        .as_struct()
        .column_by_name("site")
        .expect("site");
    assert!(site.is_null(0));
    let temperature = data
        .column_by_name("temperature")
        .expect("temperature")
        .as_primitive::<Float64Type>();
    assert_eq!(temperature.value(0), 1.5);
}

#[test]
fn unknown_type_kept_as_json_text() {
    let options = DecodeOptions {
        unknown_types: UnknownTypePolicy::KeepJson,
        ..DecodeOptions::default()
    };
    let with_data = br#"{"event_id": 1, "event_type": "spaceship", "event_time": 1, "event_data": {"speed": 9}}"#;
    let null_data =
        br#"{"event_id": 2, "event_type": "spaceship", "event_time": 1, "event_data": null}"#;
    let (events, rejects) = decode(&[Some(with_data), Some(null_data)], options);
    assert!(rejects.is_none());
    let events = events.expect("events");
    assert_eq!(
        string_column(&events, "event_data_json"),
        vec![Some(r#"{"speed": 9}"#.to_string()), None]
    );
    assert!(
        events
            .column_by_name("event_data")
            .expect("event_data")
            .is_null(0)
    );
}

#[test]
fn bad_rows_do_not_spoil_good_ones() {
    let mut values: Vec<Vec<u8>> = (0..100)
        .map(|id| format!(r#"{{"event_id": {id}, "event_type": "sensor_data", "event_time": 1, "event_data": {{"sensor_id": {id}, "temperature": 20}}}}"#).into_bytes())
        .collect();
    values[17] = br#"{"event_id": 17, "event_type": "sensor_data", "event_time": 1, "event_data": {"sensor_id": [1], "temperature": 20}}"#.to_vec();
    values[80] = br#"{"event_id": 80, "event_type": "sensor_data", "event_time": 1, "event_data": {"sensor_id": 80, "temperature": {}}}"#.to_vec();
    let borrowed: Vec<Option<&[u8]>> = values.iter().map(|value| Some(value.as_slice())).collect();
    let (events, rejects) = decode(&borrowed, DecodeOptions::default());

    let events = events.expect("events");
    assert_eq!(events.num_rows(), 98);
    let rejects = rejects.expect("rejects");
    let offsets = rejects
        .column_by_name("kafka_offset")
        .expect("offsets")
        .as_primitive::<Int64Type>();
    assert_eq!(offsets.values().to_vec(), vec![17, 80]);
}

#[test]
fn kafka_metadata_is_stored() {
    let value = crate::support::sensor_event(5, 1_733_300_000, 2, 21.0);
    let (events, _) = decode(&[Some(value.as_bytes())], DecodeOptions::default());
    let events = events.expect("event");
    let key = events
        .column_by_name("kafka_key")
        .expect("key")
        .as_binary::<i32>();
    assert_eq!(key.value(0), b"device-1");
    let headers = events
        .column_by_name("kafka_headers")
        .expect("headers")
        .as_list::<i32>();
    assert_eq!(headers.value(0).len(), 1);
    assert_eq!(
        string_column(&events, "kafka_topic"),
        vec![Some("events".to_string())]
    );
}

#[test]
fn conflicting_schemas_name_both_files() {
    let first = (
        PathBuf::from("schemas/a.json"),
        r#"{"type": "object", "properties": {"level": {"type": "integer"}}}"#.to_string(),
    );
    let second = (
        PathBuf::from("schemas/b.json"),
        r#"{"type": "object", "properties": {"level": {"type": "string"}}}"#.to_string(),
    );
    let error = PayloadSchemas::from_sources(vec![first, second]).expect_err("conflict");
    assert!(matches!(error, SchemaError::Conflict { .. }));
    let message = error.to_string();
    assert!(message.contains("schemas/a.json"), "{message}");
    assert!(message.contains("schemas/b.json"), "{message}");
    assert!(message.contains("event_data.level"), "{message}");
}

#[test]
fn nested_conflict_names_both_files() {
    let first = (PathBuf::from("a.json"), r#"{"type": "object", "properties": {"geo": {"type": "object", "properties": {"lat": {"type": "number"}}}}}"#.to_string());
    let second = (PathBuf::from("b.json"), r#"{"type": "object", "properties": {"geo": {"type": "object", "properties": {"lat": {"type": "string"}}}}}"#.to_string());
    let message = PayloadSchemas::from_sources(vec![first, second])
        .expect_err("conflict")
        .to_string();
    assert!(message.contains("event_data.geo.lat"), "{message}");
    assert!(message.contains("a.json"), "{message}");
    assert!(message.contains("b.json"), "{message}");
}

#[test]
fn unsupported_schema_names_pointer() {
    let source = (
        PathBuf::from("x.json"),
        r#"{"type": "object", "properties": {"when": {"type": "date"}}}"#.to_string(),
    );
    let message = PayloadSchemas::from_sources(vec![source])
        .expect_err("unsupported")
        .to_string();
    assert!(message.contains("/properties/when"), "{message}");
}

#[test]
fn shipped_schemas_share_compatible_fields() {
    let schemas = shipped_schemas();
    let types: Vec<&str> = schemas.event_types().collect();
    assert_eq!(types, vec!["device_status", "sensor_data", "user_action"]);
}

#[test]
fn rejects_keep_known_event_type() {
    let value = br#"{"event_id": 1, "event_type": "sensor_data", "event_time": "noon"}"#;
    let (_, rejects) = decode(&[Some(value)], DecodeOptions::default());
    assert_eq!(
        string_column(&rejects.expect("rejects"), "event_type"),
        vec![Some("sensor_data".to_string())]
    );
}

#[test]
fn case_only_difference_names_both_files() {
    let first = (
        PathBuf::from("a.json"),
        r#"{"type": "object", "properties": {"battery": {"type": "number"}}}"#.to_string(),
    );
    let second = (
        PathBuf::from("b.json"),
        r#"{"type": "object", "properties": {"Battery": {"type": "number"}}}"#.to_string(),
    );
    let message = PayloadSchemas::from_sources(vec![first, second])
        .expect_err("case conflict")
        .to_string();
    assert!(message.contains("a.json"), "{message}");
    assert!(message.contains("b.json"), "{message}");
    assert!(message.contains("Battery"), "{message}");
}

#[test]
fn unenforced_keywords_are_listed() {
    let source = (
        PathBuf::from("status.json"),
        r#"{"type": "object", "properties": {"status": {"type": "string", "enum": ["on", "off"], "format": "uuid"}, "level": {"type": "integer", "maximum": 5}}}"#.to_string(),
    );
    let schemas = PayloadSchemas::from_sources(vec![source]).expect("loads");
    let ignored = &schemas.get("status").expect("type").ignored_keywords;
    assert!(
        ignored.contains(&"enum at /properties/status".to_string()),
        "{ignored:?}"
    );
    assert!(
        ignored.contains(&"format 'uuid' at /properties/status".to_string()),
        "{ignored:?}"
    );
    assert!(
        ignored.contains(&"maximum at /properties/level".to_string()),
        "{ignored:?}"
    );
}

#[test]
fn reference_gets_a_precise_message() {
    let source = (
        PathBuf::from("x.json"),
        r##"{"type": "object", "properties": {"geo": {"$ref": "#/$defs/geo"}}}"##.to_string(),
    );
    let message = PayloadSchemas::from_sources(vec![source])
        .expect_err("unsupported")
        .to_string();
    assert!(message.contains("'$ref' is not supported"), "{message}");
}
