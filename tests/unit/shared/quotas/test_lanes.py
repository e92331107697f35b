"""The per-customer lane (group commit): each turn answers the batch the previous commit
claimed and claims the calls that arrived meanwhile in the same commit, then hands the lane
to the first of them."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from shared.quotas import admission, outbox, store

Commits = list[tuple[str, str, list[str], list[str]]]
"""(thread, what, run ids answered, run ids claimed) per commit"""


def _names(ops: list[Any]) -> list[str]:
    return [op.run_id for op in ops]


@pytest.fixture
def commits(monkeypatch: pytest.MonkeyPatch) -> tuple[Commits, threading.Event]:
    """Fake commits that record what each one answers and claims, and hold the first one until
    the returned gate is set."""
    seen: Commits = []
    gate = threading.Event()

    def commit(what: str, answered: list[Any], claimed: list[Any]) -> None:
        seen.append((threading.current_thread().name, what, _names(answered), _names(claimed)))
        if len(seen) == 1:
            assert gate.wait(10)

    def claim_alone(batch: admission._Batch) -> None:
        commit("claim", [], batch.ops)
        batch.claimed = {op: None for op in batch.ops}

    def settle(batch: admission._Batch, following: admission._Batch) -> None:
        commit("answer+claim", list(batch.claimed), following.ops)
        batch.answers.update(
            {
                op: admission.AdmissionResult(True, "admitted", "c", op.run_id)
                for op in batch.claimed
            }
        )
        batch.claimed = {}
        following.claimed = {op: None for op in following.ops}

    monkeypatch.setattr(admission._Batch, "open", claim_alone)
    monkeypatch.setattr(admission._Batch, "settle", settle)
    _quiet_lane(monkeypatch)
    return seen, gate


def _quiet_lane(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Firestore: a known customer, no drain, fresh lanes."""
    monkeypatch.setattr(store, "profile", lambda customer_id: {"status": "ACTIVE"})
    monkeypatch.setattr(outbox, "drain_soon", lambda: None)
    monkeypatch.setattr(admission, "_lanes", {})


def _callers(answers: dict[str, Any], runs: str = "abc") -> dict[str, threading.Thread]:
    """Callers of one customer (one per run id), not started yet; each puts its answer in
    ``answers``."""

    def start(run_id: str) -> None:
        answers[run_id] = admission.start("lane-customer", "p", run_id)

    return {r: threading.Thread(target=start, args=(r,), name=f"caller-{r}") for r in runs}


def _wait_pending(n: int) -> None:
    deadline = time.monotonic() + 10
    while len(admission._lanes["lane-customer"].pending) < n and time.monotonic() < deadline:
        time.sleep(0.005)


def _race(
    seen: Commits, gate: threading.Event, first: threading.Thread, *rest: threading.Thread
) -> None:
    """Start ``first`` and let it hold the lane's first commit; start ``rest``, which queue
    behind it; then open the gate and wait for every caller."""
    first.start()
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.005)
    for thread in rest:
        thread.start()
    _wait_pending(len(rest))
    gate.set()
    for thread in (first, *rest):
        thread.join(10)


def test_a_busy_lane_answers_one_batch_and_claims_the_next_in_one_commit(
    commits: tuple[Commits, threading.Event],
) -> None:
    seen, gate = commits
    answers: dict[str, Any] = {}
    threads = _callers(answers)
    _race(seen, gate, threads["a"], threads["b"], threads["c"])  # a leads and holds its claim
    assert seen == [
        ("caller-a", "claim", [], ["a"]),  # a cold lane claims its first batch alone
        ("caller-a", "answer+claim", ["a"], ["b", "c"]),  # one commit: a's answer, b+c's claim
        ("caller-b", "answer+claim", ["b", "c"], []),  # b leads the next turn and answers
    ]
    assert {r: (a.admitted, a.run_id) for r, a in answers.items()} == {
        "a": (True, "a"),
        "b": (True, "b"),
        "c": (True, "c"),
    }
    lane = admission._lanes["lane-customer"]
    assert not lane.leading and lane.claimed is None  # the lane is free again


def test_a_repeat_of_a_claimed_run_waits_for_its_answer(
    commits: tuple[Commits, threading.Event],
) -> None:
    """A second start of run a while a's claim awaits its answer is not claimed with the
    answer's commit: it goes in a later batch, where it finds a's document."""
    seen, gate = commits
    answers: list[Any] = []

    def start(run_id: str) -> None:
        answers.append(admission.start("lane-customer", "p", run_id))

    first = threading.Thread(target=start, args=("a",), name="caller-a")
    threads = [threading.Thread(target=start, args=(r,), name=f"caller-{r}2") for r in "ab"]
    _race(seen, gate, first, *threads)
    assert seen[:2] == [
        ("caller-a", "claim", [], ["a"]),
        ("caller-a", "answer+claim", ["a"], ["b"]),
    ]
    assert ["a"] in [claimed for _, _, _, claimed in seen[2:]]  # the repeat, claimed later
    assert len(answers) == 3


def test_a_failed_commit_answers_every_waiter_with_the_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def failing(batch: admission._Batch) -> None:
        raise RuntimeError("firestore down")

    monkeypatch.setattr(admission._Batch, "open", failing)
    _quiet_lane(monkeypatch)
    with pytest.raises(RuntimeError, match="firestore down"):
        admission.start("lane-customer", "p", "x")
    assert not admission._lanes["lane-customer"].leading


def test_a_failed_answer_fails_its_batch_and_the_one_it_claimed(
    commits: tuple[Commits, threading.Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit that answers one batch and claims the next fails: both batches' callers get
    the error (their claims, if the commit landed after all, are abandoned after the grace)."""
    seen, gate = commits

    def failing(batch: admission._Batch, following: admission._Batch) -> None:
        raise RuntimeError("commit failed")

    monkeypatch.setattr(admission._Batch, "settle", failing)
    answers: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def start(run_id: str) -> None:
        try:
            answers[run_id] = admission.start("lane-customer", "p", run_id)
        except RuntimeError as exc:
            errors[run_id] = exc

    threads = {r: threading.Thread(target=start, args=(r,)) for r in "abc"}
    _race(seen, gate, threads["a"], threads["b"], threads["c"])
    assert sorted(errors) == ["a", "b", "c"] and not answers
    lane = admission._lanes["lane-customer"]
    assert not lane.leading and lane.claimed is None and not lane.pending


def test_calls_that_arrive_while_a_cold_lane_reads_the_customer_join_its_first_batch(
    commits: tuple[Commits, threading.Event],
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
    _wait_pending(3)
    read_done.set()
    for thread in threads.values():
        thread.join(10)
    assert seen[0] == ("caller-a", "claim", [], ["a", "b", "c"])  # one batch
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
    the next batch, where it finds the first one's document; nor is a start of a run claimed
    and not answered yet."""
    pending = [admission._Op(r, "p") for r in ("a", "b", "a", "c", "b")]
    batch, rest = admission._take(pending)
    assert [op.run_id for op in batch] == ["a", "b", "c"]
    assert rest == [pending[2], pending[4]]
    batch, rest = admission._take(pending, {"c"})
    assert [op.run_id for op in batch] == ["a", "b"]
    assert rest == [pending[2], pending[3], pending[4]]
