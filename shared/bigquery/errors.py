"""One classification of BigQuery failures into the project's taxonomy.

Structured reasons first, as python-bigquery's ``DEFAULT_RETRY`` predicate does: every
BigQuery REST error carries ``errors[0]["reason"]`` (``backendError``, ``rateLimitExceeded``,
``invalidQuery``...) and a job failure carries the same in its ``error_result``. Only when no
reason exists do we fall back to the exception's class (``google.api_core`` maps HTTP status
and gRPC codes to classes) and to network errors.

The one documented exception to "reasons first": a serialization conflict between concurrent
DML statements on one table arrives as ``400 invalidQuery`` with the message "Could not
serialize access to table ... due to concurrent update" (or, inside a multi-statement
transaction, "Transaction is aborted due to concurrent update"). The statement did not apply
and retrying it is the documented remedy, so that message is transient although its reason is
not (https://cloud.google.com/bigquery/docs/troubleshoot-queries).

``google.api_core`` is only consulted through ``sys.modules``: an exception of it can only
exist if it is already imported, so this module stays free to import on a cold start.
"""

from __future__ import annotations

import concurrent.futures
import sys
from typing import Any

from shared.errors import PermanentError, TransientError

# Reasons worth retrying (python-bigquery's _RETRYABLE_REASONS + job_retry reasons) plus quota
# reasons: a quota resets, so the platform's redelivery later is the right answer, never a
# dead letter.
TRANSIENT_REASONS = frozenset(
    {
        "backendError",
        "internalError",
        "rateLimitExceeded",
        "badGateway",
        "jobBackendError",
        "jobInternalError",
        "jobRateLimitExceeded",
        "quotaExceeded",
        "serviceUnavailable",
        "timeout",
        "tableUnavailable",
    }
)
CONFLICT_MESSAGES = (
    "could not serialize access to table",
    "transaction is aborted due to concurrent update",
)
# gRPC / HTTP classes that mean "try again" when no reason says otherwise.
_TRANSIENT_CLASSES = (
    "ServerError",  # every 5xx: InternalServerError, BadGateway, ServiceUnavailable...
    "TooManyRequests",
    "DeadlineExceeded",
    "Aborted",
    "ResourceExhausted",
    "Cancelled",
    "Unknown",
    "RetryError",
)


def reason_of(exc: BaseException) -> str | None:
    """BigQuery's structured reason of ``exc`` (first error), or None."""
    errors: Any = getattr(exc, "errors", None)
    if isinstance(errors, list | tuple):
        for item in errors:
            if isinstance(item, dict) and item.get("reason"):
                return str(item["reason"])
    reason = getattr(exc, "reason", None)  # gRPC ErrorInfo reason (Storage Write API)
    return str(reason) if isinstance(reason, str) and reason else None


def is_conflict(exc: BaseException) -> bool:
    """A DML serialization conflict (the statement was aborted; retry it)."""
    message = str(getattr(exc, "message", "") or exc).lower()
    return any(text in message for text in CONFLICT_MESSAGES)


def _api_core_class(exc: BaseException, names: tuple[str, ...]) -> bool:
    module = sys.modules.get("google.api_core.exceptions")
    if module is None:
        return False
    return any(isinstance(exc, getattr(module, name)) for name in names if hasattr(module, name))


def _network_error(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | TimeoutError | concurrent.futures.TimeoutError):
        return True
    requests_exc = sys.modules.get("requests.exceptions")
    if requests_exc is not None and isinstance(
        exc, requests_exc.ConnectionError | requests_exc.Timeout | requests_exc.ChunkedEncodingError
    ):
        return True
    auth_exc = sys.modules.get("google.auth.exceptions")
    return auth_exc is not None and isinstance(exc, auth_exc.TransportError)


def _is_transient(exc: BaseException) -> bool:
    reason = reason_of(exc)
    if is_conflict(exc):
        return True
    if reason is not None:
        return reason in TRANSIENT_REASONS
    if _api_core_class(exc, _TRANSIENT_CLASSES) or _network_error(exc):
        return True
    # A 4xx without a reason: our request is wrong. Anything else is not a BigQuery answer at
    # all (a bug, an unexpected library error): never dead-letter data because of it; raise so
    # the platform retries and the error shows in the logs.
    return not _api_core_class(exc, ("ClientError",))


def classify(exc: BaseException) -> PermanentError | TransientError:
    """``exc`` as our taxonomy: a TransientError (retry) or a PermanentError (dead-letter).

    Our own errors are returned unchanged; anything else is wrapped, with the original kept as
    ``__cause__``. A permanent error's reason is ``bigquery_<reason>`` (``bigquery_invalid``,
    ``bigquery_invalidQuery``, ``bigquery_notFound``...) so dead letters group by it.
    """
    if isinstance(exc, PermanentError | TransientError):
        return exc
    message = str(getattr(exc, "message", "") or exc)
    if _is_transient(exc):
        wrapped: PermanentError | TransientError = TransientError(f"BigQuery: {message}")
    else:
        wrapped = PermanentError(f"bigquery_{reason_of(exc) or 'rejected'}", message[:2000])
    wrapped.__cause__ = exc
    return wrapped


def is_transient(exc: BaseException) -> bool:
    """True when retrying ``exc`` may help (the retry predicate of this package)."""
    return isinstance(classify(exc), TransientError)
