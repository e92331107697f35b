"""A BigQuery outage during uploads loses nothing once BigQuery is back.

How: a second instance of the uploads function reaches BigQuery through a proxy the test
switches off. Its own bridge (the real ``devstack.bridge``) receives the bucket notifications
through a push subscription on the real notification topic, routed for a bucket of its own.
While BigQuery is unreachable (its REST port and its gRPC Storage Write API port both behind
proxies that refuse every connection) the append fails, the handler raises (transient), the bridge
answers 502 and Pub/Sub redelivers, exactly as Eventarc retries a failed function. When the
proxy is switched on the redeliveries land, and the current view is exactly right.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from devstack.processes import ManagedProcess, StackError, free_port, http_ok
from devstack.stack import NOTIFICATION_TOPIC, REPO, LocalStack
from devstack.tcp_proxy import TcpProxy
from tests.e2e.uploads import helpers


def _spawn(stack: LocalStack, name: str, argv: list[str], env: dict[str, str]) -> ManagedProcess:
    full = {**stack.env, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **env}
    import os

    full = {**os.environ, **full}
    return ManagedProcess(
        name, argv, log_dir=stack.log_dir, env=full, cwd=REPO, registry=stack.registry
    ).start()


def _start_pair(
    stack: LocalStack, bucket_name: str, proxy_port: int, grpc_proxy: str
) -> tuple[ManagedProcess, ManagedProcess, str, int]:
    """The second function instance and its bridge; new ports if one was taken meanwhile
    (free_port() cannot reserve a port against the other sessions sharing this machine)."""
    for attempt in range(3):
        procs: list[ManagedProcess] = []
        try:
            return _try_start_pair(stack, bucket_name, proxy_port, grpc_proxy, procs)
        except StackError:
            for proc in procs:
                proc.stop()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _try_start_pair(
    stack: LocalStack,
    bucket_name: str,
    proxy_port: int,
    grpc_proxy: str,
    procs: list[ManagedProcess],
) -> tuple[ManagedProcess, ManagedProcess, str, int]:
    fport, bport = free_port(), free_port()
    function = _spawn(
        stack,
        "function-uploads-outage",
        [
            str(Path(sys.executable).with_name("functions-framework")),
            "--target=on_object_event",
            f"--source={REPO / 'functions/uploads/main.py'}",
            "--signature-type=cloudevent",
            "--host=127.0.0.1",
            f"--port={fport}",
        ],
        {
            "BIGQUERY_EMULATOR_HOST": f"http://127.0.0.1:{proxy_port}",
            "BIGQUERY_WRITE_EMULATOR_HOST": grpc_proxy,
            "UPLOADS_INSERT_DEADLINE_S": "1",
            "K_SERVICE": "uploads-outage",
        },
    )
    procs.append(function)
    routes = Path(stack.state_dir) / "uploads-outage-routes.json"
    url = f"http://127.0.0.1:{fport}"
    routes.write_text(
        json.dumps(
            [
                {"bucket": bucket_name, "event_type": helpers.FINALIZED, "url": url},
                {"bucket": bucket_name, "event_type": helpers.DELETED, "url": url},
            ]
        )
    )
    bridge = _spawn(
        stack,
        "uploads-outage-bridge",
        [sys.executable, "-m", "devstack.bridge", f"--port={bport}", f"--routes={routes}"],
        {},
    )
    procs.append(bridge)
    function.wait_ready(lambda: http_ok(url, accept_any_status=True))
    bridge.wait_ready(lambda: http_ok(f"http://127.0.0.1:{bport}"))
    return function, bridge, url, bport


def test_bigquery_outage_loses_nothing(stack: LocalStack) -> None:
    from google.api_core import exceptions

    bucket_name = f"{stack.project}-uploads-outage"
    bucket = stack.ensure_bucket(bucket_name)
    proxy = TcpProxy(stack.env["BIGQUERY_EMULATOR_HOST"])  # BigQuery REST (queries)
    proxy.down = True
    grpc_proxy = TcpProxy(stack.env["BIGQUERY_WRITE_EMULATOR_HOST"])  # Storage Write API
    grpc_proxy.down = True
    procs: list[ManagedProcess] = []
    sub = f"projects/{stack.project}/subscriptions/uploads-outage-{uuid.uuid4().hex[:6]}"
    try:
        function, bridge, _url, bport = _start_pair(
            stack, bucket_name, proxy.port, grpc_proxy.address
        )
        procs += [function, bridge]
        stack.subscriber().create_subscription(
            request={
                "name": sub,
                "topic": f"projects/{stack.project}/topics/{NOTIFICATION_TOPIC}",
                "push_config": {"push_endpoint": f"http://127.0.0.1:{bport}/push"},
                "ack_deadline_seconds": 30,
            }
        )

        p = f"c-{uuid.uuid4().hex[:8]}/r"
        names = [f"{p}/image/{i}.png" for i in range(4)]
        for name in names:
            bucket.blob(name).upload_from_string(helpers.PNG, content_type="image/png")
        over = bucket.blob(names[0])
        over.upload_from_string(helpers.PNG + b"v2", content_type="image/png")
        over.reload()
        bucket.blob(names[1]).delete()

        def failures() -> int:
            return function.log_tail(400).count("will be retried")

        stack.wait_until(lambda: failures() >= 3, timeout=60, what="failed deliveries")
        assert helpers.raw_rows(stack, bucket_name, p) == []  # nothing could land

        proxy.down = False
        grpc_proxy.down = False

        def settled() -> list[dict[str, Any]] | None:
            rows = helpers.current(stack, bucket_name, p)
            return rows if len(rows) == 3 else None

        rows = stack.wait_until(settled, timeout=120, interval=1, what="rows after the outage")
        time.sleep(2)  # let straggling redeliveries land too, then check nothing doubled
        rows = helpers.current(stack, bucket_name, p)
        assert [(r["name"], r["status"]) for r in rows] == [
            (names[0], "active"),
            (names[2], "active"),
            (names[3], "active"),
        ]
        assert rows[0]["generation"] == over.generation
        raw = helpers.raw_rows(stack, bucket_name, p)
        keys = {(r["name"], r["generation"], r["event_kind"]) for r in raw}
        assert len(keys) == len({r["row_key"] for r in raw})
        assert len(keys) >= 6  # 4 uploads + overwrite + delete (fake-gcs may add more deletes)
    finally:
        with contextlib.suppress(exceptions.NotFound):
            stack.subscriber().delete_subscription(subscription=sub)
        for proc in reversed(procs):
            proc.stop()
        proxy.close()
        grpc_proxy.close()
