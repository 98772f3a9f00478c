//! Conversion of the supported JSON Schema subset into Arrow fields.
//!
//! Supported: `type` as a name or a list with `"null"`, `object` with `properties`,
//! `required` and `additionalProperties: false`, `string` (with `format` `date-time` or
//! `date`), `integer`, `number`, `boolean`, and `array` with `items`. Anything else is an
//! error at startup rather than a silent guess.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use serde_json::Value;

use super::SchemaError;

/// Characters that Delta rejects in column names unless column mapping is enabled, which
/// would raise the table's protocol versions above what common readers support.
const FORBIDDEN_NAME_CHARACTERS: &[char] = &[' ', ',', ';', '{', '}', '(', ')', '\n', '\t', '='];

/// Required fields of one object in a schema, and of the objects nested in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequiredFields {
    /// Properties of this object that must be present and not null.
    pub names: Vec<String>,
    /// Required fields of nested objects, by property name. For an array of objects the entry
    /// applies to each element.
    pub nested: BTreeMap<String, RequiredFields>,
}

impl RequiredFields {
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.nested.is_empty()
    }
}

/// The payload schema of one event type.
#[derive(Debug, Clone)]
pub struct TypeSchema {
    /// The event type, taken from the file stem.
    pub event_type: String,
    /// The file the schema was loaded from, for messages.
    pub file: PathBuf,
    /// Fields of `event_data`, all nullable: `required` is checked separately so that a
    /// missing field gets a precise reject reason.
    pub fields: Fields,
    /// Required fields of `event_data`, at every depth.
    pub required: RequiredFields,
    /// Whether fields not declared in the schema are rejected (`additionalProperties: false`
    /// on the top-level object).
    pub strict: bool,
    /// Validation keywords in the file that eventlake does not enforce, with their location,
    /// such as `enum at /properties/status`.
    pub ignored_keywords: Vec<String>,
}

impl TypeSchema {
    /// Converts one JSON Schema document; `path` names the file in error messages.
    pub fn from_json_schema(path: &Path, document: &Value) -> Result<Self, SchemaError> {
        let event_type = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or_default()
            .to_string();
        let converter = Converter {
            path,
            ignored: RefCell::new(Vec::new()),
        };
        if event_type.is_empty() || event_type.starts_with('.') {
            return Err(converter.unsupported(
                "",
                "the file name must be the event type followed by .json, such as sensor_data.json",
            ));
        }

        let root_type = converter.type_names(document, "")?;
        converter.note_unenforced(document, "", root_type.name);
        if root_type.name != "object" {
            return Err(
                converter.unsupported("", "the top-level schema must have \"type\": \"object\"")
            );
        }
        let (fields, required) = converter.object_fields(document, "")?;
        let strict = document.get("additionalProperties") == Some(&Value::Bool(false));

        Ok(Self {
            event_type,
            file: path.to_path_buf(),
            fields,
            required,
            strict,
            ignored_keywords: converter.ignored.into_inner(),
        })
    }
}

/// JSON Schema validation keywords that eventlake reads past without enforcing them.
const UNENFORCED_KEYWORDS: &[&str] = &[
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "patternProperties",
    "dependentRequired",
];

struct Converter<'a> {
    path: &'a Path,
    ignored: RefCell<Vec<String>>,
}

struct TypeName<'v> {
    name: &'v str,
}

