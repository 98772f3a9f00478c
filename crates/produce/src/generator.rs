//! Sample events of the shipped types (`sensor_data`, `device_status`, `user_action`) with
//! plausible values, keyed by the device or user they come from.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::malformed::malformed_record;
use crate::random::Random;

/// One Kafka record: an optional key and an optional value (none is a tombstone).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// True for a record built to be rejected.
    pub malformed: bool,
}

/// Source of generated event times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EventTimes {
    /// The wall clock when the event is generated.
    Now,
    /// Spread over `[from, to)`: evenly in order when the count is known, otherwise uniformly
    /// at random.
    Replay {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

/// Settings of the generated stream.
#[derive(Debug, Clone)]
pub struct GeneratorSettings {
    pub seed: u64,
    /// Number of distinct sensors and devices; each device id is a record key.
    pub devices: u64,
    /// Number of distinct users of `user_action` events.
    pub users: u64,
    /// Share of records in `[0, 1]` that are malformed, of every reject kind in turn.
    pub malformed_fraction: f64,
    pub times: EventTimes,
    /// `event_id` of the first event; later ones count up from it.
    pub first_id: i64,
    /// Number of events, when known, so that replayed times cover the whole range.
    pub count: Option<u64>,
}

/// Site of a device: its name, latitude and longitude and typical temperature in °C.
const SITES: [(&str, f64, f64, f64); 5] = [
    ("berlin-plant", 52.52, 13.40, 19.0),
    ("lyon-warehouse", 45.76, 4.84, 16.0),
    ("austin-lab", 30.27, -97.74, 23.0),
    ("osaka-depot", 34.69, 135.50, 21.0),
    ("oslo-cold-store", 59.91, 10.75, 4.0),
];

/// Generates an endless stream of records.
#[derive(Debug)]
pub struct EventGenerator {
    settings: GeneratorSettings,
    random: Random,
    generated: u64,
    malformed: u64,
}

impl EventGenerator {
    pub fn new(settings: GeneratorSettings) -> Self {
        Self {
            random: Random::new(settings.seed),
            settings,
            generated: 0,
            malformed: 0,
        }
    }

    /// Returns the next record; malformed records take their share evenly through the stream.
    pub fn next_record(&mut self) -> Record {
        let index = self.generated;
        self.generated += 1;
        let due = ((index + 1) as f64 * self.settings.malformed_fraction).floor() as u64;
        if due > self.malformed {
            let kind = self.malformed;
            self.malformed += 1;
            return malformed_record(kind);
        }

        let id = self.settings.first_id + (index - self.malformed) as i64;
        let time = self.event_time(index);
        let device = self.random.skewed(self.settings.devices.max(1));
        let (event_type, key, data) = match self.random.weighted(&[(0, 60), (1, 15), (2, 25)]) {
            0 => (
                "sensor_data",
                format!("sensor-{device}"),
                self.sensor(device, time),
            ),
            1 => (
                "device_status",
                format!("device-{device}"),
                self.status(device, time),
            ),
            _ => {
                let user = self.random.skewed(self.settings.users.max(1));
                ("user_action", format!("user-{user}"), self.action(user))
            }
        };
        let event = json!({
            "event_id": id,
            "event_type": event_type,
            "event_time": time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "event_data": data,
        });
        Record {
            key: Some(key.into_bytes()),
            value: Some(event.to_string().into_bytes()),
            malformed: false,
        }
    }

    /// Number of malformed records generated so far.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    fn event_time(&mut self, index: u64) -> DateTime<Utc> {
        match self.settings.times {
            EventTimes::Now => Utc::now(),
            EventTimes::Replay { from, to } => {
                let span = (to - from).num_milliseconds().max(1) as f64;
                let offset = match self.settings.count {
                    Some(count) if count > 0 => span * index as f64 / count as f64,
                    _ => span * self.random.unit(),
                };
                from + chrono::Duration::milliseconds(offset as i64)
            }
        }
    }

    /// Builds a reading: temperature follows the site's climate and the time of day, humidity falls
    /// as it warms, a third of the sensors have no barometer, and a few readings are faults.
    fn sensor(&mut self, device: u64, time: DateTime<Utc>) -> Value {
        let (site, lat, lon, typical) = SITES[(device % SITES.len() as u64) as usize];
        let hour = (time.timestamp().rem_euclid(86_400)) as f64 / 3600.0;
        let daily = 4.0 * ((hour - 9.0) / 24.0 * std::f64::consts::TAU).sin();
        // About one reading in 200 is a sensor fault, such as 85 °C (the DS18B20 thermometer's
        // power-on value) or -127 °C (what common drivers report for a disconnected one).
        let temperature = if self.random.chance(0.005) {
            *self.random.weighted(&[(85.0, 1), (-127.0, 1)])
        } else {
            self.random.normal(typical + daily, 1.5)
        };
        let humidity = (65.0 - 1.2 * (temperature - typical) + self.random.normal(0.0, 6.0))
            .clamp(5.0, 100.0) as i64;
        let pressure = if device.is_multiple_of(3) {
            Value::Null
        } else {
            json!(round(self.random.normal(1013.0, 8.0), 1))
        };
        json!({
            "sensor_id": device,
            "temperature": round(temperature, 2),
            "humidity": humidity,
            "pressure": pressure,
            "battery": round(1.0 - (device % 97) as f64 / 120.0, 2),
            "location": {
                "site": site,
                "lat": round(lat + (device % 100) as f64 * 1e-4, 5),
                "lon": round(lon + (device % 100) as f64 * 1e-4, 5),
            },
        })
    }

    /// Builds a status report: most devices are online; degraded and offline ones list errors.
    fn status(&mut self, device: u64, time: DateTime<Utc>) -> Value {
        let status = *self.random.weighted(&[
            ("online", 85),
            ("degraded", 8),
            ("offline", 5),
            ("maintenance", 2),
        ]);
        let errors: Vec<&str> = match status {
            "degraded" => vec![*self.random.weighted(&[
                ("sensor_timeout", 3),
                ("low_signal", 2),
                ("disk_full", 1),
            ])],
            "offline" => vec!["heartbeat_missed"],
            _ => Vec::new(),
        };
        let firmware = ["2.3.1", "2.4.0", "2.4.2", "3.0.0-rc1"][(device % 4) as usize];
        json!({
            "device_id": format!("device-{device}"),
            "status": status,
            "firmware": firmware,
            "uptime_s": self.random.below(30 * 86_400),
            "battery": round(self.random.unit(), 2),
            "last_seen": (time - chrono::Duration::seconds(self.random.below(300) as i64))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "errors": errors,
        })
    }

    /// Builds a user action: mostly views and clicks; purchases carry an amount in one of three
    /// currencies, skewed towards small orders.
    fn action(&mut self, user: u64) -> Value {
        let action = *self.random.weighted(&[
            ("view", 60),
            ("click", 25),
            ("add_to_cart", 10),
            ("purchase", 5),
        ]);
        let page = self.random.skewed(200);
        let os = ["android", "ios", "web"][(user % 3) as usize];
        let app_version = ["5.1.0", "5.2.0", "5.2.1"][(user % 7 % 3) as usize];
        let mut data = json!({
            "user_id": format!("user-{user}"),
            "session_id": format!("s-{user}-{}", self.random.below(50)),
            "action": action,
            "page": format!("/products/{page}"),
            "signup_date": format!("202{}-{:02}-{:02}", user % 5, user % 12 + 1, user % 28 + 1),
            "device": {
                "os": os,
                "app_version": app_version,
            },
        });
        if action == "purchase" {
            data["amount"] = json!(round(self.random.normal(3.5, 0.8).exp(), 2));
            data["currency"] = json!(*self.random.weighted(&[("EUR", 5), ("USD", 4), ("GBP", 1)]));
        }
        if self.random.chance(0.2) {
            data["tags"] = json!(["promo"]);
        }
        data
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(times: EventTimes) -> GeneratorSettings {
        GeneratorSettings {
            seed: 11,
            devices: 50,
            users: 100,
            malformed_fraction: 0.02,
            times,
            first_id: 1_000,
            count: Some(1_000),
        }
    }

    fn replay() -> EventTimes {
        EventTimes::Replay {
            from: "2024-12-04T00:00:00Z".parse().expect("time"),
            to: "2024-12-06T00:00:00Z".parse().expect("time"),
        }
    }

    #[test]
    fn malformed_share_and_ids() {
        let mut generator = EventGenerator::new(settings(replay()));
        let records: Vec<Record> = (0..1_000).map(|_| generator.next_record()).collect();
        let malformed = records.iter().filter(|record| record.malformed).count();
        assert_eq!(malformed, 20);
        assert_eq!(generator.malformed(), 20);

        let ids: Vec<i64> = records
            .iter()
            .filter(|record| !record.malformed)
            .map(|record| {
                let value: Value = serde_json::from_slice(record.value.as_deref().expect("value"))
                    .expect("valid JSON");
                value["event_id"].as_i64().expect("id")
            })
            .collect();
        assert_eq!(ids, (1_000..1_980).collect::<Vec<_>>());
    }

    #[test]
    fn same_seed_same_events() {
        let mut first = EventGenerator::new(settings(replay()));
        let mut second = EventGenerator::new(settings(replay()));
        for _ in 0..100 {
            assert_eq!(first.next_record(), second.next_record());
        }
    }

    #[test]
    fn replayed_times_cover_the_range_in_order() {
        let mut generator = EventGenerator::new(settings(replay()));
        let times: Vec<String> = (0..1_000)
            .map(|_| generator.next_record())
            .filter(|record| !record.malformed)
            .map(|record| {
                let value: Value = serde_json::from_slice(record.value.as_deref().expect("value"))
                    .expect("valid JSON");
                value["event_time"].as_str().expect("time").to_string()
            })
            .collect();
        assert!(times.windows(2).all(|pair| pair[0] <= pair[1]));
        assert!(times[0].starts_with("2024-12-04T00:0"), "{}", times[0]);
        assert!(
            times[times.len() - 1].starts_with("2024-12-05T23:"),
            "{}",
            times[times.len() - 1]
        );
    }

    #[test]
    fn every_type_appears() {
        let mut generator = EventGenerator::new(settings(EventTimes::Now));
        let mut types = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let record = generator.next_record();
            if let Some(value) = record.value.filter(|_| !record.malformed) {
                let value: Value = serde_json::from_slice(&value).expect("valid JSON");
                types.insert(value["event_type"].as_str().expect("type").to_string());
            }
        }
        assert_eq!(
            types.into_iter().collect::<Vec<_>>(),
            ["device_status", "sensor_data", "user_action"]
        );
    }
}
