SELECT * EXCEPT (rn)
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY dead_letter_id ORDER BY received_at) AS rn
  FROM `${project}.ops.dead_letters`
)
WHERE rn = 1
