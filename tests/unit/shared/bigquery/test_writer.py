"""Group commit over the Storage Write API, with a fake appender at our own boundary."""

from __future__ import annotations

import concurrent.futures as cf
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from shared.bigquery.protorows import RowEncodingError
from shared.bigquery.writer import (
    RowsRejectedError,
    StorageWriter,
    _PolledFuture,
    row_errors,
    shorten_open_poll,
    stream_path,
)
from shared.errors import PermanentError, TransientError
from shared.retry import RetryPolicy
from tests.unit.shared.bigquery.fakes import Done

FAST = RetryPolicy(attempts=3, initial_s=0.0, maximum_s=0.0)


def encode(row: Mapping[str, Any]) -> bytes:
    if row.get("bad"):
        raise RowEncodingError("bad: not a row")
    return json.dumps(dict(row), sort_keys=True).encode()


@dataclass
class RowError:
    index: int
    message: str
    code: str = "FIELDS_ERROR"


class Rejected(gexc.InvalidArgument):
    def __init__(self, indexes: list[int]) -> None:
        errors = [RowError(i, "bad value") for i in indexes]
        response = type("R", (), {"row_errors": errors})
        super().__init__("Rows are invalid", response=response)  # type: ignore[no-untyped-call]


class FakeAppender:
    """Records every append; rows whose JSON has "reject": true are refused like BigQuery."""

    def __init__(self, failures: list[BaseException] | None = None) -> None:
        self.requests: list[list[bytes]] = []
        self.failures = list(failures or [])
        self.resets: list[int] = []
        self.gate: threading.Event | None = None
        self.lock = threading.Lock()

    def append(self, rows: list[bytes], timeout: float) -> tuple[Done, int]:
        if self.gate is not None:
            self.gate.wait(5)
        with self.lock:
            self.requests.append(list(rows))
            if self.failures:
                return Done(self.failures.pop(0)), 7
        bad = [i for i, r in enumerate(rows) if json.loads(r).get("reject")]
        return Done(Rejected(bad) if bad else None), 7

    def reset(self, generation: int) -> None:
        self.resets.append(generation)

    def landed(self) -> list[dict[str, Any]]:
        """Rows of the requests that were accepted (a rejected request lands nothing)."""
        out = []
        for request in self.requests:
            rows = [json.loads(r) for r in request]
            if not any(r.get("reject") for r in rows):
                out.extend(rows)
        return out


def writer(appender: FakeAppender, **kw: Any) -> StorageWriter:
    kw.setdefault("retry", FAST)
    kw.setdefault("sleep", lambda _s: None)
    return StorageWriter("p.d.t", appender, encode, **kw)


def test_stream_path() -> None:
    assert stream_path("p.d.t") == "projects/p/datasets/d/tables/t/streams/_default"


def test_concurrent_callers_share_appends_and_all_rows_land() -> None:
    appender = FakeAppender()
    appender.gate = threading.Event()
    w = writer(appender, max_wait_s=0.05, max_inflight=1)

    def call(i: int) -> None:
        w.write([(f"k{i}", {"id": i})])

    with cf.ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(call, i) for i in range(20)]
        appender.gate.set()
        for f in futures:
            f.result()
    assert sorted(r["id"] for r in appender.landed()) == list(range(20))
    assert len(appender.requests) < 20  # shared appends
    assert w.stats.calls == len(appender.requests)


def test_batches_respect_max_rows() -> None:
    appender = FakeAppender()
    w = writer(appender, max_rows=3, max_wait_s=0.05)
    with cf.ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda i: w.write([(f"k{i}", {"id": i})]), range(10)))
    assert all(len(r) <= 3 for r in appender.requests)
    assert len(appender.landed()) == 10


def test_without_group_commit_each_call_is_one_append() -> None:
    appender = FakeAppender()
    w = writer(appender, group_commit=False)
    for i in range(3):
        w.write([(f"k{i}", {"id": i}), (f"k{i}b", {"id": i})])
    assert [len(r) for r in appender.requests] == [2, 2, 2]


