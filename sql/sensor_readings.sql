-- Sensor readings, cleaned and typed: one row per sensor_data event. Readings outside the
-- physical range go to the rejects table with the reason below instead.
-- eventlake: partition_by = reading_date
SELECT
    event_id,
    event_time AS reading_time,
    CAST(event_time AS DATE) AS reading_date,
    event_data.sensor_id AS sensor_id,
    event_data.location.site AS site,
    event_data.location.lat AS latitude,
    event_data.location.lon AS longitude,
    event_data.temperature AS temperature_c,
    CAST(event_data.humidity AS DOUBLE) AS humidity_pct,
    event_data.pressure AS pressure_hpa,
    event_data.battery AS battery,
    kafka_partition,
    kafka_offset,
    CASE
        WHEN event_data.temperature NOT BETWEEN -90 AND 60
            THEN 'temperature ' || CAST(event_data.temperature AS VARCHAR) || ' °C is outside -90 to 60 °C'
        WHEN event_data.humidity NOT BETWEEN 0 AND 100
            THEN 'humidity ' || CAST(event_data.humidity AS VARCHAR) || '% is outside 0 to 100%'
    END AS reject_reason
FROM events
WHERE event_type = 'sensor_data'
