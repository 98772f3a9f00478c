//! Records buffered since the last flush, with the offsets they cover.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use eventlake_events::{
    DecodeOptions, EventBatchBuilder, EventTableLayout, PayloadSchemas, SourceRecord,
};
use eventlake_lake::{OffsetRange, SourcePartition};

use crate::config::FlushPolicy;

/// Records consumed since the last flush.
pub(crate) struct PendingFlush {
    pub builder: EventBatchBuilder,
    pub offsets: BTreeMap<SourcePartition, OffsetRange>,
    /// When the first record arrived; `None` while empty.
    pub started: Option<Instant>,
}

impl PendingFlush {
    pub fn new(
        schemas: Arc<PayloadSchemas>,
        layout: Arc<EventTableLayout>,
        options: DecodeOptions,
    ) -> Self {
        Self {
            builder: EventBatchBuilder::new(schemas, layout, options),
            offsets: BTreeMap::new(),
            started: None,
        }
    }

    pub fn push(&mut self, source: &SourcePartition, record: &SourceRecord<'_>) {
        self.builder.push(record);
        self.offsets
            .entry(source.clone())
            .and_modify(|range| {
                range.first = range.first.min(record.offset);
                range.last = range.last.max(record.offset);
            })
            .or_insert(OffsetRange {
                first: record.offset,
                last: record.offset,
            });
        self.started.get_or_insert_with(Instant::now);
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    pub fn buffered_bytes(&self) -> usize {
        self.builder.buffered_bytes()
    }

    /// Returns whether any flush limit is reached at `now`.
    pub fn should_flush(&self, policy: &FlushPolicy, now: Instant) -> bool {
        let Some(started) = self.started else {
            return false;
        };
        self.builder.len() >= policy.max_rows
            || self.builder.buffered_bytes() >= policy.max_bytes
            || now.duration_since(started) >= policy.max_age
    }

    /// Time left until the age limit, for the poll timeout.
    pub fn time_to_age_limit(
        &self,
        policy: &FlushPolicy,
        now: Instant,
    ) -> Option<std::time::Duration> {
        self.started
            .map(|started| policy.max_age.saturating_sub(now.duration_since(started)))
    }
}
