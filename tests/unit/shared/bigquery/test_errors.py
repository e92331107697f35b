"""BigQuery failures classified by structured reason first."""

from __future__ import annotations

import concurrent.futures

import pytest
import requests
from google.api_core import exceptions as gexc

from shared.bigquery.errors import classify, is_conflict, is_transient, reason_of
from shared.errors import PermanentError, TransientError


def _bq(cls: type[gexc.GoogleAPICallError], reason: str, message: str = "m") -> BaseException:
    return cls(message, errors=[{"reason": reason, "message": message}])


@pytest.mark.parametrize(
    "reason",
    ["backendError", "internalError", "rateLimitExceeded", "jobRateLimitExceeded", "quotaExceeded"],
)
def test_transient_reasons(reason: str) -> None:
    # the reason wins over the class: a 403 rateLimitExceeded is retried
    assert is_transient(_bq(gexc.Forbidden, reason))


@pytest.mark.parametrize("reason", ["invalidQuery", "invalid", "notFound", "accessDenied"])
def test_permanent_reasons(reason: str) -> None:
    # the reason wins over the class: a 500 carrying "invalid" is not retried
    result = classify(_bq(gexc.InternalServerError, reason))
    assert isinstance(result, PermanentError)
    assert result.reason == f"bigquery_{reason}"


def test_serialization_conflict_is_the_documented_exception() -> None:
    exc = _bq(
        gexc.BadRequest,
        "invalidQuery",
        "Could not serialize access to table p.d.t due to concurrent update",
    )
    assert reason_of(exc) == "invalidQuery"
    assert is_conflict(exc)
    assert isinstance(classify(exc), TransientError)
    aborted = _bq(
        gexc.BadRequest, "invalidQuery", "Transaction is aborted due to concurrent update"
    )
    assert is_transient(aborted)


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (gexc.ServiceUnavailable("down"), True),
        (gexc.BadGateway("x"), True),
        (gexc.DeadlineExceeded("slow"), True),
        (gexc.Aborted("grpc aborted"), True),
        (gexc.TooManyRequests("x"), True),
        (gexc.BadRequest("bad"), False),
        (gexc.NotFound("gone"), False),
        (ConnectionError("refused"), True),
        (requests.exceptions.ConnectionError("reset"), True),
        (concurrent.futures.TimeoutError(), True),
        (RuntimeError("a bug"), True),  # never dead-letter data because of our own bug
    ],
)
def test_without_a_reason_the_class_decides(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_own_errors_pass_through_and_cause_is_kept() -> None:
    mine = PermanentError("x")
    assert classify(mine) is mine
    raw = _bq(gexc.BadRequest, "invalid", "no such field: nope")
    result = classify(raw)
    assert result.__cause__ is raw
    assert "no such field" in str(result)


def test_grpc_error_info_reason_is_read() -> None:
    from google.rpc.error_details_pb2 import ErrorInfo

    exc = gexc.InvalidArgument("x", error_info=ErrorInfo(reason="rateLimitExceeded"))
    assert reason_of(exc) == "rateLimitExceeded"
    assert is_transient(exc)
