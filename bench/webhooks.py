"""Webhook ingest throughput through HTTP: group commit vs one append per request, same run.

Two instances of the ``webhooks`` function are served by functions-framework, writing through
the Storage Write API (gRPC). Wrapped Pub/Sub push bodies are POSTed concurrently straight to
each function URL, as the push subscription would. Each event writes 2 rows
(platform_events + integration_raw_data). Write calls per 1,000 events and the insertAll
comparison are measured in-process by ``bench/writes.py``.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from devstack.processes import http_ok
from devstack.stack import REPO, FunctionSpec, LocalStack

CLIENTS = 128
GROUP_COMMIT_EVENTS = 2000
BASELINE_EVENTS = 128


def _push_body(run: str, i: int) -> bytes:
    event = {
        "id": f"evt_bench_{run}_{i}",
        "type": "charge.succeeded",
        "created": int(time.time()) - 60,
        "data": {"object": {"id": f"ch_bench_{run}_{i}", "amount": 100 + i, "currency": "usd"}},
    }
    return json.dumps(
        {
            "subscription": "projects/demo-local/subscriptions/bench",
            "message": {
                "data": base64.b64encode(json.dumps(event).encode()).decode(),
                "attributes": {"source": "payments"},
                "messageId": f"{run}-{i}",
                "publishTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            },
        }
    ).encode()


def _drive(url: str, run: str, events: int) -> tuple[float, int]:
    """POST ``events`` pushes with CLIENTS concurrent senders; returns (seconds, failures)."""
    local = threading.local()
    bodies = [_push_body(run, i) for i in range(events)]

    def send(body: bytes) -> bool:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        for _ in range(5):  # a push that failed is redelivered by Pub/Sub: do the same
            try:
                answer = session.post(
                    url, data=body, headers={"Content-Type": "application/json"}, timeout=180
                )
            except requests.RequestException:
                continue
            if answer.status_code < 300:
                return True
        return False

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        failures = sum(1 for ok in pool.map(send, bodies) if not ok)
    return time.monotonic() - started, failures


def _measure(stack: LocalStack, name: str, env: dict[str, str], events: int) -> dict[str, Any]:
    spec = FunctionSpec(
        name,
        REPO / "functions" / "webhooks",
        "ingest",
        env={"WEBHOOKS_INSERT_DEADLINE_S": "60", **env},
        concurrency=CLIENTS,
    )
    process = stack._spawn_function(spec)
    base = stack.function_urls[name]
    process.wait_ready(lambda: http_ok(base, accept_any_status=True))
    url = f"{base}/projects/{stack.project}/topics/webhook-events"
    _drive(url, f"warm{name}", 20)
    seconds, failures = _drive(url, f"{name}{int(time.time())}", events)
    process.stop()
    return {"events_per_s": events / seconds, "failures": failures}


def run() -> list[dict[str, Any]]:
    with LocalStack(Path(".local/bench-webhooks"), functions=[]) as stack:
        base = _measure(
            stack, "webhooks-baseline", {"WEBHOOKS_GROUP_COMMIT": "off"}, BASELINE_EVENTS
        )
        group = _measure(
            stack, "webhooks-group", {"WEBHOOKS_GROUP_COMMIT": "on"}, GROUP_COMMIT_EVENTS
        )
    return [
        {
            "name": f"webhooks: events/s, 1 instance, {CLIENTS} concurrent pushes (group commit)",
            "value": round(group["events_per_s"], 1),
            "unit": "events/s",
            "baseline": round(base["events_per_s"], 1),
            "ratio": round(group["events_per_s"] / base["events_per_s"], 2),
        },
        {
            "name": "webhooks: pushes still failing after 5 attempts (group commit must be 0)",
            "value": float(group["failures"]),
            "unit": "pushes",
            "baseline": float(base["failures"]),
            "ratio": None,
        },
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure)
