"""The message contract of the ``webhook-events`` topic.

One shared topic for every source; the ``source`` attribute routes. Message data is the
webhook body exactly as the provider sent it. Attributes:

=============  ==========================================================================
``source``     required; integration source (``adplatform``, ``shop``, ``payments``...)
``event_type`` provider event type when known (header or payload); else from the payload
``event_id``   provider event id sent outside the body and covered by the signature (e.g.
               Standard Webhooks ``webhook-id``): the dedup key when the body has none
``delivery_id`` the sender's unsigned delivery id (``X-GitHub-Delivery``,
               ``X-Shopify-Event-Id``): recorded, never the dedup key (it can be forged)
``received_at`` RFC 3339 UTC time the receiver accepted the request (receiver only)
=============  ==========================================================================
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

TOPIC = "webhook-events"
ATTR_SOURCE = "source"
ATTR_EVENT_TYPE = "event_type"
ATTR_EVENT_ID = "event_id"
ATTR_RECEIVED_AT = "received_at"
ATTR_DELIVERY_ID = "delivery_id"
ATTR_REPLAY_OF = "replay_of"
MAX_MESSAGE_BYTES = 1024 * 1024
"""Bodies above 1 MiB are refused by the receiver (413) and dead-lettered by the ingest."""
MAX_JSON_DEPTH = 64
SOURCE_RE = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")
EVENT_TYPE_RE = re.compile(r"^[A-Za-z0-9_./:-]{1,100}$")
EVENT_ID_MAX = 200


def canonical_json(value: Any) -> str:
    """Stable serialization (sorted keys, no spaces) used for content hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_key(
    source: str, event_type: str | None, provider_event_id: str | None, payload: Any
) -> str:
    """The dedup key of an event: the provider's event id, else a hash of its content.

    Both bases include the event type: two events with identical bodies but different types
    (Shopify ``orders/create`` and ``orders/paid`` of one order) are two events. Never the
    Pub/Sub message id (a re-sent webhook gets a new one) and never an unsigned delivery id
    (a captured request replayed with a new id must collapse into the same event).
    """
    kind = event_type or ""
    if provider_event_id:
        basis = f"id\x1f{source}\x1f{kind}\x1f{provider_event_id}"
    else:
        basis = f"sha\x1f{source}\x1f{kind}\x1f{canonical_json(payload)}"
    return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def row_key(*parts: object) -> str:
    """Deterministic key of a typed row from its natural key parts."""
    basis = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:40]
