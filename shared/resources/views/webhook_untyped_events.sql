SELECT
  source,
  event_type,
  mapping_status,
  COUNT(*) AS events,
  MIN(publish_time) AS first_seen,
  MAX(publish_time) AS last_seen
FROM `${project}.warehouse.integration_raw_data_current`
WHERE mapping_status != 'mapped'
GROUP BY source, event_type, mapping_status
