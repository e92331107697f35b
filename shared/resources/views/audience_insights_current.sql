SELECT * EXCEPT (rn)
FROM (
  SELECT *, ROW_NUMBER() OVER (
    PARTITION BY insight_key ORDER BY reported_at DESC, event_key DESC, ingested_at
  ) AS rn
  FROM `${project}.warehouse.audience_insights`
)
WHERE rn = 1
