"""Strict local BigQuery: an HTTP layer in front of local-bigquery that fails like BigQuery.

local-bigquery (DuckDB) is kinder than BigQuery. This layer forwards every REST call to it and
applies the rules of :mod:`devstack.strict_rules` on the way: SQL BigQuery would refuse,
DML over rows still in the streaming buffer, concurrent mutations of one table (serialization
errors, at most 2 running and 20 queued per table) and dry runs with a non-zero estimate.
Failed query jobs are answered the way BigQuery answers them: jobs.insert returns the job DONE
with ``status.errorResult`` (the client raises at ``result()``), jobs.query and getQueryResults
return the error body with its HTTP status. The Storage Write API (gRPC) is not proxied: rows
written there may be changed by DML at once, in BigQuery too.

Control endpoints (JSON): ``GET /_strict/counters``, ``GET|POST /_strict/config`` (fields of
:class:`~devstack.strict_rules.StrictConfig`), ``POST /_strict/reset``.

Run: ``python -m devstack.strict --port P --upstream http://127.0.0.1:BQ [--config JSON]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.server
import json
import re
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from devstack.local_http import QuietHandler, ServedOnThread
from devstack.strict_rules import (
    BigQueryError,
    Statement,
    StrictConfig,
    TableGate,
    analyse,
    statement_key,
)

_API = r"^/bigquery/v2/projects/(?P<project>[^/]+)"
INSERT_ALL = re.compile(_API + r"/datasets/(?P<dataset>[^/]+)/tables/(?P<table>[^/]+)/insertAll")
TABLE_GET = "{upstream}/bigquery/v2/projects/{project}/datasets/{dataset}/tables/{table}"
JOBS_INSERT = re.compile(_API + r"/jobs/?$")
JOBS_QUERY = re.compile(_API + r"/queries/?$")
JOB_GET = re.compile(_API + r"/(?P<what>jobs|queries)/(?P<job>[^/]+)$")
_HOP = {"host", "content-length", "connection", "transfer-encoding", "content-encoding"}
_WIDTH = {"STRING": 32, "BYTES": 32, "JSON": 64, "BOOL": 1, "BOOLEAN": 1, "NUMERIC": 16}


def _now_ms() -> str:
    return str(int(time.time() * 1000))


def _row_width(fields: list[dict[str, Any]]) -> int:
    width = 0
    for f in fields:
        kind = str(f.get("type", "STRING")).upper()
        inner = _row_width(f.get("fields") or []) if kind in ("RECORD", "STRUCT") else 0
        one = inner or _WIDTH.get(kind, 8)
        width += one * (4 if f.get("mode") == "REPEATED" else 1)
    return max(width, 1)


@dataclass(frozen=True)
class _Call:
    """One jobs.insert (``as_job``) or jobs.query request on its way through the layer."""

    project: str
    path: str
    body: bytes
    headers: Mapping[str, str]
    request: dict[str, Any]
    as_job: bool

    @property
    def _config(self) -> dict[str, Any]:
        return dict(self.request.get("configuration") or {}) if self.as_job else self.request

    @property
    def query(self) -> dict[str, Any] | None:
        """The query part (text, parameters), or None for legacy SQL and other job kinds."""
        query = self._config.get("query") if self.as_job else self.request
        if not isinstance(query, dict) or query.get("useLegacySql") or "query" not in query:
            return None
        return query

    @property
    def dry_run(self) -> bool:
        return bool(self._config.get("dryRun"))


class StrictBigQuery(ServedOnThread):
    """The layer: an HTTP server (own thread) forwarding to ``upstream`` under the rules."""

    def __init__(
        self,
        upstream: str,
        config: StrictConfig | None = None,
        *,
        port: int = 0,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.config = config or StrictConfig()
        self.gate = TableGate(self.config)
        self._failed: dict[str, dict[str, Any]] = {}
        self._failed_lock = threading.Lock()
        self._local = threading.local()
        self._listen(self._handler(), port)

    def serve_forever(self) -> None:
        self._server.serve_forever()

    # ---------------------------------------------------------------- forwarding
    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    def forward(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes, str]:
        answer = self._session().request(
            method,
            self.upstream + path,
            data=body,
            headers={k: v for k, v in headers.items() if k.lower() not in _HOP},
            timeout=600,
        )
        return answer.status_code, answer.content, answer.headers.get("Content-Type", "")

    # ---------------------------------------------------------------- dispatch
    def handle(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes, str]:
        route = path.split("?", 1)[0]
        if route.startswith("/_strict/"):
            return self._control(method, route, body)
        if method == "POST":
            if match := INSERT_ALL.match(route):
                return self._insert_all(match, path, body, headers)
            if (match := JOBS_INSERT.match(route)) or (match := JOBS_QUERY.match(route)):
                return self._query(match, path, body, headers, as_job="/jobs" in route)
        if method == "GET" and (match := JOB_GET.match(route)):
            with self._failed_lock:
                job = self._failed.get(match["job"])
            if job is not None:
                if match["what"] == "jobs":
                    return 200, json.dumps(job).encode(), "application/json"
                refusal: BigQueryError = job["_refusal"]
                return refusal.status, json.dumps(refusal.body()).encode(), "application/json"
        return self.forward(method, path, body, headers)

    def _control(self, method: str, route: str, body: bytes) -> tuple[int, bytes, str]:
        if route == "/_strict/counters":
            return 200, json.dumps(self.gate.snapshot()).encode(), "application/json"
        if route == "/_strict/config":
            if method == "POST":
                try:
                    self.config.update(json.loads(body or b"{}"))
                except (ValueError, TypeError) as exc:
                    return 400, json.dumps({"error": str(exc)}).encode(), "application/json"
            return 200, json.dumps(self.config.as_dict()).encode(), "application/json"
        if route == "/_strict/reset" and method == "POST":
            self.gate.reset()
            return 200, b"{}", "application/json"
        return 404, b"{}", "application/json"

    def _insert_all(
        self, match: re.Match[str], path: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes, str]:
        status, content, kind = self.forward("POST", path, body, headers)
        if status == 200:
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                sent = len(json.loads(body).get("rows") or [])
                failed = {e.get("index") for e in json.loads(content).get("insertErrors") or []}
                if sent > len(failed):
                    self.gate.streamed(f"{match['dataset']}.{match['table']}", sent - len(failed))
        return status, content, kind

    # ---------------------------------------------------------------- queries
    def _query(
        self,
        match: re.Match[str],
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        as_job: bool,
    ) -> tuple[int, bytes, str]:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return self.forward("POST", path, body, headers)
        call = _Call(match["project"], path, body, headers, request, as_job)
        query = call.query
        if query is None:
            return self.forward("POST", path, body, headers)
        sql = str(query["query"])
        params = query.get("queryParameters") or []
        self.gate.counters.queries += 1
        statement = None
        if self.config.check_sql:
            try:
                statement = analyse(
                    sql,
                    bound=frozenset(str(p.get("name", "")).lower() for p in params),
                    default_dataset=(query.get("defaultDataset") or {}).get("datasetId"),
                )
            except BigQueryError as refusal:
                self.gate.counters.sql_refusals += 1
                return self._refuse(refusal, call)
        if call.dry_run:
            return self._dry_run(statement, call)
        if statement is None or not statement.mutated:
            return self.forward("POST", path, body, headers)
        return self._mutate(statement, statement_key(sql, params), call)

    def _mutate(self, statement: Statement, key: str, call: _Call) -> tuple[int, bytes, str]:
        """Run a mutating statement under the streaming-buffer and per-table slot rules."""
        try:
            for table in statement.mutated:
                self.gate.check_buffer(table, call.project)
            self.gate.enter(statement.mutated, key, call.project)
        except BigQueryError as refusal:
            return self._refuse(refusal, call)
        ok = False
        try:
            status, content, kind = self.forward("POST", call.path, call.body, call.headers)
            ok = status == 200 and b'"errorResult"' not in content
            if self.config.hold_s > 0:
                time.sleep(self.config.hold_s)
            return status, content, kind
        finally:
            self.gate.leave(statement.mutated, key, ok)

    def _dry_run(self, statement: Statement | None, call: _Call) -> tuple[int, bytes, str]:
        self.gate.counters.dry_runs += 1
        status, content, kind = self.forward("POST", call.path, call.body, call.headers)
        if status != 200 or statement is None:
            return status, content, kind
        try:
            answer = json.loads(content)
        except ValueError:
            return status, content, kind
        if (answer.get("status") or {}).get("errorResult"):
            return status, content, kind
        estimate = str(self.estimate_bytes(call.project, statement.tables))
        if call.as_job:
            stats = answer.setdefault("statistics", {})
            stats["totalBytesProcessed"] = estimate
            stats.setdefault("query", {})["totalBytesProcessed"] = estimate
        else:
            answer["totalBytesProcessed"] = estimate
        return status, json.dumps(answer).encode(), kind

    def estimate_bytes(self, project: str, tables: tuple[str, ...]) -> int:
        """numRows x schema width per table, at least ``dry_run_min_bytes`` per table."""
        total = 0
        for table_id in tables:
            dataset, _, table = table_id.partition(".")
            size = 0
            with contextlib.suppress(requests.RequestException, ValueError, TypeError):
                url = TABLE_GET.format(
                    upstream=self.upstream, project=project, dataset=dataset, table=table
                )
                meta = self._session().get(url, timeout=30).json()
                rows = int(meta.get("numRows") or 0)
                size = max(
                    int(meta.get("numBytes") or 0),
                    rows * _row_width((meta.get("schema") or {}).get("fields") or []),
                )
            total += max(size, self.config.dry_run_min_bytes)
        return total or self.config.dry_run_min_bytes

    def _refuse(self, refusal: BigQueryError, call: _Call) -> tuple[int, bytes, str]:
        if not call.as_job:
            return refusal.status, json.dumps(refusal.body()).encode(), "application/json"
        request, project = call.request, call.project
        reference = dict(request.get("jobReference") or {})
        job_id = str(reference.get("jobId") or uuid.uuid4())
        location = str(reference.get("location") or "US")
        now = _now_ms()
        job = {
            "kind": "bigquery#job",
            "id": f"{project}:{location}.{job_id}",
            "selfLink": f"/bigquery/v2/projects/{project}/jobs/{job_id}?location={location}",
            "jobReference": {"projectId": project, "jobId": job_id, "location": location},
            "configuration": {**(request.get("configuration") or {}), "jobType": "QUERY"},
            "status": {
                "state": "DONE",
                "errorResult": refusal.error(),
                "errors": [refusal.error()],
            },
            "statistics": {"creationTime": now, "startTime": now, "endTime": now},
            "user_email": "local-bigquery@localhost",
        }
        with self._failed_lock:
            if len(self._failed) > 10_000:
                self._failed.clear()
            self._failed[job_id] = {**job, "_refusal": refusal}
        return 200, json.dumps(job).encode(), "application/json"

    # ---------------------------------------------------------------- HTTP
    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        layer = self

        class Handler(QuietHandler):
            def _any(self) -> None:
                body = self.body()
                try:
                    status, content, kind = layer.handle(
                        self.command, self.path, body, dict(self.headers.items())
                    )
                except requests.RequestException as exc:
                    status, kind = 502, "application/json"
                    content = json.dumps(
                        {"error": {"code": 502, "message": f"strict layer: upstream: {exc}"}}
                    ).encode()
                self.reply(status, content, kind)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # noqa: N815

        return Handler


class StrictControl:
    """Client of a running layer's control endpoints (tests, the demo report)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _call(self, route: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 - the stack's own 127.0.0.1 URL
            self.url + route, data=data, method="GET" if data is None else "POST"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            result: dict[str, Any] = json.loads(answer.read())
            return result

    def counters(self) -> dict[str, Any]:
        return self._call("/_strict/counters")

    def config(self, **changes: Any) -> dict[str, Any]:
        return self._call("/_strict/config", changes) if changes else self._call("/_strict/config")

    def reset(self) -> None:
        self._call("/_strict/reset", {})

    @contextlib.contextmanager
    def configured(self, **changes: Any) -> Iterator[dict[str, Any]]:
        """Apply ``changes`` for the ``with`` block, then restore the previous values."""
        before = self.config()
        self.config(**changes)
        try:
            yield self.config()
        finally:
            self.config(**{k: before[k] for k in changes})

    def summary(self) -> str:
        c = self.counters()
        return (
            f"strict BigQuery: {c['conflicts_injected']} conflicts injected, "
            f"{c['retried']} retried, {c['lost']} lost"
            f" ({c['streaming_buffer_refusals']} streaming-buffer, {c['queue_refusals']} queue"
            f" and {c['sql_refusals']} SQL refusals; {c['dry_runs']} dry runs estimated)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--config", default="{}", help="JSON object of StrictConfig fields")
    args = parser.parse_args()
    config = StrictConfig()
    config.update(json.loads(args.config))
    layer = StrictBigQuery(args.upstream, config, port=args.port)
    started = datetime.datetime.now(datetime.UTC).isoformat()
    print(f"strict BigQuery layer on {layer.url} -> {args.upstream} since {started}", flush=True)
    print(json.dumps(config.as_dict()), flush=True)
    layer.serve_forever()


if __name__ == "__main__":
    main()
