"""Each scheduled sweep on the emulators: lost leases, expired keys, trials, monthly totals."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from devstack.stack import LocalStack
from shared import api_keys, clients
from shared.quotas import admission, alerts, customers, outbox, store, sweeps

pytestmark = pytest.mark.stack


def _customer(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_lease_sweep_through_the_scheduler_tick(stack: LocalStack) -> None:
    customer = _customer("sweep")
    customers.upsert_customer(customer, "STARTER")
    assert admission.start(customer, "p", "crashed-runner", lease_seconds=1).admitted
    time.sleep(1.2)
    stack.tick("quota-lease-sweep")
    stack.wait_until(
        lambda: admission.usage(customer)["leases"] == {}, timeout=60, what="lease reclaimed"
    )
    outbox.drain()
    rows = stack.wait_until(
        lambda: stack.query(
            f"SELECT kind, status FROM `{stack.project}.customers.quota_usage_events` "
            "WHERE customer_id = @c AND kind = 'lost'",
            {"c": customer},
        ),
        timeout=60,
        what="lost event recorded",
    )
    assert rows[0]["status"] == "LOST"


def test_expired_keys_are_deactivated(stack: LocalStack) -> None:
    customer = _customer("keys")
    old_id, _ = api_keys.create_key(
        customer, ["runs"], expires_at=datetime.now(UTC) - timedelta(minutes=1)
    )
    live_id, _ = api_keys.create_key(
        customer, ["runs"], expires_at=datetime.now(UTC) + timedelta(days=1)
    )
    forever_id, _ = api_keys.create_key(customer, ["runs"])
    assert api_keys.deactivate_expired() >= 1
    state = {
        s.get("key_id"): s.get("active")
        for s in clients.firestore()
        .collection(api_keys.COLLECTION)
        .where(filter=FieldFilter("customer_id", "==", customer))
        .stream()
    }
    assert state == {old_id: False, live_id: True, forever_id: True}
    assert api_keys.deactivate_expired() == 0  # nothing twice


def test_trial_ending_alert_once(stack: LocalStack) -> None:
    customer = _customer("trial")
    customers.upsert_customer(
        customer, "SCALE", status="TRIAL", trial_ends_at=datetime.now(UTC) + timedelta(days=3)
    )
    first = sweeps.trial_alerts()
    assert first >= 1
    marker_ids = [
        s.id
        for s in clients.firestore()
        .collection(store.ALERTS)
        .where(filter=FieldFilter("customer", "==", customer))
        .stream()
    ]
    assert len(marker_ids) == 1
    assert sweeps.trial_alerts() == 0  # every trial ending soon already has its marker
    outbox.drain()
    rows = stack.query(
        f"SELECT threshold, period FROM `{stack.project}.customers.quota_alert_log` "
        "WHERE customer_id = @c",
        {"c": customer},
    )
    assert [r["threshold"] for r in rows] == ["trial_ending"]
    assert marker_ids == [alerts.alert_id(customer, rows[0]["period"], "trial", "trial_ending")]


def test_monthly_totals(stack: LocalStack) -> None:
    customer = _customer("month")
    customers.upsert_customer(customer, "STARTER")
    for i in range(3):
        assert admission.start(customer, "p", f"r{i}", api_call=True).admitted
    outbox.drain()
    sweeps.refresh_record()
    assert sweeps.monthly_totals() >= 1
    rows = stack.query(
        f"SELECT month_pipelines_run, month_api_calls "
        f"FROM `{stack.project}.customers.customer_usage_quotas` WHERE customer_id = @c",
        {"c": customer},
    )
    assert rows == [{"month_pipelines_run": 3, "month_api_calls": 3}]
