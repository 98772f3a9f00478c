//! Parsing of `event_time` into microseconds since the Unix epoch, UTC.

use std::str::FromStr;

use chrono::DateTime;
use serde_json::value::RawValue;

use crate::reject::{RejectKind, RejectReason};

/// Smallest accepted event time: 0001-01-01T00:00:00Z, in microseconds since the epoch.
pub const MIN_EVENT_TIME_MICROS: i64 = -62_135_596_800_000_000;
/// Largest accepted event time: 9999-12-31T23:59:59.999999Z, in microseconds since the epoch.
/// Together with the minimum this keeps `event_date` a four-digit-year date that every Delta
/// reader can parse from a partition path.
pub const MAX_EVENT_TIME_MICROS: i64 = 253_402_300_799_999_999;

/// Unit of a numeric `event_time`. RFC 3339 strings are accepted whatever the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EpochUnit {
    #[default]
    Seconds,
    Milliseconds,
    Microseconds,
    Nanoseconds,
}

impl EpochUnit {
    /// Converts an integer count of this unit to microseconds, or `None` on overflow.
    fn integer_to_micros(self, value: i64) -> Option<i64> {
        match self {
            EpochUnit::Seconds => value.checked_mul(1_000_000),
            EpochUnit::Milliseconds => value.checked_mul(1_000),
            EpochUnit::Microseconds => Some(value),
            // Sub-microsecond digits are dropped, rounding toward the earlier instant.
            EpochUnit::Nanoseconds => Some(value.div_euclid(1_000)),
        }
    }

    fn micros_per_unit(self) -> f64 {
        match self {
            EpochUnit::Seconds => 1e6,
            EpochUnit::Milliseconds => 1e3,
            EpochUnit::Microseconds => 1.0,
            EpochUnit::Nanoseconds => 1e-3,
        }
    }
}

impl FromStr for EpochUnit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "s" | "seconds" => Ok(EpochUnit::Seconds),
            "ms" | "milliseconds" => Ok(EpochUnit::Milliseconds),
            "us" | "microseconds" => Ok(EpochUnit::Microseconds),
            "ns" | "nanoseconds" => Ok(EpochUnit::Nanoseconds),
            other => Err(format!(
                "invalid epoch unit '{other}': expected seconds, milliseconds, microseconds or nanoseconds"
            )),
        }
    }
}

/// Parses `event_time` from its raw JSON text: a number in `unit`, or an RFC 3339 string.
pub(crate) fn parse_event_time(raw: &RawValue, unit: EpochUnit) -> Result<i64, RejectReason> {
    let text = raw.get();
    let micros = match text.as_bytes().first() {
        Some(b'"') => parse_rfc3339(text)?,
        Some(b'-' | b'0'..=b'9') => parse_epoch(text, unit)?,
        _ => {
            return Err(RejectReason::new(
                RejectKind::InvalidEventTime,
                format!(
                    "event_time {} is neither a number nor an RFC 3339 string",
                    shorten(text)
                ),
            ));
        }
    };

    if !(MIN_EVENT_TIME_MICROS..=MAX_EVENT_TIME_MICROS).contains(&micros) {
        return Err(out_of_range(text));
    }
    Ok(micros)
}

fn parse_rfc3339(text: &str) -> Result<i64, RejectReason> {
    let unquoted: String = serde_json::from_str(text).map_err(|_| {
        RejectReason::new(
            RejectKind::InvalidEventTime,
            format!("event_time {} is not a valid JSON string", shorten(text)),
        )
    })?;
    let parsed = DateTime::parse_from_rfc3339(&unquoted).map_err(|error| {
        RejectReason::new(
            RejectKind::InvalidEventTime,
            format!(
                "event_time {} is not an RFC 3339 timestamp ({error}); expected for example \"2024-12-04T08:13:20Z\"",
                shorten(text)
            ),
        )
    })?;
    // chrono only parses four-digit years, so the value always fits in microseconds.
    Ok(parsed.timestamp_micros())
}

fn parse_epoch(text: &str, unit: EpochUnit) -> Result<i64, RejectReason> {
    let is_integer = !text.contains(['.', 'e', 'E']);
    if is_integer {
        let value = i64::from_str(text).map_err(|_| out_of_range(text))?;
        return unit
            .integer_to_micros(value)
            .ok_or_else(|| out_of_range(text));
    }

    let value = f64::from_str(text).map_err(|_| out_of_range(text))?;
    let micros = (value * unit.micros_per_unit()).floor();
    let in_range = (MIN_EVENT_TIME_MICROS as f64..=MAX_EVENT_TIME_MICROS as f64).contains(&micros);
    if !micros.is_finite() || !in_range {
        return Err(out_of_range(text));
    }
    // The range check above makes this conversion exact up to f64 precision, never saturating.
    Ok(micros as i64)
}

fn out_of_range(text: &str) -> RejectReason {
    RejectReason::new(
        RejectKind::InvalidEventTime,
        format!(
            "event_time {} is out of range: supported times are 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z",
            shorten(text)
        ),
    )
}

/// Cuts a value quoted in a reject reason to a readable length. The full value is kept in
/// the `raw_value` column.
pub(crate) fn shorten(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    if text.chars().count() <= MAX_CHARS {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX_CHARS).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, unit: EpochUnit) -> Result<i64, RejectReason> {
        let raw = RawValue::from_string(text.to_string()).expect("test input is valid JSON");
        parse_event_time(&raw, unit)
    }

    #[test]
    fn epoch_units_convert_to_micros() {
        assert_eq!(
            parse("1733300000", EpochUnit::Seconds),
            Ok(1_733_300_000_000_000)
        );
        assert_eq!(
            parse("1733300000123", EpochUnit::Milliseconds),
            Ok(1_733_300_000_123_000)
        );
        assert_eq!(
            parse("1733300000123456", EpochUnit::Microseconds),
            Ok(1_733_300_000_123_456)
        );
        assert_eq!(
            parse("1733300000123456789", EpochUnit::Nanoseconds),
            Ok(1_733_300_000_123_456)
        );
        assert_eq!(parse("1.5", EpochUnit::Seconds), Ok(1_500_000));
        assert_eq!(parse("-1", EpochUnit::Seconds), Ok(-1_000_000));
        assert_eq!(parse("-1", EpochUnit::Nanoseconds), Ok(-1));
    }

    #[test]
    fn rfc3339_strings_are_accepted() {
        assert_eq!(
            parse("\"2024-12-04T08:13:20Z\"", EpochUnit::Seconds),
            Ok(1_733_300_000_000_000)
        );
        assert_eq!(
            parse("\"2024-12-04T09:13:20.5+01:00\"", EpochUnit::Nanoseconds),
            Ok(1_733_300_000_500_000)
        );
    }

    #[test]
    fn unrepresentable_times_are_rejected() {
        for text in [
            "99999999999999999999",
            "9223372036854775807",
            "1e300",
            "253402300800",
            "-62135596801",
            "\"yesterday\"",
            "true",
            "null",
            "\"1733300000\"",
        ] {
            let result = parse(text, EpochUnit::Seconds);
            let reason = result.expect_err(text);
            assert_eq!(reason.kind, RejectKind::InvalidEventTime, "{text}");
        }
    }

    #[test]
    fn range_edges_are_accepted() {
        assert_eq!(
            parse("253402300799", EpochUnit::Seconds),
            Ok(253_402_300_799_000_000)
        );
        assert_eq!(
            parse("-62135596800", EpochUnit::Seconds),
            Ok(MIN_EVENT_TIME_MICROS)
        );
    }
}
