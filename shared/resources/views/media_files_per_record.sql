SELECT
  customer_id,
  record_id,
  media_class,
  COUNT(*) AS files,
  SUM(size) AS bytes,
  COUNTIF(status = 'rejected') AS rejected_files,
  MAX(time_created) AS last_upload
FROM `${project}.warehouse.media_files_current`
WHERE record_id IS NOT NULL
GROUP BY customer_id, record_id, media_class
