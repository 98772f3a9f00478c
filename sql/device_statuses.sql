-- Device status reports with the error list counted, for fleet health queries.
-- eventlake: partition_by = report_date
SELECT
    event_id,
    event_time AS reported_at,
    CAST(event_time AS DATE) AS report_date,
    event_data.device_id AS device_id,
    event_data.status AS status,
    event_data.status <> 'online' AS needs_attention,
    event_data.firmware AS firmware,
    event_data.battery AS battery,
    event_data.uptime_s AS uptime_s,
    CAST(coalesce(array_length(event_data.errors), 0) AS BIGINT) AS error_count,
    kafka_partition,
    kafka_offset
FROM events
WHERE event_type = 'device_status'