impl Converter<'_> {
    fn unsupported(&self, pointer: &str, message: impl Into<String>) -> SchemaError {
        SchemaError::Unsupported {
            path: self.path.to_path_buf(),
            pointer: if pointer.is_empty() {
                "/".to_string()
            } else {
                pointer.to_string()
            },
            message: message.into(),
        }
    }

    /// Records the keywords of `node` that are read past without being enforced.
    fn note_unenforced(&self, node: &Value, pointer: &str, type_name: &str) {
        let location = if pointer.is_empty() { "/" } else { pointer };
        let mut ignored = self.ignored.borrow_mut();
        for keyword in UNENFORCED_KEYWORDS {
            if node.get(*keyword).is_some() {
                ignored.push(format!("{keyword} at {location}"));
            }
        }
        let format = node.get("format").and_then(Value::as_str);
        if let Some(format) = format
            && !(type_name == "string" && (format == "date-time" || format == "date"))
        {
            ignored.push(format!("format '{format}' at {location}"));
        }
        let additional = node.get("additionalProperties");
        let top_level_false = pointer.is_empty() && additional == Some(&Value::Bool(false));
        if additional.is_some() && additional != Some(&Value::Bool(true)) && !top_level_false {
            ignored.push(format!("additionalProperties at {location}"));
        }
    }

    /// Reads `type`, accepting a single name or a list of one name plus `"null"`.
    fn type_names<'v>(&self, node: &'v Value, pointer: &str) -> Result<TypeName<'v>, SchemaError> {
        match node.get("type") {
            Some(Value::String(name)) => Ok(TypeName { name }),
            Some(Value::Array(names)) => {
                let non_null: Vec<&str> = names
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|name| *name != "null")
                    .collect();
                match non_null.as_slice() {
                    [name] if names.len() <= 2 => Ok(TypeName { name }),
                    _ => Err(self.unsupported(
                        pointer,
                        "\"type\" lists must hold one type and optionally \"null\"",
                    )),
                }
            }
            Some(other) => {
                Err(self.unsupported(pointer, format!("\"type\" must be a string, found {other}")))
            }
            None => {
                let composition = ["$ref", "oneOf", "anyOf", "allOf", "not", "if"]
                    .into_iter()
                    .find(|keyword| node.get(*keyword).is_some());
                match composition {
                    Some(keyword) => Err(self.unsupported(
                        pointer,
                        format!("'{keyword}' is not supported; write the node out with a single \"type\""),
                    )),
                    None => Err(self.unsupported(pointer, "\"type\" is missing; every schema node needs one")),
                }
            }
        }
    }

    fn object_fields(
        &self,
        node: &Value,
        pointer: &str,
    ) -> Result<(Fields, RequiredFields), SchemaError> {
        let properties = match node.get("properties") {
            Some(Value::Object(properties)) if !properties.is_empty() => properties,
            _ => {
                return Err(self.unsupported(
                    pointer,
                    "an object needs a non-empty \"properties\" map, because Parquet cannot store an empty struct",
                ));
            }
        };

        let required_names: Vec<&str> = match node.get("required") {
            None => Vec::new(),
            Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
            Some(_) => {
                return Err(
                    self.unsupported(pointer, "\"required\" must be a list of property names")
                );
            }
        };
        for name in &required_names {
            if !properties.contains_key(*name) {
                return Err(self.unsupported(
                    pointer,
                    format!("\"required\" names '{name}', which is not in \"properties\""),
                ));
            }
        }

        let mut fields = Vec::with_capacity(properties.len());
        let mut required = RequiredFields {
            names: required_names.iter().map(|name| name.to_string()).collect(),
            nested: BTreeMap::new(),
        };
        for (name, child) in properties {
            let child_pointer = format!("{pointer}/properties/{name}");
            let same_but_case = properties
                .keys()
                .find(|other| *other != name && other.eq_ignore_ascii_case(name));
            if let Some(other) = same_but_case {
                return Err(self.unsupported(
                    &child_pointer,
                    format!("properties '{name}' and '{other}' differ only in case, which Delta column names cannot; rename one"),
                ));
            }
            if name.is_empty() || name.contains(FORBIDDEN_NAME_CHARACTERS) {
                return Err(self.unsupported(
                    &child_pointer,
                    format!("property name '{name}' is empty or contains one of ' ,;{{}}()=' or a tab or newline, which Delta column names cannot hold"),
                ));
            }
            let (data_type, nested_required) = self.data_type(child, &child_pointer)?;
            fields.push(Field::new(name, data_type, true));
            if !nested_required.is_empty() {
                required.nested.insert(name.clone(), nested_required);
            }
        }
        Ok((Fields::from(fields), required))
    }

    /// Converts a schema node; also returns the required fields of the objects in it.
    fn data_type(
        &self,
        node: &Value,
        pointer: &str,
    ) -> Result<(DataType, RequiredFields), SchemaError> {
        let type_name = self.type_names(node, pointer)?;
        self.note_unenforced(node, pointer, type_name.name);
        let data_type = match type_name.name {
            "object" => {
                let (fields, required) = self.object_fields(node, pointer)?;
                return Ok((DataType::Struct(fields), required));
            }
            "array" => {
                let items = node
                    .get("items")
                    .ok_or_else(|| self.unsupported(pointer, "an array needs \"items\""))?;
                let (item_type, item_required) =
                    self.data_type(items, &format!("{pointer}/items"))?;
                let list = DataType::List(Arc::new(Field::new("element", item_type, true)));
                return Ok((list, item_required));
            }
            "string" => match node.get("format").and_then(Value::as_str) {
                Some("date-time") => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                Some("date") => DataType::Date32,
                _ => DataType::Utf8,
            },
            "integer" => DataType::Int64,
            "number" => DataType::Float64,
            "boolean" => DataType::Boolean,
            other => {
                return Err(self.unsupported(
                    pointer,
                    format!("type '{other}' is not supported; use object, array, string, integer, number or boolean"),
                ));
            }
        };
        Ok((data_type, RequiredFields::default()))
    }
}
