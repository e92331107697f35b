"""Webhooks: signed HTTP webhooks through the receiver and direct Pub/Sub publishes, then the
rows per table and the dead letters."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import requests

from devstack.report import Report
from devstack.stack import LocalStack
from shared.webhooks import samples, senders

ORDER = 40
TITLE = "Webhooks: receiver, Pub/Sub, raw lake, typed tables, dead letters"
TOPIC = "webhook-events"


def _post(stack: LocalStack, source: str, body: bytes, headers: dict[str, str]) -> int:
    url = f"{stack.function_url('webhook-receiver')}/{source}"
    return requests.post(url, data=body, headers=headers, timeout=30).status_code


Sent = list[dict[str, object]]


def _signed_samples(stack: LocalStack, routes: dict[str, Any], now: int) -> Sent:
    """Every sample of a real sender, signed exactly as that sender signs (one per scheme)."""
    secrets = stack.manifest.function("webhook-receiver")["local_env"]
    sent: Sent = []
    for name in samples.names():
        body, attrs = samples.load(name)
        route = routes.get(attrs["source"])
        if route is None:
            continue
        secret = secrets[route["secrets"][0]]
        headers = senders.signed_headers(route["scheme"], secret, body, attrs, now=now)
        status = _post(stack, attrs["source"], body, headers)
        sent.append({"how": f"receiver ({route['scheme']})", "case": name, "status": status})
    return sent


def _direct_publishes(stack: LocalStack, run_id: str) -> Sent:
    """A duplicate (same sample again) and direct publishes: valid, invalid, unknown source."""
    body, attrs = samples.load("stripe_charge_succeeded")
    stack.publish(TOPIC, body, **attrs)
    stack.publish(TOPIC, b"{this is not json " + run_id.encode(), source="shopify")
    bad = {"id": f"evt_demo_{run_id}", "type": "charge.succeeded", "created": "yesterday"}
    stack.publish(TOPIC, json.dumps(bad).encode(), source="stripe")
    stack.publish(TOPIC, json.dumps({"lead": run_id}).encode(), source="crm", event_type="lead")
    cases = (
        "duplicate of stripe_charge_succeeded",
        "invalid JSON -> dead letter",
        "invalid timestamp -> dead letter",
        "unknown source -> raw only",
    )
    return [{"how": "publish", "case": case, "status": "-"} for case in cases]


def _refusals(stack: LocalStack, routes: dict[str, Any], now: int, run_id: str) -> Sent:
    """Refused by the receiver (401, nothing published): forged, stale, new id, unsigned."""
    secrets = stack.manifest.function("webhook-receiver")["local_env"]
    body, _ = samples.load("stripe_charge_succeeded")
    forged = senders.signed_headers("stripe", "whsec_guess", body, now=now)
    stale = senders.signed_headers(
        "stripe", secrets[routes["stripe"]["secrets"][0]], body, now=now - 3600
    )
    ad_body, ad_attrs = samples.load("adplatform_campaign_metrics")
    replayed = senders.signed_headers(
        "standard_webhooks", secrets[routes["adplatform"]["secrets"][0]], ad_body, ad_attrs, now=now
    )
    replayed["webhook-id"] = f"msg_replayed_{run_id}"
    sent: Sent = []
    for source, case, data, headers in (
        ("stripe", "forged signature", body, forged),
        ("stripe", "stale timestamp", body, stale),
        ("adplatform", "replayed with a new webhook-id", ad_body, replayed),
        ("github", "unsigned", body, {"X-GitHub-Event": "push"}),
    ):
        status = _post(stack, source, data, headers)
        if status != 401:
            raise RuntimeError(f"{case} was answered {status}, expected 401")
        sent.append({"how": f"receiver ({source})", "case": case, "status": status})
    return sent


def run(stack: LocalStack, report: Report) -> None:
    report.section(TITLE)
    run_id = uuid.uuid4().hex[:6]
    receiver = stack.manifest.function("webhook-receiver")
    routes = {e["source"]: e for e in receiver["webhook_sources"]}
    now = int(time.time())
    signed = _signed_samples(stack, routes, now)
    if any(s["status"] != 202 for s in signed):
        report.table(signed)
        raise RuntimeError("the receiver refused a correctly signed sample")
    sent = signed + _direct_publishes(stack, run_id) + _refusals(stack, routes, now, run_id)
    report.table(sent)

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
        lambda: counts()["integration_raw_data_current"] >= len(samples.names()),
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
    report.line("webhook_untyped_events (accepted, kept raw, not typed yet):")
    report.table(
        stack.query(
            "SELECT source, event_type, mapping_status, events "
            f"FROM `{stack.project}.warehouse.webhook_untyped_events` ORDER BY source"
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
