"""The group-commit sink, with fakes at our own boundaries (receiver: test_receiver.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from shared.bigquery.writer import StorageWriter
from shared.errors import PermanentError, TransientError
from shared.retry import RetryPolicy
from shared.webhooks.settings import SinkSettings
from shared.webhooks.sink import WebhookSink
from tests.unit.shared.bigquery.fakes import Done


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


class _Fixed:
    def __init__(
        self, errors: dict[str, BaseException | None], seen: list[str], table: str
    ) -> None:
        self.errors, self.seen, self.table = errors, seen, table

    def write(self, rows: Any) -> None:
        self.seen.append(self.table)
        error = self.errors[self.table]
        if error is not None:
            raise error


def test_tables_are_written_together_and_a_transient_failure_wins() -> None:
    seen: list[str] = []
    errors: dict[str, BaseException | None] = {
        "integration_raw_data": TransientError("down"),
        "platform_events": PermanentError("rows_rejected", "bad"),
    }
    sink = WebhookSink(lambda t: _Fixed(errors, seen, t), config=SinkSettings())
    rows: dict[str, list[tuple[str, dict[str, Any]]]] = {
        "integration_raw_data": [("r", {})],
        "platform_events": [("p", {})],
    }
    with pytest.raises(TransientError):  # redelivered, never dead-lettered half-written
        sink.write(rows)
    assert sorted(seen) == ["integration_raw_data", "platform_events"]
    errors["integration_raw_data"] = None
    with pytest.raises(PermanentError):
        sink.write(rows)
