//! Malformed records, one of each reject kind in turn, to show and test the `rejects` table.

use crate::generator::Record;

/// Values of the malformed records, in the order they are produced. `None` is a tombstone.
const MALFORMED: [Option<&[u8]>; 8] = [
    None,
    Some(b"{\"event_id\": 1, \"event_type\": \"sensor_data\""),
    Some(b"[1, 2, 3]"),
    Some(br#"{"event_type": "sensor_data", "event_time": "2024-12-04T10:00:00Z", "event_data": {}}"#),
    Some(br#"{"event_id": 7, "event_type": "sensor_data", "event_time": "tomorrow", "event_data": {"sensor_id": 1, "temperature": 20.5}}"#),
    Some(br#"{"event_id": 8, "event_type": "spaceship", "event_time": "2024-12-04T10:00:00Z", "event_data": {}}"#),
    Some(br#"{"event_id": 9, "event_type": "sensor_data", "event_time": "2024-12-04T10:00:00Z", "event_data": {"sensor_id": "x", "temperature": 1}}"#),
    Some(b"\xff\xfe not UTF-8"),
];

/// Returns the `kind`-th malformed record, cycling through the reject kinds.
pub fn malformed_record(kind: u64) -> Record {
    let value = MALFORMED[(kind % MALFORMED.len() as u64) as usize];
    // Keys differ, so that malformed records spread over the partitions like the others.
    Record {
        key: Some(format!("malformed-{kind}").into_bytes()),
        value: value.map(<[u8]>::to_vec),
        malformed: true,
    }
}
