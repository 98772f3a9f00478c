-- Per-minute statistics of each sensor over the readings that sensor_readings keeps. Every flush
-- recomputes the minutes its readings fall into, so late readings update their minute.
-- eventlake: partition_by = minute_date
-- eventlake: replace_by = minute
SELECT
    minute,
    CAST(minute AS DATE) AS minute_date,
    sensor_id,
    count(*) AS readings,
    avg(temperature) AS temperature_avg,
    min(temperature) AS temperature_min,
    max(temperature) AS temperature_max
FROM (
    SELECT
        date_trunc('minute', event_time) AS minute,
        event_data.sensor_id AS sensor_id,
        event_data.temperature AS temperature
    FROM events
    WHERE event_type = 'sensor_data'
        AND event_data.temperature BETWEEN -90 AND 60
        AND (event_data.humidity IS NULL OR event_data.humidity BETWEEN 0 AND 100)
)
GROUP BY minute, sensor_id
