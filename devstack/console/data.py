"""What the console shows, read from BigQuery and Pub/Sub (bound parameters, manifest ids).

Each panel is read on its own: a failing query (a table another change is migrating, an
emulator hiccup) shows its error in that panel instead of taking the page down.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared import clients
from shared.resources import manifest, table_id
from shared.settings import get_settings

logger = logging.getLogger("devstack.console")

# (area, table, wanted columns, newest-first column); columns missing from the manifest schema
# are dropped, so a schema change elsewhere narrows a panel instead of breaking it.
LAST_EVENTS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    (
        "Uploads",
        "media_files",
        ("ingest_time", "event_kind", "name", "media_class", "status", "customer_id"),
        "ingest_time",
    ),
    (
        "Webhooks",
        "integration_raw_data",
        ("ingested_at", "source", "event_type", "mapping_status", "provider_event_id"),
        "ingested_at",
    ),
    (
        "Quotas",
        "customer_pipeline_runs",
        ("updated_at", "customer_id", "pipeline", "run_id", "status"),
        "updated_at",
    ),
    (
        "Quota alerts",
        "quota_alert_log",
        ("created_at", "customer_id", "metric", "threshold", "used", "limit_value"),
        "created_at",
    ),
    (
        "Refreshes",
        "refresh_runs",
        ("started_at", "run_id", "table_name", "attempt", "status", "run_type"),
        "started_at",
    ),
    (
        "Dead letters",
        "dead_letters",
        ("received_at", "function", "reason", "detail"),
        "received_at",
    ),
)
LAST_N = 5
STATUS_COLOURS = {
    "success": "#2e7d32",
    "failed": "#c62828",
    "locked": "#c62828",
    "running": "#f9a825",
    "retrying": "#f9a825",
    "continued": "#f9a825",
    "skipped": "#757575",
    "dry_run": "#1565c0",
    "already_done": "#2e7d32",
    "never": "#bdbdbd",
}


@dataclass
class Panel:
    """Rows of one panel, or the error that kept it empty."""

    title: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    error: str | None = None


def _fq(name: str) -> str:
    from ops.bq import t

    return t(name)


def query(sql: str) -> list[dict[str, Any]]:
    """A read-only statement through the project's BigQuery door (bounded deadline)."""
    from shared import bigquery

    return bigquery.query(sql, timeout_s=30)


def _panel(title: str, read: Callable[[], list[dict[str, Any]]]) -> Panel:
    try:
        rows = read()
    except Exception as exc:  # one panel's failure must not take the page down
        logger.warning("console panel %s failed: %s", title, exc)
        return Panel(title, error=f"{type(exc).__name__}: {str(exc)[:300]}")
    return Panel(title, rows, list(rows[0]) if rows else [])


def objects() -> list[tuple[str, str, str]]:
    """(kind, dataset, name) of every manifest table and view."""
    m = manifest()
    found = [("table", t["dataset"], t["name"]) for t in m["tables"]]
    found += [("view", v["dataset"], v["name"]) for v in m["views"]]
    return sorted(found, key=lambda o: (o[1], o[0], o[2]))


def row_counts() -> Panel:
    """Rows per table and view: one UNION ALL query, falling back to one query per object."""
    listed = objects()
    project = get_settings().project_id

    def one(dataset: str, name: str) -> str:
        return (
            f"SELECT '{dataset}.{name}' AS object, COUNT(*) AS n "
            f"FROM `{table_id(project, dataset, name)}`"
        )

    def read() -> list[dict[str, Any]]:
        counts: dict[str, Any] = {}
        try:
            for row in query(" UNION ALL ".join(one(d, n) for _, d, n in listed)):
                counts[row["object"]] = int(row["n"])
        except Exception:  # some object is broken: count the others one by one
            for _, dataset, name in listed:
                try:
                    counts[f"{dataset}.{name}"] = int(query(one(dataset, name))[0]["n"])
                except Exception as exc:
                    counts[f"{dataset}.{name}"] = f"error: {type(exc).__name__}"
        return [
            {"object": f"{d}.{n}", "kind": kind, "rows": counts.get(f"{d}.{n}")}
            for kind, d, n in listed
        ]

    return _panel("Rows per table and view", read)