def test_a_rejected_row_fails_its_caller_and_its_neighbours_land() -> None:
    appender = FakeAppender()
    w = writer(appender, max_wait_s=0.05)
    results: dict[int, BaseException | None] = {}

    def call(i: int) -> None:
        rows = [(f"k{i}", {"id": i, "reject": i == 3}), (f"k{i}x", {"id": 100 + i})]
        try:
            w.write(rows)
            results[i] = None
        except BaseException as exc:
            results[i] = exc

    with cf.ThreadPoolExecutor(6) as pool:
        list(pool.map(call, range(6)))
    failed = {i: e for i, e in results.items() if e is not None}
    assert list(failed) == [3]
    assert isinstance(failed[3], RowsRejectedError)
    assert "row k3: FIELDS_ERROR: bad value" in str(failed[3])
    landed = sorted(r["id"] for r in appender.landed())
    assert landed == sorted([i for i in range(6) if i != 3] + [100 + i for i in range(6)])
    assert w.stats.resends >= 1
    assert w.stats.rejected_rows == 1


def test_rows_that_cannot_be_encoded_never_reach_the_stream() -> None:
    appender = FakeAppender()
    w = writer(appender)
    with pytest.raises(RowsRejectedError, match="row b: bad: not a row"):
        w.write([("a", {"id": 1}), ("b", {"bad": True})])
    assert appender.landed() == [{"id": 1}]
    with pytest.raises(RowsRejectedError):
        w.write([("c", {"bad": True})])
    assert len(appender.requests) == 1


def test_transient_failures_are_retried_on_a_fresh_stream() -> None:
    appender = FakeAppender([gexc.ServiceUnavailable("down"), gexc.Aborted("closed")])
    w = writer(appender)
    w.write([("a", {"id": 1})])
    assert appender.landed()[-1] == {"id": 1}
    assert appender.resets == [7, 7]
    assert w.stats.retries == 2


def test_transient_failure_after_the_policy_raises_transient() -> None:
    appender = FakeAppender([gexc.ServiceUnavailable("down")] * 3)
    w = writer(appender)
    with pytest.raises(TransientError):
        w.write([("a", {"id": 1})])
    assert w.stats.batches_failed == 1


def test_deadline_bounds_the_retries() -> None:
    now = [0.0]
    appender = FakeAppender([gexc.ServiceUnavailable("down")] * 3)
    slow = RetryPolicy(attempts=5, initial_s=10.0, maximum_s=10.0)
    w = writer(appender, retry=slow, deadline_s=5.0, clock=lambda: now[0], group_commit=False)
    with pytest.raises(TransientError):
        w.write([("a", {"id": 1})])
    assert len(appender.requests) == 1


def test_permanent_request_errors_are_not_retried() -> None:
    appender = FakeAppender([gexc.NotFound("no such table")])
    w = writer(appender)
    with pytest.raises(PermanentError):
        w.write([("a", {"id": 1})])
    assert len(appender.requests) == 1


def test_row_errors_reads_the_response() -> None:
    message = "FIELDS_ERROR: bad value"
    assert row_errors(Rejected([0, 2])) == {0: message, 2: message}
    assert row_errors(gexc.InvalidArgument("x")) == {}


def test_empty_write_sends_nothing() -> None:
    appender = FakeAppender()
    writer(appender).write([])
    assert appender.requests == []


