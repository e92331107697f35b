"""The HTTP admission API, framework-free so it is easy to test."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from shared import log
from shared.quotas import admission, api_keys
from shared.quotas.validation import InvalidInputError
from shared.settings import get_settings

logger = logging.getLogger("shared.quotas.http_api")
Response = tuple[dict[str, Any], int]


def _key(headers: Mapping[str, str]) -> str:
    auth = headers.get("Authorization") or headers.get("authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return (headers.get("X-API-Key") or headers.get("x-api-key") or "").strip()


def dispatch(  # noqa: PLR0911 - one response per route
    method: str, path: str, headers: Mapping[str, str], body: Any
) -> Response:
    settings = get_settings()
    log.configure(settings.project_id, settings.log_level)
    if method != "POST":
        return {"error": "method_not_allowed"}, 405
    key = api_keys.authenticate(_key(headers))
    if key is None:
        return {"error": "unauthenticated", "detail": "missing, unknown or expired API key"}, 401
    if not isinstance(body, dict):
        return {"error": "invalid_input", "detail": "body must be a JSON object"}, 400
    action = path.rstrip("/").rsplit("/", 1)[-1]
    try:
        if action == "start":
            result = admission.start(
                key.customer_id,
                body.get("pipeline"),  # type: ignore[arg-type]
                body.get("run_id"),  # type: ignore[arg-type]
                lease_seconds=body.get("lease_seconds", admission.DEFAULT_LEASE_S),
                api_call=True,
            )
            return result.to_json(), 200 if result.admitted else 429
        if action == "heartbeat":
            extended = admission.heartbeat(
                body.get("run_id"),  # type: ignore[arg-type]
                lease_seconds=body.get("lease_seconds", admission.DEFAULT_LEASE_S),
            )
            return {"run_id": body.get("run_id"), "extended": extended}, 200 if extended else 409
        if action == "finish":
            released = admission.finish(
                body.get("run_id"),  # type: ignore[arg-type]
                body.get("status"),  # type: ignore[arg-type]
                customer_id=key.customer_id,
            )
            return {"run_id": body.get("run_id"), "released": released}, 200
    except InvalidInputError as exc:
        return {"error": "invalid_input", "problems": exc.problems}, 400
    return {"error": "not_found", "detail": "use /runs/start, /runs/heartbeat or /runs/finish"}, 404
