SELECT
  p.customer_id,
  p.display_name,
  p.plan,
  p.trial_ends_at,
  TIMESTAMP_DIFF(p.trial_ends_at, CURRENT_TIMESTAMP(), HOUR) AS hours_left
FROM `${project}.customers.customer_profiles` AS p
WHERE p.status = 'TRIAL'
  AND p.trial_ends_at > CURRENT_TIMESTAMP()
  AND p.trial_ends_at <= TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 7 DAY)
