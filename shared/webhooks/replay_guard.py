"""First-delivery guard for senders that sign neither their delivery id nor a timestamp.

GitHub and Shopify sign only the body: a captured request stays valid forever, and a replay
with a new ``X-GitHub-Delivery`` / ``X-Shopify-Event-Id`` would otherwise be accepted. The
receiver records each (source, event type, body) the first time it sees it, with the
delivery id it came with, in Firestore (one ``create()``: no transaction, no hot document):

- first time: recorded, accepted;
- same body and type again with the **same** delivery id: the sender's own redelivery
  (GitHub "Redeliver", Shopify retries keep the id), accepted (the event key collapses it);
- same body and type with **another** delivery id: a replay, refused with 409, nothing
  published.

Records carry ``expires_at`` (30 days) for a Firestore TTL policy; an expired record is
replaced, so the guard never blocks a sender for longer than that.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

COLLECTION = "webhook_deliveries"
RETENTION = timedelta(days=30)


class ReplayGuard(Protocol):
    def first_delivery(self, key: str, delivery_id: str, now: float) -> bool:
        """True for a first delivery or the sender's redelivery; False for a replay."""
        ...


def delivery_key(source: str, event_type: str | None, body: bytes) -> str:
    """Identity of a signed request's content (the raw bytes the signature covers)."""
    head = f"{source}\x1f{event_type or ''}\x1f".encode()
    return hashlib.sha256(head + body).hexdigest()[:40]


class FirestoreReplayGuard:
    """Records in the ``webhook_deliveries`` collection (document id = delivery key)."""

    def __init__(self, client: Any = None) -> None:
        self._client = client

    def _collection(self) -> Any:
        if self._client is None:
            from shared import clients

            self._client = clients.firestore()
        return self._client.collection(COLLECTION)

    def first_delivery(self, key: str, delivery_id: str, now: float) -> bool:
        from google.api_core import exceptions

        seen = datetime.fromtimestamp(now, UTC)
        record = {"delivery_id": delivery_id, "first_seen": seen, "expires_at": seen + RETENTION}
        ref = self._collection().document(key)
        try:
            ref.create(record)
            return True
        except exceptions.Conflict:  # AlreadyExists: this content was delivered before
            stored = ref.get().to_dict() or {}
        expires = stored.get("expires_at")
        if isinstance(expires, datetime) and expires <= seen:
            ref.set(record)
            return True
        return bool(stored.get("delivery_id") == delivery_id)


class MemoryReplayGuard:
    """The same rule in memory (unit tests and benchmarks)."""

    def __init__(self) -> None:
        self.records: dict[str, str] = {}

    def first_delivery(self, key: str, delivery_id: str, now: float) -> bool:
        return self.records.setdefault(key, delivery_id) == delivery_id


_default: FirestoreReplayGuard | None = None


def default_guard() -> FirestoreReplayGuard:
    global _default  # noqa: PLW0603 - one guard (one client) per instance, created lazily
    if _default is None:
        _default = FirestoreReplayGuard()
    return _default
