/* refresh
{
  "target": "warehouse.campaign_roi_daily",
  "description": "ROI per platform and day: campaign performance joined with platform events.",
  "mode": "merge",
  "key": ["platform", "metric_date"],
  "partition_field": "metric_date",
  "priority": 70,
  "schedule": "daily",
  "lookback_days": 2,
  "backfill_days": 14,
  "chunk_days": 7,
  "retries": 3,
  "retry_initial_s": 0.5,
  "checks": [
    {"type": "unique", "columns": ["platform", "metric_date"]},
    {"type": "freshness", "column": "refreshed_at", "max_age_hours": 48}
  ]
}
*/
WITH perf AS (
  SELECT platform, metric_date, SUM(spend) AS spend, SUM(revenue) AS revenue
  FROM `${project}.warehouse.campaign_performance_daily`
  WHERE metric_date BETWEEN @start_date AND @end_date AND platform IS NOT NULL
  GROUP BY platform, metric_date
),
ev AS (
  SELECT platform, event_date, SUM(events) AS events
  FROM `${project}.warehouse.platform_events_daily`
  WHERE event_date BETWEEN @start_date AND @end_date
  GROUP BY platform, event_date
)
SELECT
  perf.platform AS platform,
  perf.metric_date AS metric_date,
  perf.spend AS spend,
  perf.revenue AS revenue,
  SAFE_DIVIDE(perf.revenue - perf.spend, perf.spend) AS roi,
  COALESCE(ev.events, 0) AS events,
  SAFE_DIVIDE(perf.revenue, ev.events) AS revenue_per_event,
  CURRENT_TIMESTAMP() AS refreshed_at
FROM perf
LEFT JOIN ev ON ev.platform = perf.platform AND ev.event_date = perf.metric_date
