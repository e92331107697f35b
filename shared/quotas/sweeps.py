"""Scheduled sweeps.

- ``leases`` (every 5 minutes): reclaim expired leases (runs recorded LOST), drain the outbox
  into BigQuery, and rebuild today's and yesterday's ``customer_usage_quotas`` rows from the
  usage events (one MERGE for all customers: the record, never per-request DML).
- ``maintenance`` (daily): deactivate expired API keys, trial-ending alerts, monthly totals,
  republish alerts whose publisher stopped, plus everything the lease sweep does.
Every step is idempotent, so a redelivered tick is harmless.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import api_keys
from shared.quotas import admission, alerts, db, outbox, store

logger = logging.getLogger("shared.quotas.sweeps")
RECORD_DAYS = 2
"""Days of customer_usage_quotas rebuilt by each sweep (yesterday's row closes after midnight)."""
LEASE_LOOKBACK_DAYS = 2
"""How far back admitted runs are looked for when the record lists the leases still held."""


def sweep_leases(now: datetime | None = None) -> list[str]:
    """Reclaim every lease expired at ``now`` (recorded LOST), and refuse every claim left
    unanswered past :data:`admission.PENDING_GRACE_S` (its increments given back); returns
    the customers with a lost lease."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    now = now or datetime.now(UTC)
    runs = store.run_ref("x", "x").parent
    swept: set[str] = set()
    expired = runs.where(filter=FieldFilter("lease_expires_at", "<=", now))
    for snap in expired.stream():
        customer = snap.get("customer_id")
        if admission.lose_if_expired(customer, snap.get("run_id")):
            swept.add(customer)
    stale = now - timedelta(seconds=admission.PENDING_GRACE_S)
    for snap in runs.where(filter=FieldFilter("pending_since", "<=", stale)).stream():
        admission.abandon_if_stale(snap.get("customer_id"), snap.get("run_id"))
    return sorted(swept)


_RECORD = """
MERGE {usage} AS T
USING (
  WITH ev AS (
    SELECT * FROM {events} WHERE usage_date >= @lease_since
    QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY occurred_at) = 1
  ),
  per_day AS (
    SELECT customer_id, usage_date,
      COUNTIF(kind = 'admitted') AS pipelines_run,
      MAX(daily_limit) AS daily_limit,
      MAX(concurrent_limit) AS concurrent_limit,
      ARRAY_AGG(IF(kind = 'admitted', run_id, NULL) IGNORE NULLS) AS admitted_run_ids,
      COUNTIF(IFNULL(api_call, FALSE)) AS api_calls
    FROM ev WHERE usage_date >= @since
    GROUP BY customer_id, usage_date
  ),
  ended AS (
    SELECT customer_id, run_id, started_at FROM ev WHERE kind IN ('released', 'lost')
  ),
  open_runs AS (
    SELECT a.customer_id,
      ARRAY_AGG(STRUCT(a.run_id AS run_id, a.pipeline AS pipeline, a.started_at AS started_at,
                       CAST(NULL AS TIMESTAMP) AS expires_at)) AS running
    FROM ev AS a
    LEFT JOIN ended AS x
      ON x.customer_id = a.customer_id AND x.run_id = a.run_id AND x.started_at = a.started_at
    WHERE a.kind = 'admitted' AND x.run_id IS NULL
    GROUP BY a.customer_id
  ),
  flags AS (
    SELECT customer_id, period,
      LOGICAL_OR(threshold = 'warning') AS warning_sent,
      LOGICAL_OR(threshold = 'exceeded') AS exceeded
    FROM {alert_log} WHERE metric = 'daily_pipelines'
    GROUP BY customer_id, period
  )
  SELECT d.customer_id, d.usage_date, p.plan, d.pipelines_run, d.daily_limit,
    d.concurrent_limit, d.admitted_run_ids, d.api_calls,
    IF(d.usage_date = @today, o.running, NULL) AS running,
    IFNULL(f.warning_sent, FALSE) AS warning_sent, IFNULL(f.exceeded, FALSE) AS exceeded
  FROM per_day AS d
  LEFT JOIN open_runs AS o ON o.customer_id = d.customer_id
  LEFT JOIN {profiles} AS p ON p.customer_id = d.customer_id
  LEFT JOIN flags AS f
    ON f.customer_id = d.customer_id AND f.period = CAST(d.usage_date AS STRING)
) AS S
ON T.customer_id = S.customer_id AND T.usage_date = S.usage_date
WHEN MATCHED THEN UPDATE SET
  plan = S.plan, pipelines_run = S.pipelines_run, daily_limit = S.daily_limit,
  concurrent_limit = S.concurrent_limit, running = IFNULL(S.running, []),
  admitted_run_ids = S.admitted_run_ids, api_calls = S.api_calls,
  warning_sent = S.warning_sent, exceeded = S.exceeded, updated_at = @now
