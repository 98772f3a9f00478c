//! Strict type checks of a payload against its schema, before Arrow decoding.
//!
//! arrow-json is lenient where a data contract should not be: it truncates `45.5` to `45` for
//! an integer field and parses `"45"` as a number. This pass walks the JSON once with serde,
//! without allocating for values, and rejects such payloads with the path of the field.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, NaiveDate};
use deltalake::arrow::datatypes::DataType;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::schema::{RequiredFields, TypeSchema};

/// Checks that `payload`, a JSON object, gives every field declared in `schema` a value of
/// the declared type or null, and a non-null value to every required field of each object
/// present. Undeclared fields are skipped.
pub(crate) fn validate_payload(schema: &TypeSchema, payload: &str) -> Result<(), String> {
    let mut deserializer = serde_json::Deserializer::from_str(payload);
    let root = DataType::Struct(schema.fields.clone());
    let seed = ValueSeed {
        data_type: &root,
        required: Some(&schema.required),
        file: &schema.file,
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

/// Expected type of one JSON value; deserializing it returns whether the value is non-null.
struct ValueSeed<'a> {
    data_type: &'a DataType,
    /// Required fields of this object, or of each object in this array.
    required: Option<&'a RequiredFields>,
    /// The schema file, for messages about required fields.
    file: &'a std::path::Path,
    path: Path<'a>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl ValueSeed<'_> {
    fn expected(&self) -> &'static str {
        match self.data_type {
            DataType::Int64 => "an integer",
            DataType::Float64 => "a number",
            DataType::Boolean => "a boolean",
            DataType::Utf8 => "a string",
            DataType::Date32 => "a date string such as \"2024-12-04\"",
            DataType::Timestamp(_, _) => {
                "an RFC 3339 date-time string such as \"2024-12-04T08:13:20Z\""
            }
            DataType::Struct(_) => "an object",
            DataType::List(_) => "an array",
            _ => "a supported value",
        }
    }

    fn mismatch<E: de::Error>(&self, found: impl fmt::Display) -> E {
        E::custom(format!(
            "{} must be {}, got {found}",
            self.path,
            self.expected()
        ))
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = bool;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.expected())
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<bool, E> {
        match self.data_type {
            DataType::Boolean => Ok(true),
            _ => Err(self.mismatch(value)),
        }
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<bool, E> {
        match self.data_type {
            DataType::Int64 | DataType::Float64 => Ok(true),
            _ => Err(self.mismatch(value)),
        }
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<bool, E> {
        match self.data_type {
            DataType::Int64 if i64::try_from(value).is_ok() => Ok(true),
            DataType::Int64 => Err(E::custom(format!(
                "{} is {value}, beyond the 64-bit integer range",
                self.path
            ))),
            DataType::Float64 => Ok(true),
            _ => Err(self.mismatch(value)),
        }
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<bool, E> {
        match self.data_type {
            DataType::Float64 => Ok(true),
            // Debug formatting keeps the decimal point, so 45.0 is not shown as 45.
            _ => Err(self.mismatch(format_args!("{value:?}"))),
        }
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<bool, E> {
        match self.data_type {
            DataType::Utf8 => Ok(true),
            DataType::Date32 if NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok() => Ok(true),
            DataType::Timestamp(_, _) if DateTime::parse_from_rfc3339(value).is_ok() => Ok(true),
            _ => Err(self.mismatch(format_args!("\"{}\"", crate::time::shorten(value)))),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<bool, A::Error> {
        let DataType::List(item) = self.data_type else {
            return Err(self.mismatch("an array"));
        };
        let mut index = 0;
        loop {
            let seed = ValueSeed {
                data_type: item.data_type(),
                required: self.required,
                file: self.file,
                path: Path::Element(&self.path, index),
            };
            if sequence.next_element_seed(seed)?.is_none() {
                return Ok(true);
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let DataType::Struct(fields) = self.data_type else {
            return Err(self.mismatch("an object"));
        };
        // Per field: `None` while absent, then whether the value was non-null.
        let mut seen: Vec<Option<bool>> = vec![None; fields.len()];
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let Some((index, field)) = fields.find(&key) else {
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
                data_type: field.data_type(),
                required: self
                    .required
                    .and_then(|required| required.nested.get(field.name())),
                file: self.file,
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
                    self.file.display()
                )));
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::datatypes::{Field, Fields, TimeUnit};

    use super::*;

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
}
