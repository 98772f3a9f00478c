//! The event envelope: `event_id`, `event_type`, `event_time` and `event_data`.

use std::str::FromStr;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::reject::{RejectKind, RejectReason};
use crate::time::{EpochUnit, parse_event_time, shorten};

/// Longest accepted `event_type` once percent-encoded for a partition directory name, in
/// bytes. File systems limit a path component to 255 bytes; the rest is left for
/// `event_type=` and margin.
const MAX_ENCODED_EVENT_TYPE_BYTES: usize = 200;

/// Handling of an event whose `event_type` has no schema file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownTypePolicy {
    /// Send the event to the rejects table.
    #[default]
    Reject,
    /// Store the event with its payload as JSON text in `event_data_json`.
    KeepJson,
}

impl FromStr for UnknownTypePolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "reject" => Ok(UnknownTypePolicy::Reject),
            "keep" | "keep-json" => Ok(UnknownTypePolicy::KeepJson),
            other => Err(format!(
                "invalid unknown-type policy '{other}': expected reject or keep"
            )),
        }
    }
}

/// Settings that change how messages are decoded.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecodeOptions {
    /// Unit of numeric `event_time` values.
    pub epoch_unit: EpochUnit,
    /// Handling of event types without a schema.
    pub unknown_types: UnknownTypePolicy,
}

/// The fields of the envelope, borrowed from the message value.
#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow, default)]
    event_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event_type: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event_time: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event_data: Option<&'a RawValue>,
}

/// A message whose envelope is valid.
#[derive(Debug)]
pub(crate) struct Envelope<'a> {
    pub event_id: i64,
    pub event_type: String,
    pub event_time_micros: i64,
    /// The `event_data` JSON text, `None` when missing or null.
    pub event_data: Option<&'a str>,
}

/// An envelope that failed its checks, with the event type when that part was valid.
#[derive(Debug)]
pub(crate) struct EnvelopeError {
    pub reason: RejectReason,
    pub event_type: Option<String>,
}

impl From<RejectReason> for EnvelopeError {
    fn from(reason: RejectReason) -> Self {
        Self {
            reason,
            event_type: None,
        }
    }
}

/// Parses and checks the envelope of one message value.
pub(crate) fn parse_envelope<'a>(
    value: Option<&'a [u8]>,
    options: &DecodeOptions,
) -> Result<Envelope<'a>, EnvelopeError> {
    let bytes = match value {
        None => {
            return Err(RejectReason::new(
                RejectKind::EmptyValue,
                "record has no value (tombstone)",
            )
            .into());
        }
        Some(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {
            return Err(RejectReason::new(RejectKind::EmptyValue, "record value is empty").into());
        }
        Some(bytes) => bytes,
    };
    let text = std::str::from_utf8(bytes).map_err(|error| {
        RejectReason::new(
            RejectKind::InvalidJson,
            format!("value is not valid UTF-8 at byte {}", error.valid_up_to()),
        )
    })?;

    let first = text.trim_start().as_bytes().first().copied();
    if first != Some(b'{') {
        return Err(classify_non_object(text).into());
    }
    let raw: RawEnvelope<'a> = serde_json::from_str(text).map_err(|error| {
        let kind = if error.is_data() {
            RejectKind::InvalidEnvelope
        } else {
            RejectKind::InvalidJson
        };
        RejectReason::new(kind, describe_json_error(text, &error))
    })?;

    // Later failures keep the event type, so that rejects can be grouped by it.
    let event_type = parse_event_type(raw.event_type)?;
    let with_type = |reason: RejectReason| EnvelopeError {
        reason,
        event_type: Some(event_type.clone()),
    };
    let event_id = parse_event_id(raw.event_id).map_err(with_type)?;
    let event_time_micros = match raw.event_time {
        Some(raw_time) => parse_event_time(raw_time, options.epoch_unit).map_err(with_type)?,
        None => return Err(with_type(missing("event_time"))),
    };
    let event_data = match raw.event_data {
        None => None,
        Some(data) if data.get().starts_with('{') => Some(data.get()),
        Some(data) => {
            return Err(with_type(RejectReason::new(
                RejectKind::SchemaMismatch,
                format!("event_data must be an object, got {}", shorten(data.get())),
            )));
        }
    };

    Ok(Envelope {
        event_id,
        event_type,
        event_time_micros,
        event_data,
    })
}

