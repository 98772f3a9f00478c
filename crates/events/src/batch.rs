//! Accumulation of Kafka records into the rows of the raw and rejects tables.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use base64::Engine as _;
use deltalake::arrow::array::{
    ArrayRef, BinaryBuilder, Date32Array, Int32Array, Int64Array, ListArray, RecordBatch,
    StringArray, StructArray, TimestampMicrosecondArray, new_null_array,
};
use deltalake::arrow::buffer::OffsetBuffer;
use deltalake::arrow::compute::concat_batches;
use deltalake::arrow::datatypes::{DataType, Field};
use deltalake::arrow::error::ArrowError;

use crate::columns::{EventTableLayout, PartitionGranularity, header_fields, rejects_table_schema};
use crate::decode::{decode_payloads, widen};
use crate::envelope::{DecodeOptions, UnknownTypePolicy, parse_envelope};
use crate::reject::{RejectKind, RejectReason};
use crate::schema::PayloadSchemas;
use crate::source::{Header, SourceRecord};

const MICROS_PER_DAY: i64 = 86_400_000_000;
const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// Estimated bytes of bookkeeping per buffered record, beyond its key and value bytes.
const ROW_OVERHEAD_BYTES: usize = 96;

/// Origin of a buffered record, with its key and value kept in the builder's arena.
struct RecordSource {
    topic: u32,
    partition: i32,
    offset: i64,
    timestamp_ms: Option<i64>,
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
    headers: Vec<Header>,
}

/// A record whose envelope is valid, waiting for its payload to be decoded.
struct PendingEvent {
    record: usize,
    event_id: i64,
    event_time_micros: i64,
    /// Byte range of the `event_data` text in the arena, `None` when missing or null.
    payload: Option<Range<usize>>,
}

/// A rejected record and its reason.
struct PendingReject {
    record: usize,
    reason: RejectReason,
    event_type: Option<String>,
}

/// Rows decoded from a set of records: raw table rows and rejects table rows.
#[derive(Debug)]
pub struct DecodedBatch {
    /// Rows of the raw table, grouped by event type; `None` when there are none.
    pub events: Option<RecordBatch>,
    /// Rows of the rejects table; `None` when there are none.
    pub rejects: Option<RecordBatch>,
    /// Rejected rows per reason code, for logs and metrics.
    pub rejects_by_code: BTreeMap<&'static str, usize>,
}

/// Accumulates Kafka records and turns them into record batches.
///
/// [`push`](Self::push) checks each record's envelope at once; payloads are decoded per event
/// type in [`finish`](Self::finish), which is where most of the CPU time goes.
pub struct EventBatchBuilder {
    schemas: Arc<PayloadSchemas>,
    layout: Arc<EventTableLayout>,
    options: DecodeOptions,
    /// Keys and values of every buffered record, back to back.
    arena: Vec<u8>,
    topics: Vec<String>,
    records: Vec<RecordSource>,
    events: BTreeMap<String, Vec<PendingEvent>>,
    rejects: Vec<PendingReject>,
}

impl EventBatchBuilder {
    pub fn new(
        schemas: Arc<PayloadSchemas>,
        layout: Arc<EventTableLayout>,
        options: DecodeOptions,
    ) -> Self {
        Self {
            schemas,
            layout,
            options,
            arena: Vec::new(),
            topics: Vec::new(),
            records: Vec::new(),
            events: BTreeMap::new(),
            rejects: Vec::new(),
        }
    }

    /// Number of buffered records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Estimated memory held by the buffered records, in bytes.
    pub fn buffered_bytes(&self) -> usize {
        self.arena.len() + self.records.len() * ROW_OVERHEAD_BYTES
    }

    /// Buffers one record: a valid envelope waits for payload decoding, anything else becomes a
    /// reject at once.
    pub fn push(&mut self, record: &SourceRecord<'_>) {
        let topic = self.topic_index(record.topic);
        let key = record.key.map(|key| self.copy_to_arena(key));
        let value = record.value.map(|value| self.copy_to_arena(value));
        let index = self.records.len();
        self.records.push(RecordSource {
            topic,
            partition: record.partition,
            offset: record.offset,
            timestamp_ms: record.timestamp_ms,
            key,
            value: value.clone(),
            headers: record.headers.to_vec(),
        });

        let envelope = match parse_envelope(record.value, &self.options) {
            Ok(envelope) => envelope,
            Err(error) => {
                self.rejects.push(PendingReject {
                    record: index,
                    reason: error.reason,
                    event_type: error.event_type,
                });
                return;
            }
        };

        let known = self.schemas.get(&envelope.event_type).is_some();
        if !known && self.options.unknown_types == UnknownTypePolicy::Reject {
            let reason = RejectReason::new(
                RejectKind::UnknownEventType,
                format!(
                    "event_type '{}' has no schema; add {}.json to the schema directory or run with --unknown-types keep",
                    envelope.event_type, envelope.event_type
                ),
            );
            self.rejects.push(PendingReject {
                record: index,
                reason,
                event_type: Some(envelope.event_type),
            });
            return;
        }

        // The payload is a slice of the value, so its arena range follows from its position.
        let payload = match (envelope.event_data, record.value, value) {
            (Some(data), Some(original), Some(stored)) => {
                let start = stored.start + (data.as_ptr() as usize - original.as_ptr() as usize);
                Some(start..start + data.len())
            }
            _ => None,
        };
        self.events
            .entry(envelope.event_type)
            .or_default()
            .push(PendingEvent {
                record: index,
                event_id: envelope.event_id,
                event_time_micros: envelope.event_time_micros,
                payload,
            });
    }

