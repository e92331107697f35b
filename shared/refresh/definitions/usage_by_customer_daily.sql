/* refresh
{
  "target": "customers.usage_by_customer_daily",
  "description": "Usage per customer, metric and day; can be refreshed for one customer.",
  "mode": "merge",
  "key": ["customer_id", "metric", "usage_date"],
  "partition_field": "usage_date",
  "priority": 60,
  "schedule": "daily",
  "lookback_days": 2,
  "backfill_days": 14,
  "chunk_days": 7,
  "retries": 3,
  "retry_initial_s": 0.5,
  "customer_scope": "customer_id",
  "checks": [{"type": "not_null", "columns": ["customer_id", "usage_date", "metric"]}]
}
*/
WITH usage AS (
  SELECT customer_id, usage_date, 'pipelines_run' AS metric, pipelines_run AS units
  FROM `${project}.customers.customer_usage_quotas`
  UNION ALL
  SELECT customer_id, usage_date, 'api_calls' AS metric, api_calls AS units
  FROM `${project}.customers.customer_usage_quotas`
)
SELECT
  customer_id,
  usage_date,
  metric,
  SUM(units) AS units,
  CURRENT_TIMESTAMP() AS refreshed_at
FROM usage
WHERE usage_date BETWEEN @start_date AND @end_date
  AND customer_id IS NOT NULL
  AND (@customer_id IS NULL OR customer_id = @customer_id)
GROUP BY customer_id, usage_date, metric