def last_events() -> list[Panel]:
    m = manifest()
    panels = []
    for area, name, wanted, order in LAST_EVENTS:
        try:
            have = {f["name"] for f in m.table_schema(name)}
        except KeyError:
            continue
        cols = [c for c in wanted if c in have]
        if order not in have or not cols:
            continue
        sql = f"SELECT {', '.join(cols)} FROM {_fq(name)} ORDER BY {order} DESC LIMIT {LAST_N}"
        panel = _panel(f"{area}: last events ({name})", functools.partial(query, sql))
        panel.columns = cols
        panels.append(panel)
    return panels


def dead_letters_by_reason() -> Panel:
    return _panel(
        "Dead letters by reason",
        lambda: query(
            f"SELECT function, reason, COUNT(*) AS letters, MAX(received_at) AS last_at "
            f"FROM {_fq('dead_letters_current')} GROUP BY function, reason "
            "ORDER BY letters DESC, function, reason"
        ),
    )


def quota_utilization() -> Panel:
    """Per customer: limits from the BigQuery record, runs admitted and leases held today from
    the live admission state (Firestore), the same rows as ``plumb quotas usage``."""
    from ops.quotas import usage_rows

    return _panel("Quota utilization today", usage_rows)


@dataclass
class Graph:
    """The refresh dependency graph with the latest status of each table."""

    nodes: dict[str, str]  # table -> latest status ("never" when it never ran)
    edges: list[tuple[str, str]]  # (dependency, dependent)
    last_run: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def refresh_graph() -> Graph:
    try:
        from shared.refresh import definitions

        defs = definitions.load()
        deps = definitions.dependencies(defs)
    except Exception as exc:
        return Graph({}, [], error=f"definitions: {type(exc).__name__}: {exc}"[:300])
    nodes = dict.fromkeys(sorted(deps), "never")
    edges = sorted((d, n) for n, ds in deps.items() for d in ds if d in deps)
    try:
        rows = query(
            f"""SELECT table_name, status, run_id, started_at FROM {_fq("refresh_runs_current")}
QUALIFY ROW_NUMBER() OVER (PARTITION BY table_name
  ORDER BY started_at DESC, invocation DESC, attempt DESC) = 1"""
        )
    except Exception as exc:
        return Graph(nodes, edges, error=f"{type(exc).__name__}: {str(exc)[:300]}")
    for row in rows:
        if row["table_name"] in nodes:
            nodes[row["table_name"]] = str(row["status"])
    latest = max(rows, key=lambda r: r["started_at"], default=None)
    return Graph(nodes, edges, dict(latest) if latest else {})


def pubsub_topology() -> Panel:
    def read() -> list[dict[str, Any]]:
        from google.cloud import pubsub_v1

        project = get_settings().project_id
        publisher = clients.publisher()
        subscriber = pubsub_v1.SubscriberClient()
        try:
            subs = {
                s.name.rsplit("/", 1)[-1]: s
                for s in subscriber.list_subscriptions(request={"project": f"projects/{project}"})
            }
        finally:
            subscriber.close()
        rows = []
        for topic in publisher.list_topics(request={"project": f"projects/{project}"}):
            name = topic.name.rsplit("/", 1)[-1]
            attached = sorted(n for n, s in subs.items() if s.topic == topic.name)
            rows.append(
                {
                    "topic": name,
                    "subscriptions": ", ".join(
                        f"{n} ({'push' if subs[n].push_config.push_endpoint else 'pull'})"
                        for n in attached
                    )
                    or "-",
                }
            )
        return sorted(rows, key=lambda r: r["topic"])

    return _panel("Pub/Sub topics and subscriptions", read)


@dataclass
class Snapshot:
    project: str
    generated_at: datetime
    took_s: float
    counts: Panel
    events: list[Panel]
    dead_letters: Panel
    quotas: Panel
    graph: Graph
    pubsub: Panel


def snapshot() -> Snapshot:
    """Every panel, read concurrently (each is a few independent queries)."""
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        counts = pool.submit(row_counts)
        events = pool.submit(last_events)
        letters = pool.submit(dead_letters_by_reason)
        quotas = pool.submit(quota_utilization)
        graph = pool.submit(refresh_graph)
        pubsub = pool.submit(pubsub_topology)
        return Snapshot(
            project=get_settings().project_id,
            generated_at=datetime.now(UTC),
            counts=counts.result(),
            events=events.result(),
            dead_letters=letters.result(),
            quotas=quotas.result(),
            graph=graph.result(),
            pubsub=pubsub.result(),
            took_s=time.monotonic() - started,
        )
