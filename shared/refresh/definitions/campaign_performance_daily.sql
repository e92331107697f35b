/* refresh
{
  "target": "warehouse.campaign_performance_daily",
  "description": "Campaign performance per day: totals and click-through rate.",
  "mode": "merge",
  "key": ["campaign_id", "metric_date"],
  "partition_field": "metric_date",
  "priority": 90,
  "schedule": "daily",
  "lookback_days": 2,
  "backfill_days": 14,
  "chunk_days": 7,
  "timeout_s": 300,
  "retries": 3,
  "retry_initial_s": 0.5,
  "checks": [
    {"type": "not_null", "columns": ["campaign_id", "metric_date"]},
    {"type": "unique", "columns": ["campaign_id", "metric_date"]}
  ]
}
*/
SELECT
  campaign_id,
  metric_date,
  ANY_VALUE(platform) AS platform,
  SUM(impressions) AS impressions,
  SUM(clicks) AS clicks,
  CAST(SUM(spend) AS FLOAT64) AS spend,
  CAST(SUM(conversions) AS INT64) AS conversions,
  CAST(SUM(revenue) AS FLOAT64) AS revenue,
  SAFE_DIVIDE(SUM(clicks), SUM(impressions)) AS ctr,
  CURRENT_TIMESTAMP() AS refreshed_at
FROM `${project}.warehouse.campaign_metrics_current`
WHERE metric_date BETWEEN @start_date AND @end_date AND campaign_id IS NOT NULL
GROUP BY campaign_id, metric_date
