"""BASELINE for bench/quotas.py only: the previous admission path, one BigQuery MERGE each.

Kept as it was (minus its side effects, and minus what the bench never calls: heartbeat,
finish, run history) so the bench can measure the Firestore path against it side by side. It
answers with the product's :class:`~shared.quotas.admission.AdmissionResult`. Not product code.

Admission: one conditional MERGE admits a run, holds a lease and counts it, atomically.

The state of a customer's day is ONE row of ``customer_usage_quotas`` (customer, date): the
count of runs admitted, the leases held (``running``) and the run ids already admitted. Every
change is a single MERGE on that row whose conditions re-check the limits, so the check and
the increment cannot be separated; real BigQuery aborts one of two concurrent mutations of the
table ("Could not serialize access"), which :mod:`shared.quotas.db` retries with backoff. The
rows are only ever written by DML (BigQuery refuses DML on streamed rows).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.quotas import db
from shared.quotas.admission import DEFAULT_LEASE_S, AdmissionResult

logger = logging.getLogger("shared.quotas.admission")


def _today() -> date:
    return datetime.now(UTC).date()


_ADMIT = """
MERGE {usage} AS T
USING (
  SELECT p.customer_id, @day AS usage_date, p.plan,
         s.daily_pipeline_limit AS daily_limit, s.concurrent_limit
  FROM {profiles} AS p
  JOIN (
    SELECT * FROM {subs} WHERE customer_id = @customer_id AND status = 'ACTIVE'
    QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY period_start DESC) = 1
  ) AS s ON s.customer_id = p.customer_id
  WHERE p.customer_id = @customer_id
    AND (p.status = 'ACTIVE' OR (p.status = 'TRIAL' AND p.trial_ends_at > @now))
) AS S
ON T.customer_id = S.customer_id AND T.usage_date = S.usage_date
WHEN MATCHED
  AND @run_id NOT IN UNNEST(T.admitted_run_ids)
  AND IFNULL(T.pipelines_run, 0) < S.daily_limit
  AND IFNULL(ARRAY_LENGTH(T.running), 0) < S.concurrent_limit
THEN UPDATE SET
  pipelines_run = IFNULL(T.pipelines_run, 0) + 1,
  running = ARRAY_CONCAT(IFNULL(T.running, []), [STRUCT(@run_id AS run_id, @pipeline AS pipeline,
                                            @now AS started_at, @expires AS expires_at)]),
  admitted_run_ids = ARRAY_CONCAT(IFNULL(T.admitted_run_ids, []), [@run_id]),
  api_calls = IFNULL(T.api_calls, 0) + @api_call,
  daily_limit = S.daily_limit,
  concurrent_limit = S.concurrent_limit,
  plan = S.plan,
  updated_at = @now
WHEN NOT MATCHED AND S.daily_limit > 0 AND S.concurrent_limit > 0 THEN INSERT (
  customer_id, usage_date, plan, pipelines_run, daily_limit, concurrent_limit, running,
  admitted_run_ids, api_calls, warning_sent, exceeded, month_pipelines_run, month_api_calls,
  updated_at)
VALUES (
  S.customer_id, S.usage_date, S.plan, 1, S.daily_limit, S.concurrent_limit,
  [STRUCT(@run_id AS run_id, @pipeline AS pipeline, @now AS started_at, @expires AS expires_at)],
  [@run_id], @api_call, FALSE, FALSE, 0, 0, @now)
"""

_DIAGNOSE = """
SELECT p.status, p.trial_ends_at, s.daily_pipeline_limit, s.concurrent_limit,
       u.pipelines_run, ARRAY_LENGTH(u.running) AS running,
       IFNULL(@run_id IN UNNEST(u.admitted_run_ids), FALSE) AS seen
FROM {profiles} AS p
LEFT JOIN (
  SELECT * FROM {subs} WHERE customer_id = @customer_id AND status = 'ACTIVE'
  QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY period_start DESC) = 1
) AS s ON s.customer_id = p.customer_id
LEFT JOIN {usage} AS u ON u.customer_id = p.customer_id AND u.usage_date = @day
WHERE p.customer_id = @customer_id
"""


def _sql(template: str) -> str:
    return template.format(
        usage=db.table("customer_usage_quotas"),
        profiles=db.table("customer_profiles"),
        subs=db.table("customer_subscriptions"),
        runs=db.table("customer_pipeline_runs"),
    )


def start(customer_id: str, pipeline: str, run_id: str) -> AdmissionResult:
    """Admit ``run_id`` for ``customer_id`` if today's runs < daily limit and leases held <
    concurrent limit (one MERGE). Idempotent per run id: a repeated call answers
    ``already_admitted``. The bench passes valid arguments: their validation is the product's.
    """
    lease_seconds, api_call = DEFAULT_LEASE_S, False
    day = _today()
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=lease_seconds)
    params = {
        "customer_id": customer_id,
        "pipeline": pipeline,
        "run_id": run_id,
        "day": day,
        "now": now,
        "expires": expires,
        "api_call": 1 if api_call else 0,
    }
    for _ in range(3):
        _, affected = db.run(_sql(_ADMIT), params)
        if affected:
            result = AdmissionResult(
                True, "admitted", customer_id, run_id, lease_expires_at=expires
            )
            logger.info("run admitted", extra={"fields": result.to_json()})
            return result
        refused = _diagnose(params)
        if refused.reason != "contended_retry":
            break
    return refused


def _diagnose(params: dict[str, Any]) -> AdmissionResult:  # noqa: PLR0911 - one reason each
    rows, _ = db.run(_sql(_DIAGNOSE), params)
    customer_id, run_id = params["customer_id"], params["run_id"]

    def result(admitted: bool, reason: str, row: dict[str, Any] | None = None) -> AdmissionResult:
        row = row or {}
        outcome = AdmissionResult(
            admitted,
            reason,
            customer_id,
            run_id,
            used=row.get("pipelines_run"),
            limit=row.get("daily_pipeline_limit"),
            running=row.get("running"),
            concurrent_limit=row.get("concurrent_limit"),
        )
        logger.info("run not newly admitted", extra={"fields": outcome.to_json()})
        return outcome

    if not rows:
        return result(False, "unknown_customer")
    row = rows[0]
    if row.get("seen"):
        return result(True, "already_admitted", row)
    status = row.get("status")
    if status == "SUSPENDED":
        return result(False, "customer_suspended", row)
    if status == "CANCELLED":
        return result(False, "customer_cancelled", row)
    if status == "TRIAL" and (row.get("trial_ends_at") or params["now"]) <= params["now"]:
        return result(False, "trial_expired", row)
    if status not in ("ACTIVE", "TRIAL") or row.get("daily_pipeline_limit") is None:
        return result(False, "no_active_subscription", row)
    if (row.get("pipelines_run") or 0) >= row["daily_pipeline_limit"]:
        return result(False, "daily_limit_reached", row)
    if (row.get("running") or 0) >= (row.get("concurrent_limit") or 0):
        return result(False, "concurrency_limit_reached", row)
    # The state changed between the MERGE and this read (another run finished): the caller
    # may simply try again.
    return result(False, "contended_retry", row)
