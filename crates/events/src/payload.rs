//! Strict decoding of one payload into the Arrow columns of its event type.
//!
//! arrow-json is lenient where a data contract should not be: it truncates `45.5` to `45` for
//! an integer field and parses `"45"` as a number. So payloads are not decoded by it. One serde
//! walk of each payload checks every declared field's type and appends its value to the
//! columns. A payload that fails a check is taken back out of the columns and rejected with
//! the path of the field.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate};
use deltalake::arrow::datatypes::TimeUnit;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::builder::{ColumnBuilder, Values};
use crate::schema::{RequiredFields, TypeSchema};

/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01.
const UNIX_EPOCH_DAY_FROM_CE: i32 = 719_163;

/// Decodes `payload`, a JSON object, into `columns` (a struct column of `schema`'s fields).
///
/// Every field declared in `schema` must hold a value of the declared type or null, and each
/// object present must give its required fields a non-null value. Undeclared fields are
/// skipped, or rejected when the schema is strict. On error, `columns` may hold part of the
/// payload; the caller truncates it.
pub(crate) fn decode_payload(
    schema: &TypeSchema,
    columns: &mut ColumnBuilder,
    payload: &str,
) -> Result<(), String> {
    let mut deserializer = serde_json::Deserializer::from_str(payload);
    let seed = ValueSeed {
        column: columns,
        required: Some(&schema.required),
        schema,
        strict: schema.strict,
        path: Path::Root,
    };
    seed.deserialize(&mut deserializer)
        .map(|_| ())
        .map_err(|error| match error.classify() {
            // Syntax errors carry no field path, so their position is the only locator.
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                format!("event_data is not valid JSON: {error}")
            }
            _ => strip_position(&error.to_string()),
        })
}

/// serde_json appends "at line L column C" to custom errors; the payload is one line and the
/// field path already locates the value, so that suffix is dropped.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

/// Location of a value inside `event_data`, built only when an error is reported.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'a str),
    Element(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => f.write_str("event_data"),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
            Path::Element(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// One JSON value and the column it goes to; deserializing it appends one row to the column
/// and returns whether the value was non-null.
struct ValueSeed<'a> {
    column: &'a mut ColumnBuilder,
    /// Required fields of this object, or of each object in this array.
    required: Option<&'a RequiredFields>,
    /// The type's schema, for messages naming its file.
    schema: &'a TypeSchema,
    /// Whether keys this object does not declare are rejected (the top level of a strict
    /// schema).
    strict: bool,
    path: Path<'a>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        if matches!(self.column.values, Values::Float64(_)) {
            // Without its float_roundtrip feature, serde_json multiplies the significand by a
            // power of ten in floating point, which can round twice. The standard library's
            // parse of the number's text rounds once, so it is exact.
            let raw = <&RawValue>::deserialize(deserializer)?;
            return self.float(raw.get());
        }
        deserializer.deserialize_any(self)
    }
}

