"""The admission API through functions-framework: one key module, tenant isolation, counting."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from google.cloud.firestore_v1.base_query import FieldFilter

from devstack.stack import LocalStack
from shared import api_keys, clients
from shared.quotas import admission, customers, outbox, sweeps

pytestmark = pytest.mark.stack


def _customer(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _post(stack: LocalStack, route: str, key: str | None, body: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.post(
        f"{stack.function_url('quota-api')}/runs/{route}", json=body, headers=headers, timeout=60
    )


def test_unknown_expired_and_inactive_keys_get_one_401(stack: LocalStack) -> None:
    customer = _customer("k401")
    customers.upsert_customer(customer, "STARTER")
    _, valid = api_keys.create_key(customer, ["runs"])
    _, expired = api_keys.create_key(
        customer, ["runs"], expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    inactive_id, inactive = api_keys.create_key(customer, ["runs"])
    assert api_keys.deactivate(inactive_id)
    body = {"pipeline": "p", "run_id": "r"}
    refused = [
        _post(stack, "start", key, body)
        for key in (None, "pk_0000_nope", valid + "x", expired, inactive)
    ]
    assert [r.status_code for r in refused] == [401] * 5
    assert len({r.text for r in refused}) == 1
    assert admission.usage(customer)["admitted"] == 0


def test_wrong_scope_is_403(stack: LocalStack) -> None:
    customer = _customer("k403")
    customers.upsert_customer(customer, "STARTER")
    _, reader = api_keys.create_key(customer, ["refresh:read"])
    answer = _post(stack, "start", reader, {"pipeline": "p", "run_id": "r"})
    assert answer.status_code == 403
    assert admission.usage(customer)["admitted"] == 0


def test_a_key_acts_only_on_its_own_customer(stack: LocalStack) -> None:
    a, b = _customer("iso-a"), _customer("iso-b")
    keys = {}
    for customer in (a, b):
        customers.upsert_customer(customer, "STARTER")
        keys[customer] = api_keys.create_key(customer, ["runs"])[1]
    for customer in (a, b):  # both choose the same run id
        started = _post(stack, "start", keys[customer], {"pipeline": "p", "run_id": "same"})
        assert started.status_code == 200 and started.json()["customer_id"] == customer
    claimed = {"run_id": "same", "status": "completed", "customer_id": b}
    assert _post(stack, "finish", keys[a], claimed).status_code == 403
    assert (
        _post(stack, "heartbeat", keys[a], {"run_id": "same", "customer_id": b}).status_code == 403
    )
    assert "same" in admission.usage(b)["leases"]
    done = _post(stack, "finish", keys[a], {"run_id": "same", "status": "completed"})
    assert done.json() == {"run_id": "same", "released": True}
    assert "same" not in admission.usage(a)["leases"]
    assert "same" in admission.usage(b)["leases"]  # b's run with the same id is untouched
    assert _post(stack, "heartbeat", keys[a], {"run_id": "same"}).status_code == 409
    assert _post(stack, "heartbeat", keys[b], {"run_id": "same"}).status_code == 200


def test_refused_calls_are_counted_and_last_used_is_kept(stack: LocalStack) -> None:
    customer = _customer("count")
    customers.upsert_customer(customer, "STARTER", daily_limit=5, concurrent_limit=10)
    key_id, key = api_keys.create_key(customer, ["runs"])
    statuses = [
        _post(stack, "start", key, {"pipeline": "p", "run_id": f"r{i}"}).status_code
        for i in range(8)
    ]
    assert statuses == [200] * 5 + [429] * 3
    invalid = _post(stack, "start", key, {"pipeline": "p", "run_id": "x" * 300})
    assert invalid.status_code == 400 and invalid.json()["problems"]
    stored = [
        s.to_dict() or {}
        for s in clients.firestore()
        .collection(api_keys.COLLECTION)
        .where(filter=FieldFilter("key_id", "==", key_id))
        .stream()
    ]
    assert len(stored) == 1 and stored[0]["last_used_at"] is not None
    assert key not in str(stored)
    outbox.drain()
    sweeps.refresh_record()
    rows = stack.query(
        f"SELECT pipelines_run, api_calls FROM `{stack.project}.customers.customer_usage_quotas` "
        "WHERE customer_id = @c",
        {"c": customer},
    )
    assert rows == [{"pipelines_run": 5, "api_calls": 8}]
