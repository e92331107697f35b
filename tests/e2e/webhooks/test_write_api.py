"""The Storage Write API path on the real local BigQuery: redeliveries, per-row rejections.

- Every webhook shape (payments, shop, ad-platform metrics and audience insights) published
  three times in shuffled order through Pub/Sub and the webhooks function: the base tables hold
  every copy (the redeliveries really were written) and every ``*_current`` view exactly one.
- A row BigQuery itself rejects (a NUMERIC beyond its range passes our encoder, the server
  refuses it) inside a shared append: its event is dead-lettered with the reason by the real
  handler, and every neighbour of the same append lands.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest

from devstack.stack import LocalStack
from shared.bigquery.writer import RowsRejectedError, table_writer
from shared.errors import PermanentError
from shared.webhooks import samples

pytestmark = pytest.mark.stack
TOPIC = "webhook-events"


def _count(stack: LocalStack, table: str, where: str, **params: Any) -> int:
    rows = stack.query(
        f"SELECT COUNT(*) AS n FROM `demo-local.warehouse.{table}` WHERE {where}", params
    )
    return int(rows[0]["n"])


def _messages(run: str) -> list[tuple[bytes, dict[str, str]]]:
    out: list[tuple[bytes, dict[str, str]]] = []
    for i in range(3):
        charge = {
            "id": f"evt_w_{run}_{i}",
            "type": "charge.succeeded",
            "created": int(time.time()) - 60,
            "data": {"object": {"id": f"ch_w_{run}_{i}", "amount": 100 + i, "currency": "usd"}},
        }
        out.append((json.dumps(charge).encode(), {"source": "payments"}))
    for name in ("adplatform_campaign_metrics", "adplatform_audience_insights"):
        body, attributes = samples.load(name)
        event = json.loads(body)
        event["id"] = f"{event['id']}_{run}"
        event["account"]["id"] = f"act_{run}"
        out.append((json.dumps(event).encode(), attributes))
    return out


def test_three_shuffled_deliveries_leave_zero_duplicates_in_every_current_view(
    stack: LocalStack,
) -> None:
    run = uuid.uuid4().hex[:8]
    copies = _messages(run) * 3
    random.Random(run).shuffle(copies)
    for data, attributes in copies:
        stack.publish(TOPIC, data, **attributes)
    account = f"act_{run}"
    expected = {  # table: (filter, rows per delivery)
        "platform_events": ("STARTS_WITH(entity_id, @charge)", 3),
        "campaign_metrics": ("account_id = @account", 1),
        "audience_insights": ("account_id = @account", 3),
        "integration_raw_data": (
            "ENDS_WITH(provider_event_id, @run) OR STRPOS(provider_event_id, @mid) > 0",
            5,
        ),
    }
    params = {"charge": f"ch_w_{run}_", "account": account, "run": f"_{run}", "mid": f"_{run}_"}

    def all_copies() -> bool:
        return all(
            _count(stack, table, where, **params) >= 3 * per
            for table, (where, per) in expected.items()
        )

    stack.wait_until(all_copies, timeout=120, interval=1, what="three copies of every row")
    for table, (where, per) in expected.items():
        assert _count(stack, table, where, **params) == 3 * per, table
        assert _count(stack, f"{table}_current", where, **params) == per, f"{table}_current"


def test_a_row_bigquery_rejects_is_dead_lettered_and_its_append_neighbours_land(
    stack: LocalStack,
) -> None:
    from cloudevents.http import CloudEvent

    from shared.handler import cloud_event_handler

    run = uuid.uuid4().hex[:8]
    writer = table_writer("platform_events", max_wait_s=0.5)  # one shared append for all
    barrier = threading.Barrier(6)
    outcomes: dict[int, str] = {}

    def row(i: int) -> tuple[str, dict[str, Any]]:
        amount = Decimal("1e40") if i == 2 else Decimal(i)  # NUMERIC tops out near 1e29
        key = f"bad_{run}_{i}"
        return key, {
            "event_key": key,
            "platform": "payments",
            "event_type": "charge.succeeded",
            "entity_id": key,
            "amount": str(amount),
            "occurred_at": "2026-11-20T06:00:00Z",
            "message_id": key,
            "ingested_at": "2026-11-20T06:00:01Z",
        }

    @cloud_event_handler("writes-e2e")
    def handle(event: Any) -> None:
        i = int(event["id"].rsplit("-", 1)[1])
        barrier.wait()
        try:
            writer.write([row(i)])
        except RowsRejectedError:
            outcomes[i] = "rejected"
            raise
        outcomes[i] = "written"

    def deliver(i: int) -> None:
        attributes = {
            "id": f"{run}-{i}",
            "source": "//e2e/writes",
            "type": "google.cloud.pubsub.topic.v1.messagePublished",
        }
        handle(CloudEvent(attributes, {"message": {"data": "", "messageId": f"{run}-{i}"}}))

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes == {
        0: "written",
        1: "written",
        2: "rejected",
        3: "written",
        4: "written",
        5: "written",
    }
    assert writer.stats.resends >= 1  # the bad row shared an append that was resent without it
    landed = stack.query(
        "SELECT entity_id FROM `demo-local.warehouse.platform_events_current` "
        "WHERE STARTS_WITH(entity_id, @p) ORDER BY entity_id",
        {"p": f"bad_{run}_"},
    )
    assert [r["entity_id"] for r in landed] == [f"bad_{run}_{i}" for i in (0, 1, 3, 4, 5)]
    letters = stack.query(
        "SELECT reason, detail FROM `demo-local.ops.dead_letters_current` "
        "WHERE function = 'writes-e2e' AND event_id = @id",
        {"id": f"{run}-2"},
    )
    assert len(letters) == 1
    assert letters[0]["reason"] == "rows_rejected"
    assert f"bad_{run}_2" in letters[0]["detail"]
    assert issubclass(RowsRejectedError, PermanentError)
