SELECT
  table_name,
  DATE(started_at) AS day,
  COUNT(*) AS successes,
  AVG(TIMESTAMP_DIFF(finished_at, started_at, MILLISECOND)) / 1000 AS avg_duration_s,
  MAX(TIMESTAMP_DIFF(finished_at, started_at, MILLISECOND)) / 1000 AS max_duration_s,
  SUM(bytes_processed) AS bytes_processed,
  SUM(rows_affected) AS rows_affected
FROM `${project}.ops.refresh_runs_current`
WHERE status = 'success' AND NOT COALESCE(dry_run, FALSE)
GROUP BY table_name, DATE(started_at)
