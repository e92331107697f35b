"""Refresh HTTP API (GET /status, /configs, /history; POST /trigger; PATCH /configs/<table>).
Logic lives in shared.refresh.api."""

import json
from typing import Any

import functions_framework


@functions_framework.http
def refresh_api(request: Any) -> Any:
    from shared import http_body

    try:  # before authentication: an oversize body is refused unread (413)
        raw = http_body.read_body(request, http_body.API_MAX_BODY_BYTES)
    except http_body.BodyTooLarge as exc:
        return http_body.too_large(exc)
    from shared.refresh import api, orchestrate

    def publish(body: bytes, attributes: dict[str, str]) -> None:
        orchestrate.publish(orchestrate.REQUESTS_TOPIC, body, attributes)

    status, payload = api.handle(
        orchestrate.store(),
        orchestrate.load_definitions(),
        publish,
        request.method,
        request.path,
        dict(request.headers),
        {k: v for k, v in request.args.items()},
        raw,
    )
    body = json.dumps(payload, default=str)
    return body, status, {"Content-Type": "application/json"}
