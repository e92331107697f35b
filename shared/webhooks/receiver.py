"""The HTTP receiver: verify natively per sender, bound, publish the body unchanged.

``POST /<source>``, the source's signature scheme and secrets declared once in the manifest
(``webhook-receiver`` function, ``webhook_sources``; see :mod:`.schemes`). Answers:

- 202 published (body: the Pub/Sub message id, returned only after the publish is acknowledged);
- 400 verified but its routing headers are malformed (GitHub event, Shopify topic, ids);
- 401 missing / malformed / bad signature, stale or future timestamp (reason in the body and
  the log, never the secret or the body);
- 409 ``replayed_delivery``: GitHub content already delivered under another delivery id (a
  captured request replayed with a forged id; :mod:`.replay_guard`); for Shopify the same
  case is answered 200 ``duplicate_delivery`` and nothing is published (Shopify deletes
  subscriptions that keep failing, and a shop may really send identical content twice);
- 404 unknown source, 405 not POST, 413 body over ``WEBHOOKS_MAX_BODY_BYTES`` (before reading);
- 503 the source has no secret configured, the replay guard or the publish failed (the
  sender retries).

Nothing is published unless the request is accepted. Attributes published: ``source``,
``received_at``, ``event_type`` (only from a signed place or a header the mapping re-checks),
``event_id`` (only when the sender signs it: Standard Webhooks ``webhook-id``) and
``delivery_id`` (unsigned sender ids: GitHub, Shopify; recorded, never the dedup key).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared import settings
from shared.errors import ConfigurationError
from shared.webhooks import contract as c
from shared.webhooks import schemes
from shared.webhooks.replay_guard import ReplayGuard, delivery_key
from shared.webhooks.settings import ReceiverSettings

logger = logging.getLogger("shared.webhooks.receiver")
RECEIVER_FUNCTION = "webhook-receiver"
SECRET_PREFIX = "WEBHOOK_SECRET_"  # noqa: S105 - a variable name prefix, not a secret
Publish = Callable[[bytes, dict[str, str]], str]


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: str


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One sender route: its scheme, its HMAC keys (several during rotation), its tolerance."""

    scheme: str
    keys: tuple[bytes, ...] = field(repr=False)  # never in logs or tracebacks
    tolerance_s: int = 300


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    sources: Mapping[str, SourceConfig] = field(default_factory=dict)
    max_body_bytes: int = c.MAX_MESSAGE_BYTES

    @classmethod
    def from_entries(
        cls, entries: Sequence[Mapping[str, Any]], environ: Mapping[str, str]
    ) -> ReceiverConfig:
        """From the manifest's ``webhook_sources`` and an environment (tests)."""
        return cls.from_settings(entries, settings.load(ReceiverSettings, environ))

    @classmethod
    def from_settings(
        cls, entries: Sequence[Mapping[str, Any]], config: ReceiverSettings
    ) -> ReceiverConfig:
        sources: dict[str, SourceConfig] = {}
        for entry in entries:
            source, scheme = str(entry["source"]), str(entry["scheme"])
            if not c.SOURCE_RE.fullmatch(source):
                raise ConfigurationError(f"webhook source {source!r} is not a valid name")
            names = [str(n).removeprefix(SECRET_PREFIX).lower() for n in entry["secrets"]]
            values = [v for name in names for v in config.secrets.get(name, "").split()]
            try:
                keys = schemes.keys_for(scheme, values)
            except ConfigurationError as exc:  # name the source, never the value
                raise ConfigurationError(f"webhook source {source}: {exc}") from None
            if not keys:
                logger.error("webhook source %s has no secret: every request gets 503", source)
            tolerance = int(entry.get("tolerance_s", config.timestamp_tolerance_s))
            sources[source] = SourceConfig(scheme, keys, tolerance)
        return cls(sources=sources, max_body_bytes=config.max_body_bytes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ReceiverConfig:
        """From the manifest and :class:`ReceiverSettings` (``environ`` given: read from it)."""
        from shared.resources import manifest

        entries = manifest().function(RECEIVER_FUNCTION).get("webhook_sources", [])
        if environ is not None:
            return cls.from_entries(entries, environ)
        return cls.from_settings(entries, settings.area_settings(ReceiverSettings))


def source_from_path(path: str) -> str | None:
    source = path.strip("/").rsplit("/", 1)[-1]
    return source if c.SOURCE_RE.fullmatch(source) else None


def precheck(
    config: ReceiverConfig, method: str, path: str, content_length: int | None
) -> Response | None:
    """Checks before the body is read (so an oversize body is never buffered)."""
    if method != "POST":
        return Response(405, "POST only")
    source = source_from_path(path)
    if source is None or source not in config.sources:
        return Response(404, "unknown source")
    if content_length is not None and content_length > config.max_body_bytes:
        return Response(413, "body too large")
    return None


def _attributes(source: str, verified: schemes.Verified, now: float) -> dict[str, str]:
    attributes = {
        c.ATTR_SOURCE: source,
        c.ATTR_RECEIVED_AT: datetime.fromtimestamp(now, UTC).isoformat(),
    }
    if verified.event_type and c.EVENT_TYPE_RE.fullmatch(verified.event_type):
        attributes[c.ATTR_EVENT_TYPE] = verified.event_type
    if verified.event_id and len(verified.event_id) <= c.EVENT_ID_MAX:
        attributes[c.ATTR_EVENT_ID] = verified.event_id
    if verified.delivery_id and len(verified.delivery_id) <= c.EVENT_ID_MAX:
        attributes[c.ATTR_DELIVERY_ID] = verified.delivery_id
    return attributes


def handle(
    config: ReceiverConfig,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    publish: Publish,
    *,
    now: float | None = None,
    guard: ReplayGuard | None = None,
) -> Response:
    """Verify and publish one request whose body was read (at most max + 1 bytes).

    ``guard`` refuses (409) a request of a sender that signs no delivery id (GitHub, Shopify)
    whose content was already delivered under another delivery id (:mod:`.replay_guard`).
    """
    source = source_from_path(path)
    route = config.sources.get(source) if source else None
    if source is None or route is None:
        return Response(404, "unknown source")
    if len(body) > config.max_body_bytes:
        return Response(413, "body too large")
    now = time.time() if now is None else now
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    try:
        verified = schemes.verify(
            route.scheme, lowered, body, route.keys, now=now, tolerance_s=route.tolerance_s
        )
    except schemes.Refused as refused:
        logger.warning(
            "webhook refused: %s",
            refused.reason,
            extra={"fields": {"source": source, "scheme": route.scheme, "reason": refused.reason}},
        )
        return Response(refused.status, refused.reason)
    if guard is not None and verified.event_id is None and verified.delivery_id is not None:
        replayed = _replayed(guard, source, route.scheme, verified, body, now=now)
        if replayed is not None:
            return replayed
    try:
        message_id = publish(body, _attributes(source, verified, now))
    except Exception as exc:
        logger.warning("publish failed, sender will retry: %s", type(exc).__name__)
        return Response(503, "temporarily unavailable")
    return Response(202, message_id)


def _replayed(
    guard: ReplayGuard,
    source: str,
    scheme: str,
    verified: schemes.Verified,
    body: bytes,
    *,
    now: float,
) -> Response | None:
    key = delivery_key(source, verified.event_type, body)
    try:
        first = guard.first_delivery(key, verified.delivery_id or "", now)
    except Exception as exc:
        logger.warning("replay guard unavailable, sender will retry: %s", type(exc).__name__)
        return Response(503, "temporarily unavailable")
    if first:
        return None
    if scheme == schemes.SHOPIFY:
        # Shopify deletes a subscription after repeated failed deliveries: a 4xx to a shop that
        # really sent the same content twice would cost every later webhook. The content is
        # already published under its first delivery; acknowledge, publish nothing.
        logger.info(
            "webhook duplicate, not published: duplicate_delivery",
            extra={"fields": {"source": source, "reason": "duplicate_delivery"}},
        )
        return Response(200, "duplicate_delivery")
    logger.warning(
        "webhook refused: replayed_delivery",
        extra={"fields": {"source": source, "scheme": scheme, "reason": "replayed_delivery"}},
    )
    return Response(409, "replayed_delivery")


def pubsub_publish(body: bytes, attributes: dict[str, str]) -> str:
    """Publish and wait for Pub/Sub's acknowledgement: a 202 means the message is durable."""
    from shared import clients

    publisher: Any = clients.publisher()
    future = publisher.publish(clients.topic_path(c.TOPIC), body, **attributes)
    message_id: str = future.result(timeout=20)
    return message_id
