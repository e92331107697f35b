"""Refresh HTTP API (GET /status, /configs, /history; POST /trigger; PATCH /configs/<table>).
Logic lives in shared.refresh.api."""

import json
from typing import Any

import functions_framework


@functions_framework.http
def refresh_api(request: Any) -> Any:
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
        request.get_data(cache=False),
    )
    body = json.dumps(payload, default=str)
    return body, status, {"Content-Type": "application/json"}
