"""A BigQuery outage mid-stream loses nothing; dead letters replay once after a fix."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest

from devstack import bootstrap
from devstack.processes import ManagedProcess, http_ok
from devstack.stack import REPO, FunctionSpec, LocalStack
from devstack.tcp_proxy import TcpProxy
from shared.webhooks import replay

pytestmark = pytest.mark.stack
OUTAGE_TOPIC = "webhooks-outage-test"


def _charge(event_id: str) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": "charge.succeeded",
            "created": int(time.time()) - 60,
            "data": {"object": {"id": f"ch_{event_id}", "amount": 500, "currency": "usd"}},
        }
    ).encode()


class Outage:
    """The Write API (gRPC) port of one function instance behind a proxy we can cut."""

    def __init__(self, proxy: TcpProxy, process: ManagedProcess) -> None:
        self.proxy = proxy
        self.process = process

    @property
    def down(self) -> bool:
        return self.proxy.down

    @down.setter
    def down(self, value: bool) -> None:
        self.proxy.down = value

    @property
    def failed(self) -> int:
        """Deliveries the function failed back to Pub/Sub (transient: redelivered)."""
        return self.process.log_tail(2000).count("will be retried")


@pytest.fixture
def outage_function(stack: LocalStack) -> Iterator[Outage]:
    """A second instance of the webhooks function whose Storage Write API endpoint is a TCP
    proxy we can cut, fed by its own topic and push subscription (the main one keeps working).
    Cutting it breaks the live gRPC stream mid-flight and refuses reconnects."""
    with TcpProxy(stack.env["BIGQUERY_WRITE_EMULATOR_HOST"]) as proxy:
        spec = FunctionSpec(
            "webhooks-outage",
            REPO / "functions" / "webhooks",
            "ingest",
            env={"BIGQUERY_WRITE_EMULATOR_HOST": proxy.address, "WEBHOOKS_INSERT_DEADLINE_S": "2"},
            concurrency=16,
        )
        process = stack._spawn_function(spec)
        url = stack.function_urls[spec.name]
        process.wait_ready(lambda: http_ok(url, accept_any_status=True))
        bootstrap.create_topics(stack.publisher(), stack.project, [OUTAGE_TOPIC])
        sub = {
            "name": f"{OUTAGE_TOPIC}-push",
            "topic": OUTAGE_TOPIC,
            "push_function": spec.name,
            "ack_deadline_seconds": 30,
        }
        bootstrap.create_subscriptions(
            stack.subscriber(), stack.project, [sub], stack._push_endpoint
        )
        try:
            yield Outage(proxy, process)
        finally:
            stack.subscriber().delete_subscription(
                subscription=f"projects/{stack.project}/subscriptions/{sub['name']}"
            )
            process.stop()
            stack.processes.pop(f"function-{spec.name}", None)


def test_bigquery_outage_mid_stream_loses_nothing(
    stack: LocalStack, outage_function: Outage
) -> None:
    run = uuid.uuid4().hex[:8]
    ids = [f"evt_outage_{run}_{i}" for i in range(30)]
    for event_id in ids[:10]:
        stack.publish(OUTAGE_TOPIC, _charge(event_id), source="payments")

    def landed() -> int:
        rows = stack.query(
            "SELECT COUNT(*) AS n FROM `demo-local.warehouse.platform_events_current` "
            "WHERE entity_id IN UNNEST(@ids)",
            {"ids": [f"ch_{i}" for i in ids]},
        )
        return int(rows[0]["n"])

    stack.wait_until(lambda: landed() >= 10, timeout=60, what="first 10 before the outage")
    outage_function.down = True  # the open stream breaks mid-flight
    for event_id in ids[10:]:
        stack.publish(OUTAGE_TOPIC, _charge(event_id), source="payments")
    stack.wait_until(lambda: outage_function.failed >= 10, timeout=90, what="failed appends")
    assert landed() == 10
    outage_function.down = False
    stack.wait_until(lambda: landed() == 30, timeout=120, what="all 30 after the outage")
    letters = stack.query(
        "SELECT COUNT(*) AS n FROM `demo-local.ops.dead_letters` "
        "WHERE STRPOS(SAFE_CONVERT_BYTES_TO_STRING(payload), @run) > 0",
        {"run": run},
    )
    assert int(letters[0]["n"]) == 0
    assert outage_function.failed >= 10


def test_replay_republishes_chosen_dead_letters_once(stack: LocalStack) -> None:
    run = uuid.uuid4().hex[:8]
    # an event whose `created` is naive-invalid today: a "fix" is simulated by replaying a
    # letter whose original bytes are valid but whose attributes were wrong (unknown
    # event_type format) -> dead letter; after the fix the attributes are accepted.
    body = _charge(f"evt_replay_{run}")
    stack.publish("webhook-events", body, source="payments", event_type="bad type!")

    def letter() -> list[dict[str, object]]:
        return [
            r
            for r in replay.find(source="payments", reason="invalid_attributes")
            if run.encode() in replay._payload(r["payload"])
        ]

    found = stack.wait_until(letter, timeout=60, what="dead letter")
    ids = [str(r["dead_letter_id"]) for r in found]
    fixed = [{**r, "attributes": json.dumps({"source": "payments"})} for r in found]
    done = replay.replay(fixed, by="test")
    assert len(done) == 1
    stack.wait_until(
        lambda: stack.query(
            "SELECT 1 FROM `demo-local.warehouse.platform_events_current` WHERE entity_id = @id",
            {"id": f"ch_evt_replay_{run}"},
        ),
        timeout=60,
        what="replayed event landed",
    )
    # a second replay of the same letters is a no-op: they are listed as replayed
    assert replay.find(ids) == []
    assert replay.main(["--id", ids[0]]) == 0
    count = stack.query(
        "SELECT COUNT(*) AS n FROM `demo-local.ops.dead_letter_replays` "
        "WHERE dead_letter_id IN UNNEST(@ids)",
        {"ids": ids},
    )
    assert int(count[0]["n"]) == 1
