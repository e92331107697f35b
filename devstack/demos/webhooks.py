"""Webhooks: signed HTTP webhooks through the receiver and direct Pub/Sub publishes, then the
rows per table and the dead letters."""

from __future__ import annotations

import json
import time
import uuid

import requests

from devstack.report import Report
from devstack.stack import LocalStack
from shared.webhooks import samples
from shared.webhooks.signature import sign

ORDER = 40
TITLE = "Webhooks: receiver, Pub/Sub, raw lake, typed tables, dead letters"
TOPIC = "webhook-events"


def _post(stack: LocalStack, source: str, body: bytes, headers: dict[str, str]) -> int:
    url = f"{stack.function_url('webhook-receiver')}/{source}"
    return requests.post(url, data=body, headers=headers, timeout=30).status_code


def run(stack: LocalStack, report: Report) -> None:
    report.section(TITLE)
    run_id = uuid.uuid4().hex[:6]
    secrets = stack.manifest.function("webhook-receiver")["local_env"]
    now = int(time.time())
    sent = []
    # 1) every sample through the signed receiver (event type / id as provider headers)
    for name in samples.names():
        body, attrs = samples.load(name)
        source = attrs["source"]
        headers = {
            "X-Webhook-Timestamp": str(now),
            "X-Webhook-Signature": sign(secrets[f"WEBHOOK_SECRET_{source.upper()}"], now, body),
        }
        if "event_type" in attrs:
            headers["X-Webhook-Event-Type"] = attrs["event_type"]
        if "event_id" in attrs:
            headers["X-Webhook-Event-Id"] = attrs["event_id"]
        sent.append(
            {"how": "receiver", "case": name, "status": _post(stack, source, body, headers)}
        )
    # 2) a duplicate (same sample again) and direct publishes: valid, invalid, unknown source
    body, attrs = samples.load("payments_charge_succeeded")
    stack.publish(TOPIC, body, **attrs)
    sent.append({"how": "publish", "case": "duplicate of payments_charge_succeeded", "status": "-"})
    stack.publish(TOPIC, b"{this is not json " + run_id.encode(), source="shop")
    sent.append({"how": "publish", "case": "invalid JSON -> dead letter", "status": "-"})
    bad = {"id": f"evt_demo_{run_id}", "type": "charge.succeeded", "created": "yesterday"}
    stack.publish(TOPIC, json.dumps(bad).encode(), source="payments")
    sent.append({"how": "publish", "case": "invalid timestamp -> dead letter", "status": "-"})
    stack.publish(TOPIC, json.dumps({"lead": run_id}).encode(), source="crm", event_type="lead")
    sent.append({"how": "publish", "case": "unknown source -> raw only", "status": "-"})
    # 3) refused by the receiver: bad signature, stale timestamp, unsigned
    body, _ = samples.load("payments_charge_succeeded")
    forged = {"X-Webhook-Timestamp": str(now), "X-Webhook-Signature": sign("guess", now, body)}
    stale = {
        "X-Webhook-Timestamp": str(now - 3600),
        "X-Webhook-Signature": sign(secrets["WEBHOOK_SECRET_PAYMENTS"], now - 3600, body),
    }
    for case, headers in (("bad signature", forged), ("stale timestamp", stale), ("unsigned", {})):
        status = _post(stack, "payments", body, headers)
        if status != 401:
            raise RuntimeError(f"{case} was answered {status}, expected 401")
        sent.append({"how": "receiver", "case": case, "status": status})
    report.table(sent)
    if any(s["how"] == "receiver" and s["status"] not in (202, 401) for s in sent):
        raise RuntimeError("the receiver refused a valid sample")

    def counts() -> dict[str, int]:
        result = {}
        for view in (
            "integration_raw_data_current",
            "platform_events_current",
            "campaign_metrics_current",
            "audience_insights_current",
        ):
            rows = stack.query(f"SELECT COUNT(*) AS n FROM `{stack.project}.warehouse.{view}`")
            result[view] = int(rows[0]["n"])
        return result

    stack.wait_until(
        lambda: counts()["integration_raw_data_current"] >= len(samples.names()) + 1,
        timeout=60,
        what="webhooks in the raw lake",
    )
    report.line("Rows per table (*_current views: duplicates collapsed):")
    report.table([{"view": k, "rows": v} for k, v in counts().items()])
    report.line("platform_events_current:")
    report.table(
        stack.query(
            f"SELECT platform, event_type, entity_id, amount, currency, occurred_at "
            f"FROM `{stack.project}.warehouse.platform_events_current` ORDER BY occurred_at"
        )
    )
    report.line("campaign_metrics_current:")
    report.table(
        stack.query(
            f"SELECT campaign_id, metric_date, impressions, clicks, spend, revenue, currency "
            f"FROM `{stack.project}.warehouse.campaign_metrics_current`"
        )
    )

    def dead_letters() -> list[dict[str, object]] | None:
        rows = stack.query(
            "SELECT reason, detail, received_at "
            f"FROM `{stack.project}.ops.dead_letters_current` "
            "WHERE function = 'webhooks' ORDER BY received_at"
        )
        return rows if len(rows) >= 2 else None

    letters = stack.wait_until(dead_letters, timeout=60, what="two dead letters")
    report.line(
        "Dead letters (ops.dead_letters_current; replay: python -m shared.webhooks.replay):"
    )
    report.table(letters)