fn classify_non_object(text: &str) -> RejectReason {
    if text.starts_with('\u{feff}') {
        return RejectReason::new(
            RejectKind::InvalidJson,
            "value starts with a UTF-8 byte order mark (EF BB BF), which JSON does not allow",
        );
    }
    match serde_json::from_str::<IgnoredAny>(text) {
        Ok(_) => RejectReason::new(
            RejectKind::NotAnObject,
            format!("value must be a JSON object, got {}", shorten(text.trim())),
        ),
        Err(error) => RejectReason::new(RejectKind::InvalidJson, describe_json_error(text, &error)),
    }
}

/// Returns serde_json's message, with a hint when the error is at `NaN` or `Infinity`: many
/// producers write them, but JSON has no such numbers.
fn describe_json_error(text: &str, error: &serde_json::Error) -> String {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(error.line().saturating_sub(1))
        .map(str::len)
        .sum();
    // serde_json's column is in bytes and points at the last byte it read, or just past it.
    let at = line_start + error.column().saturating_sub(1);
    let rest = |index: usize| text.get(index..).unwrap_or("");
    let non_finite = [at, at.saturating_sub(1)].into_iter().any(|index| {
        ["NaN", "Infinity", "-Infinity"]
            .iter()
            .any(|word| rest(index).starts_with(word))
    });
    if non_finite {
        format!("{error}: NaN and Infinity are not JSON numbers; send null or a string instead")
    } else {
        error.to_string()
    }
}

fn missing(field: &str) -> RejectReason {
    RejectReason::new(
        RejectKind::InvalidEnvelope,
        format!("{field} is missing or null"),
    )
}

fn parse_event_id(raw: Option<&RawValue>) -> Result<i64, RejectReason> {
    let raw = raw.ok_or_else(|| missing("event_id"))?;
    i64::from_str(raw.get()).map_err(|_| {
        RejectReason::new(
            RejectKind::InvalidEnvelope,
            format!(
                "event_id must be an integer between -2^63 and 2^63-1, got {}",
                shorten(raw.get())
            ),
        )
    })
}

fn parse_event_type(raw: Option<&RawValue>) -> Result<String, RejectReason> {
    let raw = raw.ok_or_else(|| missing("event_type"))?;
    let event_type: String = serde_json::from_str(raw.get()).map_err(|_| {
        RejectReason::new(
            RejectKind::InvalidEnvelope,
            format!("event_type must be a string, got {}", shorten(raw.get())),
        )
    })?;

    if event_type.trim().is_empty() {
        return Err(RejectReason::new(
            RejectKind::InvalidEnvelope,
            "event_type is empty",
        ));
    }
    if event_type.chars().any(char::is_control) {
        return Err(RejectReason::new(
            RejectKind::InvalidEnvelope,
            format!(
                "event_type {} contains control characters",
                shorten(raw.get())
            ),
        ));
    }
    if encoded_length(&event_type) > MAX_ENCODED_EVENT_TYPE_BYTES {
        return Err(RejectReason::new(
            RejectKind::InvalidEnvelope,
            format!(
                "event_type {} is too long for a partition directory: at most {MAX_ENCODED_EVENT_TYPE_BYTES} bytes once percent-encoded",
                shorten(raw.get())
            ),
        ));
    }
    Ok(event_type)
}

