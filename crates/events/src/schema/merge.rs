//! The union of all event types' payload fields, with conflicts reported by file.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field, Fields};

use super::{SchemaError, TypeSchema};

/// Merges the fields of every type into one list, in first-seen order.
pub(super) fn union_fields<'a>(
    types: impl Iterator<Item = &'a TypeSchema>,
) -> Result<Fields, SchemaError> {
    let mut merged: Vec<Field> = Vec::new();
    let mut origins: HashMap<String, PathBuf> = HashMap::new();
    for type_schema in types {
        merged = merge_field_lists(merged, &type_schema.fields, "", type_schema, &mut origins)?;
    }
    Ok(Fields::from(merged))
}

fn merge_field_lists(
    mut target: Vec<Field>,
    incoming: &Fields,
    prefix: &str,
    source: &TypeSchema,
    origins: &mut HashMap<String, PathBuf>,
) -> Result<Vec<Field>, SchemaError> {
    for field in incoming {
        let path = format!("{prefix}{}", field.name());
        let same_but_case = target.iter().find(|existing| {
            existing.name() != field.name() && existing.name().eq_ignore_ascii_case(field.name())
        });
        if let Some(existing) = same_but_case {
            let existing_path = format!("{prefix}{}", existing.name());
            return Err(SchemaError::CaseConflict {
                first_field: existing_path.clone(),
                first_file: find_origin(origins, &existing_path),
                second_field: path,
                second_file: source.file.clone(),
            });
        }
        match target
            .iter()
            .position(|existing| existing.name() == field.name())
        {
            None => {
                origins.entry(path).or_insert_with(|| source.file.clone());
                target.push(field.as_ref().clone());
            }
            Some(index) => {
                let merged_type = merge_types(
                    target[index].data_type(),
                    field.data_type(),
                    &path,
                    source,
                    origins,
                )?;
                target[index] = Field::new(field.name(), merged_type, true);
            }
        }
    }
    Ok(target)
}

fn merge_types(
    existing: &DataType,
    incoming: &DataType,
    path: &str,
    source: &TypeSchema,
    origins: &mut HashMap<String, PathBuf>,
) -> Result<DataType, SchemaError> {
    match (existing, incoming) {
        (DataType::Struct(existing_fields), DataType::Struct(incoming_fields)) => {
            let fields = merge_field_lists(
                existing_fields
                    .iter()
                    .map(|field| field.as_ref().clone())
                    .collect(),
                incoming_fields,
                &format!("{path}."),
                source,
                origins,
            )?;
            Ok(DataType::Struct(Fields::from(fields)))
        }
        (DataType::List(existing_item), DataType::List(incoming_item)) => {
            let item_type = merge_types(
                existing_item.data_type(),
                incoming_item.data_type(),
                &format!("{path}[]"),
                source,
                origins,
            )?;
            Ok(DataType::List(Arc::new(Field::new(
                "element", item_type, true,
            ))))
        }
        (left, right) if left == right => Ok(left.clone()),
        (left, right) => Err(SchemaError::Conflict {
            field: path.to_string(),
            first_file: find_origin(origins, path),
            first_type: describe(left),
            second_file: source.file.clone(),
            second_type: describe(right),
        }),
    }
}

/// Names an Arrow type in JSON Schema words, as the user wrote it.
fn describe(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 => "string".to_string(),
        DataType::Int64 => "integer".to_string(),
        DataType::Float64 => "number".to_string(),
        DataType::Boolean => "boolean".to_string(),
        DataType::Date32 => "string (format date)".to_string(),
        DataType::Timestamp(_, _) => "string (format date-time)".to_string(),
        DataType::Struct(_) => "object".to_string(),
        DataType::List(item) => format!("array of {}", describe(item.data_type())),
        other => other.to_string(),
    }
}

/// Finds the file that first declared `path` or, for a field added inside a struct that one
/// file introduced, the file that declared its nearest ancestor.
fn find_origin(origins: &HashMap<String, PathBuf>, path: &str) -> PathBuf {
    let mut candidate = path;
    loop {
        if let Some(file) = origins.get(candidate) {
            return file.clone();
        }
        match candidate.rfind(['.', '[']) {
            Some(end) => candidate = &candidate[..end],
            None => return PathBuf::new(),
        }
    }
}
