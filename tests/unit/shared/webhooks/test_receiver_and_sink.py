"""The group-commit sink, with fakes at our own boundaries (receiver: test_receiver.py)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest

from shared.webhooks.sink import WebhookSink


class FakeInsert:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, int]] = []
        self.fail = fail
        self.lock = threading.Lock()

    def __call__(self, table: str, rows: list[Mapping[str, Any]], row_ids: list[str]) -> list[Any]:
        with self.lock:
            self.calls.append((table, len(rows)))
        if self.fail:
            raise ConnectionError("BigQuery unreachable")
        return []


def test_group_commit_shares_insert_calls_across_concurrent_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROJECT_ID", "demo-local")
    monkeypatch.setenv("APP_ENV", "dev")
    from shared import settings

    for var in settings.EMULATOR_VARS:  # a started stack exports them into this process
        monkeypatch.delenv(var, raising=False)

    settings.get_settings.cache_clear()
    insert = FakeInsert()
    sink = WebhookSink(insert, group_commit=True, max_wait_s=0.05)
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
    settings.get_settings.cache_clear()
    assert sum(n for _, n in insert.calls) == 40
    assert len(insert.calls) < 20  # far fewer calls than the 40 of one insert per request


def test_failed_batch_fails_its_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECT_ID", "demo-local")
    monkeypatch.setenv("APP_ENV", "dev")
    from shared import settings

    for var in settings.EMULATOR_VARS:  # a started stack exports them into this process
        monkeypatch.delenv(var, raising=False)

    settings.get_settings.cache_clear()
    sink = WebhookSink(FakeInsert(fail=True), group_commit=True, max_wait_s=0.001)
    with pytest.raises(ConnectionError):
        sink.write({"platform_events": [("p", {"i": 1})]})
    settings.get_settings.cache_clear()