/// Length of `text` after percent-encoding every byte outside RFC 3986's unreserved set, the
/// most that a partition directory name can grow to.
fn encoded_length(text: &str) -> usize {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                1
            } else {
                3
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(value: &[u8]) -> RejectKind {
        parse_envelope(Some(value), &DecodeOptions::default())
            .expect_err("should be rejected")
            .reason
            .kind
    }

    #[test]
    fn valid_envelope_is_parsed() {
        let value = br#"{"event_id": 7, "event_type": "sensor_data", "event_time": 1733300000, "event_data": {"a": 1}}"#;
        let envelope = parse_envelope(Some(value), &DecodeOptions::default()).expect("valid");
        assert_eq!(envelope.event_id, 7);
        assert_eq!(envelope.event_type, "sensor_data");
        assert_eq!(envelope.event_time_micros, 1_733_300_000_000_000);
        assert_eq!(envelope.event_data, Some(r#"{"a": 1}"#));
    }

    #[test]
    fn null_event_data_is_none() {
        let value = br#"{"event_id": 7, "event_type": "t", "event_time": 0, "event_data": null}"#;
        let envelope = parse_envelope(Some(value), &DecodeOptions::default()).expect("valid");
        assert_eq!(envelope.event_data, None);
    }

    #[test]
    fn bad_values_get_their_kind() {
        assert_eq!(
            parse_envelope(None, &DecodeOptions::default())
                .expect_err("tombstone")
                .reason
                .kind,
            RejectKind::EmptyValue
        );
        assert_eq!(kind_of(b""), RejectKind::EmptyValue);
        assert_eq!(kind_of(b"  \n"), RejectKind::EmptyValue);
        assert_eq!(kind_of(b"\xff\xfe"), RejectKind::InvalidJson);
        assert_eq!(kind_of(b"{\"event_id\": 1"), RejectKind::InvalidJson);
        assert_eq!(kind_of(b"{} trailing"), RejectKind::InvalidJson);
        assert_eq!(kind_of(b"[1, 2]"), RejectKind::NotAnObject);
        assert_eq!(kind_of(b"null"), RejectKind::NotAnObject);
        assert_eq!(kind_of(b"\"text\""), RejectKind::NotAnObject);
        assert_eq!(
            kind_of(br#"{"event_type": "t", "event_time": 0}"#),
            RejectKind::InvalidEnvelope
        );
        assert_eq!(
            kind_of(br#"{"event_id": "x", "event_type": "t", "event_time": 0}"#),
            RejectKind::InvalidEnvelope
        );
        assert_eq!(
            kind_of(br#"{"event_id": 1.5, "event_type": "t", "event_time": 0}"#),
            RejectKind::InvalidEnvelope
        );
        assert_eq!(
            kind_of(br#"{"event_id": 1, "event_type": "", "event_time": 0}"#),
            RejectKind::InvalidEnvelope
        );
        assert_eq!(
            kind_of(br#"{"event_id": 1, "event_type": 5, "event_time": 0}"#),
            RejectKind::InvalidEnvelope
        );
        assert_eq!(
            kind_of(br#"{"event_id": 1, "event_type": "t"}"#),
            RejectKind::InvalidEnvelope
        );
        assert_eq!(
            kind_of(br#"{"event_id": 1, "event_id": 2, "event_type": "t", "event_time": 0}"#),
            RejectKind::InvalidEnvelope
        );
        assert_eq!(
            kind_of(br#"{"event_id": 1, "event_type": "t", "event_time": "soon"}"#),
            RejectKind::InvalidEventTime
        );
        assert_eq!(
            kind_of(br#"{"event_id": 1, "event_type": "t", "event_time": 0, "event_data": [1]}"#),
            RejectKind::SchemaMismatch
        );
    }

    #[test]
    fn long_event_type_is_rejected() {
        let long_type = "é".repeat(40);
        let value = format!(r#"{{"event_id": 1, "event_type": "{long_type}", "event_time": 0}}"#);
        assert_eq!(kind_of(value.as_bytes()), RejectKind::InvalidEnvelope);
    }
}
