"""Quotas against the real BigQuery and Pub/Sub emulators (the session ``stack``)."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import threading
import time
import uuid
from typing import Any

import pytest
import requests

from devstack.stack import LocalStack
from shared.quotas import admission, api_keys, customers, sweeps
from shared.quotas.validation import InvalidInputError

pytestmark = pytest.mark.stack


def _customer(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _usage(stack: LocalStack, customer: str) -> list[dict[str, Any]]:
    return stack.query(
        f"SELECT pipelines_run, ARRAY_LENGTH(running) AS running, warning_sent, exceeded "
        f"FROM `{stack.project}.customers.customer_usage_quotas` WHERE customer_id = @c",
        {"c": customer},
    )


def test_daily_limit_six_admits_exactly_six_of_fifty_concurrent(stack: LocalStack) -> None:
    customer = _customer("daily")
    customers.upsert_customer(customer, "STARTER", concurrent_limit=100)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(
            pool.map(
                lambda i: admission.start(customer, "p", f"{customer}-r{i}", notify=False),
                range(50),
            )
        )
    admitted = [r for r in results if r.admitted]
    assert len(admitted) == 6
    assert {r.reason for r in results if not r.admitted} == {"daily_limit_reached"}
    assert _usage(stack, customer) == [
        {"pipelines_run": 6, "running": 6, "warning_sent": False, "exceeded": False}
    ]


def test_concurrency_three_holds_under_concurrent_starts_and_finishes(stack: LocalStack) -> None:
    customer = _customer("conc")
    customers.upsert_customer(customer, "SCALE")
    lock = threading.Lock()
    in_flight = 0
    peak = 0
    admitted = 0

    def worker(n: int) -> None:
        nonlocal in_flight, peak, admitted
        for i in range(4):
            run = f"{customer}-w{n}-{i}"
            if admission.start(customer, "p", run, notify=False).admitted:
                with lock:
                    in_flight += 1
                    admitted += 1
                    peak = max(peak, in_flight)
                with lock:
                    in_flight -= 1
                assert admission.finish(run, "COMPLETED")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(worker, range(8)))
    assert 1 <= peak <= 3
    rows = _usage(stack, customer)
    assert rows[0]["running"] == 0 and rows[0]["pipelines_run"] == admitted


def test_concurrency_limit_refuses_fourth_run(stack: LocalStack) -> None:
    customer = _customer("four")
    customers.upsert_customer(customer, "PROFESSIONAL")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(
                lambda i: admission.start(customer, "p", f"{customer}-{i}", notify=False), range(8)
            )
        )
    assert sum(r.admitted for r in results) == 3
    assert {r.reason for r in results if not r.admitted} == {"concurrency_limit_reached"}
    assert admission.finish(
        f"{customer}-{next(i for i, r in enumerate(results) if r.admitted)}", "FAILED"
    )
    assert admission.start(customer, "p", f"{customer}-late", notify=False).admitted


def test_repeated_start_and_finish_count_once(stack: LocalStack) -> None:
    customer = _customer("idem")
    customers.upsert_customer(customer, "STARTER")
    run = f"{customer}-run"
    first = admission.start(customer, "p", run, notify=False)
    again = [admission.start(customer, "p", run, notify=False) for _ in range(3)]
    assert first.reason == "admitted"
    assert all(r.admitted and r.reason == "already_admitted" for r in again)
    assert [admission.finish(run, "COMPLETED") for _ in range(3)] == [True, False, False]
    assert admission.start(customer, "p", run, notify=False).reason == "already_admitted"
    assert _usage(stack, customer)[0]["pipelines_run"] == 1
    assert _usage(stack, customer)[0]["running"] == 0


def test_expired_lease_is_reclaimed_and_late_finish_does_not_release(stack: LocalStack) -> None:
    customer = _customer("lease")
    customers.upsert_customer(customer, "STARTER")
    run, kept = f"{customer}-lost", f"{customer}-kept"
    assert admission.start(customer, "p", run, lease_seconds=1, notify=False).admitted
    assert admission.start(customer, "p", kept, lease_seconds=3600, notify=False).admitted
    time.sleep(1.5)
    assert admission.heartbeat(run) is False  # an expired lease cannot be extended
    assert admission.heartbeat(kept) is True
    lost = sweeps.sweep_leases()
    assert run in lost and kept not in lost
    assert admission.finish(run, "COMPLETED") is False
    rows = stack.query(
        f"SELECT run_id, status FROM `{stack.project}.customers.customer_pipeline_runs` "
        "WHERE customer_id = @c",
        {"c": customer},
    )
    assert rows == [{"run_id": run, "status": "LOST"}]
    assert _usage(stack, customer)[0] == {
        "pipelines_run": 2,
        "running": 1,
        "warning_sent": False,
        "exceeded": False,
    }
    assert admission.finish(kept, "COMPLETED") is True


def test_suspended_and_unknown_customers_are_refused(stack: LocalStack) -> None:
    customer = _customer("susp")
    customers.upsert_customer(customer, "SCALE", status="SUSPENDED")
    result = admission.start(customer, "p", f"{customer}-r", notify=False)
    assert (result.admitted, result.reason) == (False, "customer_suspended")
    assert admission.start(_customer("ghost"), "p", "r", notify=False).reason == "unknown_customer"
    expired = _customer("trial")
    from datetime import UTC, datetime, timedelta

    customers.upsert_customer(
        expired, "STARTER", status="TRIAL", trial_ends_at=datetime.now(UTC) - timedelta(days=1)
    )
    assert admission.start(expired, "p", f"{expired}-r", notify=False).reason == "trial_expired"
    assert _usage(stack, customer) == [] and _usage(stack, expired) == []


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("", "p", "r"), {}),
        (("c", "p", "r" * 500), {}),
        (("c", "p; DROP TABLE x", "r"), {}),
        (("c", "p", "r"), {"lease_seconds": -5}),
        (("c", "p", "r"), {"lease_seconds": 10**9}),
    ],
)
def test_bad_input_is_rejected_and_changes_nothing(
    stack: LocalStack, args: tuple[str, str, str], kwargs: dict[str, Any]
) -> None:
    customer = _customer("bad")
    customers.upsert_customer(customer, "STARTER")
    args = (customer if args[0] == "c" else args[0], *args[1:])
    with pytest.raises(InvalidInputError) as info:
        admission.start(*args, notify=False, **kwargs)
    assert info.value.reason == "invalid_input" and info.value.problems
    with pytest.raises(InvalidInputError):
        admission.finish("r", "EXPLODED")
    assert _usage(stack, customer) == []


def _pull_all(stack: LocalStack, subscription: str, seconds: float) -> list[Any]:
    subscriber = stack.subscriber()
    path = f"projects/{stack.project}/subscriptions/{subscription}"
    messages: list[Any] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = subscriber.pull(subscription=path, max_messages=100, timeout=5)
        if response.received_messages:
            subscriber.acknowledge(
                subscription=path, ack_ids=[m.ack_id for m in response.received_messages]
            )
            messages.extend(m.message for m in response.received_messages)
        else:
            time.sleep(0.5)
    return messages


def test_alerts_published_once_under_redelivery(stack: LocalStack) -> None:
    customer = _customer("alert")
    customers.upsert_customer(customer, "STARTER", daily_limit=5, concurrent_limit=10)
    sub = f"quota-alerts-test-{uuid.uuid4().hex[:6]}"
    stack.subscriber().create_subscription(
        name=f"projects/{stack.project}/subscriptions/{sub}",
        topic=f"projects/{stack.project}/topics/quota-alerts",
    )
    for i in range(5):
        body = json.dumps(
            {
                "type": "started",
                "customer_id": customer,
                "pipeline": "p",
                "run_id": f"{customer}-{i}",
            }
        ).encode()
        for _ in range(2):  # every event delivered twice
            stack.publish("pipeline-events", body)
    log = f"`{stack.project}.customers.quota_alert_log`"
    stack.wait_until(
        lambda: (
            stack.query(
                f"SELECT COUNT(*) AS n FROM {log} "
                "WHERE customer_id = @c AND published_at IS NOT NULL",
                {"c": customer},
            )[0]["n"]
            == 2
        ),
        timeout=300,
        what="two alerts published",
    )
    # The lease sweep re-evaluates every customer: no new alert either.
    stack.tick("quota-lease-sweep")
    messages = [m for m in _pull_all(stack, sub, 20) if m.attributes.get("customer") == customer]
    alerts = [json.loads(m.data) for m in messages]
    assert sorted(a["threshold"] for a in alerts) == ["exceeded", "warning"]
    warning = next(a for a in alerts if a["threshold"] == "warning")
    assert warning["used"] == 4 and warning["limit"] == 5 and warning["percent"] == 80.0
    assert warning["metric"] == "daily_pipelines" and warning["plan"] == "STARTER"
    assert _usage(stack, customer)[0] == {
        "pipelines_run": 5,
        "running": 5,
        "warning_sent": True,
        "exceeded": True,
    }


def test_malformed_event_is_dead_lettered(stack: LocalStack) -> None:
    marker = uuid.uuid4().hex
    stack.publish("pipeline-events", json.dumps({"type": "started", "run_id": marker}).encode())
    rows = stack.wait_until(
        lambda: stack.query(
            f"SELECT reason FROM `{stack.project}.ops.dead_letters` "
            "WHERE function = 'quotas' AND TO_BASE64(payload) = @p",
            {
                "p": base64.b64encode(
                    json.dumps({"type": "started", "run_id": marker}).encode()
                ).decode()
            },
        ),
        timeout=60,
        what="dead letter",
    )
    assert rows[0]["reason"] == "invalid_input"


def test_http_api_admits_with_api_key(stack: LocalStack) -> None:
    customer = _customer("http")
    customers.upsert_customer(customer, "STARTER")
    key = api_keys.create_key(customer, "runner")
    url = stack.function_url("quota-api")
    start = requests.post(
        f"{url}/runs/start",
        json={"pipeline": "ext", "run_id": f"{customer}-1"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert start.status_code == 200 and start.json()["admitted"] is True
    bad = requests.post(
        f"{url}/runs/start",
        json={"pipeline": "ext", "run_id": "x"},
        headers={"X-API-Key": key + "x"},
        timeout=30,
    )
    assert bad.status_code == 401
    invalid = requests.post(
        f"{url}/runs/start",
        json={"pipeline": "ext", "run_id": "x" * 300},
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert invalid.status_code == 400 and invalid.json()["problems"]
    done = requests.post(
        f"{url}/runs/finish",
        json={"run_id": f"{customer}-1", "status": "completed"},
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert done.json() == {"run_id": f"{customer}-1", "released": True}
    stored = stack.query(
        f"SELECT key_hash FROM `{stack.project}.customers.customer_api_keys` "
        "WHERE customer_id = @c",
        {"c": customer},
    )
    assert stored == [{"key_hash": api_keys.hash_key(key)}] and key not in str(stored)


def test_members_and_providers_limited_by_plan(stack: LocalStack) -> None:
    from shared.quotas import members

    customer = _customer("team")
    customers.upsert_customer(customer, "STARTER")
    added = [members.add_member(customer, f"m{i}", f"m{i}@example.com") for i in range(3)]
    assert added == [True, True, False]
    assert members.add_member(customer, "m0", "m0@example.com") is False
    assert [members.add_provider(customer, p) for p in ("a", "b", "c", "d")] == [
        True,
        True,
        True,
        False,
    ]


def test_credentials_stored_as_ciphertext(stack: LocalStack) -> None:
    import base64
    import os

    from shared.quotas import credentials

    customer = _customer("cred")
    cipher = credentials.LocalCipher(base64.b64encode(os.urandom(32)).decode())
    credential_id = credentials.store(customer, "aws", b"AKIA-very-secret", cipher)
    rows = stack.query(
        f"SELECT ciphertext, key_ref FROM `{stack.project}.customers.customer_cloud_credentials` "
        "WHERE credential_id = @id",
        {"id": credential_id},
    )
    assert "AKIA" not in str(rows) and rows[0]["key_ref"] == cipher.key_ref
    assert credentials.load(customer, credential_id, cipher) == b"AKIA-very-secret"
