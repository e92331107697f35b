"""Admission end to end: external runners racing through the quota-api function (HTTP), the
quotas function on pipeline-events, the scheduler's lease sweep, alerts on quota-alerts."""

from __future__ import annotations

import concurrent.futures
import json
import time
import uuid
from typing import Any

import pytest
import requests

from devstack.stack import LocalStack
from shared import api_keys
from shared.quotas import admission, customers
from tests.integration.quotas.helpers import run_watching_leases

pytestmark = pytest.mark.stack


def _customer(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _runner(stack: LocalStack, key: str) -> Any:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    url = stack.function_url("quota-api")

    def post(route: str, body: dict[str, Any]) -> requests.Response:
        return session.post(f"{url}/runs/{route}", json=body, timeout=120)

    return post


def _subscribe(stack: LocalStack) -> str:
    sub = f"e2e-quota-alerts-{uuid.uuid4().hex[:6]}"
    stack.subscriber().create_subscription(
        name=f"projects/{stack.project}/subscriptions/{sub}",
        topic=f"projects/{stack.project}/topics/quota-alerts",
    )
    return sub


def _alerts(stack: LocalStack, sub: str, customer: str, seconds: float) -> list[dict[str, Any]]:
    path = f"projects/{stack.project}/subscriptions/{sub}"
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = stack.subscriber().pull(subscription=path, max_messages=100, timeout=5)
        if response.received_messages:
            stack.subscriber().acknowledge(
                subscription=path, ack_ids=[m.ack_id for m in response.received_messages]
            )
        found += [
            json.loads(m.message.data)
            for m in response.received_messages
            if m.message.attributes.get("customer") == customer
        ]
        if not response.received_messages:
            time.sleep(0.5)
    return found


def test_two_hundred_racing_runners_limit_six_exactly_six_and_alerts_once(
    stack: LocalStack,
) -> None:
    customer = _customer("race")
    customers.upsert_customer(customer, "STARTER", concurrent_limit=200)  # daily limit 6
    sub = _subscribe(stack)
    post = _runner(stack, api_keys.create_key(customer, ["runs"])[1])
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        answers = list(
            pool.map(lambda i: post("start", {"pipeline": "p", "run_id": f"r{i}"}), range(200))
        )
    codes = [a.status_code for a in answers]
    assert codes.count(200) == 6 and codes.count(429) == 194
    assert {a.json()["reason"] for a in answers if a.status_code == 429} == {"daily_limit_reached"}
    assert admission.usage(customer)["admitted"] == 6
    # the same runners retry (at-least-once): nothing more is admitted, no alert again
    for answer in answers[:20]:
        run_id = answer.json()["run_id"]
        again = post("start", {"pipeline": "p", "run_id": run_id})
        assert again.json()["admitted"] == (answer.status_code == 200)
    received = _alerts(stack, sub, customer, 15)
    assert sorted(a["threshold"] for a in received) == ["exceeded", "warning"]


def test_concurrency_three_never_four_leases_over_http(stack: LocalStack) -> None:
    customer = _customer("conc")
    customers.upsert_customer(customer, "SCALE")  # concurrency 3, 100 a day
    post = _runner(stack, api_keys.create_key(customer, ["runs"])[1])

    def runner(n: int) -> int:
        admitted = 0
        for i in range(3):
            run_id = f"w{n}-{i}"
            if post("start", {"pipeline": "p", "run_id": run_id}).status_code == 200:
                admitted += 1
                done = post("finish", {"run_id": run_id, "status": "completed"})
                assert done.json()["released"] is True
        return admitted

    admitted, peak = run_watching_leases(customer, runner, 12)
    assert admitted >= 3 and 1 <= peak <= 3
    assert admission.usage(customer)["leases"] == {}


def test_killed_runners_lease_is_reclaimed_by_the_sweep(stack: LocalStack) -> None:
    customer = _customer("killed")
    customers.upsert_customer(customer, "STARTER", concurrent_limit=1)
    post = _runner(stack, api_keys.create_key(customer, ["runs"])[1])
    assert post("start", {"pipeline": "p", "run_id": "dies", "lease_seconds": 2}).status_code == 200
    # the runner is killed: no heartbeat, no finish; its slot blocks the next run until expiry
    blocked = post("start", {"pipeline": "p", "run_id": "next"})
    assert blocked.status_code == 429 and blocked.json()["reason"] == "concurrency_limit_reached"
    time.sleep(2.2)
    stack.tick("quota-lease-sweep")
    stack.wait_until(
        lambda: admission.usage(customer)["leases"] == {}, timeout=60, what="lease reclaimed"
    )
    assert post("heartbeat", {"run_id": "dies"}).status_code == 409
    assert post("start", {"pipeline": "p", "run_id": "next"}).status_code == 200
