"""The refresh HTTP API through functions-framework on the emulators: every error code."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from devstack.stack import LocalStack
from shared import api_keys

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("refresh_retries_purged")]


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


LIVE = "`demo-local.warehouse.uploads_by_customer`"


def refresh_via_api(stack: LocalStack, key: str, table: str) -> dict[str, Any]:
    """Trigger one run of ``table`` through the API; its final audit row."""
    body = json.dumps({"tables": [table]}).encode()
    accepted = call(stack, "POST", "/trigger", key, data=body)
    assert accepted.status_code == 202
    run_id = accepted.json()["run_id"]

    def final() -> Any:
        rows = stack.query(
            "SELECT * FROM `demo-local.ops.refresh_runs_current` WHERE run_id = @r"
            " AND status IN ('success', 'failed', 'skipped', 'locked')",
            {"r": run_id},
        )
        return rows[0] if rows else None

    row: dict[str, Any] = stack.wait_until(final, timeout=300, interval=1.0, what=run_id)
    return row


def test_gradual_cut_over_guarded_audited_and_back(stack: LocalStack, keys: dict[str, str]) -> None:
    operator, table = keys["operator"], "uploads_by_customer"
    path = f"/configs/{table}"
    assert call(stack, "POST", f"{path}/promote", keys["viewer"], data=b"{}").status_code == 403
    assert call(stack, "POST", "/configs/nope/promote", operator, data=b"{}").status_code == 404
    assert call(stack, "POST", f"{path}/explode", operator, data=b"{}").status_code == 404
    assert call(stack, "POST", f"{path}/demote", operator, data=b'{"x": 1}').status_code == 400
    assert refresh_via_api(stack, operator, table)["shadow"] is False
    demoted = call(stack, "POST", f"{path}/demote", operator, data=b'{"reason": "new SQL"}')
    assert demoted.status_code == 200 and demoted.json()["mode"] == "shadow"
    # the guard: no shadow run since the cut-over yet
    refused = call(stack, "POST", f"{path}/promote", operator, data=b"{}")
    assert refused.status_code == 409
    assert "0 shadow runs since the last cut-over, 3 needed" in refused.json()["problems"]
    live_before = stack.query(f"SELECT COUNT(*) AS n, MAX(refreshed_at) AS t FROM {LIVE}")
    # a drifted live table makes a shadow run unclean
    stack.query(
        f"INSERT INTO {LIVE} (customer_id, media_class, files, total_bytes, refreshed_at)"
        " VALUES ('drift', 'other', 1, 1, CURRENT_TIMESTAMP())"
    )
    dirty = refresh_via_api(stack, operator, table)
    assert dirty["shadow"] is True and dirty["status"] == "success"
    assert json.loads(dirty["shadow_diff"]) == {"only_in_live": 1, "only_in_shadow": 0}
    stack.query(f"DELETE FROM {LIVE} WHERE customer_id = 'drift'")
    for _ in range(3):
        clean = refresh_via_api(stack, operator, table)
        assert json.loads(clean["shadow_diff"]) == {"only_in_live": 0, "only_in_shadow": 0}
    # live untouched by the shadow runs
    assert stack.query(f"SELECT COUNT(*) AS n, MAX(refreshed_at) AS t FROM {LIVE}") == live_before
    promoted = call(stack, "POST", f"{path}/promote", operator, data=b'{"reason": "3 clean"}')
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["mode"] == "live" and promoted.json()["clean_runs"] == 3
    assert refresh_via_api(stack, operator, table)["shadow"] is False
    again = call(stack, "POST", f"{path}/promote", operator, data=b"{}")
    assert again.status_code == 409 and again.json()["problems"] == ["the table is already live"]
    audit = stack.query(
        "SELECT action, reason, clean_runs FROM `demo-local.ops.refresh_cutovers`"
        " WHERE table_name = @t ORDER BY at",
        {"t": table},
    )
    assert [(a["action"], a["reason"], a["clean_runs"]) for a in audit][-2:] == [
        ("demote", "new SQL", 0),
        ("promote", "3 clean", 3),
    ]