class Held:
    """An append answered only when its gate opens (an append in flight)."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def result(self, timeout: float | None = None) -> Any:
        assert self.gate.wait(5), "append never released"
        return "ok"


class HeldAppender:
    """Every append stays in flight until the test releases it."""

    def __init__(self) -> None:
        self.requests: list[list[dict[str, Any]]] = []
        self.held: list[Held] = []
        self.lock = threading.Lock()

    def append(self, rows: list[bytes], timeout: float) -> tuple[Held, int]:
        with self.lock:
            self.requests.append([json.loads(r) for r in rows])
            self.held.append(Held())
            return self.held[-1], 1

    def reset(self, generation: int) -> None:
        pass

    def wait_for(self, appends: int) -> None:
        for _ in range(500):
            if len(self.requests) >= appends:
                return
            threading.Event().wait(0.01)
        raise AssertionError(f"{appends} appends never sent: {self.requests}")


def _queued(w: StorageWriter, rows: int) -> None:
    for _ in range(500):
        with w._cond:
            if w._queued_rows >= rows:
                return
        threading.Event().wait(0.01)
    raise AssertionError(f"{rows} rows never queued")


def test_a_partial_batch_waits_for_the_append_in_flight_and_leaves_whole() -> None:
    appender = HeldAppender()
    w = StorageWriter("p.d.t", appender, encode, max_wait_s=0.0, max_inflight=2)
    with cf.ThreadPoolExecutor(4) as pool:
        first = pool.submit(w.write, [("a", {"id": 1})])
        appender.wait_for(1)
        later = [pool.submit(w.write, [(f"k{i}", {"id": i})]) for i in (2, 3)]
        _queued(w, 2)
        threading.Event().wait(0.1)  # the leader had every chance to send a second append
        assert len(appender.requests) == 1  # a partial batch never queues behind another
        appender.held[0].gate.set()
        first.result()
        appender.wait_for(2)
        appender.held[1].gate.set()
        for f in later:
            f.result()
    assert sorted(r["id"] for r in appender.requests[1]) == [2, 3]  # one append, not two


def test_a_full_batch_is_pipelined_behind_the_append_in_flight() -> None:
    appender = HeldAppender()
    w = StorageWriter("p.d.t", appender, encode, max_rows=2, max_wait_s=5.0, max_inflight=2)
    with cf.ThreadPoolExecutor(4) as pool:
        first = pool.submit(w.write, [("a", {"id": 1}), ("b", {"id": 2})])
        appender.wait_for(1)
        second = pool.submit(w.write, [("c", {"id": 3}), ("d", {"id": 4})])
        appender.wait_for(2)  # sent while the first is still in flight
        assert not first.done()
        for held in appender.held:
            held.gate.set()
        first.result()
        second.result()
    assert len(appender.requests) == 2


def test_callers_released_by_an_append_join_the_batch_waiting_behind_it() -> None:
    appender = HeldAppender()
    w = StorageWriter("p.d.t", appender, encode, max_wait_s=0.2, max_inflight=2)

    def twice() -> None:
        w.write([("a1", {"id": 1})])
        w.write([("a2", {"id": 2})])  # at once after its first write was acknowledged

    with cf.ThreadPoolExecutor(4) as pool:
        loop = pool.submit(twice)
        appender.wait_for(1)
        waiting = pool.submit(w.write, [("b", {"id": 3})])
        _queued(w, 1)
        threading.Event().wait(0.3)  # past b's own wait: it is held back by the append in flight
        assert len(appender.requests) == 1
        appender.held[0].gate.set()  # releases a1, whose caller writes a2 at once
        appender.wait_for(2)
        appender.held[1].gate.set()
        loop.result()
        waiting.result()
    assert sorted(r["id"] for r in appender.requests[1]) == [2, 3]


class Later:
    def __init__(self) -> None:
        self.finished = False
        self.calls = 0

    def done(self) -> bool:
        self.calls += 1
        if self.calls >= 3:
            self.finished = True
        return self.finished

    def result(self, timeout: float | None = None) -> Any:
        assert self.finished and timeout == 0
        return "answer"


class Never:
    def done(self) -> bool:
        return False


def test_polled_future_returns_the_answer_once_done_and_times_out_otherwise() -> None:
    assert _PolledFuture(Later()).result(timeout=5) == "answer"
    with pytest.raises(TimeoutError):
        _PolledFuture(Never()).result(timeout=0.01)


def test_the_librarys_open_poll_is_shortened() -> None:
    from google.cloud.bigquery_storage_v1 import writer as library

    shorten_open_poll(library)
    assert library._WRITE_OPEN_INTERVAL <= 0.005  # renamed upstream? then find the new knob
    shorten_open_poll(object())  # a library without the knob is left alone
