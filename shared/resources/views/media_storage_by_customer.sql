SELECT
  customer_id,
  media_class,
  COUNT(*) AS files,
  SUM(size) AS bytes
FROM `${project}.warehouse.media_files_current`
WHERE customer_id IS NOT NULL
GROUP BY customer_id, media_class
