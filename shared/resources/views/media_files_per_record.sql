-- Usable files per customer record and media class: `files` and `bytes` count live objects
-- whose status is 'active' only; rejected objects (still in the bucket) are counted apart in
-- `rejected_files`. Objects under an unknown class folder appear with media_class 'unknown'.
SELECT
  customer_id,
  record_id,
  media_class,
  COUNTIF(status = 'active') AS files,
  COALESCE(SUM(IF(status = 'active', size, 0)), 0) AS bytes,
  COUNTIF(status = 'rejected') AS rejected_files,
  MAX(IF(status = 'active', time_created, NULL)) AS last_upload
FROM `${project}.warehouse.media_files_current`
WHERE record_id IS NOT NULL
GROUP BY customer_id, record_id, media_class
