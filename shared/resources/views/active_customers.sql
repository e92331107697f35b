SELECT
  p.customer_id,
  p.display_name,
  p.status,
  p.plan,
  p.trial_ends_at,
  s.daily_pipeline_limit,
  s.concurrent_limit,
  s.monthly_api_call_limit
FROM `${project}.customers.customer_profiles` AS p
LEFT JOIN `${project}.customers.customer_subscriptions` AS s
  ON s.customer_id = p.customer_id AND s.status = 'ACTIVE'
WHERE p.status = 'ACTIVE'
  OR (p.status = 'TRIAL' AND p.trial_ends_at > CURRENT_TIMESTAMP())
