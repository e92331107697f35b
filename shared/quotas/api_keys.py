"""API keys: only the SHA-256 hash is stored; the key is shown once when created."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.quotas import db
from shared.quotas.validation import check_id, raise_if

PREFIX = "qk_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    customer_id: str
    scopes: tuple[str, ...]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    customer_id: str,
    name: str,
    scopes: tuple[str, ...] = ("runs",),
    expires_at: datetime | None = None,
) -> str:
    """Store a new key's hash (by DML) and return the key itself, the only time it exists."""
    problems: list[str] = []
    check_id(problems, "customer_id", customer_id)
    check_id(problems, "name", name)
    raise_if(problems)
    key_id = secrets.token_hex(8)
    key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    db.run(
        f"INSERT INTO {db.table('customer_api_keys')} (key_id, customer_id, key_hash, name, "
        "scopes, expires_at, active, last_used_at, created_at, deactivated_at) VALUES "
        "(@key_id, @customer_id, @key_hash, @name, @scopes, @expires_at, TRUE, NULL, @now, NULL)",
        {
            "key_id": key_id,
            "customer_id": customer_id,
            "key_hash": hash_key(key),
            "name": name,
            "scopes": list(scopes),
            "expires_at": expires_at,
            "now": datetime.now(UTC),
        },
    )
    return key


def authenticate(key: str, scope: str = "runs") -> ApiKey | None:
    """The active, unexpired key with this scope; None otherwise (never says why)."""
    if not isinstance(key, str) or not key.startswith(PREFIX) or len(key) > 200:
        return None
    key_id = key[len(PREFIX) :].split("_", 1)[0]
    rows, _ = db.run(
        f"SELECT key_id, customer_id, key_hash, scopes FROM {db.table('customer_api_keys')} "
        "WHERE key_id = @key_id AND active AND (expires_at IS NULL OR expires_at > @now)",
        {"key_id": key_id, "now": datetime.now(UTC)},
    )
    digest = hash_key(key)
    for row in rows:
        if hmac.compare_digest(str(row["key_hash"]), digest) and scope in (row["scopes"] or []):
            return ApiKey(row["key_id"], row["customer_id"], tuple(row["scopes"]))
    return None
