"""The console's Flask app: ``/`` (the page), ``/api/snapshot`` (the same data as JSON),
``/healthz``. Read-only: no route changes anything."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from flask import Flask, Response, render_template

from devstack.console import data, svg

REFRESH_SECONDS = 15


def create_app(stack: dict[str, Any] | None = None) -> Flask:
    """``stack``: the endpoints of the running stack (processes shown in the header)."""
    app = Flask(__name__)
    app.jinja_env.autoescape = True

    @app.get("/")
    def index() -> str:
        snap = data.snapshot()
        bars = [
            {
                **row,
                "percent": _percent(row.get("pipelines_run"), row.get("daily_limit")),
                "running_percent": _percent(row.get("running"), row.get("concurrent_limit")),
            }
            for row in snap.quotas.rows
        ]
        return render_template(
            "console.html",
            snap=snap,
            graph_svg=svg.render(snap.graph),
            colours=data.STATUS_COLOURS,
            bars=bars,
            stack=stack or {},
            refresh_seconds=REFRESH_SECONDS,
        )

    @app.get("/api/snapshot")
    def snapshot_json() -> Response:
        body = json.dumps(asdict(data.snapshot()), default=str, indent=2)
        return Response(body, mimetype="application/json")

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    return app


def _percent(used: Any, limit: Any) -> float:
    try:
        return round(min(100.0, 100.0 * float(used or 0) / float(limit)), 1) if limit else 0.0
    except (TypeError, ValueError):
        return 0.0
