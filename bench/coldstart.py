"""Cold start and import time of every function, beside a baseline in the same run.

- import time: a fresh interpreter imports the function's ``main.py`` (what the platform does
  before serving), measured inside that interpreter;
- cold start: from spawning ``functions-framework`` to the first event answered. Event
  functions get a CloudEvent their handler rejects as bad input, so the answer includes the
  real work of a first event: settings, lazy client creation, a dead letter appended through
  the Storage Write API (stream opened).
  HTTP functions get an unauthenticated request (answered 401 by their auth check).
- baseline: ``bench/baseline/main.py`` serves the same function answering the same request, but
  imports functions-framework and all six Google client libraries (BigQuery, BigQuery Storage
  Write, Storage, Pub/Sub, Secret Manager, KMS) eagerly at start-up: the ratio isolates what lazy
  imports save.

Runs are interleaved (function, baseline, function, ...) and the median of ``ROUNDS`` is kept.

Each cold start is also split (printed per function, and figures of their own): spawn -> port
bound (interpreter, functions-framework, ``main.py`` imports; gunicorn binds after importing
``main.py``), port bound -> first event answered, the same request once more (warm), and, from
the function's own ``bigquery_stream_opened`` log line, the writer's perf_counter spans of its
first Write API stream: library import on first use, client + channel, ``AppendRowsStream``,
and the first send (which returns once the server answered the first append).
docs/bigquery-writes.md says what dominates.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from devstack.processes import free_port, tcp_open
from devstack.stack import REPO, FunctionSpec, LocalStack
from shared.events import PUBSUB_PUBLISHED, STORAGE_FINALIZED

ROUNDS = 3
# spans of the writer's ``bigquery_stream_opened`` log line (shared.bigquery.writer)
SPANS = {
    "import_ms": "Write API library import on first use",
    "client_ms": "Write API client + channel creation",
    "stream_ms": "AppendRowsStream + request template",
    "first_append_ms": "stream open + first append round trip",
}
BASELINE_SOURCE = REPO / "bench" / "baseline"
_IMPORT_SNIPPET = """
import importlib.util, sys, time
t = time.perf_counter()
spec = importlib.util.spec_from_file_location("main", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(time.perf_counter() - t)
"""


def _env(stack: LocalStack, spec: FunctionSpec) -> dict[str, str]:
    return {**os.environ, **stack.env, **spec.env, "PYTHONPATH": str(REPO), "K_SERVICE": spec.name}


def import_seconds(stack: LocalStack, spec: FunctionSpec) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_SNIPPET, str(spec.source / "main.py")],
        env=_env(stack, spec),
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if out.returncode != 0:
        raise RuntimeError(f"importing {spec.name} failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def _first_request(spec: FunctionSpec, port: int) -> urllib.request.Request:
    url = f"http://127.0.0.1:{port}/"
    if spec.signature == "http":
        return urllib.request.Request(url, method="GET")
    data: dict[str, Any] = {
        "message": {"data": base64.b64encode(b"not json {").decode(), "messageId": "bench-1"}
    }
    attributes = {
        "id": f"bench-{time.time_ns()}",
        "source": "//pubsub.googleapis.com/projects/demo-local/topics/bench",
        "type": PUBSUB_PUBLISHED,
        "datacontenttype": "application/json",
    }
    if spec.trigger.get("type") == "storage":
        attributes["type"] = STORAGE_FINALIZED
        attributes["source"] = "//storage.googleapis.com/projects/_/buckets/bench"
        data = {"bucket": "bench"}  # malformed object resource: dead-lettered
    headers, body = to_binary(CloudEvent(attributes, data))
    return urllib.request.Request(url, bytes(body), dict(headers), method="POST")


@dataclass
class ColdStart:
    """One cold start, split where it can be measured from outside and from the function's own
    ``bigquery_stream_opened`` log line (perf_counter spans taken by the writer)."""

    bound_s: float  # spawn -> port bound: interpreter, functions-framework, main.py imports
    first_s: float  # port bound -> first event answered: worker boot + the first event's work
    second_s: float  # the same request once more, warm: what the first event costs at steady
    opened: dict[str, float]  # the first Write API stream's spans (ms), {} if none opened

    @property
    def total_s(self) -> float:
        return self.bound_s + self.first_s


def _answer(spec: FunctionSpec, port: int) -> None:
    try:
        with urllib.request.urlopen(_first_request(spec, port), timeout=30):  # noqa: S310
            pass
    except urllib.error.HTTPError:
        pass  # answered (401/4xx/5xx all count as answered)


def _stream_spans(log: bytes) -> dict[str, float]:
    for line in log.decode(errors="replace").splitlines():
        if '"bigquery_stream_opened"' not in line:
            continue
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            return {k: float(entry[k]) for k in SPANS if k in entry}
    return {}


def cold_start(stack: LocalStack, spec: FunctionSpec) -> ColdStart:
    port = free_port()
    argv = spec.serve_argv(port)
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=_env(stack, spec), cwd=REPO, stdout=out, stderr=subprocess.DEVNULL
        )
        try:
            while not tcp_open(port):
                if proc.poll() is not None:
                    raise RuntimeError(f"{spec.name} exited during start-up")
                time.sleep(0.01)
            bound = time.perf_counter()
            _answer(spec, port)
            first = time.perf_counter()
            _answer(spec, port)
            second = time.perf_counter()
        finally:
            proc.terminate()
            proc.wait(10)
        out.seek(0)
        opened = _stream_spans(out.read())
    return ColdStart(bound - started, first - bound, second - first, opened)


def _figure(name: str, mine: list[float], base: list[float], scale: float = 1000) -> dict[str, Any]:
    value, reference = statistics.median(mine) * scale, statistics.median(base) * scale
    return {
        "name": name,
        "value": round(value, 1),
        "unit": "ms",
        "baseline": round(reference, 1),
        "ratio": round(value / reference, 3) if reference else None,
    }


def _breakdown(name: str, runs: list[ColdStart], base: list[ColdStart]) -> list[dict[str, Any]]:
    """The cold start split into its parts, function vs baseline (medians of the rounds)."""
    figures = [
        _figure(
            f"{name} cold start: spawn to port bound",
            [r.bound_s for r in runs],
            [r.bound_s for r in base],
        ),
        _figure(
            f"{name} cold start: port bound to first event answered",
            [r.first_s for r in runs],
            [r.first_s for r in base],
        ),
        _figure(
            f"{name} second event (warm), same request",
            [r.second_s for r in runs],
            [r.second_s for r in base],
        ),
    ]
    if all(r.opened for r in runs + base):
        for span, label in SPANS.items():
            figures.append(
                _figure(
                    f"{name} first event: {label}",
                    [r.opened.get(span, 0.0) for r in runs],
                    [r.opened.get(span, 0.0) for r in base],
                    scale=1,
                )
            )
    return figures


def run() -> list[dict[str, Any]]:
    figures: list[dict[str, Any]] = []
    with LocalStack(REPO / ".local" / "bench-coldstart", functions=[]) as stack:
        specs = [FunctionSpec.from_manifest(item) for item in stack.manifest["functions"]]
        for spec in specs:
            baseline = FunctionSpec(
                spec.name,
                BASELINE_SOURCE,
                spec.entry_point,
                signature=spec.signature,
                trigger=spec.trigger,
                env={
                    **spec.env,
                    "BENCH_FUNCTION_MAIN": str(spec.source / "main.py"),
                    "BENCH_ENTRY_POINT": spec.entry_point,
                },
            )
            imports: list[float] = []
            base_imports: list[float] = []
            colds: list[ColdStart] = []
            base_colds: list[ColdStart] = []
            for _ in range(ROUNDS):
                imports.append(import_seconds(stack, spec))
                base_imports.append(import_seconds(stack, baseline))
                colds.append(cold_start(stack, spec))
                base_colds.append(cold_start(stack, baseline))
            figures.append(_figure(f"{spec.name} import", imports, base_imports))
            figures.append(
                _figure(
                    f"{spec.name} cold start",
                    [c.total_s for c in colds],
                    [c.total_s for c in base_colds],
                )
            )
            parts = _breakdown(spec.name, colds, base_colds)
            figures += parts
            print(f"  {spec.name}:", flush=True)
            for figure in figures[-len(parts) - 2 :]:
                print(
                    f"    {figure['name']}: {figure['value']} ms vs baseline "
                    f"{figure['baseline']} ms (ratio {figure['ratio']})",
                    flush=True,
                )
    return figures
