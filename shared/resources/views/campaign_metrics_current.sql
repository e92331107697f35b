SELECT * EXCEPT (rn)
FROM (
  SELECT *, ROW_NUMBER() OVER (
    PARTITION BY metric_key ORDER BY reported_at DESC, event_key DESC, ingested_at
  ) AS rn
  FROM `${project}.warehouse.campaign_metrics`
)
WHERE rn = 1
