"""store.commit_writes on the bare Commit method: what each gRPC status becomes."""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest
from google.api_core import exceptions as gexc

from shared import clients
from shared.quotas import store


class _Status(grpc.RpcError):  # type: ignore[misc]  # grpc has no type hints
    """A failed call as grpc raises it (code and details)."""

    def __init__(self, code: grpc.StatusCode) -> None:
        super().__init__(code.name)
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return f"{self._code.name} from the fake server"

    def trailing_metadata(self) -> tuple[()]:
        return ()


class _Response:
    def __init__(self) -> None:
        self.write_results = ["result"]


def _server(monkeypatch: pytest.MonkeyPatch, *outcomes: grpc.StatusCode | None) -> list[float]:
    """A fake Commit that fails with each status in turn (None: succeeds); returns the
    timeouts it was called with."""
    pending = list(outcomes)
    timeouts: list[float] = []
    database = "projects/p/databases/(default)"
    sent = [("google-cloud-resource-prefix", database)]

    def commit(request: Any, *, metadata: Any, timeout: float) -> _Response:
        timeouts.append(timeout)
        assert metadata == sent and request.database == database
        outcome = pending.pop(0)
        if outcome is not None:
            raise _Status(outcome)
        return _Response()

    monkeypatch.setattr(clients, "firestore_commit", lambda: (commit, sent))
    monkeypatch.setattr(clients, "firestore_database", lambda: database)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    return timeouts


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ABORTED,
    ],
)
def test_a_failed_precondition_is_a_conflict(
    monkeypatch: pytest.MonkeyPatch, code: grpc.StatusCode
) -> None:
    _server(monkeypatch, code)
    with pytest.raises(store.Conflict):
        store.commit_writes([])


def test_unavailable_and_exhausted_are_tried_again_within_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timeouts = _server(
        monkeypatch, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, None
    )
    assert store.commit_writes([]) == ["result"]
    assert len(timeouts) == 3
    assert all(0 < t <= store.COMMIT_DEADLINE_S for t in timeouts)


def test_unavailable_past_the_deadline_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    _server(monkeypatch, *[grpc.StatusCode.UNAVAILABLE] * 3)
    clock = iter([0.0, 0.0, 10.0, 19.99])
    monkeypatch.setattr(time, "monotonic", lambda: next(clock))
    with pytest.raises(gexc.ServiceUnavailable):
        store.commit_writes([])


def test_other_errors_are_raised_as_the_api_core_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _server(monkeypatch, grpc.StatusCode.INVALID_ARGUMENT)
    with pytest.raises(gexc.InvalidArgument):
        store.commit_writes([])
