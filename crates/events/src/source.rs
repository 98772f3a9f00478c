//! The Kafka record type that the decoder takes, free of any Kafka client dependency.

/// One Kafka record header. Kafka allows repeated keys and null values, so headers are kept
/// as an ordered list rather than a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Option<Vec<u8>>,
}

/// A consumed Kafka record, borrowed from the client's buffers.
#[derive(Debug, Clone, Copy)]
pub struct SourceRecord<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    /// Record timestamp in milliseconds since the Unix epoch, when the broker provides one.
    pub timestamp_ms: Option<i64>,
    pub key: Option<&'a [u8]>,
    /// `None` for a tombstone (a record without a value).
    pub value: Option<&'a [u8]>,
    pub headers: &'a [Header],
}
