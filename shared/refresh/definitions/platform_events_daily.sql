/* refresh
{
  "target": "warehouse.platform_events_daily",
  "description": "Integration events per platform, type and day.",
  "mode": "merge",
  "key": ["platform", "event_type", "event_date"],
  "partition_field": "event_date",
  "priority": 80,
  "schedule": "daily",
  "lookback_days": 2,
  "backfill_days": 14,
  "chunk_days": 7,
  "retries": 3,
  "retry_initial_s": 0.5,
  "checks": [{"type": "not_null", "columns": ["platform", "event_date"]}]
}
*/
SELECT
  platform,
  event_type,
  DATE(occurred_at) AS event_date,
  COUNT(DISTINCT event_key) AS events,
  COUNT(DISTINCT account_id) AS accounts,
  CURRENT_TIMESTAMP() AS refreshed_at
FROM `${project}.warehouse.platform_events_current`
WHERE DATE(occurred_at) BETWEEN @start_date AND @end_date
  AND platform IS NOT NULL AND event_type IS NOT NULL
GROUP BY platform, event_type, DATE(occurred_at)
