"""Quota alerts, exactly once per (customer, period, metric, threshold).

The gate is a MERGE that inserts the alert's row into ``quota_alert_log`` keyed by a
deterministic ``alert_id``; only the caller whose MERGE inserted it (affected rows == 1)
publishes. Concurrent callers conflict in BigQuery (serialization error, retried) and then find
the row. A crash between the insert and the publish leaves ``published_at`` NULL: the sweep
republishes such alerts with the same ``alert_id`` attribute, so subscribers can drop a
duplicate in that rare case; otherwise each alert is published once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.quotas import db

logger = logging.getLogger("shared.quotas.alerts")
TOPIC = "quota-alerts"
WARNING_PERCENT = 80
EXCEEDED_PERCENT = 100


@dataclass(frozen=True, slots=True)
class Alert:
    customer: str
    plan: str
    metric: str
    used: int
    limit: int
    percent: float
    threshold: str
    period: str

    @property
    def alert_id(self) -> str:
        key = "|".join((self.customer, self.period, self.metric, self.threshold))
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        return {"alert_id": self.alert_id, **asdict(self)}


def thresholds(  # noqa: PLR0917 - the alert fields, in order
    customer: str, plan: str, metric: str, used: int, limit: int, period: str
) -> list[Alert]:
    """The alerts a usage level deserves: warning at >= 80 %, exceeded at >= 100 %."""
    if limit <= 0 or used <= 0:
        return []
    percent = round(100.0 * used / limit, 1)
    found = []
    if used * 100 >= WARNING_PERCENT * limit:
        found.append(Alert(customer, plan, metric, used, limit, percent, "warning", period))
    if used * 100 >= EXCEEDED_PERCENT * limit:
        found.append(Alert(customer, plan, metric, used, limit, percent, "exceeded", period))
    return found


_CLAIM = """
MERGE {log} AS T
USING (SELECT @alert_id AS alert_id) AS S ON T.alert_id = S.alert_id
WHEN NOT MATCHED THEN INSERT (alert_id, customer_id, plan, metric, threshold, period, used,
  limit_value, percent, payload, created_at, published_at)
VALUES (@alert_id, @customer, @plan, @metric, @threshold, @period, @used, @limit, @percent,
  @payload, @now, NULL)
"""

_FLAG = """
MERGE {usage} AS T
USING (SELECT @customer AS customer_id, @day AS usage_date) AS S
ON T.customer_id = S.customer_id AND T.usage_date = S.usage_date
WHEN MATCHED THEN UPDATE SET
  warning_sent = IFNULL(T.warning_sent, FALSE) OR @warning,
  exceeded = IFNULL(T.exceeded, FALSE) OR @exceeded
"""


def claim_and_publish(alert: Alert) -> bool:
    """Insert the alert's log row; publish only if this call inserted it. True if published."""
    now = datetime.now(UTC)
    payload = json.dumps(alert.to_json(), sort_keys=True)
    _, inserted = db.run(
        _CLAIM.format(log=db.table("quota_alert_log")),
        {**asdict(alert), "alert_id": alert.alert_id, "payload": payload, "now": now},
    )
    if not inserted:
        return False
    _publish(alert.alert_id, payload, alert.threshold, alert.customer)
    return True


def _publish(alert_id: str, payload: str, threshold: str, customer: str) -> None:
    from shared import clients

    level = logging.ERROR if threshold == "exceeded" else logging.WARNING
    logger.log(level, "quota alert %s", payload, extra={"fields": json.loads(payload)})
    clients.publisher().publish(
        clients.topic_path(TOPIC),
        payload.encode(),
        alert_id=alert_id,
        customer=customer,
        threshold=threshold,
    ).result(timeout=60)
    db.run(
        f"UPDATE {db.table('quota_alert_log')} SET published_at = @now WHERE alert_id = @id",
        {"id": alert_id, "now": datetime.now(UTC)},
    )


_USAGE = """
SELECT u.plan, u.pipelines_run, u.daily_limit,
  (SELECT SUM(IFNULL(m.api_calls, 0)) FROM {usage} AS m
   WHERE m.customer_id = @customer
     AND m.usage_date BETWEEN @month_start AND @day) AS month_api_calls,
  (SELECT s.monthly_api_call_limit FROM {subs} AS s
   WHERE s.customer_id = @customer AND s.status = 'ACTIVE'
   ORDER BY s.period_start DESC LIMIT 1) AS monthly_api_call_limit
FROM {usage} AS u
WHERE u.customer_id = @customer AND u.usage_date = @day
"""


def evaluate(customer: str, day: date | None = None) -> list[Alert]:
    """Check a customer's daily and monthly usage; publish each newly due alert once."""
    day = day or datetime.now(UTC).date()
    rows, _ = db.run(
        _USAGE.format(
            usage=db.table("customer_usage_quotas"), subs=db.table("customer_subscriptions")
        ),
        {"customer": customer, "day": day, "month_start": day.replace(day=1)},
    )
    if not rows:
        return []
    row = rows[0]
    plan = str(row.get("plan") or "")
    due = thresholds(
        customer,
        plan,
        "daily_pipelines",
        int(row.get("pipelines_run") or 0),
        int(row.get("daily_limit") or 0),
        day.isoformat(),
    ) + thresholds(
        customer,
        plan,
        "monthly_api_calls",
        int(row.get("month_api_calls") or 0),
        int(row.get("monthly_api_call_limit") or 0),
        day.strftime("%Y-%m"),
    )
    published = [alert for alert in due if claim_and_publish(alert)]
    daily = {a.threshold for a in due if a.metric == "daily_pipelines"}
    if daily:
        db.run(
            _FLAG.format(usage=db.table("customer_usage_quotas")),
            {
                "customer": customer,
                "day": day,
                "warning": "warning" in daily,
                "exceeded": "exceeded" in daily,
            },
        )
    return published


def republish_unpublished(older_than_s: int = 120) -> int:
    """Publish again alerts whose publisher crashed after claiming them (same alert_id)."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    rows, _ = db.run(
        f"SELECT alert_id, payload, threshold, customer_id FROM {db.table('quota_alert_log')} "
        "WHERE published_at IS NULL AND created_at < @cutoff",
        {"cutoff": cutoff},
    )
    for row in rows:
        _publish(row["alert_id"], row["payload"], row["threshold"], row["customer_id"])
    return len(rows)
