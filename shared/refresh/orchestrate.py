"""Glue for the Pub/Sub-triggered function: settings, sync, run, continue, retry, notify.

The one place where the boundaries are wired: the BigQuery :class:`~store.Store`, the quotas
admission, the Pub/Sub publisher, the Cloud Tasks retry scheduler, and (local only) the test
knobs of the request.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from shared import clients
from shared.refresh import definitions, graph, notify, retries
from shared.refresh.admission import QuotasAdmission
from shared.refresh.attempt import Options
from shared.refresh.faults import TestKnobs
from shared.refresh.request import RefreshRequest
from shared.refresh.results import RunResult
from shared.refresh.runner import Runner
from shared.refresh.settings import RefreshSettings
from shared.refresh.store import Store
from shared.resources import manifest
from shared.settings import area_settings, get_settings

if TYPE_CHECKING:
    from google.cloud import tasks_v2

logger = logging.getLogger("shared.refresh.orchestrate")
REQUESTS_TOPIC = manifest().topic("refresh-requests")["name"]
EVENTS_TOPIC = manifest().topic(notify.TOPIC)["name"]
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


def config() -> RefreshSettings:
    return area_settings(RefreshSettings)


def options(cfg: RefreshSettings | None = None) -> Options:
    cfg = cfg or config()
    return Options(cfg.deadline_s, cfg.max_concurrency, cfg.lease_ttl_s)


def store() -> Store:
    return Store(clients.bigquery(), get_settings().project_id)


def sync_once(st: Store, defs: Mapping[str, definitions.Definition]) -> None:
    """Sync definitions into refresh_configs once per instance (cold start / deploy)."""
    if _synced.is_set():
        return
    with _sync_lock:
        if not _synced.is_set():
            st.sync_configs(defs)
            _synced.set()


def publish(topic: str, body: bytes, attributes: Mapping[str, str]) -> None:
    future = clients.publisher().publish(clients.topic_path(topic), body, **dict(attributes))  # type: ignore[arg-type]
    future.result(timeout=30)


@functools.cache
def tasks_client(emulator: str | None) -> tasks_v2.CloudTasksClient:
    from google.cloud import tasks_v2

    if emulator is None:
        return tasks_v2.CloudTasksClient()
    import grpc
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    channel = grpc.insecure_channel(emulator)
    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))


def retry_scheduler(cfg: RefreshSettings | None = None) -> retries.CloudTasksScheduler:
    """Cloud Tasks in the cloud; the local emulator when CLOUD_TASKS_EMULATOR_HOST is set."""
    cfg = cfg or config()
    settings = get_settings()
    project = settings.project_id
    queue = f"projects/{project}/locations/{cfg.tasks_location}/queues/{retries.QUEUE}"
    base = (
        f"http://{settings.pubsub_emulator_host}"
        if settings.pubsub_emulator_host
        else "https://pubsub.googleapis.com"
    )
    url = f"{base}/v1/projects/{project}/topics/{REQUESTS_TOPIC}:publish"
    client = tasks_client(cfg.tasks_emulator_host)
    return retries.CloudTasksScheduler(client, queue, url, cfg.tasks_service_account)


def handle(request: RefreshRequest) -> RunResult:
    settings = get_settings()
    cfg = config()
    knobs = TestKnobs.parse(request.test) if settings.is_local else TestKnobs()
    opts = options(cfg)
    if knobs.deadline_s is not None:
        opts = replace(opts, deadline_s=min(opts.deadline_s, knobs.deadline_s))
    defs = load_definitions()
    st = store()
    sync_once(st, defs)
    runner = Runner(st, defs, opts, admission=QuotasAdmission(), faults=knobs.faults)
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
    scheduled = retries.schedule_retries(
        result, request, retry_scheduler(cfg), delay_scale=knobs.retry_delay_scale
    )
    summary: dict[str, object] = {
        **result.summary(),
        "run_type": request.run_type,
        "invocations": request.invocation + 1,
        "dry_run": request.dry_run,
        "delayed_attempt": request.delayed_attempt,
        "retries_scheduled": {
            s.table: {"attempt": s.attempt, "in_s": s.delay_s} for s in scheduled
        },
    }
    notify.notify(
        summary,
        [*cfg.notify_urls, *knobs.notify_urls],
        cfg.notify_secret,
        lambda body, attrs: publish(EVENTS_TOPIC, body, attrs),
        local=settings.is_local,
    )
    return result
