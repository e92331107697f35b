"""The console page renders every panel from a snapshot (fake data at our own boundary),
escapes what it shows, and lays the refresh graph out by dependency depth."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devstack.console import app, data, svg


def _snapshot() -> data.Snapshot:
    graph = data.Graph(
        {"a": "success", "b": "failed", "c": "never"},
        [("a", "b"), ("b", "c")],
        {"run_id": "run-1", "started_at": "2026-11-24T00:00:00Z"},
    )
    return data.Snapshot(
        project="demo-local",
        generated_at=datetime(2026, 11, 24, tzinfo=UTC),
        took_s=0.1,
        counts=data.Panel(
            "Rows", [{"object": "ops.dead_letters", "kind": "table", "rows": 3}], ["object"]
        ),
        events=[
            data.Panel("Webhooks: last events", [{"source": "<script>x</script>"}], ["source"]),
            data.Panel("Uploads: last events", error="NotFound: gone"),
        ],
        dead_letters=data.Panel(
            "Dead letters", [{"function": "webhooks", "reason": "invalid_json", "letters": 2}]
        ),
        quotas=data.Panel(
            "Quotas",
            [
                {
                    "customer_id": "acme",
                    "plan": "STARTER",
                    "pipelines_run": 5,
                    "daily_limit": 6,
                    "running": 1,
                    "concurrent_limit": 3,
                }
            ],
        ),
        graph=graph,
        pubsub=data.Panel("Pub/Sub", [{"topic": "t", "subscriptions": "s (push)"}]),
    )


def test_page_shows_every_panel_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "snapshot", _snapshot)
    page = app.create_app().test_client().get("/").get_data(as_text=True)
    assert 'data-object="ops.dead_letters"' in page and 'data-rows="3"' in page
    assert 'data-reason="invalid_json"' in page and 'data-letters="2"' in page
    assert 'data-customer="acme" data-used="5" data-limit="6"' in page
    assert "83.3 %" in page and "#f9a825" in page  # amber from 80 %
    assert "&lt;script&gt;" in page and "<script>x" not in page
    assert "NotFound: gone" in page
    assert 'http-equiv="refresh"' in page
    assert 'data-table="b" data-status="failed"' in page


def test_graph_layers_follow_dependency_depth() -> None:
    assert svg.layers(["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("a", "c")]) == {
        "a": 0,
        "b": 1,
        "c": 2,
        "d": 0,
    }
    drawn = str(svg.render(_snapshot().graph))
    assert drawn.count('class="edge"') == 2 and drawn.count('class="node"') == 3
    assert "<p>" in str(svg.render(data.Graph({}, [])))


def test_snapshot_json_and_health(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "snapshot", _snapshot)
    client = app.create_app().test_client()
    body = client.get("/api/snapshot").get_json()
    assert body["project"] == "demo-local"
    assert body["quotas"]["rows"][0]["customer_id"] == "acme"
    assert body["graph"]["nodes"] == {"a": "success", "b": "failed", "c": "never"}
    assert client.get("/healthz").get_data(as_text=True) == "ok"
    assert client.post("/").status_code == 405  # read-only
