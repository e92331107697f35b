"""The refresh HTTP API: routes, API-key auth, input validation (values always bound).

Auth: :mod:`shared.api_keys` (the one key module of every HTTP function): ``Authorization:
Bearer <key>`` or ``X-API-Key``; scope ``refresh:read`` for the GET routes, ``refresh:write`` for
POST /trigger, PATCH /configs/<table> and POST /configs/<table>/promote|demote (the gradual
cut-over, see ``cutover.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shared import api_keys
from shared.errors import PermanentError, PipelineError
from shared.refresh import request as refresh_request
from shared.refresh.definitions import Definition
from shared.refresh.store import Store

ROLES = {"viewer": "refresh:read", "operator": "refresh:write"}
"""The scope of shared.api_keys each role of a route needs (an operator key carries both)."""
MAX_PAGE = 200


class ApiError(PipelineError):
    """An HTTP error answer of the refresh API: ``status`` and a message safe to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def authenticate(headers: dict[str, str], needed: str) -> str:
    """The key id; ApiError 401 (one message for missing/unknown/inactive/expired) or 403
    (the key's scopes do not include the role's)."""
    try:
        return api_keys.authenticate(headers, ROLES[needed]).key_id
    except api_keys.ApiKeyError as exc:
        raise ApiError(exc.status, exc.message) from None


