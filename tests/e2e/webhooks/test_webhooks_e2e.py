"""Webhooks end to end through the real Pub/Sub emulator, functions-framework and BigQuery
(direct publishes; the receiver and each sender: test_senders_e2e.py)."""

from __future__ import annotations

import json
import random
import time
import uuid
from typing import Any

import pytest

from devstack.stack import LocalStack
from shared.webhooks import samples

pytestmark = pytest.mark.stack
TOPIC = "webhook-events"


def _count(stack: LocalStack, sql: str, **params: Any) -> int:
    rows = stack.query(sql, params)
    return int(rows[0]["n"])


def _payment(event_id: str, amount: int = 1000) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": "charge.succeeded",
            "created": int(time.time()) - 60,
            "data": {
                "object": {
                    "id": f"ch_{event_id}",
                    "object": "charge",
                    "amount": amount,
                    "currency": "eur",
                }
            },
        }
    ).encode()


def test_samples_land_once_when_published_three_times_out_of_order(stack: LocalStack) -> None:
    run = uuid.uuid4().hex[:8]
    messages: list[tuple[bytes, dict[str, str]]] = []
    for i in range(6):
        messages.append((_payment(f"evt_{run}_{i}", 100 * (i + 1)), {"source": "payments"}))
    body, attrs = samples.load("shopify_order_created")
    attrs = {**attrs, "event_id": f"shop-{run}"}
    messages.append((body, attrs))
    copies = messages * 3
    random.Random(7).shuffle(copies)
    for data, attributes in copies:
        stack.publish(TOPIC, data, **attributes)
    ids = [f"evt_{run}_{i}" for i in range(6)]
    stack.wait_until(
        lambda: (
            _count(
                stack,
                "SELECT COUNT(*) AS n FROM `demo-local.warehouse.integration_raw_data` "
                "WHERE provider_event_id IN UNNEST(@ids) OR provider_event_id = @shop",
                ids=ids,
                shop=f"shop-{run}",
            )
            >= 21
        ),
        timeout=90,
        what="21 raw copies",
    )
    current = stack.query(
        "SELECT entity_id, amount FROM `demo-local.warehouse.platform_events_current` "
        "WHERE entity_id IN UNNEST(@charges) ORDER BY entity_id",
        {"charges": [f"ch_{i}" for i in ids]},
    )
    assert len(current) == 6
    assert sum(float(r["amount"]) for r in current) == pytest.approx(21.0)
    raw_current = _count(
        stack,
        "SELECT COUNT(*) AS n FROM `demo-local.warehouse.integration_raw_data_current` "
        "WHERE provider_event_id IN UNNEST(@ids) OR provider_event_id = @shop",
        ids=ids,
        shop=f"shop-{run}",
    )
    assert raw_current == 7
    orders = stack.query(
        "SELECT amount, currency, occurred_at FROM `demo-local.warehouse.platform_events_current` "
        "WHERE event_type = 'order.created' AND event_key IN (SELECT event_key FROM "
        "`demo-local.warehouse.integration_raw_data` WHERE provider_event_id = @shop)",
        {"shop": f"shop-{run}"},
    )
    assert len(orders) == 1 and orders[0]["currency"] == "EUR"
    assert float(orders[0]["amount"]) == pytest.approx(199.65)


def test_invalid_messages_are_dead_lettered_and_unknown_types_kept_raw(stack: LocalStack) -> None:
    run = uuid.uuid4().hex[:8]
    bad = {
        "invalid_json": (b"{not json " + run.encode(), {"source": "payments"}),
        "invalid_payload": (
            json.dumps({"id": f"evt_bad_{run}", "type": "charge.succeeded", "created": 1}).encode(),
            {"source": "payments"},
        ),
        "invalid_attributes": (json.dumps({"run": run}).encode(), {}),
        "oversize": (
            b'{"pad": "' + b"x" * (1024 * 1024) + run.encode() + b'"}',
            {"source": "shop"},
        ),
    }
    for data, attributes in bad.values():
        stack.publish(TOPIC, data, **attributes)
    unknown_id = f"evt_unknown_{run}"
    stack.publish(
        TOPIC,
        json.dumps({"id": unknown_id, "type": "customer.created", "created": 1763633700}).encode(),
        source="payments",
    )
    stack.publish(TOPIC, json.dumps({"hello": run}).encode(), source="crm")

    def letters() -> dict[str, Any]:
        rows = stack.query(
            "SELECT reason, payload, topic FROM `demo-local.ops.dead_letters_current` "
            "WHERE function = 'webhooks' "
            "AND received_at > TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 10 MINUTE)"
        )
        found = {}
        for row in rows:
            payload = row["payload"]
            if isinstance(payload, str):
                import base64

                payload = base64.b64decode(payload)
            if run.encode() in payload or f"evt_bad_{run}".encode() in payload:
                found[row["reason"]] = row
        return found if len(found) == len(bad) else {}

    found = stack.wait_until(letters, timeout=90, what="dead letters")
    assert set(found) == set(bad)
    assert all(row["topic"] == TOPIC for row in found.values())
    statuses = stack.wait_until(
        lambda: (
            {
                r["mapping_status"]
                for r in stack.query(
                    "SELECT mapping_status "
                    "FROM `demo-local.warehouse.integration_raw_data_current` "
                    "WHERE provider_event_id = @id "
                    "OR (source = 'crm' AND JSON_VALUE(payload, '$.hello') = @run)",
                    {"id": unknown_id, "run": run},
                )
            }
            >= {"unknown_event_type", "unknown_source"}
            or None
        ),
        timeout=60,
        what="unknown types in raw",
    )
    assert statuses
