"""The per-customer lane (group commit): a leader decides one batch, then hands the lane on."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from shared.quotas import admission, outbox, store


@pytest.fixture
def commits(monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple[str, list[str]]], threading.Event]:
    """A fake commit that records (thread, run ids of the batch) and holds the first batch until
    the returned gate is set."""
    seen: list[tuple[str, list[str]]] = []
    gate = threading.Event()

    def decide_batch(customer_id: str, profile: Any, batch: list[Any]) -> Any:
        seen.append((threading.current_thread().name, [op.run_id for op in batch]))
        if len(seen) == 1:
            assert gate.wait(10)
        return admission._Outcome(
            {op: admission.AdmissionResult(True, "admitted", "c", op.run_id) for op in batch}
        )

    monkeypatch.setattr(admission, "_decide_batch", decide_batch)
    _quiet_lane(monkeypatch)
    return seen, gate


def _quiet_lane(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Firestore: a known customer, no drain, fresh lanes."""
    monkeypatch.setattr(store, "profile", lambda customer_id: {"status": "ACTIVE"})
    monkeypatch.setattr(outbox, "drain_soon", lambda: None)
    monkeypatch.setattr(admission, "_lanes", {})


def _callers(answers: dict[str, Any]) -> dict[str, threading.Thread]:
    """Three callers of one customer (runs a, b, c), not started yet; each puts its answer in
    ``answers``."""

    def start(run_id: str) -> None:
        answers[run_id] = admission.start("lane-customer", "p", run_id)

    return {r: threading.Thread(target=start, args=(r,), name=f"caller-{r}") for r in "abc"}


def test_a_leader_serves_one_batch_then_hands_the_lane_to_a_waiting_call(
    commits: tuple[list[tuple[str, list[str]]], threading.Event],
) -> None:
    seen, gate = commits
    answers: dict[str, Any] = {}
    threads = _callers(answers)
    threads["a"].start()
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:  # a leads and holds its batch
        time.sleep(0.005)
    threads["b"].start()
    threads["c"].start()
    while len(admission._lanes["lane-customer"].pending) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    gate.set()
    for thread in threads.values():
        thread.join(10)
    assert seen == [("caller-a", ["a"]), ("caller-b", ["b", "c"])]
    assert {r: (a.admitted, a.run_id) for r, a in answers.items()} == {
        "a": (True, "a"),
        "b": (True, "b"),
        "c": (True, "c"),
    }
    assert not admission._lanes["lane-customer"].leading  # the lane is free again


def test_a_failed_batch_answers_every_waiter_with_the_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def failing(customer_id: str, profile: Any, batch: list[Any]) -> Any:
        raise RuntimeError("firestore down")

    monkeypatch.setattr(admission, "_decide_batch", failing)
    _quiet_lane(monkeypatch)
    with pytest.raises(RuntimeError, match="firestore down"):
        admission.start("lane-customer", "p", "x")
    assert not admission._lanes["lane-customer"].leading


def test_calls_that_arrive_while_a_cold_lane_reads_the_customer_join_its_first_batch(
    commits: tuple[list[tuple[str, list[str]]], threading.Event],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen, gate = commits
    gate.set()
    reading, read_done = threading.Event(), threading.Event()

    def slow_read(customer_id: str) -> dict[str, Any]:
        reading.set()
        assert read_done.wait(10)
        return {"status": "ACTIVE"}

    monkeypatch.setattr(store, "profile", slow_read)
    answers: dict[str, Any] = {}
    threads = _callers(answers)
    threads["a"].start()
    assert reading.wait(10)  # a leads the cold lane and reads
    threads["b"].start()
    threads["c"].start()
    deadline = time.monotonic() + 10
    while len(admission._lanes["lane-customer"].pending) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    read_done.set()
    for thread in threads.values():
        thread.join(10)
    assert seen == [("caller-a", ["a", "b", "c"])]  # one batch, one commit
    assert sorted(answers) == ["a", "b", "c"]


def test_a_failed_read_answers_every_waiter_with_the_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def failing(customer_id: str) -> Any:
        raise RuntimeError("firestore unreachable")

    _quiet_lane(monkeypatch)
    monkeypatch.setattr(store, "profile", failing)
    with pytest.raises(RuntimeError, match="firestore unreachable"):
        admission.start("lane-customer", "p", "x")
    lane = admission._lanes["lane-customer"]
    assert not lane.leading
    assert not lane.pending


def test_a_repeated_run_id_waits_for_the_first_calls_answer() -> None:
    """Two starts of one run in one lane are never claimed in one batch: the second goes in
    the next batch, where it finds the first one's document."""
    pending = [admission._Op(r, "p") for r in ("a", "b", "a", "c", "b")]
    batch, rest = admission._take(pending)
    assert [op.run_id for op in batch] == ["a", "b", "c"]
    assert rest == [pending[2], pending[4]]
