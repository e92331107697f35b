"""Glue for the Pub/Sub-triggered function: settings, sync, run, continue, notify."""

from __future__ import annotations

import functools
import json
import logging
import threading
from typing import Any

from shared import clients
from shared.errors import PermanentError
from shared.refresh import admission, definitions, graph, notify
from shared.refresh.request import RefreshRequest
from shared.refresh.runner import Options, Runner, RunResult
from shared.refresh.settings import RefreshSettings
from shared.refresh.store import Store
from shared.resources import manifest
from shared.settings import area_settings, get_settings

logger = logging.getLogger("shared.refresh.orchestrate")
REQUESTS_TOPIC = "refresh-requests"
_synced = threading.Event()
_sync_lock = threading.Lock()


@functools.cache
def load_definitions() -> dict[str, definitions.Definition]:
    """The shipped definitions, validated against the manifest (sources, targets, cycles)."""
    defs = definitions.load()
    m = manifest()
    declared = {(t["dataset"], t["name"]) for t in [*m["tables"], *m["views"]]}
    definitions.validate_references(defs, declared)
    missing = [d.name for d in defs.values() if (d.dataset, d.name) not in declared]
    if missing:
        raise definitions.DefinitionError([f"{n}: target table not declared" for n in missing])
    graph.check_acyclic(definitions.dependencies(defs))
    return defs


def options_from_env() -> Options:
    config = area_settings(RefreshSettings)
    return Options(
        deadline_s=config.deadline_s,
        max_concurrency=config.max_concurrency,
        lease_ttl_s=config.lease_ttl_s,
    )


def store() -> Store:
    return Store(clients.bigquery(), get_settings().project_id)


def sync_once(st: Store, defs: dict[str, definitions.Definition]) -> None:
    """Sync definitions into refresh_configs once per instance (cold start / deploy)."""
    if _synced.is_set():
        return
    with _sync_lock:
        if not _synced.is_set():
            st.sync_configs(defs)
            _synced.set()


def publish(topic: str, body: bytes, attributes: dict[str, str]) -> None:
    clients.publisher().publish(clients.topic_path(topic), body, **attributes).result(  # type: ignore[arg-type]
        timeout=30
    )


def handle(request: RefreshRequest) -> RunResult:
    settings = get_settings()
    defs = load_definitions()
    unknown = set(request.tables or ()) - set(defs)
    if unknown:
        raise PermanentError("unknown_table", f"unknown tables {sorted(unknown)}")
    st = store()
    sync_once(st, defs)
    runner = Runner(
        st, defs, options_from_env(), admission=admission.hook(), local=settings.is_local
    )
    result = runner.run(request)
    logger.info("refresh run %s: %s", request.run_id, json.dumps(result.summary(), default=str))
    if result.status == "continued":
        follow = request.continuation()
        publish(
            REQUESTS_TOPIC,
            json.dumps(follow.to_json()).encode(),
            {"run_id": request.run_id, "invocation": str(follow.invocation)},
        )
        return result
    urls = list(area_settings(RefreshSettings).notify_urls)
    test_urls = request.test.get("notify_urls") if settings.is_local else None
    if isinstance(test_urls, list):
        urls += [str(u) for u in test_urls]
    summary: dict[str, Any] = {
        **result.summary(),
        "run_type": request.run_type,
        "invocations": request.invocation + 1,
        "dry_run": request.dry_run,
    }
    notify.notify(
        summary,
        urls,
        area_settings(RefreshSettings).notify_secret,
        lambda body, attrs: publish(notify.TOPIC, body, attrs),
        local=settings.is_local,
    )
    return result