    fn topic_index(&mut self, topic: &str) -> u32 {
        let position = self.topics.iter().position(|known| known == topic);
        let index = position.unwrap_or_else(|| {
            self.topics.push(topic.to_string());
            self.topics.len() - 1
        });
        index as u32
    }

    fn copy_to_arena(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.arena.len();
        self.arena.extend_from_slice(bytes);
        start..self.arena.len()
    }

    /// Decodes the buffered records into the rows of both tables. `ingested_at_micros` fills
    /// `ingested_at` and `rejected_at`.
    pub fn finish(mut self, ingested_at_micros: i64) -> Result<DecodedBatch, ArrowError> {
        let events = std::mem::take(&mut self.events);
        let mut event_batches = Vec::with_capacity(events.len());
        for (event_type, pending) in events {
            let (batch, rejects) = self.decode_type(&event_type, pending, ingested_at_micros)?;
            event_batches.extend(batch);
            self.rejects.extend(rejects);
        }

        let events = match event_batches.len() {
            0 => None,
            1 => event_batches.pop(),
            _ => Some(concat_batches(&self.layout.schema, &event_batches)?),
        };

        let mut rejects_by_code = BTreeMap::new();
        for reject in &self.rejects {
            *rejects_by_code
                .entry(reject.reason.kind.code())
                .or_insert(0) += 1;
        }
        let rejects = self.build_rejects(ingested_at_micros)?;
        Ok(DecodedBatch {
            events,
            rejects,
            rejects_by_code,
        })
    }

