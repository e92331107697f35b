"""Error taxonomy: permanent errors are acknowledged and dead-lettered, transient ones retried."""

from __future__ import annotations

import sys


class PipelineError(Exception):
    """Base class of every error this project raises on purpose."""


class PermanentError(PipelineError):
    """Bad input: retrying cannot help. The event is dead-lettered with ``reason`` and acked.

    ``reason`` is a short stable code (``invalid_json``, ``path_convention``...) that dashboards
    group by; ``detail`` is the human explanation.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class TransientError(PipelineError):
    """A dependency is unavailable or overloaded: re-raise so the platform redelivers."""


class ConfigurationError(PipelineError, ValueError):
    """The deployment is misconfigured (settings, resource manifest, refresh definitions).

    Raised at start, never for one event's input. It also derives from ``ValueError`` because
    callers written before the common root catch these problems as ``ValueError``.
    """


_TRANSIENT_API_ERRORS = (
    "ServiceUnavailable",
    "InternalServerError",
    "TooManyRequests",
    "GatewayTimeout",
    "BadGateway",
    "DeadlineExceeded",
    "Aborted",
    "RetryError",
)
_TRANSIENT_MESSAGES = ("could not serialize access", "concurrent update", "rate limit")


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` is worth retrying: our own TransientError or a flaky dependency.

    A Google API answer carrying structured reasons (``errors[].reason``) is decided by them
    (:func:`shared.bigquery.errors.is_transient`, as python-bigquery's retry predicate does).
    Otherwise Google API exceptions are matched by class name so this module never imports
    ``google.api_core`` itself (it is already loaded whenever such an exception exists).
    """
    if isinstance(exc, TransientError | PermanentError):
        return isinstance(exc, TransientError)
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    if getattr(exc, "errors", None):  # a Google API answer with structured reasons: they decide
        from shared.bigquery.errors import is_transient as by_reason
        from shared.bigquery.errors import reason_of

        if reason_of(exc) is not None:
            return by_reason(exc)
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names.intersection(_TRANSIENT_API_ERRORS):
        return True
    requests_exc = sys.modules.get("requests.exceptions")
    if requests_exc is not None and isinstance(
        exc, requests_exc.ConnectionError | requests_exc.Timeout
    ):
        return True
    message = str(exc).lower()
    return any(text in message for text in _TRANSIENT_MESSAGES)
