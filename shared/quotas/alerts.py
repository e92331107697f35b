"""Quota alerts, exactly once per (customer, period, metric, threshold).

The gate is a marker document in Firestore, ``quota_alerts/{alert_id}`` with a deterministic
id. A daily threshold's marker is created in the SAME atomic batch as the admission that
crosses it (:mod:`shared.quotas.admission`), so however many callers race and however often
an event is redelivered, exactly one commit makes the alert due. Other alerts (trial ending)
claim their marker with a ``create()``: the one caller whose create succeeds owns it.

After the commit the owner publishes the alert on ``quota-alerts``, logs it with
``event="quota_alert"`` (the log-based metric in terraform/monitoring.tf counts these lines),
queues its ``quota_alert_log`` row in the outbox (deduplicated at read by alert id) and marks
the marker published, in one batch. A crash before that leaves ``published=False``; the sweep
publishes it again with the same ``alert_id`` attribute, so subscribers can drop the duplicate
of that rare case.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.quotas import outbox, store

logger = logging.getLogger("shared.quotas.alerts")
TOPIC = "quota-alerts"
DAILY = "daily_pipelines"
WARNING_PERCENT = 80
EXCEEDED_PERCENT = 100
DAILY_THRESHOLDS = ("warning", "exceeded")
_PERCENT = {"warning": WARNING_PERCENT, "exceeded": EXCEEDED_PERCENT}


def alert_id(customer: str, period: str, metric: str, threshold: str) -> str:
    return hashlib.sha256("|".join((customer, period, metric, threshold)).encode()).hexdigest()[:32]


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
        return alert_id(self.customer, self.period, self.metric, self.threshold)

    def to_json(self) -> dict[str, Any]:
        return {"alert_id": self.alert_id, **asdict(self)}


def thresholds(  # noqa: PLR0917 - the alert fields, in order
    customer: str, plan: str, metric: str, used: int, limit: int, period: str
) -> list[Alert]:
    """The alerts a usage level deserves: warning at >= 80 %, exceeded at >= 100 %."""
    if limit <= 0 or used <= 0:
        return []
    percent = round(100.0 * used / limit, 1)
    return [
        Alert(customer, plan, metric, used, limit, percent, threshold, period)
        for threshold in DAILY_THRESHOLDS
        if used * 100 >= _PERCENT[threshold] * limit
    ]


def crossed(  # noqa: PLR0917 - the alert fields, in order
    customer: str, plan: str, before: int, after: int, limit: int, period: str
) -> list[Alert]:
    """The daily alerts whose threshold lies in (before, after]: due because of this change."""
    already = {a.threshold for a in thresholds(customer, plan, DAILY, before, limit, period)}
    return [
        a
        for a in thresholds(customer, plan, DAILY, after, limit, period)
        if a.threshold not in already
    ]


def marker(alert: Alert, now: datetime) -> dict[str, Any]:
    return {**alert.to_json(), "published": False, "created_at": now}


def claim(alert: Alert) -> bool:
    """Create the alert's marker; True for the one caller that created it."""
    from google.api_core.exceptions import AlreadyExists, Conflict

    try:
        store.alert_ref(alert.alert_id).create(marker(alert, datetime.now(UTC)))
    except (AlreadyExists, Conflict):
        return False
    return True


def publish(alert: Alert) -> None:
    """Publish, log, record and mark one due alert (safe to repeat: same alert_id)."""
    from google.pubsub_v1.types import PubsubMessage

    from shared import clients
    from shared.quotas import wire  # imports the Firestore types: on first use, not at start

    payload = json.dumps(alert.to_json(), sort_keys=True)
    level = logging.ERROR if alert.threshold == "exceeded" else logging.WARNING
    logger.log(
        level,
        "quota alert %s %s for %s",
        alert.metric,
        alert.threshold,
        alert.customer,
        extra={"fields": {"event": "quota_alert", **alert.to_json()}},
    )
    # one Publish call, sent at once: the caller whose admission crossed the threshold waits
    # for it (clients.prompt_publisher says why not the batching publisher)
    attributes = {
        "alert_id": alert.alert_id,
        "customer": alert.customer,
        "threshold": alert.threshold,
    }
    clients.prompt_publisher().publish(
        topic=clients.topic_path(TOPIC),
        messages=[PubsubMessage(data=payload.encode(), attributes=attributes)],
        timeout=60,
    )
    now = datetime.now(UTC)
    row = {
        "alert_id": alert.alert_id,
        "customer_id": alert.customer,
        "plan": alert.plan,
        "metric": alert.metric,
        "threshold": alert.threshold,
        "period": alert.period,
        "used": alert.used,
        "limit_value": alert.limit,
        "percent": alert.percent,
        "payload": payload,
        "created_at": now.isoformat(),
        "published_at": now.isoformat(),
    }
    # the log row and the published flag in one commit; the row reaches BigQuery with the
    # next outbox drain (no BigQuery round trip on the admission path)
    store.commit_writes(
        [
            wire.set_document(
                store.name_of(store.outbox_ref(f"alert-{alert.alert_id}")),
                outbox.entry(outbox.ALERT_LOG, [row]),
            ),
            wire.update_existing(
                store.name_of(store.alert_ref(alert.alert_id)),
                {"published": True, "published_at": now},
            ),
        ]
    )
    outbox.drain_soon()


def republish_unpublished(older_than_s: int = 60) -> int:
    """Publish again the alerts whose publisher stopped between the claim and the publish."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    query = (
        store.alert_ref("x").parent.where(filter=FieldFilter("published", "==", False)).limit(500)
    )
    sent = 0
    for snap in query.stream():
        data = snap.to_dict() or {}
        if data.get("created_at") is None or data["created_at"] > cutoff:
            continue
        publish(Alert(**{f.name: data[f.name] for f in fields(Alert)}))
        sent += 1
    return sent