    /// Decodes the payloads of one event type and builds its raw table rows.
    fn decode_type(
        &self,
        event_type: &str,
        pending: Vec<PendingEvent>,
        ingested_at_micros: i64,
    ) -> Result<(Option<RecordBatch>, Vec<PendingReject>), ArrowError> {
        let mut rejects = Vec::new();
        let payloads: Vec<Option<&[u8]>> = pending
            .iter()
            .map(|event| event.payload.clone().map(|range| &self.arena[range]))
            .collect();
        let event_data_type = self.schemas.event_data_type();

        let (accepted, event_data, event_data_json): (Vec<usize>, ArrayRef, ArrayRef) =
            match self.schemas.get(event_type) {
                Some(type_schema) => {
                    let decoded = decode_payloads(type_schema, &payloads)?;
                    for (index, detail) in decoded.rejected {
                        rejects.push(PendingReject {
                            record: pending[index].record,
                            reason: RejectReason::new(RejectKind::SchemaMismatch, detail),
                            event_type: Some(event_type.to_string()),
                        });
                    }
                    let data: ArrayRef = Arc::new(decoded.data);
                    let widened = widen(&data, &event_data_type)?;
                    let json = new_null_array(&DataType::Utf8, decoded.accepted.len());
                    (decoded.accepted, widened, json)
                }
                None => {
                    let json: StringArray = payloads
                        .iter()
                        .map(|payload| payload.map(|bytes| String::from_utf8_lossy(bytes)))
                        .collect();
                    let data = new_null_array(&event_data_type, pending.len());
                    ((0..pending.len()).collect(), data, Arc::new(json))
                }
            };
        if accepted.is_empty() {
            return Ok((None, rejects));
        }

        let rows: Vec<&PendingEvent> = accepted.iter().map(|&index| &pending[index]).collect();
        let records: Vec<usize> = rows.iter().map(|event| event.record).collect();
        let times: Vec<i64> = rows.iter().map(|event| event.event_time_micros).collect();

        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|event| event.event_id),
            )),
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                event_type,
                rows.len(),
            ))),
            Arc::new(TimestampMicrosecondArray::from(times.clone()).with_timezone("UTC")),
            Arc::new(Date32Array::from_iter_values(
                times
                    .iter()
                    .map(|micros| micros.div_euclid(MICROS_PER_DAY) as i32),
            )),
        ];
        if self.layout.granularity == PartitionGranularity::Hour {
            columns.push(Arc::new(Int32Array::from_iter_values(times.iter().map(
                |micros| micros.div_euclid(MICROS_PER_HOUR).rem_euclid(24) as i32,
            ))));
        }
        columns.push(event_data);
        columns.push(event_data_json);
        columns.extend(self.kafka_columns(&records)?);
        columns.push(repeat_timestamp(ingested_at_micros, rows.len()));

        let batch = RecordBatch::try_new(self.layout.schema.clone(), columns)?;
        Ok((Some(batch), rejects))
    }

    /// Builds the Kafka coordinate columns for the given records, in table order.
    fn kafka_columns(&self, records: &[usize]) -> Result<Vec<ArrayRef>, ArrowError> {
        let sources: Vec<&RecordSource> =
            records.iter().map(|&index| &self.records[index]).collect();

        let topics = StringArray::from_iter_values(
            sources
                .iter()
                .map(|source| self.topics[source.topic as usize].as_str()),
        );
        let partitions =
            Int32Array::from_iter_values(sources.iter().map(|source| source.partition));
        let offsets = Int64Array::from_iter_values(sources.iter().map(|source| source.offset));
        let timestamps: TimestampMicrosecondArray = sources
            .iter()
            .map(|source| {
                source
                    .timestamp_ms
                    .and_then(|millis| millis.checked_mul(1_000))
            })
            .collect();
        let mut keys = BinaryBuilder::with_capacity(sources.len(), 0);
        for source in &sources {
            match &source.key {
                Some(range) => keys.append_value(&self.arena[range.clone()]),
                None => keys.append_null(),
            }
        }

        Ok(vec![
            Arc::new(topics),
            Arc::new(partitions),
            Arc::new(offsets),
            Arc::new(timestamps.with_timezone("UTC")),
            Arc::new(keys.finish()),
            headers_array(&sources)?,
        ])
    }

    fn build_rejects(&self, rejected_at_micros: i64) -> Result<Option<RecordBatch>, ArrowError> {
        if self.rejects.is_empty() {
            return Ok(None);
        }
        let mut rejects: Vec<&PendingReject> = self.rejects.iter().collect();
        rejects.sort_by_key(|reject| reject.record);
        let records: Vec<usize> = rejects.iter().map(|reject| reject.record).collect();

        let mut raw_values: Vec<Option<String>> = Vec::with_capacity(rejects.len());
        let mut encodings: Vec<Option<&str>> = Vec::with_capacity(rejects.len());
        for &record in &records {
            let Some(range) = &self.records[record].value else {
                raw_values.push(None);
                encodings.push(None);
                continue;
            };
            let bytes = &self.arena[range.clone()];
            match std::str::from_utf8(bytes) {
                Ok(text) => {
                    raw_values.push(Some(text.to_string()));
                    encodings.push(Some("utf8"));
                }
                Err(_) => {
                    raw_values.push(Some(
                        base64::engine::general_purpose::STANDARD.encode(bytes),
                    ));
                    encodings.push(Some("base64"));
                }
            }
        }

        let mut columns = self.kafka_columns(&records)?;
        columns.push(Arc::new(StringArray::from(raw_values)));
        columns.push(Arc::new(StringArray::from(encodings)));
        columns.push(Arc::new(StringArray::from_iter_values(
            rejects.iter().map(|reject| reject.reason.kind.code()),
        )));
        columns.push(Arc::new(StringArray::from_iter_values(
            rejects.iter().map(|reject| reject.reason.detail.as_str()),
        )));
        columns.push(Arc::new(StringArray::from_iter(
            rejects.iter().map(|reject| reject.event_type.as_deref()),
        )));
        columns.push(repeat_timestamp(rejected_at_micros, rejects.len()));
        columns.push(Arc::new(Date32Array::from_iter_values(
            std::iter::repeat_n(
                rejected_at_micros.div_euclid(MICROS_PER_DAY) as i32,
                rejects.len(),
            ),
        )));
        RecordBatch::try_new(rejects_table_schema(), columns).map(Some)
    }
}

fn repeat_timestamp(micros: i64, rows: usize) -> ArrayRef {
    Arc::new(
        TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(micros, rows))
            .with_timezone("UTC"),
    )
}

/// Builds `kafka_headers`: one list of key and value pairs per record, empty when it has none.
fn headers_array(sources: &[&RecordSource]) -> Result<ArrayRef, ArrowError> {
    let mut lengths = Vec::with_capacity(sources.len());
    let mut keys = Vec::new();
    let mut values = BinaryBuilder::new();
    for source in sources {
        lengths.push(source.headers.len());
        for header in &source.headers {
            keys.push(header.key.as_str());
            match &header.value {
                Some(value) => values.append_value(value),
                None => values.append_null(),
            }
        }
    }

    let entries = StructArray::try_new(
        header_fields(),
        vec![Arc::new(StringArray::from(keys)), Arc::new(values.finish())],
        None,
    )?;
    let item = Arc::new(Field::new(
        "element",
        DataType::Struct(header_fields()),
        true,
    ));
    Ok(Arc::new(ListArray::try_new(
        item,
        OffsetBuffer::from_lengths(lengths),
        Arc::new(entries),
        None,
    )?))
}
