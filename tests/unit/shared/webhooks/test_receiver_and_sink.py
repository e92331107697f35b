"""Receiver decisions and the group-commit sink, with fakes at our own boundaries."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from shared.bigquery.writer import StorageWriter
from shared.errors import TransientError
from shared.retry import RetryPolicy
from shared.webhooks.receiver import ReceiverConfig, handle, precheck
from shared.webhooks.settings import SinkSettings
from shared.webhooks.signature import sign
from shared.webhooks.sink import WebhookSink

CONFIG = ReceiverConfig(secrets={"shop": "k1"}, max_body_bytes=100, tolerance_s=300)


class Recorder:
    def __init__(self) -> None:
        self.published: list[tuple[bytes, dict[str, str]]] = []

    def __call__(self, body: bytes, attributes: dict[str, str]) -> str:
        self.published.append((body, attributes))
        return str(len(self.published))


def _headers(body: bytes, ts: int = 1000, secret: str = "k1") -> dict[str, str]:  # noqa: S107
    return {
        "X-Webhook-Timestamp": str(ts),
        "X-Webhook-Signature": sign(secret, ts, body),
        "X-Webhook-Event-Type": "orders/create",
        "X-Webhook-Event-Id": "abc",
    }


def test_accepted_body_is_published_unchanged_with_attributes() -> None:
    publish = Recorder()
    body = b'{"id": 1}'
    answer = handle(CONFIG, "/shop", _headers(body), body, publish, now=1010)
    assert answer.status == 202
    assert publish.published[0][0] == body
    attrs = publish.published[0][1]
    assert attrs["source"] == "shop" and attrs["event_type"] == "orders/create"
    assert attrs["event_id"] == "abc" and attrs["received_at"].startswith("1970-01-01T00:16:50")


@pytest.mark.parametrize(
    ("headers", "now", "status"),
    [
        (_headers(b"{}", secret="wrong"), 1000, 401),
        (_headers(b"{}"), 1000 + 301, 401),
        (_headers(b"{}"), 1000 - 301, 401),
        ({}, 1000, 401),
    ],
)
def test_refusals_publish_nothing(headers: dict[str, str], now: int, status: int) -> None:
    publish = Recorder()
    assert handle(CONFIG, "/shop", headers, b"{}", publish, now=now).status == status
    assert publish.published == []


def test_size_source_and_method_checks() -> None:
    publish = Recorder()
    big = b"x" * 101
    assert handle(CONFIG, "/shop", _headers(big), big, publish, now=1000).status == 413
    assert handle(CONFIG, "/crm", _headers(b"{}"), b"{}", publish, now=1000).status == 404
    assert publish.published == []
    assert precheck(CONFIG, "POST", "/shop", 101) is not None
    assert precheck(CONFIG, "GET", "/shop", 1) is not None
    assert precheck(CONFIG, "POST", "/shop", 100) is None


def test_publish_failure_is_503() -> None:
    def broken(body: bytes, attributes: dict[str, str]) -> str:
        raise ConnectionError("down")

    assert handle(CONFIG, "/shop", _headers(b"{}"), b"{}", broken, now=1000).status == 503


def test_config_from_env_reads_secrets_per_source() -> None:
    config = ReceiverConfig.from_env({"WEBHOOK_SECRET_SHOP": "a", "WEBHOOK_SECRET_PAYMENTS": "b"})
    assert config.secrets == {"shop": "a", "payments": "b"}


class FakeAppend:
    """The Write API appender boundary: records (table, rows) per append, or fails."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, int]] = []
        self.fail = fail
        self.lock = threading.Lock()

    def writer(self, table: str) -> StorageWriter:
        outer = self

        class Appender:
            def append(self, rows: list[bytes], timeout: float) -> tuple[Any, int]:
                with outer.lock:
                    outer.calls.append((table, len(rows)))
                return Done(ConnectionError("BigQuery unreachable") if outer.fail else None), 1

            def reset(self, generation: int) -> None:
                pass

        no_retry = RetryPolicy(attempts=1)
        return StorageWriter(
            table, Appender(), lambda row: repr(row).encode(), max_wait_s=0.05, retry=no_retry
        )


class Done:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def result(self, timeout: float | None = None) -> None:
        if self.error is not None:
            raise self.error


def test_group_commit_shares_append_calls_across_concurrent_requests() -> None:
    appends = FakeAppend()
    sink = WebhookSink(appends.writer, config=SinkSettings())
    barrier = threading.Barrier(20)

    def request(i: int) -> None:
        barrier.wait()
        sink.write(
            {
                "platform_events": [(f"p{i}", {"i": i})],
                "integration_raw_data": [(f"r{i}", {"i": i})],
            }
        )

    threads = [threading.Thread(target=request, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(n for _, n in appends.calls) == 40
    assert len(appends.calls) < 20  # far fewer calls than the 40 of one append per request
    assert set(sink.stats()) == {"platform_events", "integration_raw_data"}


def test_failed_batch_fails_its_requests() -> None:
    sink = WebhookSink(FakeAppend(fail=True).writer, config=SinkSettings())
    with pytest.raises(TransientError):
        sink.write({"platform_events": [("p", {"i": 1})]})
