"""The HTTP admission API, framework-free so it is easy to test.

Every call acts on the key's own customer only: run ids are namespaced by customer, so a run
id another customer also uses is a different run, never touched; a body naming another
``customer_id`` is refused with 403. Each route needs its scope on the key: ``runs`` for the
admission routes, ``credentials`` for ``/credentials`` (:mod:`shared.quotas.credentials_api`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from shared import api_keys, log
from shared.errors import TransientError
from shared.quotas import admission
from shared.quotas.validation import InvalidInputError
from shared.settings import get_settings

logger = logging.getLogger("shared.quotas.http_api")
Response = tuple[dict[str, Any], int]
SCOPE = "runs"
ROUTES = {"start": SCOPE, "heartbeat": SCOPE, "finish": SCOPE, "credentials": "credentials"}
"""each route (the path's last segment) and the scope a key needs for it"""


def dispatch(  # noqa: PLR0911 - one response per outcome
    method: str, path: str, headers: Mapping[str, str], body: Any
) -> Response:
    settings = get_settings()
    log.configure(settings.project_id, settings.log_level)
    if method != "POST":
        return {"error": "method_not_allowed"}, 405
    action = path.rstrip("/").rsplit("/", 1)[-1]
    try:  # an unknown route needs the admission scope, so it answers as it always did
        key = api_keys.authenticate(headers, ROUTES.get(action, SCOPE))
    except api_keys.ApiKeyError as exc:
        return {
            "error": "unauthenticated" if exc.status == 401 else "forbidden",
            "detail": exc.message,
        }, exc.status
    if not isinstance(body, dict):
        return {"error": "invalid_input", "detail": "body must be a JSON object"}, 400
    if action not in ROUTES:
        return {
            "error": "not_found",
            "detail": "use /runs/start, /runs/heartbeat, /runs/finish or /credentials",
        }, 404
    claimed = body.get("customer_id")
    if claimed is not None and claimed != key.customer_id:
        return {"error": "forbidden", "detail": "this API key acts only on its own customer"}, 403
    try:
        return _route(action, key.customer_id, body)
    except InvalidInputError as exc:
        return {"error": "invalid_input", "problems": exc.problems}, 400
    except TransientError as exc:  # nothing was decided: the runner asks again
        logger.warning("admission unavailable: %s", exc)
        return {"error": "unavailable", "reason": exc.args[0] if exc.args else ""}, 503


def _route(action: str, customer_id: str, body: dict[str, Any]) -> Response:
    # malformed values are refused by the validation inside each call (400, nothing changed)
    if action == "credentials":  # imported here: the admission routes never load it
        from shared.quotas import credentials_api

        return credentials_api.submit(customer_id, body)
    lease: Any = body.get("lease_seconds", admission.DEFAULT_LEASE_S)
    run_id: Any = body.get("run_id")
    if action == "start":
        pipeline: Any = body.get("pipeline")
        result = admission.start(customer_id, pipeline, run_id, lease_seconds=lease, api_call=True)
        return result.to_json(), 200 if result.admitted else 429
    if action == "heartbeat":
        extended = admission.heartbeat(customer_id, run_id, lease_seconds=lease, api_call=True)
        return {"run_id": run_id, "extended": extended}, 200 if extended else 409
    status: Any = body.get("status")
    released = admission.finish(run_id, status, customer_id=customer_id, api_call=True)
    return {"run_id": run_id, "released": released}, 200
