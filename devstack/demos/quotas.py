"""Quotas demo: three customers on different plans run pipelines through the HTTP admission API
and the ``pipeline-events`` topic until one is warned and blocked; a maintenance tick warns
about an ending trial. Prints today's usage and the alerts received on ``quota-alerts``."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from devstack.report import Report
from devstack.stack import LocalStack

ORDER = 60
TITLE = "Quotas: atomic admission, warnings at 80 %, blocks at 100 %"


def _seed(tag: str) -> dict[str, str]:
    from shared.quotas import customers

    names = {"acme": f"acme-{tag}", "globex": f"globex-{tag}", "initech": f"initech-{tag}"}
    customers.upsert_customer(names["acme"], "STARTER", display_name="Acme (starter)")
    customers.upsert_customer(names["globex"], "PROFESSIONAL", display_name="Globex (pro)")
    customers.upsert_customer(
        names["initech"],
        "SCALE",
        status="TRIAL",
        display_name="Initech (trial)",
        trial_ends_at=datetime.now(UTC) + timedelta(days=5),
    )
    return names


def run(stack: LocalStack, report: Report) -> None:
    from shared import api_keys

    report.section(TITLE)
    tag = uuid.uuid4().hex[:6]
    sub = f"projects/{stack.project}/subscriptions/demo-quota-alerts-{tag}"
    stack.subscriber().create_subscription(
        name=sub, topic=f"projects/{stack.project}/topics/quota-alerts"
    )
    names = _seed(tag)
    acme = names["acme"]
    _, key = api_keys.create_key(
        acme, ["runs"], name="demo-runner", expires_at=datetime.now(UTC) + timedelta(days=30)
    )
    url = stack.function_url("quota-api")
    report.line(f"seeded {', '.join(names.values())}; API key for {acme} (only its hash is stored)")
    outcomes = []
    for i in range(7):
        run_id = f"{acme}-run-{i}"
        started = requests.post(
            f"{url}/runs/start",
            json={"pipeline": "orders_sync", "run_id": run_id},
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        outcomes.append({"run": run_id, "http": started.status_code, **_brief(started.json())})
        if started.status_code == 200:
            requests.post(
                f"{url}/runs/finish",
                json={"run_id": run_id, "status": "completed"},
                headers={"X-API-Key": key},
                timeout=60,
            )
    report.line("acme (STARTER, 6 runs a day) asks 7 times through POST /runs/start:")
    report.table(outcomes)
    if [o["http"] for o in outcomes] != [200] * 6 + [429]:
        raise RuntimeError(f"expected 6 admissions then a block, got {outcomes}")
    for i in range(2):
        body = {
            "type": "started",
            "customer_id": names["globex"],
            "pipeline": "crm",
            "run_id": f"{names['globex']}-{i}",
        }
        stack.publish("pipeline-events", json.dumps(body).encode())
    stack.tick("quota-maintenance")
    log = f"`{stack.project}.customers.quota_alert_log`"

    def alerts_landed() -> list[dict[str, Any]] | None:
        rows = stack.query(
            f"SELECT customer_id, metric, threshold, period, used, limit_value, published_at "
            f"FROM {log} WHERE customer_id IN UNNEST(@c) "
            # append-only, drained at least once: read deduplicated by alert_id
            "QUALIFY ROW_NUMBER() OVER (PARTITION BY alert_id ORDER BY published_at) = 1 "
            "ORDER BY customer_id, threshold DESC",
            {"c": list(names.values())},
        )
        published = [r for r in rows if r["published_at"] is not None]
        return published if len(published) >= 3 else None

    rows = stack.wait_until(alerts_landed, timeout=240, interval=1, what="quota alerts")
    report.line("alert log (one row per customer, period, metric, threshold):")
    report.table(rows)
    received = _pull(stack, sub, names)
    report.line("messages received on a pull subscription of quota-alerts:")
    report.table(received)
    usage = stack.query(
        f"SELECT customer_id, plan, pipelines_run, daily_limit, running, percent_of_daily_limit, "
        f"warning_sent, exceeded FROM `{stack.project}.customers.quota_utilization_today` "
        "WHERE customer_id IN UNNEST(@c) ORDER BY customer_id",
        {"c": list(names.values())},
    )
    report.line("customers.quota_utilization_today:")
    report.table(usage)
    thresholds = {(r["customer"], r["threshold"]) for r in received}
    if (
        not {(acme, "warning"), (acme, "exceeded"), (names["initech"], "trial_ending")}
        <= thresholds
    ):
        raise RuntimeError(f"expected acme warned + blocked and a trial alert, got {thresholds}")


def _brief(body: dict[str, Any]) -> dict[str, Any]:
    return {"admitted": body.get("admitted"), "reason": body.get("reason")}


def _pull(stack: LocalStack, sub: str, names: dict[str, str]) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(received) < 3:
        response = stack.subscriber().pull(subscription=sub, max_messages=50, timeout=10)
        if response.received_messages:
            stack.subscriber().acknowledge(
                subscription=sub, ack_ids=[m.ack_id for m in response.received_messages]
            )
        for m in response.received_messages:
            alert = json.loads(m.message.data)
            if alert["customer"] in names.values():
                received.append(
                    {
                        k: alert[k]
                        for k in (
                            "customer",
                            "metric",
                            "threshold",
                            "used",
                            "limit",
                            "percent",
                            "period",
                        )
                    }
                )
    return received
