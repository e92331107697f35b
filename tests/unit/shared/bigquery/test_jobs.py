"""query / dml / dry_run_bytes against a small fake client (our own boundary)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from shared.bigquery import jobs
from shared.errors import PermanentError, TransientError
from shared.retry import RetryPolicy

FAST = RetryPolicy(attempts=4, initial_s=0.0, maximum_s=0.0, deadline_s=5.0)


class _Row(dict[str, Any]):
    def items(self) -> Any:
        return super().items()


class FakeJob:
    def __init__(self, rows: list[dict[str, Any]], affected: int | None, nbytes: int) -> None:
        self.rows = rows
        self.num_dml_affected_rows = affected
        self.total_bytes_processed = nbytes
        self.timeout: float | None = None

    def result(self, timeout: float | None = None, retry: Any = None) -> Iterator[_Row]:
        self.timeout = timeout
        return iter(_Row(r) for r in self.rows)


class FakeClient:
    def __init__(self, outcomes: list[BaseException | FakeJob]) -> None:
        self.outcomes = outcomes
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []

    def query(self, sql: str, job_config: Any = None, **kwargs: Any) -> FakeJob:
        self.calls.append((sql, job_config, kwargs))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def _conflict() -> BaseException:
    message = "Could not serialize access to table p.d.t due to concurrent update"
    return gexc.BadRequest(message, errors=[{"reason": "invalidQuery", "message": message}])


def test_query_binds_parameters_and_bounds_the_wait() -> None:
    job = FakeJob([{"a": 1}], None, 0)
    client = FakeClient([job])
    rows = jobs.query("SELECT @x AS a", {"x": [1, 2]}, timeout_s=7, client=client)
    assert rows == [{"a": 1}]
    _, config, kwargs = client.calls[0]
    assert config.query_parameters[0].array_type == "INT64"
    assert 0 < kwargs["timeout"] <= 7
    assert kwargs["job_retry"] is None
    assert job.timeout is not None
    assert job.timeout <= 7


def test_dml_retries_conflicts_then_returns_affected_rows() -> None:
    before = jobs.stats.conflict_retries
    client = FakeClient([_conflict(), _conflict(), FakeJob([], 3, 0)])
    seen: list[int] = []
    affected = jobs.dml(
        "UPDATE t SET a = 1 WHERE TRUE",
        client=client,
        policy=FAST,
        on_retry=lambda attempt, _exc, _delay: seen.append(attempt),
    )
    assert affected == 3
    assert seen == [1, 2]
    assert len(client.calls) == 3
    assert jobs.stats.conflict_retries - before == 2


def test_dml_gives_up_with_a_transient_error_after_the_policy() -> None:
    client = FakeClient([_conflict() for _ in range(4)])
    with pytest.raises(TransientError) as info:
        jobs.dml("UPDATE t SET a = 1 WHERE TRUE", client=client, policy=FAST)
    assert isinstance(info.value.__cause__, gexc.BadRequest)
    assert len(client.calls) == 4


def test_permanent_errors_are_not_retried() -> None:
    bad = gexc.BadRequest("no such column", errors=[{"reason": "invalidQuery"}])
    client = FakeClient([bad, FakeJob([], 1, 0)])
    with pytest.raises(PermanentError) as info:
        jobs.dml("UPDATE t SET nope = 1 WHERE TRUE", client=client, policy=FAST)
    assert info.value.reason == "bigquery_invalidQuery"
    assert len(client.calls) == 1


def test_execute_returns_rows_and_count() -> None:
    client = FakeClient([FakeJob([{"n": 2}], 2, 0)])
    assert jobs.execute("MERGE ...", client=client, policy=FAST) == ([{"n": 2}], 2)


def test_dry_run_bytes() -> None:
    client = FakeClient([FakeJob([], None, 1234)])
    assert jobs.dry_run_bytes("SELECT @a", {"a": "x"}, client=client) == 1234
    assert client.calls[0][1].dry_run is True