impl ValueSeed<'_> {
    fn expected(&self) -> &'static str {
        match &self.column.values {
            Values::Int64(_) => "an integer",
            Values::Float64(_) => "a number",
            Values::Boolean(_) => "a boolean",
            Values::Utf8 { .. } => "a string",
            Values::Date32(_) => "a date string such as \"2024-12-04\"",
            Values::Timestamp { .. } => {
                "an RFC 3339 date-time string such as \"2024-12-04T08:13:20Z\""
            }
            Values::Struct { .. } => "an object",
            Values::List { .. } => "an array",
        }
    }

    fn mismatch<E: de::Error>(&self, found: impl fmt::Display) -> E {
        E::custom(format!(
            "{} must be {}, got {found}",
            self.path,
            self.expected()
        ))
    }

    fn null<E: de::Error>(self) -> Result<bool, E> {
        self.column.append_null();
        Ok(false)
    }

    /// Appends the value of a `Float64` field, given as its JSON text.
    fn float<E: de::Error>(self, text: &str) -> Result<bool, E> {
        let value = match text.as_bytes().first() {
            Some(b'n') => return self.null(),
            Some(b'"') => {
                let string: String = serde_json::from_str(text).map_err(E::custom)?;
                return Err(self.string_mismatch(&string));
            }
            Some(b't' | b'f') => return Err(self.mismatch(text)),
            Some(b'{') => return Err(self.mismatch("an object")),
            Some(b'[') => return Err(self.mismatch("an array")),
            _ => text.parse::<f64>().map_err(E::custom)?,
        };
        if !value.is_finite() {
            return Err(E::custom(format!(
                "{} is {text}, beyond the 64-bit float range",
                self.path
            )));
        }
        let Values::Float64(values) = &mut self.column.values else {
            unreachable!("float() is called for Float64 columns only");
        };
        values.push(value);
        self.column.append_valid();
        Ok(true)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = bool;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.expected())
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        self.null()
    }

    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        self.null()
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<bool, E> {
        let Values::Boolean(values) = &mut self.column.values else {
            return Err(self.mismatch(value));
        };
        values.append(value);
        self.column.append_valid();
        Ok(true)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<bool, E> {
        let Values::Int64(values) = &mut self.column.values else {
            return Err(self.mismatch(value));
        };
        values.push(value);
        self.column.append_valid();
        Ok(true)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<bool, E> {
        match i64::try_from(value) {
            Ok(value) => self.visit_i64(value),
            Err(_) if matches!(self.column.values, Values::Int64(_)) => Err(E::custom(format!(
                "{} is {value}, beyond the 64-bit integer range",
                self.path
            ))),
            Err(_) => Err(self.mismatch(value)),
        }
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<bool, E> {
        // Float64 columns read the number's text instead, so this is always a mismatch.
        // Debug formatting keeps the decimal point, so 45.0 is not shown as 45.
        Err(self.mismatch(format_args!("{value:?}")))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<bool, E> {
        match &mut self.column.values {
            Values::Utf8 { offsets, bytes } => {
                bytes.extend_from_slice(value.as_bytes());
                offsets.push(i32::try_from(bytes.len()).unwrap_or(i32::MAX));
            }
            Values::Date32(values) => match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
                Ok(date) => values.push(date.num_days_from_ce() - UNIX_EPOCH_DAY_FROM_CE),
                Err(_) => return Err(self.string_mismatch(value)),
            },
            Values::Timestamp { unit, values, .. } => {
                let parsed = DateTime::parse_from_rfc3339(value).ok();
                let since_epoch = parsed.and_then(|time| match unit {
                    TimeUnit::Second => Some(time.timestamp()),
                    TimeUnit::Millisecond => Some(time.timestamp_millis()),
                    TimeUnit::Microsecond => Some(time.timestamp_micros()),
                    TimeUnit::Nanosecond => time.timestamp_nanos_opt(),
                });
                match since_epoch {
                    Some(since_epoch) => values.push(since_epoch),
                    None => return Err(self.string_mismatch(value)),
                }
            }
            _ => return Err(self.string_mismatch(value)),
        }
        self.column.append_valid();
        Ok(true)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<bool, A::Error> {
        let Values::List { offsets, items, .. } = &mut self.column.values else {
            return Err(self.mismatch("an array"));
        };
        let mut index = 0;
        loop {
            let seed = ValueSeed {
                column: items,
                required: self.required,
                schema: self.schema,
                strict: false,
                path: Path::Element(&self.path, index),
            };
            if sequence.next_element_seed(seed)?.is_none() {
                break;
            }
            index += 1;
        }
        offsets.push(i32::try_from(items.len()).unwrap_or(i32::MAX));
        self.column.append_valid();
        Ok(true)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let Values::Struct { fields, children } = &mut self.column.values else {
            return Err(self.mismatch("an object"));
        };
        // Per field: `None` while absent, then whether the value was non-null.
        let mut seen: Vec<Option<bool>> = vec![None; fields.len()];
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let Some((index, field)) = fields.find(&key) else {
                if self.strict {
                    return Err(de::Error::custom(format!(
                        "{} is not declared in {}, which allows no other fields (additionalProperties: false)",
                        Path::Field(&self.path, &key),
                        self.schema.file.display()
                    )));
                }
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if seen[index].is_some() {
                return Err(de::Error::custom(format!(
                    "{} appears twice",
                    Path::Field(&self.path, &key)
                )));
            }
            let present = map.next_value_seed(ValueSeed {
                column: &mut children[index],
                required: self
                    .required
                    .and_then(|required| required.nested.get(field.name())),
                schema: self.schema,
                strict: false,
                path: Path::Field(&self.path, field.name()),
            })?;
            seen[index] = Some(present);
        }

        for name in self
            .required
            .map(|required| required.names.as_slice())
            .unwrap_or_default()
        {
            let present = fields
                .find(name)
                .is_some_and(|(index, _)| seen[index] == Some(true));
            if !present {
                return Err(de::Error::custom(format!(
                    "{} is required by {} but missing or null",
                    Path::Field(&self.path, name),
                    self.schema.file.display()
                )));
            }
        }

        for (child, seen) in children.iter_mut().zip(seen) {
            if seen.is_none() {
                child.append_null();
            }
        }
        self.column.append_valid();
        Ok(true)
    }
}

impl ValueSeed<'_> {
    /// Builds the mismatch error for a string value, quoted and shortened.
    fn string_mismatch<E: de::Error>(&self, value: &str) -> E {
        self.mismatch(format_args!("\"{}\"", crate::time::shorten(value)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::array::StructArray;
    use deltalake::arrow::array::{Array, AsArray};
    use deltalake::arrow::datatypes::{
        DataType, Date32Type, Field, Fields, Float64Type, Int64Type, TimestampMicrosecondType,
    };

    use super::*;

    /// Decodes each payload into one column; returns the outcome of each and the column.
    fn decode_all(
        schema: &TypeSchema,
        payloads: &[&str],
    ) -> (Vec<Result<(), String>>, StructArray) {
        let mut columns =
            ColumnBuilder::new(&DataType::Struct(schema.fields.clone()), 0).expect("columns");
        let outcomes = payloads
            .iter()
            .map(|payload| {
                let row = columns.len();
                let outcome = decode_payload(schema, &mut columns, payload);
                if outcome.is_err() {
                    columns.truncate(row);
                }
                outcome
            })
            .collect();
        (
            outcomes,
            columns.finish().expect("array").as_struct().clone(),
        )
    }

    fn validate_payload(schema: &TypeSchema, payload: &str) -> Result<(), String> {
        decode_all(schema, &[payload]).0.remove(0)
    }

    fn schema() -> TypeSchema {
        let mut required = RequiredFields::default();
        required.nested.insert(
            "items".to_string(),
            RequiredFields {
                names: vec!["sku".to_string()],
                nested: Default::default(),
            },
        );
        TypeSchema {
            event_type: "test".to_string(),
            file: "test.json".into(),
            fields: fields(),
            required,
            strict: false,
            ignored_keywords: Vec::new(),
        }
    }

    fn fields() -> Fields {
        let location = Fields::from(vec![Field::new("lat", DataType::Float64, true)]);
        let item = Fields::from(vec![
            Field::new("sku", DataType::Utf8, true),
            Field::new("qty", DataType::Int64, true),
        ]);
        Fields::from(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("temperature", DataType::Float64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("ok", DataType::Boolean, true),
            Field::new("day", DataType::Date32, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("location", DataType::Struct(location), true),
            Field::new(
                "tags",
                DataType::List(Arc::new(Field::new("element", DataType::Utf8, true))),
                true,
            ),
            Field::new(
                "items",
                DataType::List(Arc::new(Field::new(
                    "element",
                    DataType::Struct(item),
                    true,
                ))),
                true,
            ),
        ])
    }

    #[test]
    fn valid_payloads_pass() {
        let payload = r#"{"id": 1, "temperature": 2, "name": "a", "ok": true, "day": "2024-12-04", "at": "2024-12-04T08:13:20Z", "location": {"lat": 1.5}, "tags": ["x", null], "extra": [1, {"a": 2}]}"#;
        assert_eq!(validate_payload(&schema(), payload), Ok(()));
        assert_eq!(
            validate_payload(&schema(), r#"{"id": null, "location": null, "tags": null}"#),
            Ok(())
        );
    }

    #[test]
    fn wrong_types_name_the_path() {
        let cases = [
            (
                r#"{"id": 45.5}"#,
                "event_data.id must be an integer, got 45.5",
            ),
            (
                r#"{"id": "45"}"#,
                "event_data.id must be an integer, got \"45\"",
            ),
            (
                r#"{"id": 18446744073709551615}"#,
                "event_data.id is 18446744073709551615, beyond the 64-bit integer range",
            ),
            (
                r#"{"temperature": "hot"}"#,
                "event_data.temperature must be a number",
            ),
            (r#"{"ok": 1}"#, "event_data.ok must be a boolean"),
            (r#"{"name": 5}"#, "event_data.name must be a string"),
            (
                r#"{"day": "04/12/2024"}"#,
                "event_data.day must be a date string",
            ),
            (
                r#"{"at": "yesterday"}"#,
                "event_data.at must be an RFC 3339",
            ),
            (
                r#"{"location": {"lat": "north"}}"#,
                "event_data.location.lat must be a number",
            ),
            (
                r#"{"location": [1]}"#,
                "event_data.location must be an object",
            ),
            (
                r#"{"tags": ["a", 2]}"#,
                "event_data.tags[1] must be a string",
            ),
            (r#"{"id": 1, "id": 2}"#, "event_data.id appears twice"),
            (
                r#"{"id": 45.0}"#,
                "event_data.id must be an integer, got 45.0",
            ),
            (
                r#"{"items": [{"sku": "a"}, {"qty": 1}]}"#,
                "event_data.items[1].sku is required by test.json but missing or null",
            ),
            (
                r#"{"items": [{"sku": null}]}"#,
                "event_data.items[0].sku is required",
            ),
        ];
        for (payload, expected) in cases {
            let message = validate_payload(&schema(), payload).expect_err(payload);
            assert!(message.starts_with(expected), "{payload}: {message}");
        }
    }

    #[test]
    fn values_land_in_columns() {
        let (outcomes, data) = decode_all(
            &schema(),
            &[
                r#"{"id": -7, "temperature": 21, "name": "caf\u00e9", "ok": false, "day": "1969-12-31", "at": "2024-12-04T09:13:20.5+01:00", "location": {"lat": 0.30000000000000004}, "tags": ["x", null], "items": [{"sku": "a", "qty": 2}]}"#,
                r#"{"id": 1, "location": null, "tags": []}"#,
            ],
        );
        assert_eq!(outcomes, vec![Ok(()), Ok(())]);
        assert_eq!(data.len(), 2);

        let ids = data
            .column_by_name("id")
            .expect("id column")
            .as_primitive::<Int64Type>();
        assert_eq!(ids.values().as_ref(), &[-7, 1]);
        let temperatures = data
            .column_by_name("temperature")
            .expect("temperature column")
            .as_primitive::<Float64Type>();
        assert_eq!(temperatures.value(0), 21.0);
        assert!(temperatures.is_null(1));
        assert_eq!(
            data.column_by_name("name")
                .expect("name column")
                .as_string::<i32>()
                .value(0),
            "café"
        );
        let ok = data.column_by_name("ok").expect("ok column").as_boolean();
        assert!(ok.is_valid(0));
        assert!(!ok.value(0));
        assert!(ok.is_null(1));
        let day = data
            .column_by_name("day")
            .expect("day column")
            .as_primitive::<Date32Type>();
        assert_eq!(day.value(0), -1);
        let at = data
            .column_by_name("at")
            .expect("at column")
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(at.value(0), 1_733_300_000_500_000);
        assert_eq!(at.timezone(), Some("UTC"));

        // The shortest text of 0.1 + 0.2 must come back bit for bit.
        let location = data
            .column_by_name("location")
            .expect("location column")
            .as_struct();
        let lat = location.column(0).as_primitive::<Float64Type>();
        assert_eq!(lat.value(0).to_bits(), (0.1f64 + 0.2).to_bits());
        assert!(location.is_valid(0));
        assert!(location.is_null(1));

        let tags = data
            .column_by_name("tags")
            .expect("tags column")
            .as_list::<i32>();
        assert_eq!(tags.value_length(0), 2);
        assert!(tags.value(0).is_null(1));
        assert_eq!(tags.value_length(1), 0);
        let items = data
            .column_by_name("items")
            .expect("items column")
            .as_list::<i32>();
        assert!(items.is_valid(0));
        assert!(items.is_null(1));
    }

    #[test]
    fn failed_payload_leaves_no_values() {
        // Each bad payload fails after some of its fields, nested ones included, were added.
        let (outcomes, data) = decode_all(
            &schema(),
            &[
                r#"{"id": 1, "tags": ["a"], "items": [{"sku": "s"}]}"#,
                r#"{"id": 2, "name": "gone", "tags": ["b", "c"], "items": [{"sku": "t"}, {"qty": 1}]}"#,
                r#"{"id": 3, "location": {"lat": 1.0}, "tags": ["d", 4]}"#,
                r#"{"id": 5, "tags": ["e"], "items": [{"sku": "u"}]}"#,
            ],
        );
        assert!(outcomes[0].is_ok());
        assert!(outcomes[1].is_err());
        assert!(outcomes[2].is_err());
        assert!(outcomes[3].is_ok());
        assert_eq!(data.len(), 2);

        let ids = data
            .column_by_name("id")
            .expect("id column")
            .as_primitive::<Int64Type>();
        assert_eq!(ids.values().as_ref(), &[1, 5]);
        assert_eq!(
            data.column_by_name("name")
                .expect("name column")
                .null_count(),
            2
        );
        let tags = data
            .column_by_name("tags")
            .expect("tags column")
            .as_list::<i32>();
        let tag_values = tags.values().as_string::<i32>();
        assert_eq!(tag_values.iter().flatten().collect::<Vec<_>>(), ["a", "e"]);
        let items = data
            .column_by_name("items")
            .expect("items column")
            .as_list::<i32>();
        assert_eq!(items.values().len(), 2);
        assert!(
            data.column_by_name("location")
                .expect("location column")
                .is_null(1)
        );
    }

    #[test]
    fn float_range_and_strict_schema() {
        assert_eq!(
            validate_payload(&schema(), r#"{"temperature": 1e400}"#),
            Err("event_data.temperature is 1e400, beyond the 64-bit float range".to_string())
        );
        assert_eq!(
            validate_payload(&schema(), r#"{"temperature": true}"#),
            Err("event_data.temperature must be a number, got true".to_string())
        );

        let mut strict = schema();
        strict.strict = true;
        assert_eq!(
            validate_payload(&strict, r#"{"id": 1, "colour": "red"}"#),
            Err("event_data.colour is not declared in test.json, which allows no other fields (additionalProperties: false)".to_string())
        );
        // Only the top level is strict; nested objects may carry more.
        assert_eq!(
            validate_payload(&strict, r#"{"location": {"lat": 1, "lon": 2}}"#),
            Ok(())
        );
    }
}
