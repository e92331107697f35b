"""Decode, validate and route one webhook message to its tables.

Outcomes (all deterministic for the same message, so redelivery gives the same rows):

- written to the typed tables of its mapping, then to ``integration_raw_data``;
- unknown source or event type: ``integration_raw_data`` only, never lost;
- oversize, not JSON, not an object, missing/invalid attributes, invalid for its mapping:
  :class:`~shared.errors.PermanentError` (the handler dead-letters it with the original bytes).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.bigquery.writer import Row
from shared.errors import PermanentError, is_transient
from shared.events import PubSubMessage, parse_timestamp
from shared.webhooks import contract as c
from shared.webhooks import sources
from shared.webhooks.normalize import ValidationError, iso
from shared.webhooks.rows import RAW, TYPED_TABLES, Context, TypedRow
from shared.webhooks.sink import WebhookSink

_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True, slots=True)
class Routed:
    """The rows one message produces, by table (typed tables first, raw last)."""

    event_key: str
    mapping_status: str
    rows: dict[str, list[Row]]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _check_tree(value: Any, depth: int = 0) -> None:
    if depth > c.MAX_JSON_DEPTH:
        raise PermanentError("invalid_json", f"nesting deeper than {c.MAX_JSON_DEPTH}")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_tree(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_tree(item, depth + 1)
    elif isinstance(value, str):
        _check_text(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise PermanentError("invalid_json", "a number overflows to infinity")
    elif (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not _INT64[0] <= value <= _INT64[1]
    ):
        raise PermanentError("invalid_json", "an integer does not fit in 64 bits")


def _check_text(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PermanentError("invalid_json", "a string holds a lone surrogate") from None


def parse_body(data: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a PermanentError naming why not."""
    if len(data) > c.MAX_MESSAGE_BYTES:
        raise PermanentError("oversize", f"{len(data)} bytes > {c.MAX_MESSAGE_BYTES}")
    try:
        payload = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PermanentError("invalid_json", f"body is not UTF-8 JSON: {exc}"[:300]) from None
    if not isinstance(payload, dict):
        raise PermanentError("invalid_payload", "body must be a JSON object")
    _check_tree(payload)
    return payload


def _attribute(
    attributes: Mapping[str, str], name: str, pattern: re.Pattern[str] | None, limit: int
) -> str | None:
    value = attributes.get(name)
    if value is None or value == "":
        return None
    if len(value) > limit or (pattern is not None and not pattern.fullmatch(value)):
        raise PermanentError("invalid_attributes", f"attribute {name}={value[:60]!r} is invalid")
    return value


def route(message: PubSubMessage, now: datetime | None = None) -> Routed:
    """Every row the message produces; PermanentError when it must be dead-lettered."""
    now = now or datetime.now(UTC)
    attrs = message.attributes
    source = _attribute(attrs, c.ATTR_SOURCE, c.SOURCE_RE, 40)
    if source is None:
        raise PermanentError("invalid_attributes", "attribute `source` is missing")
    payload = parse_body(message.data)
    module = sources.get(source)
    try:
        event_type = _attribute(attrs, c.ATTR_EVENT_TYPE, c.EVENT_TYPE_RE, 100)
        if event_type is None and module is not None:
            found = module.payload_event_type(payload)
            event_type = found if found and c.EVENT_TYPE_RE.fullmatch(found) else None
        provider_id = (module.provider_event_id(payload) if module else None) or _attribute(
            attrs, c.ATTR_EVENT_ID, None, c.EVENT_ID_MAX
        )
    except ValidationError as exc:
        raise PermanentError("invalid_payload", str(exc)) from None
    key = c.event_key(source, event_type, provider_id, payload)
    delivery_id = _attribute(attrs, c.ATTR_DELIVERY_ID, None, c.EVENT_ID_MAX)
    received_at = parse_timestamp(attrs.get(c.ATTR_RECEIVED_AT))
    ctx = Context(source, event_type or "", key, message.message_id, now, received_at)
    typed: list[TypedRow] = []
    if module is None:
        status = "unknown_source"
    elif event_type is None or event_type not in module.HANDLERS:
        status = "unknown_event_type"
    else:
        status = "mapped"
        try:
            typed = module.HANDLERS[event_type](ctx, payload)
        except ValidationError as exc:
            raise PermanentError("invalid_payload", f"{source}/{event_type}: {exc}") from None
    rows: dict[str, list[Row]] = {table: [] for table in TYPED_TABLES}
    for item in typed:
        rows[item.table].append((item.row_id, item.row))
    rows[RAW] = [
        (
            c.row_key(RAW, source, key, message.message_id),
            _raw_row(ctx, message, payload, provider_id or delivery_id, status),
        )
    ]
    return Routed(key, status, {t: r for t, r in rows.items() if r})


def _raw_row(
    ctx: Context,
    message: PubSubMessage,
    payload: dict[str, Any],
    provider_id: str | None,
    status: str,
) -> dict[str, Any]:
    return {
        "event_key": ctx.event_key,
        "source": ctx.source,
        "event_type": ctx.event_type or None,
        "provider_event_id": provider_id,
        "mapping_status": status,
        "message_id": message.message_id,
        "publish_time": iso(message.publish_time or ctx.ingested_at),
        "received_at": iso(ctx.received_at) if ctx.received_at else None,
        "ingested_at": iso(ctx.ingested_at),
        "payload": json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        "payload_size": len(message.data),
        "payload_sha256": hashlib.sha256(message.data).hexdigest(),
        "attributes": json.dumps(dict(message.attributes), sort_keys=True),
    }


DEAD_LETTER_SOURCE = "CloudPubSubDeadLetterSourceSubscription"
"""Attribute Pub/Sub adds when it forwards a message to a dead-letter topic."""


def ingest(message: PubSubMessage, sink: WebhookSink, now: datetime | None = None) -> Routed:
    """Route the message and write its rows; returns after they are written.

    A message forwarded by Pub/Sub after ``max_delivery_attempts`` (it carries
    ``CloudPubSubDeadLetterSource*`` attributes; the dead-letter topic pushes here too) is
    ingested again; if it still fails for a reason that is not transient (a bug, an
    unexpected error), it becomes a dead letter (``delivery_attempts_exhausted``) instead of
    waiting unseen on the dead-letter topic until its retention drops it.
    """
    try:
        routed = route(message, now)
        sink.write(routed.rows)
    except PermanentError:
        raise
    except Exception as exc:
        if DEAD_LETTER_SOURCE not in message.attributes or is_transient(exc):
            raise
        detail = f"{type(exc).__name__}: {exc}"[:500]
        raise PermanentError("delivery_attempts_exhausted", detail) from exc
    return routed
