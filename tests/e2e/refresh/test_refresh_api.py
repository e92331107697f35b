"""The refresh HTTP API through functions-framework on the emulators: every error code."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from devstack.stack import LocalStack
from shared import api_keys

pytestmark = pytest.mark.stack


def add_key(role: str, *, active: bool = True, expired: bool = False) -> str:
    """A key from the one key module (shared.api_keys); only its SHA-256 is stored."""
    scopes = ["refresh:read", "refresh:write"] if role == "operator" else ["refresh:read"]
    expires = datetime.now(UTC) + timedelta(days=-1 if expired else 30)
    key_id, key = api_keys.create_key("platform", scopes, name=f"test {role}", expires_at=expires)
    if not active:
        assert api_keys.deactivate(key_id)
    return key


@pytest.fixture(scope="module")
def keys(stack: LocalStack) -> dict[str, str]:
    return {
        "viewer": add_key("viewer"),
        "operator": add_key("operator"),
        "inactive": add_key("operator", active=False),
        "expired": add_key("operator", expired=True),
    }


def call(stack: LocalStack, method: str, path: str, key: str | None, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.request(
        method, stack.function_url("refresh-api") + path, headers=headers, timeout=60, **kw
    )


def test_auth_errors(stack: LocalStack, keys: dict[str, str]) -> None:
    refused = [
        call(stack, "GET", "/status", key)
        for key in (None, "pk_unknown_key", keys["inactive"], keys["expired"])
    ]
    assert [r.status_code for r in refused] == [401] * 4
    assert len({r.text for r in refused}) == 1  # one message: nothing learnt about the key
    forbidden = call(stack, "POST", "/trigger", keys["viewer"], data=b"{}")
    assert forbidden.status_code == 403


def test_reads_and_validation(stack: LocalStack, keys: dict[str, str]) -> None:
    viewer, operator = keys["viewer"], keys["operator"]
    assert call(stack, "GET", "/status", viewer).status_code == 200
    configs = call(stack, "GET", "/configs", viewer)
    assert configs.status_code == 200
    history = call(stack, "GET", "/history?limit=2", viewer)
    assert history.status_code == 200 and "runs" in history.json()
    assert call(stack, "GET", "/history?table=nope", viewer).status_code == 404
    assert call(stack, "GET", "/history?limit=abc", viewer).status_code == 400
    assert call(stack, "POST", "/trigger", operator, data=b"not json").status_code == 400
    assert call(stack, "POST", "/trigger", operator, data=b'{"dry_run": "yes"}').status_code == 400
    body = json.dumps({"tables": ["no_such_table"]}).encode()
    assert call(stack, "POST", "/trigger", operator, data=body).status_code == 404
    assert call(stack, "PATCH", "/configs/no_such_table", operator, data=b"{}").status_code == 404
    bad = call(stack, "PATCH", "/configs/uploads_by_customer", operator, data=b'{"priority": -1}')
    assert bad.status_code == 400


def test_trigger_and_patch(stack: LocalStack, keys: dict[str, str]) -> None:
    operator = keys["operator"]
    body = json.dumps({"tables": ["uploads_by_customer"], "dry_run": True}).encode()
    accepted = call(stack, "POST", "/trigger", operator, data=body)
    assert accepted.status_code == 202
    run_id = accepted.json()["run_id"]
    stack.wait_until(
        lambda: stack.query(
            "SELECT status FROM `demo-local.ops.refresh_runs_current` WHERE run_id = @r",
            {"r": run_id},
        ),
        timeout=300,
        interval=1.0,
        what="triggered run audited",
    )
    patched = call(
        stack, "PATCH", "/configs/uploads_by_customer", operator, data=b'{"priority": 7}'
    )
    assert patched.status_code == 200
    configs = call(stack, "GET", "/configs", keys["viewer"]).json()["configs"]
    row = next(c for c in configs if c["table_name"] == "uploads_by_customer")
    assert row["priority_override"] == 7
