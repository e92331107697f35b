SELECT
  k.key_id,
  k.customer_id,
  k.name,
  k.expires_at,
  k.last_used_at
FROM `${project}.customers.customer_api_keys` AS k
WHERE k.active AND k.expires_at IS NOT NULL AND k.expires_at <= CURRENT_TIMESTAMP()
