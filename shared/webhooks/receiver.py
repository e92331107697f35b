"""The HTTP receiver: verify, bound, publish the body unchanged to ``webhook-events``.

``POST /<source>`` with the signature headers of :mod:`.signature` and optionally
``X-Webhook-Event-Type`` / ``X-Webhook-Event-Id``. Answers: 202 published (body: message id),
401 missing/bad signature or stale timestamp, 404 unknown source, 405 not POST, 413 body over
``WEBHOOKS_MAX_BODY_BYTES``, 503 publish failed (the sender retries). Nothing is published
unless the request is accepted. Secrets: ``WEBHOOK_SECRET_<SOURCE>`` (Secret Manager in
production through the function's ``secrets``, ``local_env`` locally); they are never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared import settings
from shared.webhooks import contract as c
from shared.webhooks.settings import ReceiverSettings
from shared.webhooks.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

logger = logging.getLogger("shared.webhooks.receiver")
EVENT_TYPE_HEADER = "X-Webhook-Event-Type"
EVENT_ID_HEADER = "X-Webhook-Event-Id"
Publish = Callable[[bytes, dict[str, str]], str]


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: str


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    secrets: Mapping[str, str]
    max_body_bytes: int = c.MAX_MESSAGE_BYTES
    tolerance_s: int = 300

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ReceiverConfig:
        """From :class:`ReceiverSettings` (``environ`` given: read from it, for tests)."""
        config = (
            settings.area_settings(ReceiverSettings)
            if environ is None
            else settings.load(ReceiverSettings, environ)
        )
        return cls(
            secrets=config.secrets,
            max_body_bytes=config.max_body_bytes,
            tolerance_s=config.timestamp_tolerance_s,
        )


def source_from_path(path: str) -> str | None:
    source = path.strip("/").rsplit("/", 1)[-1]
    return source if c.SOURCE_RE.match(source) else None


def precheck(
    config: ReceiverConfig, method: str, path: str, content_length: int | None
) -> Response | None:
    """Checks before the body is read (so an oversize body is never buffered)."""
    if method != "POST":
        return Response(405, "POST only")
    source = source_from_path(path)
    if source is None or source not in config.secrets:
        return Response(404, "unknown source")
    if content_length is not None and content_length > config.max_body_bytes:
        return Response(413, "body too large")
    return None


def handle(
    config: ReceiverConfig,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    publish: Publish,
    *,
    now: float | None = None,
) -> Response:
    """Verify and publish one request whose body was read (at most max + 1 bytes)."""
    source = source_from_path(path)
    if source is None or source not in config.secrets:
        return Response(404, "unknown source")
    if len(body) > config.max_body_bytes:
        return Response(413, "body too large")
    now = time.time() if now is None else now
    refused = verify(
        config.secrets[source],
        headers.get(TIMESTAMP_HEADER),
        headers.get(SIGNATURE_HEADER),
        body,
        now=now,
        tolerance_s=config.tolerance_s,
    )
    if refused:
        logger.warning("webhook refused: %s", refused, extra={"fields": {"source": source}})
        return Response(401, refused)
    attributes = {
        c.ATTR_SOURCE: source,
        c.ATTR_RECEIVED_AT: datetime.fromtimestamp(now, UTC).isoformat(),
    }
    event_type = (headers.get(EVENT_TYPE_HEADER) or "").strip()
    if event_type and c.EVENT_TYPE_RE.match(event_type):
        attributes[c.ATTR_EVENT_TYPE] = event_type
    event_id = (headers.get(EVENT_ID_HEADER) or "").strip()
    if event_id and len(event_id) <= c.EVENT_ID_MAX:
        attributes[c.ATTR_EVENT_ID] = event_id
    try:
        message_id = publish(body, attributes)
    except Exception as exc:
        logger.warning("publish failed, sender will retry: %s", type(exc).__name__)
        return Response(503, "temporarily unavailable")
    return Response(202, message_id)


def pubsub_publish(body: bytes, attributes: dict[str, str]) -> str:
    from shared import clients

    publisher: Any = clients.publisher()
    future = publisher.publish(clients.topic_path(c.TOPIC), body, **attributes)
    message_id: str = future.result(timeout=20)
    return message_id
