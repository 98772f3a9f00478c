//! Checks that the tables agree with the Kafka records they came from and with each other.

use std::path::Path;

use eventlake_query::{Access, LakeSession};
use eventlake_transform::Transform;

use crate::support::{session_count, shipped_schemas, shipped_transforms};

/// Returns the Kafka records in `events` and `rejects` (transform checks left out), and the
/// distinct (topic, partition, offset) among them: equal numbers mean no duplicates.
pub async fn kafka_records(session: &LakeSession) -> (i64, i64) {
    let records = "SELECT kafka_topic, kafka_partition, kafka_offset FROM events \
        UNION ALL SELECT kafka_topic, kafka_partition, kafka_offset FROM rejects \
        WHERE reason_code <> 'transform_check'";
    let total = session_count(session, &format!("SELECT count(*) FROM ({records})")).await;
    let distinct = session_count(
        session,
        &format!("SELECT count(*) FROM (SELECT DISTINCT * FROM ({records}))"),
    )
    .await;
    (total, distinct)
}

/// Asserts that every shipped processed table equals its SQL over `events`, row for row, with
/// more than `min_rows` rows, and that the rows failing a check are in `rejects` once each.
pub async fn assert_processed_tables_match(lake: &Path, min_rows: i64) {
    let session = LakeSession::open(lake, Access::ReadOnly).expect("session");
    for spec in shipped_transforms() {
        let transform = Transform::plan(
            spec.clone(),
            eventlake_events::EventTableLayout::new(
                &shipped_schemas(),
                eventlake_events::PartitionGranularity::Day,
            )
            .schema
            .clone(),
        )
        .await
        .expect("transform plans");
        // Averages may differ in the last bits with the order rows are added in.
        let columns: Vec<String> = transform
            .schema
            .fields()
            .iter()
            .map(|field| match field.data_type() {
                deltalake::arrow::datatypes::DataType::Float64 => {
                    format!("round({0}, 9) AS {0}", field.name())
                }
                _ => field.name().clone(),
            })
            .collect();
        let table = format!("SELECT {} FROM {}", columns.join(", "), spec.name);
        let select = spec.sql.trim().trim_end_matches(';');
        let checked = select.contains("reject_reason");
        let over_raw = if checked {
            format!(
                "SELECT {} FROM ({select}) WHERE reject_reason IS NULL",
                columns.join(", ")
            )
        } else {
            format!("SELECT {} FROM ({select})", columns.join(", "))
        };

        let processed_rows =
            session_count(&session, &format!("SELECT count(*) FROM {}", spec.name)).await;
        let expected_rows =
            session_count(&session, &format!("SELECT count(*) FROM ({over_raw})")).await;
        assert!(
            expected_rows > min_rows,
            "{}: {expected_rows} rows expected",
            spec.name
        );
        assert_eq!(processed_rows, expected_rows, "{}", spec.name);

        let missing = session_count(
            &session,
            &format!("SELECT count(*) FROM (({over_raw}) EXCEPT ALL ({table}))"),
        )
        .await;
        assert_eq!(
            missing, 0,
            "{}: rows of the SQL over raw missing from the table",
            spec.name
        );
        let extra = session_count(
            &session,
            &format!("SELECT count(*) FROM (({table}) EXCEPT ALL ({over_raw}))"),
        )
        .await;
        assert_eq!(
            extra, 0,
            "{}: rows in the table the SQL over raw lacks",
            spec.name
        );

        // Rows that fail the check are in rejects, once each, with the transform's reason.
        if checked {
            let failing = session_count(
                &session,
                &format!("SELECT count(*) FROM ({select}) WHERE reject_reason IS NOT NULL"),
            )
            .await;
            // About one generated reading in 200 is a fault, so a short run may have none.
            // From 2,000 rows on, the chance of none is below 1 in 10,000.
            let total = session_count(&session, &format!("SELECT count(*) FROM ({select})")).await;
            assert!(
                failing > 0 || total < 2_000,
                "{}: none of {total} generated rows fails the check",
                spec.name
            );
            let filter = format!(
                "FROM rejects WHERE reason_code = 'transform_check' AND reason LIKE '{}: %'",
                spec.name
            );
            let records = session_count(
                &session,
                &format!(
                    "SELECT count(DISTINCT kafka_partition * 1000000 + kafka_offset) {filter}"
                ),
            )
            .await;
            let rows = session_count(&session, &format!("SELECT count(*) {filter}")).await;
            assert_eq!(records, failing, "{}", spec.name);
            assert_eq!(rows, failing, "{}", spec.name);
        }
    }
}