def _int_arg(args: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ApiError(400, f"{name} must be an integer in [{low}, {high}]")
    return int(raw)


def handle(  # noqa: PLR0911, PLR0917
    store: Any,
    definitions: dict[str, Any],
    publish: Any,
    method: str,
    path: str,
    headers: dict[str, str],
    args: dict[str, str],
    body: bytes,
) -> tuple[int, dict[str, Any]]:
    """Route one request; returns (status, JSON body)."""
    headers = {k.lower(): v for k, v in headers.items()}
    parts = [p for p in path.split("/") if p]
    try:
        if method == "GET" and parts == ["status"]:
            authenticate(headers, "viewer")
            return 200, status(store)
        if method == "GET" and parts == ["configs"]:
            authenticate(headers, "viewer")
            return 200, {"configs": store.configs()}
        if method == "GET" and parts == ["history"]:
            authenticate(headers, "viewer")
            return 200, history(store, definitions, args)
        if method == "POST" and parts == ["trigger"]:
            authenticate(headers, "operator")
            return trigger(definitions, publish, body)
        if method == "PATCH" and len(parts) == 2 and parts[0] == "configs":
            authenticate(headers, "operator")
            return patch_config(store, definitions, parts[1], body)
        if method == "POST" and len(parts) == 3 and parts[0] == "configs":
            actor = authenticate(headers, "operator")
            return cut_over(store, definitions, parts[1], parts[2], actor, body)
        raise ApiError(404, "no such route")
    except ApiError as exc:
        return exc.status, {"error": exc.message}


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting: 400, not 500
        raise ApiError(400, "body is not JSON") from None


def trigger(definitions: dict[str, Any], publish: Any, body: bytes) -> tuple[int, dict[str, Any]]:
    data = _json_body(body)
    if isinstance(data, dict) and "test" in data:
        raise ApiError(400, "test options are not accepted by the API")
    try:
        req = refresh_request.parse(data, default_run_type="manual")
    except PermanentError as exc:
        raise ApiError(400, exc.detail) from None
    unknown = sorted(set(req.tables or ()) - set(definitions))
    if unknown:
        raise ApiError(404, f"unknown tables {unknown}")
    publish(json.dumps(req.to_json()).encode(), {"run_id": req.run_id})
    return 202, {"run_id": req.run_id, "request": req.to_json()}


def patch_config(
    store: Any, definitions: dict[str, Any], table: str, body: bytes
) -> tuple[int, dict[str, Any]]:
    if table not in definitions:
        raise ApiError(404, f"unknown table {table[:100]!r}")
    data = _json_body(body)
    if not isinstance(data, dict) or not data or set(data) - {"enabled", "priority"}:
        raise ApiError(400, "body must be an object with enabled and/or priority")
    enabled = data.get("enabled")
    priority = data.get("priority")
    if enabled is not None and not isinstance(enabled, bool):
        raise ApiError(400, "enabled must be true or false")
    if priority is not None and (
        isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 1000
    ):
        raise ApiError(400, "priority must be an integer in [0, 1000]")
    store.set_override(table, enabled=enabled, priority=priority)
    return 200, {"table": table, "enabled": enabled, "priority": priority}


def cut_over(  # noqa: PLR0917
    store: Store,
    definitions: Mapping[str, Definition],
    table: str,
    action: str,
    actor: str,
    body: bytes,
) -> tuple[int, dict[str, Any]]:
    """POST /configs/<table>/promote (shadow -> live, guarded) or /demote (live -> shadow)."""
    from shared.refresh import cutover, orchestrate

    if action not in ("promote", "demote"):
        raise ApiError(404, "no such route")
    if table not in definitions:
        raise ApiError(404, f"unknown table {table[:100]!r}")
    data = _json_body(body)
    if not isinstance(data, dict) or set(data) - {"reason"}:
        raise ApiError(400, "body must be an object with an optional reason")
    reason = data.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 1000:
        raise ApiError(400, "reason must be a string of at most 1000 characters")
    definition = definitions[table]
    if action == "demote":
        done = cutover.demote(store, definition, actor=actor, reason=reason)
    else:
        try:
            done = cutover.promote(
                store,
                definition,
                min_clean_runs=orchestrate.config().cutover_min_clean_runs,
                actor=actor,
                reason=reason,
            )
        except cutover.CutoverRefusedError as exc:
            return 409, {"error": "cut-over refused", "problems": exc.problems}
    return 200, {
        "table": table,
        "action": done.action,
        "mode": done.mode,
        "clean_runs": done.clean_runs,
        "evidence": done.evidence.runs,
    }


def status(store: Any) -> dict[str, Any]:
    rows, _ = store.query(
        f"""WITH last AS (
  SELECT table_name, status, run_id, started_at, finished_at, error
  FROM `{store.t("refresh_runs_current")}`
  WHERE NOT COALESCE(dry_run, FALSE)
  QUALIFY ROW_NUMBER() OVER (PARTITION BY table_name ORDER BY finished_at DESC) = 1
), ok AS (
  SELECT table_name, MAX(finished_at) AS last_success_at
  FROM `{store.t("refresh_runs_current")}`
  WHERE status = 'success' AND NOT COALESCE(dry_run, FALSE) GROUP BY table_name
)
SELECT c.table_name, COALESCE(c.enabled_override, c.enabled) AS enabled,
  COALESCE(c.priority_override, c.priority) AS priority, last.status AS last_status,
  last.run_id AS last_run_id, last.finished_at AS last_finished_at, last.error AS last_error,
  ok.last_success_at
FROM `{store.t("refresh_configs")}` c
LEFT JOIN last ON last.table_name = c.table_name
LEFT JOIN ok ON ok.table_name = c.table_name
ORDER BY c.table_name"""
    )
    return {"tables": rows}


def history(store: Any, definitions: dict[str, Any], args: dict[str, str]) -> dict[str, Any]:
    table = args.get("table")
    if table is not None and table not in definitions:
        raise ApiError(404, f"unknown table {table[:100]!r}")
    limit = _int_arg(args, "limit", 50, 1, MAX_PAGE)
    offset = _int_arg(args, "page_token", 0, 0, 10_000_000)
    run_id = args.get("run_id")
    state = args.get("status")
    if run_id is not None and not refresh_request._RUN_ID.fullmatch(run_id):
        raise ApiError(400, "bad run_id")
    rows, _ = store.query(
        f"""SELECT * FROM `{store.t("refresh_runs_current")}`
WHERE (@table IS NULL OR table_name = @table)
  AND (@run_id IS NULL OR run_id = @run_id)
  AND (@status IS NULL OR status = @status)
ORDER BY started_at DESC, run_id, table_name, attempt
LIMIT @limit OFFSET @offset""",
        {
            "table": _str_param("table", table),
            "run_id": _str_param("run_id", run_id),
            "status": _str_param("status", state),
            "limit": limit + 1,
            "offset": offset,
        },
    )
    more = len(rows) > limit
    return {"runs": rows[:limit], "next_page_token": str(offset + limit) if more else None}


def _str_param(name: str, value: str | None) -> Any:
    from shared.bigquery import typed

    return typed(value, "STRING")
