/* refresh
{
  "target": "warehouse.uploads_by_customer",
  "description": "Live uploads per customer and media class (full replace; small table).",
  "mode": "replace",
  "priority": 40,
  "schedule": "daily",
  "retries": 3,
  "retry_initial_s": 0.5,
  "checks": [{"type": "unique", "columns": ["customer_id", "media_class"]}]
}
*/
SELECT
  customer_id,
  media_class,
  COUNT(*) AS files,
  SUM(size) AS total_bytes,
  MAX(uploaded_at) AS last_upload_at,
  CURRENT_TIMESTAMP() AS refreshed_at
FROM `${project}.warehouse.media_files_current`
WHERE customer_id IS NOT NULL
GROUP BY customer_id, media_class
