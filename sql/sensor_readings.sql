-- Sensor readings, cleaned and typed: one row per sensor_data event whose temperature and
-- humidity are physically possible.
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
    kafka_offset
FROM events
WHERE event_type = 'sensor_data'
    AND event_data.temperature BETWEEN -90 AND 60
    AND (event_data.humidity IS NULL OR event_data.humidity BETWEEN 0 AND 100)
