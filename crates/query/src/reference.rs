//! Table references with an optional point in time: `events`, `events@v12`,
//! `events@2024-12-05T10:00:00Z`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::error::QueryError;

/// The version of a table that a statement reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TablePoint {
    /// The latest committed version, read again for every statement.
    Latest,
    /// One table version, as numbered in the Delta log.
    Version(u64),
    /// The latest version committed at or before this instant.
    Timestamp(DateTime<Utc>),
}

/// A table name as written in SQL, split into the table and the point in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReference {
    pub table: String,
    pub point: TablePoint,
}

impl TableReference {
    /// The latest version of a table.
    pub fn latest(table: &str) -> Self {
        Self {
            table: table.to_string(),
            point: TablePoint::Latest,
        }
    }

    /// Splits `name@point`. The point is `v12` (a version) or a UTC timestamp in RFC 3339
    /// (`2024-12-05T10:00:00Z`), `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD` form.
    pub fn parse(name: &str) -> Result<Self, QueryError> {
        let Some((table, point)) = name.split_once('@') else {
            return Ok(Self {
                table: name.to_string(),
                point: TablePoint::Latest,
            });
        };
        let point = parse_point(point).ok_or_else(|| QueryError::TablePoint {
            reference: name.to_string(),
        })?;
        Ok(Self {
            table: table.to_string(),
            point,
        })
    }
}

fn parse_point(text: &str) -> Option<TablePoint> {
    let text = text.trim();
    if let Some(digits) = text.strip_prefix(['v', 'V']) {
        return digits.parse::<u64>().ok().map(TablePoint::Version);
    }
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(TablePoint::Timestamp(instant.with_timezone(&Utc)));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(TablePoint::Timestamp(naive.and_utc()));
        }
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(TablePoint::Timestamp(date.and_hms_opt(0, 0, 0)?.and_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(name: &str) -> TablePoint {
        TableReference::parse(name).expect("parses").point
    }

    #[test]
    fn splits_versions_and_timestamps() {
        assert_eq!(point("events"), TablePoint::Latest);
        assert_eq!(point("events@v12"), TablePoint::Version(12));
        let noon = "2024-12-05T12:00:00Z"
            .parse::<DateTime<Utc>>()
            .expect("valid");
        assert_eq!(
            point("events@2024-12-05T12:00:00Z"),
            TablePoint::Timestamp(noon)
        );
        assert_eq!(
            point("events@2024-12-05T13:00:00+01:00"),
            TablePoint::Timestamp(noon)
        );
        assert_eq!(
            point("events@2024-12-05 12:00:00"),
            TablePoint::Timestamp(noon)
        );
        let midnight = "2024-12-05T00:00:00Z"
            .parse::<DateTime<Utc>>()
            .expect("valid");
        assert_eq!(point("events@2024-12-05"), TablePoint::Timestamp(midnight));
        let reference = TableReference::parse("rejects@v0").expect("parses");
        assert_eq!(reference.table, "rejects");
    }

    #[test]
    fn rejects_unknown_points() {
        for name in [
            "events@",
            "events@v",
            "events@v-1",
            "events@yesterday",
            "events@12",
        ] {
            let error = TableReference::parse(name).expect_err(name).to_string();
            assert!(error.contains(name), "{error}");
        }
    }
}
