"""The delayed-retry policy in our code (the Cloud Tasks emulator ignores queue retry config)."""

from __future__ import annotations

import re

from shared.refresh import request, retries
from shared.refresh.results import RunResult, TableOutcome
from shared.resources import manifest


class FakeScheduler:
    def __init__(self) -> None:
        self.tasks: dict[str, tuple[request.RefreshRequest, float]] = {}

    def schedule(self, req: request.RefreshRequest, delay_s: float, task: str) -> bool:
        if task in self.tasks:  # Cloud Tasks refuses a duplicate name
            return False
        self.tasks[task] = (req, delay_s)
        return True


def failed_result(run_id: str) -> RunResult:
    return RunResult(
        run_id,
        "failed",
        {
            "a": TableOutcome("a", "failed", 4, error="backendError", retryable=True),
            "b": TableOutcome("b", "failed", 1, error="validation", retryable=False),
            "c": TableOutcome("c", "locked", 1, retryable=True),
            "d": TableOutcome("d", "skipped", 1, error="dependency a failed"),
        },
    )


def test_policy_is_three_attempts_60_to_3600_s_and_matches_the_queue() -> None:
    policy = retries.POLICY
    assert [policy.delay_s(n) for n in (1, 2, 3)] == [60.0, 120.0, 240.0]
    assert retries.DelayedRetryPolicy(7, 60, 3600).delay_s(7) == 3600.0
    queue = next(q for q in manifest()["queues"] if q["name"] == retries.QUEUE)
    assert (queue["max_attempts"], queue["min_backoff_s"], queue["max_backoff_s"]) == (
        policy.attempts,
        policy.min_backoff_s,
        policy.max_backoff_s,
    )


def test_each_attempt_schedules_the_next_until_the_policy_ends() -> None:
    scheduler = FakeScheduler()
    req = request.parse({"run_id": "run:1.x", "tables": ["a", "b", "c"], "as_of": "2026-03-20"})
    for attempt in (1, 2, 3):
        done = retries.schedule_retries(failed_result(req.run_id), req, scheduler)
        assert [(s.table, s.attempt, s.delay_s) for s in done] == [
            ("a", attempt, 60.0 * 2 ** (attempt - 1)),
            ("c", attempt, 60.0 * 2 ** (attempt - 1)),
        ]
        req = next(r for r, _ in scheduler.tasks.values() if r.delayed_attempt == attempt)
        assert req.run_type == "retry" and req.with_dependents and req.run_id == "run:1.x"
    assert retries.schedule_retries(failed_result(req.run_id), req, scheduler) == []
    assert len(scheduler.tasks) == 6
    for name in scheduler.tasks:
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,500}", name)


def test_task_names_are_deterministic_and_deduplicated() -> None:
    scheduler = FakeScheduler()
    req = request.parse({"run_id": "r-1"})
    first = retries.schedule_retries(failed_result("r-1"), req, scheduler)
    again = retries.schedule_retries(failed_result("r-1"), req, scheduler)
    assert [s.task for s in first] == [s.task for s in again]
    assert all(s.created for s in first) and not any(s.created for s in again)
    # ids that differ only in characters a task name cannot hold stay distinct
    assert retries.task_id("a:b", "t", 1) != retries.task_id("a.b", "t", 1)


def test_dry_runs_are_never_retried() -> None:
    scheduler = FakeScheduler()
    req = request.parse({"run_id": "r-2", "dry_run": True})
    assert retries.schedule_retries(failed_result("r-2"), req, scheduler) == []
