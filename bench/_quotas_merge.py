"""BASELINE for bench/quotas.py only: the previous admission path, one BigQuery MERGE each.

Kept verbatim (minus its side effects) so the bench can measure the Firestore path against
it side by side. Not product code.

Admission: one conditional MERGE admits a run, holds a lease and counts it, atomically.

The state of a customer's day is ONE row of ``customer_usage_quotas`` (customer, date): the
count of runs admitted, the leases held (``running``) and the run ids already admitted. Every
change is a single MERGE on that row whose conditions re-check the limits, so the check and
the increment cannot be separated; real BigQuery aborts one of two concurrent mutations of the
table ("Could not serialize access"), which :mod:`shared.quotas.db` retries with backoff. The
rows are only ever written by DML (BigQuery refuses DML on streamed rows).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.quotas import db
from shared.quotas.validation import check_id, check_lease, check_status, raise_if

logger = logging.getLogger("shared.quotas.admission")
DEFAULT_LEASE_S = 15 * 60
# Leases are looked for in the rows of the last days (a run may outlive midnight).
LEASE_LOOKBACK_DAYS = 2


@dataclass(frozen=True, slots=True)
class AdmissionResult:
    admitted: bool
    reason: str
    customer_id: str = ""
    run_id: str = ""
    used: int | None = None
    limit: int | None = None
    running: int | None = None
    concurrent_limit: int | None = None
    lease_expires_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "admitted": self.admitted,
            "reason": self.reason,
            "customer_id": self.customer_id,
            "run_id": self.run_id,
            "used": self.used,
            "limit": self.limit,
            "running": self.running,
            "concurrent_limit": self.concurrent_limit,
            "lease_expires_at": self.lease_expires_at.isoformat()
            if self.lease_expires_at
            else None,
        }


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


def start(
    customer_id: str,
    pipeline: str,
    run_id: str,
    *,
    lease_seconds: int = DEFAULT_LEASE_S,
    api_call: bool = False,
    notify: bool = False,
    today: date | None = None,
) -> AdmissionResult:
    """Admit ``run_id`` for ``customer_id`` if today's runs < daily limit and leases held <
    concurrent limit. Idempotent per run id: a repeated call answers ``already_admitted``.

    Raises :class:`~shared.quotas.validation.InvalidInputError` for malformed arguments (nothing is
    changed); refusals are results (``admitted=False`` with a reason), not errors.
    """
    problems: list[str] = []
    check_id(problems, "customer_id", customer_id)
    check_id(problems, "pipeline", pipeline)
    check_id(problems, "run_id", run_id)
    check_lease(problems, lease_seconds)
    raise_if(problems)
    day = today or _today()
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
            if notify:
                _notify_started(customer_id, pipeline, run_id)
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


_RELEASE = """
MERGE {usage} AS T
USING (
  SELECT customer_id, usage_date,
    ARRAY(SELECT AS STRUCT r.run_id, r.pipeline, r.started_at, r.expires_at
          FROM UNNEST(running) AS r WHERE r.run_id <> @run_id) AS kept
  FROM {usage}
  WHERE usage_date >= @since
    AND EXISTS(SELECT 1 FROM UNNEST(running) AS r WHERE r.run_id = @run_id)
) AS S
ON T.customer_id = S.customer_id AND T.usage_date = S.usage_date
WHEN MATCHED THEN UPDATE SET running = S.kept, updated_at = @now
"""

_LEASE = """
SELECT u.customer_id, r.run_id, r.pipeline, r.started_at, r.expires_at
FROM {usage} AS u, UNNEST(u.running) AS r
WHERE u.usage_date >= @since AND r.run_id = @run_id
"""


def _lease(run_id: str, since: date) -> dict[str, Any] | None:
    rows, _ = db.run(_sql(_LEASE), {"run_id": run_id, "since": since})
    return rows[0] if rows else None


def finish(run_id: str, status: str, *, customer_id: str | None = None) -> bool:
    """Release the lease of ``run_id``; True only for the call that released it.

    A finish after the sweep reclaimed the lease (the run was recorded LOST) returns False and
    releases nothing. With ``customer_id`` the lease must belong to that customer.
    """
    problems: list[str] = []
    check_id(problems, "run_id", run_id)
    final = check_status(problems, status)
    if customer_id is not None:
        check_id(problems, "customer_id", customer_id)
    raise_if(problems)
    now = datetime.now(UTC)
    since = now.date() - timedelta(days=LEASE_LOOKBACK_DAYS)
    lease = _lease(run_id, since)
    if lease is None or (customer_id is not None and lease["customer_id"] != customer_id):
        logger.info("finish: no lease held", extra={"fields": {"run_id": run_id}})
        return False
    _, affected = db.run(_sql(_RELEASE), {"run_id": run_id, "since": since, "now": now})
    if not affected:
        return False
    record_runs([{**lease, "status": final, "finished_at": now}])
    logger.info("run finished", extra={"fields": {"run_id": run_id, "status": final}})
    return True


_HEARTBEAT = """
MERGE {usage} AS T
USING (
  SELECT customer_id, usage_date,
    ARRAY(SELECT AS STRUCT r.run_id, r.pipeline, r.started_at,
                 IF(r.run_id = @run_id, @expires, r.expires_at) AS expires_at
          FROM UNNEST(running) AS r) AS extended
  FROM {usage}
  WHERE usage_date >= @since
    AND EXISTS(SELECT 1 FROM UNNEST(running) AS r WHERE r.run_id = @run_id AND r.expires_at > @now)
) AS S
ON T.customer_id = S.customer_id AND T.usage_date = S.usage_date
WHEN MATCHED THEN UPDATE SET running = S.extended, updated_at = @now
"""


def heartbeat(run_id: str, *, lease_seconds: int = DEFAULT_LEASE_S) -> bool:
    """Extend the lease of a running run; False when it holds none (finished or reclaimed)."""
    problems: list[str] = []
    check_id(problems, "run_id", run_id)
    check_lease(problems, lease_seconds)
    raise_if(problems)
    now = datetime.now(UTC)
    params = {
        "run_id": run_id,
        "since": now.date() - timedelta(days=LEASE_LOOKBACK_DAYS),
        "now": now,
        "expires": now + timedelta(seconds=lease_seconds),
    }
    _, affected = db.run(_sql(_HEARTBEAT), params)
    return affected > 0


_RECORD_RUNS = """
MERGE {runs} AS T
USING (
  SELECT JSON_VALUE(j, '$.run_id') AS run_id,
    JSON_VALUE(j, '$.customer_id') AS customer_id,
    JSON_VALUE(j, '$.pipeline') AS pipeline,
    JSON_VALUE(j, '$.status') AS status,
    TIMESTAMP(JSON_VALUE(j, '$.started_at')) AS started_at,
    TIMESTAMP(JSON_VALUE(j, '$.finished_at')) AS finished_at
  FROM UNNEST(JSON_QUERY_ARRAY(PARSE_JSON(@rows))) AS j
) AS S
ON T.run_id = S.run_id
WHEN MATCHED AND T.status = 'RUNNING' THEN UPDATE SET
  status = S.status, finished_at = S.finished_at, updated_at = @now
