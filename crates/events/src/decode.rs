//! Decoding of one event type's payloads into an Arrow struct array.
//!
//! Each payload is checked and decoded in one walk (see `payload`). A payload that fails is
//! taken back out of the columns and rejected with its reason, so one bad payload costs no
//! more than a good one and the others of the batch are kept.

use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, AsArray, ListArray, StructArray, new_null_array};
use deltalake::arrow::datatypes::DataType;
use deltalake::arrow::error::ArrowError;

use crate::builder::ColumnBuilder;
use crate::payload::decode_payload;
use crate::schema::TypeSchema;

/// Payloads of one type that decoded, and the ones that did not with the reason.
pub(crate) struct DecodedPayloads {
    /// One struct row per accepted payload, in the order of `accepted`.
    pub data: StructArray,
    /// Indices into the input of the accepted payloads, ascending.
    pub accepted: Vec<usize>,
    /// Indices into the input of rejected payloads, with the reason, ascending.
    pub rejected: Vec<(usize, String)>,
}

/// Decodes `payloads` (`None` for a missing `event_data`) with the fields of `schema`.
pub(crate) fn decode_payloads(
    schema: &TypeSchema,
    payloads: &[Option<&[u8]>],
) -> Result<DecodedPayloads, ArrowError> {
    let mut columns = ColumnBuilder::new(&DataType::Struct(schema.fields.clone()), payloads.len())?;
    let mut accepted = Vec::with_capacity(payloads.len());
    let mut rejected = Vec::new();

    for (index, payload) in payloads.iter().enumerate() {
        let row = columns.len();
        // A missing event_data is checked as `{}`, so that its required fields are reported.
        let outcome = match std::str::from_utf8(payload.unwrap_or(b"{}")) {
            Ok(text) => decode_payload(schema, &mut columns, text),
            Err(_) => Err("event_data is not valid UTF-8".to_string()),
        };
        match outcome {
            Ok(()) => {
                // A missing event_data is stored as a null struct.
                if payload.is_none() {
                    columns.set_null(row);
                }
                accepted.push(index);
            }
            Err(reason) => {
                columns.truncate(row);
                rejected.push((index, reason));
            }
        }
    }

    let data = columns.finish()?.as_struct().clone();
    Ok(DecodedPayloads {
        data,
        accepted,
        rejected,
    })
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
