"""The refresh HTTP API through functions-framework on the emulators: every error code."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from devstack.stack import LocalStack

pytestmark = pytest.mark.stack


def add_key(stack: LocalStack, role: str, *, active: bool = True, expired: bool = False) -> str:
    key = f"rk_{uuid.uuid4().hex}"
    expires = datetime.now(UTC) + timedelta(days=-1 if expired else 30)
    stack.query(
        "INSERT INTO `demo-local.ops.refresh_api_keys`"
        " (key_id, key_sha256, role, active, expires_at, created_at)"
        " VALUES (@id, @h, @role, @active, @exp, CURRENT_TIMESTAMP())",
        {
            "id": key[:10],
            "h": hashlib.sha256(key.encode()).hexdigest(),
            "role": role,
            "active": active,
            "exp": expires.isoformat(),
        },
    )
    return key


@pytest.fixture(scope="module")
def keys(stack: LocalStack) -> dict[str, str]:
    return {
        "viewer": add_key(stack, "viewer"),
        "operator": add_key(stack, "operator"),
        "inactive": add_key(stack, "operator", active=False),
        "expired": add_key(stack, "operator", expired=True),
    }


def call(stack: LocalStack, method: str, path: str, key: str | None, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.request(
        method, stack.function_url("refresh-api") + path, headers=headers, timeout=60, **kw
    )


def test_auth_errors(stack: LocalStack, keys: dict[str, str]) -> None:
    assert call(stack, "GET", "/status", None).status_code == 401
    assert call(stack, "GET", "/status", "rk_unknown").status_code == 401
    assert call(stack, "GET", "/status", keys["inactive"]).status_code == 401
    assert call(stack, "GET", "/status", keys["expired"]).status_code == 401
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
