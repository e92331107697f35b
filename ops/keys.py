"""``plumb keys create|list|revoke|rotate`` for both HTTP APIs, through :mod:`shared.api_keys`.

- ``quota`` keys belong to one customer and carry scope ``runs``: they open the admission API
  (``/runs/start`` ...) for that customer only; scope ``credentials`` (``--scope credentials``)
  lets a key hand over that customer's cloud credentials (``POST /credentials``);
- ``refresh`` keys belong to the platform and carry ``refresh:read`` (role viewer) or also
  ``refresh:write`` (role operator) for the refresh API (``/status``, ``/history``, ``/trigger``).

Only a SHA-256 digest is stored (Firestore ``api_keys``); the key itself is printed once, by
``create``/``rotate``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click

from ops import bq
from ops.app import FailedError, RefusedError, State, json_option, table, translate_errors
from shared import api_keys

APIS = ("quota", "refresh")
REFRESH_ROLES = ("viewer", "operator")
PLATFORM = "platform"
"""The owner of refresh keys (they act on the platform, not on one customer)."""
_ROLE_SCOPES = {"viewer": ["refresh:read"], "operator": ["refresh:read", "refresh:write"]}


def _expiry(days: int | None) -> datetime | None:
    return datetime.now(UTC) + timedelta(days=days) if days else None


def _api(row: dict[str, Any]) -> dict[str, Any]:
    scopes = list(row.get("scopes") or ())
    if any(s.startswith("refresh:") for s in scopes):
        role = "operator" if "refresh:write" in scopes else "viewer"
        return {"api": "refresh", "role": role, **row}
    return {"api": "quota", **row}


# ------------------------------------------------------------------ quota (admission) keys
def create_quota_key(
    customer_id: str, name: str, scopes: tuple[str, ...], expires_at: datetime | None
) -> dict[str, Any]:
    known = bq.query(
        f"SELECT COUNT(*) AS n FROM {bq.t('customer_profiles')} WHERE customer_id = @c",
        {"c": customer_id},
    )
    if not known or not known[0]["n"]:
        raise FailedError(f"no customer {customer_id!r}: create it first (plumb customers create)")
    key_id, key = api_keys.create_key(customer_id, scopes, name=name, expires_at=expires_at)
    return {
        "api": "quota",
        "key_id": key_id,
        "customer_id": customer_id,
        "name": name,
        "scopes": list(scopes),
        "expires_at": expires_at,
        "key": key,
    }


def quota_keys(customer_id: str | None = None) -> list[dict[str, Any]]:
    rows = [_api(r) for r in api_keys.list_keys(customer_id)]
    return [r for r in rows if r["api"] == "quota"]


# ------------------------------------------------------------------ refresh API keys
def create_refresh_key(role: str, description: str, expires_at: datetime | None) -> dict[str, Any]:
    key_id, key = api_keys.create_key(
        PLATFORM, _ROLE_SCOPES[role], name=description, expires_at=expires_at
    )
    return {
        "api": "refresh",
        "key_id": key_id,
        "role": role,
        "name": description,
        "expires_at": expires_at,
        "key": key,
    }


def refresh_keys() -> list[dict[str, Any]]:
    rows = [_api(r) for r in api_keys.list_keys(PLATFORM)]
    return [r for r in rows if r["api"] == "refresh"]


# ------------------------------------------------------------------ shared
def find_key(key_id: str) -> dict[str, Any]:
    """The key with this id, for either API (exit 1 when none)."""
    found = api_keys.find(key_id)
    if found is None:
        raise FailedError(f"no API key with id {key_id!r}")
    return _api(found)


def revoke_key(found: dict[str, Any], at: datetime | None = None) -> int:
    """Deactivate now, or (``at`` in the future) let it expire then; returns keys changed."""
    if at is None:
        return int(api_keys.deactivate(found["key_id"]))
    return int(api_keys.expire_at(found["key_id"], at))


def _show_key(created: dict[str, Any]) -> None:
    who = created.get("customer_id") or f"role {created.get('role')}"
    click.echo(f"created {created['api']} key {created['key_id']} for {who}")
    click.echo(f"key (shown once, only its SHA-256 is stored): {created['key']}")


@click.group()
def keys() -> None:
    """API keys of the quota (admission) API and the refresh API."""


@keys.command("create")
@click.option("--api", type=click.Choice(APIS), required=True, help="Which HTTP API.")
@click.option("--customer", "customer_id", help="quota: the customer the key acts for.")
@click.option("--name", default="cli", show_default=True, help="A label (quota) / description.")
@click.option(
    "--role",
    type=click.Choice(REFRESH_ROLES),
    default="viewer",
    show_default=True,
    help="refresh: viewer (GET routes) or operator (also trigger, configs).",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    default=("runs",),
    show_default=True,
    help="quota: scopes (repeatable): runs, credentials.",
)
@click.option("--expires-days", type=click.IntRange(1, 3650), help="Expire after N days.")
@json_option
@click.pass_obj
@translate_errors
def create(  # noqa: PLR0917
    state: State,
    api: str,
    customer_id: str | None,
    name: str,
    role: str,
    scopes: tuple[str, ...],
    expires_days: int | None,
) -> None:
    """Create a key and print it once."""
    if api == "quota" and not customer_id:
        raise click.UsageError("--customer is required for --api quota")
    if api == "refresh" and customer_id:
        raise click.UsageError("refresh keys are not per customer: drop --customer")
    state.target()
    if api == "quota":
        assert customer_id is not None
        created = create_quota_key(customer_id, name, tuple(scopes), _expiry(expires_days))
    else:
        created = create_refresh_key(role, name, _expiry(expires_days))
    state.emit(created, lambda: _show_key(created))


@keys.command("list")
@click.option("--api", type=click.Choice(APIS), help="Only this API (default: both).")
@click.option("--customer", "customer_id", help="quota: only this customer's keys.")
@json_option
@click.pass_obj
@translate_errors
def list_(state: State, api: str | None, customer_id: str | None) -> None:
    """Keys with their state (never the key or its hash)."""
    state.target()
    rows: list[dict[str, Any]] = []
    if api in (None, "quota"):
        rows += quota_keys(customer_id)
    if api in (None, "refresh") and not customer_id:
        rows += refresh_keys()
    cols = ["api", "key_id", "customer_id", "role", "name", "active", "expires_at", "created_at"]
    state.emit({"keys": rows}, lambda: table(rows, cols))


@keys.command("revoke")
@click.argument("key_id")
@json_option
@click.pass_obj
@translate_errors
def revoke(state: State, key_id: str) -> None:
    """Deactivate KEY_ID at once (exit 1 when unknown or already inactive)."""
    state.target()
    found = find_key(key_id)
    if not found.get("active"):
        raise FailedError(f"key {key_id} is already inactive")
    revoke_key(found)
    state.emit(
        {"api": found["api"], "key_id": key_id, "active": False},
        f"revoked {found['api']} key {key_id}",
    )


@keys.command("rotate")
@click.argument("key_id")
@click.option(
    "--grace-minutes",
    type=click.IntRange(0, 7 * 24 * 60),
    default=0,
    show_default=True,
    help="Keep the old key valid this long so callers can switch (0 = revoke now).",
)
@json_option
@click.pass_obj
@translate_errors
def rotate(state: State, key_id: str, grace_minutes: int) -> None:
    """Issue a new key like KEY_ID (same customer/scopes or role), then retire the old one."""
    state.target()
    found = find_key(key_id)
    if not found.get("active"):
        raise RefusedError(f"key {key_id} is inactive: create a new one instead")
    expires = found.get("expires_at")
    if found["api"] == "quota":
        created = create_quota_key(
            found["customer_id"], found["name"], tuple(found.get("scopes") or ("runs",)), expires
        )
    else:
        created = create_refresh_key(found["role"], found.get("name") or "rotated", expires)
    at = datetime.now(UTC) + timedelta(minutes=grace_minutes) if grace_minutes else None
    revoke_key(found, at)
    created["replaces"] = key_id
    created["old_key_valid_until"] = at.isoformat() if at else "revoked"

    def text() -> None:
        _show_key(created)
        click.echo(f"old key {key_id}: {created['old_key_valid_until']}")

    state.emit(created, text)
