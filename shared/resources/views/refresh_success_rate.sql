WITH finals AS (
  SELECT table_name, DATE(started_at) AS day, status
  FROM `${project}.ops.refresh_runs_current`
  WHERE status IN ('success', 'failed') AND NOT COALESCE(dry_run, FALSE)
)
SELECT
  table_name,
  day,
  COUNT(*) AS attempts,
  COUNTIF(status = 'success') AS successes,
  SAFE_DIVIDE(COUNTIF(status = 'success'), COUNT(*)) AS success_rate
FROM finals
GROUP BY table_name, day
