//! Parsers for byte sizes and durations given on the command line or in the config file.

use std::time::Duration;

/// Parses a byte size such as `1048576`, `64KiB`, `128MiB`, `1GiB`, `500MB` or `2GB`.
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => {
            return Err(format!(
                "invalid size '{text}': expected a number of bytes such as 134217728 or 128MiB"
            ));
        }
    };
    let value: u64 = digits.parse().map_err(|_| {
        format!("invalid size '{text}': expected a number of bytes such as 134217728 or 128MiB")
    })?;
    let bytes = value
        .checked_mul(multiplier)
        .and_then(|bytes| usize::try_from(bytes).ok())
        .ok_or_else(|| format!("invalid size '{text}': too large"))?;
    if bytes == 0 {
        return Err(format!("invalid size '{text}': must be greater than zero"));
    }
    Ok(bytes)
}

/// Parses a duration such as `500ms`, `10s`, `2m` or `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let invalid = || {
        format!(
            "invalid duration '{text}': expected a number with a unit, such as 500ms, 10s, 2m, 1h or 7d"
        )
    };
    let value: u64 = digits.parse().map_err(|_| invalid())?;
    let duration = match unit.trim() {
        "ms" => Duration::from_millis(value),
        "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        "h" => Duration::from_secs(value.saturating_mul(3600)),
        "d" => Duration::from_secs(value.saturating_mul(86_400)),
        _ => return Err(invalid()),
    };
    if duration.is_zero() {
        return Err(format!(
            "invalid duration '{text}': must be greater than zero"
        ));
    }
    Ok(duration)
}

/// Parses a positive count such as `500000`.
pub fn parse_count(text: &str) -> Result<usize, String> {
    match text.trim().replace('_', "").parse::<usize>() {
        Ok(count) if count > 0 => Ok(count),
        _ => Err(format!(
            "invalid count '{text}': expected a positive integer such as 500000"
        )),
    }
}

/// Parses a count that may be zero, such as `0` or `20000`.
pub fn parse_count_or_zero(text: &str) -> Result<usize, String> {
    text.trim().replace('_', "").parse::<usize>().map_err(|_| {
        format!("invalid count '{text}': expected 0 or a positive integer such as 20000")
    })
}

/// Parses a number of topic partitions, from 1 to 1000.
pub fn parse_partitions(text: &str) -> Result<i32, String> {
    match text.trim().parse::<i32>() {
        Ok(partitions) if (1..=1000).contains(&partitions) => Ok(partitions),
        _ => Err(format!(
            "invalid partition count '{text}': expected an integer from 1 to 1000"
        )),
    }
}

/// Parses a share such as `0.01` or `1%` into `[0, 1]`.
pub fn parse_fraction(text: &str) -> Result<f64, String> {
    let trimmed = text.trim();
    let value = match trimmed.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|value| value / 100.0),
        None => trimmed.parse::<f64>(),
    };
    match value {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(value),
        _ => Err(format!(
            "invalid fraction '{text}': expected a number from 0 to 1 such as 0.01, or a percentage such as 1%"
        )),
    }
}

/// Parses a positive rate in records per second, such as `5000` or `0.5`.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().replace('_', "").parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(rate),
        _ => Err(format!(
            "invalid rate '{text}': expected records per second greater than 0, such as 1000"
        )),
    }
}

/// Parses a point in time: RFC 3339 (`2024-12-04T10:00:00Z`) or a date (`2024-12-04`,
/// midnight UTC).
pub fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let trimmed = text.trim();
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(trimmed) {
        return Ok(time.with_timezone(&chrono::Utc));
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(trimmed, "%Y-%m-%d")
        && let Some(midnight) = date.and_hms_opt(0, 0, 0)
    {
        return Ok(midnight.and_utc());
    }
    Err(format!(
        "invalid time '{text}': expected RFC 3339 such as 2024-12-04T10:00:00Z, or a date such as 2024-12-04"
    ))
}

/// Parses a librdkafka property given as `key=value`.
pub fn parse_property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!(
            "invalid Kafka property '{text}': expected key=value, such as security.protocol=SASL_SSL"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("64KiB"), Ok(65_536));
        assert_eq!(parse_bytes("128MiB"), Ok(134_217_728));
        assert_eq!(parse_bytes("2GB"), Ok(2_000_000_000));
        assert!(parse_bytes("12 apples").is_err());
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("-5").is_err());
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn properties_split_at_first_equals() {
        assert_eq!(
            parse_property("sasl.jaas=a=b"),
            Ok(("sasl.jaas".to_string(), "a=b".to_string()))
        );
        assert!(parse_property("novalue").is_err());
        assert!(parse_property("=x").is_err());
    }
}
