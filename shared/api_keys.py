"""API keys for every HTTP function: one generator, one store, one check.

A key looks like ``pk_<key_id>_<secret>`` and is shown once, when created. Only its SHA-256
digest is stored, as the id of its Firestore document ``api_keys/{sha256}``: a lookup is one
document read by hash (no scan, no query), and the stored digest is compared again with
``hmac.compare_digest``. A key carries its customer, its scopes (``runs`` for the admission
API, ``refresh:read`` / ``refresh:write`` for the refresh API), an optional expiry and an
``active`` flag.

Answers: an unknown, expired or inactive key (or none) is ONE 401 with ONE message, so a caller
learns nothing about which keys exist; a valid key without the scope a route needs is 403.
``last_used_at`` is written at most once a minute per key (cheap: one small write).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import clients
from shared.errors import PipelineError

COLLECTION = "api_keys"
PREFIX = "pk"
UNAUTHENTICATED = "missing, unknown, expired or inactive API key"
LAST_USED_EVERY = timedelta(seconds=60)
MAX_KEY_LENGTH = 256
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_SCOPE = re.compile(r"^[a-z][a-z0-9_:.-]{0,63}$")


class ApiKeyError(PipelineError):
    """An authentication (401) or authorization (403) refusal, with a message safe to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    customer_id: str
    scopes: tuple[str, ...]
    name: str = ""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _ref(digest: str) -> Any:
    return clients.firestore().collection(COLLECTION).document(digest)


def create_key(
    customer_id: str,
    scopes: Sequence[str],
    *,
    name: str = "",
    expires_at: datetime | None = None,
) -> tuple[str, str]:
    """Store a new key's hash; returns ``(key_id, key)``: the key exists only in this answer."""
    problems = []
    if not isinstance(customer_id, str) or not _ID.fullmatch(customer_id):
        problems.append("customer_id must be 1-128 letters, digits, '_', '.', ':' or '-'")
    if isinstance(scopes, str) or not scopes or not all(_SCOPE.fullmatch(s) for s in scopes):
        problems.append("scopes must be a non-empty list of scope names")
    if len(name) > 200:
        problems.append("name must be at most 200 characters")
    if problems:
        raise ValueError("; ".join(problems))
    key_id = secrets.token_hex(8)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    now = datetime.now(UTC)
    _ref(hash_key(key)).create(
        {
            "key_id": key_id,
            "customer_id": customer_id,
            "scopes": list(dict.fromkeys(scopes)),
            "name": name,
            "active": True,
            "expires_at": expires_at,
            "created_at": now,
            "last_used_at": None,
            "deactivated_at": None,
        }
    )
    return key_id, key


def bearer(headers: Mapping[str, str]) -> str:
    """The key of a request: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    auth = lowered.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return lowered.get("x-api-key", "").strip()


def authenticate(headers: Mapping[str, str], scope: str) -> ApiKey:
    """The request's key if it is active, unexpired and has ``scope``.

    Raises ApiKeyError: 401 (always the same message) or 403 (key fine, scope missing).
    """
    key = bearer(headers)
    if not key or len(key) > MAX_KEY_LENGTH or not key.startswith(f"{PREFIX}_"):
        raise ApiKeyError(401, UNAUTHENTICATED)
    digest = hash_key(key)
    snap = _ref(digest).get()
    data = snap.to_dict() if snap.exists else None
    now = datetime.now(UTC)
    if (
        data is None
        or not hmac.compare_digest(snap.id, digest)
        or not data.get("active")
        or (data.get("expires_at") is not None and data["expires_at"] <= now)
    ):
        raise ApiKeyError(401, UNAUTHENTICATED)
    found = ApiKey(
        str(data["key_id"]),
        str(data["customer_id"]),
        tuple(data.get("scopes") or ()),
        str(data.get("name") or ""),
    )
    last = data.get("last_used_at")
    if last is None or now - last >= LAST_USED_EVERY:
        _ref(digest).update({"last_used_at": now})
    if scope not in found.scopes:
        raise ApiKeyError(403, f"this API key may not do this (needs scope {scope!r})")
    return found


def deactivate(key_id: str) -> bool:
    """Deactivate the key with this id; False when there is none active."""
    snap = _by_id(key_id)
    if snap is None or not (snap.to_dict() or {}).get("active"):
        return False
    snap.reference.update({"active": False, "deactivated_at": datetime.now(UTC)})
    return True


def deactivate_expired(now: datetime | None = None) -> int:
    """Mark every expired, still active key inactive (the maintenance sweep); returns how many."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    now = now or datetime.now(UTC)
    query = (
        clients.firestore()
        .collection(COLLECTION)
        .where(filter=FieldFilter("expires_at", "<=", now))
    )
    done = 0
    for snap in query.stream():
        if (snap.to_dict() or {}).get("active"):
            snap.reference.update({"active": False, "deactivated_at": now})
            done += 1
    return done


_PUBLIC = ("key_id", "customer_id", "name", "scopes", "active", "expires_at", "last_used_at")


def _public(data: Mapping[str, Any]) -> dict[str, Any]:
    """A key's state for listings: never the key, never its digest."""
    return {**{k: data.get(k) for k in _PUBLIC}, "created_at": data.get("created_at")}


def list_keys(customer_id: str | None = None) -> list[dict[str, Any]]:
    """Keys (optionally of one customer), oldest first, without their digests."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query: Any = clients.firestore().collection(COLLECTION)
    if customer_id is not None:
        query = query.where(filter=FieldFilter("customer_id", "==", customer_id))
    rows = [_public(snap.to_dict() or {}) for snap in query.stream()]
    return sorted(rows, key=lambda r: (str(r["customer_id"]), str(r["created_at"])))


def find(key_id: str) -> dict[str, Any] | None:
    """The key with this id (without its digest), or None."""
    snap = _by_id(key_id)
    return None if snap is None else _public(snap.to_dict() or {})


def _by_id(key_id: str) -> Any:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        clients.firestore()
        .collection(COLLECTION)
        .where(filter=FieldFilter("key_id", "==", key_id))
        .limit(1)
    )
    return next(iter(query.stream()), None)


def expire_at(key_id: str, at: datetime) -> bool:
    """Let an active key expire at ``at`` (rotation grace); False when none or it ends sooner."""
    snap = _by_id(key_id)
    data = (snap.to_dict() or {}) if snap is not None else {}
    if not data.get("active") or (data.get("expires_at") is not None and data["expires_at"] <= at):
        return False
    snap.reference.update({"expires_at": at})
    return True
