//! Schema evolution: a table may gain nullable columns and struct fields, such as when a new
//! event type adds fields to `event_data`. Anything else is a mismatch the user must resolve.

use deltalake::kernel::{DataType, StructField, StructType};

/// Returns the top-level fields of `expected` that are new or gained nested fields compared
/// with `found`, or a sentence naming the first change that is not an addition of nullable
/// fields.
pub(crate) fn widened_fields(
    found: &StructType,
    expected: &StructType,
) -> Result<Vec<StructField>, String> {
    let mut changed = Vec::new();
    for field in expected.fields() {
        match found.field(field.name()) {
            None if field.is_nullable() => changed.push(field.clone()),
            None => {
                return Err(format!(
                    "new column '{}' is not nullable, so existing rows have no value for it",
                    field.name()
                ));
            }
            Some(existing) => {
                let mut additions = 0;
                check_field(existing, field, field.name(), &mut additions)?;
                if additions > 0 {
                    changed.push(field.clone());
                }
            }
        }
    }
    for field in found.fields() {
        if expected.field(field.name()).is_none() {
            return Err(format!(
                "the table has column '{}', which this configuration lacks",
                field.name()
            ));
        }
    }
    Ok(changed)
}

fn check_field(
    found: &StructField,
    expected: &StructField,
    path: &str,
    additions: &mut usize,
) -> Result<(), String> {
    if found.is_nullable() != expected.is_nullable() {
        return Err(format!("column '{path}' changes nullability"));
    }
    check_type(found.data_type(), expected.data_type(), path, additions)
}

fn check_type(
    found: &DataType,
    expected: &DataType,
    path: &str,
    additions: &mut usize,
) -> Result<(), String> {
    match (found, expected) {
        (DataType::Struct(found_struct), DataType::Struct(expected_struct)) => {
            for field in expected_struct.fields() {
                let nested = format!("{path}.{}", field.name());
                match found_struct.field(field.name()) {
                    None if field.is_nullable() => *additions += 1,
                    None => return Err(format!("new field '{nested}' is not nullable")),
                    Some(existing) => check_field(existing, field, &nested, additions)?,
                }
            }
            for field in found_struct.fields() {
                if expected_struct.field(field.name()).is_none() {
                    return Err(format!(
                        "field '{path}.{}' is in the table but not in this configuration",
                        field.name()
                    ));
                }
            }
            Ok(())
        }
        (DataType::Array(found_array), DataType::Array(expected_array))
            if found_array.contains_null() == expected_array.contains_null() =>
        {
            check_type(
                found_array.element_type(),
                expected_array.element_type(),
                &format!("{path}[]"),
                additions,
            )
        }
        (left, right) if left == right => Ok(()),
        (left, right) => Err(format!(
            "column '{path}' is {left} in the table but {right} here"
        )),
    }
}
