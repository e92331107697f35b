"""One wrapper that applies the error taxonomy to every event handler.

- :class:`~shared.errors.PermanentError`: logged at ERROR, written to ``dead_letters`` with the
  reason and the original payload, and the event is acknowledged (the function returns).
- A transient error (:func:`~shared.errors.is_transient`): logged at WARNING and re-raised so
  Eventarc / Pub/Sub redelivers.
- Anything else is a bug or an unknown failure: logged with its stack trace and re-raised, so
  the event is retried until the subscription's dead-letter policy takes it; nothing is lost.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared import log
from shared.dead_letters import DeadLetter, DeadLetterSink, default_sink
from shared.errors import PermanentError, is_transient
from shared.events import CloudEventLike
from shared.settings import get_settings

logger = logging.getLogger("shared.handler")
Handler = Callable[[CloudEventLike], None]


def _request_headers() -> dict[str, str]:
    try:
        import flask

        return dict(flask.request.headers) if flask.has_request_context() else {}
    except ImportError:  # pragma: no cover - functions-framework always ships flask
        return {}


def event_payload(event: CloudEventLike) -> tuple[bytes, dict[str, Any], str | None]:
    """The original bytes of an event, its attributes and topic, for the dead letter."""
    data = event.data
    attributes: dict[str, Any] = {}
    topic = None
    if isinstance(data, dict) and isinstance(data.get("message"), dict):
        message = data["message"]
        try:
            payload = base64.b64decode(message.get("data") or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            payload = json.dumps(message.get("data"), default=str).encode()
        raw_attributes = message.get("attributes")
        attributes = dict(raw_attributes) if isinstance(raw_attributes, dict) else {}
        source = str(event.get("source") or "")
        topic = source.rsplit("/topics/", 1)[-1] if "/topics/" in source else None
    elif isinstance(data, bytes):
        payload = data
    elif isinstance(data, str):
        payload = data.encode()
    else:
        payload = json.dumps(data, default=str, sort_keys=True).encode()
    for key in ("type", "source", "subject", "time"):
        value = event.get(key)
        if value:
            attributes.setdefault(f"ce-{key}", str(value))
    return payload, attributes, topic


_OWN_CODE = (
    str(Path(__file__).resolve().parent),  # shared/
    str(Path(__file__).resolve().parent.parent / "functions"),
)


def _raised_in_own_code(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith(_OWN_CODE):
            return True
        tb = tb.tb_next
    return False


def _malformed_request(exc: Exception) -> Any:
    """Flask error handler: parsing failures of the request itself are a 400."""
    from werkzeug.exceptions import HTTPException

    if isinstance(exc, HTTPException):
        return exc
    if _raised_in_own_code(exc):  # a failure of our handler: 500, so the platform retries
        from functions_framework import crash_handler

        return crash_handler(exc)
    logger.warning("malformed CloudEvent request answered 400: %s: %s", type(exc).__name__, exc)
    return f"malformed CloudEvent request: {type(exc).__name__}: {exc}"[:2000], 400


def answer_malformed_requests_with_400() -> None:
    """Make functions-framework answer an unparsable CloudEvent request with 400, not 500.

    functions-framework 3.10 catches only missing/invalid required attributes; other failures
    while it parses the request escape as a 500 that the platform retries forever: a
    structured-mode body that is not UTF-8 (``UnicodeDecodeError``), a JSON body that is not an
    object when it falls back to the legacy background-event format (``TypeError``), other
    ``cloudevents`` parsing errors. The request itself is malformed, so it is a 4xx (issue 13:
    every input ends as a row, a dead letter, a 4xx or a transient 5xx). An exception raised
    in our own code (``shared/``, ``functions/``) stays a 500. Outside a functions-framework
    app this does nothing.
    """
    import functions_framework

    register = getattr(functions_framework, "errorhandler", None)
    if callable(register):
        # Flask refuses setup once an app served a request (a module imported later in tests)
        with contextlib.suppress(AssertionError):
            register(Exception)(_malformed_request)


def cloud_event_handler[E: CloudEventLike](
    function_name: str, *, sink: DeadLetterSink | None = None
) -> Callable[[Callable[[E], None]], Callable[[E], None]]:
    """Decorate a ``@functions_framework.cloud_event`` handler with the error taxonomy.

    Functions type their event with the cloudevents SDK's ``CloudEvent`` (what
    functions-framework hands them); tests may pass any :class:`CloudEventLike`.
    """
    answer_malformed_requests_with_400()

    def decorate(fn: Callable[[E], None]) -> Callable[[E], None]:
        @functools.wraps(fn)
        def wrapper(event: E) -> None:
            settings = get_settings()
            log.configure(settings.project_id, settings.log_level)
            event_id = str(event.get("id") or "")
            trace = log.trace_id_from_headers(_request_headers())
            with log.context(trace, function=function_name, event_id=event_id):
                try:
                    fn(event)
                except PermanentError as exc:
                    payload, attributes, topic = event_payload(event)
                    logger.error(
                        "permanent error, dead-lettered: %s",
                        exc,
                        extra={"fields": {"reason": exc.reason, "dead_letter": True}},
                    )
                    (sink or default_sink).record(
                        DeadLetter(
                            function=function_name,
                            event_id=event_id,
                            reason=exc.reason,
                            detail=exc.detail,
                            payload=payload,
                            event_type=str(event.get("type") or ""),
                            event_source=str(event.get("source") or ""),
                            topic=topic,
                            attributes=attributes,
                        )
                    )
                except Exception as exc:
                    if is_transient(exc):
                        logger.warning("transient error, will be retried: %s", exc)
                    else:
                        logger.exception("unexpected error, will be retried")
                    raise

        return wrapper

    return decorate
