"""Admission endpoint for external runners (API-key auth).

POST /runs/start     {"pipeline", "run_id", "lease_seconds"?} -> 200 admitted / 429 refused
POST /runs/heartbeat {"run_id", "lease_seconds"?}            -> 200 / 409 no lease
POST /runs/finish    {"run_id", "status"}                    -> 200 {"released": bool}
POST /credentials    {"provider", "credential_id", "secret"} -> 201 / 200 already / 409
Header: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; scope ``runs`` for the
``/runs`` routes, ``credentials`` for ``/credentials``.
"""

from typing import Any

import functions_framework

from shared import http_body
from shared.quotas import http_api


@functions_framework.http
def quota_api(request: Any) -> Any:
    try:  # before authentication: an oversize body is refused unread (413)
        raw = http_body.read_body(request, http_body.API_MAX_BODY_BYTES)
    except http_body.BodyTooLarge as exc:
        return http_body.too_large(exc)
    return http_api.dispatch(
        request.method,
        request.path,
        request.headers,
        http_body.parse_json(raw),
    )
