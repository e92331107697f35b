SELECT
  u.customer_id,
  u.plan,
  u.usage_date,
  u.pipelines_run,
  u.daily_limit,
  ARRAY_LENGTH(u.running) AS running,
  u.concurrent_limit,
  ROUND(100 * u.pipelines_run / NULLIF(u.daily_limit, 0), 1) AS percent_of_daily_limit,
  u.warning_sent,
  u.exceeded
FROM `${project}.customers.customer_usage_quotas` AS u
WHERE u.usage_date = CURRENT_DATE()
