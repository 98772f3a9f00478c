//! Decoding of one event type's payloads into an Arrow struct array.
//!
//! All payloads of a type are decoded in one arrow-json pass. When that pass fails because
//! some payloads do not match the schema, the rows are split in halves and each half is
//! decoded again. So k bad rows among n cost about k·log2(n) extra passes, and each bad row
//! gets the decoder's own error message.

use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, AsArray, ListArray, StructArray, new_null_array};
use deltalake::arrow::compute::concat;
use deltalake::arrow::datatypes::{DataType, Schema};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::json::ReaderBuilder;

use crate::schema::TypeSchema;
use crate::validate::validate_payload;

/// Payloads of one type that decoded, and the ones that did not with the reason.
pub(crate) struct DecodedPayloads {
    /// One struct row per accepted payload, in the order of `accepted`.
    pub data: StructArray,
    /// Indices into the input of the accepted payloads, ascending.
    pub accepted: Vec<usize>,
    /// Indices into the input of rejected payloads, with the reason.
    pub rejected: Vec<(usize, String)>,
}

/// Decodes `payloads` (`None` for a missing `event_data`) with the fields of `schema`.
pub(crate) fn decode_payloads(
    schema: &TypeSchema,
    payloads: &[Option<&[u8]>],
) -> Result<DecodedPayloads, ArrowError> {
    // Strict type checks first, so that arrow-json's coercions never apply.
    let mut rejected = Vec::new();
    let mut valid = Vec::with_capacity(payloads.len());
    for (index, payload) in payloads.iter().enumerate() {
        // A missing event_data is checked as `{}`, so that its required fields are reported.
        let text = std::str::from_utf8(payload.unwrap_or(b"{}"));
        match text {
            Ok(text) => match validate_payload(schema, text) {
                Ok(()) => valid.push(index),
                Err(message) => rejected.push((index, message)),
            },
            Err(_) => rejected.push((index, "event_data is not valid UTF-8".to_string())),
        }
    }

    let mut parts: Vec<(Vec<usize>, StructArray)> = Vec::new();
    bisect(schema, payloads, &valid, &mut parts, &mut rejected)?;

    let mut accepted = Vec::with_capacity(payloads.len() - rejected.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(parts.len());
    for (indices, array) in parts {
        accepted.extend(indices);
        arrays.push(Arc::new(array));
    }
    let data = if arrays.is_empty() {
        new_null_array(&DataType::Struct(schema.fields.clone()), 0)
            .as_struct()
            .clone()
    } else {
        let refs: Vec<&dyn Array> = arrays.iter().map(|array| array.as_ref()).collect();
        concat(&refs)?.as_struct().clone()
    };

    rejected.sort_by_key(|(index, _)| *index);

    Ok(DecodedPayloads {
        data,
        accepted,
        rejected,
    })
}

/// Decodes the rows at `indices`, splitting them until every failing row is decoded alone.
fn bisect(
    schema: &TypeSchema,
    payloads: &[Option<&[u8]>],
    indices: &[usize],
    parts: &mut Vec<(Vec<usize>, StructArray)>,
    rejected: &mut Vec<(usize, String)>,
) -> Result<(), ArrowError> {
    if indices.is_empty() {
        return Ok(());
    }
    match decode_all(schema, payloads, indices) {
        Ok(array) => {
            parts.push((indices.to_vec(), array));
            Ok(())
        }
        Err(error) if indices.len() == 1 => {
            rejected.push((indices[0], describe_decode_error(&error)));
            Ok(())
        }
        Err(_) => {
            let (left, right) = indices.split_at(indices.len() / 2);
            bisect(schema, payloads, left, parts, rejected)?;
            bisect(schema, payloads, right, parts, rejected)
        }
    }
}

fn decode_all(
    schema: &TypeSchema,
    payloads: &[Option<&[u8]>],
    indices: &[usize],
) -> Result<StructArray, ArrowError> {
    let arrow_schema = Arc::new(Schema::new(schema.fields.clone()));
    let mut decoder = ReaderBuilder::new(arrow_schema)
        .with_batch_size(indices.len() + 1)
        .with_strict_mode(schema.strict)
        .build_decoder()?;

    for &index in indices {
        let payload = payloads[index].unwrap_or(b"{}");
        decoder.decode(payload)?;
        // A separator keeps two payloads from being read as one value.
        decoder.decode(b"\n")?;
    }
    let batch = decoder
        .flush()?
        .ok_or_else(|| ArrowError::JsonError("decoder returned no rows".to_string()))?;
    if batch.num_rows() != indices.len() {
        return Err(ArrowError::JsonError(format!(
            "decoder returned {} rows for {} payloads",
            batch.num_rows(),
            indices.len()
        )));
    }

    // A missing event_data decodes as `{}` but is stored as a null struct.
    let validity: Vec<bool> = indices
        .iter()
        .map(|&index| payloads[index].is_some())
        .collect();
    let array = StructArray::from(batch);
    let nulls = validity.iter().any(|valid| !valid).then(|| validity.into());
    let (fields, columns, _) = array.into_parts();
    StructArray::try_new(fields, columns, nulls)
}

/// Turns arrow-json's message into a reject reason about `event_data`.
fn describe_decode_error(error: &ArrowError) -> String {
    let message = match error {
        ArrowError::JsonError(message) => message.clone(),
        other => other.to_string(),
    };
    format!("event_data does not match its schema: {message}")
}

/// Casts a decoded array to a wider struct or list type, adding null children for fields
/// that the source type does not have.
pub(crate) fn widen(array: &ArrayRef, target: &DataType) -> Result<ArrayRef, ArrowError> {
    if array.data_type() == target {
        return Ok(array.clone());
    }
    match target {
        DataType::Struct(target_fields) => {
            let source = array.as_struct();
            let mut children = Vec::with_capacity(target_fields.len());
            for field in target_fields {
                let child = match source.column_by_name(field.name()) {
                    Some(child) => widen(child, field.data_type())?,
                    None => new_null_array(field.data_type(), array.len()),
                };
                children.push(child);
            }
            Ok(Arc::new(StructArray::try_new(
                target_fields.clone(),
                children,
                source.nulls().cloned(),
            )?))
        }
        DataType::List(target_item) => {
            let source = array.as_list::<i32>();
            let values = widen(source.values(), target_item.data_type())?;
            Ok(Arc::new(ListArray::try_new(
                target_item.clone(),
                source.offsets().clone(),
                values,
                source.nulls().cloned(),
            )?))
        }
        other => Err(ArrowError::CastError(format!(
            "cannot widen {} to {other}; this is a bug in the schema merge",
            array.data_type()
        ))),
    }
}
