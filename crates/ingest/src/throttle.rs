//! Rate limiting of repeated log lines, such as a broker that stays unreachable.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::consumer::lock;

/// Lets one line per key through per interval and counts the ones held back.
pub(crate) struct LogThrottle {
    interval: Duration,
    last: Mutex<HashMap<String, (Instant, u64)>>,
}

impl LogThrottle {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Returns `Some(suppressed)` when a line with `key` may be logged now, with the number of
    /// lines held back since the last one, or `None` to skip it.
    pub fn admit(&self, key: &str) -> Option<u64> {
        let now = Instant::now();
        let mut last = lock(&self.last);
        match last.get_mut(key) {
            Some((logged_at, suppressed)) if now.duration_since(*logged_at) < self.interval => {
                *suppressed += 1;
                None
            }
            Some((logged_at, suppressed)) => {
                let held_back = *suppressed;
                *logged_at = now;
                *suppressed = 0;
                Some(held_back)
            }
            None => {
                last.insert(key.to_string(), (now, 0));
                Some(0)
            }
        }
    }
}
