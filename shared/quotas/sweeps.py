"""Scheduled sweeps: reclaim expired leases, and daily maintenance (trials, keys, rollover,
monthly totals, alert re-publication)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.quotas import admission, alerts, db

logger = logging.getLogger("shared.quotas.sweeps")

_EXPIRED = """
SELECT u.customer_id, r.run_id, r.pipeline, r.started_at, r.expires_at
FROM {usage} AS u, UNNEST(u.running) AS r
WHERE u.usage_date >= @since AND r.expires_at <= @now
"""

_RECLAIM = """
MERGE {usage} AS T
USING (
  SELECT customer_id, usage_date,
    ARRAY(SELECT AS STRUCT r.run_id, r.pipeline, r.started_at, r.expires_at
          FROM UNNEST(running) AS r WHERE r.expires_at > @now) AS kept
  FROM {usage}
  WHERE usage_date >= @since
    AND EXISTS(SELECT 1 FROM UNNEST(running) AS r WHERE r.expires_at <= @now)
) AS S
ON T.customer_id = S.customer_id AND T.usage_date = S.usage_date
WHEN MATCHED THEN UPDATE SET running = S.kept, updated_at = @now
"""


def sweep_leases(now: datetime | None = None) -> list[str]:
    """Remove every lease expired at ``now`` and record those runs as LOST; returns run ids."""
    now = now or datetime.now(UTC)
    usage = db.table("customer_usage_quotas")
    params = {"now": now, "since": now.date() - timedelta(days=admission.LEASE_LOOKBACK_DAYS)}
    expired, _ = db.run(_EXPIRED.format(usage=usage), params)
    if not expired:
        return []
    db.run(_RECLAIM.format(usage=usage), params)
    # Leases expired at ``now`` cannot have been extended since (heartbeat requires an
    # unexpired lease), so everything selected above was reclaimed by the MERGE.
    admission.record_runs([{**row, "status": "LOST", "finished_at": now} for row in expired])
    for row in expired:
        logger.warning("lease expired, run recorded LOST", extra={"fields": _plain(row)})
    return [str(row["run_id"]) for row in expired]


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


_DEACTIVATE_KEYS = """
MERGE {keys} AS T
USING (
  SELECT key_id FROM {keys}
  WHERE active AND expires_at IS NOT NULL AND expires_at <= @now
) AS S
ON T.key_id = S.key_id
WHEN MATCHED THEN UPDATE SET active = FALSE, deactivated_at = @now
"""

_ROLLOVER = """
MERGE {usage} AS T
USING (
  SELECT p.customer_id, @day AS usage_date, p.plan, s.daily_pipeline_limit, s.concurrent_limit
  FROM {profiles} AS p
  JOIN {subs} AS s ON s.customer_id = p.customer_id AND s.status = 'ACTIVE'
  WHERE p.status IN ('ACTIVE', 'TRIAL')
) AS S
ON T.customer_id = S.customer_id AND T.usage_date = S.usage_date
WHEN NOT MATCHED THEN INSERT (customer_id, usage_date, plan, pipelines_run, daily_limit,
  concurrent_limit, running, admitted_run_ids, api_calls, warning_sent, exceeded,
  month_pipelines_run, month_api_calls, updated_at)
VALUES (S.customer_id, S.usage_date, S.plan, 0, S.daily_pipeline_limit, S.concurrent_limit,
  [], [], 0, FALSE, FALSE, 0, 0, @now)
"""

_MONTHLY = """
MERGE {usage} AS T
USING (
  SELECT customer_id, SUM(pipelines_run) AS month_runs, SUM(IFNULL(api_calls, 0)) AS month_calls
  FROM {usage} WHERE usage_date BETWEEN @month_start AND @day
  GROUP BY customer_id
) AS S
ON T.customer_id = S.customer_id AND T.usage_date = @day
WHEN MATCHED THEN UPDATE SET month_pipelines_run = S.month_runs, month_api_calls = S.month_calls
"""


def maintenance(now: datetime | None = None) -> dict[str, int]:
    """Daily maintenance; every step is idempotent, so a redelivered tick is harmless."""
    now = now or datetime.now(UTC)
    day = now.date()
    tables = {
        "usage": db.table("customer_usage_quotas"),
        "profiles": db.table("customer_profiles"),
        "subs": db.table("customer_subscriptions"),
        "keys": db.table("customer_api_keys"),
    }
    _, deactivated = db.run(_DEACTIVATE_KEYS.format(**tables), {"now": now})
    _, rolled = db.run(_ROLLOVER.format(**tables), {"day": day, "now": now})
    db.run(_MONTHLY.format(**tables), {"day": day, "month_start": day.replace(day=1)})
    trials = trial_alerts()
    republished = alerts.republish_unpublished()
    return {
        "api_keys_deactivated": deactivated,
        "daily_rows_created": rolled,
        "trial_alerts": trials,
        "alerts_republished": republished,
        "leases_reclaimed": len(sweep_leases(now)),
    }


def trial_alerts() -> int:
    """One ``trial_ending`` alert per trial ending within 7 days."""
    rows, _ = db.run(
        f"SELECT customer_id, plan, trial_ends_at FROM {db.table('trials_expiring_soon')}"
    )
    sent = 0
    for row in rows:
        ends = row["trial_ends_at"]
        alert = alerts.Alert(
            customer=row["customer_id"],
            plan=row.get("plan") or "",
            metric="trial",
            used=0,
            limit=0,
            percent=0.0,
            threshold="trial_ending",
            period=ends.date().isoformat() if isinstance(ends, datetime) else str(ends),
        )
        sent += alerts.claim_and_publish(alert)
    return sent
