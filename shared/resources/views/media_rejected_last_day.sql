SELECT bucket, name, generation, customer_id, record_id, media_class, content_type,
  detected_type, size, reason, ingest_time
FROM `${project}.warehouse.media_files`
WHERE status = 'rejected'
  AND ingest_time >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 1 DAY)
QUALIFY ROW_NUMBER() OVER (PARTITION BY row_key ORDER BY ingest_time, event_id) = 1
