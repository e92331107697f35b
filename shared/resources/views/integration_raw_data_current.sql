SELECT * EXCEPT (rn)
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY source, event_key ORDER BY publish_time, message_id) AS rn
  FROM `${project}.warehouse.integration_raw_data`
)
WHERE rn = 1