WHEN NOT MATCHED THEN INSERT (run_id, customer_id, pipeline, status, started_at, finished_at,
  updated_at)
VALUES (S.run_id, S.customer_id, S.pipeline, S.status, S.started_at, S.finished_at, @now)
"""


def record_runs(rows: list[dict[str, Any]]) -> None:
    """Run history (COMPLETED, FAILED, LOST), one MERGE keyed by run id (first outcome wins)."""
    if not rows:
        return
    payload = json.dumps(
        [
            {
                k: (v.isoformat() if isinstance(v, datetime) else v)
                for k, v in row.items()
                if k in ("run_id", "customer_id", "pipeline", "status", "started_at", "finished_at")
            }
            for row in rows
        ]
    )
    db.run(_sql(_RECORD_RUNS), {"rows": payload, "now": datetime.now(UTC)})


def _notify_started(customer_id: str, pipeline: str, run_id: str) -> None:
    """Tell the quotas function a run started so it checks the thresholds (best effort: the
    sweep checks every customer anyway)."""
    from shared import clients

    body = {"type": "started", "customer_id": customer_id, "pipeline": pipeline, "run_id": run_id}
    try:
        clients.publisher().publish(
            clients.topic_path("pipeline-events"),
            json.dumps(body).encode(),
            kind="lifecycle",
            admitted="true",
        ).result(timeout=30)
    except Exception:
        logger.warning("could not publish the started event", exc_info=True)
