WITH last_success AS (
  SELECT table_name, MAX(finished_at) AS last_success_at
  FROM `${project}.ops.refresh_runs_current`
  WHERE status = 'success' AND NOT COALESCE(dry_run, FALSE)
  GROUP BY table_name
)
SELECT
  c.table_name,
  c.schedule,
  l.last_success_at,
  TIMESTAMP_DIFF(CURRENT_TIMESTAMP(), l.last_success_at, MINUTE) AS minutes_since_success
FROM `${project}.ops.refresh_configs` AS c
LEFT JOIN last_success AS l ON l.table_name = c.table_name
WHERE COALESCE(c.enabled_override, c.enabled)
  AND (
    l.last_success_at IS NULL
    OR TIMESTAMP_DIFF(CURRENT_TIMESTAMP(), l.last_success_at, MINUTE)
      > IF(c.schedule = 'hourly', 120, 1560)
  )
