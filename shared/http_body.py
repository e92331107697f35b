"""One body limit for every HTTP function: 413 before the body is read, before authentication.

A request that declares a ``Content-Length`` above the limit is refused without reading a byte;
one without it (chunked) is read up to ``limit + 1`` bytes and refused when that last byte
arrives. No caller ever buffers more than ``limit + 1`` bytes, whoever sent them: the check runs
before the API key or signature is verified, because verifying needs the body.

Usage in a function's ``main.py``::

    try:
        body = http_body.read_body(request, http_body.API_MAX_BODY_BYTES)
    except http_body.BodyTooLarge as exc:
        return http_body.too_large(exc)
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from shared.errors import PermanentError

API_MAX_BODY_BYTES = 64 * 1024
"""JSON APIs (refresh-api, quota-api): their largest legitimate request is a few hundred bytes."""


class _Stream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Request(Protocol):
    @property
    def content_length(self) -> int | None: ...

    @property
    def stream(self) -> _Stream: ...


class BodyTooLarge(PermanentError):  # noqa: N818 - reads as the HTTP condition it maps to (413)
    """The body exceeds the limit; ``declared`` is the Content-Length when one was sent."""

    def __init__(self, limit: int, declared: int | None) -> None:
        super().__init__("payload_too_large", f"request body above {limit} bytes")
        self.limit = limit
        self.declared = declared


def read_body(request: _Request, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes; raises :class:`BodyTooLarge` otherwise."""
    if limit < 0:
        raise ValueError("limit must be >= 0")
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit, declared)
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise BodyTooLarge(limit, declared)
    return body


def too_large(exc: BodyTooLarge) -> tuple[str, int, dict[str, str]]:
    """The 413 answer (JSON); ``Connection: close`` so the unread rest is not kept alive."""
    body = json.dumps({"error": "payload_too_large", "max_bytes": exc.limit})
    return body, 413, {"Content-Type": "application/json", "Connection": "close"}


def parse_json(body: bytes) -> Any:
    """The JSON document in ``body``; None when empty or not JSON (``get_json(silent=True)``)."""
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # deep nesting ("[" * 30000, 60 KB) was a 500
        return None
