//! Newline-delimited JSON from a file or standard input, one record per non-empty line.

use std::io::BufRead;
use std::path::PathBuf;

use crate::error::ProduceError;
use crate::generator::Record;
use crate::sender::RecordSource;
use tracing::warn;

/// Reads records from lines of text, keyed by a field of each JSON line when asked.
pub struct NdjsonSource {
    reader: Box<dyn BufRead + Send>,
    /// Name of the input in error messages.
    path: PathBuf,
    /// Dotted path of the field that becomes the key, such as `event_data.sensor_id`.
    key_field: Option<Vec<String>>,
    line: String,
    /// Non-empty lines read so far.
    lines: u64,
    /// Whether a line without the key field was logged already.
    warned: bool,
}

impl NdjsonSource {
    pub fn new(reader: Box<dyn BufRead + Send>, path: PathBuf, key_field: Option<&str>) -> Self {
        Self {
            reader,
            path,
            key_field: key_field.map(|field| field.split('.').map(str::to_string).collect()),
            line: String::new(),
            lines: 0,
            warned: false,
        }
    }

    /// Returns the key for one line: the field's text, or its JSON for numbers and other values.
    /// Lines that are not JSON, or lack the field, get no key.
    fn key(&self, line: &str) -> Option<Vec<u8>> {
        let path = self.key_field.as_ref()?;
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        let field = path
            .iter()
            .try_fold(&value, |value, name| value.get(name))?;
        let text = match field {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Null => return None,
            other => other.to_string(),
        };
        Some(text.into_bytes())
    }
}

impl RecordSource for NdjsonSource {
    fn next_record(&mut self) -> Option<Result<Record, ProduceError>> {
        loop {
            self.line.clear();
            match self.reader.read_line(&mut self.line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(source) => {
                    return Some(Err(ProduceError::Read {
                        path: self.path.clone(),
                        source,
                    }));
                }
            }
            let line = self.line.trim_end_matches(['\n', '\r']);
            if line.trim().is_empty() {
                continue;
            }
            self.lines += 1;
            let key = self.key(line);
            if key.is_none()
                && let Some(field) = &self.key_field
                && !self.warned
            {
                self.warned = true;
                warn!(
                    record = self.lines,
                    field = %field.join("."),
                    "a line lacks the key field or is not JSON, so its record has no key; further lines like it are not logged"
                );
            }
            return Some(Ok(Record {
                key,
                value: Some(line.as_bytes().to_vec()),
                malformed: false,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_records_keyed_by_a_field() {
        let input = "{\"a\": {\"b\": 7}}\n\n{\"a\": {\"b\": \"x\"}}\r\nnot json\n";
        let mut source = NdjsonSource::new(
            Box::new(std::io::Cursor::new(input)),
            PathBuf::from("-"),
            Some("a.b"),
        );
        let mut records = Vec::new();
        while let Some(record) = source.next_record() {
            records.push(record.expect("readable"));
        }
        let keys: Vec<_> = records.iter().map(|record| record.key.clone()).collect();
        assert_eq!(keys, vec![Some(b"7".to_vec()), Some(b"x".to_vec()), None]);
        assert_eq!(records[2].value.as_deref(), Some(&b"not json"[..]));
    }
}
