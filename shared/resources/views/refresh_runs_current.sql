SELECT *
FROM `${project}.ops.refresh_runs`
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY run_id, table_name, attempt ORDER BY finished_at DESC, started_at DESC
) = 1
