-- Exactly one row per live object. Redeliveries collapse on row_key; the latest finalized
-- generation of a name wins; a delete of generation g hides every generation <= g, whatever
-- the order the events arrived in; a generation that vanished before it was read is gone too.
WITH events AS (
  SELECT *
  FROM `${project}.warehouse.media_files`
  QUALIFY ROW_NUMBER() OVER (PARTITION BY row_key ORDER BY ingest_time, event_id) = 1
),
latest AS (
  SELECT *
  FROM events
  WHERE event_kind = 'finalized'
  QUALIFY ROW_NUMBER() OVER (PARTITION BY bucket, name ORDER BY generation DESC) = 1
),
deletes AS (
  SELECT bucket, name, MAX(generation) AS deleted_generation
  FROM events
  WHERE event_kind = 'deleted'
  GROUP BY bucket, name
)
SELECT l.*
FROM latest AS l
LEFT JOIN deletes AS d ON d.bucket = l.bucket AND d.name = l.name
WHERE (d.deleted_generation IS NULL OR l.generation > d.deleted_generation)
  AND l.status != 'deleted'
