-- User actions with purchases made explicit; amounts only on purchases.
-- eventlake: partition_by = action_date
SELECT
    event_id,
    event_time AS action_time,
    CAST(event_time AS DATE) AS action_date,
    event_data.user_id AS user_id,
    event_data.session_id AS session_id,
    event_data.action AS action,
    event_data.page AS page,
    event_data.action = 'purchase' AS is_purchase,
    CASE WHEN event_data.action = 'purchase' THEN event_data.amount END AS amount,
    CASE WHEN event_data.action = 'purchase' THEN event_data.currency END AS currency,
    event_data.device.os AS os,
    kafka_partition,
    kafka_offset
FROM events
WHERE event_type = 'user_action'
