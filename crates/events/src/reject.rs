//! Reasons for sending an event to the rejects table.

use std::fmt;

/// Category of a rejection, stored in the `reason_code` column so that rejects can be counted
/// and filtered without parsing the free-text reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectKind {
    /// The record has no value, or an empty one.
    EmptyValue,
    /// The value is not valid UTF-8 JSON.
    InvalidJson,
    /// The value is valid JSON but not an object.
    NotAnObject,
    /// An envelope field is missing, null or of the wrong type.
    InvalidEnvelope,
    /// `event_time` cannot be parsed or is outside the supported range.
    InvalidEventTime,
    /// `event_type` has no schema in `schemas/` and unknown types are rejected.
    UnknownEventType,
    /// The payload does not match the schema of its event type.
    SchemaMismatch,
}

impl RejectKind {
    /// Returns the stable code stored in the `reason_code` column.
    pub fn code(self) -> &'static str {
        match self {
            RejectKind::EmptyValue => "empty_value",
            RejectKind::InvalidJson => "invalid_json",
            RejectKind::NotAnObject => "not_an_object",
            RejectKind::InvalidEnvelope => "invalid_envelope",
            RejectKind::InvalidEventTime => "invalid_event_time",
            RejectKind::UnknownEventType => "unknown_event_type",
            RejectKind::SchemaMismatch => "schema_mismatch",
        }
    }
}

impl fmt::Display for RejectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A rejection: its category and a sentence that names the offending field and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectReason {
    pub kind: RejectKind,
    pub detail: String,
}

impl RejectReason {
    pub fn new(kind: RejectKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}
