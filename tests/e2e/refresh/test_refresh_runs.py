"""Refresh runs end to end: Pub/Sub emulator -> push subscription -> refresh function ->
BigQuery emulator. Test-only knobs travel in the message's ``test`` object (honoured only
with APP_ENV=local): injected faults at the orchestrator's statement boundary, a short
deadline, extra webhook URLs."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from devstack.stack import LocalStack
from shared.refresh import seed
from shared.refresh.retries import QUEUE, task_id

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("refresh_retries_purged")]
AS_OF = date(2026, 3, 20)
RUNS = "`demo-local.ops.refresh_runs_current`"


@pytest.fixture(scope="module")
def seeded(stack: LocalStack) -> LocalStack:
    seed.load(stack.bigquery(), stack.project, AS_OF, days=14)
    return stack


def trigger(stack: LocalStack, **body: Any) -> str:
    run_id = body.setdefault("run_id", f"t-{uuid.uuid4().hex[:10]}")
    body.setdefault("as_of", AS_OF.isoformat())
    stack.publish("refresh-requests", json.dumps(body).encode())
    return str(run_id)


def retry_tasks(stack: LocalStack) -> list[Any]:
    """The tasks waiting on the local refresh-retries queue."""
    return list(stack.tasks().list_tasks(parent=stack.queue_path(QUEUE)))


def rows(stack: LocalStack, run_id: str) -> list[dict[str, Any]]:
    return stack.query(
        f"SELECT * FROM {RUNS} WHERE run_id = @r ORDER BY started_at, attempt", {"r": run_id}
    )


def wait_final(stack: LocalStack, run_id: str, tables: set[str], timeout: float = 300) -> Any:
    final = ("success", "failed", "skipped", "locked", "dry_run")

    def check() -> Any:
        got = rows(stack, run_id)
        done = {r["table_name"] for r in got if r["status"] in final}
        return got if tables <= done else None

    return stack.wait_until(check, timeout=timeout, interval=1.0, what=f"run {run_id}")


ALL = {
    "campaign_performance_daily",
    "platform_events_daily",
    "campaign_roi_daily",
    "usage_by_customer_daily",
    "uploads_by_customer",
}


def test_order_by_dependency_then_priority_and_incremental(seeded: LocalStack) -> None:
    run_id = trigger(seeded, concurrency=1, full_refresh=True)
    got = wait_final(seeded, run_id, ALL)
    order = [r["table_name"] for r in got if r["status"] == "success"]
    assert order == [
        "campaign_performance_daily",
        "platform_events_daily",
        "campaign_roi_daily",
        "usage_by_customer_daily",
        "uploads_by_customer",
    ]
    roi = seeded.query("SELECT COUNT(*) AS n FROM `demo-local.warehouse.campaign_roi_daily`")
    assert roi[0]["n"] > 0
    # incremental: a later run touches only partitions after the checkpoint (minus lookback)
    second = trigger(seeded, tables=["platform_events_daily"], as_of="2026-03-22")
    got = wait_final(seeded, second, {"platform_events_daily"})
    ok = [r for r in got if r["status"] == "success"][0]  # noqa: RUF015
    assert ok["partitions_from"] == date(2026, 3, 21)  # checkpoint was 03-20; lookback 2 days
    assert ok["partitions_to"] == date(2026, 3, 22)


def test_transient_failure_retried_with_backoff(seeded: LocalStack) -> None:
    run_id = trigger(
        seeded,
        tables=["uploads_by_customer"],
        test={"faults": {"uploads_by_customer": {"transient": 2}}},
    )
    got = wait_final(seeded, run_id, {"uploads_by_customer"})
    assert [r["status"] for r in got] == ["retrying", "retrying", "success"]
    assert "ServiceUnavailable" in got[0]["error"]
    gap1 = (got[1]["started_at"] - got[0]["finished_at"]).total_seconds()
    gap2 = (got[2]["started_at"] - got[1]["finished_at"]).total_seconds()
    assert gap1 >= 0.25 and gap2 >= 0.5  # retry_initial_s=0.5, jitter in [cap/2, cap]


def test_permanent_failure_skips_only_dependents(seeded: LocalStack) -> None:
    run_id = trigger(
        seeded,
        test={"faults": {"platform_events_daily": {"permanent": "bad column"}}},
    )
    got = wait_final(seeded, run_id, ALL)
    final = {r["table_name"]: r["status"] for r in got}
    assert final["platform_events_daily"] == "failed"
    assert final["campaign_roi_daily"] == "skipped"
    assert {final[t] for t in ALL - {"platform_events_daily", "campaign_roi_daily"}} == {"success"}


def test_deadline_continuation_finishes_without_redoing(seeded: LocalStack) -> None:
    run_id = trigger(
        seeded,
        tables=["campaign_performance_daily", "usage_by_customer_daily"],
        full_refresh=True,
        concurrency=2,
        test={
            "deadline_s": 0.5,
            "faults": {
                "campaign_performance_daily": {"sleep_s": 0.6},
                "usage_by_customer_daily": {"sleep_s": 0.6},
            },
        },
    )
    got = wait_final(seeded, run_id, {"campaign_performance_daily", "usage_by_customer_daily"})
    for table in ("campaign_performance_daily", "usage_by_customer_daily"):
        mine = [r for r in got if r["table_name"] == table]
        assert [r["status"] for r in mine].count("success") == 1
        assert any(r["status"] == "continued" for r in mine)
        assert max(r["invocation"] for r in mine) >= 1
        spans = [(r["partitions_from"], r["partitions_to"]) for r in mine if r["partitions_to"]]
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):  # noqa: RUF007
            assert start > end, f"{table} refreshed a partition twice: {spans}"


def test_concurrent_second_run_does_not_refresh_same_table(seeded: LocalStack) -> None:
    slow = {"faults": {"uploads_by_customer": {"sleep_s": 20}}}
    first = trigger(seeded, tables=["uploads_by_customer"], test=slow)
    seeded.wait_until(
        lambda: seeded.query(
            "SELECT run_id FROM `demo-local.ops.refresh_leases` WHERE table_name ="
            " 'uploads_by_customer' AND run_id = @r AND holder IS NOT NULL",
            {"r": first},
        ),
        timeout=60,
        what="first run holds the lease",
    )
    second = trigger(seeded, tables=["uploads_by_customer"])
    got2 = wait_final(seeded, second, {"uploads_by_customer"})
    assert [r["status"] for r in got2] == ["locked"]
    assert first in got2[0]["error"]
    got1 = wait_final(seeded, first, {"uploads_by_customer"})
    assert [r["status"] for r in got1] == ["success"]
    # the locked run's own window is still owed: delayed retry 1 waits on the queue (60 s);
    # the refresh_retries_purged fixture removes it so it cannot reach into a later test
    task = task_id(second, "uploads_by_customer", 1)
    assert seeded.wait_until(
        lambda: task in {t.name.rsplit("/", 1)[-1] for t in retry_tasks(seeded)},
        timeout=30,
        what="delayed retry of the locked run",
    )


def test_dry_run_writes_no_table(seeded: LocalStack) -> None:
    before = seeded.query(
        "SELECT COUNT(*) AS n, MAX(refreshed_at) AS t FROM `demo-local.warehouse.platform_events_daily`"  # noqa: E501
    )
    checkpoints = seeded.query("SELECT * FROM `demo-local.ops.refresh_checkpoints` ORDER BY 1")
    some = {"platform_events_daily", "uploads_by_customer"}
    run_id = trigger(seeded, tables=sorted(some), dry_run=True, full_refresh=True)
    got = wait_final(seeded, run_id, some)
    assert {r["status"] for r in got} == {"dry_run"}
    after = seeded.query(
        "SELECT COUNT(*) AS n, MAX(refreshed_at) AS t FROM `demo-local.warehouse.platform_events_daily`"  # noqa: E501
    )
    assert after == before
    assert (
        seeded.query("SELECT * FROM `demo-local.ops.refresh_checkpoints` ORDER BY 1") == checkpoints
    )


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []  # noqa: RUF012
    fail_first = 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.fail_first > 0:
            _Receiver.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        _Receiver.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_notification_signed_retried_and_published(seeded: LocalStack, receiver: str) -> None:
    run_id = trigger(seeded, tables=["uploads_by_customer"], test={"notify_urls": [receiver]})
    seeded.wait_until(lambda: _Receiver.received, timeout=90, what="webhook")
    headers, body = _Receiver.received[-1]
    payload = json.loads(body)
    assert payload["run_id"] == run_id and payload["status"] == "success"
    assert payload["text"].startswith(f"Refresh {run_id} success")
    expected = (
        "sha256="
        + hmac.new(
            b"local-dev-notify-secret",
            headers["X-Refresh-Timestamp"].encode() + b"." + body,
            hashlib.sha256,
        ).hexdigest()
    )
    assert hmac.compare_digest(headers["X-Refresh-Signature"], expected)


def test_shadow_run_writes_shadow_table_and_reports_the_difference(seeded: LocalStack) -> None:
    live = "`demo-local.warehouse.platform_events_daily`"
    shadow = "`demo-local.warehouse.platform_events_daily__shadow`"
    # the shadow run rebuilds the backfill window (14 days up to AS_OF); partitions outside it
    # (history, or rows other tests refreshed for other dates) are not compared
    first = AS_OF - timedelta(days=13)
    window = f"event_date BETWEEN DATE '{first}' AND DATE '{AS_OF}'"
    base = trigger(seeded, tables=["platform_events_daily"], full_refresh=True)
    wait_final(seeded, base, {"platform_events_daily"})
    before = seeded.query(f"SELECT COUNT(*) AS n FROM {live} WHERE {window}")[0]["n"]
    assert before > 0
    # the live table drifts from its definition: rows lost inside the window
    seeded.query(
        f"DELETE FROM {live} WHERE event_date = (SELECT MIN(event_date) FROM {live}"
        f" WHERE {window}) AND platform = (SELECT MIN(platform) FROM {live} WHERE {window})"
    )
    drifted = seeded.query(f"SELECT COUNT(*) AS n FROM {live} WHERE {window}")[0]["n"]
    assert drifted < before
    # history older than the backfill window is not a difference
    seeded.query(
        f"INSERT INTO {live} (platform, event_type, event_date, events, accounts, refreshed_at)"
        " VALUES ('old', 'old.event', DATE '2001-01-01', 1, 1, CURRENT_TIMESTAMP())"
    )
    drifted_state = seeded.query(f"SELECT COUNT(*) AS n, MAX(refreshed_at) AS at FROM {live}")[0]

    run_id = trigger(seeded, tables=["platform_events_daily"], shadow=["platform_events_daily"])
    got = wait_final(seeded, run_id, {"platform_events_daily"})
    (done,) = [r for r in got if r["status"] == "success"]
    diff = json.loads(done["shadow_diff"])
    assert diff == {"only_in_shadow": before - drifted, "only_in_live": 0}
    # the shadow holds the full result of the window; the live table was not touched
    assert seeded.query(f"SELECT COUNT(*) AS n FROM {shadow} WHERE {window}")[0]["n"] == before
    after = seeded.query(f"SELECT COUNT(*) AS n, MAX(refreshed_at) AS at FROM {live}")[0]
    assert after == drifted_state


def test_failed_table_gets_delayed_retries_through_cloud_tasks(seeded: LocalStack) -> None:
    # 5 injected backendErrors: the 4 in-run attempts (retries=3) fail, the run ends `failed`
    # and schedules delayed retry 1 as a Cloud Task; it fails once more, then succeeds.
    # retry_delay_scale (local only) shrinks the policy's 60 s to 1.2 s.
    run_id = trigger(
        seeded,
        tables=["uploads_by_customer"],
        test={"faults": {"uploads_by_customer": {"transient": 5}}, "retry_delay_scale": 0.02},
    )

    def retried() -> Any:
        got = rows(seeded, run_id)
        return got if any(r["status"] == "success" for r in got) else None

    got = seeded.wait_until(retried, timeout=300, interval=1.0, what="delayed retry")
    first = [r for r in got if r["delayed_attempt"] == 0]
    second = [r for r in got if r["delayed_attempt"] == 1]
    assert [r["status"] for r in first] == ["retrying", "retrying", "retrying", "failed"]
    assert [r["status"] for r in second] == ["retrying", "success"]
    assert {r["run_type"] for r in second} == {"retry"}
    assert [r["attempt"] for r in got] == [1, 2, 3, 4, 5, 6]  # numbering continues
    # scheduled with its own schedule_time: not before the policy's (scaled) delay
    assert (second[0]["started_at"] - first[-1]["finished_at"]).total_seconds() >= 1.2


def test_delayed_retries_stop_after_three_attempts(seeded: LocalStack) -> None:
    run_id = trigger(
        seeded,
        tables=["uploads_by_customer"],
        test={"faults": {"uploads_by_customer": {"transient": 1000}}, "retry_delay_scale": 0.02},
    )

    def exhausted() -> Any:
        got = rows(seeded, run_id)
        last = [r for r in got if r["delayed_attempt"] == 3 and r["status"] == "failed"]
        return got if last else None

    got = seeded.wait_until(exhausted, timeout=300, interval=1.0, what="three delayed retries")
    assert sorted({r["delayed_attempt"] for r in got}) == [0, 1, 2, 3]
    assert [r["status"] for r in got].count("failed") == 4
    # nothing left on the queue: the third delayed attempt scheduled no fourth
    assert [t.name for t in retry_tasks(seeded) if run_id[:20] in t.name] == []