WHEN NOT MATCHED THEN INSERT (customer_id, usage_date, plan, pipelines_run, daily_limit,
  concurrent_limit, running, admitted_run_ids, api_calls, warning_sent, exceeded,
  month_pipelines_run, month_api_calls, updated_at)
VALUES (S.customer_id, S.usage_date, S.plan, S.pipelines_run, S.daily_limit,
  S.concurrent_limit, IFNULL(S.running, []), S.admitted_run_ids, S.api_calls, S.warning_sent,
  S.exceeded, 0, 0, @now)
"""


_RUNS = """
MERGE {runs} AS T
USING (
  SELECT customer_id, run_id,
    MAX(pipeline) AS pipeline,
    MIN(started_at) AS started_at,
    MAX(IF(kind IN ('released', 'lost'), status, NULL)) AS final_status,
    MIN(IF(kind IN ('released', 'lost'), occurred_at, NULL)) AS finished_at
  FROM {events}
  WHERE usage_date >= @lease_since AND kind IN ('admitted', 'released', 'lost')
  GROUP BY customer_id, run_id
) AS S
ON T.customer_id = S.customer_id AND T.run_id = S.run_id
WHEN MATCHED AND T.status = 'RUNNING' AND S.final_status IS NOT NULL THEN UPDATE SET
  status = S.final_status, finished_at = S.finished_at, updated_at = @now
WHEN NOT MATCHED AND S.started_at IS NOT NULL THEN INSERT (run_id, customer_id, pipeline,
  status, started_at, finished_at, updated_at)
VALUES (S.run_id, S.customer_id, S.pipeline, IFNULL(S.final_status, 'RUNNING'), S.started_at,
  S.finished_at, @now)
"""


def refresh_record(now: datetime | None = None) -> int:
    """Rebuild the recent ``customer_usage_quotas`` rows and the run history
    (``customer_pipeline_runs``: RUNNING, then COMPLETED / FAILED / CANCELLED / LOST, first
    outcome wins) from the usage events."""
    now = now or datetime.now(UTC)
    day = now.date()
    _, affected = db.run(
        _RECORD.format(
            usage=db.table("customer_usage_quotas"),
            events=db.table("quota_usage_events"),
            alert_log=db.table("quota_alert_log"),
            profiles=db.table("customer_profiles"),
        ),
        {
            "today": day,
            "since": day - timedelta(days=RECORD_DAYS - 1),
            "lease_since": day - timedelta(days=LEASE_LOOKBACK_DAYS),
            "now": now,
        },
    )
    db.run(
        _RUNS.format(
            runs=db.table("customer_pipeline_runs"), events=db.table("quota_usage_events")
        ),
        {"lease_since": day - timedelta(days=LEASE_LOOKBACK_DAYS), "now": now},
    )
    return affected


def leases(now: datetime | None = None) -> dict[str, Any]:
    """The 5-minute sweep."""
    now = now or datetime.now(UTC)
    swept = sweep_leases(now)
    drained = outbox.drain()
    return {
        "customers_with_lost_leases": len(swept),
        "outbox_rows_written": drained + outbox.drain(),  # rows the reclaim itself queued
        "usage_rows": refresh_record(now),
        "alerts_republished": alerts.republish_unpublished(),
    }


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


def monthly_totals(now: datetime | None = None) -> int:
    """Month-to-date runs and API calls on each customer's row of the day."""
    day = (now or datetime.now(UTC)).date()
    usage = db.table("customer_usage_quotas")
    _, affected = db.run(
        _MONTHLY.format(usage=usage), {"day": day, "month_start": day.replace(day=1)}
    )
    return affected


def maintenance(now: datetime | None = None) -> dict[str, Any]:
    """Daily maintenance; every step is idempotent."""
    now = now or datetime.now(UTC)
    swept = leases(now)
    return {
        **swept,
        "api_keys_deactivated": api_keys.deactivate_expired(now),
        "trial_alerts": trial_alerts(),
        "monthly_rows": monthly_totals(now),
    }


def trial_alerts() -> int:
    """One ``trial_ending`` alert per trial ending within 7 days (claimed once, published)."""
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
        if alerts.claim(alert):
            alerts.publish(alert)
            sent += 1
    return sent
