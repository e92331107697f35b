SELECT * EXCEPT (rn)
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY event_key ORDER BY ingested_at, message_id) AS rn
  FROM `${project}.warehouse.platform_events`
)
WHERE rn = 1
